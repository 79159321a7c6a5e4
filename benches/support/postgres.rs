//! The benchmarks' PostgreSQL: the server `scripts/with-postgres` started
//! (`IGLIVE_TEST_POSTGRES_URL`), a database of its own per run.

/// The server's URL, when a script started one.
pub fn admin_url() -> Option<String> {
    std::env::var("IGLIVE_TEST_POSTGRES_URL").ok()
}

/// A new empty database on the server `admin` points at; its URL.
pub async fn fresh_database(admin: &str, prefix: &str) -> String {
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .expect("the server answers");
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let mut u = url::Url::parse(admin).expect("url");
    u.set_path(&name);
    u.to_string()
}
