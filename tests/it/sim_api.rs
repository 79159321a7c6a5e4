//! The simulator's private API: authentication, key names and types, the `get_comment` cursor,
//! the heartbeat form check, the status timeline, detection endpoints and API faults.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::support;
use crate::support::sim::{client, get, start, wait_sim, COOKIE};
use iglive::sim::{self, Scenario};
use serde_json::Value;

const BASIC: &str = include_str!("../scenarios/basic.toml");
const ID: &str = "17900000000000101";

#[tokio::test]
async fn api_requires_a_session_cookie_or_bearer_token() {
    let h = start(BASIC, 1.0).await;
    let url = h.api_base_url().join("feed/user/1001/story/").expect("url");
    let resp = client().get(url.clone()).send().await.expect("request");
    assert_eq!(resp.status().as_u16(), 403);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["message"], "login_required");
    assert_eq!(body["status"], "fail");
    // A cookie header without sessionid is not enough.
    let resp = client()
        .get(url.clone())
        .header("cookie", "csrftoken=x; ds_user_id=1")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 403);
    for (name, value) in [
        ("cookie", COOKIE),
        ("authorization", "Bearer IGT:2:eyJzZXNzaW9uaWQiOiIxIn0="),
    ] {
        let resp = client()
            .get(url.clone())
            .header(name, value)
            .header("x-ig-app-id", "567067343352427")
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 200, "{name}");
    }
    // Media and /truth need no session.
    let resp = client()
        .get(h.base_url().join("truth").expect("url"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    let log = h.requests();
    assert_eq!(log.len(), 5);
    assert_eq!(log[0].status, 403);
    assert_eq!(log[3].header("x-ig-app-id"), Some("567067343352427"));
    assert_eq!(log[3].path, "/api/v1/feed/user/1001/story/");
    h.shutdown().await;
}

#[tokio::test]
async fn session_expiry_turns_into_login_required() {
    let toml = BASIC.replace(
        "comment_page_cap = 50",
        "comment_page_cap = 50\nsession_expires_at = 1.0",
    );
    let h = start(&toml, 2.0).await;
    let (status, _, _) = get(&h, "api/v1/feed/reels_tray/").await;
    assert_eq!(status, 200);
    wait_sim(&h, 1.0).await;
    let (status, _, body) = get(&h, "api/v1/feed/reels_tray/").await;
    assert_eq!(status, 403);
    assert_eq!(body["message"], "login_required");
    h.shutdown().await;
}

#[tokio::test]
async fn broadcast_objects_use_instagrams_keys_and_types() {
    let h = start(BASIC, 1.0).await;
    let (status, _, story) = get(&h, "api/v1/feed/user/1001/story/").await;
    assert_eq!(status, 200);
    let b = &story["broadcast"];
    assert_eq!(b["id"], ID);
    assert_eq!(b["broadcast_status"], "active");
    assert!(
        b["viewer_count"].is_f64(),
        "viewer_count is a float: {}",
        b["viewer_count"]
    );
    assert!(b["published_time"].is_i64());
    assert_eq!(b["media_id"], format!("{ID}_1001"));
    assert_eq!(b["broadcast_owner"]["pk"], 1001);
    assert_eq!(b["broadcast_owner"]["username"], "host.one");
    assert_eq!(b["broadcast_owner"]["is_verified"], true);
    assert_eq!(b["cobroadcasters"][0]["username"], "guest.two");
    let mpd = b["dash_playback_url"].as_str().expect("dash_playback_url");
    assert!(mpd.starts_with(h.base_url().as_str()) && mpd.ends_with(".mpd"));
    assert_eq!(b["dash_abr_playback_url"], mpd);
    assert!(story["post_live_item"].is_null());

    let (_, _, info) = get(&h, &format!("api/v1/live/{ID}/info/")).await;
    assert_eq!(info["status"], "ok");
    assert_eq!(info["id"], ID);

    let (status, _, web) = get(&h, "api/v1/live/web_info/?target_user_id=1001").await;
    assert_eq!(status, 200);
    assert_eq!(web["id"], ID);
    let (status, _, _) = get(&h, "api/v1/live/web_info/?target_user_id=1002").await;
    assert_eq!(status, 404, "not live");
    let (_, _, tray) = get(&h, "api/v1/feed/reels_tray/").await;
    let live = tray["broadcasts"].as_array().expect("broadcasts");
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["broadcast_owner"]["pk"], 1001);

    // The guest's story feed shows the host's broadcast (docs/instagram.md §8 "Co-broadcast"),
    // while its web_info answers 404 (above).
    let (_, _, guest) = get(&h, "api/v1/feed/user/1002/story/").await;
    assert_eq!(guest["broadcast"]["id"], ID, "{guest}");
    assert_eq!(guest["broadcast"]["broadcast_owner"]["pk"], 1001);
    let (_, _, nobody) = get(&h, "api/v1/feed/user/424242/story/").await;
    assert!(nobody["broadcast"].is_null());
    let (status, _, _) = get(&h, "api/v1/live/1/info/").await;
    assert_eq!(status, 404);

    let (_, _, likes) = get(&h, &format!("api/v1/live/{ID}/get_like_count/?like_ts=0")).await;
    assert!(likes["likes"].as_i64().expect("likes") > 0);
    assert!(likes["like_ts"].is_i64());
    h.shutdown().await;
}

