//! FBNS topic ids (docs/instagram.md §9 "Topics"): numeric strings on the wire, since the
//! client announces enum topics. fbns-react also accepts the `/`-prefixed names.

/// `/fbns_msg`: notifications, server to client.
pub const MESSAGE: &str = "76";
/// `/fbns_msg_hp`: high-priority notifications, handled like 76.
pub const MESSAGE_HP: &str = "137";
/// `/fbns_reg_req`: registration request, client to server.
pub const REG_REQ: &str = "79";
/// `/fbns_reg_resp`: registration response with the token.
pub const REG_RESP: &str = "80";

/// The numeric id of `topic`, accepting a `/`-prefixed name for the topics iglive uses.
pub fn id(topic: &str) -> &str {
    match topic {
        "/fbns_msg" => MESSAGE,
        "/fbns_msg_hp" => MESSAGE_HP,
        "/fbns_reg_req" => REG_REQ,
        "/fbns_reg_resp" => REG_RESP,
        other => other,
    }
}
