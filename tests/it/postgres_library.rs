//! The library over the PostgreSQL catalog (scripts/test-postgres): the same recordings written
//! through the writer into a SQLite store and a PostgreSQL catalog, then the library's HTTP API
//! served over each answers the same JSON for every list (each filter, each sort, paged through
//! with the cursor), one recording, its comments, likes and viewers, the accounts and chat
//! search (words, a phrase, a prefix, CJK, no hit, hostile input), and the same 4xx for bad
//! input.

use serde_json::Value;

use iglive::{Catalog, PgCatalog, PostgresUrl};

use crate::support::library::{Archive, Rec, Server};
use crate::support::postgres;

/// 2026-11-25 00:00 UTC.
const T0: f64 = 1_795_564_800.0;
const FINISHED: &str = "17900000000005001";
const FAILED: &str = "17900000000005002";
const LIVE: &str = "17900000000005003";
const FILLERS: usize = 13;

/// Texts that try to be markup, query syntax or LIKE wildcards (no NUL: PostgreSQL cannot
/// store one, and its writer keeps such a comment with U+FFFD in its place, so the text read
/// back differs; see `store/postgres/apply.rs`).
const HOSTILE: [&str; 6] = [
    "<script>alert(1)</script>",
    "a --> b",
    "100% _sure_ \\ back",
    "\"OR\" NEAR(x) AND NOT *",
    "'; DROP TABLE comments; --",
    "&amp; stays &lt;literal&gt;",
];

fn comments(list: &[(&str, &str)], from: f64) -> Vec<(f64, String, String)> {
    list.iter()
        .enumerate()
        .map(|(i, (u, t))| (from + i as f64 * 0.25, u.to_string(), t.to_string()))
        .collect()
}

/// The fillers' broadcast ids.
fn filler_ids() -> Vec<String> {
    (0..FILLERS)
        .map(|i| format!("1790000000000{}", 6000 + i))
        .collect()
}

/// The archive's recordings: three with chat in several scripts (written in another order
/// than their ids'), and fillers (`ids`) whose figures tie and differ so that every sort pages
/// through ties.
fn recordings(ids: &[String]) -> Vec<Rec<'_>> {
    let mut recs = vec![
        Rec {
            username: Some("<b>evil</b>"),
            error: Some("ffmpeg failed: <b>boom</b>"),
            comments: comments(&[("x", "世界 again"), ("y", "morning good")], 1.0),
            ..Rec::new(FAILED, "8001", "failed", T0 - 4.0 * 86400.0)
        },
        Rec {
            username: Some("cafe.owner"),
            duration: Some(4.0),
            comments: {
                let mut c = comments(
                    &[
                        ("anna", "Café au lait ☕"),
                        ("bob", "naïve résumé"),
                        ("carl", "hello world, good morning"),
                        ("dora", "你好世界"),
                        ("emi", "日本語のコメントです"),
                        ("jin", "안녕하세요 친구들"),
                        ("Zoë", "Hello AGAIN"),
                    ],
                    0.5,
                );
                c.extend(comments(
                    &HOSTILE.iter().map(|t| ("mallory", *t)).collect::<Vec<_>>(),
                    2.5,
                ));
                c.extend((0..25).map(|i| {
                    (
                        5.0 + i as f64 * 0.05,
                        format!("viewer{}", i % 4),
                        format!("filler comment {i}"),
                    )
                }));
                c
            },
            ..Rec::new(FINISHED, "8002", "finished", T0 - 5.0 * 86400.0)
        },
        Rec {
            username: Some("Nihon"),
            duration: None,
            comments: comments(&[("x", "まだ配信中"), ("y", "hello from live")], 1.0),
            ..Rec::new(LIVE, "8003", "recording", T0 - 3600.0)
        },
    ];
    for (i, id) in ids.iter().enumerate() {
        recs.push(Rec {
            username: Some(if i % 2 == 0 { "filler" } else { "Alpha" }),
            duration: Some(10.0 * (i % 4) as f64),
            comments: (0..(i % 3))
                .map(|k| (k as f64, "f".to_string(), format!("filler {i} {k}")))
                .collect(),
            ..Rec::new(
                id,
                if i % 2 == 0 { "8004" } else { "8005" },
                if i % 5 == 0 { "failed" } else { "finished" },
                // Pairs start at the same second: the sort's ties go by broadcast id.
                T0 - 10.0 * 86400.0 - (i / 2) as f64 * 3600.0,
            )
        });
    }
    recs
}

