//! After the broadcast: the replay's comments and like time series (`get_post_live_comments`,
//! `get_post_live_likes`), merged with what the live pollers stored. Comments missed while the
//! daemon was down are added; the pk makes every comment unique, so nothing doubles.

use crate::store::{LikeSample, Write};

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

/// Pages through a replay's comments and likes. Errors end the merge early (what was read is
/// kept); a 404 means no replay exists, which is normal for many broadcasts.
pub async fn fetch(ctx: &Ctx) -> PostLiveReport {
    let mut report = PostLiveReport::default();
    let mut offset: i64 = 0;
    for _ in 0..MAX_PAGES {
        if ctx.cancel.is_cancelled() {
            break;
        }
        let Some(client) = ctx.client().await else {
            break;
        };
        let page = match client.post_live_comments(&ctx.broadcast_id, offset).await {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(error = %e, "post-live comments end here");
                break;
            }
        };
        report.pages += 1;
        for c in &page.comments {
            if let Some(mut row) = to_row(ctx, &c.comment, "comment", "post_live") {
                if let Some(o) = c.offset.filter(|o| o.is_finite()) {
                    row.offset_s = Some(o.max(0.0));
                }
                report.comments_seen += 1;
                if ctx.write(Write::Comment(row)).await.is_err() {
                    return report;
                }
            }
        }
        let Some(next) = page.next_fetch_offset.filter(|_| !page.comments.is_empty()) else {
            break;
        };
        // Always move forward, even if the service repeats an offset.
        offset = next.max(offset + 1);
    }

    let mut offset: i64 = 0;
    for _ in 0..MAX_PAGES {
        if ctx.cancel.is_cancelled() {
            break;
        }
        let Some(client) = ctx.client().await else {
            break;
        };
        let page = match client.post_live_likes(&ctx.broadcast_id, offset).await {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(error = %e, "post-live likes end here");
                break;
            }
        };
        report.pages += 1;
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
            report.like_points += 1;
            if ctx.write(Write::Like(sample)).await.is_err() {
                return report;
            }
        }
        let Some(next) = page.next_fetch_offset.filter(|_| !points.is_empty()) else {
            break;
        };
        offset = next.max(offset + 1);
    }
    report
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
