//! Every push the FBNS broker will send, computed once at start from the world and the seed
//! (like `world`), so `/truth` and the wire always agree: the lives' own (`live_broadcast` at
//! each start, `live_with_broadcast` per co-broadcaster, `live_broadcast_revoke` at each end)
//! and the scenario's scripted ones, each with its delay, loss and duplication already drawn.
//! Shapes follow docs/instagram.md §9 "Notification messages" and "Live broadcast
//! notifications".

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::scenario::{Account, FbnsSpec, LiveWithNames, PushDelay, Scenario};
use super::world::BroadcastWorld;

/// One push, as planned.
#[derive(Debug, Clone)]
pub struct PlannedPush {
    /// Simulated time at which it is queued (event + delay).
    pub due: f64,
    pub collapse_key: String,
    pub broadcast_id: Option<String>,
    /// `reel_id` of the deep link (or the account a non-live push is about).
    pub reel_id: u64,
    /// Inner `s`.
    pub source: u64,
    pub published_time: Option<i64>,
    pub message: String,
    pub nid: String,
    pub lost: bool,
    pub duplicated: bool,
}

struct Event {
    at: f64,
    collapse_key: String,
    broadcast_id: Option<String>,
    reel_id: u64,
    source: u64,
    published_time: Option<i64>,
    message: String,
}

/// The plan, in the order the pushes fall due.
pub fn plan(
    scenario: &Scenario,
    spec: &FbnsSpec,
    broadcasts: &[BroadcastWorld],
    epoch_unix: f64,
) -> Vec<PlannedPush> {
    let mut events = Vec::new();
    for b in broadcasts {
        let id = Some(b.spec.id.to_string());
        let published = Some((epoch_unix + b.spec.start).floor() as i64);
        let owner = &b.owner;
        events.push(Event {
            at: b.spec.start,
            collapse_key: "live_broadcast".into(),
            broadcast_id: id.clone(),
            reel_id: owner.pk,
            source: owner.pk,
            published_time: published,
            message: format!(
                "{} started a live video. Watch it before it ends!",
                owner.username
            ),
        });
        for guest in &b.cobroadcasters {
            let (reel, source) = match spec.live_with_names {
                LiveWithNames::Guest => (guest.pk, owner.pk),
                LiveWithNames::Owner => (owner.pk, guest.pk),
            };
            events.push(Event {
                at: b.spec.start,
                collapse_key: "live_with_broadcast".into(),
                broadcast_id: id.clone(),
                reel_id: reel,
                source,
                published_time: published,
                message: format!(
                    "{} is going live now with {}.",
                    owner.username, guest.username
                ),
            });
        }
        events.push(Event {
            at: b.end(),
            collapse_key: "live_broadcast_revoke".into(),
            broadcast_id: id,
            reel_id: owner.pk,
            source: owner.pk,
            published_time: published,
            message: String::new(),
        });
    }
    let username = |pk: u64| -> String {
        scenario
            .accounts
            .iter()
            .find(|a: &&Account| a.pk == pk)
            .map_or_else(|| pk.to_string(), |a| a.username.clone())
    };
    for p in &spec.pushes {
        events.push(Event {
            at: p.at,
            collapse_key: p.collapse_key.clone(),
            broadcast_id: p.broadcast.map(|b| b.to_string()),
            reel_id: p.user,
            source: p.user,
            published_time: p.broadcast.map(|_| (epoch_unix + p.at).floor() as i64),
            message: format!(
                "{} posted something ({}).",
                username(p.user),
                p.collapse_key
            ),
        });
    }
    events.sort_by(|a, b| a.at.total_cmp(&b.at));
    let mut rng = StdRng::seed_from_u64(scenario.seed ^ 0x00fb_5e5d);
    let mut out: Vec<PlannedPush> = events
        .into_iter()
        .map(|e| {
            // The same draws for every push, whatever the settings, keep runs reproducible.
            let (roll_delay, roll_loss, roll_dup, nid) = (
                rng.gen::<f64>(),
                rng.gen::<f64>(),
                rng.gen::<f64>(),
                rng.gen::<u64>(),
            );
            let delay = match spec.delay {
                PushDelay::Fixed(d) => d,
                PushDelay::Range([lo, hi]) => lo + (hi - lo) * roll_delay,
            };
            PlannedPush {
                due: e.at + delay,
                collapse_key: e.collapse_key,
                broadcast_id: e.broadcast_id,
                reel_id: e.reel_id,
                source: e.source,
                published_time: e.published_time,
                message: e.message,
                nid: format!("{nid:016x}"),
                lost: roll_loss < spec.loss_probability,
                duplicated: roll_dup < spec.duplicate_probability,
            }
        })
        .collect();
    out.sort_by(|a, b| a.due.total_cmp(&b.due));
    out
}

