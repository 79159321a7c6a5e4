//! Recordings in object storage against a real S3 server on loopback (moto, started by
//! `scripts/test-s3`): live segments reach the bucket during the capture, the finished folder
//! ends up there object by object, and with `keep_local = false` the local copy is removed and
//! the readers (`list`, `show`, `export`, the library's video route with ranges) work from the
//! bucket. A bad credentials file stops the daemon with a message naming the file and the fix.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::support::daemon::{wait_until, Harness};
use crate::support::s3::{local_files, with_storage, S3};

pub const ID: &str = "17900000000077001";

/// A 24 s broadcast (simulated) with chat and likes, 2 s segments.
pub fn scenario(duration: f64) -> String {
    format!(
        r#"
seed = 7
comment_page_cap = 50

[[accounts]]
pk = 7001
username = "bucket.host"
followed = true

[[broadcasts]]
id = {ID}
owner = 7001
start = 1.0
duration = {duration}
end_status = "stopped"
post_live_after = 1.0
segments = {{ duration_ms = 2000, jitter_ms = 0, base_segments = 4 }}
likes = [[0.0, 0.0], [{duration}, 300.0]]
viewers = [[0.0, 5.0], [{duration}, 40.0]]

[[broadcasts.comment_streams]]
from = 2.0
to = {to}
per_second = 2.0
texts = ["up", "☁️"]
"#,
        to = duration - 2.0
    )
}

pub const CONFIG: &str = r#"
[recording]
heartbeat_interval = "300ms"
comments_interval = "300ms"
likes_interval = "400ms"
interrupted_grace = "30s"
merge_timeout = "2m"

[[accounts]]
user_id = "7001"
"#;

/// A harness whose daemon uploads to `endpoint` with a credentials file, plus `extra` keys.
pub async fn harness(s3: &S3, endpoint: &str, speed: f64, duration: f64, extra: &str) -> Harness {
    let h = Harness::start(&scenario(duration), speed, CONFIG).await;
    let keys = h.dir().join("s3-keys");
    std::fs::write(
        &keys,
        "AWS_ACCESS_KEY_ID=test\nAWS_SECRET_ACCESS_KEY=test\n",
    )
    .expect("keys");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let storage = s3.storage_keys(
        endpoint,
        &format!("credentials_file = \"s3-keys\"\n{extra}"),
    );
    h.edit_config(|t| with_storage(t, &storage));
    h
}

pub fn upload_state(h: &Harness) -> Option<String> {
    let conn = h.store().connect().ok()?;
    conn.query_row(
        "SELECT upload_state FROM recordings WHERE broadcast_id = ?1",
        [ID],
        |r| r.get(0),
    )
    .ok()
    .flatten()
}

pub fn merge_settled(h: &Harness) -> bool {
    let conn = h.store().connect().expect("connect");
    let m: Option<String> = conn
        .query_row(
            "SELECT merge_state FROM recordings WHERE broadcast_id = ?1",
            [ID],
            |r| r.get(0),
        )
        .ok()
        .flatten();
    m.as_deref() != Some("pending")
}

pub fn folder(h: &Harness) -> PathBuf {
    folder_if_any(h).expect("the recording has a folder")
}

/// The folder, once the recording has one.
pub fn folder_if_any(h: &Harness) -> Option<PathBuf> {
    let conn = h.store().connect().ok()?;
    conn.query_row(
        "SELECT folder FROM recordings WHERE broadcast_id = ?1",
        [ID],
        |r| r.get::<_, Option<String>>(0),
    )
    .ok()
    .flatten()
    .map(PathBuf::from)
}

pub fn recordings_dir(h: &Harness) -> PathBuf {
    h.config().storage.recordings_dir
}

/// Waits until the recording is finished, its merge settled and its upload `done`.
pub async fn uploaded(h: &Harness, within: Duration) {
    wait_until("finished, merged and uploaded", within, || {
        h.state(ID).as_deref() == Some("finished")
            && merge_settled(h)
            && upload_state(h).as_deref() == Some("done")
    })
    .await;
}

