//! iglive: records Instagram Live broadcasts.
//!
//! The modules follow the pipeline, and imports only point down it (README "Architecture";
//! a test checks the order):
//!
//! `cli` → `daemon` → `status` / `notify` → `library` → `recording` → `capture` → `media` → `dash` →
//! `output` → `watch` → `fbns` → `instagram` → `objects` → `store` / `config` / `states` / `backoff` /
//! `disk` / `mqttot`,
//! with `sim` (the Instagram stand-in used by tests, benchmarks and `iglive demo`) beside
//! them, importing nothing of the recorder.
//!
//! Every module is private to the crate; what the binary, the integration tests and the
//! benchmarks use is re-exported here.

// Functions stay short enough to read in one go (clippy.toml sets 100 lines); tests are exempt.
#![cfg_attr(not(test), warn(clippy::too_many_lines))]

mod backoff;
mod capture;
mod cli;
mod cluster;
mod config;
mod daemon;
mod dash;
mod disk;
mod fbns;
mod instagram;
mod library;
mod media;
mod mqttot;
mod notify;
mod objects;
mod output;
mod pool;
mod recording;
pub mod sim;
mod states;
mod status;
mod store;
mod watch;

// The binary.
pub use cli::{init_logging, run as run_command, Cli};

// Configuration and the daemon.
pub use config::{Config, Engine, NotifyConfig, NotifyEvent, SessionFile};
pub use daemon::{run as run_daemon, Exit};

// Recordings in object storage.
pub use objects::{Bucket, ObjectsError, UploadStats, Uploads};

// The private-API client and detection.
pub use instagram::login::jazoest;
pub use instagram::{
    ApiError, ApiErrorKind, Client, ClientOptions, CommentsPage, Endpoint, GovernorOptions,
    PostLiveItem, Reloaded, Session, SessionOrigin, SessionSource, SourceError,
};
pub use states::{BroadcastStatus, MergeState, RecordingState, UploadState};
pub use watch::{
    Accounts, DetectionSource, Detector, DetectorOptions, LiveEvent, MemorySeenStore,
    SchedulerConfig, SeenStore, TrayOptions, WatchedAccount,
};

// Push (FBNS): one session's notification connection and what it yields.
pub use fbns::{
    spawn as spawn_fbns, DeviceAuth, DeviceAuthStore, FbnsCounters, FbnsError, FbnsHealth,
    FbnsIdentity, FbnsOptions, FbnsState, FbnsStatus, FbnsTrust, Push, PushKind,
    AUTH_FILE as FBNS_AUTH_FILE,
};

// Capture: the contract, the native engine's knobs, and the DASH pieces it is built from.
pub use capture::native::run_with as run_native_capture;
pub use capture::{
    run as run_capture, CaptureControl, CaptureError, CaptureExit, CaptureOptions, CaptureProgress,
    CaptureRequest,
};
pub use dash::{
    mp4, rewind, Addressing, FetchLimits, Limits, LiveManifest, ManifestError, SegmentStore,
    SegmentStoreError, TrackKind,
};

// Muxing, verification and the recording folder.
pub use media::finalize::{finalize_capture, is_finalized, FinalizeError, MuxTags};
pub use media::probe::{probe, Probe};
pub use output::{write_artifacts, Point, RecordingFacts};

// Recordings, their engagement pollers and notifications.
pub use notify::Notifier;
pub use pool::{Lease, Member, Pool, SessionState};
pub use recording::{comments, Ctx, RecorderEvent};

// The database.
pub use store::postgres::migrate::{copy as migrate_catalog, TableCount};
pub use store::postgres::{Beat, Holder, LeaseRow, Orphan};
pub use store::schema::SCHEMA_VERSION;
pub use store::search::{plan as plan_search, search as search_comments, SearchPlan};
pub use store::{
    query, AccountRow, BroadcastRow, Catalog, CommentRow, LikeSample, PgCatalog, PostgresUrl,
    RecordingRow, StatusSource, Store, StoreError, ViewerSample, Write, Writer, WriterThread,
    PG_SCHEMA_VERSION,
};

// The library: the web app and REST API over every recording (`iglive serve`, the daemon's
// status listener).
pub use library::{
    serve as serve_library, DaemonParts, Library, LibraryError, Served, Token, TokenError,
};
