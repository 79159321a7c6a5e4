//! What every benchmark needs: knobs from the environment and the runtime of a 2-core machine.

/// A numeric knob from the environment (`N=50 cargo bench …`), else `default`.
#[allow(dead_code)] // not every benchmark has knobs
pub fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A multi-threaded runtime with two workers, as on the machines the figures come from.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
