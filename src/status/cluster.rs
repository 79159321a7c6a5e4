//! `GET /cluster`: this node among the nodes sharing a PostgreSQL catalog — its name, the
//! living nodes as its last heartbeat saw them, and how many of the watched accounts it polls.
//! On the SQLite catalog there is no cluster (`{"clustered": false}`).

use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::StatusState;

/// Written by the daemon at each membership change, read by the endpoint and `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct ClusterBoard {
    inner: Arc<RwLock<Option<ClusterView>>>,
}

/// This node's view of the others.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClusterView {
    pub node: String,
    /// The living nodes, this one included.
    pub nodes: Vec<String>,
    /// Watched accounts this node polls (its share).
    pub accounts_polled: usize,
    pub accounts_watched: usize,
}

impl ClusterBoard {
    pub fn set(&self, view: ClusterView) {
        if let Ok(mut b) = self.inner.write() {
            *b = Some(view);
        }
    }

    pub fn get(&self) -> Option<ClusterView> {
        self.inner.read().ok().and_then(|b| b.clone())
    }
}

#[derive(Serialize)]
struct Document {
    clustered: bool,
    #[serde(flatten)]
    view: Option<ClusterView>,
}

pub(super) async fn cluster(State(state): State<StatusState>) -> Response {
    let view = state.cluster.get();
    Json(Document {
        clustered: view.is_some(),
        view,
    })
    .into_response()
}
