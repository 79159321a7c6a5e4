//! Migration 2 on a real file: the per-recording figures kept by triggers equal counting the
//! rows (so `iglive list --json` is unchanged), the search index follows inserts and deletes,
//! and a database from before the migration gets both built from its existing rows.

use iglive::{plan_search as plan, search_comments as search, RecordingState};
use iglive::{
    query, BroadcastRow, CommentRow, LikeSample, RecordingRow, Store, ViewerSample, Write, Writer,
};

fn comment(b: &str, pk: u32, text: &str) -> Write {
    Write::Comment(CommentRow {
        broadcast_id: b.into(),
        pk: pk.to_string(),
        user_id: Some("7".into()),
        username: Some(format!("user{}", pk % 3)),
        text: text.into(),
        created_at: 1_800_000_000.0 + f64::from(pk),
        offset_s: None,
        kind: "comment".into(),
        source: "live".into(),
        raw_json: "{}".into(),
    })
}

async fn fill(store: &Store) {
    let (w, t) = Writer::spawn(store).expect("writer");
    for (b, n) in [("b1", 30u32), ("b2", 5), ("b3", 0)] {
        w.send(Write::Broadcast(BroadcastRow {
            broadcast_id: b.into(),
            user_id: "1".into(),
            published_time: Some(1_800_000_000.0),
            ..Default::default()
        }))
        .await
        .expect("send");
        w.send(Write::Recording(RecordingRow::new(
            b,
            RecordingState::Finished,
        )))
        .await
        .expect("send");
        for pk in 0..n {
            let text = match pk % 3 {
                0 => "Ça va très bien",
                1 => "东京タワーの夜景",
                _ => "plain words",
            };
            w.send(comment(b, pk, text)).await.expect("send");
            // The same comment read again from an overlapping page is not counted twice.
            w.send(comment(b, pk, text)).await.expect("send");
        }
    }
    for (i, likes) in [Some(5), None, Some(50), Some(20)].into_iter().enumerate() {
        w.send(Write::Like(LikeSample {
            broadcast_id: "b1".into(),
            ts: i as f64,
            likes,
            source: if i == 3 { "post_live" } else { "live" }.into(),
            ..Default::default()
        }))
        .await
        .expect("send");
        w.send(Write::Viewer(ViewerSample {
            broadcast_id: "b1".into(),
            ts: i as f64,
            viewer_count: likes.map(|l| l as f64 * 1.5),
            ..Default::default()
        }))
        .await
        .expect("send");
    }
    w.flush().await.expect("flush");
    drop(w);
    t.join();
}

/// (comments, likes, peak viewers) per broadcast, counted from the rows as `iglive list` did
/// before migration 2.
fn counted(store: &Store) -> Vec<(String, i64, Option<i64>, Option<f64>)> {
    let conn = store.connect().expect("connect");
    let mut stmt = conn
        .prepare(
            "SELECT r.broadcast_id,
                (SELECT count(*) FROM comments c WHERE c.broadcast_id = r.broadcast_id),
                (SELECT max(likes) FROM like_samples l WHERE l.broadcast_id = r.broadcast_id),
                (SELECT max(viewer_count) FROM viewer_samples v WHERE v.broadcast_id = r.broadcast_id)
             FROM recordings r ORDER BY r.broadcast_id",
        )
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn listed(store: &Store) -> Vec<(String, i64, Option<i64>, Option<f64>)> {
    let conn = store.connect().expect("connect");
    let mut rows: Vec<_> = query::list_recordings(&conn, &Default::default())
        .expect("list")
        .into_iter()
        .map(|r| (r.broadcast_id, r.comments, r.likes, r.peak_viewers))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

fn hits(store: &Store, q: &str) -> usize {
    let conn = store.connect().expect("connect");
    search(&conn, &plan(q).expect("plan"), None, None, 1000)
        .expect("search")
        .len()
}

#[tokio::test]
async fn maintained_figures_equal_counting_the_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("db.sqlite3")).expect("open");
    fill(&store).await;
    let want = counted(&store);
    assert_eq!(want[0], ("b1".to_string(), 30, Some(50), Some(75.0)));
    assert_eq!(want[2].1, 0);
    assert_eq!(listed(&store), want);
    assert_eq!(hits(&store, "ca va"), 12);
    assert_eq!(hits(&store, "タワー"), 12);
    assert_eq!(hits(&store, "东京"), 12);
    assert_eq!(hits(&store, "user1"), 12, "usernames are indexed");

    // Deleting comments keeps the figures and both indexes in step.
    let conn = store.connect().expect("connect");
    conn.execute(
        "DELETE FROM comments WHERE broadcast_id = 'b1' AND CAST(pk AS INTEGER) < 9",
        [],
    )
    .expect("delete");
    assert_eq!(listed(&store), counted(&store));
    assert_eq!(counted(&store)[0].1, 21);
    assert_eq!(hits(&store, "ca va"), 9);
    assert_eq!(hits(&store, "东京"), 9);
}

#[tokio::test]
async fn a_database_from_before_the_library_gets_its_index_and_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite3");
    let store = Store::open(&path).expect("open");
    fill(&store).await;
    let want = counted(&store);
    // Back to schema version 1: what migrations 2 to 5 added is gone, the rows stay.
    {
        let conn = store.connect().expect("connect");
        conn.execute_batch(
            "DROP TRIGGER comments_library_delete;
             DROP TABLE comments_fts; DROP TABLE comments_cjk; DROP TABLE recording_stats;
             -- SQLite 3.50 leaves this shadow table of a contentless_unindexed table behind.
             DROP TABLE IF EXISTS comments_fts_content;
             DROP INDEX recordings_library; DROP INDEX broadcasts_library;
             DROP INDEX recordings_by_merge;
             ALTER TABLE recordings DROP COLUMN merge_state;
             ALTER TABLE recordings DROP COLUMN merge_deadline;
             ALTER TABLE recordings DROP COLUMN video_start;
             ALTER TABLE broadcasts DROP COLUMN via;
             ALTER TABLE recordings DROP COLUMN upload_state;
             PRAGMA user_version = 1;",
        )
        .expect("downgrade");
    }
    let store = Store::open(&path).expect("migrates");
    let version: u32 = store
        .connect()
        .expect("connect")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, iglive::SCHEMA_VERSION);
    assert_eq!(listed(&store), want, "figures rebuilt from the rows");
    assert_eq!(hits(&store, "plain words"), 11);
    assert_eq!(hits(&store, "夜景"), 12);
    // Later writes go on from there.
    let (w, t) = Writer::spawn(&store).expect("writer");
    w.send(comment("b3", 1, "plain words again"))
        .await
        .expect("send");
    w.flush().await.expect("flush");
    drop(w);
    t.join();
    assert_eq!(hits(&store, "plain words"), 12);
    assert_eq!(listed(&store), counted(&store));
}
