//! `iglive migrate --from SQLITE-FILE --to POSTGRES-URL`: copies a SQLite catalog into an
//! empty PostgreSQL catalog (store/postgres/migrate.rs has the rules), printing each table's
//! count and checking them after the copy.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::PostgresUrl;
use crate::store::{PgCatalog, Store};

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The SQLite catalog to copy (storage.database, e.g. /var/lib/iglive/recordings/iglive.sqlite3).
    #[arg(long, value_name = "SQLITE-FILE")]
    pub from: PathBuf,
    /// The PostgreSQL catalog to fill: postgres://USER:PASSWORD@HOST:PORT/DATABASE (or set
    /// $IGLIVE_POSTGRES_URL, which keeps the password out of the process list). It must be empty.
    #[arg(
        long,
        value_name = "POSTGRES-URL",
        env = "IGLIVE_POSTGRES_URL",
        hide_env_values = true
    )]
    pub to: String,
}

pub fn run(a: MigrateArgs) -> anyhow::Result<ExitCode> {
    if !a.from.is_file() {
        anyhow::bail!(
            "{}: no such SQLite catalog: give --from the storage.database file of the node to copy",
            a.from.display()
        );
    }
    let url = PostgresUrl::parse(&a.to).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    let source = Store::open(&a.from)?;
    let rt = super::runtime()?;
    let counts = rt.block_on(async {
        let target = PgCatalog::open(&url).await?;
        println!("copying {} into {}", a.from.display(), url);
        crate::store::postgres::migrate::copy(&source, &target, |table, n| {
            println!("  {table}: {n} rows");
        })
        .await
    })?;
    let mut bad = 0;
    for c in &counts {
        if c.source != c.target {
            bad += 1;
            eprintln!(
                "  {}: {} rows in the SQLite catalog but {} in PostgreSQL",
                c.table, c.source, c.target
            );
        }
    }
    if bad > 0 {
        anyhow::bail!("{bad} table(s) differ after the copy: the PostgreSQL catalog is not a faithful copy; drop and recreate it, then run iglive migrate again");
    }
    let total: i64 = counts.iter().map(|c| c.target).sum();
    println!(
        "verified: {} tables, {total} rows, counts equal in both catalogs",
        counts.len()
    );
    Ok(ExitCode::SUCCESS)
}
