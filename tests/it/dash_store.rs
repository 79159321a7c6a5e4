//! `dash::store`: crash-safe layout, restart scan, parts, and assembly ffmpeg can read.

use crate::support;
use iglive::{SegmentStore, SegmentStoreError};

#[test]
fn segments_survive_reopen_and_list_in_t_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SegmentStore::open(dir.path().join("cap")).expect("open");
    assert!(matches!(
        store.put("live-hd-v", 0, b"x"),
        Err(SegmentStoreError::NoInit(_))
    ));
    assert_eq!(store.put_init("live-hd-v", b"INIT-A").expect("init"), 0);
    // Live segments first, then rewound ones from before them.
    for t in [8000u64, 10_000, 0, 2000, 4000, 6000] {
        assert!(store
            .put("live-hd-v", t, format!("seg{t}").as_bytes())
            .expect("put"));
    }
    assert!(!store
        .put("live-hd-v", 4000, b"again")
        .expect("duplicate put"));
    assert!(store.has("live-hd-v", 4000));
    assert!(!store.has("live-hd-v", 4001));
    assert!(!store.has("live-hd-a", 4000));
    drop(store);

    let mut store = SegmentStore::open(dir.path().join("cap")).expect("reopen");
    assert_eq!(
        store.list("live-hd-v"),
        vec![0, 2000, 4000, 6000, 8000, 10_000]
    );
    assert_eq!(store.current_part("live-hd-v"), Some(0));
    // The same init after a restart continues the same part.
    assert_eq!(
        store.put_init("live-hd-v", b"INIT-A").expect("same init"),
        0
    );

    let out = dir.path().join("video.mp4");
    let n = store.assemble("live-hd-v", 0, &out).expect("assemble");
    let expected = b"INIT-Aseg0seg2000seg4000seg6000seg8000seg10000";
    assert_eq!(std::fs::read(&out).expect("read output"), expected);
    assert_eq!(n, expected.len() as u64);
}

#[test]
fn a_changed_init_starts_a_new_part() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SegmentStore::open(dir.path()).expect("open");
    store.put_init("v", b"INIT-A").expect("init a");
    store.put("v", 0, b"a0").expect("put");
    assert_eq!(store.put_init("v", b"INIT-B").expect("init b"), 1);
    store.put("v", 2000, b"b2000").expect("put");
    // A late segment of the first init goes to its own part explicitly.
    store
        .put_in_part("v", 0, 1000, b"a1000")
        .expect("put in part 0");
    drop(store);

    let store = SegmentStore::open(dir.path()).expect("reopen");
    assert_eq!(store.parts("v"), vec![0, 1]);
    assert_eq!(store.list_part("v", 0), vec![0, 1000]);
    assert_eq!(store.list_part("v", 1), vec![2000]);
    assert_eq!(store.list("v"), vec![0, 1000, 2000]);
    let out = dir.path().join("p1.mp4");
    store.assemble("v", 1, &out).expect("assemble part 1");
    assert_eq!(std::fs::read(&out).expect("read"), b"INIT-Bb2000");
    assert!(matches!(
        store.assemble("v", 7, &out),
        Err(SegmentStoreError::NoSuchPart { .. })
    ));
}

#[test]
fn interrupted_writes_leave_no_trace_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SegmentStore::open(dir.path()).expect("open");
    store.put_init("v", b"INIT").expect("init");
    store.put("v", 0, b"s0").expect("put");
    drop(store);
    // What a crash mid-write leaves: a temporary file, and a part directory whose init
    // never got renamed into place.
    let part = dir.path().join("v").join("part-0");
    std::fs::write(part.join("2000.m4s.4242.tmp"), b"half").expect("write tmp");
    std::fs::create_dir_all(dir.path().join("v").join("part-1")).expect("mkdir");

    let mut store = SegmentStore::open(dir.path()).expect("reopen");
    assert_eq!(store.list("v"), vec![0]);
    assert!(
        !part.join("2000.m4s.4242.tmp").exists(),
        "temp file removed"
    );
    assert_eq!(store.parts("v"), vec![0], "init-less part ignored");
    // The missing segment is simply fetched again.
    assert!(store.put("v", 2000, b"s2000").expect("refetch"));
}

#[test]
fn hostile_track_names_and_empty_data_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SegmentStore::open(dir.path()).expect("open");
    for bad in ["", ".", "..", "../x", "a/b", "a\\b", &"x".repeat(65)] {
        assert!(
            matches!(
                store.put_init(bad, b"I"),
                Err(SegmentStoreError::BadTrackName(_))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        store.put_init("v", b""),
        Err(SegmentStoreError::Empty(_))
    ));
    store.put_init("v", b"I").expect("init");
    assert!(matches!(
        store.put("v", 0, b""),
        Err(SegmentStoreError::Empty(_))
    ));
    assert!(matches!(
        store.put_init("v", &vec![0u8; 2 * 1024 * 1024]),
        Err(SegmentStoreError::InitTooLarge { .. })
    ));
}

#[tokio::test]
async fn assembled_real_fragments_play_in_ffmpeg_regardless_of_arrival_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v = support::media::video(dir.path(), 8);
    assert_eq!(v.fragments.len(), 4);
    let mut store = SegmentStore::open(dir.path().join("cap")).expect("open");
    store.put_init("live-hd-v", &v.init).expect("init");
    // Live edge first (t = 4000, 6000), rewind afterwards (0, 2000).
    for i in [2usize, 3, 0, 1] {
        let t = i as u64 * 2000;
        store.put("live-hd-v", t, &v.fragments[i]).expect("put");
    }
    let out = dir.path().join("track.mp4");
    store.assemble("live-hd-v", 0, &out).expect("assemble");
    let mut in_order = v.init.clone();
    for f in &v.fragments {
        in_order.extend_from_slice(f);
    }
    let assembled = std::fs::read(&out).expect("read");
    assert_eq!(assembled.len(), in_order.len());
    assert!(
        assembled == in_order,
        "reassembly is the ffmpeg file in t order (minus its mfra index)"
    );
    let d = iglive::probe(&out, std::time::Duration::from_secs(30))
        .await
        .expect("ffprobe reads the reassembly")
        .duration_s;
    assert!((7.9..=8.1).contains(&d), "duration {d}");
}
