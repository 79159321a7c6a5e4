//! The throwaway PostgreSQL server of `scripts/test-postgres`: a database of its own per test
//! (so the tests run in parallel), and a restart of the whole server.

use std::time::Duration;

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

/// A new empty database named after the test; its URL.
pub async fn database(name: &str) -> String {
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

/// One query's single bigint answer (e.g. a count).
pub async fn scalar(url: &str, sql: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client.query_one(sql, &[]).await.expect(sql).get(0)
}

/// Restarts the server (`pg_ctl restart -m fast`): every connection is cut.
pub fn restart() -> Duration {
    let data = std::env::var("IGLIVE_TEST_POSTGRES_DATA").expect("IGLIVE_TEST_POSTGRES_DATA");
    let ctl = std::env::var("IGLIVE_TEST_POSTGRES_CTL").expect("IGLIVE_TEST_POSTGRES_CTL");
    let mut words = ctl.split_whitespace();
    let program = words.next().expect("a pg_ctl command");
    let started = std::time::Instant::now();
    let status = std::process::Command::new(program)
        .args(words)
        .args(["-D", &data, "-m", "fast", "-w", "-t", "30", "restart"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("pg_ctl runs");
    assert!(status.success(), "pg_ctl restart: {status}");
    started.elapsed()
}