/// The API served over both catalogs of one archive (SQLite first).
struct Both {
    _archive: Archive,
    db: postgres::TestDb,
    sqlite: Server,
    pg: Server,
}

async fn both(name: &str) -> Both {
    let archive = Archive::new(
        &[
            ("8001", Some("evil")),
            ("8002", Some("Café Owner")),
            ("8003", None),
        ],
        "",
    );
    let db = postgres::database(name).await;
    let url = PostgresUrl::parse(&db.url).expect("url");
    let pg = Catalog::Postgres(PgCatalog::open(&url).await.expect("postgres"));
    let ids = filler_ids();
    let recs = recordings(&ids);
    archive.write(&recs).await;
    archive.write_into(&pg, &recs).await;
    let sqlite = archive.serve().await;
    let pg = archive.serve_catalog(pg).await;
    Both {
        _archive: archive,
        db,
        sqlite,
        pg,
    }
}

/// What must be equal in an answer: the status, `data` (less the time each backend stored the
/// row, `last_update`, which is the writer's clock) and the error code.
fn comparable(a: &crate::support::library::Answer) -> Value {
    let mut data = a.json["data"].clone();
    strip(&mut data);
    serde_json::json!({
        "status": a.status,
        "data": data,
        "error": a.json["error"]["code"],
        "last_page": a.json["meta"]["next_cursor"].is_null(),
    })
}

fn strip(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("last_update");
            m.values_mut().for_each(strip);
        }
        Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

impl Both {
    /// Asks both; they answer alike. Returns SQLite's answer.
    async fn same(&self, path: &str) -> crate::support::library::Answer {
        let (s, p) = (self.sqlite.get(path).await, self.pg.get(path).await);
        assert_eq!(comparable(&s), comparable(&p), "{path}");
        s
    }

    /// Pages through a list on both, each following its own cursor; the pages are alike and
    /// the cursors too when `same_cursors` (search's are index positions of each backend).
    async fn same_pages(&self, path: &str, limit: usize, same_cursors: bool) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (mut cs, mut cp): (Option<String>, Option<String>) = (None, None);
        let mut out = Vec::new();
        for _ in 0..200 {
            let page = |c: &Option<String>| match c {
                None => format!("{path}{sep}limit={limit}"),
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            };
            let (s, p) = (
                self.sqlite.get(&page(&cs)).await,
                self.pg.get(&page(&cp)).await,
            );
            assert_eq!(s.status, 200, "{path}: {}", s.json);
            assert_eq!(
                comparable(&s),
                comparable(&p),
                "{} / {}",
                page(&cs),
                page(&cp)
            );
            if same_cursors {
                assert_eq!(s.json["meta"]["next_cursor"], p.json["meta"]["next_cursor"]);
            }
            out.extend(s.json["data"].as_array().expect("a list").iter().cloned());
            cs = s.json["meta"]["next_cursor"].as_str().map(str::to_string);
            cp = p.json["meta"]["next_cursor"].as_str().map(str::to_string);
            if cs.is_none() {
                return out;
            }
        }
        panic!("{path}: more than 200 pages");
    }
}

