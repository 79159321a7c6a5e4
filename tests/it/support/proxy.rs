//! A small HTTP forward proxy on loopback: it takes absolute-form requests
//! (`GET http://127.0.0.1:PORT/path`), as clients send them to a proxy, forwards them and
//! remembers their paths; or, `refusing`, it drops every connection at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub struct Proxy {
    addr: SocketAddr,
    paths: Arc<Mutex<Vec<String>>>,
    refused: Arc<AtomicUsize>,
}

impl Proxy {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn paths(&self) -> Vec<String> {
        self.paths.lock().expect("paths").clone()
    }

    /// Connections dropped unanswered.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// A proxy that forwards everything.
    pub async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let proxy = Proxy {
            addr: listener.local_addr().expect("addr"),
            paths: Arc::default(),
            refused: Arc::default(),
        };
        let (paths, upstream) = (
            proxy.paths.clone(),
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (paths, upstream) = (paths.clone(), upstream.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        forward(req, paths.clone(), upstream.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        proxy
    }

    /// A proxy that accepts connections and closes them without a word.
    pub async fn refusing() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let proxy = Proxy {
            addr: listener.local_addr().expect("addr"),
            paths: Arc::default(),
            refused: Arc::default(),
        };
        let refused = proxy.refused.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                refused.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        proxy
    }
}

async fn forward(
    req: Request<hyper::body::Incoming>,
    paths: Arc<Mutex<Vec<String>>>,
    upstream: reqwest::Client,
) -> Result<Response<Body>, std::io::Error> {
    let uri = req.uri().to_string();
    paths
        .lock()
        .expect("paths")
        .push(req.uri().path().to_string());
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(Body::new(body), 1 << 20)
        .await
        .unwrap_or_default();
    let mut out = upstream.request(parts.method, &uri).body(body);
    for (k, v) in &parts.headers {
        if k != "host" && k != "proxy-connection" {
            out = out.header(k, v);
        }
    }
    let answer = match out.send().await {
        Ok(a) => a,
        Err(_) => {
            let mut r = Response::new(Body::from("upstream unreachable"));
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            return Ok(r);
        }
    };
    let mut resp = Response::builder().status(answer.status());
    for (k, v) in answer.headers() {
        resp = resp.header(k, v);
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    Ok(resp.body(Body::from(bytes)).unwrap_or_default())
}
