//! The device identity an FBNS connection presents: the client id of the first connection and
//! the Facebook-style user agent, both derived from the Instagram session's device
//! (docs/instagram.md §9, ClientInfo fields 1 and 2).

use crate::instagram::Session;
use crate::mqttot::ConnectPayload;

use super::auth::DeviceAuth;

/// What the Connect payload says about the device before any device auth exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FbnsIdentity {
    /// The app's `phone_id` (else the device uuid): its first 20 characters are the client
    /// identifier of a first connection.
    pub phone_id: String,
    /// ClientInfo.userAgent.
    pub user_agent: String,
}

impl FbnsIdentity {
    /// The identity of `session`'s device: its `phone_id` (or uuid) and its Instagram user
    /// agent rewritten in the Facebook form.
    pub fn from_session(session: &Session) -> FbnsIdentity {
        FbnsIdentity {
            phone_id: session
                .phone_id
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| session.uuid.clone()),
            user_agent: fb_user_agent(&session.user_agent),
        }
    }

    /// Client identifier of a first connection (no device auth yet).
    pub fn first_client_identifier(&self) -> String {
        self.phone_id.chars().take(20).collect()
    }

    /// The Connect payload of this device: a first connection without `auth`, else one
    /// presenting it. `session_id` is ClientInfo.clientMqttSessionId.
    pub fn connect_payload(&self, auth: Option<&DeviceAuth>, session_id: i64) -> ConnectPayload {
        let first = ConnectPayload::new(
            self.first_client_identifier(),
            self.user_agent.clone(),
            session_id,
        );
        match auth {
            Some(a) => first.with_auth(a.ck, &a.cs, &a.di, &a.ds),
            None => first,
        }
    }
}

/// The bracketed Facebook user agent mgp25 builds (`UserAgent::buildFbUserAgent`, trailing
/// semicolon included) from an Instagram Android user agent such as `Instagram 449.0.0.52.84
/// Android (34/14; 480dpi; 1344x2992; Google/google; Pixel 8 Pro; husky; husky; en_US;
/// 1079242191)`. A user agent of another shape is returned unchanged, which is what
/// instagrapi sends anyway.
pub fn fb_user_agent(instagram: &str) -> String {
    fb_form(instagram).unwrap_or_else(|| instagram.to_string())
}

fn fb_form(ua: &str) -> Option<String> {
    let rest = ua.strip_prefix("Instagram ")?;
    let (version, rest) = rest.split_once(' ')?;
    let inner = rest
        .strip_prefix("Android (")?
        .strip_suffix(')')?
        .split(';')
        .map(str::trim)
        .collect::<Vec<_>>();
    let [api, dpi, resolution, maker, model, _device, _cpu, locale, code] = inner[..] else {
        return None;
    };
    let release = api.split_once('/').map_or(api, |(_, r)| r);
    let dpi: f64 = dpi.trim_end_matches("dpi").parse().ok()?;
    let (width, height) = resolution.split_once('x')?;
    let (manufacturer, brand) = maker.split_once('/').unwrap_or((maker, maker));
    Some(format!(
        "[FBAN/MQTT;FBAV/{version};FBBV/{code};FBDM/{{density={density:?},width={width},height={height}}};FBLC/{locale};FBCR/;FBMF/{manufacturer};FBBD/{brand};FBPN/com.instagram.android;FBDV/{model};FBSV/{release};FBLR/0;FBBK/1;FBCA/arm64-v8a:;]",
        density = dpi / 160.0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instagram_user_agent_in_the_facebook_form() {
        assert_eq!(
            fb_user_agent("Instagram 449.0.0.52.84 Android (34/14; 480dpi; 1344x2992; Google/google; Pixel 8 Pro; husky; husky; en_US; 1079242191)"),
            "[FBAN/MQTT;FBAV/449.0.0.52.84;FBBV/1079242191;FBDM/{density=3.0,width=1344,height=2992};FBLC/en_US;FBCR/;FBMF/Google;FBBD/google;FBPN/com.instagram.android;FBDV/Pixel 8 Pro;FBSV/14;FBLR/0;FBBK/1;FBCA/arm64-v8a:;]"
        );
        assert_eq!(fb_user_agent("curl/8"), "curl/8");
        assert_eq!(
            fb_user_agent("Instagram 1 Android (x; ydpi; 1x2; a/b; m; d; c; en; 1)"),
            "Instagram 1 Android (x; ydpi; 1x2; a/b; m; d; c; en; 1)"
        );
    }

    #[test]
    fn phone_id_else_uuid() {
        let mut s = Session {
            uuid: "00000000-0000-4000-8000-000000000001".into(),
            user_agent: "x".into(),
            ..Session::default()
        };
        assert_eq!(
            FbnsIdentity::from_session(&s).first_client_identifier(),
            "00000000-0000-4000-8"
        );
        s.phone_id = Some("0123456789abcdef0123456789".into());
        assert_eq!(
            FbnsIdentity::from_session(&s).first_client_identifier(),
            "0123456789abcdef0123"
        );
    }
}
