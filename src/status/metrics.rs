//! `/metrics` in the Prometheus text format (version 0.0.4), written by hand: a dozen series do
//! not justify a metrics framework.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::StatusState;

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.0, "{name}");
        if !labels.is_empty() {
            let l: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
                .collect();
            let _ = write!(self.0, "{{{}}}", l.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }
}

pub async fn render(state: &StatusState) -> String {
    // Totals the database knows: recordings by state and capture figures.
    let (by_state, sums) = state.store.recording_totals().await.unwrap_or_default();
    let mut o = Out(String::new());
    recordings(&mut o, state, &by_state);
    capture_totals(&mut o, sums);
    instagram(&mut o, state);
    database(&mut o, state);
    cluster(&mut o, state);
    o.family(
        "iglive_start_time_seconds",
        "gauge",
        "Unix time the daemon started.",
    );
    o.sample("iglive_start_time_seconds", &[], state.started_at);
    o.0
}

/// What is watched and recorded: accounts, recordings by state, recordings running now.
fn recordings(o: &mut Out, state: &StatusState, by_state: &[(String, i64)]) {
    let accounts = state.accounts.snapshot();
    o.family(
        "iglive_accounts_watched",
        "gauge",
        "Accounts in the watch list.",
    );
    o.sample(
        "iglive_accounts_watched",
        &[],
        accounts.watched.len() as f64,
    );
    o.family(
        "iglive_recordings",
        "gauge",
        "Recordings by state (database).",
    );
    // Every state gets a sample, zero included, so a series never disappears.
    for st in crate::states::RecordingState::ALL.map(|s| s.as_str()) {
        let n = by_state
            .iter()
            .find(|(k, _)| k == st)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        o.sample("iglive_recordings", &[("state", st)], n as f64);
    }
    o.family(
        "iglive_recordings_in_progress",
        "gauge",
        "Recordings this process is running now.",
    );
    o.sample(
        "iglive_recordings_in_progress",
        &[],
        state.registry.len() as f64,
    );
    o.family(
        "iglive_recordings_waiting",
        "gauge",
        "Lives waiting for a recording slot (recording.max_concurrent) or disk space.",
    );
    o.sample(
        "iglive_recordings_waiting",
        &[],
        state.registry.waiting() as f64,
    );
}

/// This node among the others, when the catalog is shared (nothing on SQLite).
fn cluster(o: &mut Out, state: &StatusState) {
    let Some(v) = state.cluster.get() else {
        return;
    };
    o.family(
        "iglive_cluster_nodes",
        "gauge",
        "Living nodes sharing the catalog, as this node's last heartbeat saw them.",
    );
    o.sample(
        "iglive_cluster_nodes",
        &[("node", &v.node)],
        v.nodes.len() as f64,
    );
    o.family(
        "iglive_cluster_accounts_polled",
        "gauge",
        "Watched accounts this node polls (its share over the living nodes).",
    );
    o.sample(
        "iglive_cluster_accounts_polled",
        &[("node", &v.node)],
        v.accounts_polled as f64,
    );
}

/// Bytes and segments captured over all recordings (`sums` from `db_figures`).
fn capture_totals(o: &mut Out, sums: [i64; 3]) {
    o.family(
        "iglive_bytes_captured_total",
        "counter",
        "Media bytes captured, all recordings.",
    );
    o.sample("iglive_bytes_captured_total", &[], sums[0] as f64);
    o.family(
        "iglive_segments_captured_total",
        "counter",
        "DASH segments captured, all recordings.",
    );
    o.sample("iglive_segments_captured_total", &[], sums[1] as f64);
    o.family(
        "iglive_segments_missing_total",
        "counter",
        "DASH segments given up on, all recordings.",
    );
    o.sample("iglive_segments_missing_total", &[], sums[2] as f64);
}

