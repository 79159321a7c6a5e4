//! iglive's integration tests, linked as one binary (one link instead of one per file keeps the
//! cold test build short). Each module is one area, its tests named after the scenario they
//! prove, most of them against the simulator's truth; `support` holds the shared harnesses.

mod support;

mod accounts_cli;
mod capture_finalize;
mod capture_hostile;
mod capture_sim;
mod cli_config;
mod client_api;
mod client_detector;
mod daemon_engagement;
mod daemon_lifecycle;
mod daemon_signals;
mod daemon_status;
mod daemon_waiting;
mod dash_manifest;
mod dash_media;
mod dash_store;
mod engagement_bad_input;
mod fbns;
mod inspect_browser;
mod inspect_folder;
mod layering;
mod library_api;
mod library_browser;
mod library_live;
mod library_store;
mod login;
mod merge_after_end;
mod notify_hooks;
mod notify_webhook;
mod objects_cluster;
mod objects_outage;
mod objects_upload;
mod packaging;
mod pool;
mod pool_push;
mod pool_reload;
mod pool_status;
mod postgres_catalog;
mod postgres_cluster;
mod postgres_daemon;
mod postgres_leases;
mod postgres_library;
mod record_cli;
mod session_source;
mod sim_api;
mod sim_dash;
mod store;
mod watch_sim;