fn created_at(c: &Value) -> f64 {
    c["created_at"].as_f64().expect("created_at number")
}

#[tokio::test]
async fn get_comment_cursor_is_inclusive_newest_first_and_capped() {
    let h = start(BASIC, 1.0).await;
    let truth = h.truth().broadcasts.remove(0);
    assert!(truth.comments.len() > 200);
    let path = |ts: f64| {
        format!("api/v1/live/{ID}/get_comment/?last_comment_ts={ts}&num_comments_requested=4")
    };

    let (status, _, first) = get(&h, &path(0.0)).await;
    assert_eq!(status, 200);
    assert_eq!(first["is_first_fetch"], "True");
    assert_eq!(first["comment_count"], truth.comments.len());
    let page = first["comments"].as_array().expect("comments");
    assert_eq!(page.len(), 50, "capped");
    assert!(
        page.windows(2)
            .all(|w| created_at(&w[0]) >= created_at(&w[1])),
        "newest first"
    );
    // The oldest 50 at or after the cursor.
    let oldest: Vec<&str> = truth.comments[..50].iter().map(|c| c.pk.as_str()).collect();
    let got: Vec<&str> = page
        .iter()
        .rev()
        .map(|c| c["pk"].as_str().expect("pk string"))
        .collect();
    assert_eq!(got, oldest);
    let c = &page[0];
    assert!(c["pk"]
        .as_str()
        .expect("pk")
        .bytes()
        .all(|b| b.is_ascii_digit()));
    assert!(c["user_id"].is_u64());
    assert_eq!(c["created_at_utc"].as_f64(), Some(created_at(c) + 28_800.0));
    assert_eq!(c["user"]["pk"], c["user_id"]);

    // A client that does not advance its cursor sees the same page again.
    let (_, _, again) = get(&h, &path(0.0)).await;
    assert_eq!(again["comments"], first["comments"]);

    // The cursor is inclusive: comments exactly at it come back.
    let ts = truth.comments[120].created_at;
    let (_, _, at) = get(&h, &path(ts)).await;
    assert_eq!(at["is_first_fetch"], "False");
    let page = at["comments"].as_array().expect("comments");
    assert!(page.iter().all(|c| created_at(c) >= ts));
    assert_eq!(page.last().map(created_at), Some(ts));

    // Dedupe by pk and advance to the newest created_at: the 200-comment burst (and everything
    // else published) is read completely.
    let mut seen = HashSet::new();
    let mut cursor = 0.0;
    for _ in 0..100 {
        let (_, _, r) = get(&h, &path(cursor)).await;
        let page = r["comments"].as_array().expect("comments");
        let mut new = 0;
        for c in page {
            if seen.insert(c["pk"].as_str().expect("pk").to_string()) {
                new += 1;
            }
        }
        if let Some(newest) = page.first() {
            cursor = created_at(newest);
        }
        if new == 0 {
            break;
        }
    }
    let truth = h.truth().broadcasts.remove(0);
    let burst = truth
        .comments
        .iter()
        .filter(|c| c.text.starts_with("burst "))
        .count();
    assert_eq!(burst, 200);
    let published: HashSet<String> = truth.comments.iter().map(|c| c.pk.clone()).collect();
    assert!(
        published.is_subset(&seen),
        "every published comment was read"
    );
    // Emoji, right-to-left and multi-kilobyte texts survive as published.
    assert!(truth.comments.iter().any(|c| c.text.contains('🔥')));
    assert!(truth
        .comments
        .iter()
        .any(|c| c.text == "مرحبا، كيف حالكم؟" && c.user_pk == 1002));
    assert!(truth.comments.iter().any(|c| c.text.len() >= 3900));
    h.shutdown().await;
}

