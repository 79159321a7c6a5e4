//! Free space on the filesystem that holds the recordings: the floor below which no new
//! recording starts, a readiness check, and what a capture that cannot write waits for.

use std::path::Path;

/// Free bytes (available to unprivileged users) on the filesystem holding `path`.
pub fn free_space(path: &Path) -> std::io::Result<u64> {
    let st = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    Ok((st.blocks_available() as u64).saturating_mul(st.fragment_size() as u64))
}
