//! Recordings: the filtered, sorted, paged list; one recording with its facts; its comments,
//! likes and viewer samples page by page; its video (Range), cover and chat downloads.

use std::path::{Path as FsPath, PathBuf};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::Id;
use crate::library::cursor;
use crate::library::envelope::{ApiError, ApiResult, Envelope, ErrorBody, Reply};
use crate::library::fields::FieldSet;
use crate::library::media;
use crate::library::params::Params;
use crate::library::reads::Page;
use crate::library::Library;
use crate::states::RecordingState as RecState;
use crate::store::browse::{BrowseFilter, BrowseRow, CommentKey, RecordingKey, SortKey};
use crate::store::query::CommentExport;

/// Every recording state, as `recordings.state` and the `status` field hold it.
pub const STATES: [RecState; 7] = RecState::ALL;

/// States in which a recording still changes (live, finalizing, merging the post-live chat).
pub fn in_progress(state: &str) -> bool {
    RecState::parse(state).is_some_and(|s| !s.is_final())
}

/// Download links of a recording (signed when the listener has a token).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Downloads {
    /// The video as an attachment; `null` until it exists.
    pub video: Option<String>,
    /// Comments, one JSON object per line (fields as `iglive export`).
    pub comments_jsonl: String,
    /// The chat as WebVTT subtitles.
    pub chat_vtt: String,
    /// The chat as SubRip subtitles.
    pub chat_srt: String,
}

/// One recording. The first fields are exactly those of `iglive list --json`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recording {
    pub broadcast_id: String,
    pub user_id: String,
    pub username: Option<String>,
    /// detected, waiting, recording, interrupted, finalizing, finished or failed.
    pub status: String,
    /// Instagram's last known `broadcast_status`.
    pub broadcast_status: Option<String>,
    /// When the broadcast started (unix time).
    pub started_at: Option<f64>,
    pub ended_at: Option<f64>,
    pub duration_s: Option<f64>,
    pub folder: Option<String>,
    pub video: Option<String>,
    pub comments: i64,
    pub likes: Option<i64>,
    pub peak_viewers: Option<f64>,
    pub segments_captured: i64,
    pub segments_missing: i64,
    pub error: Option<String>,
    /// The watched accounts it was found through (`user_id` is the broadcast's owner; a
    /// watched guest of someone else's broadcast is listed here).
    pub via: Vec<crate::store::Via>,
    /// The engagement merge after the end: `pending`, `done`, `gave_up`, or `null` when none
    /// was wanted.
    pub chat_merge: Option<String>,
    /// The upload of the finished folder to object storage: `pending`, `done`, `failed`, or
    /// `null` without object storage.
    pub upload: Option<String>,
    /// Bytes of the recording folder on disk.
    pub size_bytes: Option<u64>,
    /// The account's label in the config.
    pub label: Option<String>,
    pub bytes_captured: i64,
    /// Unix time of the last change to the recording, its broadcast or its engagement.
    pub last_update: f64,
    /// True while the recording is live, finalizing or merging its chat.
    pub is_being_updated: bool,
    /// The video with HTTP Range support; `null` until it exists.
    pub video_url: Option<String>,
    pub cover_url: Option<String>,
    /// This recording's page in the web app.
    pub page_url: String,
    pub downloads: Downloads,
}

/// Field names for `fields=` on the list (the detail adds `facts`).
pub const RECORDING_FIELDS: [&str; 29] = [
    "broadcast_id",
    "user_id",
    "username",
    "status",
    "broadcast_status",
    "started_at",
    "ended_at",
    "duration_s",
    "folder",
    "video",
    "comments",
    "likes",
    "peak_viewers",
    "segments_captured",
    "segments_missing",
    "error",
    "via",
    "chat_merge",
    "upload",
    "size_bytes",
    "label",
    "bytes_captured",
    "last_update",
    "is_being_updated",
    "video_url",
    "cover_url",
    "page_url",
    "downloads",
    "facts",
];

/// One recording with everything `broadcast.json` holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordingDetail {
    #[serde(flatten)]
    pub recording: Recording,
    /// The `broadcast.json` document (docs/recording-folder.md).
    #[schema(value_type = Object)]
    pub facts: Value,
}

