//! The device identity a login presents (docs/instagram.md §6 "Device identity"): made once,
//! then reused from the session file on every later login, as instagrapi insists.

use serde_json::{json, Value};

use crate::instagram::session::DEFAULT_USER_AGENT;

/// The ids instagrapi keeps under `uuids`, and the device the user agent describes.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub uuid: String,
    pub phone_id: String,
    pub android_device_id: String,
    pub advertising_id: String,
    pub client_session_id: String,
    pub request_id: String,
    pub tray_session_id: String,
    /// instagrapi's `device_settings` object (app version, Android version, model, …).
    pub device_settings: Value,
    pub user_agent: String,
}

fn uuid4() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The device instagrapi 3.2.2 presents by default (a Pixel 8 Pro), matching
/// `DEFAULT_USER_AGENT`.
fn default_device_settings() -> Value {
    json!({
        "app_version": "449.0.0.52.84",
        "android_version": 34,
        "android_release": "14",
        "dpi": "480dpi",
        "resolution": "1344x2992",
        "manufacturer": "Google/google",
        "device": "husky",
        "model": "Pixel 8 Pro",
        "cpu": "husky",
        "version_code": "1079242191",
    })
}

/// A UUID as instagrapi writes them: 36 characters, hex digits and hyphens.
fn is_uuid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok() && s.len() == 36
}

/// `android-` and 16 lowercase hex digits.
fn is_android_id(s: &str) -> bool {
    s.strip_prefix("android-").is_some_and(|h| {
        h.len() == 16
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl Device {
    /// A new identity: fresh UUIDv4s and an `android-<16 hex>` id.
    pub fn generate() -> Device {
        let hex: String = (0..8)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        Device {
            uuid: uuid4(),
            phone_id: uuid4(),
            android_device_id: format!("android-{hex}"),
            advertising_id: uuid4(),
            client_session_id: uuid4(),
            request_id: uuid4(),
            tray_session_id: uuid4(),
            device_settings: default_device_settings(),
            user_agent: DEFAULT_USER_AGENT.to_string(),
        }
    }

    /// The identity stored in an existing session file (instagrapi's `uuids` or iglive's own
    /// `uuid`/`phone_id`/`android_device_id`), with fresh values for whatever it lacks or
    /// holds in an unusable form. `None` when the text holds no device id at all.
    pub fn reuse(text: &str) -> Option<Device> {
        let v: Value = serde_json::from_str(text).ok()?;
        let ids = v.get("uuids").unwrap_or(&v);
        let get = |k: &str| ids.get(k).and_then(Value::as_str).map(str::to_string);
        let uuid = get("uuid").filter(|s| is_uuid(s))?;
        let fresh = Device::generate();
        let keep = |k: &str, fallback: String| get(k).filter(|s| is_uuid(s)).unwrap_or(fallback);
        let device_settings = v
            .get("device_settings")
            .filter(|d| d.is_object())
            .cloned()
            .unwrap_or(fresh.device_settings);
        let user_agent = v
            .get("user_agent")
            .and_then(Value::as_str)
            .filter(|s| s.starts_with("Instagram ") && s.len() < 512 && s.is_ascii())
            .map(str::to_string)
            .unwrap_or(fresh.user_agent);
        Some(Device {
            uuid,
            phone_id: keep("phone_id", fresh.phone_id),
            android_device_id: get("android_device_id")
                .filter(|s| is_android_id(s))
                .unwrap_or(fresh.android_device_id),
            advertising_id: keep("advertising_id", fresh.advertising_id),
            client_session_id: keep("client_session_id", fresh.client_session_id),
            request_id: keep("request_id", fresh.request_id),
            tray_session_id: keep("tray_session_id", fresh.tray_session_id),
            device_settings,
            user_agent,
        })
    }

    /// instagrapi's `uuids` object.
    pub fn uuids_json(&self) -> Value {
        json!({
            "phone_id": self.phone_id,
            "uuid": self.uuid,
            "client_session_id": self.client_session_id,
            "advertising_id": self.advertising_id,
            "android_device_id": self.android_device_id,
            "request_id": self.request_id,
            "tray_session_id": self.tray_session_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_the_formats_instagram_expects() {
        let d = Device::generate();
        assert!(is_uuid(&d.uuid) && is_uuid(&d.phone_id) && is_uuid(&d.advertising_id));
        assert!(
            is_android_id(&d.android_device_id),
            "{}",
            d.android_device_id
        );
        assert_ne!(d.uuid, d.phone_id);
    }

    #[test]
    fn an_existing_identity_is_reused() {
        let d = Device::generate();
        let text = serde_json::json!({"uuids": d.uuids_json(), "device_settings": d.device_settings, "user_agent": d.user_agent}).to_string();
        assert_eq!(Device::reuse(&text), Some(d.clone()));
        let minimal = format!(r#"{{"uuid":"{}","cookies":{{}}}}"#, d.uuid);
        let r = Device::reuse(&minimal).expect("reused");
        assert_eq!(r.uuid, d.uuid);
        assert!(is_uuid(&r.phone_id));
        assert_eq!(Device::reuse(r#"{"uuid":"../../etc"}"#), None);
        assert_eq!(Device::reuse("not json"), None);
    }
}
