//! The library's REST API against an archive written through the real writer: every endpoint,
//! every error code, the envelope, cursors, `fields=`, media with Range and path containment,
//! search in several scripts, account edits in the config, the token, and the documents.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde_json::Value;

use crate::support::hostile::{HOSTILE_TEXTS, HOSTILE_USER};
use crate::support::library::{Archive, Rec, Server, TOKEN};

/// 2026-11-25 00:00 UTC.
const T0: f64 = 1_795_564_800.0;
const FINISHED: &str = "17900000000001001";
const FAILED: &str = "17900000000001002";
const LIVE: &str = "17900000000001003";
const FILLERS: usize = 40;

fn filler_id(i: usize) -> String {
    format!("1790000000000{}", 2000 + i)
}

fn comments(list: &[(&str, &str)], from: f64) -> Vec<(f64, String, String)> {
    list.iter()
        .enumerate()
        .map(|(i, (u, t))| (from + i as f64 * 0.25, u.to_string(), t.to_string()))
        .collect()
}

const WORDS: [(&str, &str); 6] = [
    ("anna", "Café au lait ☕"),
    ("bob", "naïve résumé"),
    ("carl", "hello world"),
    ("dora", "你好世界"),
    ("emi", "日本語のコメントです"),
    ("jin", "안녕하세요 친구들"),
];

async fn archive() -> (Archive, Vec<String>) {
    let a = Archive::new(
        &[
            ("8001", Some("evil")),
            ("8002", Some("Café Owner")),
            ("8003", None),
        ],
        "",
    );
    let ids: Vec<String> = (0..FILLERS).map(filler_id).collect();
    let mut recs = vec![
        Rec {
            username: Some("cafe.owner"),
            duration: Some(4.0),
            video_seconds: Some(4),
            comments: {
                let mut c = comments(&WORDS, 0.5);
                c.extend(comments(
                    &HOSTILE_TEXTS
                        .iter()
                        .map(|t| ("mallory", *t))
                        .collect::<Vec<_>>(),
                    2.0,
                ));
                c.extend((0..10).map(|i| {
                    (
                        3.5 + i as f64 * 0.05,
                        format!("viewer{i}"),
                        format!("filler comment {i}"),
                    )
                }));
                c
            },
            ..Rec::new(FINISHED, "8002", "finished", T0 - 5.0 * 86400.0 + 36000.0)
        },
        Rec {
            username: Some(HOSTILE_USER),
            error: Some("ffmpeg failed: <b>boom</b>"),
            comments: comments(
                &HOSTILE_TEXTS
                    .iter()
                    .map(|t| (HOSTILE_USER, *t))
                    .collect::<Vec<_>>(),
                1.0,
            ),
            ..Rec::new(FAILED, "8001", "failed", T0 - 4.0 * 86400.0)
        },
        Rec {
            username: Some("nihon"),
            duration: None,
            comments: comments(&[("x", "まだ配信中")], 1.0),
            ..Rec::new(LIVE, "8003", "recording", T0 - 3600.0)
        },
    ];
    for (i, id) in ids.iter().enumerate() {
        recs.push(Rec {
            username: Some("filler"),
            duration: Some(10.0 * (i + 1) as f64),
            comments: (0..(i % 4))
                .map(|k| (k as f64, "f".to_string(), format!("filler {i} {k}")))
                .collect(),
            ..Rec::new(
                id,
                "8004",
                "finished",
                T0 - 10.0 * 86400.0 - i as f64 * 3600.0,
            )
        });
    }
    a.write(&recs).await;
    (a, ids)
}