/// A comment at its moment in the video.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Comment {
    pub pk: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub text: String,
    pub created_at: f64,
    /// Seconds into the video.
    pub offset_s: Option<f64>,
}

impl Comment {
    /// With the offset settled as `broadcast.json` settles it: from the video's start when the
    /// capture knew it, from the broadcast's start otherwise.
    pub fn from_export(c: CommentExport, started_at: Option<f64>) -> Comment {
        let offset_s = settle(c.offset_s, c.created_at, started_at);
        Comment {
            pk: c.pk,
            user_id: c.user_id,
            username: c.username,
            text: c.text,
            created_at: c.created_at,
            offset_s,
        }
    }
}

/// The recording object for a row (reads the folder's size and cover from disk).
pub fn recording_object(lib: &Library, row: BrowseRow) -> Recording {
    let s = row.summary;
    let id = s.broadcast_id.clone();
    let live = lib
        .daemon_parts()
        .map(|d| d.registry.contains(&id))
        .unwrap_or(false);
    let folder = s.folder.as_deref().map(PathBuf::from);
    let size_bytes = folder.as_deref().map(crate::output::folder_size);
    let has_cover = folder
        .as_deref()
        .map(|f| f.join(crate::output::COVER_JPG).is_file())
        .unwrap_or(false);
    let base = format!("/api/v1/recordings/{}", urlencode(&id));
    let video_url = s.video.as_ref().map(|_| lib.link(format!("{base}/video")));
    Recording {
        is_being_updated: live
            || in_progress(&s.status)
            || s.chat_merge == Some(crate::states::MergeState::Pending),
        video_url,
        cover_url: has_cover.then(|| lib.link(format!("{base}/cover"))),
        page_url: format!("/recording/{}", urlencode(&id)),
        downloads: Downloads {
            video: s
                .video
                .as_ref()
                .map(|_| lib.link(format!("{base}/video?download=1"))),
            comments_jsonl: lib.link(format!("{base}/chat?format=jsonl&download=1")),
            chat_vtt: lib.link(format!("{base}/chat?format=vtt&download=1")),
            chat_srt: lib.link(format!("{base}/chat?format=srt&download=1")),
        },
        broadcast_id: s.broadcast_id,
        user_id: s.user_id,
        username: s.username,
        status: s.status,
        broadcast_status: s.broadcast_status,
        started_at: s.started_at,
        ended_at: s.ended_at,
        duration_s: s.duration_s,
        folder: s.folder,
        video: s.video,
        comments: s.comments,
        likes: s.likes,
        peak_viewers: s.peak_viewers,
        segments_captured: s.segments_captured,
        segments_missing: s.segments_missing,
        error: s.error,
        via: s.via,
        chat_merge: s.chat_merge.map(|m| m.as_str().to_string()),
        upload: s.upload.map(|u| u.as_str().to_string()),
        size_bytes,
        label: row.label,
        bytes_captured: row.bytes_captured,
        last_update: row.last_update,
    }
}