/// The private API, per session of the pool: requests, the budget, throttling and state.
fn instagram(o: &mut Out, state: &StatusState) {
    let members = state.pool.members();
    o.family(
        "iglive_api_requests_total",
        "counter",
        "Private-API requests by session, endpoint and outcome.",
    );
    for m in &members {
        for ((endpoint, outcome), n) in m.client.stats() {
            o.sample(
                "iglive_api_requests_total",
                &[
                    ("session", &m.name),
                    ("endpoint", endpoint.as_str()),
                    ("outcome", outcome),
                ],
                n as f64,
            );
        }
    }
    budgets(o, &members);
    health(o, &members);
}

/// Each session's request budget: its limit, what the last minute used, who waits.
fn budgets(o: &mut Out, members: &[crate::pool::Member]) {
    let figures: Vec<_> = members
        .iter()
        .map(|m| (m.name.as_str(), m.client.budget().figures()))
        .collect();
    o.family(
        "iglive_session_budget_per_minute",
        "gauge",
        "The session's request budget: requests allowed in any 60 s.",
    );
    for (name, f) in &figures {
        o.sample(
            "iglive_session_budget_per_minute",
            &[("session", name)],
            f.limit as f64,
        );
    }
    o.family(
        "iglive_session_requests_last_minute",
        "gauge",
        "Requests the session sent in the last 60 s.",
    );
    for (name, f) in &figures {
        o.sample(
            "iglive_session_requests_last_minute",
            &[("session", name)],
            f.used as f64,
        );
    }
    o.family(
        "iglive_session_requests_waiting",
        "gauge",
        "Requests waiting for a slot in the session's budget, by priority class.",
    );
    for (name, f) in &figures {
        for class in crate::instagram::Priority::ALL {
            let n = f.waiting[class as usize];
            o.sample(
                "iglive_session_requests_waiting",
                &[("session", name), ("class", class.as_str())],
                f64::from(n),
            );
        }
    }
}

/// Throttling, slowdown and state of each session.
fn health(o: &mut Out, members: &[crate::pool::Member]) {
    o.family(
        "iglive_throttle_events_total",
        "counter",
        "Throttling answers from Instagram, by session.",
    );
    for m in members {
        let h = m.client.health();
        o.sample(
            "iglive_throttle_events_total",
            &[("session", &m.name)],
            h.throttle_events as f64,
        );
    }
    o.family(
        "iglive_session_slowdown",
        "gauge",
        "Factor stretching every polling interval after throttling.",
    );
    for m in members {
        o.sample(
            "iglive_session_slowdown",
            &[("session", &m.name)],
            m.client.health().slowdown,
        );
    }
    let states: Vec<_> = members
        .iter()
        .map(|m| (m.name.as_str(), m.state()))
        .collect();
    o.family(
        "iglive_session_expired",
        "gauge",
        "1 when Instagram refused the session (expired or challenged).",
    );
    for (name, s) in &states {
        let refused = if s.is_usable() { 0.0 } else { 1.0 };
        o.sample("iglive_session_expired", &[("session", name)], refused);
    }
    o.family(
        "iglive_session_state",
        "gauge",
        "1 for the session's state: ok, throttled, challenged, expired.",
    );
    for (name, s) in &states {
        o.sample(
            "iglive_session_state",
            &[("session", name), ("state", s.name())],
            1.0,
        );
    }
}

/// The database writer: rows committed and whether writes succeed.
fn database(o: &mut Out, state: &StatusState) {
    o.family(
        "iglive_db_rows_written_total",
        "counter",
        "Rows committed by the database writer.",
    );
    o.sample(
        "iglive_db_rows_written_total",
        &[],
        state.writer_stats.rows_written.load(Ordering::Relaxed) as f64,
    );
    o.family(
        "iglive_db_healthy",
        "gauge",
        "1 while database writes succeed.",
    );
    o.sample(
        "iglive_db_healthy",
        &[],
        if state.writer_stats.healthy.load(Ordering::Relaxed) {
            1.0
        } else {
            0.0
        },
    );
}
