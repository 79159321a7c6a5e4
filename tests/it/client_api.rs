//! The private-API client against a stub server: what it sends, how it reads fixtures, how it
//! classifies failures and paces the session.

use std::time::Duration;

use crate::support::client::{bearer_session, cookie_session, fixture, Reply, Stub};
use iglive::{
    ApiError, ApiErrorKind, BroadcastStatus, Client, ClientOptions, Endpoint, GovernorOptions,
};

fn fast_options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
        max_retries: 3,
        retry_base: Duration::from_millis(5),
        retry_max: Duration::from_millis(20),
        governor: GovernorOptions {
            throttle_pause: Duration::from_millis(300),
            ..GovernorOptions::default()
        },
        ..ClientOptions::default()
    }
}

fn client(stub: &Stub, session: iglive::Session) -> Client {
    Client::new(stub.base.clone(), session, fast_options()).expect("client builds")
}

#[tokio::test]
async fn sends_the_app_headers_and_cookies() {
    let stub = Stub::start(|_, _| Reply::json(r#"{"broadcast":null,"status":"ok"}"#)).await;
    let c = client(&stub, cookie_session());
    let feed = c.user_story_feed("123").await.expect("feed");
    assert!(feed.broadcast.is_none());
    assert!(c.user_broadcast("123").await.expect("feed").is_none());
    let reqs = stub.requests();
    let r = &reqs[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/api/v1/feed/user/123/story/");
    assert_eq!(r.header("x-ig-app-id").as_deref(), Some("567067343352427"));
    assert_eq!(r.header("x-ig-capabilities").as_deref(), Some("3brTv10="));
    assert_eq!(r.header("x-ig-device-id").as_deref(), Some("uuid-1234"));
    assert_eq!(
        r.header("x-ig-android-id").as_deref(),
        Some("android-0123456789abcdef")
    );
    assert_eq!(r.header("x-ig-connection-type").as_deref(), Some("WIFI"));
    assert!(r.header("accept-language").is_some());
    assert_eq!(
        r.header("user-agent").as_deref(),
        Some("Instagram 449.0.0.52.84 Android (test)")
    );
    let cookie = r.header("cookie").expect("cookie header");
    for part in [
        "sessionid=42%3Asecret",
        "csrftoken=csrf-xyz",
        "ds_user_id=42",
        "mid=mid-1",
    ] {
        assert!(cookie.contains(part), "{part} missing from cookie");
    }
    assert!(r.header("authorization").is_none());
    // Secrets never show in Debug output.
    let dbg = format!("{c:?}");
    assert!(
        !dbg.contains("secret") && !dbg.contains("csrf-xyz"),
        "{dbg}"
    );
}

#[tokio::test]
async fn bearer_sessions_send_authorization_not_cookies() {
    let stub = Stub::start(|_, _| Reply::json(r#"{"broadcasts":[],"status":"ok"}"#)).await;
    let c = client(&stub, bearer_session());
    c.reels_tray().await.expect("tray");
    let r = &stub.requests()[0];
    assert_eq!(r.path, "/api/v1/feed/reels_tray/");
    assert!(r
        .header("authorization")
        .is_some_and(|a| a.starts_with("Bearer IGT:2:")));
    assert_eq!(r.header("ig-u-ds-user-id").as_deref(), Some("42"));
    assert!(r.header("cookie").is_none());
}

#[tokio::test]
async fn live_endpoints_send_their_parameters() {
    let stub = Stub::start(|r, _| {
        if r.path.ends_with("/heartbeat_and_get_viewer_count/") {
            Reply::json(r#"{"viewer_count":0.0,"broadcast_status":"interrupted","cobroadcaster_ids":[],"offset_to_video_start":0,"total_unique_viewer_count":0,"is_top_live_eligible":0,"status":"ok"}"#)
        } else if r.path.ends_with("/get_like_count/") {
            Reply::json(r#"{"likes":5,"burst_likes":1,"like_ts":1587408050,"likers":[],"status":"ok"}"#)
        } else if r.path.ends_with("/get_post_live_comments/") {
            Reply::json(r#"{"starting_offset":0,"ending_offset":30,"next_fetch_offset":30,"comments":[{"comment":{"pk":1,"text":"hi","created_at":1.5},"offset":3,"event":false}],"pinned_comments":[],"status":"ok"}"#)
        } else if r.path.ends_with("/get_post_live_likes/") {
            Reply::json(r#"{"starting_offset":0,"ending_offset":30,"next_fetch_offset":30,"time_series":[[1,2]],"status":"ok"}"#)
        } else {
            Reply::json(fixture("get_comment_response_3comments.json"))
        }
    })
    .await;
    let c = client(&stub, cookie_session());
    let hb = c
        .heartbeat_and_viewer_count("178")
        .await
        .expect("heartbeat");
    assert_eq!(hb.broadcast_status, Some(BroadcastStatus::Interrupted));
    assert_eq!(hb.viewer_count, Some(0.0));
    let page = c.comments("178", 0.0).await.expect("comments");
    assert_eq!(page.comments.len(), 3);
    let page2 = c.comments("178", 1587408049.5).await.expect("comments");
    assert_eq!(page2.comments.len(), 3);
    let likes = c.like_count("178", 0).await.expect("likes");
    assert_eq!(likes.like_ts, Some(1587408050));
    let plc = c
        .post_live_comments("178", 0)
        .await
        .expect("post-live comments");
    assert_eq!(plc.ending_offset, Some(30));
    assert_eq!(plc.comments[0].comment.pk, "1");
    assert_eq!(plc.comments[0].offset, Some(3.0));
    let pll = c.post_live_likes("178", 30).await.expect("post-live likes");
    assert!(pll.time_series.is_some());

    let reqs = stub.requests();
    let hb_req = &reqs[0];
    assert_eq!(hb_req.method, "POST");
    assert_eq!(
        hb_req.path,
        "/api/v1/live/178/heartbeat_and_get_viewer_count/"
    );
    assert!(hb_req
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded")));
    let form = hb_req.form();
    assert_eq!(form.get("_csrftoken").map(String::as_str), Some("csrf-xyz"));
    assert_eq!(form.get("_uuid").map(String::as_str), Some("uuid-1234"));
    assert_eq!(
        form.get("offset_to_video_start").map(String::as_str),
        Some("0")
    );
    assert!(
        !form.contains_key("signed_body"),
        "the heartbeat is unsigned"
    );

    assert_eq!(reqs[1].path, "/api/v1/live/178/get_comment/");
    assert_eq!(
        reqs[1]
            .query_map()
            .get("last_comment_ts")
            .map(String::as_str),
        Some("0")
    );
    assert_eq!(
        reqs[2]
            .query_map()
            .get("last_comment_ts")
            .map(String::as_str),
        Some("1587408049.5")
    );
    assert_eq!(
        reqs[3].query_map().get("like_ts").map(String::as_str),
        Some("0")
    );
    for r in &reqs[4..6] {
        let q = r.query_map();
        assert_eq!(
            q.get("encoding_tag").map(String::as_str),
            Some("instagram_dash_remuxed")
        );
        assert!(q.contains_key("starting_offset"));
    }
    assert_eq!(
        reqs[5]
            .query_map()
            .get("starting_offset")
            .map(String::as_str),
        Some("30")
    );
}

#[tokio::test]
async fn fixtures_parse() {
    let stub = Stub::start(|r, _| {
        if r.path.ends_with("/info/") {
            Reply::json(fixture("broadcast_info_docstring_example_ping.json"))
        } else {
            Reply::json(fixture("get_comment_response_empty.json"))
        }
    })
    .await;
    let c = client(&stub, cookie_session());
    let b = c.broadcast_info("178591123456789").await.expect("info");
    assert_eq!(b.id, "178591123456789");
    assert_eq!(b.viewer_count, Some(9000.0));
    assert_eq!(b.broadcast_status, Some(BroadcastStatus::Active));
    assert_eq!(b.owner_pk().as_deref(), Some("123456789"));
    assert_eq!(b.dash_abr_playback_url, None);
    assert!(b.mpd_url().is_some_and(|u| u.ends_with(".mpd")));
    let empty = c.comments("1", 0.0).await.expect("comments");
    assert!(empty.comments.is_empty());
    assert_eq!(empty.comment_count, Some(3));
    assert_eq!(empty.is_first_fetch, Some(true));

    // Comments keep their raw JSON and use created_at.
    let page: iglive::CommentsPage =
        serde_json::from_str(&fixture("get_comment_response_3comments.json")).expect("parses");
    assert_eq!(page.comments[0].pk, "17859401434871266");
    assert_eq!(page.comments[0].user_id.as_deref(), Some("43429131"));
    assert_eq!(page.comments[0].raw["user"]["live_with_eligibility"], "1");
    assert_eq!(page.newest_created_at(), Some(1587408049.0));

    // The replay sample: pk → post-live items with post_live broadcasts and inline MPDs.
    let sample: std::collections::BTreeMap<String, Vec<iglive::PostLiveItem>> =
        serde_json::from_str(&fixture("postlive_broadcasts_sample_data_prettified.json"))
            .expect("parses");
    let items = sample.values().flatten().collect::<Vec<_>>();
    assert!(!items.is_empty());
    for item in items {
        assert!(item
            .pk
            .as_deref()
            .is_some_and(|p| p.starts_with("post_live_")));
        for b in &item.broadcasts {
            assert_eq!(b.broadcast_status, Some(BroadcastStatus::PostLive));
            assert!(!b.is_live());
            assert!(b
                .dash_manifest
                .as_deref()
                .is_some_and(|m| m.contains("<MPD")));
            assert_eq!(b.encoding_tag.as_deref(), Some("instagram_dash_remuxed"));
        }
    }
}

#[tokio::test]
async fn transient_failures_are_retried_a_bounded_number_of_times() {
    let stub = Stub::start(|r, n| {
        if r.path.contains("/111/") && n < 2 {
            Reply::status(502, "bad gateway")
        } else if r.path.contains("/111/") {
            Reply::json(r#"{"broadcast":null,"status":"ok"}"#)
        } else {
            Reply::json("{truncated")
        }
    })
    .await;
    let c = client(&stub, cookie_session());
    c.user_story_feed("111")
        .await
        .expect("third attempt succeeds");
    assert_eq!(stub.count(), 3);
    let err = c.user_story_feed("222").await.expect_err("malformed JSON");
    assert_eq!(err.kind(), ApiErrorKind::Transient);
    assert!(
        matches!(err, ApiError::Transient { attempts: 4, .. }),
        "{err:?}"
    );
    assert_eq!(stub.count(), 3 + 4, "1 try + 3 retries");
    let stats = c.stats();
    assert_eq!(stats.get(&(Endpoint::StoryFeed, "transient")), Some(&6));
    assert_eq!(stats.get(&(Endpoint::StoryFeed, "ok")), Some(&1));
    // Transient trouble does not slow or expire the session.
    assert_eq!(c.health().slowdown, 1.0);
    assert!(!c.health().is_expired());
}

#[tokio::test]
async fn timeouts_and_oversized_bodies_are_transient() {
    let stub = Stub::start(|r, _| {
        if r.path.contains("/1/") {
            Reply::Hang
        } else {
            Reply::json(format!(r#"{{"x":"{}"}}"#, "a".repeat(4096)))
        }
    })
    .await;
    let mut opts = fast_options();
    opts.timeout = Duration::from_millis(150);
    opts.max_retries = 1;
    opts.max_body_bytes = 1024;
    let c = Client::new(stub.base.clone(), cookie_session(), opts).expect("client");
    let started = tokio::time::Instant::now();
    let err = c.user_story_feed("1").await.expect_err("times out");
    assert_eq!(err.kind(), ApiErrorKind::Transient);
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let err = c.user_story_feed("2").await.expect_err("too large");
    assert!(err.to_string().contains("larger than"), "{err}");
}

#[tokio::test]
async fn throttling_pauses_and_slows_the_whole_session() {
    let stub = Stub::start(|_, n| {
        if n == 0 {
            Reply::Respond {
                status: 429,
                headers: vec![("retry-after", "1".into())],
                body: String::new(),
            }
        } else {
            Reply::json(r#"{"broadcast":null,"status":"ok"}"#)
        }
    })
    .await;
    let c = client(&stub, cookie_session());
    let err = c.user_story_feed("1").await.expect_err("throttled");
    assert!(
        matches!(err, ApiError::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(1)),
        "{err:?}"
    );
    assert_eq!(stub.count(), 1, "throttling is not retried");
    let h = c.health();
    assert_eq!(h.slowdown, 2.0);
    assert!(h
        .throttled_for
        .is_some_and(|d| d > Duration::from_millis(500)));
    // Another caller of the same session (a clone) waits out the Retry-After.
    let other = c.clone();
    other
        .user_story_feed("2")
        .await
        .expect("allowed after the pause");
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "second request after {gap:?}"
    );
}

#[tokio::test]
async fn login_required_expires_the_session_and_stops_requests() {
    let stub =
        Stub::start(|_, _| Reply::status(403, r#"{"message":"login_required","status":"fail"}"#))
            .await;
    let c = client(&stub, cookie_session());
    let err = c.user_story_feed("77").await.expect_err("403");
    assert_eq!(err.kind(), ApiErrorKind::LoginRequired);
    let msg = err.to_string();
    assert!(
        msg.contains("story_feed") && msg.contains("user 77"),
        "{msg}"
    );
    assert!(!msg.contains("secret"));
    let h = c.health();
    assert!(h
        .expired
        .as_ref()
        .is_some_and(|e| e.kind == ApiErrorKind::LoginRequired));
    let err = c.comments("5", 0.0).await.expect_err("refused locally");
    assert_eq!(err.kind(), ApiErrorKind::LoginRequired);
    assert!(err.to_string().contains("broadcast 5"));
    assert_eq!(stub.count(), 1, "no request after the session expired");
}

#[tokio::test]
async fn challenges_and_not_found() {
    let stub = Stub::start(|r, _| {
        if r.path.contains("/live/") {
            Reply::status(404, "Not Found")
        } else if r.path.contains("/9/") {
            Reply::status(
                400,
                r#"{"message":"challenge_required","challenge":{"url":"https://i.instagram.com/challenge/9/abc/"},"status":"fail"}"#,
            )
        } else {
            Reply::status(404, "Not Found")
        }
    })
    .await;
    let c = client(&stub, cookie_session());
    let err = c.broadcast_info("1").await.expect_err("ended");
    assert_eq!(err.kind(), ApiErrorKind::NotFound);
    assert!(
        !c.health().is_expired(),
        "a 404 on a live endpoint is not a challenge"
    );
    let err = c.user_story_feed("9").await.expect_err("challenge");
    match &err {
        ApiError::Challenge { url, suspended, .. } => {
            assert_eq!(
                url.as_deref(),
                Some("https://i.instagram.com/challenge/9/abc/")
            );
            assert!(!suspended);
        }
        other => panic!("unexpected {other:?}"),
    }
    let h = c.health();
    let expiry = h.expired.expect("expired");
    assert_eq!(
        expiry.challenge_url.as_deref(),
        Some("https://i.instagram.com/challenge/9/abc/")
    );

    // A redirect to the login page is an expired session, not a page to follow.
    let stub3 = Stub::start(|_, _| Reply::Respond {
        status: 302,
        headers: vec![(
            "location",
            "https://www.instagram.com/accounts/login/".into(),
        )],
        body: String::new(),
    })
    .await;
    let c3 = client(&stub3, cookie_session());
    assert_eq!(
        c3.reels_tray().await.expect_err("login").kind(),
        ApiErrorKind::LoginRequired
    );
    assert_eq!(stub3.count(), 1);

    // A bare "Not Found" on a non-live endpoint is instagrapi's hidden challenge.
    let stub2 = Stub::start(|_, _| Reply::status(404, "Not Found")).await;
    let c2 = client(&stub2, cookie_session());
    assert_eq!(
        c2.reels_tray().await.expect_err("hidden").kind(),
        ApiErrorKind::Challenge
    );
}

#[tokio::test]
async fn bad_ids_and_base_urls_are_typed_errors() {
    let stub = Stub::start(|_, _| Reply::json("{}")).await;
    let c = client(&stub, cookie_session());
    for bad in ["", "../reels_tray", "1/2", "a b", "1?x=2"] {
        let err = c.user_story_feed(bad).await.expect_err("refused");
        assert_eq!(err.kind(), ApiErrorKind::Other);
        let err = c.broadcast_info(bad).await.expect_err("refused");
        assert_eq!(err.kind(), ApiErrorKind::Other);
    }
    assert_eq!(stub.count(), 0);
    let base: url::Url = "mailto:x@example.com".parse().expect("url");
    assert!(Client::new(base, cookie_session(), ClientOptions::default()).is_err());
    let mut s = cookie_session();
    s.user_agent = "bad\nagent".into();
    let err = Client::new(stub.base.clone(), s, ClientOptions::default()).expect_err("bad header");
    assert!(err.to_string().contains("user-agent"));
    // A base URL without the trailing slash still reaches api/v1/.
    let base: url::Url = stub
        .base
        .as_str()
        .trim_end_matches('/')
        .parse()
        .expect("url");
    let c = Client::new(base, cookie_session(), fast_options()).expect("client");
    c.reels_tray().await.expect("tray");
    assert_eq!(stub.requests()[0].path, "/api/v1/feed/reels_tray/");
}

#[tokio::test]
async fn rotated_cookies_are_sent_back() {
    let stub = Stub::start(|_, n| {
        let set = match n {
            0 => "csrftoken=rotated-1; Domain=.instagram.com; Max-Age=31449600; Path=/; Secure",
            1 => {
                "rur=\"FRC\\0541234\\0541795000000:01f7\"; Domain=.instagram.com; HttpOnly; Path=/"
            }
            _ => "ignored name with spaces=1",
        };
        Reply::Respond {
            status: 200,
            headers: vec![("set-cookie", set.into())],
            body: r#"{"broadcast":null,"status":"ok","viewer_count":1}"#.into(),
        }
    })
    .await;
    let c = client(&stub, cookie_session());
    c.user_story_feed("1").await.expect("feed");
    c.user_story_feed("2").await.expect("feed");
    c.heartbeat_and_viewer_count("99").await.expect("heartbeat");
    let reqs = stub.requests();
    let cookie = |i: usize| reqs[i].header("cookie").expect("cookie header");
    assert!(cookie(0).contains("csrftoken=csrf-xyz"));
    assert!(cookie(1).contains("csrftoken=rotated-1"), "{}", cookie(1));
    assert!(!cookie(1).contains("csrf-xyz"));
    assert!(cookie(2).contains("rur=FRC\\0541234\\0541795000000:01f7"));
    assert!(cookie(2).contains("sessionid=42%3Asecret"), "others kept");
    assert_eq!(
        reqs[2].form().get("_csrftoken").map(String::as_str),
        Some("rotated-1"),
        "the heartbeat form uses the rotated token"
    );
    assert_eq!(c.cookie("csrftoken").as_deref(), Some("rotated-1"));
    assert_eq!(
        c.session().cookies.get("csrftoken").map(String::as_str),
        Some("csrf-xyz"),
        "the loaded session is not modified"
    );
}

#[tokio::test]
async fn http_date_retry_after_is_honoured() {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let stub = Stub::start(move |_, n| {
        if n == 0 {
            let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
            Reply::Respond {
                status: 429,
                headers: vec![("retry-after", at.format(&format).expect("formats"))],
                body: String::new(),
            }
        } else {
            Reply::json(r#"{"broadcast":null,"status":"ok"}"#)
        }
    })
    .await;
    let c = client(&stub, cookie_session());
    let err = c.user_story_feed("1").await.expect_err("throttled");
    let ApiError::Throttled {
        retry_after: Some(d),
        ..
    } = err
    else {
        panic!("expected a Retry-After, got {err:?}");
    };
    // The date has whole seconds: 2 s ahead, minus up to one.
    assert!(
        d >= Duration::from_secs(1) && d <= Duration::from_secs(2),
        "{d:?}"
    );
    c.user_story_feed("2")
        .await
        .expect("allowed after the date");
    let reqs = stub.requests();
    assert!(reqs[1].at - reqs[0].at >= Duration::from_millis(950));
}
