//! The throwaway PostgreSQL server of `scripts/test-postgres`: a database of its own per test
//! (so the tests run in parallel), and stopping and starting the whole server (for a test
//! that holds the server alone: the others wait).

use std::sync::LazyLock;
use std::time::Duration;

use iglive::{Catalog, Write};
use tokio::sync::RwLock;

/// Held shared by every test using the server, alone by one that stops it.
static SERVER: LazyLock<RwLock<()>> = LazyLock::new(|| RwLock::new(()));

/// A test's own database, and its hold on the server.
pub struct TestDb {
    pub url: String,
    _server: Box<dyn std::any::Any + Send + Sync>,
}

/// The server's URL (the `postgres` database, as the superuser).
fn admin_url() -> String {
    std::env::var("IGLIVE_TEST_POSTGRES_URL")
        .expect("IGLIVE_TEST_POSTGRES_URL is set: run these tests with scripts/test-postgres")
}

/// `admin_url` with another database name.
pub fn url_of(database: &str) -> String {
    let mut u = url::Url::parse(&admin_url()).expect("IGLIVE_TEST_POSTGRES_URL is a URL");
    u.set_path(database);
    u.to_string()
}

/// `admin_url` with another password (for the wrong-password test).
pub fn url_with_password(database: &str, password: &str) -> String {
    let mut u = url::Url::parse(&url_of(database)).expect("url");
    u.set_password(Some(password)).expect("password");
    u.to_string()
}

/// The server's password, which no message may show.
pub fn password() -> String {
    url::Url::parse(&admin_url())
        .expect("url")
        .password()
        .expect("the test URL has a password")
        .to_string()
}

/// A new empty database named after the test, the server shared with other tests.
pub async fn database(name: &str) -> TestDb {
    let guard = SERVER.read().await;
    TestDb {
        url: create(name).await,
        _server: Box::new(guard),
    }
}

/// Like `database`, with the server held alone (the test may stop it).
pub async fn database_alone(name: &str) -> TestDb {
    let guard = SERVER.write().await;
    TestDb {
        url: create(name).await,
        _server: Box::new(guard),
    }
}

async fn create(name: &str) -> String {
    let unique = format!(
        "{}_{}",
        name.to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        uuid::Uuid::new_v4().simple()
    );
    let (client, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
        .await
        .expect("the test server answers");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {unique}"))
        .await
        .expect("create database");
    url_of(&unique)
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

/// One query's single bigint answer (e.g. a count).
pub async fn scalar(url: &str, sql: &str) -> i64 {
    connect(url)
        .await
        .query_one(sql, &[])
        .await
        .expect(sql)
        .get(0)
}

/// Runs statements the test needs beside iglive's own (e.g. a constraint of its own).
pub async fn execute(url: &str, sql: &str) {
    connect(url).await.batch_execute(sql).await.expect(sql);
}

/// Runs `pg_ctl ACTION` on the test server (`stop -m fast` cuts every connection).
fn pg_ctl(action: &[&str]) {
    let data = std::env::var("IGLIVE_TEST_POSTGRES_DATA").expect("IGLIVE_TEST_POSTGRES_DATA");
    let log = std::env::var("IGLIVE_TEST_POSTGRES_LOG").expect("IGLIVE_TEST_POSTGRES_LOG");
    let ctl = std::env::var("IGLIVE_TEST_POSTGRES_CTL").expect("IGLIVE_TEST_POSTGRES_CTL");
    let mut words = ctl.split_whitespace();
    let program = words.next().expect("a pg_ctl command");
    let status = std::process::Command::new(program)
        .args(words)
        .args(["-D", &data, "-l", &log, "-w", "-t", "30"])
        .args(action)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("pg_ctl runs");
    assert!(status.success(), "pg_ctl {action:?}: {status}");
}

/// Stops the server; every connection is cut and new ones are refused until `start`.
pub fn stop() {
    pg_ctl(&["-m", "fast", "stop"]);
}

/// Starts the server again, as the script configured it.
pub fn start() -> Duration {
    let started = std::time::Instant::now();
    pg_ctl(&["start"]);
    started.elapsed()
}

/// Writes `writes` in order through a writer of `catalog`; returns once they are committed and
/// the writer has stopped.
pub async fn write_all(catalog: &Catalog, writes: impl IntoIterator<Item = Write>) {
    let (writer, thread) = catalog.spawn_writer().expect("writer");
    for w in writes {
        writer.send(w).await.expect("send");
    }
    writer.flush().await.expect("flush");
    drop(writer);
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .expect("join");
}