/// Percent-encodes a path segment.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Lists recordings, newest first by default.
#[utoipa::path(
    get,
    path = "/api/v1/recordings",
    tag = "recordings",
    params(
        ("account" = Option<String>, Query, description = "Only this account: user id, username or configured label."),
        ("status" = Option<String>, Query, description = "Comma-separated states: detected, recording, interrupted, finalizing, finished, failed."),
        ("since" = Option<String>, Query, description = "Started at or after: a date (2026-11-25, UTC), an RFC 3339 time or unix seconds."),
        ("until" = Option<String>, Query, description = "Started before; a date includes that whole day."),
        ("sort" = Option<String>, Query, description = "started (default), duration, comments, peak_viewers, likes or account."),
        ("order" = Option<String>, Query, description = "desc (default; asc for account) or asc."),
        ("fields" = Option<String>, Query, description = "Comma-separated fields to return."),
        ("cursor" = Option<String>, Query, description = "meta.next_cursor of the previous page."),
        ("limit" = Option<usize>, Query, description = "Page size, 1 to 1000 (default 50)."),
    ),
    responses(
        (status = 200, description = "A page of recordings.", body = Envelope<Vec<Recording>>),
        (status = 400, description = "A parameter is invalid.", body = ErrorBody),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
        (status = 503, description = "The database cannot answer.", body = ErrorBody),
    )
)]
pub async fn list(State(lib): State<Library>, p: Params) -> ApiResult<Vec<Value>> {
    let limit = p.limit()?;
    let sort = match p.get("sort") {
        None => SortKey::Started,
        Some(s) => SortKey::parse(s).ok_or_else(|| {
            ApiError::InvalidParameter(format!(
                "sort: expected one of {}, got {s:?}",
                SortKey::ALL.map(SortKey::as_str).join(", ")
            ))
        })?,
    };
    let descending = match p.get("order") {
        None => sort != SortKey::Account,
        Some("desc") => true,
        Some("asc") => false,
        Some(o) => {
            return Err(ApiError::InvalidParameter(format!(
                "order: expected asc or desc, got {o:?}"
            )))
        }
    };
    let states = p.list("status");
    if let Some(bad) = states
        .iter()
        .find(|s| !STATES.iter().any(|k| k.as_str() == s.as_str()))
    {
        return Err(ApiError::InvalidParameter(format!(
            "status: expected states among {}, got {bad:?}",
            STATES.map(RecState::as_str).join(", ")
        )));
    }
    let filter = BrowseFilter {
        account: p.get("account").map(str::to_string),
        states,
        since: p.time("since", false)?,
        until: p.time("until", true)?,
    };
    if let (Some(a), Some(b)) = (filter.since, filter.until) {
        if a >= b {
            return Err(ApiError::InvalidParameter(
                "since: must be before until".into(),
            ));
        }
    }
    let fields = FieldSet::parse(
        p.list("fields"),
        &RECORDING_FIELDS[..RECORDING_FIELDS.len() - 1],
    )?;
    let kind = format!(
        "recordings/{}/{}",
        sort.as_str(),
        if descending { "desc" } else { "asc" }
    );
    let after: Option<RecordingKey> = p
        .get("cursor")
        .map(|c| cursor::decode(&kind, c))
        .transpose()?;
    let (rows, next) = lib
        .browse_recordings(filter, sort, descending, after, limit)
        .await?;
    let data = rows
        .into_iter()
        .map(|r| fields.apply(to_value(&recording_object(&lib, r))))
        .collect();
    Ok(Reply::page(data, next.map(|k| cursor::encode(&kind, &k))))
}

/// One recording with its facts (`broadcast.json`).
#[utoipa::path(
    get,
    path = "/api/v1/recordings/{broadcast_id}",
    tag = "recordings",
    params(
        ("broadcast_id" = String, Path, description = "The broadcast id."),
        ("fields" = Option<String>, Query, description = "Comma-separated fields to return (`facts` included)."),
    ),
    responses(
        (status = 200, description = "The recording.", body = Envelope<RecordingDetail>),
        (status = 400, description = "A parameter is invalid.", body = ErrorBody),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
        (status = 404, description = "No such recording.", body = ErrorBody),
        (status = 503, description = "The database cannot answer.", body = ErrorBody),
    )
)]
pub async fn detail(State(lib): State<Library>, Id(id): Id, p: Params) -> ApiResult<Value> {
    let fields = FieldSet::parse(p.list("fields"), &RECORDING_FIELDS)?;
    let (row, facts) = lib
        .recording_detail(id.clone())
        .await?
        .ok_or_else(|| ApiError::no_recording(&id))?;
    let detail = RecordingDetail {
        recording: recording_object(&lib, row),
        facts: facts.map(|f| f.broadcast_json()).unwrap_or(Value::Null),
    };
    Ok(Reply::one(fields.apply(to_value(&detail))))
}

/// The recording's row, or `not_found`.
async fn row_of(lib: &Library, id: &str) -> Result<BrowseRow, ApiError> {
    lib.browse_recording(id.to_string())
        .await?
        .ok_or_else(|| ApiError::no_recording(id))
}

