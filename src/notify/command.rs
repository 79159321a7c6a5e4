//! Command hooks: a program run with the event's facts in `IGLIVE_*` variables and as JSON on
//! stdin. No shell is involved unless the operator wrote `shell = "…"`, so no fact (a username,
//! a broadcast message) is ever parsed as part of a command line. The command runs in its own
//! process group and the whole group is killed at the timeout, so a hook that hangs (or leaves
//! children behind) cannot pile up.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::config::HookCommand;

/// How much of a failing command's stderr is quoted in the log.
const STDERR_TAIL: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("cannot start {program:?}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("killed after {0:?} without finishing")]
    Timeout(Duration),
    #[error("exited with {status}{stderr}")]
    Failed { status: String, stderr: String },
    #[error("waiting for it failed: {0}")]
    Wait(std::io::Error),
}

pub async fn run(
    cmd: &HookCommand,
    env: &[(&'static str, String)],
    stdin: &[u8],
    timeout: Duration,
) -> Result<(), CommandError> {
    let (program, args): (&str, Vec<&str>) = match cmd {
        HookCommand::Argv(argv) => match argv.split_first() {
            Some((p, rest)) => (p.as_str(), rest.iter().map(String::as_str).collect()),
            None => {
                return Err(CommandError::Spawn {
                    program: String::new(),
                    source: std::io::Error::other("empty command"),
                })
            }
        },
        HookCommand::Shell(script) => ("/bin/sh", vec!["-c", script.as_str()]),
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(&args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| CommandError::Spawn {
        program: program.to_string(),
        source,
    })?;
    let mut group = GroupGuard(child.id().and_then(|p| i32::try_from(p).ok()));
    let mut child_stdin = child.stdin.take();
    let mut child_stderr = child.stderr.take();
    let work = async {
        let write = async {
            if let Some(mut w) = child_stdin.take() {
                // A command that ignores stdin closes the pipe early: that is its right.
                let _ = w.write_all(stdin).await;
            }
        };
        let read = async {
            let mut err = Vec::new();
            if let Some(r) = child_stderr.as_mut() {
                let mut chunk = [0u8; 1024];
                loop {
                    match r.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            err.extend_from_slice(&chunk[..n]);
                            if err.len() > STDERR_TAIL * 2 {
                                err.drain(..err.len() - STDERR_TAIL);
                            }
                        }
                    }
                }
            }
            err
        };
        let ((), err) = tokio::join!(write, read);
        let status = child.wait().await;
        (status, err)
    };
    let finished = tokio::time::timeout(timeout, work).await;
    if finished.is_ok() {
        // The hook ended by itself: what it deliberately left running (setsid, nohup) stays.
        group.0 = None;
    }
    match finished {
        Ok((Ok(status), _)) if status.success() => Ok(()),
        Ok((Ok(status), err)) => {
            let text = String::from_utf8_lossy(&err[err.len().saturating_sub(STDERR_TAIL)..])
                .trim()
                .to_string();
            Err(CommandError::Failed {
                status: status.to_string(),
                stderr: if text.is_empty() {
                    String::new()
                } else {
                    format!(": {text}")
                },
            })
        }
        Ok((Err(e), _)) => Err(CommandError::Wait(e)),
        // The guard kills the whole group on the way out.
        Err(_) => Err(CommandError::Timeout(timeout)),
    }
}

/// Kills the hook's process group when the run is abandoned (timed out, or the daemon dropping
/// the task at exit), so nothing of a hanging hook outlives it.
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(v: &[&str]) -> HookCommand {
        HookCommand::Argv(v.iter().map(|s| s.to_string()).collect())
    }

    #[tokio::test]
    async fn facts_arrive_in_env_and_stdin_without_a_shell() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        // `sh -c` here is the test's own script; the username reaches it only as data.
        let script = format!(
            "cat > {o}.json; printf '%s' \"$IGLIVE_USERNAME\" > {o}.user",
            o = out.display()
        );
        let env = vec![("IGLIVE_USERNAME", "x; touch pwned".to_string())];
        run(
            &argv(&["/bin/sh", "-c", &script]),
            &env,
            b"{\"a\":1}",
            Duration::from_secs(10),
        )
        .await
        .expect("runs");
        assert_eq!(
            std::fs::read_to_string(out.with_extension("json")).expect("stdin"),
            "{\"a\":1}"
        );
        assert_eq!(
            std::fs::read_to_string(out.with_extension("user")).expect("env"),
            "x; touch pwned"
        );
        assert!(!dir.path().join("pwned").exists());
    }

    #[tokio::test]
    async fn failures_and_hangs_are_bounded_errors() {
        let e = run(
            &argv(&["/bin/sh", "-c", "echo boom >&2; exit 3"]),
            &[],
            b"",
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("boom"), "{e}");
        let started = std::time::Instant::now();
        let e = run(
            &HookCommand::Shell("sleep 30 & sleep 30".into()),
            &[],
            b"",
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, CommandError::Timeout(_)), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let e = run(
            &argv(&["/nonexistent/hook"]),
            &[],
            b"",
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, CommandError::Spawn { .. }), "{e}");
    }
}
