//! An archive for the library's tests: a config, a database filled through the real writer
//! (so the triggers and the search index are exercised), recording folders with a real video,
//! and the library served on loopback (`iglive::serve_library`), plus a small HTTP client.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use iglive::{serve_library, Library};
use iglive::{
    AccountRow, BroadcastRow, Catalog, CommentRow, LikeSample, RecordingRow, Store, ViewerSample,
    Write,
};
use iglive::{BroadcastStatus, Config, RecordingState};
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// A token long enough for `status.token_file`.
pub const TOKEN: &str = "test-token-0123456789abcdef";

pub struct Archive {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
}

/// One recording to write.
pub struct Rec<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub username: Option<&'a str>,
    pub state: &'a str,
    pub started: f64,
    pub duration: Option<f64>,
    /// Comments as (offset into the video, username, text).
    pub comments: Vec<(f64, String, String)>,
    /// A real video of this many seconds in the folder.
    pub video_seconds: Option<u32>,
    pub error: Option<&'a str>,
}

impl Rec<'_> {
    pub fn new<'a>(id: &'a str, user_id: &'a str, state: &'a str, started: f64) -> Rec<'a> {
        Rec {
            id,
            user_id,
            username: None,
            state,
            started,
            duration: Some(60.0),
            comments: Vec::new(),
            video_seconds: None,
            error: None,
        }
    }
}

impl Archive {
    /// A config watching `accounts` (user id, label) with `extra` appended.
    pub fn new(accounts: &[(&str, Option<&str>)], extra: &str) -> Archive {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("iglive.toml");
        let mut text = String::from(
            "# The library test's config.\n[instagram]\nsession_file = \"session.json\"\n\n[storage]\nrecordings_dir = \"recordings\"\nmin_free_space = \"1MB\"\n\n",
        );
        text.push_str(extra);
        text.push_str("\n# Accounts to watch.\n");
        for (id, label) in accounts {
            text.push_str(&format!("[[accounts]]\nuser_id = \"{id}\"\n"));
            if let Some(l) = label {
                text.push_str(&format!(
                    "label = {}\n",
                    serde_json::to_string(l).expect("json")
                ));
            }
            text.push('\n');
        }
        std::fs::write(&config_path, text).expect("config");
        std::fs::create_dir_all(dir.path().join("recordings")).expect("recordings dir");
        Archive { dir, config_path }
    }

    pub fn config(&self) -> Config {
        Config::load(&self.config_path).expect("config loads")
    }

    pub fn store(&self) -> Store {
        Store::open(&self.config().storage.database).expect("store")
    }

    pub fn recordings_dir(&self) -> PathBuf {
        self.config().storage.recordings_dir
    }

    /// Writes a token file (mode 0600) and points `status.token_file` at it.
    pub fn with_token(self) -> Archive {
        let path = self.dir.path().join("api.token");
        std::fs::write(&path, format!("{TOKEN}\n")).expect("token");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let text = std::fs::read_to_string(&self.config_path).expect("config");
        let text = text.replacen(
            "[storage]",
            "[status]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"api.token\"\n\n[storage]",
            1,
        );
        std::fs::write(&self.config_path, text).expect("config");
        self
    }

    /// The folder of a recording (created): `<recordings>/<user id>/rec_<broadcast id>`.
    pub fn folder(&self, r: &Rec<'_>) -> PathBuf {
        let f = self
            .recordings_dir()
            .join(r.user_id)
            .join(format!("rec_{}", r.id));
        std::fs::create_dir_all(&f).expect("folder");
        f
    }