#[tokio::test]
async fn heartbeat_requires_csrftoken_and_uuid_plain_or_signed() {
    let h = start(BASIC, 1.0).await;
    let url = h
        .api_base_url()
        .join(&format!("live/{ID}/heartbeat_and_get_viewer_count/"))
        .expect("url");
    let post = |body: String| {
        client()
            .post(url.clone())
            .header("cookie", COOKIE)
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            )
            .body(body)
            .send()
    };
    for body in ["", "_uuid=abc", "_csrftoken=abc&offset_to_video_start=0"] {
        let resp = post(body.into()).await.expect("request");
        assert_eq!(resp.status().as_u16(), 400, "body {body:?}");
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["status"], "fail");
    }
    let resp = post("_csrftoken=None&_uuid=u-1&offset_to_video_start=0".into())
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.expect("json");
    assert!(v["viewer_count"].is_f64());
    assert_eq!(v["broadcast_status"], "active");
    assert_eq!(v["cobroadcaster_ids"][0], "1002");
    let signed = format!(
        "signed_body=SIGNATURE.{}&ig_sig_key_version=4",
        url::form_urlencoded::byte_serialize(
            br#"{"_csrftoken":"t","_uuid":"u-2","offset_to_video_start":0}"#
        )
        .collect::<String>()
    );
    let resp = post(signed).await.expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    let log = h.requests();
    let plain = &log[3];
    assert_eq!(plain.method, "POST");
    assert_eq!(plain.form_value("_uuid"), Some("u-1"));
    assert!(log[4]
        .form_value("signed_body")
        .is_some_and(|s| s.starts_with("SIGNATURE.{")));
    h.shutdown().await;
}

