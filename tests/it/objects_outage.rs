//! Object storage going away during a recording (a TCP gate in front of the loopback S3
//! server, closed and opened again): the recording completes locally, the segments stored
//! during the outage wait in the spool and reach the bucket once it is back, and the finished
//! folder is uploaded whole. A spool too small for any segment (`spool_max_bytes = 1`) leaves
//! every live segment to the finished folder's upload: nothing is lost, nothing is missing.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::objects_upload::{
    assert_bucket_mirrors_folder, folder_if_any, harness, live_segment_objects, rel_folder,
    uploaded, ID,
};
use crate::support::daemon::wait_until;
use crate::support::s3::{Gate, S3};

/// The segment files of the capture on disk, relative to the recordings folder (files come
/// and go while the capture runs: whatever cannot be listed is skipped).
fn local_segments(h: &crate::support::daemon::Harness) -> BTreeSet<String> {
    let Some(dir) = folder_if_any(h).map(|f| f.join(".segments")) else {
        return BTreeSet::new();
    };
    let root = crate::objects_upload::recordings_dir(h);
    let mut out = BTreeSet::new();
    let mut todo = vec![dir];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "m4s") {
                if let Ok(rel) = p.strip_prefix(&root) {
                    out.insert(rel.display().to_string());
                }
            }
        }
    }
    out
}

fn missing(h: &crate::support::daemon::Harness) -> i64 {
    h.count(
        "SELECT segments_missing FROM recordings WHERE broadcast_id = ?1",
        ID,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an S3 server: run scripts/test-s3"]
async fn objects_outage_spools_segments_and_catches_up() {
    let s3 = S3::from_env();
    let gate = Gate::start(&s3.endpoint).await;
    let h = harness(&s3, &gate.url(), 1.0, 40.0, "keep_local = true").await;
    let d = h.run_daemon();
    let deadline = Instant::now() + Duration::from_secs(30);
    while live_segment_objects(&s3).await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "no live segment reached the bucket"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    gate.close();
    let before = local_segments(&h);
    wait_until(
        "3 segments stored during the outage",
        Duration::from_secs(20),
        || local_segments(&h).difference(&before).count() >= 6,
    )
    .await;
    let during: BTreeSet<String> = local_segments(&h).difference(&before).cloned().collect();
    assert_ne!(h.state(ID).as_deref(), Some("finished"), "still recording");
    let in_bucket: BTreeSet<String> = live_segment_objects(&s3).await.into_iter().collect();
    assert!(
        during.is_disjoint(&in_bucket),
        "nothing reached the bucket while it was away"
    );

    gate.open();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let in_bucket: BTreeSet<String> = live_segment_objects(&s3).await.into_iter().collect();
        if during.is_subset(&in_bucket) {
            break;
        }
        assert!(
            Instant::now() < deadline && h.state(ID).as_deref() != Some("finished"),
            "the segments spooled during the outage were not uploaded once it was back: {:?}",
            during.difference(&in_bucket).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    uploaded(&h, Duration::from_secs(120)).await;
    assert_eq!(missing(&h), 0, "the outage cost the recording nothing");
    assert_bucket_mirrors_folder(&h, &s3).await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an S3 server: run scripts/test-s3"]
async fn objects_full_spool_leaves_live_segments_to_the_folder_upload() {
    let s3 = S3::from_env();
    let endpoint = s3.endpoint.clone();
    let h = harness(
        &s3,
        &endpoint,
        2.0,
        20.0,
        "keep_local = true\nspool_max_bytes = 1",
    )
    .await;
    let d = h.run_daemon();
    wait_until("5 segments stored", Duration::from_secs(40), || {
        local_segments(&h).len() >= 10
    })
    .await;
    assert!(
        live_segment_objects(&s3).await.is_empty(),
        "a full spool uploads no live segment"
    );
    uploaded(&h, Duration::from_secs(90)).await;
    assert_eq!(missing(&h), 0, "a full spool costs the recording nothing");
    assert_bucket_mirrors_folder(&h, &s3).await;
    assert!(
        s3.objects()
            .await
            .contains_key(&format!("{}/video.mp4", rel_folder(&h))),
        "the video carries every segment"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an S3 server: run scripts/test-s3"]
async fn objects_upload_cut_by_a_stop_resumes_at_the_next_start() {
    let s3 = S3::from_env();
    let gate = Gate::start(&s3.endpoint).await;
    gate.close();
    let h = harness(&s3, &gate.url(), 2.0, 16.0, "keep_local = true").await;
    let d = h.run_daemon();
    wait_until(
        "finished and merged, the upload still pending",
        Duration::from_secs(90),
        || {
            h.state(ID).as_deref() == Some("finished")
                && crate::objects_upload::merge_settled(&h)
                && crate::objects_upload::upload_state(&h).as_deref() == Some("pending")
        },
    )
    .await;
    d.stop().await;
    assert_eq!(
        crate::objects_upload::upload_state(&h).as_deref(),
        Some("pending"),
        "a stop leaves it pending"
    );
    // A half-written object from the interrupted run must be replaced, not trusted.
    let video =
        object_store::path::Path::from(format!("{}/{}/video.mp4", s3.prefix, rel_folder(&h)));
    object_store::ObjectStoreExt::put(&*s3.client, &video, b"half a video".to_vec().into())
        .await
        .expect("put");
    gate.open();
    let d = h.run_daemon();
    uploaded(&h, Duration::from_secs(60)).await;
    assert_bucket_mirrors_folder(&h, &s3).await;
    d.stop().await;
}