/// One recording's comments in time order.
#[utoipa::path(
    get,
    path = "/api/v1/recordings/{broadcast_id}/comments",
    tag = "recordings",
    params(
        ("broadcast_id" = String, Path, description = "The broadcast id."),
        ("from_s" = Option<f64>, Query, description = "Start at this many seconds into the video."),
        ("cursor" = Option<String>, Query, description = "meta.next_cursor of the previous page."),
        ("limit" = Option<usize>, Query, description = "Page size, 1 to 1000 (default 50)."),
    ),
    responses(
        (status = 200, description = "A page of comments.", body = Envelope<Vec<Comment>>),
        (status = 400, description = "A parameter is invalid.", body = ErrorBody),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
        (status = 404, description = "No such recording.", body = ErrorBody),
        (status = 503, description = "The database cannot answer.", body = ErrorBody),
    )
)]
pub async fn comments(
    State(lib): State<Library>,
    Id(id): Id,
    p: Params,
) -> ApiResult<Vec<Comment>> {
    let from = p.number("from_s")?;
    sub_page(
        &lib,
        id,
        &p,
        "comments",
        move |lib, id, after: Option<CommentKey>, limit| async move {
            lib.comments_page(id, after, from, limit).await
        },
        Comment::from_export,
    )
    .await
}

/// The steps every paged list of one recording shares: `limit`, the cursor of `kind`, the
/// recording (or `not_found`), one page from the database, each row settled against the
/// broadcast's start.
async fn sub_page<K, R, T, Fut>(
    lib: &Library,
    id: String,
    p: &Params,
    kind: &'static str,
    fetch: impl FnOnce(Library, String, Option<K>, usize) -> Fut,
    settle: impl Fn(R, Option<f64>) -> T,
) -> ApiResult<Vec<T>>
where
    K: Serialize + serde::de::DeserializeOwned,
    Fut: std::future::Future<Output = Result<Page<R, K>, ApiError>>,
{
    let limit = p.limit()?;
    let after: Option<K> = p
        .get("cursor")
        .map(|c| cursor::decode(kind, c))
        .transpose()?;
    let started = row_of(lib, &id).await?.summary.started_at;
    let (rows, next) = fetch(lib.clone(), id, after, limit).await?;
    let data = rows.into_iter().map(|r| settle(r, started)).collect();
    Ok(Reply::page(data, next.map(|k| cursor::encode(kind, &k))))
}

/// One like-count sample.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LikeSample {
    pub ts: f64,
    pub likes: Option<i64>,
    pub burst_likes: Option<i64>,
    pub offset_s: Option<f64>,
}

/// One viewer-count sample.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ViewerSample {
    pub ts: f64,
    pub viewer_count: Option<f64>,
    pub total_unique_viewer_count: Option<i64>,
    pub offset_s: Option<f64>,
}

/// Seconds into the video of something at unix time `ts`: the stored offset (settled on the
/// video's start at finalization), else from the broadcast's start.
pub fn settle(offset: Option<f64>, ts: f64, started: Option<f64>) -> Option<f64> {
    offset
        .or_else(|| started.map(|s| ts - s))
        .map(|o| o.max(0.0))
}

/// One recording's live like counts in time order.
#[utoipa::path(
    get,
    path = "/api/v1/recordings/{broadcast_id}/likes",
    tag = "recordings",
    params(
        ("broadcast_id" = String, Path, description = "The broadcast id."),
        ("cursor" = Option<String>, Query, description = "meta.next_cursor of the previous page."),
        ("limit" = Option<usize>, Query, description = "Page size, 1 to 1000 (default 50)."),
    ),
    responses(
        (status = 200, description = "A page of like samples.", body = Envelope<Vec<LikeSample>>),
        (status = 400, description = "A parameter is invalid.", body = ErrorBody),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
        (status = 404, description = "No such recording.", body = ErrorBody),
        (status = 503, description = "The database cannot answer.", body = ErrorBody),
    )
)]
pub async fn likes(
    State(lib): State<Library>,
    Id(id): Id,
    p: Params,
) -> ApiResult<Vec<LikeSample>> {
    let fetch =
        |lib: Library, id, after, limit| async move { lib.likes_page(id, after, limit).await };
    sub_page(&lib, id, &p, "likes", fetch, |l, started| LikeSample {
        offset_s: settle(l.offset_s, l.ts, started),
        ts: l.ts,
        likes: l.likes,
        burst_likes: l.burst_likes,
    })
    .await
}

