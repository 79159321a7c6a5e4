//! After the broadcast: the replay's comments and like time series (`get_post_live_comments`,
//! `get_post_live_likes`), merged with what the live pollers stored. Comments missed while the
//! daemon was down are added; the pk makes every comment unique, so nothing doubles. The
//! replay endpoints are legacy and may answer 404 (docs/instagram.md §8): that means "nothing
//! more", never an error to retry.

use crate::instagram::{ApiError, ApiErrorKind};
use crate::store::{LikeSample, StoreError, Write};

use super::comments::to_row;
use super::context::Ctx;

/// Pages read at most per broadcast and kind (a 4-hour replay needs a few hundred).
const MAX_PAGES: usize = 5_000;

/// What the post-live merge found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PostLiveReport {
    pub comments_seen: usize,
    pub like_points: usize,
    pub pages: usize,
}

/// Where a merge stands, so a retry after a throttled page continues from it.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct PostLiveCursor {
    comments_offset: i64,
    comments_done: bool,
    comments_pages: usize,
    likes_offset: i64,
    likes_done: bool,
    likes_pages: usize,
    pub report: PostLiveReport,
}

/// Why a merge attempt stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum PostLiveStop {
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Database(#[from] StoreError),
}

/// Pages through a replay's comments, then its likes, from where `cursor` stands. `Ok` once
/// both are read to their end (or answered 404); an API error stops the attempt, keeping what
/// was read and where, for the caller to retry after its backoff.
pub async fn fetch(ctx: &Ctx, cursor: &mut PostLiveCursor) -> Result<PostLiveReport, PostLiveStop> {
    while !cursor.comments_done {
        let client = ctx.client().await.ok_or(PostLiveStop::Cancelled)?;
        let page = match client
            .post_live_comments(&ctx.broadcast_id, cursor.comments_offset)
            .await
        {
            Ok(p) => p,
            Err(e) if e.kind() == ApiErrorKind::NotFound => {
                tracing::info!("no post-live comments (404): nothing more to merge");
                cursor.comments_done = true;
                break;
            }
            Err(e) => return Err(e.into()),
        };
        cursor.report.pages += 1;
        cursor.comments_pages += 1;
        for c in &page.comments {
            if let Some(mut row) = to_row(ctx, &c.comment, "comment", "post_live") {
                if let Some(o) = c.offset.filter(|o| o.is_finite()) {
                    row.offset_s = Some(o.max(0.0));
                }
                cursor.report.comments_seen += 1;
                ctx.write(Write::Comment(row)).await?;
            }
        }
        match page.next_fetch_offset.filter(|_| !page.comments.is_empty()) {
            // Always move forward, even if the service repeats an offset.
            Some(next) if cursor.comments_pages < MAX_PAGES => {
                cursor.comments_offset = next.max(cursor.comments_offset + 1)
            }
            _ => cursor.comments_done = true,
        }
    }
    while !cursor.likes_done {
        let client = ctx.client().await.ok_or(PostLiveStop::Cancelled)?;
        let page = match client
            .post_live_likes(&ctx.broadcast_id, cursor.likes_offset)
            .await
        {
            Ok(p) => p,
            Err(e) if e.kind() == ApiErrorKind::NotFound => {
                tracing::info!("no post-live likes (404): nothing more to merge");
                cursor.likes_done = true;
                break;
            }
            Err(e) => return Err(e.into()),
        };
        cursor.report.pages += 1;
        cursor.likes_pages += 1;
        let points = page
            .time_series
            .as_ref()
            .map(like_points)
            .unwrap_or_default();
        for (at, likes) in &points {
            let sample = LikeSample {
                broadcast_id: ctx.broadcast_id.clone(),
                ts: ctx.published_time + at,
                likes: Some(*likes),
                burst_likes: None,
                offset_s: Some(*at),
                source: "post_live".into(),
            };
            cursor.report.like_points += 1;
            ctx.write(Write::Like(sample)).await?;
        }
        match page.next_fetch_offset.filter(|_| !points.is_empty()) {
            Some(next) if cursor.likes_pages < MAX_PAGES => {
                cursor.likes_offset = next.max(cursor.likes_offset + 1)
            }
            _ => cursor.likes_done = true,
        }
    }
    Ok(cursor.report)
}

/// The like time series' shape is undocumented: accept `[[offset, likes], …]` and
/// `[{"offset"|"timestamp": …, "likes"|"count"|"value": …}, …]`.
pub fn like_points(v: &serde_json::Value) -> Vec<(f64, i64)> {
    let num = |v: Option<&serde_json::Value>| -> Option<f64> {
        match v? {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .filter(|f| f.is_finite())
    };
    v.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|p| match p {
                    serde_json::Value::Array(a) => Some((num(a.first())?, num(a.get(1))? as i64)),
                    serde_json::Value::Object(o) => Some((
                        num(o.get("offset").or(o.get("timestamp")))?,
                        num(o.get("likes").or(o.get("count")).or(o.get("value")))? as i64,
                    )),
                    _ => None,
                })
                .filter(|(at, _)| *at >= 0.0)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::like_points;

    #[test]
    fn like_series_shapes() {
        let a = like_points(&serde_json::json!([[0, 1], [1.5, "3"], ["x", 1], [-1, 2]]));
        assert_eq!(a, vec![(0.0, 1), (1.5, 3)]);
        let b = like_points(
            &serde_json::json!([{"offset": 2, "likes": 7}, {"timestamp": 3, "count": 9}]),
        );
        assert_eq!(b, vec![(2.0, 7), (3.0, 9)]);
        assert!(like_points(&serde_json::json!({"no": "array"})).is_empty());
    }
}
