//! `iglive check-config` and the session file rules, through the real binary.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn iglive() -> Command {
    Command::new(env!("CARGO_BIN_EXE_iglive"))
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn example_config_is_valid() {
    let out = iglive()
        .args(["check-config", "-c"])
        .arg(repo().join("config/iglive.toml"))
        .output()
        .expect("run iglive");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok (1 account"));
}

#[test]
fn broken_copy_fails_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(repo().join("config/iglive.toml")).expect("example");
    let broken = text.replace(
        "heartbeat_interval = \"7s\"",
        "heartbeat_interval = \"soon\"",
    );
    assert_ne!(text, broken);
    let line = broken
        .lines()
        .position(|l| l.starts_with("heartbeat_interval"))
        .expect("line")
        + 1;
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, broken).expect("write");
    let out = iglive()
        .args(["check-config", "-c"])
        .arg(&path)
        .output()
        .expect("run iglive");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "{}:{line}: recording.heartbeat_interval: expected a duration like \"7s\"",
        path.display()
    );
    assert!(err.contains(&expected), "{err}");
}

#[test]
fn config_env_var_is_the_default() {
    let out = iglive()
        .arg("check-config")
        .env("IGLIVE_CONFIG", repo().join("config/iglive.toml"))
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run iglive");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn world_readable_session_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("session.json");
    std::fs::write(
        &path,
        r#"{"cookies":{"sessionid":"secret-value"},"uuid":"u"}"#,
    )
    .expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = iglive::Session::load(&path).expect_err("must refuse 0644");
    let msg = err.to_string();
    assert!(msg.contains("chmod 600"), "{msg}");
    assert!(!msg.contains("secret-value"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    iglive::Session::load(&path).expect("0600 is accepted");
}

#[test]
fn instagrapi_settings_file_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("settings.json");
    std::fs::write(
        &path,
        r#"{"uuids":{"phone_id":"57d64c41-a916-3fa5-bd7a-3796c1dab122","uuid":"8aa373c6-f316-44d7-b49e-d74563f4a8f3",
            "client_session_id":"x","advertising_id":"y","android_device_id":"android-daa9b5d8a7b14b3a",
            "request_id":"r","tray_session_id":"t"},
           "mid":"ZXXXX","ig_u_rur":null,"ig_www_claim":null,
           "authorization_data":{"ds_user_id":"1234567890","sessionid":"1234567890%3Aabc%3A12","should_use_header_over_cookies":true},
           "cookies":{},"last_login":1700000000.0,
           "device_settings":{"app_version":"269.0.0.18.75","android_version":26,"android_release":"8.0.0",
             "dpi":"480dpi","resolution":"1080x1920","manufacturer":"OnePlus","device":"devitron","model":"6T Dev","cpu":"qcom","version_code":"314665256"},
           "user_agent":"Instagram 269.0.0.18.75 Android (26/8.0.0; 480dpi; 1080x1920; OnePlus; 6T Dev; devitron; qcom; en_US; 314665256)",
           "country":"US","country_code":1,"locale":"en_US","timezone_offset":-14400}"#,
    )
    .expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let s = iglive::Session::load(&path).expect("instagrapi settings load");
    assert_eq!(s.uuid, "8aa373c6-f316-44d7-b49e-d74563f4a8f3");
    assert_eq!(
        s.android_device_id.as_deref(),
        Some("android-daa9b5d8a7b14b3a")
    );
    assert_eq!(s.ds_user_id.as_deref(), Some("1234567890"));
    assert!(s.authorization.is_some());
}

#[test]
fn doctor_checks_the_machine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let session = dir.path().join("session.json");
    std::fs::write(&session, r#"{"cookies":{"sessionid":"s"},"uuid":"u"}"#).expect("write");
    std::fs::set_permissions(&session, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let cfg = dir.path().join("iglive.toml");
    std::fs::write(
        &cfg,
        "[instagram]\nsession_file = \"session.json\"\n[storage]\nmin_free_space = \"1MB\"\n[[accounts]]\nuser_id = \"1\"\n",
    )
    .expect("write");
    let out = iglive()
        .args(["doctor", "-c"])
        .arg(&cfg)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for check in [
        "ffmpeg",
        "ffprobe",
        "database",
        "recordings folder",
        "session file",
    ] {
        assert!(text.contains(&format!("ok    {check}")), "{check}: {text}");
    }
    // A session file others can read fails the check, with the fix in the message.
    std::fs::set_permissions(&session, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = iglive()
        .args(["doctor", "-c"])
        .arg(&cfg)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  session file") && text.contains("chmod 600"),
        "{text}"
    );
}