    /// Writes recordings through the daemon's writer and waits for the commit.
    pub async fn write(&self, recs: &[Rec<'_>]) {
        self.write_into(&Catalog::Sqlite(self.store()), recs).await;
    }

    /// Writes recordings into `catalog` (either backend) through its writer and waits for the
    /// commit.
    pub async fn write_into(&self, catalog: &Catalog, recs: &[Rec<'_>]) {
        let cfg = self.config();
        let (w, thread) = catalog.spawn_writer().expect("writer");
        for r in recs {
            // As the daemon does at start: the config's label goes with the account.
            let label = cfg
                .accounts
                .iter()
                .find(|a| a.user_id == r.user_id)
                .and_then(|a| a.label.clone());
            let folder = self.folder(r);
            let video = r
                .video_seconds
                .map(|s| crate::support::media::playable(&folder, s));
            w.send(Write::Account(AccountRow {
                user_id: r.user_id.into(),
                username: r.username.map(str::to_string),
                label,
                ..Default::default()
            }))
            .await
            .expect("send");
            w.send(Write::Broadcast(BroadcastRow {
                broadcast_id: r.id.into(),
                user_id: r.user_id.into(),
                username: r.username.map(str::to_string),
                status: Some(BroadcastStatus::parse("stopped")),
                published_time: Some(r.started),
                detected_at: Some(r.started),
                ended_at: r.duration.map(|d| r.started + d),
                ..Default::default()
            }))
            .await
            .expect("send");
            w.send(Write::Recording(RecordingRow {
                state: RecordingState::parse(r.state).expect("a recording state"),
                folder: Some(folder.display().to_string()),
                video: video.map(|v| v.display().to_string()),
                started_at: Some(r.started),
                duration_s: r.duration,
                segments_captured: Some(30),
                segments_expected: Some(30),
                bytes_captured: Some(1_000_000),
                error: r.error.map(str::to_string),
                ..RecordingRow::new(r.id, RecordingState::Detected)
            }))
            .await
            .expect("send");
            for (i, (offset, user, text)) in r.comments.iter().enumerate() {
                w.send(Write::Comment(CommentRow {
                    broadcast_id: r.id.into(),
                    pk: format!("{}{:04}", &r.id[r.id.len().saturating_sub(4)..], i),
                    user_id: Some(format!("9{i}")),
                    username: Some(user.clone()),
                    text: text.clone(),
                    created_at: r.started + offset,
                    offset_s: Some(*offset),
                    kind: "comment".into(),
                    source: "live".into(),
                    raw_json: "{}".into(),
                }))
                .await
                .expect("send");
            }
            let span = r.duration.unwrap_or(60.0);
            for k in 0..=6 {
                let t = r.started + span * f64::from(k) / 6.0;
                w.send(Write::Viewer(ViewerSample {
                    broadcast_id: r.id.into(),
                    ts: t,
                    viewer_count: Some(10.0 + f64::from(k * k)),
                    offset_s: Some(t - r.started),
                    ..Default::default()
                }))
                .await
                .expect("send");
                w.send(Write::Like(LikeSample {
                    broadcast_id: r.id.into(),
                    ts: t,
                    likes: Some(i64::from(k) * 7),
                    offset_s: Some(t - r.started),
                    source: "live".into(),
                    ..Default::default()
                }))
                .await
                .expect("send");
            }
        }
        w.flush().await.expect("flush");
        drop(w);
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .expect("the writer thread ends");
    }

    /// Serves the library over this archive (as `iglive serve` does) on 127.0.0.1.
    pub async fn serve(&self) -> Server {
        self.serve_catalog(Catalog::Sqlite(self.store())).await
    }

    /// Serves the library over `catalog` (this archive's folders and config) on 127.0.0.1.
    pub async fn serve_catalog(&self, catalog: Catalog) -> Server {
        let cfg = self.config();
        let lib = Library::archive(&cfg, catalog).expect("library");
        let shutdown = CancellationToken::new();
        let served = serve_library("127.0.0.1:0".parse().expect("addr"), lib, shutdown.clone())
            .await
            .expect("serves");
        Server::new(format!("http://{}", served.addr), Some(shutdown))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A library listener and a client for it.
pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    shutdown: Option<CancellationToken>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = &self.shutdown {
            s.cancel();
        }
    }
}

/// One answer: status, headers, body as JSON (`Null` when it is not JSON) and as bytes.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error code of an error envelope.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

impl Server {
    pub fn new(base: String, shutdown: Option<CancellationToken>) -> Server {
        Server {
            base,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            shutdown,
        }
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body").to_vec();
        Answer {
            status,
            headers,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            bytes,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(self.url(path))).await
    }

    /// Every item of a cursor-paged list, following `next_cursor` (bounded).
    pub async fn all(&self, path: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let url = match &cursor {
                None => format!("{path}{sep}limit={limit}"),
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            };
            let a = self.get(&url).await;
            assert_eq!(a.status, 200, "{url}: {}", a.json);
            let page = a.json["data"].as_array().expect("a list").clone();
            assert!(page.len() <= limit);
            out.extend(page);
            match a.json["meta"]["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
        panic!("{path}: more than 1000 pages");
    }
}