#[tokio::test]
async fn status_follows_the_timeline_through_interruption_end_and_replay() {
    let toml = r#"
seed = 5
[[accounts]]
pk = 3001
username = "host"
followed = true
[[broadcasts]]
id = 17900000000000401
owner = 3001
start = -2.0
duration = 14.0
end_status = "hard_stop"
post_live_after = 3.0
gone_after = 8.0
interruptions = [{ from = 2.0, to = 6.0 }]
[[broadcasts.comments]]
at = -1.0
count = 120
text = "c{n}"
"#;
    let h = start(toml, 4.0).await;
    let id = "17900000000000401";
    let hb = |h: &sim::SimHandle| {
        let url = h
            .api_base_url()
            .join(&format!("live/{id}/heartbeat_and_get_viewer_count/"))
            .expect("url");
        async move {
            let v: Value = client()
                .post(url)
                .header("cookie", COOKIE)
                .form(&[("_csrftoken", "t"), ("_uuid", "u")])
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json");
            v["broadcast_status"].as_str().unwrap_or("").to_string()
        }
    };
    assert_eq!(hb(&h).await, "active");
    wait_sim(&h, 3.0).await;
    assert_eq!(hb(&h).await, "interrupted");
    wait_sim(&h, 7.0).await;
    assert_eq!(hb(&h).await, "active");
    wait_sim(&h, 12.3).await;
    assert_eq!(hb(&h).await, "hard_stop");
    // The host's outage leaves a gap in t: no segment ends inside the interruption.
    let truth = h.truth().broadcasts.remove(0);
    assert!(truth
        .segments
        .iter()
        .all(|s| !(2.0 < s.published_at && s.published_at <= 6.0)));
    assert!(
        truth.segments.windows(2).any(|w| w[0].t + w[0].d < w[1].t),
        "gap in t"
    );
    let (_, _, story) = get(&h, "api/v1/feed/user/3001/story/").await;
    assert!(story["broadcast"].is_null(), "not live any more");
    assert!(story["post_live_item"].is_null());

    wait_sim(&h, 15.3).await;
    let (_, _, info) = get(&h, &format!("api/v1/live/{id}/info/")).await;
    assert_eq!(info["broadcast_status"], "post_live");
    let (_, _, story) = get(&h, "api/v1/feed/user/3001/story/").await;
    assert_eq!(story["post_live_item"]["broadcasts"][0]["id"], id);
    let (_, _, tray) = get(&h, "api/v1/feed/reels_tray/").await;
    assert_eq!(
        tray["post_live"]["post_live_items"][0]["pk"],
        "post_live_3001"
    );

    // Replay chat pages forward through all 120 comments, about 50 at a time, with offsets
    // kept as whole seconds like the client keeps them: nothing lost, nothing repeated.
    let mut offset = 0.0;
    let mut pks = HashSet::new();
    let mut returned = 0;
    for _ in 0..10 {
        let (status, _, page) = get(
            &h,
            &format!("api/v1/live/{id}/get_post_live_comments/?starting_offset={offset}&encoding_tag=instagram_dash_remuxed"),
        )
        .await;
        assert_eq!(status, 200);
        let comments = page["comments"].as_array().expect("comments");
        returned += comments.len();
        for c in comments {
            pks.insert(c["comment"]["pk"].as_str().expect("pk").to_string());
            assert!(c["offset"].is_number());
        }
        match page["next_fetch_offset"].as_f64() {
            Some(next) => {
                assert_eq!(page["ending_offset"].as_f64(), Some(next));
                offset = next.trunc();
            }
            None => break,
        }
    }
    assert_eq!(pks.len(), 120);
    assert_eq!(returned, 120, "no comment in two pages");
    let (_, _, likes) = get(&h, &format!("api/v1/live/{id}/get_post_live_likes/?starting_offset=0&encoding_tag=instagram_dash_remuxed")).await;
    assert_eq!(likes["time_series"].as_array().map(Vec::len), Some(14));

    wait_sim(&h, 20.3).await;
    let (status, _, _) = get(&h, &format!("api/v1/live/{id}/info/")).await;
    assert_eq!(status, 404, "gone");
    let statuses: Vec<String> = h.truth().broadcasts[0]
        .statuses
        .iter()
        .map(|s| s.status.clone())
        .collect();
    assert_eq!(
        statuses,
        ["active", "interrupted", "active", "hard_stop", "post_live"]
    );
    h.shutdown().await;
}