async fn served() -> (Archive, Server) {
    let (a, _) = archive().await;
    let s = a.serve().await;
    (a, s)
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|r| r["broadcast_id"].as_str().expect("string id").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_are_listed_filtered_sorted_and_paged() {
    let (_a, s) = served().await;
    let first = s.get("/api/v1/recordings").await;
    assert_eq!(first.status, 200);
    assert!(first.json["meta"]["request_id"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
    assert!(first.json["meta"]["ms"].as_f64().is_some());
    assert_eq!(first.json["data"].as_array().expect("list").len(), 43);
    assert!(first.json["meta"]["next_cursor"].is_null());
    let newest = ids(first.json["data"].as_array().expect("list"));
    assert_eq!(newest[0], LIVE, "newest first");

    // Paging with a small limit visits every recording once, in the same order.
    let paged = ids(&s.all("/api/v1/recordings", 7).await);
    assert_eq!(paged, newest);
    let asc = ids(&s.all("/api/v1/recordings?order=asc", 5).await);
    assert_eq!(asc, newest.iter().rev().cloned().collect::<Vec<_>>());

    // Sorts, with cursors that keep the sort.
    for sort in ["duration", "comments", "peak_viewers", "likes", "account"] {
        let all = s.all(&format!("/api/v1/recordings?sort={sort}"), 6).await;
        assert_eq!(all.len(), 43, "{sort}");
        let set: BTreeSet<String> = ids(&all).into_iter().collect();
        assert_eq!(set.len(), 43, "{sort}: no duplicates across pages");
    }
    let by_comments = s
        .all("/api/v1/recordings?sort=comments&order=desc", 4)
        .await;
    let counts: Vec<i64> = by_comments
        .iter()
        .map(|r| r["comments"].as_i64().expect("n"))
        .collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    assert_eq!(by_comments[0]["broadcast_id"], FINISHED);
    let by_duration = s.all("/api/v1/recordings?sort=duration&order=asc", 9).await;
    let d: Vec<f64> = by_duration
        .iter()
        .map(|r| r["duration_s"].as_f64().unwrap_or(-1.0))
        .collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");

    // Filters: account by id, username or label; status; dates.
    for account in ["8002", "cafe.owner", "Caf%C3%A9%20Owner"] {
        let a = s
            .get(&format!("/api/v1/recordings?account={account}"))
            .await;
        assert_eq!(
            ids(a.json["data"].as_array().expect("list")),
            vec![FINISHED.to_string()],
            "{account}"
        );
    }
    let st = s.get("/api/v1/recordings?status=failed,recording").await;
    let mut got = ids(st.json["data"].as_array().expect("list"));
    got.sort();
    assert_eq!(got, vec![FAILED.to_string(), LIVE.to_string()]);
    let days = s
        .get("/api/v1/recordings?since=2026-11-20&until=2026-11-21")
        .await;
    assert_eq!(
        ids(days.json["data"].as_array().expect("list")),
        vec![FAILED.to_string(), FINISHED.to_string()]
    );
    let day = s
        .get("/api/v1/recordings?since=2026-11-20&until=2026-11-20")
        .await;
    assert_eq!(
        ids(day.json["data"].as_array().expect("list")),
        vec![FINISHED.to_string()]
    );
    let unix = s
        .get(&format!("/api/v1/recordings?since={}", T0 - 86400.0))
        .await;
    assert_eq!(
        ids(unix.json["data"].as_array().expect("list")),
        vec![LIVE.to_string()]
    );

    // fields= selects.
    let f = s
        .get("/api/v1/recordings?fields=broadcast_id,status&limit=2")
        .await;
    for r in f.json["data"].as_array().expect("list") {
        let keys: BTreeSet<&str> = r
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(["broadcast_id", "status"]));
    }
    assert!(f.json["meta"]["next_cursor"].is_string());

    // Every invalid parameter says which and why.
    let other_sort = s.get("/api/v1/recordings?limit=1&sort=comments").await;
    let cursor = other_sort.json["meta"]["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    for bad in [
        "limit=0".to_string(),
        "limit=1001".into(),
        "limit=ten".into(),
        "sort=size".into(),
        "order=up".into(),
        "status=done".into(),
        "since=yesterday".into(),
        "since=2026-11-25&until=2026-11-20".into(),
        "fields=broadcast_id,nope".into(),
        "cursor=not-a-cursor".into(),
        format!("cursor={cursor}"),
    ] {
        let a = s.get(&format!("/api/v1/recordings?{bad}")).await;
        assert_eq!(a.status, 400, "{bad}");
        assert_eq!(a.code(), "invalid_parameter", "{bad}: {}", a.json);
        assert!(a.json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.len() > 10));
        assert!(a.json["meta"]["request_id"].is_string());
        assert!(a.json.get("data").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_objects_carry_the_fields_of_iglive_list_json() {
    let (a, s) = served().await;
    let out = Command::new(env!("CARGO_BIN_EXE_iglive"))
        .args(["list", "--json", "-c"])
        .arg(&a.config_path)
        .output()
        .expect("iglive list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed.len(), 43);
    let api = s.all("/api/v1/recordings", 100).await;
    for l in &listed {
        let id = l["broadcast_id"].as_str().expect("id");
        let r = api
            .iter()
            .find(|r| r["broadcast_id"] == id)
            .expect("listed by the API too");
        for (k, v) in l.as_object().expect("object") {
            assert_eq!(&r[k], v, "{id}: {k}");
        }
        let d = s.get(&format!("/api/v1/recordings/{id}")).await;
        assert_eq!(d.status, 200);
        for (k, v) in l.as_object().expect("object") {
            assert_eq!(&d.json["data"][k], v, "detail {id}: {k}");
        }
        assert!(d.json["meta"]["next_cursor"].is_null());
        assert_eq!(d.json["data"]["facts"]["broadcast_id"], id);
    }
    let fin = api
        .iter()
        .find(|r| r["broadcast_id"] == FINISHED)
        .expect("finished");
    assert!(fin["user_id"].is_string() && fin["broadcast_id"].is_string());
    assert_eq!(
        fin["video_url"],
        format!("/api/v1/recordings/{FINISHED}/video")
    );
    assert_eq!(fin["is_being_updated"], false);
    assert!(fin["last_update"].as_f64().is_some_and(|t| t > T0));
    assert_eq!(fin["label"], "Café Owner");
    assert!(
        fin["size_bytes"].as_u64().is_some_and(|b| b > 1000),
        "the video is on disk"
    );
    assert_eq!(fin["page_url"], format!("/recording/{FINISHED}"));
    assert_eq!(fin["comments"], 22);
    assert_eq!(fin["peak_viewers"], 46.0);
    assert_eq!(fin["likes"], 42);
    let live = api
        .iter()
        .find(|r| r["broadcast_id"] == LIVE)
        .expect("live");
    assert_eq!(live["is_being_updated"], true);
    assert!(live["video_url"].is_null());
    let failed = api
        .iter()
        .find(|r| r["broadcast_id"] == FAILED)
        .expect("failed");
    assert_eq!(
        failed["username"], HOSTILE_USER,
        "hostile data comes back verbatim as JSON"
    );
    assert_eq!(failed["error"], "ffmpeg failed: <b>boom</b>");

    let d = s
        .get(&format!(
            "/api/v1/recordings/{FINISHED}?fields=facts,status"
        ))
        .await;
    let keys: BTreeSet<&str> = d.json["data"]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, BTreeSet::from(["facts", "status"]));
    assert_eq!(d.json["data"]["facts"]["format"], "iglive-recording/1");
    let missing = s.get("/api/v1/recordings/123456").await;
    assert_eq!((missing.status, missing.code()), (404, "not_found"));
    let bad = s
        .get(&format!("/api/v1/recordings/{FINISHED}?fields=bogus"))
        .await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_parameter"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_likes_and_viewers_are_cursor_paged() {
    let (_a, s) = served().await;
    let all = s
        .all(&format!("/api/v1/recordings/{FINISHED}/comments"), 4)
        .await;
    assert_eq!(all.len(), 22);
    let pks: BTreeSet<&str> = all.iter().map(|c| c["pk"].as_str().expect("pk")).collect();
    assert_eq!(pks.len(), 22, "no comment twice");
    let times: Vec<f64> = all
        .iter()
        .map(|c| c["created_at"].as_f64().expect("t"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "time order");
    for t in HOSTILE_TEXTS {
        assert!(
            all.iter().any(|c| c["text"] == t),
            "hostile text kept verbatim: {t:?}"
        );
    }
    let from = s
        .all(
            &format!("/api/v1/recordings/{FINISHED}/comments?from_s=3.5"),
            3,
        )
        .await;
    assert_eq!(from.len(), 10);
    assert!(from
        .iter()
        .all(|c| c["offset_s"].as_f64().expect("offset") >= 3.5));
    let likes = s
        .all(&format!("/api/v1/recordings/{FINISHED}/likes"), 2)
        .await;
    assert_eq!(likes.len(), 7);
    assert_eq!(likes.last().expect("last")["likes"], 42);
    let viewers = s
        .all(&format!("/api/v1/recordings/{FINISHED}/viewers"), 3)
        .await;
    assert_eq!(viewers.len(), 7);
    assert!(viewers
        .iter()
        .all(|v| v["offset_s"].is_number() && v["viewer_count"].is_number()));
    for what in ["comments", "likes", "viewers"] {
        let a = s.get(&format!("/api/v1/recordings/999/{what}")).await;
        assert_eq!((a.status, a.code()), (404, "not_found"), "{what}");
        let a = s
            .get(&format!("/api/v1/recordings/{FINISHED}/{what}?cursor=x"))
            .await;
        assert_eq!((a.status, a.code()), (400, "invalid_parameter"), "{what}");
    }
    let c = s
        .get(&format!("/api/v1/recordings/{FINISHED}/comments?limit=1"))
        .await;
    let cursor = c.json["meta"]["next_cursor"].as_str().expect("cursor");
    let wrong = s
        .get(&format!(
            "/api/v1/recordings/{FINISHED}/likes?cursor={cursor}"
        ))
        .await;
    assert_eq!(
        wrong.code(),
        "invalid_parameter",
        "a comments cursor is not a likes cursor"
    );
    let bad = s
        .get(&format!("/api/v1/recordings/{FINISHED}/comments?from_s=-1"))
        .await;
    assert_eq!(bad.code(), "invalid_parameter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_video_is_served_with_ranges_and_the_chat_as_files() {
    let (a, s) = served().await;
    let file = a
        .recordings_dir()
        .join("8002")
        .join(format!("rec_{FINISHED}"))
        .join("video.mp4");
    let len = std::fs::metadata(&file).expect("video").len();
    let url = format!("/api/v1/recordings/{FINISHED}/video");
    let whole = s.get(&url).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("content-type"), Some("video/mp4"));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(whole.bytes.len() as u64, len);
    let part = s
        .send(s.http.get(s.url(&url)).header("range", "bytes=100-199"))
        .await;
    assert_eq!(part.status, 206);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 100-199/{len}").as_str())
    );
    assert_eq!(
        part.bytes,
        std::fs::read(&file).expect("read")[100..200].to_vec()
    );
    let tail = s
        .send(s.http.get(s.url(&url)).header("range", "bytes=-10"))
        .await;
    assert_eq!((tail.status, tail.bytes.len()), (206, 10));
    let out = s
        .send(
            s.http
                .get(s.url(&url))
                .header("range", format!("bytes={}-", len + 10)),
        )
        .await;
    assert_eq!(out.status, 416);
    assert_eq!(
        out.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    let head = s.send(s.http.head(s.url(&url))).await;
    assert_eq!((head.status, head.bytes.len()), (200, 0));
    let dl = s.get(&format!("{url}?download=1")).await;
    assert_eq!(
        dl.header("content-disposition"),
        Some(format!("attachment; filename=\"cafe.owner_2026-11-20_{FINISHED}.mp4\"").as_str())
    );
    let none = s.get(&format!("/api/v1/recordings/{FAILED}/video")).await;
    assert_eq!((none.status, none.code()), (404, "not_found"));
    assert!(none.json["error"]["message"]
        .as_str()
        .expect("message")
        .contains("iglive finalize"));
    let yet = s.get(&format!("/api/v1/recordings/{LIVE}/video")).await;
    assert_eq!(yet.code(), "not_found");
    assert!(yet.json["error"]["message"]
        .as_str()
        .expect("message")
        .contains("yet"));
    let cover = s.get(&format!("/api/v1/recordings/{FINISHED}/cover")).await;
    assert_eq!((cover.status, cover.code()), (404, "not_found"));

    let vtt = s
        .get(&format!("/api/v1/recordings/{FINISHED}/chat?format=vtt"))
        .await;
    assert_eq!(vtt.status, 200);
    assert_eq!(vtt.header("content-type"), Some("text/vtt; charset=utf-8"));
    let text = String::from_utf8(vtt.bytes).expect("utf-8");
    assert!(text.starts_with("WEBVTT") && text.contains("Café au lait"));
    assert!(!text.contains("<script>"), "subtitles are escaped");
    let srt = s
        .get(&format!(
            "/api/v1/recordings/{FINISHED}/chat?format=srt&download=1"
        ))
        .await;
    assert!(srt
        .header("content-disposition")
        .is_some_and(|d| d.ends_with(".srt\"")));
    let jsonl = s.get(&format!("/api/v1/recordings/{FINISHED}/chat")).await;
    let lines: Vec<Value> = String::from_utf8(jsonl.bytes)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 22);
    let bad = s
        .get(&format!("/api/v1/recordings/{FINISHED}/chat?format=pdf"))
        .await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_parameter"));
    let bad = s.get(&format!("{url}?download=maybe")).await;
    assert_eq!(bad.code(), "invalid_parameter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_never_leaves_the_recordings_folder() {
    let a = Archive::new(&[("8001", None)], "");
    let outside = a.dir().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::write(outside.join("secret.mp4"), b"secret bytes").expect("secret");
    let recs = [
        Rec::new("1001", "8001", "finished", T0),
        Rec::new("1002", "8001", "finished", T0 + 1.0),
        Rec::new("1003", "8001", "finished", T0 + 2.0),
        Rec::new("1004", "8001", "finished", T0 + 3.0),
    ];
    a.write(&recs).await;
    let root = a.recordings_dir();
    let store = a.store();
    let conn = store.connect().expect("connect");
    let set_video = |id: &str, path: &std::path::Path| {
        conn.execute(
            "UPDATE recordings SET video = ?2 WHERE broadcast_id = ?1",
            rusqlite::params![id, path.display().to_string()],
        )
        .expect("update");
    };
    // `..` in the stored path.
    set_video(
        "1001",
        &root.join("8001/rec_1001/../../../outside/secret.mp4"),
    );
    // A symlink inside the folder pointing outside.
    let link = root.join("8001/rec_1002/video.mp4");
    std::os::unix::fs::symlink(outside.join("secret.mp4"), &link).expect("symlink");
    set_video("1002", &link);
    // A symlinked recording folder.
    let linked_dir = root.join("8001/linked");
    std::os::unix::fs::symlink(&outside, &linked_dir).expect("symlink dir");
    set_video("1003", &linked_dir.join("secret.mp4"));
    // A symlink that stays inside is fine.
    std::fs::write(root.join("8001/rec_1004/real.mp4"), b"inside bytes").expect("inside");
    let inner = root.join("8001/rec_1004/video.mp4");
    std::os::unix::fs::symlink(root.join("8001/rec_1004/real.mp4"), &inner).expect("inner link");
    set_video("1004", &inner);

    let s = a.serve().await;
    for id in ["1001", "1002", "1003"] {
        let r = s.get(&format!("/api/v1/recordings/{id}/video")).await;
        assert_eq!((r.status, r.code()), (404, "not_found"), "{id}");
        assert!(!String::from_utf8_lossy(&r.bytes).contains("secret bytes"));
        assert!(
            r.json["error"]["message"]
                .as_str()
                .expect("message")
                .contains("outside the recordings folder"),
            "{id}: {}",
            r.json
        );
    }
    let ok = s.get("/api/v1/recordings/1004/video").await;
    assert_eq!(
        (ok.status, ok.bytes.as_slice()),
        (200, b"inside bytes".as_slice())
    );
    for path in [
        "/api/v1/recordings/..%2F..%2Fetc%2Fpasswd/video",
        "/api/v1/recordings/%2Fetc%2Fpasswd/video",
        "/api/v1/recordings/../../etc/passwd",
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(
            !String::from_utf8_lossy(&r.bytes).contains("root:"),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_comments_in_every_script() {
    let (_a, s) = served().await;
    let hits = |q: &str| {
        let q = url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>();
        let s = &s;
        async move {
            let a = s.get(&format!("/api/v1/search?q={q}&limit=100")).await;
            assert_eq!(a.status, 200, "{q}: {}", a.json);
            a.json["data"].as_array().expect("hits").clone()
        }
    };
    let texts = |h: &[Value]| -> Vec<String> {
        h.iter()
            .map(|x| x["text"].as_str().expect("text").to_string())
            .collect()
    };
    assert_eq!(
        texts(&hits("cafe").await),
        vec!["Café au lait ☕"],
        "diacritics folded"
    );
    assert_eq!(
        texts(&hits("CAFÉ LAIT").await),
        vec!["Café au lait ☕"],
        "case folded, all words"
    );
    assert_eq!(texts(&hits("resume naive").await), vec!["naïve résumé"]);
    assert_eq!(texts(&hits("hel*").await), vec!["hello world"], "prefix");
    assert!(hits("hel").await.is_empty(), "whole words without *");
    assert_eq!(
        texts(&hits("世界").await),
        vec!["你好世界"],
        "two Chinese characters"
    );
    assert_eq!(
        texts(&hits("日本語").await),
        vec!["日本語のコメントです"],
        "Japanese substring"
    );
    assert_eq!(texts(&hits("コメント").await), vec!["日本語のコメントです"]);
    assert_eq!(
        texts(&hits("친구").await),
        vec!["안녕하세요 친구들"],
        "Korean word with a particle"
    );
    assert_eq!(
        texts(&hits("配信").await),
        vec!["まだ配信中"],
        "a recording in progress is searchable"
    );
    let by_user = hits("mallory").await;
    assert_eq!(by_user.len(), HOSTILE_TEXTS.len(), "usernames are searched");
    let script = hits("script alert").await;
    assert!(script.iter().any(|h| h["text"] == HOSTILE_TEXTS[0]));
    assert!(script.iter().all(|h| h["text"]
        .as_str()
        .is_some_and(|t| HOSTILE_TEXTS.contains(&t))));
    // FTS5 syntax in a query is just text.
    for q in [
        "\"",
        "NEAR(a b)",
        "a OR",
        "text:x",
        "^x",
        "a AND NOT b",
        "((",
    ] {
        let enc = url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>();
        let a = s.get(&format!("/api/v1/search?q={enc}")).await;
        assert!(
            a.status == 200 || a.code() == "invalid_parameter",
            "{q}: {}",
            a.json
        );
    }
    // Each hit links to its moment, and names its recording.
    let h = &hits("hello").await[0];
    assert_eq!(h["broadcast_id"], FINISHED);
    assert_eq!(h["owner_username"], "cafe.owner");
    assert_eq!(h["offset_s"], 1.0);
    assert_eq!(
        h["page_url"],
        format!(
            "/recording/{FINISHED}?t=1&c={}",
            h["pk"].as_str().expect("pk")
        )
    );
    // Paging, newest recorded first, and within one recording.
    let paged = s.all("/api/v1/search?q=filler", 3).await;
    assert_eq!(paged.len(), 10 + (0..FILLERS).map(|i| i % 4).sum::<usize>());
    let keys: BTreeSet<String> = paged
        .iter()
        .map(|h| format!("{}/{}", h["broadcast_id"], h["pk"]))
        .collect();
    assert_eq!(keys.len(), paged.len(), "no hit twice");
    let within = s
        .all(
            &format!("/api/v1/search?q=filler&broadcast_id={FINISHED}"),
            4,
        )
        .await;
    assert_eq!(within.len(), 10);
    let cjk_within = s
        .all(&format!("/api/v1/search?q=世界&broadcast_id={FAILED}"), 4)
        .await;
    assert!(cjk_within.is_empty());
    // Errors.
    let a = s.get("/api/v1/search").await;
    assert_eq!((a.status, a.code()), (400, "missing_parameter"));
    let a = s.get("/api/v1/search?q=%20").await;
    assert_eq!(a.code(), "missing_parameter");
    for q in ["!!!", &"a".repeat(201), "a b c d e f g h i"] {
        let a = s
            .get(&format!(
                "/api/v1/search?q={}",
                url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
            ))
            .await;
        assert_eq!((a.status, a.code()), (400, "invalid_parameter"), "{q}");
    }
    let a = s.get("/api/v1/search?q=x&cursor=zzz").await;
    assert_eq!(a.code(), "invalid_parameter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_added_and_removed_in_the_config() {
    let (a, s) = served().await;
    let list = s.get("/api/v1/accounts").await;
    assert_eq!(list.status, 200);
    let accounts = list.json["data"].as_array().expect("list").clone();
    let ids: Vec<&str> = accounts
        .iter()
        .map(|x| x["user_id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        vec!["8001", "8002", "8003", "8004"],
        "config order, then archive-only"
    );
    let cafe = &accounts[1];
    assert_eq!(
        (cafe["label"].as_str(), cafe["username"].as_str()),
        (Some("Café Owner"), Some("cafe.owner"))
    );
    assert_eq!(cafe["state"], "configured", "no daemon under iglive serve");
    assert_eq!(cafe["recordings"], 1);
    assert_eq!(cafe["last_broadcast_id"], FINISHED);
    assert_eq!(accounts[3]["state"], "not_watched");
    assert_eq!(accounts[3]["recordings"], FILLERS);

    let post = |body: String, ctype: &'static str| {
        s.http
            .post(s.url("/api/v1/accounts"))
            .header("content-type", ctype)
            .body(body)
    };
    let added = s
        .send(post(
            r#"{"user_id": "9009", "label": "new one"}"#.into(),
            "application/json",
        ))
        .await;
    assert_eq!(added.status, 201, "{}", added.json);
    assert_eq!(added.json["data"]["user_id"], "9009");
    assert_eq!(added.json["data"]["watched"], true);
    let text = std::fs::read_to_string(&a.config_path).expect("config");
    assert!(
        text.contains("# Accounts to watch.") && text.contains("# The library test's config."),
        "comments kept:\n{text}"
    );
    assert!(text.contains("user_id = \"9009\""));
    assert_eq!(a.config().accounts.len(), 4);
    let numeric = s
        .send(post(r#"{"user_id": 9010}"#.into(), "application/json"))
        .await;
    assert_eq!(numeric.status, 201);

    for (body, ctype, status, code) in [
        (
            r#"{"user_id": "9009"}"#,
            "application/json",
            409,
            "conflict",
        ),
        (
            r#"{"user_id": "@bob"}"#,
            "application/json",
            400,
            "invalid_parameter",
        ),
        (
            r#"{"user_id": "1", "label": "a\nb"}"#,
            "application/json",
            400,
            "invalid_parameter",
        ),
        (
            r#"{"label": "x"}"#,
            "application/json",
            400,
            "missing_parameter",
        ),
        (
            r#"{"user_id": "1""#,
            "application/json",
            400,
            "invalid_parameter",
        ),
        (
            "user_id=1",
            "application/x-www-form-urlencoded",
            400,
            "invalid_parameter",
        ),
    ] {
        let r = s.send(post(body.into(), ctype)).await;
        assert_eq!((r.status, r.code()), (status, code), "{body}: {}", r.json);
    }
    let del = s.send(s.http.delete(s.url("/api/v1/accounts/9009"))).await;
    assert_eq!(del.status, 200);
    assert_eq!(
        del.json["data"],
        serde_json::json!({"user_id": "9009", "removed": true})
    );
    let again = s.send(s.http.delete(s.url("/api/v1/accounts/9009"))).await;
    assert_eq!((again.status, again.code()), (404, "not_found"));
    let q = s
        .send(s.http.delete(s.url("/api/v1/accounts?user_id=9010")))
        .await;
    assert_eq!(q.status, 200);
    let missing = s.send(s.http.delete(s.url("/api/v1/accounts"))).await;
    assert_eq!((missing.status, missing.code()), (400, "missing_parameter"));
    for id in ["8001", "8002"] {
        assert_eq!(
            s.send(s.http.delete(s.url(&format!("/api/v1/accounts/{id}"))))
                .await
                .status,
            200
        );
    }
    let last = s.send(s.http.delete(s.url("/api/v1/accounts/8003"))).await;
    assert_eq!(
        (last.status, last.code()),
        (409, "conflict"),
        "the config needs one account"
    );
    assert_eq!(a.config().accounts.len(), 1);
    // A config that cannot be read answers 503.
    std::fs::write(&a.config_path, "not [valid").expect("break");
    let broken = s.get("/api/v1/accounts").await;
    assert_eq!((broken.status, broken.code()), (503, "unavailable"));
    let broken = s
        .send(post(r#"{"user_id": "1"}"#.into(), "application/json"))
        .await;
    assert_eq!(broken.code(), "unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_the_listener_and_media_links_are_signed() {
    let (a, _) = archive().await;
    let a = a.with_token();
    let s = a.serve().await;
    for path in [
        "/api/v1/recordings",
        "/api/v1/search?q=x",
        "/deps",
        "/api/v1/accounts",
        "/ready",
    ] {
        let r = s.get(path).await;
        assert_eq!((r.status, r.code()), (401, "invalid_token"), "{path}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"iglive\"")
        );
    }
    for path in [
        "/",
        "/live",
        "/recording/1",
        "/docs",
        "/openapi.json",
        "/health",
        "/build",
        "/assets/app.js",
    ] {
        assert_eq!(s.get(path).await.status, 200, "{path} holds no data");
    }
    let wrong = s
        .send(s.http.get(s.url("/api/v1/recordings")).bearer_auth("nope"))
        .await;
    assert_eq!((wrong.status, wrong.code()), (401, "invalid_token"));
    let bearer = s
        .send(s.http.get(s.url("/api/v1/recordings")).bearer_auth(TOKEN))
        .await;
    assert_eq!(bearer.status, 200);
    let key = s
        .send(
            s.http
                .get(s.url("/api/v1/recordings"))
                .header("x-api-key", TOKEN),
        )
        .await;
    assert_eq!(key.status, 200);
    let post = s
        .send(
            s.http
                .post(s.url("/api/v1/accounts"))
                .json(&serde_json::json!({"user_id": "5"})),
        )
        .await;
    assert_eq!(post.code(), "invalid_token", "writes need the token");
    let post = s
        .send(
            s.http
                .post(s.url("/api/v1/accounts"))
                .bearer_auth(TOKEN)
                .json(&serde_json::json!({"user_id": "5"})),
        )
        .await;
    assert_eq!(post.status, 201);

    let fin = bearer.json["data"]
        .as_array()
        .expect("list")
        .iter()
        .find(|r| r["broadcast_id"] == FINISHED)
        .expect("finished")
        .clone();
    let link = fin["video_url"].as_str().expect("video url");
    assert!(link.contains("&sig=") || link.contains("?exp="), "{link}");
    let played = s
        .send(s.http.get(s.url(link)).header("range", "bytes=0-99"))
        .await;
    assert_eq!(played.status, 206, "a signed link plays without a header");
    let tampered = link.replace(FINISHED, FAILED);
    assert_eq!(s.get(&tampered).await.code(), "invalid_token");
    let mut altered = link.to_string();
    altered.pop();
    assert_eq!(s.get(&altered).await.code(), "invalid_token");
    let vtt = fin["downloads"]["chat_vtt"].as_str().expect("vtt link");
    assert_eq!(s.get(vtt).await.status, 200);
    let unsigned = s.get(&format!("/api/v1/recordings/{FINISHED}/video")).await;
    assert_eq!(unsigned.code(), "invalid_token");

    // A token file others can read is refused, and so is a public listener without a token.
    let loose = a.dir().join("api.token");
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let e = iglive::Library::archive(&a.config(), a.store())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("chmod 600"), "{e}");
    let plain = Archive::new(&[("1", None)], "");
    let lib = iglive::Library::archive(&plain.config(), plain.store()).expect("library");
    let e = iglive::serve_library(
        "0.0.0.0:0".parse().expect("addr"),
        lib,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .err()
    .expect("refused");
    assert!(e.to_string().contains("status.token_file"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokenless_listener_answers_only_loopback_names_and_same_origin_writes() {
    let (a, s) = served().await;
    let rebound = s
        .send(
            s.http
                .get(s.url("/api/v1/recordings"))
                .header("host", "evil.example:9464"),
        )
        .await;
    assert_eq!(
        (rebound.status, rebound.code()),
        (401, "invalid_token"),
        "DNS rebinding is refused"
    );
    let local = s
        .send(
            s.http
                .get(s.url("/api/v1/recordings?limit=1"))
                .header("host", "localhost:9464"),
        )
        .await;
    assert_eq!(local.status, 200);
    let cross = s
        .send(
            s.http
                .post(s.url("/api/v1/accounts"))
                .header("origin", "http://evil.example")
                .json(&serde_json::json!({"user_id": "77"})),
        )
        .await;
    assert_eq!((cross.status, cross.code()), (401, "invalid_token"));
    let same = s
        .send(
            s.http
                .post(s.url("/api/v1/accounts"))
                .header("origin", s.base.clone())
                .json(&serde_json::json!({"user_id": "77"})),
        )
        .await;
    assert_eq!(same.status, 201, "{}", same.json);
    let r = s
        .send(
            s.http
                .get(s.url("/api/v1/recordings?limit=1"))
                .header("origin", "https://example.org"),
        )
        .await;
    assert!(
        r.header("access-control-allow-origin").is_none(),
        "no CORS unless configured"
    );
    drop(s);

    // With an allowed origin, CORS answers that origin only.
    let text = std::fs::read_to_string(&a.config_path).expect("config");
    std::fs::write(
        &a.config_path,
        text.replacen(
            "[storage]",
            "[status]\ncors_origins = [\"https://example.org\"]\n\n[storage]",
            1,
        ),
    )
    .expect("config");
    let s = a.serve().await;
    let r = s
        .send(
            s.http
                .get(s.url("/api/v1/recordings?limit=1"))
                .header("origin", "https://example.org"),
        )
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://example.org")
    );
    let pre = s
        .send(
            s.http
                .request(reqwest::Method::OPTIONS, s.url("/api/v1/accounts"))
                .header("origin", "https://example.org")
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert_eq!(pre.status, 204);
    assert!(pre
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("POST")));
    let other = s
        .send(
            s.http
                .get(s.url("/api/v1/recordings?limit=1"))
                .header("origin", "https://other.example"),
        )
        .await;
    assert!(other.header("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_has_the_envelope_ids_and_security_headers() {
    let (a, s) = served().await;
    let r = s
        .send(
            s.http
                .get(s.url("/api/v1/recordings?limit=1"))
                .header("x-request-id", "req-42"),
        )
        .await;
    assert_eq!(r.json["meta"]["request_id"], "req-42");
    assert_eq!(r.header("x-request-id"), Some("req-42"));
    let r2 = s.get("/api/v1/recordings?limit=1").await;
    assert_ne!(r2.json["meta"]["request_id"], r.json["meta"]["request_id"]);
    let nope = s.get("/api/v1/nope").await;
    assert_eq!((nope.status, nope.code()), (404, "not_found"));
    assert!(nope.json["meta"]["request_id"].is_string());
    let page404 = s.get("/no/such/page").await;
    assert_eq!(page404.status, 404);
    assert!(page404
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));
    for path in [
        "/",
        "/recording/1",
        "/live",
        "/search",
        "/accounts",
        "/pool",
        "/system",
        "/docs",
        "/api/v1/recordings",
        "/assets/app.css",
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        let csp = r.header("content-security-policy").expect("csp");
        assert!(csp.starts_with("default-src 'self'"), "{path}: {csp}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert!(r.header("set-cookie").is_none(), "no cookies");
    }
    for (path, ctype) in [
        ("/assets/app.js", "text/javascript"),
        ("/assets/docs.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        assert!(
            s.get(path)
                .await
                .header("content-type")
                .is_some_and(|c| c.starts_with(ctype)),
            "{path}"
        );
    }
    let sessions = s.get("/api/v1/sessions").await;
    assert_eq!(
        sessions.json["data"],
        serde_json::json!([]),
        "iglive serve has no session"
    );
    let live = s.get("/api/v1/live").await;
    let items = live.json["data"].as_array().expect("live");
    assert_eq!(
        ids(items),
        vec![LIVE.to_string()],
        "from the database under iglive serve"
    );
    assert_eq!(items[0]["latest_comments"][0]["text"], "まだ配信中");
    assert_eq!(s.get("/health").await.bytes, b"ok\n");
    assert_eq!(s.get("/ready").await.json["ready"], true);

    // A database that cannot be opened answers 503, and /deps and /ready say so.
    drop(s);
    let db = a.config().storage.database;
    let lib = iglive::Library::archive(&a.config(), a.store()).expect("library");
    std::fs::remove_file(&db).expect("remove db");
    let _ = std::fs::remove_file(db.with_extension("sqlite3-wal"));
    let _ = std::fs::remove_file(db.with_extension("sqlite3-shm"));
    std::fs::create_dir_all(&db).expect("a directory where the database was");
    let served = iglive::serve_library(
        "127.0.0.1:0".parse().expect("addr"),
        lib,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("serves");
    let s = Server::new(format!("http://{}", served.addr), None);
    let r = s.get("/api/v1/recordings").await;
    assert_eq!((r.status, r.code()), (503, "unavailable"), "{}", r.json);
    let deps = s.get("/deps").await;
    let db_check = deps.json["data"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "database")
        .expect("database check")
        .clone();
    assert_eq!(db_check["ok"], false);
    assert_eq!(s.get("/ready").await.status, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_build_and_deps_describe_the_service() {
    let (_a, s) = served().await;
    let doc = s.get("/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert!(
        doc.json["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc.json["openapi"]
    );
    let paths = doc.json["paths"].as_object().expect("paths");
    for (p, m) in [
        ("/api/v1/recordings", "get"),
        ("/api/v1/recordings/{broadcast_id}", "get"),
        ("/api/v1/recordings/{broadcast_id}/comments", "get"),
        ("/api/v1/recordings/{broadcast_id}/likes", "get"),
        ("/api/v1/recordings/{broadcast_id}/viewers", "get"),
        ("/api/v1/recordings/{broadcast_id}/video", "get"),
        ("/api/v1/recordings/{broadcast_id}/chat", "get"),
        ("/api/v1/search", "get"),
        ("/api/v1/accounts", "get"),
        ("/api/v1/accounts", "post"),
        ("/api/v1/accounts", "delete"),
        ("/api/v1/accounts/{user_id}", "delete"),
        ("/api/v1/live", "get"),
        ("/api/v1/events", "get"),
        ("/api/v1/sessions", "get"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
        ("/build", "get"),
        ("/deps", "get"),
    ] {
        let op = &paths.get(p).unwrap_or_else(|| panic!("{p} documented"))[m];
        assert!(op["responses"].is_object(), "{m} {p}");
    }
    let schemas = doc.json["components"]["schemas"]
        .as_object()
        .expect("schemas");
    for name in [
        "Recording",
        "ErrorBody",
        "SearchHit",
        "Account",
        "LiveItem",
        "Comment",
    ] {
        assert!(schemas.contains_key(name), "{name} schema");
    }
    let docs = s.get("/docs").await;
    assert!(String::from_utf8_lossy(&docs.bytes).contains("/assets/docs.js"));
    let b = s.get("/build").await;
    assert_eq!(b.json["data"]["version"], env!("CARGO_PKG_VERSION"));
    let commit = b.json["data"]["commit"].as_str().expect("commit");
    assert!(
        commit == "unknown"
            || (commit.len() == 40 && commit.bytes().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
    assert!(b.json["data"]["build_date"]
        .as_str()
        .is_some_and(|d| d.len() == 20 && d.ends_with('Z')));
    let deps = s.get("/deps").await;
    let names: Vec<&str> = deps.json["data"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, vec!["ffmpeg", "ffprobe", "database", "disk"]);
    assert_eq!(deps.json["data"]["ok"], true, "{}", deps.json);
    assert!(deps.json["data"]["disk_free_bytes"]
        .as_u64()
        .is_some_and(|b| b > 0));
}
