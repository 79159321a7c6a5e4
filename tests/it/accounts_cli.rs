//! `iglive accounts add | list | remove` through the real binary: pks resolved through the
//! simulator's user lookups, the config edited with its comments kept, refusals for names
//! that do not exist or could mean two accounts, hostile inputs, and a running daemon that
//! picks the change up through `POST /api/v1/reload`.

use std::path::Path;
use std::time::Duration;

use crate::support::cli::{iglive, Run};
use crate::support::daemon::{wait_until, Harness};

/// alice is pk 1001; the account *named* "1001" is someone else (pk 1002), so the bare
/// digits 1001 are ambiguous.
const SCENARIO: &str = r#"
[[accounts]]
pk = 1001
username = "alice"

[[accounts]]
pk = 1002
username = "1001"

[[accounts]]
pk = 1003
username = "carol_c"
"#;

const COMMENTED: &str = "\n# Accounts below; keep this note.\n[[accounts]]\nuser_id = \"1003\"   # carol, added by hand\nlabel = \"carol\"\n\n# trailing comment\n";

async fn run(h: &Harness, args: &[&str]) -> Run {
    let mut all: Vec<std::ffi::OsString> = vec!["accounts".into()];
    all.extend(args.iter().map(|a| a.into()));
    all.push("-c".into());
    all.push(h.config_path.clone().into_os_string());
    iglive(all, "").await
}

fn text(p: &Path) -> String {
    std::fs::read_to_string(p).expect("config")
}

#[tokio::test]
async fn add_by_name_url_and_pk_keeps_comments() {
    let h = Harness::start(SCENARIO, 1.0, COMMENTED).await;
    let r = run(&h, &["add", "alice"]).await;
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(r.stdout.contains("added @alice (pk 1001)"), "{}", r.stdout);
    assert!(
        r.stdout.contains("status.listen is \"off\""),
        "{}",
        r.stdout
    );
    let r = run(&h, &["add", "https://www.instagram.com/1001/?igsh=xyz"]).await;
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(r.stdout.contains("(pk 1002)"), "{}", r.stdout);

    let t = text(&h.config_path);
    for kept in [
        "# Accounts below; keep this note.",
        "# carol, added by hand",
        "# trailing comment",
    ] {
        assert!(t.contains(kept), "{kept} lost:\n{t}");
    }
    let cfg = h.config();
    let ids: Vec<(&str, Option<&str>)> = cfg
        .accounts
        .iter()
        .map(|a| (a.user_id.as_str(), a.label.as_deref()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("1003", Some("carol")),
            ("1001", Some("alice")),
            ("1002", Some("1001"))
        ]
    );

    let r = run(&h, &["add", "alice"]).await;
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(r.stderr.contains("already listed"), "{}", r.stderr);

    let r = run(&h, &["remove", "alice"]).await;
    assert_eq!(r.code, Some(0), "{}", r.all());
    let t = text(&h.config_path);
    assert!(!t.contains("\"1001\"\nlabel = \"alice\""), "{t}");
    assert!(
        t.contains("# carol, added by hand") && t.contains("# trailing comment"),
        "{t}"
    );
    let r = run(&h, &["add", "--pk", "1001", "--label", "Alice A."]).await;
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(text(&h.config_path).contains("label = \"Alice A.\""));
}

#[tokio::test]
async fn unknown_ambiguous_and_hostile_accounts_are_refused() {
    let h = Harness::start(SCENARIO, 1.0, COMMENTED).await;
    let before = text(&h.config_path);
    let cases: [(&str, i32, &str); 8] = [
        ("nobody_here", 1, "has no account named @nobody_here"),
        ("1001", 1, "is ambiguous"),
        ("999999", 1, "has no account with pk or username 999999"),
        ("https://evil.example/alice/", 2, "is not instagram.com"),
        (
            "https://www.instagram.com.evil.example/alice/",
            2,
            "is not instagram.com",
        ),
        (
            "https://www.instagram.com/p/Cabc123/",
            2,
            "not a profile URL",
        ),
        ("../../etc/passwd", 2, "not instagram.com"),
        ("al ice", 2, "is not an Instagram username"),
    ];
    for (input, code, msg) in cases {
        let r = run(&h, &["add", input]).await;
        assert_eq!(r.code, Some(code), "{input}: {}", r.all());
        assert!(r.stderr.contains(msg), "{input}: {}", r.stderr);
    }
    let huge = "a".repeat(100_000);
    let r = run(&h, &["add", &huge]).await;
    assert_eq!(r.code, Some(2), "{}", r.all());
    assert_eq!(
        text(&h.config_path),
        before,
        "refusals leave the file untouched"
    );

    let r = run(&h, &["remove", "carol"]).await;
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(r.stderr.contains("only account"), "{}", r.stderr);
    let r = run(&h, &["remove", "nobody"]).await;
    assert_eq!(r.code, Some(1), "{}", r.all());
}

/// A free loopback port for the status listener.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[tokio::test]
async fn a_running_daemon_reloads_and_list_shows_its_state() {
    let h = Harness::start(SCENARIO, 1.0, COMMENTED).await;
    let port = free_port();
    h.edit_config(|t| {
        t.replace(
            "listen = \"off\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
    });
    let daemon = h.run_daemon();
    let status = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    wait_until("the status endpoint", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;

    let r = run(&h, &["add", "alice"]).await;
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(
        r.stdout
            .contains("the running daemon reloaded: watching 2 account(s)"),
        "{}",
        r.stdout
    );
    let watched: serde_json::Value = http
        .get(format!("{status}/api/v1/accounts"))
        .send()
        .await
        .expect("accounts")
        .json()
        .await
        .expect("json");
    // The library's answer: every account, those of the config with `watched`.
    let n = watched["data"].as_array().map(|a| {
        a.iter()
            .filter(|x| x["watched"] == true && x["state"] == "watching")
            .count()
    });
    assert_eq!(n, Some(2), "{watched}");

    let r = run(&h, &["list", "--json"]).await;
    assert_eq!(r.code, Some(0), "{}", r.all());
    let rows: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let states: Vec<&str> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|x| x["state"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(states, vec!["watching", "watching"], "{rows}");
    let r = run(&h, &["list"]).await;
    assert!(
        r.stdout.contains("alice") && r.stdout.contains("never seen"),
        "{}",
        r.stdout
    );

    // Without the header, from a foreign Host, the reload is refused.
    let bare = http
        .post(format!("{status}/api/v1/reload"))
        .send()
        .await
        .expect("post");
    assert_eq!(bare.status().as_u16(), 400);
    let rebinding = http
        .post(format!("{status}/api/v1/reload"))
        .header("x-iglive-reload", "1")
        .header("host", "evil.example")
        .send()
        .await
        .expect("post");
    // The listener's own rule (crate::library::auth) refuses a foreign Host before the reload
    // handler sees it.
    assert_eq!(rebinding.status().as_u16(), 401);

    // A broken edit is refused by the daemon, which keeps the old config.
    h.edit_config(|t| t.replace("poll_interval = \"300ms\"", "poll_interval = \"soon\""));
    let reload = http
        .post(format!("{status}/api/v1/reload"))
        .header("x-iglive-reload", "1")
        .send()
        .await
        .expect("post");
    assert_eq!(reload.status().as_u16(), 422);
    daemon.stop().await;

    let r = run(&h, &["list", "--json"]).await;
    assert_eq!(r.code, Some(2), "the config is broken now: {}", r.all());
}
