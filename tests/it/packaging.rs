//! The Debian package's pieces agree with each other: Cargo.toml's `[package.metadata.deb]`,
//! the unit, the packaged config, and the scenario scripts/test-systemd runs (which proves them
//! under a real systemd).

use std::path::Path;

use iglive::{Config, SessionFile};

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect(path)
}

#[test]
fn packaged_config_keeps_state_under_var_lib_and_the_session_in_a_credential() {
    let text = repo_file("debian/iglive.toml");
    let at = Path::new("/etc/iglive/iglive.toml");
    let e = Config::from_str_at(&text, at).expect_err("no account yet");
    assert_eq!(e.key.as_deref(), Some("accounts"), "{e}");

    let cfg = Config::from_str_at(&format!("{text}\n[[accounts]]\nuser_id = \"1\"\n"), at)
        .expect("valid once an account is added");
    assert_eq!(
        cfg.instagram.primary_session().session_file,
        SessionFile::Credential("session.json".into())
    );
    assert_eq!(
        cfg.storage.recordings_dir,
        Path::new("/var/lib/iglive/recordings")
    );
    assert_eq!(
        cfg.storage.database,
        Path::new("/var/lib/iglive/iglive.sqlite3")
    );
}

#[test]
fn unit_passes_the_credential_the_config_names() {
    let unit = repo_file("systemd/iglive.service");
    for line in [
        "ExecStart=/usr/bin/iglive run -c /etc/iglive/iglive.toml",
        "LoadCredential=session.json:/etc/iglive/session.json",
        "ConditionPathExists=/etc/iglive/session.json",
        "StateDirectory=iglive",
        "DynamicUser=yes",
        "Type=notify",
        // cli::manage's EX_CONFIG: no restart loop on an unusable config or session.
        "RestartPreventExitStatus=78",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "{line} missing in the unit"
        );
    }
    assert!(
        !unit.contains("ConfigurationDirectory"),
        "systemd would manage /etc/iglive's mode"
    );
}

#[test]
fn cargo_deb_metadata_installs_binary_unit_and_conffile() {
    let manifest: toml::Value = toml::from_str(&repo_file("Cargo.toml")).expect("Cargo.toml");
    let deb = &manifest["package"]["metadata"]["deb"];
    let units = &deb["systemd-units"];
    assert_eq!(units["unit-scripts"].as_str(), Some("systemd/"));
    assert_eq!(units["unit-name"].as_str(), Some("iglive"));
    let assets: Vec<(String, String)> = deb["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .map(|a| {
            (
                a[0].as_str().expect("source").to_string(),
                a[1].as_str().expect("dest").to_string(),
            )
        })
        .collect();
    let has = |src: &str, dest: &str| assets.iter().any(|(s, d)| s == src && d == dest);
    assert!(has("target/release/iglive", "usr/bin/"));
    assert!(has("debian/iglive.toml", "etc/iglive/iglive.toml"));
    assert!(
        !assets.iter().any(|(s, _)| s.ends_with(".service")),
        "systemd-units installs the unit; listing it too packages it twice"
    );
}

#[test]
fn systemd_test_scenario_fits_its_checks() {
    let s = iglive::sim::Scenario::from_toml_str(&repo_file("tests/scenarios/systemd.toml"))
        .expect("scenario parses");
    let first = &s.broadcasts[0];
    let second = &s.broadcasts[1];
    // The first live starts after the service is up (about 3 s in) and ends within the test.
    assert!(first.start >= 10.0 && first.start + first.duration <= 40.0);
    // The second outlasts the whole test, so `systemctl stop` cuts it.
    assert!(second.start + second.duration >= 600.0);
}