/// One recording's viewer counts in time order.
#[utoipa::path(
    get,
    path = "/api/v1/recordings/{broadcast_id}/viewers",
    tag = "recordings",
    params(
        ("broadcast_id" = String, Path, description = "The broadcast id."),
        ("cursor" = Option<String>, Query, description = "meta.next_cursor of the previous page."),
        ("limit" = Option<usize>, Query, description = "Page size, 1 to 1000 (default 50)."),
    ),
    responses(
        (status = 200, description = "A page of viewer samples.", body = Envelope<Vec<ViewerSample>>),
        (status = 400, description = "A parameter is invalid.", body = ErrorBody),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
        (status = 404, description = "No such recording.", body = ErrorBody),
        (status = 503, description = "The database cannot answer.", body = ErrorBody),
    )
)]
pub async fn viewers(
    State(lib): State<Library>,
    Id(id): Id,
    p: Params,
) -> ApiResult<Vec<ViewerSample>> {
    let fetch =
        |lib: Library, id, after, limit| async move { lib.viewers_page(id, after, limit).await };
    sub_page(&lib, id, &p, "viewers", fetch, |v, started| ViewerSample {
        offset_s: settle(v.offset_s, v.ts, started),
        ts: v.ts,
        viewer_count: v.viewer_count,
        total_unique_viewer_count: v.total_unique_viewer_count,
    })
    .await
}

fn date_of(unix: Option<f64>) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    unix.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t as i64).ok())
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

fn download_base(row: &BrowseRow) -> Vec<String> {
    vec![
        row.summary
            .username
            .clone()
            .unwrap_or_else(|| row.summary.user_id.clone()),
        date_of(row.summary.started_at),
        row.summary.broadcast_id.clone(),
    ]
}

/// Serves a file of the recording's folder after checking it stays inside the recordings folder.
async fn serve_inside(
    lib: &Library,
    file: &FsPath,
    req: Request,
    download: Option<String>,
) -> Result<Response, ApiError> {
    let root = lib.recordings_dir().to_path_buf();
    let f = file.to_path_buf();
    let resolved = tokio::task::spawn_blocking(move || media::resolve(&root, &f))
        .await
        .map_err(|e| ApiError::Unavailable(format!("the file check failed: {e}")))?;
    let real = match (resolved, lib.objects()) {
        (Ok(real), _) => real,
        // Removed after its upload: from the bucket (whole object into the cache, then served
        // from there with ranges).
        (Err(media::MediaError::Missing(_)), Some((bucket, cache))) => {
            media::from_bucket(bucket, cache, file).await?
        }
        (Err(e), _) => return Err(e.into()),
    };
    Ok(media::serve(real, req, download).await)
}

/// The video (MP4, HTTP Range requests answered with 206).
#[utoipa::path(
    get,
    path = "/api/v1/recordings/{broadcast_id}/video",
    tag = "media",
    params(
        ("broadcast_id" = String, Path, description = "The broadcast id."),
        ("download" = Option<bool>, Query, description = "Send as an attachment."),
        ("exp" = Option<u64>, Query, description = "Signed links only: expiry (unix seconds)."),
        ("sig" = Option<String>, Query, description = "Signed links only: the signature."),
    ),
    responses(
        (status = 200, description = "The whole video.", content_type = "video/mp4"),
        (status = 206, description = "The requested byte range.", content_type = "video/mp4"),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
        (status = 404, description = "No such recording, or no video yet.", body = ErrorBody),
        (status = 416, description = "The range is outside the file."),
    )
)]
pub async fn video(
    State(lib): State<Library>,
    Id(id): Id,
    p: Params,
    req: Request,
) -> Result<Response, ApiError> {
    let row = row_of(&lib, &id).await?;
    let Some(video) = row.summary.video.clone() else {
        return Err(ApiError::NotFound(format!(
            "broadcast {id} has no video {}",
            if in_progress(&row.summary.status) {
                "yet: it is muxed when the broadcast ends"
            } else {
                "(the recording failed; `iglive finalize` retries the mux)"
            }
        )));
    };
    let download = p.boolean("download")?.unwrap_or(false).then(|| {
        media::download_name(
            &download_base(&row)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            "mp4",
        )
    });
    serve_inside(&lib, FsPath::new(&video), req, download).await
}

