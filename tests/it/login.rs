//! `iglive login` and `iglive session import` through the real binary against the
//! simulator's login: the simulator decrypts `enc_password` with its own key, so a success
//! proves the encryption; every branch (two-factor, challenge, refusals, junk answers) is
//! driven with answers on stdin.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use iglive::sim::SimHandle;
use iglive::{Client, ClientOptions, Session};

use crate::support::cli::{iglive, Run};

const PASSWORD: &str = "hunter2";
const TOTP_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

struct Setup {
    sim: SimHandle,
    dir: tempfile::TempDir,
}

impl Setup {
    /// A simulator whose `[login]` is alice / hunter2 / pk 5001 plus `extra` keys, and a
    /// config (without accounts yet) pointing at it.
    async fn new(extra: &str) -> Setup {
        let scenario = format!(
            "[login]\nusername = \"alice\"\npassword = \"{PASSWORD}\"\npk = 5001\n{extra}\n"
        );
        let sim = crate::support::sim::start(&scenario, 1.0).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = format!(
            "[instagram]\napi_base_url = \"{}\"\nsession_file = \"session.json\"\nrequest_timeout = \"10s\"\n[status]\nlisten = \"off\"\n",
            sim.api_base_url()
        );
        std::fs::write(dir.path().join("iglive.toml"), config).expect("config");
        Setup { sim, dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("iglive.toml")
    }

    fn session_path(&self) -> PathBuf {
        self.dir.path().join("session.json")
    }

    async fn login(&self, answers: &str) -> Run {
        let config = self.config();
        iglive(
            [
                "login".as_ref(),
                "-c".as_ref(),
                config.as_os_str(),
                "--username".as_ref(),
                "alice".as_ref(),
            ],
            answers,
        )
        .await
    }

    /// The signed JSON of every request to `path` the simulator received.
    fn signed(&self, path: &str) -> Vec<serde_json::Value> {
        self.sim
            .requests()
            .iter()
            .filter(|r| r.path == path)
            .filter_map(|r| {
                let body = r.form_value("signed_body")?;
                serde_json::from_str(body.split_once('.')?.1).ok()
            })
            .collect()
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("meta").permissions().mode() & 0o777
}

/// The decoded JSON of a session's bearer token.
fn token_json(s: &Session) -> String {
    let t = s.authorization.as_deref().expect("bearer");
    let b = base64::engine::general_purpose::STANDARD
        .decode(t.strip_prefix("Bearer IGT:2:").expect("IGT:2"))
        .expect("base64");
    String::from_utf8(b).expect("utf8")
}

/// Whether the simulated API accepts the session (an ordinary logged-in call).
async fn api_accepts(sim: &SimHandle, s: Session) -> bool {
    let client = Client::new(sim.api_base_url(), s, ClientOptions::default()).expect("client");
    client.user_info("5001").await.is_ok()
}

fn assert_no_password(run: &Run, files: &[&Path]) {
    assert!(
        !run.all().contains(PASSWORD),
        "password printed:\n{}",
        run.all()
    );
    for f in files {
        if let Ok(text) = std::fs::read_to_string(f) {
            assert!(!text.contains(PASSWORD), "password in {}", f.display());
        }
    }
}

#[tokio::test]
async fn password_login_writes_a_private_session_the_api_accepts() {
    let s = Setup::new("").await;
    let run = s.login(&format!("{PASSWORD}\n")).await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stdout.contains("logged in as @alice (pk 5001)"),
        "{}",
        run.stdout
    );
    let path = s.session_path();
    assert_eq!(mode(&path), 0o600);
    assert_no_password(&run, &[&path]);

    // What went over the wire: the reference's layout, decrypted by the simulator.
    let login = s.signed("/api/v1/accounts/login/");
    assert_eq!(login.len(), 1);
    let enc = login[0]["enc_password"].as_str().expect("enc_password");
    let parts: Vec<&str> = enc.splitn(4, ':').collect();
    assert_eq!(&parts[..2], &["#PWD_INSTAGRAM", "4"]);
    assert_eq!(parts[3].len(), 396, "RSA-2048 and a 7-byte password");
    let blob = base64::engine::general_purpose::STANDARD
        .decode(parts[3])
        .expect("base64");
    assert_eq!(
        &blob[..2],
        &[1, 229],
        "version byte and the published key id"
    );
    let phone_id = login[0]["phone_id"].as_str().expect("phone_id");
    assert_eq!(
        login[0]["jazoest"].as_str(),
        Some(iglive::jazoest(phone_id).as_str())
    );

    // The file: instagrapi's shape, loadable, token byte-exact with its boolean.
    let session = Session::load(&path).expect("loads");
    assert_eq!(session.ds_user_id.as_deref(), Some("5001"));
    let json = token_json(&session);
    assert!(
        json.ends_with(r#","should_use_header_over_cookies":true}"#),
        "{json}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    for key in [
        "uuids",
        "authorization_data",
        "cookies",
        "device_settings",
        "user_agent",
        "mid",
        "last_login",
    ] {
        assert!(doc.get(key).is_some(), "{key} missing from {doc}");
    }
    assert_eq!(
        doc["authorization_data"]["should_use_header_over_cookies"],
        true
    );
    assert!(api_accepts(&s.sim, session.clone()).await);

    // load → save (import) → load keeps the token, boolean included.
    let copy = s.dir.path().join("copy.json");
    let run = iglive(
        [
            "session".as_ref(),
            "import".as_ref(),
            path.as_os_str(),
            "-o".as_ref(),
            copy.as_os_str(),
        ],
        "",
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    let again = Session::load(&copy).expect("copy loads");
    assert_eq!(again.authorization, session.authorization);

    // A second login reuses the device identity stored in the file.
    let first_uuid = session.uuid.clone();
    let run = s.login(&format!("{PASSWORD}\n")).await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert_eq!(Session::load(&path).expect("loads").uuid, first_uuid);
    let logins = s.signed("/api/v1/accounts/login/");
    assert_eq!(logins[0]["guid"], logins[1]["guid"]);
    assert_eq!(logins[0]["phone_id"], logins[1]["phone_id"]);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_refused() {
    let s = Setup::new("").await;
    let run = s.login("not-it\n").await;
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(
        run.stderr.contains("refused the password"),
        "{}",
        run.stderr
    );
    assert!(!s.session_path().exists());
    let config = s.config();
    let run = iglive(
        ["login".as_ref(), "-c".as_ref(), config.as_os_str()],
        &format!("bob\n{PASSWORD}\n"),
    )
    .await;
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(
        run.stderr.contains("no account named \"bob\""),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn totp_two_factor() {
    let s = Setup::new(&format!(
        "two_factor = {{ totp_secret = \"{TOTP_SECRET}\" }}"
    ))
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let code = iglive::sim::totp_code(TOTP_SECRET, now).expect("code");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let run = s.login(&format!("{PASSWORD}\n{wrong}\n{code}\n")).await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(run.stderr.contains("authenticator app"), "{}", run.stderr);
    assert!(run.stderr.contains("refused the code"), "{}", run.stderr);
    let tf = s.signed("/api/v1/accounts/two_factor_login/");
    assert_eq!(tf.len(), 2);
    assert_eq!(tf[1]["verification_method"], "3");
    assert_eq!(tf[1]["verification_code"].as_str(), Some(code.as_str()));
    let session = Session::load(&s.session_path()).expect("loads");
    assert!(api_accepts(&s.sim, session).await);
}

#[tokio::test]
async fn sms_two_factor_with_resend() {
    let s = Setup::new("two_factor = { sms_code = \"246810\" }").await;
    let run = s.login(&format!("{PASSWORD}\nresend\n246810\n")).await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stderr.contains("by SMS (phone ending 12)"),
        "{}",
        run.stderr
    );
    assert_eq!(
        s.signed("/api/v1/accounts/send_two_factor_login_sms/")
            .len(),
        1
    );
    assert_eq!(
        s.signed("/api/v1/accounts/two_factor_login/")[0]["verification_method"],
        "1"
    );

    let s = Setup::new("two_factor = { sms_code = \"246810\" }").await;
    let run = s
        .login(&format!("{PASSWORD}\n111111\n222222\n333333\n"))
        .await;
    assert_eq!(run.code, Some(1), "{}", run.all());
    assert!(run.stderr.contains("refused 3 time(s)"), "{}", run.stderr);
}

#[tokio::test]
async fn email_challenge() {
    let s = Setup::new(
        "challenge = { code = \"654321\", email = \"a****e@e*****.com\", phone = \"+1 ***-***-12\" }",
    )
    .await;
    let run = s.login(&format!("{PASSWORD}\n1\n000000\n654321\n")).await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(run.stderr.contains("a****e@e*****.com"), "{}", run.stderr);
    let posts: Vec<_> = s
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v1/challenge/") && r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 3, "choice, a wrong code, the right code");
    let session = Session::load(&s.session_path()).expect("loads");
    assert!(api_accepts(&s.sim, session).await);
}

/// Refusals a terminal cannot get past: exit 1 and the way forward; junk answers: exit 2.
#[tokio::test]
async fn refusals_and_junk_answers() {
    let cases: [(&str, &str, i32, &str); 7] = [
        ("bad_password", "", 1, "approve the login attempt"),
        ("needs_upgrade", "", 1, "iglive session import"),
        (
            "native_challenge",
            "",
            1,
            "only its app can show (a native-flow challenge)",
        ),
        ("rate_limited", "", 1, "wait before trying again"),
        ("bloks_two_factor", "123456\n", 1, "Bloks"),
        ("html", "", 2, "an HTML page instead of JSON"),
        ("unknown_error", "", 2, "sim_never_documented"),
    ];
    for (refuse, more, code, text) in cases {
        let s = Setup::new(&format!("refuse = \"{refuse}\"")).await;
        let run = s.login(&format!("{PASSWORD}\n{more}")).await;
        assert_eq!(run.code, Some(code), "{refuse}: {}", run.all());
        assert!(run.stderr.contains(text), "{refuse}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{refuse}: {}", run.stderr);
        assert!(
            !s.session_path().exists(),
            "{refuse}: a session was written"
        );
        assert_no_password(&run, &[]);
    }
}

#[tokio::test]
async fn stdin_that_ends_early_is_an_error() {
    let s = Setup::new("two_factor = { sms_code = \"246810\" }").await;
    let run = s.login(&format!("{PASSWORD}\n")).await;
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("stdin ended"), "{}", run.stderr);
    let huge = "x".repeat(100_000);
    let run = s.login(&huge).await;
    assert_eq!(run.code, Some(2), "{}", run.all());
    assert!(run.stderr.contains("longer than"), "{}", run.stderr);
}

#[tokio::test]
async fn cookies_txt_import() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cookies = dir.path().join("cookies.txt");
    std::fs::write(
        &cookies,
        "# Netscape HTTP Cookie File\r\n\r\n\
.instagram.com\tTRUE\t/\tTRUE\t0\tcsrftoken\tcsrf1\r\n\
#HttpOnly_.instagram.com\tTRUE\t/\tTRUE\t0\tsessionid\t7001%3Aabc%3A1\r\n\
.instagram.com\tTRUE\t/\tTRUE\t0\tds_user_id\t7001\r\n\
.facebook.com\tTRUE\t/\tTRUE\t0\tsessionid\tnot-ours\r\n",
    )
    .expect("write");
    let out = dir.path().join("session.json");
    let run = iglive(
        [
            "session".as_ref(),
            "import".as_ref(),
            cookies.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ],
        "",
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stdout.contains("account 7001, cookie session"),
        "{}",
        run.stdout
    );
    assert_eq!(mode(&out), 0o600);
    let s = Session::load(&out).expect("loads");
    assert_eq!(
        s.cookies.get("sessionid").map(String::as_str),
        Some("7001%3Aabc%3A1")
    );
    assert_eq!(s.ds_user_id.as_deref(), Some("7001"));
    assert!(!std::fs::read_to_string(&out)
        .expect("read")
        .contains("not-ours"));

    let broken = dir.path().join("broken.txt");
    std::fs::write(
        &broken,
        "# c\n.instagram.com\tTRUE\t/\tTRUE\t0\tsessionid\n",
    )
    .expect("write");
    for (input, text) in [
        (
            broken.clone(),
            format!("{}:2: expected 7 tab-separated fields", broken.display()),
        ),
        (PathBuf::from("/dev/zero"), "larger than".to_string()),
        (dir.path().to_path_buf(), "cannot read".to_string()),
        (dir.path().join("missing.txt"), "cannot read".to_string()),
    ] {
        let run = iglive(
            [
                "session".as_ref(),
                "import".as_ref(),
                input.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
            ],
            "",
        )
        .await;
        assert_eq!(run.code, Some(2), "{}: {}", input.display(), run.all());
        assert!(
            run.stderr.contains(&text),
            "{}: {}",
            input.display(),
            run.stderr
        );
    }
    // The failed imports left the good session alone.
    assert!(Session::load(&out).is_ok());
}

/// The scenario docs/onboarding.md runs stays valid.
#[test]
fn onboarding_scenario_parses() {
    let s = iglive::sim::Scenario::from_toml_str(include_str!("../scenarios/onboarding.toml"))
        .expect("parses");
    assert!(s.login.is_some());
}
