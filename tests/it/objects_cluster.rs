//! Three nodes on one PostgreSQL catalog recording into object storage that goes away for a
//! while (a TCP gate in front of the loopback S3 server): every recording goes on from the CDN,
//! the segments stored meanwhile wait in each node's spool, and once the bucket is back every
//! finished folder is uploaded and verified, with nothing missing and nothing moved between
//! nodes. Needs both servers: `scripts/test-s3` runs beside `scripts/with-postgres`.

use std::time::Duration;

use crate::objects_upload::live_segment_objects;
use crate::postgres_cluster::{folders_of, segments_published, Nodes, LIVES};
use crate::support::postgres;
use crate::support::s3::{local_files, Gate, S3};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an S3 server and PostgreSQL: run scripts/test-s3"]
async fn objects_cluster_three_nodes_ride_out_an_object_storage_outage() {
    let s3 = S3::from_env();
    let gate = Gate::start(&s3.endpoint).await;
    let server = postgres::database("objects_cluster").await;
    let mut nodes = Nodes::start_with(
        &server.url,
        &s3.storage_keys(&gate.url(), "keep_local = true"),
    )
    .await;
    nodes.all_recording().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while live_segment_objects(&s3).await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no live segment reached the bucket"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gate.close();
    let before = live_segment_objects(&s3).await.len();
    let at = segments_published(&nodes.h, "19401");
    // Ten segments (20 s of simulated time) published while the bucket is away.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while segments_published(&nodes.h, "19401") < at + 10 {
        assert!(tokio::time::Instant::now() < deadline, "the stream stalled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in LIVES {
        let r = nodes
            .catalog
            .recording(id)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(r.status, "recording", "{id} goes on without the bucket");
    }
    gate.open();
    nodes.all_done().await;
    let catalog = nodes.catalog.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let mut done = true;
        for id in LIVES {
            let r = catalog.recording(id).await.expect("read").expect("row");
            done &= r.upload == Some(iglive::UploadState::Done);
        }
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "every folder uploaded"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        live_segment_objects(&s3).await.len() > before,
        "the spool caught up"
    );
    nodes.stop_all().await;
    nodes.assert_complete().await;
    // Every file of every folder is in the bucket with its size.
    let root = nodes.h.dir().join("recordings");
    let objects = s3.objects().await;
    for id in LIVES {
        let folder = &folders_of(&root, id)[0];
        for (rel, bytes) in local_files(&root, folder) {
            assert_eq!(
                objects.get(&rel),
                Some(&(bytes.len() as u64)),
                "{id}: {rel} in the bucket"
            );
        }
    }
}