fn q(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_library_lists_recordings_as_sqlite() {
    let b = both("postgres_library_lists").await;
    let all = b.same_pages("/api/v1/recordings", 4, true).await;
    assert_eq!(all.len(), 3 + FILLERS);
    for sort in [
        "started",
        "duration",
        "comments",
        "peak_viewers",
        "likes",
        "account",
    ] {
        for order in ["asc", "desc"] {
            let items = b
                .same_pages(
                    &format!("/api/v1/recordings?sort={sort}&order={order}"),
                    3,
                    true,
                )
                .await;
            assert_eq!(items.len(), 3 + FILLERS, "{sort} {order}");
        }
    }
    for filter in [
        "account=8004",
        "account=evil",
        "account=cafe.owner",
        "account=nobody",
        "status=failed,recording",
        "status=finished",
        "since=2026-11-20",
        "until=2026-11-20",
        "since=2026-11-10&until=2026-11-21&sort=account",
        "account=Alpha&sort=duration&order=asc",
        "fields=broadcast_id,comments",
    ] {
        b.same_pages(&format!("/api/v1/recordings?{filter}"), 2, true)
            .await;
    }
    for id in [FINISHED, FAILED, LIVE, "17900000000009999"] {
        b.same(&format!("/api/v1/recordings/{id}")).await;
    }
    let live = b.same("/api/v1/live").await;
    assert_eq!(live.json["data"][0]["broadcast_id"], LIVE, "{}", live.json);
    let accounts = b.same("/api/v1/accounts").await;
    assert!(accounts.json["data"]
        .as_array()
        .is_some_and(|a| a.len() >= 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_library_pages_comments_likes_and_viewers_as_sqlite() {
    let b = both("postgres_library_pages").await;
    for id in [FINISHED, FAILED, LIVE] {
        for limit in [1, 4, 50] {
            b.same_pages(&format!("/api/v1/recordings/{id}/comments"), limit, true)
                .await;
        }
        b.same_pages(
            &format!("/api/v1/recordings/{id}/comments?from_s=3"),
            5,
            true,
        )
        .await;
        b.same_pages(&format!("/api/v1/recordings/{id}/likes"), 2, true)
            .await;
        b.same_pages(&format!("/api/v1/recordings/{id}/viewers"), 3, true)
            .await;
        b.same(&format!("/api/v1/recordings/{id}/chat?format=vtt"))
            .await;
    }
    let all = b
        .same_pages(&format!("/api/v1/recordings/{FINISHED}/comments"), 7, true)
        .await;
    assert_eq!(all.len(), 7 + HOSTILE.len() + 25);
    let chat_s = b
        .sqlite
        .get(&format!("/api/v1/recordings/{FINISHED}/chat?format=jsonl"))
        .await;
    let chat_p =
        b.pg.get(&format!("/api/v1/recordings/{FINISHED}/chat?format=jsonl"))
            .await;
    assert_eq!(chat_s.bytes, chat_p.bytes);
    b.same("/api/v1/recordings/17900000000009999/comments")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_library_searches_as_sqlite() {
    let b = both("postgres_library_search").await;
    // The test server's superuser can create pg_trgm: the searches run on its indexes.
    let trgm = "SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'comments_%_trgm'";
    assert_eq!(postgres::scalar(&b.db.url, trgm).await, 2);
    b.same_searches().await;
    assert_eq!(
        b.same_pages(&format!("/api/v1/search?q={}", q("mallory")), 2, false)
            .await
            .len(),
        HOSTILE.len(),
        "usernames are searched"
    );
    assert!(
        b.same_pages(&format!("/api/v1/search?q={}", q("filler")), 4, false)
            .await
            .len()
            > 25
    );
    let within = b
        .same_pages(
            &format!("/api/v1/search?q=hello&broadcast_id={LIVE}"),
            5,
            false,
        )
        .await;
    assert_eq!(texts(&within), vec!["hello from live"]);
}

/// The search cases both backends must answer alike, with the hits expected when given.
const SEARCHES: &[(&str, Option<&[&str]>)] = &[
    ("cafe", Some(&["Café au lait ☕"])),
    ("CAFÉ LAIT", Some(&["Café au lait ☕"])),
    ("resume naive", Some(&["naïve résumé"])),
    ("hel*", None),
    ("hel", Some(&[])),
    ("\"good morning\"", None),
    ("zoe", Some(&["Hello AGAIN"])),
    // Newest stored first: FINISHED is written after FAILED, though its id sorts first.
    ("世界", Some(&["你好世界", "世界 again"])),
    ("日本語", Some(&["日本語のコメントです"])),
    ("コメント", Some(&["日本語のコメントです"])),
    ("친구", Some(&["안녕하세요 친구들"])),
    ("配信", Some(&["まだ配信中"])),
    ("mallory", None),
    ("filler comment", None),
    ("filler 1*", None),
    ("nothing-like-this", Some(&[])),
    ("script alert", Some(&["<script>alert(1)</script>"])),
    ("100% _sure_", Some(&["100% _sure_ \\ back"])),
    ("\"OR\" NEAR(x)", Some(&["\"OR\" NEAR(x) AND NOT *"])),
    ("'; DROP TABLE", Some(&["'; DROP TABLE comments; --"])),
    ("amp lt", Some(&["&amp; stays &lt;literal&gt;"])),
];

fn texts(hits: &[Value]) -> Vec<String> {
    hits.iter()
        .map(|h| h["text"].as_str().expect("text").to_string())
        .collect()
}

impl Both {
    /// Every case of `SEARCHES`, paged through on both.
    async fn same_searches(&self) {
        for (query, expected) in SEARCHES {
            let hits = self
                .same_pages(&format!("/api/v1/search?q={}", q(query)), 3, false)
                .await;
            if let Some(e) = expected {
                assert_eq!(texts(&hits), *e, "{query}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_library_searches_a_migrated_catalog_as_sqlite() {
    // The SQLite catalog copied by `iglive migrate`: the copy has no search columns, the next
    // open fills them, and the hits come in the same order as on SQLite.
    let archive = Archive::new(&[("8002", Some("Café Owner"))], "");
    let ids = filler_ids();
    archive.write(&recordings(&ids)).await;
    let db = postgres::database("postgres_library_migrated").await;
    let url = PostgresUrl::parse(&db.url).expect("url");
    let target = PgCatalog::open(&url).await.expect("postgres");
    iglive::migrate_catalog(&archive.store(), &target, |_, _| {})
        .await
        .expect("copy");
    let unfilled = "SELECT count(*) FROM comments WHERE search_words IS NULL";
    assert!(postgres::scalar(&db.url, unfilled).await > 40);
    drop(target);
    let reopened = PgCatalog::open(&url).await.expect("reopen");
    assert_eq!(postgres::scalar(&db.url, unfilled).await, 0);
    let b = Both {
        sqlite: archive.serve().await,
        pg: archive.serve_catalog(Catalog::Postgres(reopened)).await,
        _archive: archive,
        db,
    };
    b.same_searches().await;
    b.same_pages("/api/v1/recordings?sort=comments", 5, true)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_library_refuses_bad_input_as_sqlite() {
    let b = both("postgres_library_bad_input").await;
    let huge = "a".repeat(201);
    let many = "a b c d e f g h i";
    let crafted = |v: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    };
    let paths = [
        "/api/v1/recordings?cursor=not-a-cursor".to_string(),
        "/api/v1/recordings?cursor=%00%FF".to_string(),
        format!(
            "/api/v1/recordings?sort=comments&cursor={}",
            crafted(r#"{"k":"recordings/started/desc","v":{"key":1,"broadcast_id":"x"}}"#)
        ),
        format!("/api/v1/recordings/{FINISHED}/comments?cursor=eyJrIjoxfQ"),
        format!("/api/v1/recordings/{FINISHED}/likes?cursor=zzz"),
        format!("/api/v1/search?q={huge}"),
        format!("/api/v1/search?q={}", q(many)),
        "/api/v1/search?q=%20%21%21%21".to_string(),
        "/api/v1/search".to_string(),
        "/api/v1/search?q=cafe&cursor=bad".to_string(),
        "/api/v1/recordings?sort=size".to_string(),
        "/api/v1/recordings?limit=0".to_string(),
    ];
    for path in &paths {
        let a = b.same(path).await;
        assert_eq!(a.status, 400, "{path}: {}", a.json);
        assert!(
            a.json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{path}"
        );
    }
    // A cursor made by hand with a text where the sort has numbers pages as SQLite does.
    for order in ["asc", "desc"] {
        let c = crafted(&format!(
            r#"{{"k":"recordings/started/{order}","v":{{"key":"zzz","broadcast_id":"x"}}}}"#
        ));
        let a = b
            .same(&format!(
                "/api/v1/recordings?sort=started&order={order}&cursor={c}"
            ))
            .await;
        assert_eq!(a.status, 200, "{}", a.json);
    }
    let build_s = b.sqlite.get("/build").await;
    let build_p = b.pg.get("/build").await;
    assert_eq!(build_s.json["data"]["catalog"], "sqlite");
    assert_eq!(build_p.json["data"]["catalog"], "postgresql");
    assert_eq!(
        build_p.json["data"]["schema_version"],
        iglive::PG_SCHEMA_VERSION
    );
    let deps = b.pg.get("/deps").await;
    let db = deps.json["data"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "database")
        .cloned()
        .expect("database check");
    assert_eq!(db["ok"], true, "{db}");
    let detail = db["detail"].as_str().expect("detail");
    assert!(detail.starts_with("PostgreSQL postgres://"), "{detail}");
    assert!(!detail.contains(&postgres::password()), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_library_iglive_serve_reads_the_cluster_catalog() {
    use tokio::io::AsyncBufReadExt as _;
    let db = postgres::database("postgres_library_serve").await;
    let archive = Archive::new(
        &[("8002", Some("Café Owner"))],
        &format!("[cluster]\npostgres_url = \"{}\"\n", db.url),
    );
    let url = PostgresUrl::parse(&db.url).expect("url");
    let pg = Catalog::Postgres(PgCatalog::open(&url).await.expect("postgres"));
    let ids = filler_ids();
    archive.write_into(&pg, &recordings(&ids)).await;
    let config = archive.config_path.display().to_string();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_iglive"))
        .args(["serve", "-c", &config, "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("iglive serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .expect("iglive serve says where it listens within 30 s")
        .expect("stdout")
        .expect("a line");
    let base = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .map(|addr| format!("http://{addr}"))
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let s = Server::new(base, None);
    let list = s.all("/api/v1/recordings", 50).await;
    assert_eq!(list.len(), 3 + FILLERS);
    let hits = s.get(&format!("/api/v1/search?q={}", q("日本語"))).await;
    assert_eq!(hits.status, 200, "{}", hits.json);
    assert_eq!(
        texts(hits.json["data"].as_array().expect("hits")),
        vec!["日本語のコメントです"]
    );
    let build = s.get("/build").await;
    assert_eq!(build.json["data"]["catalog"], "postgresql");
    child.kill().await.expect("stop iglive serve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test-postgres"]
async fn postgres_library_searches_without_pg_trgm() {
    // A catalog owner who may not create extensions: migration 4 goes on without the trigram
    // indexes, and the search answers as SQLite's, by scanning.
    let admin = postgres::database("postgres_library_no_trgm").await;
    let role = format!("iglive_{}", uuid::Uuid::new_v4().simple());
    let (client, conn) = tokio_postgres::connect(&admin.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let db = url::Url::parse(&admin.url).expect("url");
    let db_name = db.path().trim_start_matches('/').to_string();
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'not-secret';
             ALTER DATABASE {db_name} OWNER TO {role};
             REVOKE CREATE ON DATABASE {db_name} FROM {role};
             ALTER SCHEMA public OWNER TO {role};"
        ))
        .await
        .expect("a role without CREATE on the database");
    let mut as_role = db.clone();
    as_role.set_username(&role).expect("user");
    as_role.set_password(Some("not-secret")).expect("password");
    let url = PostgresUrl::parse(as_role.as_str()).expect("url");
    let pg = Catalog::Postgres(
        PgCatalog::open(&url)
            .await
            .expect("migrates without pg_trgm"),
    );
    let trgm = "SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'comments_%_trgm'";
    assert_eq!(postgres::scalar(&admin.url, trgm).await, 0);
    let archive = Archive::new(&[("8002", Some("Café Owner"))], "");
    let ids = filler_ids();
    let recs = recordings(&ids);
    archive.write(&recs).await;
    archive.write_into(&pg, &recs).await;
    let b = Both {
        sqlite: archive.serve().await,
        pg: archive.serve_catalog(pg).await,
        _archive: archive,
        db: admin,
    };
    b.same_searches().await;
}
