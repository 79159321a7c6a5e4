//! Where the session comes from (a file or a systemd credential) and how the cookies Instagram
//! rotates survive a restart, against the simulator (it rotates a `rur` cookie).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use iglive::{Client, ClientOptions, Reloaded, Session, SessionFile, SessionOrigin, SessionSource};

use crate::support::daemon::{wait_until, Harness};

const SCENARIO: &str = r#"
seed = 3
[[accounts]]
pk = 9101
username = "quiet.one"
followed = true
"#;
const ACCOUNT: &str = "[[accounts]]\nuser_id = \"9101\"\n";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn client(h: &Harness, session: Session) -> Client {
    Client::new(h.sim.api_base_url(), session, ClientOptions::default()).expect("client")
}

fn file_source(h: &Harness) -> SessionSource {
    SessionSource::new(
        SessionFile::Path(h.dir().join("session.json")),
        None,
        Some(h.dir().join("state")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_cookies_are_kept_for_the_same_session_file_only() {
    let h = Harness::start(SCENARIO, 1.0, ACCOUNT).await;
    let source = file_source(&h);
    let loaded = source.load().expect("session loads");
    assert_eq!(loaded.origin, SessionOrigin::File);
    let c = client(&h, loaded.session);
    assert_eq!(source.save(&c), Ok(false), "nothing rotated yet");
    c.user_story_feed("9101").await.expect("story feed");
    let rur = c.cookie("rur").expect("the simulator rotates rur");

    assert_eq!(source.save(&c), Ok(true));
    assert_eq!(source.save(&c), Ok(false), "unchanged: not written again");
    let saved = source.saved_path().expect("saved path").to_path_buf();
    assert_eq!(mode(&saved), 0o600);
    assert_eq!(mode(saved.parent().expect("folder")), 0o700);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).expect("saved")).expect("json");
    assert_eq!(doc["cookies"]["rur"], rur.as_str());
    assert_eq!(doc["source_sha256"].as_str().map(str::len), Some(64));

    // A restart with the same session file starts from the rotated cookies.
    let again = file_source(&h).load().expect("loads again");
    assert!(
        matches!(again.origin, SessionOrigin::Rotated { .. }),
        "{:?}",
        again.origin
    );
    assert_eq!(again.session.cookies.get("rur"), Some(&rur));
    let c2 = client(&h, again.session);
    let before = h.sim.requests().len();
    c2.user_story_feed("9101").await.expect("story feed");
    let sent = h.sim.requests()[before]
        .header("cookie")
        .unwrap_or_default()
        .to_string();
    assert!(sent.contains(&format!("rur={rur}")), "{sent}");

    // A newly installed session file wins, and the old copy is deleted.
    let text = iglive::sim::session_json().replace("simcsrftoken", "newcsrftoken");
    write_private(&h.dir().join("session.json"), &text);
    let fresh = file_source(&h).load().expect("new file loads");
    assert_eq!(fresh.origin, SessionOrigin::FileNewerThanSaved);
    assert_eq!(fresh.session.cookies.get("rur"), None);
    assert_eq!(
        fresh.session.cookies.get("csrftoken").map(String::as_str),
        Some("newcsrftoken")
    );
    assert!(!saved.exists(), "the stale rotated copy is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_rotations_and_takes_a_new_file() {
    let h = Harness::start(SCENARIO, 1.0, ACCOUNT).await;
    let source = file_source(&h);
    let c = client(&h, source.load().expect("loads").session);
    c.user_story_feed("9101").await.expect("story feed");
    let rur = c.cookie("rur").expect("rotated");

    assert_eq!(source.reload(&c).expect("reload"), Reloaded::Unchanged);
    assert_eq!(
        c.cookie("rur"),
        Some(rur),
        "the same file does not undo a rotation"
    );
    assert!(source.saved_path().is_some_and(Path::exists), "flushed");

    let text = iglive::sim::session_json().replace("simcsrftoken", "newcsrftoken");
    write_private(&h.dir().join("session.json"), &text);
    assert_eq!(source.reload(&c).expect("reload"), Reloaded::Replaced);
    assert_eq!(c.cookie("rur"), None);
    assert_eq!(c.cookie("csrftoken").as_deref(), Some("newcsrftoken"));
    // What is saved now derives from the new file: the next start uses it.
    let next = file_source(&h).load().expect("loads");
    assert!(
        matches!(next.origin, SessionOrigin::Rotated { .. }),
        "{:?}",
        next.origin
    );
    assert_eq!(
        next.session.cookies.get("csrftoken").map(String::as_str),
        Some("newcsrftoken")
    );
}

#[test]
fn credentials_come_from_the_credentials_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).expect("mkdir");
    let source = |creds: Option<PathBuf>| {
        SessionSource::new(
            SessionFile::Credential("session.json".into()),
            creds,
            Some(dir.path().join("state")),
        )
    };

    let e = source(None).load().expect_err("no credentials").to_string();
    assert!(e.contains("$CREDENTIALS_DIRECTORY is not set"), "{e}");
    assert!(
        e.contains("LoadCredential=session.json:/etc/iglive/session.json"),
        "{e}"
    );

    let e = source(Some(creds.clone()))
        .load()
        .expect_err("missing")
        .to_string();
    assert!(e.contains("not passed to the service"), "{e}");

    std::fs::write(creds.join("session.json"), "not json").expect("write");
    let e = source(Some(creds.clone()))
        .load()
        .expect_err("not JSON")
        .to_string();
    assert!(
        e.contains("systemd credential session.json: not JSON"),
        "{e}"
    );
    assert!(e.contains("systemctl restart iglive"), "{e}");

    // systemd makes the credential private to the service: its mode is not checked.
    std::fs::write(creds.join("session.json"), iglive::sim::session_json()).expect("write");
    std::fs::set_permissions(
        creds.join("session.json"),
        std::fs::Permissions::from_mode(0o444),
    )
    .expect("chmod");
    let loaded = source(Some(creds)).load().expect("credential loads");
    assert_eq!(loaded.origin, SessionOrigin::File);
    assert_eq!(loaded.session.ds_user_id.as_deref(), Some("1000001"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_saves_rotations_and_starts_from_them() {
    let h = Harness::start(SCENARIO, 1.0, ACCOUNT).await;
    let cfg = h.config();
    let saved = SessionSource::from_config(&cfg, cfg.instagram.primary_session())
        .saved_path()
        .expect("saved path")
        .to_path_buf();
    let run = h.run_daemon();
    wait_until(
        "the rotated session to be saved",
        Duration::from_secs(30),
        || saved.exists(),
    )
    .await;
    run.stop().await;
    assert_eq!(mode(&saved), 0o600);

    let before = h.sim.requests().len();
    let run = h.run_daemon();
    wait_until(
        "a request of the second run",
        Duration::from_secs(30),
        || h.sim.requests().len() > before,
    )
    .await;
    let first = h.sim.requests()[before]
        .header("cookie")
        .unwrap_or_default()
        .to_string();
    run.stop().await;
    assert!(
        first.contains("rur=SIM"),
        "the second run's first request carries the rotated cookie: {first}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_stops_with_exit_78_and_one_line_on_an_unusable_credential() {
    let h = Harness::start(SCENARIO, 1.0, ACCOUNT).await;
    h.edit_config(|t| {
        t.replace(
            "session_file = \"session.json\"",
            "session_file = \"credential:session.json\"",
        )
    });
    let creds = h.dir().join("creds");
    std::fs::create_dir(&creds).expect("mkdir");
    std::fs::write(creds.join("session.json"), "{not json").expect("write");
    let run = |creds: Option<&Path>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_iglive"));
        cmd.args(["run", "-c"]).arg(&h.config_path);
        match creds {
            Some(c) => cmd.env("CREDENTIALS_DIRECTORY", c),
            None => cmd.env_remove("CREDENTIALS_DIRECTORY"),
        };
        cmd.output().expect("run iglive")
    };
    for (creds, expected) in [
        (
            Some(creds.as_path()),
            "systemd credential session.json: not JSON",
        ),
        (None, "$CREDENTIALS_DIRECTORY is not set"),
    ] {
        let out = run(creds);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(expected), "{err}");
    }
}
