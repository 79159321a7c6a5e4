//! The viewer heartbeat: what the app sends every few seconds while watching. Its answer
//! carries the viewer count and the broadcast status the supervisor ends the recording on.

use std::time::Duration;

use crate::store::{now_unix, ViewerSample, Write};

use super::context::{Ctx, Signal};

pub async fn run(ctx: Ctx, interval: Duration) {
    let what = format!("heartbeat of broadcast {}", ctx.broadcast_id);
    loop {
        if ctx.cancel.is_cancelled() {
            return;
        }
        let result = tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            r = ctx.client.heartbeat_and_viewer_count(&ctx.broadcast_id) => r,
        };
        match result {
            Ok(hb) => {
                let ts = now_unix();
                let status = hb.broadcast_status.as_ref().map(|s| s.as_str().to_string());
                let sample = ViewerSample {
                    broadcast_id: ctx.broadcast_id.clone(),
                    ts,
                    viewer_count: hb.viewer_count,
                    total_unique_viewer_count: hb.total_unique_viewer_count,
                    broadcast_status: status.clone(),
                    offset_to_video_start: hb.offset_to_video_start,
                    cobroadcaster_ids: Some(
                        serde_json::to_string(&hb.cobroadcaster_ids).unwrap_or_default(),
                    ),
                    offset_s: Some(ctx.offset(ts)),
                };
                if ctx.writer.send(Write::Viewer(sample)).await.is_err() {
                    return;
                }
                if let Some(s) = status {
                    let _ = ctx
                        .writer
                        .send(Write::Status {
                            broadcast_id: ctx.broadcast_id.clone(),
                            status: s.clone(),
                            at: ts,
                            source: "heartbeat".into(),
                        })
                        .await;
                    ctx.signal(Signal::Status(s)).await;
                }
            }
            Err(e) => {
                if !ctx.on_error(&what, &e).await {
                    return;
                }
            }
        }
        if !ctx.pause(interval).await {
            return;
        }
    }
}
