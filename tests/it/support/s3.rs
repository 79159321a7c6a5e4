//! The S3 server of `scripts/test-s3` (moto on loopback: `IGLIVE_TEST_S3_ENDPOINT`,
//! `IGLIVE_TEST_S3_BUCKET`), a per-test key prefix, a client to read the bucket back, and a
//! TCP gate in front of the server that a test closes to simulate an outage.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The test server and a prefix of its own for one test.
pub struct S3 {
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
    pub client: Arc<dyn ObjectStore>,
}

impl S3 {
    /// Panics with how to run it when `scripts/test-s3` did not start a server.
    pub fn from_env() -> S3 {
        let endpoint = std::env::var("IGLIVE_TEST_S3_ENDPOINT")
            .expect("IGLIVE_TEST_S3_ENDPOINT is not set: run scripts/test-s3");
        let bucket =
            std::env::var("IGLIVE_TEST_S3_BUCKET").unwrap_or_else(|_| "iglive-test".into());
        let client = AmazonS3Builder::new()
            .with_endpoint(&endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(&bucket)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()
            .expect("s3 client");
        S3 {
            endpoint,
            bucket,
            prefix: format!("t-{}", uuid::Uuid::new_v4().simple()),
            client: Arc::new(client),
        }
    }

    /// The `[storage]` keys for the daemon (appended to the harness's `[storage]` section),
    /// against `endpoint` (the server, or a gate in front of it).
    pub fn storage_keys(&self, endpoint: &str, extra: &str) -> String {
        format!(
            "object_store = \"s3://{}/{}\"\nendpoint = \"{endpoint}\"\nallow_http = true\nregion = \"us-east-1\"\n{extra}\n",
            self.bucket, self.prefix
        )
    }

    /// Every object under the test's prefix: key relative to it → size.
    pub async fn objects(&self) -> BTreeMap<String, u64> {
        let prefix = Key::from(self.prefix.as_str());
        let mut out = BTreeMap::new();
        let mut s = self.client.list(Some(&prefix));
        while let Some(m) = s.next().await {
            let m = m.expect("list");
            let rel = m.location.as_ref()[self.prefix.len() + 1..].to_string();
            out.insert(rel, m.size);
        }
        out
    }

    pub async fn bytes(&self, rel: &str) -> Vec<u8> {
        let key = Key::from(format!("{}/{rel}", self.prefix));
        self.client
            .get(&key)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body")
            .to_vec()
    }
}

/// Adds the object-store keys to a harness config's `[storage]` section.
pub fn with_storage(config: String, keys: &str) -> String {
    config.replacen("[storage]\n", &format!("[storage]\n{keys}"), 1)
}

/// Every regular file under `dir`, relative to `base`, with its bytes.
pub fn local_files(base: &Path, dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let e = e.expect("entry");
            let ty = e.file_type().expect("type");
            if ty.is_dir() {
                todo.push(e.path());
            } else if ty.is_file() {
                let rel = e
                    .path()
                    .strip_prefix(base)
                    .expect("under base")
                    .display()
                    .to_string();
                out.insert(rel, std::fs::read(e.path()).expect("read"));
            }
        }
    }
    out
}

/// A TCP forwarder to the S3 server that can be closed (every connection cut, new ones
/// dropped at once) and opened again.
pub struct Gate {
    addr: SocketAddr,
    open: Arc<Mutex<Option<CancellationToken>>>,
}

impl Gate {
    pub async fn start(upstream: &str) -> Gate {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("endpoint host:port");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let gate = Gate {
            addr: listener.local_addr().expect("addr"),
            open: Arc::new(Mutex::new(Some(CancellationToken::new()))),
        };
        let open = gate.open.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let Some(token) = open.lock().expect("gate").clone() else {
                    drop(client);
                    continue;
                };
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        gate
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts every connection and drops new ones until `open`.
    pub fn close(&self) {
        if let Some(t) = self.open.lock().expect("gate").take() {
            t.cancel();
        }
    }

    pub fn open(&self) {
        let mut g = self.open.lock().expect("gate");
        if g.is_none() {
            *g = Some(CancellationToken::new());
        }
    }
}
