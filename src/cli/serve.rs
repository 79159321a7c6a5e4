//! `iglive serve`: the library (web app and REST API) over the recordings of a config,
//! without recording anything; for browsing an archive, on this machine or another one, from
//! the SQLite catalog or (with `[cluster]`) the PostgreSQL one.

use std::net::SocketAddr;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::library::{self, Library};
use crate::store::Catalog;

use super::ConfigArg;

/// The address when neither `--listen` nor `status.listen` gives one.
const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Address to listen on (default: the config's status.listen). Anything but loopback
    /// needs status.token_file.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

pub fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let cfg = a.config.load()?;
    let default: SocketAddr = DEFAULT_LISTEN.parse()?;
    let addr = a.listen.or(cfg.status.listen).unwrap_or(default);
    let rt = super::runtime()?;
    rt.block_on(async move {
        // The SQLite file, or the PostgreSQL catalog with [cluster].
        let catalog = Catalog::open(&cfg).await?;
        let lib = Library::archive(&cfg, catalog)?;
        let shutdown = CancellationToken::new();
        let served = library::serve(addr, lib, shutdown.clone()).await?;
        println!(
            "iglive serve: the library of {} on http://{}/ (Ctrl-C stops)",
            cfg.storage.recordings_dir.display(),
            served.addr
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        shutdown.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), served.task).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