#[tokio::test]
async fn api_faults_do_what_they_say() {
    let faults = r#"
[[faults]]
kind = "throttle"
from = -100.0
to = 1.5
path = "get_like_count"
retry_after = 30
[[faults]]
kind = "server_error"
from = -100.0
to = 1000.0
path = "feed/user/1002"
status = 502
[[faults]]
kind = "malformed_json"
from = -100.0
to = 1000.0
path = "get_comment"
[[faults]]
kind = "delay"
from = -100.0
to = 1000.0
path = "/info/"
delay_ms = 300
[[faults]]
kind = "reset"
from = -100.0
to = 1000.0
path = "reels_tray"
[[faults]]
kind = "login_required"
from = -100.0
to = 1000.0
path = "feed/user/1001"
[[faults]]
kind = "challenge_required"
from = -100.0
to = 1000.0
path = "heartbeat"
challenge_url = "https://i.instagram.com/challenge/42/xyz/"
[[faults]]
kind = "feedback_required"
from = -100.0
to = 1000.0
path = "get_post_live"
[[faults]]
kind = "server_error"
from = -100.0
to = 1000.0
path = "feed/user/9"
probability = 0.5
"#;
    let h = start(&format!("{BASIC}{faults}"), 2.0).await;
    let (status, headers, body) = get(&h, &format!("api/v1/live/{ID}/get_like_count/")).await;
    assert_eq!(status, 429);
    assert_eq!(
        body["message"],
        "Please wait a few minutes before you try again."
    );
    assert_eq!(body["status"], "fail");
    assert_eq!(
        headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"30"[..])
    );
    let (status, _, _) = get(&h, "api/v1/feed/user/1002/story/").await;
    assert_eq!(status, 502);

    let resp = client()
        .get(
            h.api_base_url()
                .join(&format!("live/{ID}/get_comment/?last_comment_ts=0"))
                .expect("url"),
        )
        .header("cookie", COOKIE)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.expect("body");
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "malformed: {text}"
    );

    let began = Instant::now();
    let (status, _, info) = get(&h, &format!("api/v1/live/{ID}/info/")).await;
    assert_eq!(status, 200);
    assert_eq!(info["id"], ID);
    assert!(began.elapsed() >= Duration::from_millis(300), "delayed");

    let err = client()
        .get(h.api_base_url().join("feed/reels_tray/").expect("url"))
        .header("cookie", COOKIE)
        .send()
        .await
        .expect_err("connection dropped");
    assert!(!err.is_status() && !err.is_timeout(), "{err}");

    let (status, _, body) = get(&h, "api/v1/feed/user/1001/story/").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (403, Some("login_required"))
    );

    let resp = client()
        .post(
            h.api_base_url()
                .join(&format!("live/{ID}/heartbeat_and_get_viewer_count/"))
                .expect("url"),
        )
        .header("cookie", COOKIE)
        .form(&[("_csrftoken", "t"), ("_uuid", "u")])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["message"], "challenge_required");
    assert_eq!(
        body["challenge"]["url"],
        "https://i.instagram.com/challenge/42/xyz/"
    );

    let (status, _, body) = get(
        &h,
        &format!("api/v1/live/{ID}/get_post_live_comments/?starting_offset=0"),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("feedback_required"))
    );
    assert!(body["feedback_message"].is_string());

    let mut outcomes = HashSet::new();
    for _ in 0..40 {
        outcomes.insert(get(&h, "api/v1/feed/user/9/story/").await.0);
    }
    assert_eq!(
        outcomes,
        HashSet::from([200, 500]),
        "probability 0.5 mixes outcomes"
    );

    // The throttle window closes on the simulated clock.
    wait_sim(&h, 1.5).await;
    let (status, _, _) = get(&h, &format!("api/v1/live/{ID}/get_like_count/")).await;
    assert_eq!(status, 200);
    // Every request was recorded, the dropped one with status 0.
    assert!(h
        .requests()
        .iter()
        .any(|r| r.path.ends_with("reels_tray/") && r.status == 0));
    h.shutdown().await;
}

