//! The recording folder: after a simulated broadcast the folder holds
//! every file, `broadcast.json` and `list --json` agree with the database, `comments.jsonl` and
//! `chat.vtt` hold every comment once, in order, at the right offset, and a hostile username
//! and hostile comment texts are contained and escaped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::daemon::{wait_until, Harness, FAST_ENGAGEMENT};
use crate::support::hostile::{HOSTILE_TEXTS, HOSTILE_USER};

const ID: &str = "17900000000000999";

fn scenario() -> String {
    let mut s = format!(
        r#"
seed = 5
comment_page_cap = 50

[[accounts]]
pk = 8001
username = {user}
full_name = "Evil <b>Host</b>"
followed = true

[[broadcasts]]
id = {ID}
owner = 8001
start = 1.0
duration = 40.0
end_status = "stopped"
post_live_after = 1.0
segments = {{ duration_ms = 2000, jitter_ms = 100, base_segments = 4 }}
likes = [[0.0, 0.0], [40.0, 400.0]]
viewers = [[0.0, 5.0], [20.0, 80.0], [40.0, 30.0]]

[[broadcasts.comment_streams]]
from = 3.0
to = 37.0
per_second = 1.5
texts = ["nice", "❤️", "مرحبا"]
"#,
        user = toml_str(HOSTILE_USER)
    );
    for (i, t) in HOSTILE_TEXTS.iter().enumerate() {
        s.push_str(&format!(
            "\n[[broadcasts.comments]]\nat = {}\ntext = {}\n",
            10.0 + i as f64 * 3.0,
            toml_str(t)
        ));
    }
    s
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

const ACCOUNTS: &str = r#"
[[accounts]]
user_id = "8001"
"#;

trait TextQuery {
    fn count_text(&self, sql: &str, id: &str) -> String;
}

impl TextQuery for Harness {
    fn count_text(&self, sql: &str, id: &str) -> String {
        let conn = self.store().connect().expect("connect");
        conn.query_row(sql, [id], |r| r.get(0)).expect("text")
    }
}

fn iglive(h: &Harness, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_iglive"))
        .args(args)
        .arg("-c")
        .arg(&h.config_path)
        .output()
        .expect("run iglive");
    assert!(
        out.status.success(),
        "iglive {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn db_row(h: &Harness) -> (String, PathBuf, Option<f64>, i64, i64) {
    let conn = h.store().connect().expect("connect");
    conn.query_row(
        "SELECT state, folder, duration_s, segments_captured, segments_missing FROM recordings WHERE broadcast_id = ?1",
        [ID],
        |r| {
            Ok((
                r.get(0)?,
                PathBuf::from(r.get::<_, String>(1)?),
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
            ))
        },
    )
    .expect("recording row")
}

/// (pk, text, created_at, offset_s) from the database in time order.
fn db_comments(h: &Harness) -> Vec<(String, String, f64, f64)> {
    let conn = h.store().connect().expect("connect");
    let mut stmt = conn
        .prepare(
            "SELECT pk, text, created_at, offset_s FROM comments WHERE broadcast_id = ?1
             ORDER BY created_at, length(pk), pk",
        )
        .expect("prepare");
    stmt.query_map([ID], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// `HH:MM:SS.mmm` → seconds.
fn vtt_time(s: &str) -> f64 {
    let mut parts = s.split(':');
    let h: f64 = parts.next().and_then(|p| p.parse().ok()).expect("hours");
    let m: f64 = parts.next().and_then(|p| p.parse().ok()).expect("minutes");
    let sec: f64 = parts.next().and_then(|p| p.parse().ok()).expect("seconds");
    h * 3600.0 + m * 60.0 + sec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_folder_explains_itself_and_contains_hostile_input() {
    let h = Harness::start(&scenario(), 10.0, &format!("{FAST_ENGAGEMENT}{ACCOUNTS}")).await;
    // The database exists (migrated) before the daemon and this test both open it: two first
    // opens racing on the migration can fail the daemon's start.
    drop(h.store());
    let d = h.run_daemon();
    wait_until("the recording ends", Duration::from_secs(120), || {
        matches!(h.state(ID).as_deref(), Some("finished") | Some("failed"))
    })
    .await;
    d.stop().await;

    let (state, folder, duration, captured, missing) = db_row(&h);
    let recordings = h.config().storage.recordings_dir;
    // Contained: the folder is two plain components below recordings_dir.
    let rel = folder
        .strip_prefix(&recordings)
        .expect("inside recordings_dir");
    let parts: Vec<_> = rel.components().collect();
    assert_eq!(parts.len(), 2, "{rel:?}");
    for p in &parts {
        assert!(
            matches!(p, std::path::Component::Normal(_)),
            "{rel:?} has a non-plain component"
        );
    }
    let account = rel
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .expect("utf-8 account folder");
    assert!(
        account.ends_with("_8001"),
        "altered name gets the pk: {account}"
    );
    assert!(!account.contains(['<', '>', '\0', '/']) && !account.starts_with('.'));
    assert!(!recordings.parent().expect("parent").join("evil").exists());

    let error = h.count_text(
        "SELECT coalesce(error, '') FROM recordings WHERE broadcast_id = ?1",
        ID,
    );
    assert_eq!(
        state, "finished",
        "the simulated broadcast records a video: {error}"
    );
    for f in [
        "video.mp4",
        "broadcast.json",
        "comments.jsonl",
        "chat.vtt",
        "viewers.svg",
        "index.html",
        "cover.jpg",
    ] {
        let meta = std::fs::metadata(folder.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(meta.len() > 0, "{f} is empty");
    }
    let cover = std::fs::read(folder.join("cover.jpg")).expect("cover");
    assert!(cover.starts_with(&[0xFF, 0xD8]), "cover.jpg is a JPEG");

    // broadcast.json agrees with the database and with `show --json` / `list --json`.
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("broadcast.json")).expect("read"))
            .expect("broadcast.json is JSON");
    let comments = db_comments(&h);
    assert_eq!(doc["format"], "iglive-recording/1");
    assert_eq!(doc["broadcast_id"], ID);
    assert_eq!(doc["owner"]["pk"], "8001");
    assert_eq!(doc["owner"]["username"], HOSTILE_USER);
    assert_eq!(doc["owner"]["full_name"], "Evil <b>Host</b>");
    assert_eq!(doc["recording"]["state"], state);
    assert_eq!(doc["duration_s"].as_f64(), duration);
    assert_eq!(doc["capture"]["segments_captured"], captured);
    assert_eq!(doc["capture"]["segments_missing"], missing);
    assert_eq!(doc["engagement"]["comments"], comments.len());
    assert_eq!(
        doc["final_status"],
        h.count_text("SELECT status FROM broadcasts WHERE broadcast_id = ?1", ID)
    );
    assert!(doc["end_reason"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(doc["iglive_version"].is_string());
    let peak = h.count(
        "SELECT CAST(max(viewer_count) AS INTEGER) FROM viewer_samples WHERE broadcast_id = ?1",
        ID,
    );
    assert_eq!(
        doc["engagement"]["peak_viewers"].as_f64(),
        Some(peak as f64)
    );
    let shown: serde_json::Value =
        serde_json::from_str(&iglive(&h, &["show", ID, "--json"])).expect("show --json");
    assert_eq!(
        shown, doc,
        "show --json and broadcast.json tell the same story"
    );

    let listed: serde_json::Value =
        serde_json::from_str(&iglive(&h, &["list", "--json"])).expect("list --json");
    let rows = listed.as_array().expect("array");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["broadcast_id"], ID);
    assert_eq!(row["user_id"], "8001");
    assert_eq!(row["username"], HOSTILE_USER);
    assert_eq!(row["status"], state);
    assert_eq!(row["duration_s"], doc["duration_s"]);
    assert_eq!(row["folder"], folder.display().to_string());
    assert_eq!(row["video"], folder.join("video.mp4").display().to_string());
    assert_eq!(row["comments"], comments.len());
    assert_eq!(row["likes"], doc["engagement"]["likes"]);
    assert_eq!(row["peak_viewers"], doc["engagement"]["peak_viewers"]);
    assert_eq!(row["segments_captured"], captured);
    assert_eq!(row["segments_missing"], missing);
    assert!(row["started_at"].is_number() && row["ended_at"].is_number());
    assert!(row["size_bytes"].as_u64().is_some_and(|b| b > 0));
    let table = iglive(&h, &["list", "--account", "8001"]);
    assert!(table.contains(ID), "{table}");
    let none = iglive(&h, &["list", "--json", "--since", "2999-01-01"]);
    assert_eq!(none.trim(), "[]");

    // Every published comment is in comments.jsonl once, in time order, with its offset.
    let truth: BTreeSet<String> = h
        .sim
        .truth()
        .broadcasts
        .iter()
        .find(|b| b.id == ID)
        .expect("truth")
        .comments
        .iter()
        .map(|c| c.pk.clone())
        .collect();
    assert!(truth.len() > 40, "{} comments published", truth.len());
    let jsonl = std::fs::read_to_string(folder.join("comments.jsonl")).expect("jsonl");
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let pks: Vec<String> = lines
        .iter()
        .map(|l| l["pk"].as_str().expect("pk").to_string())
        .collect();
    assert_eq!(
        pks.iter().cloned().collect::<BTreeSet<_>>(),
        truth,
        "every comment"
    );
    assert_eq!(pks.len(), truth.len(), "each comment once");
    let video_start = comments
        .iter()
        .find(|c| c.3 > 0.0)
        .map(|c| c.2 - c.3)
        .expect("a comment after the video's start");
    for (line, (pk, text, created, offset)) in lines.iter().zip(&comments) {
        assert_eq!(line["pk"], *pk, "database order");
        assert_eq!(line["text"], *text, "text kept verbatim as data");
        assert_eq!(line["created_at"].as_f64(), Some(*created));
        let off = line["offset_s"].as_f64().expect("offset_s");
        assert!((off - *offset).abs() < 1e-6);
        assert!(
            (off - (created - video_start).max(0.0)).abs() < 1e-3,
            "offset {off} of {pk} is its time into the video"
        );
        for k in ["user_id", "username", "created_at"] {
            assert!(!line[k].is_null(), "{k} set");
        }
    }
    let mut sorted = lines.clone();
    sorted.sort_by(|a, b| {
        a["created_at"]
            .as_f64()
            .partial_cmp(&b["created_at"].as_f64())
            .expect("finite")
    });
    assert_eq!(sorted, lines, "time order");

    // chat.vtt: one cue per comment at its offset; the hostile texts cannot escape a cue.
    let vtt = std::fs::read_to_string(folder.join("chat.vtt")).expect("vtt");
    assert!(vtt.starts_with("WEBVTT\n\n"));
    assert!(!vtt.contains('\0') && !vtt.contains("<script") && !vtt.contains("<img"));
    let cues: Vec<&str> = vtt.trim_end().split("\n\n").skip(1).collect();
    assert_eq!(cues.len(), comments.len(), "one cue per comment");
    for (cue, (_, text, _, offset)) in cues.iter().zip(&comments) {
        let cue_lines: Vec<&str> = cue.lines().collect();
        assert_eq!(cue_lines.len(), 3, "id, timing, text: {cue:?}");
        let (start, _) = cue_lines[1].split_once(" --> ").expect("timing line");
        assert!((vtt_time(start) - offset).abs() < 0.0015, "{cue}");
        assert!(!cue_lines[2].contains("-->"), "{cue}");
        if text.contains('&') {
            assert!(cue_lines[2].contains("&amp;amp;"), "{cue}");
        }
    }
    let exported = iglive(&h, &["export", ID, "--what", "comments", "--format", "vtt"]);
    assert_eq!(exported, vtt, "export --format vtt is chat.vtt");
    let exported = iglive(&h, &["export", ID, "--what", "comments"]);
    assert_eq!(exported, jsonl, "export --format jsonl is comments.jsonl");
    let csv = iglive(&h, &["export", ID, "--what", "viewers", "--format", "csv"]);
    assert!(csv.starts_with("ts,viewer_count\r\n"), "{csv}");
    let out = h.dir().join("likes.jsonl");
    iglive(
        &h,
        &[
            "export",
            ID,
            "--what",
            "likes",
            "-o",
            out.to_str().expect("utf-8"),
        ],
    );
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&out)
            .expect("likes file")
            .lines()
            .next()
            .expect("a like sample"),
    )
    .expect("json");
    for k in ["ts", "likes", "burst_likes"] {
        assert!(first.get(k).is_some(), "{k} in {first}");
    }

    // index.html: comments are data inside one JSON script, never markup.
    let html = std::fs::read_to_string(folder.join("index.html")).expect("html");
    assert_eq!(
        html.matches("<script").count(),
        3,
        "only the page's own scripts"
    );
    assert!(!html.contains("<img") && !html.contains("<b>Host"));
    for net in [
        "src=\"http",
        "href=\"http",
        "url(",
        "@import",
        "fetch(",
        "XMLHttpRequest",
    ] {
        assert!(!html.contains(net), "no network: {net}");
    }
    let svg = std::fs::read_to_string(folder.join("viewers.svg")).expect("svg");
    assert!(svg.contains("<polyline") && !svg.contains("<script"));
    assert_no_stray_files(&folder);
}

/// Nothing but the documented files (and hidden working folders) in a finished folder.
fn assert_no_stray_files(folder: &Path) {
    for e in std::fs::read_dir(folder).expect("read_dir").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(
            name.starts_with('.')
                || [
                    "video.mp4",
                    "broadcast.json",
                    "comments.jsonl",
                    "chat.vtt",
                    "viewers.svg",
                    "index.html",
                    "cover.jpg"
                ]
                .contains(&name.as_str()),
            "unexpected file {name}"
        );
    }
}