/// The cover frame (JPEG), when Instagram offered one.
#[utoipa::path(
    get,
    path = "/api/v1/recordings/{broadcast_id}/cover",
    tag = "media",
    params(("broadcast_id" = String, Path, description = "The broadcast id.")),
    responses(
        (status = 200, description = "The cover.", content_type = "image/jpeg"),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
        (status = 404, description = "No such recording, or no cover.", body = ErrorBody),
    )
)]
pub async fn cover(
    State(lib): State<Library>,
    Id(id): Id,
    req: Request,
) -> Result<Response, ApiError> {
    let row = row_of(&lib, &id).await?;
    let Some(folder) = row.summary.folder.clone() else {
        return Err(ApiError::NotFound(format!("broadcast {id} has no folder")));
    };
    serve_inside(
        &lib,
        &FsPath::new(&folder).join(crate::output::COVER_JPG),
        req,
        None,
    )
    .await
}

/// The chat as a file: JSONL (fields as `iglive export`), WebVTT or SubRip subtitles.
#[utoipa::path(
    get,
    path = "/api/v1/recordings/{broadcast_id}/chat",
    tag = "media",
    params(
        ("broadcast_id" = String, Path, description = "The broadcast id."),
        ("format" = Option<String>, Query, description = "jsonl (default), vtt or srt."),
        ("download" = Option<bool>, Query, description = "Send as an attachment."),
    ),
    responses(
        (status = 200, description = "The chat.", content_type = "text/vtt"),
        (status = 400, description = "A parameter is invalid.", body = ErrorBody),
        (status = 401, description = "The API token is missing or wrong.", body = ErrorBody),
        (status = 404, description = "No such recording.", body = ErrorBody),
    )
)]
pub async fn chat(State(lib): State<Library>, Id(id): Id, p: Params) -> Result<Response, ApiError> {
    let (ext, ctype) = match p.get("format").unwrap_or("jsonl") {
        "jsonl" => ("jsonl", "application/x-ndjson; charset=utf-8"),
        "vtt" => ("vtt", "text/vtt; charset=utf-8"),
        "srt" => ("srt", "application/x-subrip; charset=utf-8"),
        f => {
            return Err(ApiError::InvalidParameter(format!(
                "format: expected jsonl, vtt or srt, got {f:?}"
            )))
        }
    };
    let download = p.boolean("download")?.unwrap_or(false);
    let row = row_of(&lib, &id).await?;
    let comments = lib.facts(id).await?.map(|f| f.comments).unwrap_or_default();
    let body = match ext {
        "vtt" => crate::output::chat::webvtt(&comments),
        "srt" => crate::output::chat::srt(&comments),
        _ => crate::output::chat::jsonl(&comments),
    };
    let mut resp = ([(header::CONTENT_TYPE, ctype)], body).into_response();
    if download {
        let name = media::download_name(
            &download_base(&row)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ext,
        );
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_list_names_every_field() {
        let r = Recording {
            broadcast_id: "1".into(),
            user_id: "2".into(),
            username: None,
            status: "finished".into(),
            broadcast_status: None,
            started_at: None,
            ended_at: None,
            duration_s: None,
            folder: None,
            video: None,
            comments: 0,
            likes: None,
            peak_viewers: None,
            segments_captured: 0,
            segments_missing: 0,
            error: None,
            via: Vec::new(),
            chat_merge: None,
            upload: None,
            size_bytes: None,
            label: None,
            bytes_captured: 0,
            last_update: 0.0,
            is_being_updated: false,
            video_url: None,
            cover_url: None,
            page_url: String::new(),
            downloads: Downloads {
                video: None,
                comments_jsonl: String::new(),
                chat_vtt: String::new(),
                chat_srt: String::new(),
            },
        };
        let d = to_value(&RecordingDetail {
            recording: r,
            facts: Value::Null,
        });
        let keys: Vec<&str> = d
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut known = RECORDING_FIELDS.to_vec();
        known.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, known);
        assert!(in_progress("finalizing") && !in_progress("finished"));
    }
}