#[tokio::test]
async fn scenario_files_and_demo_load_and_bad_input_is_a_typed_error() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let basic = Scenario::from_path(&dir.join("basic.toml")).expect("basic.toml");
    assert_eq!(basic.broadcasts.len(), 1);
    let faults = Scenario::from_path(&dir.join("faults.json")).expect("faults.json");
    assert_eq!(faults.faults.len(), 5);
    assert_eq!(Scenario::demo().broadcasts.len(), 1);
    let err = Scenario::from_toml_str(
        "seed = 1\n[[broadcasts]]\nid = 1\nowner = 9\nstart = 0.0\nduration = 5.0\n",
    )
    .expect_err("unknown owner");
    assert!(err.to_string().contains("owner 9"), "{err}");
    assert!(Scenario::from_toml_str("seed = \"x\"").is_err());
    let bad_time = BASIC.replace("start = -30.0", "start = inf");
    let err = Scenario::from_toml_str(&bad_time).expect_err("non-finite start");
    assert!(err.to_string().contains("finite"), "{err}");
    let bad_interruption = BASIC.replace(
        "post_live_after = 5.0",
        "post_live_after = 5.0\ninterruptions = [{ from = 1.0, to = nan }]",
    );
    assert!(Scenario::from_toml_str(&bad_interruption).is_err());
    assert!(Scenario::from_path(&dir.join("missing.toml")).is_err());
    let opts = sim::SimOptions {
        listen: "0.0.0.0:0".parse().expect("addr"),
        ..sim::SimOptions::default()
    };
    let err = sim::start(Scenario::demo(), opts)
        .await
        .err()
        .expect("refuses non-loopback");
    assert!(matches!(err, sim::SimError::NotLoopback(_)));
}

#[tokio::test]
async fn demo_serves_a_live_broadcast_and_the_banner_names_it() {
    let h = sim::start(
        Scenario::demo(),
        sim::SimOptions {
            speed: 2.0,
            ..sim::SimOptions::default()
        },
    )
    .await
    .expect("demo starts");
    let banner = h.banner();
    let first = banner.lines().next().expect("first line");
    assert_eq!(first, format!("iglive sim listening on {}", h.base_url()));
    let b = h.truth().broadcasts.remove(0);
    assert!(banner.contains(&b.manifest_path));
    // Session file printed in the banner is accepted by iglive's own session loader.
    let session = iglive::Session::parse(&sim::session_json()).expect("session parses");
    assert!(session.has_credential());
    let (status, _, story) = get(&h, "api/v1/feed/user/1000001/story/").await;
    assert_eq!(status, 200);
    assert_eq!(story["broadcast"]["broadcast_status"], "active");
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.truth().broadcasts[0].segments.is_empty() {
        assert!(Instant::now() < deadline, "demo publishes a segment");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _, mpd) = support::sim::get_bytes(&h, &b.manifest_path).await;
    assert_eq!(status, 200);
    dash_mpd_core::parse(&String::from_utf8(mpd).expect("utf-8")).expect("demo manifest parses");
    h.shutdown().await;
}

#[tokio::test]
async fn the_seed_makes_runs_identical() {
    let a = start(BASIC, 1.0).await;
    let b = start(BASIC, 1.0).await;
    let (ta, tb) = (
        a.truth().broadcasts.remove(0),
        b.truth().broadcasts.remove(0),
    );
    let segs = |t: &iglive::sim::BroadcastTruth| -> Vec<(u64, u64)> {
        t.segments.iter().take(12).map(|s| (s.t, s.d)).collect()
    };
    assert_eq!(segs(&ta), segs(&tb));
    let comments =
        |t: &iglive::sim::BroadcastTruth, h: &sim::SimHandle| -> Vec<(String, String, i64)> {
            t.comments
                .iter()
                .take(250)
                .map(|c| {
                    (
                        c.pk.clone(),
                        c.text.clone(),
                        ((c.created_at - h.unix_time(0.0)) * 1000.0).round() as i64,
                    )
                })
                .collect()
        };
    assert_eq!(comments(&ta, &a), comments(&tb, &b));
    let other = start(&BASIC.replace("seed = 42", "seed = 43"), 1.0).await;
    let tc = other.truth().broadcasts.remove(0);
    assert_ne!(
        comments(&ta, &a),
        comments(&tc, &other),
        "another seed, another chat"
    );
    for h in [a, b, other] {
        h.shutdown().await;
    }
}