impl PlannedPush {
    /// The outer `/fbns_msg` JSON for one device (its token, connection key and user).
    pub fn json(&self, token: &str, ck: i64, recipient: Option<&str>) -> String {
        let link = match (&self.broadcast_id, self.collapse_key.as_str()) {
            (Some(id), _) => format!(
                "broadcast?id={id}&reel_id={}&published_time={}",
                self.reel_id,
                self.published_time.unwrap_or(0)
            ),
            (None, "post") => format!("media?id={}_{}", self.nid, self.reel_id),
            (None, _) => "news".to_string(),
        };
        let recipient: serde_json::Value = recipient
            .and_then(|u| u.parse::<u64>().ok())
            .map_or(serde_json::Value::Null, |u| json!(u));
        let inner = json!({
            "t": "",
            "m": self.message,
            "collapse_key": self.collapse_key,
            "c": self.collapse_key,
            "ig": link,
            "s": self.source.to_string(),
            "u": recipient,
            "pi": self.nid,
            "PushNotifID": self.nid,
            "sound": "default",
            "bc": "{\"dt\":0}",
            "SuppressBadge": "1",
        });
        json!({
            "token": token,
            "ck": ck.to_string(),
            "pn": "com.instagram.android",
            "cp": self.collapse_key,
            "nid": self.nid,
            "fbpushnotif": inner.to_string(),
            "bu": "0",
            "s": "MQTT",
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::Scenario;

    fn scenario(fbns: &str) -> (Scenario, FbnsSpec) {
        let s = Scenario::from_toml_str(&format!(
            "seed = 9\n[[accounts]]\npk = 1\nusername = \"a\"\n[fbns]\n{fbns}\n\
             [[fbns.pushes]]\nat = 2.0\ncollapse_key = \"post\"\nuser = 1\n\
             [[fbns.pushes]]\nat = 1.0\ncollapse_key = \"live_broadcast\"\nuser = 1\nbroadcast = 7\n"
        ))
        .expect("scenario");
        let spec = s.fbns.clone().expect("fbns");
        (s, spec)
    }

    #[test]
    fn seeded_ordered_and_shaped_like_the_reference() {
        let (s, spec) = scenario("delay = [0.5, 1.5]");
        let a = plan(&s, &spec, &[], 1_700_000_000.0);
        let b = plan(&s, &spec, &[], 1_700_000_000.0);
        let nids = |p: &[PlannedPush]| p.iter().map(|x| x.nid.clone()).collect::<Vec<_>>();
        assert_eq!(nids(&a), nids(&b), "same seed, same plan");
        assert!(a.windows(2).all(|w| w[0].due <= w[1].due));
        let live = a
            .iter()
            .find(|p| p.collapse_key == "live_broadcast")
            .expect("live");
        assert!((1.5..=2.5).contains(&live.due));
        let outer: serde_json::Value =
            serde_json::from_str(&live.json("tok", 42, Some("1000001"))).expect("json");
        assert_eq!(
            (outer["token"].as_str(), outer["ck"].as_str()),
            (Some("tok"), Some("42"))
        );
        let inner: serde_json::Value =
            serde_json::from_str(outer["fbpushnotif"].as_str().expect("a string")).expect("json");
        assert_eq!(
            inner["ig"],
            "broadcast?id=7&reel_id=1&published_time=1700000001"
        );
        assert_eq!(inner["u"], 1_000_001u64);
    }

    #[test]
    fn loss_and_duplication_are_drawn_per_push() {
        let (s, spec) = scenario("loss_probability = 1.0\nduplicate_probability = 0.0");
        assert!(plan(&s, &spec, &[], 0.0)
            .iter()
            .all(|p| p.lost && !p.duplicated));
        let (s, spec) = scenario("duplicate_probability = 1.0");
        assert!(plan(&s, &spec, &[], 0.0)
            .iter()
            .all(|p| !p.lost && p.duplicated));
        let bad = Scenario::from_toml_str("[fbns]\nloss_probability = 2.0\n");
        assert!(bad.is_err());
        let bad = Scenario::from_toml_str("[fbns]\ndelay = [2.0, 1.0]\n");
        assert!(bad.is_err());
    }
}