/// The bucket holds exactly the local folder, byte for byte (polled: the merge may re-render
/// a file and upload it again just after).
pub async fn assert_bucket_mirrors_folder(h: &Harness, s3: &S3) {
    let root = recordings_dir(h);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let local = local_files(&root, &folder(h));
        let objects = s3.objects().await;
        let sizes: std::collections::BTreeMap<String, u64> = local
            .iter()
            .map(|(k, v)| (k.clone(), v.len() as u64))
            .collect();
        if sizes == objects {
            assert!(
                local.contains_key(&format!("{}/video.mp4", rel_folder(h))),
                "{:?}",
                local.keys()
            );
            for (rel, bytes) in &local {
                assert_eq!(
                    &s3.bytes(rel).await,
                    bytes,
                    "{rel}: the object's bytes are the file's"
                );
            }
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the bucket does not mirror the folder:\nlocal  {sizes:?}\nbucket {objects:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn rel_folder(h: &Harness) -> String {
    folder(h)
        .strip_prefix(recordings_dir(h))
        .expect("folder under the recordings folder")
        .display()
        .to_string()
}

/// Live segment objects (`…/.segments/…`) in the bucket.
pub async fn live_segment_objects(s3: &S3) -> Vec<String> {
    s3.objects()
        .await
        .into_keys()
        .filter(|k| k.contains("/.segments/"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an S3 server: run scripts/test-s3"]
async fn objects_finished_folder_lands_in_the_bucket_verified() {
    let s3 = S3::from_env();
    let endpoint = s3.endpoint.clone();
    let h = harness(&s3, &endpoint, 2.0, 24.0, "keep_local = true").await;
    let d = h.run_daemon();
    // Live segments reach the bucket while the capture runs.
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        if !live_segment_objects(&s3).await.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline && h.state(ID).as_deref() != Some("finished"),
            "no live segment reached the bucket during the capture"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    uploaded(&h, Duration::from_secs(90)).await;
    assert_bucket_mirrors_folder(&h, &s3).await;
    assert!(
        live_segment_objects(&s3).await.is_empty(),
        "the live segments of the removed capture were deleted from the bucket"
    );
    assert!(
        folder(&h).join("video.mp4").is_file(),
        "keep_local keeps the folder"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an S3 server: run scripts/test-s3"]
async fn objects_local_copy_removed_and_read_from_the_bucket() {
    let s3 = S3::from_env();
    let endpoint = s3.endpoint.clone();
    let h = harness(&s3, &endpoint, 2.0, 20.0, "").await;
    let base = h.listen();
    let d = h.run_daemon();
    uploaded(&h, Duration::from_secs(90)).await;
    wait_until(
        "the local folder is removed",
        Duration::from_secs(20),
        || !folder(&h).exists(),
    )
    .await;
    let video_key = format!("{}/video.mp4", rel_folder(&h));
    let video = s3.bytes(&video_key).await;
    assert!(video.len() > 10_000, "a real video: {} bytes", video.len());

    // The library serves the video from the bucket, whole and by range.
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let url = format!("{base}/api/v1/recordings/{ID}/video");
    let whole = http.get(&url).send().await.expect("GET video");
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.expect("body").to_vec(), video);
    let part = http
        .get(&url)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .expect("GET range");
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.bytes().await.expect("body").to_vec(),
        video[100..200].to_vec()
    );
    d.stop().await;

    // The CLI: the upload state, and an export of a recording whose folder is gone.
    let c = h.config_path.display().to_string();
    let list = crate::support::cli::iglive(["list", "--json", "-c", &c], "").await;
    let rows: serde_json::Value = serde_json::from_str(&list.stdout).expect("list --json");
    assert_eq!(rows[0]["upload"], "done");
    let show = crate::support::cli::iglive(["show", ID, "--json", "-c", &c], "").await;
    let doc: serde_json::Value = serde_json::from_str(&show.stdout).expect("show --json");
    assert_eq!(doc["recording"]["upload"], "done");
    let exported =
        crate::support::cli::iglive(["export", ID, "--what", "comments", "-c", &c], "").await;
    assert_eq!(exported.code, Some(0), "{}", exported.stderr);
    assert!(exported.stdout.lines().count() > 10, "{}", exported.stdout);
    let chat = String::from_utf8(
        s3.bytes(&format!("{}/comments.jsonl", rel_folder(&h)))
            .await,
    )
    .expect("utf-8");
    assert_eq!(
        chat.lines().count(),
        exported.stdout.lines().count(),
        "the bucket's comments.jsonl holds what export prints"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_bad_credentials_file_is_a_clear_error() {
    let h = Harness::start(&scenario(10.0), 1.0, CONFIG).await;
    let keys = h.dir().join("s3-keys");
    std::fs::write(&keys, "user=someone\npassword=hunter2\n").expect("keys");
    let storage = "object_store = \"s3://rec/x\"\nendpoint = \"http://127.0.0.1:9\"\nallow_http = true\ncredentials_file = \"s3-keys\"\n";
    h.edit_config(|t| with_storage(t, storage));
    let c = h.config_path.display().to_string();
    let run = crate::support::cli::iglive(["run", "-c", &c], "").await;
    assert_eq!(run.code, Some(78), "{}", run.all());
    assert!(
        run.stderr.contains(&keys.display().to_string())
            && run.stderr.contains("AWS_ACCESS_KEY_ID")
            && run.stderr.contains("line 1"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains("hunter2"), "never prints a secret");

    std::fs::remove_file(&keys).expect("rm");
    let run = crate::support::cli::iglive(["run", "-c", &c], "").await;
    assert_eq!(run.code, Some(78), "{}", run.all());
    assert!(
        run.stderr.contains(&keys.display().to_string()) && run.stderr.contains("mode 0600"),
        "{}",
        run.stderr
    );

    // A key of object storage without storage.object_store is a config error at its line.
    h.edit_config(|t| t.replace("object_store = \"s3://rec/x\"\n", ""));
    let check = crate::support::cli::iglive(["check-config", "-c", &c], "").await;
    assert_eq!(check.code, Some(1), "{}", check.all());
    assert!(
        check.all().contains("storage.endpoint") && check.all().contains("storage.object_store"),
        "{}",
        check.all()
    );
}
