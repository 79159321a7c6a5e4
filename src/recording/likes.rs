//! Like counts: `get_like_count` with `like_ts` advanced from each answer, one sample stored
//! per answer.

use std::time::Duration;

use crate::store::{now_unix, LikeSample, Write};

use super::context::Ctx;
use crate::pool::PollerClass;

pub const CURSOR: &str = "like_ts";

pub async fn run(ctx: Ctx, interval: Duration, start_like_ts: i64) {
    let mut like_ts = start_like_ts;
    loop {
        let Some(client) = ctx.client().await else {
            return;
        };
        let answer = tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            r = client.like_count(&ctx.broadcast_id, like_ts) => r,
        };
        match answer {
            Ok(l) => {
                let ts = now_unix();
                let sample = LikeSample {
                    broadcast_id: ctx.broadcast_id.clone(),
                    ts,
                    likes: l.likes,
                    burst_likes: l.burst_likes,
                    offset_s: Some(ctx.offset(ts)),
                    source: "live".into(),
                };
                if ctx.write(Write::Like(sample)).await.is_err() {
                    return;
                }
                if let Some(next) = l.like_ts.filter(|t| *t > like_ts) {
                    like_ts = next;
                    let cursor = Write::Cursor {
                        broadcast_id: ctx.broadcast_id.clone(),
                        name: CURSOR.into(),
                        value: like_ts.to_string(),
                    };
                    if ctx.write(cursor).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                if !ctx.on_error("likes", &e).await {
                    return;
                }
            }
        }
        if !ctx.pause(interval, PollerClass::Low).await {
            return;
        }
    }
}
