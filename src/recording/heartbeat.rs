//! The viewer heartbeat: what the app sends every few seconds while watching. Its answer
//! carries the viewer count and the broadcast status the supervisor ends the recording on.

use std::time::Duration;

use crate::store::{now_unix, StatusSource, ViewerSample, Write};

use super::context::{Ctx, Signal};
use crate::pool::PollerClass;

pub async fn run(ctx: Ctx, interval: Duration) {
    loop {
        let Some(client) = ctx.client().await else {
            return;
        };
        let result = tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            r = client.heartbeat_and_viewer_count(&ctx.broadcast_id) => r,
        };
        match result {
            Ok(hb) => {
                let ts = now_unix();
                let sample = ViewerSample {
                    broadcast_id: ctx.broadcast_id.clone(),
                    ts,
                    viewer_count: hb.viewer_count,
                    total_unique_viewer_count: hb.total_unique_viewer_count,
                    broadcast_status: hb.broadcast_status.clone(),
                    offset_to_video_start: hb.offset_to_video_start,
                    cobroadcaster_ids: Some(
                        serde_json::to_string(&hb.cobroadcaster_ids).unwrap_or_default(),
                    ),
                    offset_s: Some(ctx.offset(ts)),
                };
                if ctx.write(Write::Viewer(sample)).await.is_err() {
                    return;
                }
                if let Some(status) = hb.broadcast_status {
                    let change = Write::Status {
                        broadcast_id: ctx.broadcast_id.clone(),
                        status: status.clone(),
                        at: ts,
                        source: StatusSource::Heartbeat,
                    };
                    if ctx.write(change).await.is_err() {
                        return;
                    }
                    ctx.signal(Signal::Status(status)).await;
                }
            }
            Err(e) => {
                if !ctx.on_error("heartbeat", &e).await {
                    return;
                }
            }
        }
        if !ctx.pause(interval, PollerClass::Critical).await {
            return;
        }
    }
}
