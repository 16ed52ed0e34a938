//! The worker processes `sweep run` starts: N `sweep-worker run` children
//! with their output in `DIR/logs/worker-K.log`, noticing when one exits,
//! and stopping them all (SIGTERM, a second SIGTERM, then SIGKILL after a
//! grace period).
//!
//! Workers run in a process group of their own, so a Ctrl-C at the terminal
//! reaches only `sweep`, which then stops them in order; on Linux each is
//! also killed if `sweep` itself dies (its in-process coordinator is gone
//! then, so there is nobody left to report to), so none is left running.

use crate::error::CliError;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use sweep_runtime::logging::LogFormat;
use tokio::sync::mpsc;

/// How to start each worker.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub bin: PathBuf,
    pub coordinator_url: String,
    /// Intra-op threads per worker (`--threads`).
    pub threads: u32,
    /// Extra arguments for every worker (`--worker-arg`).
    pub extra_args: Vec<String>,
    /// The worker token's file (`--token-file`), if the coordinator wants one.
    pub token_file: Option<PathBuf>,
    /// `DIR`: logs go to `DIR/logs/worker-K.log`, report spools to `DIR/workers/worker-K`.
    pub dir: PathBuf,
    /// The workers' `--log-format`.
    pub log_format: LogFormat,
}

impl WorkerSpec {
    /// The arguments of worker `k` (1-based).
    pub fn args(&self, k: usize) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "run".into(),
            "--coordinator".into(),
            self.coordinator_url.clone().into(),
            "--threads".into(),
            self.threads.to_string().into(),
            "--name".into(),
            format!("worker-{k}").into(),
            "--state-dir".into(),
            self.dir.join("workers").join(format!("worker-{k}")).into(),
            // One machine: its workers share what their trials compute alike.
            "--shared-dir".into(),
            self.dir.join("workers").join("shared").into(),
        ];
        if let Some(file) = &self.token_file {
            args.extend(["--token-file".into(), file.into()]);
        }
        if self.log_format == LogFormat::Json {
            args.extend(["--log-format".into(), "json".into()]);
        }
        args.extend(self.extra_args.iter().map(OsString::from));
        args
    }

    pub fn log_path(&self, k: usize) -> PathBuf {
        self.dir.join("logs").join(format!("worker-{k}.log"))
    }
}

/// A worker process that ended.
#[derive(Debug, Clone)]
pub struct WorkerExit {
    /// 1-based, as in `worker-K.log`.
    pub index: usize,
    pub pid: u32,
    /// `exit status: 1`, `signal: 9 (SIGKILL)`, ...
    pub status: String,
    pub success: bool,
    pub log: PathBuf,
}

#[derive(Debug, Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

struct Handle {
    signals: mpsc::UnboundedSender<Signal>,
    exited: bool,
}

/// The running workers.
pub struct WorkerPool {
    handles: Vec<Handle>,
    exits: mpsc::UnboundedReceiver<WorkerExit>,
    alive: usize,
}

/// How long workers get after the first SIGTERM (which lets running trials
/// finish), when nothing is running any more and when hurrying (Ctrl-C).
const CALM_FIRST_WAIT: Duration = Duration::from_secs(10);
const HURRIED_FIRST_WAIT: Duration = Duration::from_secs(1);
/// After the second SIGTERM (cancel at once, hand trials back), before SIGKILL.
const GRACE: Duration = Duration::from_secs(10);
/// After SIGKILL, to collect the exits.
const KILL_WAIT: Duration = Duration::from_secs(5);

impl WorkerPool {
    /// Starts `count` workers. Their logs are truncated first.
    pub fn spawn(spec: &WorkerSpec, count: usize) -> Result<Self, CliError> {
        let logs = spec.dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|source| CliError::CannotCreate {
            path: logs.clone(),
            source,
        })?;
        let (exit_tx, exits) = mpsc::unbounded_channel();
        let mut pool = Self {
            handles: Vec::new(),
            exits,
            alive: 0,
        };
        for k in 1..=count {
            match spawn_one(spec, k, exit_tx.clone()) {
                Ok(handle) => {
                    pool.handles.push(handle);
                    pool.alive += 1;
                }
                Err(e) => {
                    // Leave nothing behind: the workers already started go.
                    for h in &pool.handles {
                        let _ = h.signals.send(Signal::Kill);
                    }
                    return Err(e);
                }
            }
        }
        Ok(pool)
    }

    /// Workers not known to have exited.
    pub fn alive(&self) -> usize {
        self.alive
    }

    /// The next worker to exit; `None` when none is left. Cancel-safe.
    pub async fn next_exit(&mut self) -> Option<WorkerExit> {
        if self.alive == 0 {
            return None;
        }
        let exit = self.exits.recv().await?;
        self.mark_exited(&exit);
        Some(exit)
    }

    fn mark_exited(&mut self, exit: &WorkerExit) {
        if let Some(h) = self.handles.get_mut(exit.index - 1) {
            if !h.exited {
                h.exited = true;
                self.alive -= 1;
            }
        }
    }

    fn signal_alive(&self, signal: Signal) {
        for h in self.handles.iter().filter(|h| !h.exited) {
            let _ = h.signals.send(signal);
        }
    }

    /// Collects exits until none is alive or `wait` has passed.
    async fn collect(&mut self, wait: Duration, into: &mut Vec<WorkerExit>) {
        let deadline = tokio::time::Instant::now() + wait;
        while self.alive > 0 {
            match tokio::time::timeout_at(deadline, self.next_exit()).await {
                Ok(Some(exit)) => into.push(exit),
                Ok(None) | Err(_) => break,
            }
        }
    }

    /// Stops every worker: SIGTERM (stop leasing, let running trials finish),
    /// after a while a second SIGTERM (cancel them, hand them back), after
    /// [`GRACE`] SIGKILL. `hurry` shortens the first wait (after Ctrl-C).
    /// Returns the exits seen and how many needed SIGKILL.
    pub async fn stop(&mut self, hurry: bool) -> (Vec<WorkerExit>, usize) {
        let mut exits = Vec::new();
        self.signal_alive(Signal::Term);
        let first_wait = if hurry {
            HURRIED_FIRST_WAIT
        } else {
            CALM_FIRST_WAIT
        };
        self.collect(first_wait, &mut exits).await;
        if self.alive > 0 {
            self.signal_alive(Signal::Term);
            self.collect(GRACE, &mut exits).await;
        }
        let killed = self.alive;
        if killed > 0 {
            self.signal_alive(Signal::Kill);
            self.collect(KILL_WAIT, &mut exits).await;
        }
        (exits, killed)
    }

    /// SIGKILL to every worker still alive, at once (second Ctrl-C).
    pub fn kill_now(&self) {
        self.signal_alive(Signal::Kill);
    }
}

fn spawn_one(
    spec: &WorkerSpec,
    k: usize,
    exits: mpsc::UnboundedSender<WorkerExit>,
) -> Result<Handle, CliError> {
    let log = spec.log_path(k);
    // Appended to: a resumed run keeps the earlier run's lines.
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|source| CliError::CannotCreate {
            path: log.clone(),
            source,
        })?;
    let log_err = log_file
        .try_clone()
        .map_err(|source| CliError::LogNotReopened {
            path: log.clone(),
            source,
        })?;
    let mut command = tokio::process::Command::new(&spec.bin);
    command
        .args(spec.args(k))
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .process_group(0)
        .kill_on_drop(true);
    // If `sweep` dies (SIGKILL, crash), its in-process coordinator dies with
    // it and nothing a worker does can be reported any more: it goes too.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and touches only the child's own state.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|source| CliError::WorkerNotStarted {
            bin: spec.bin.clone(),
            source,
        })?;
    let pid = child.id().unwrap_or(0);
    let (signals, mut signal_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                Some(signal) = signal_rx.recv() => match signal {
                    // The child is not reaped until wait() returns, so the pid is still its own.
                    // SAFETY: kill(2) with a valid signal number has no memory effects.
                    Signal::Term => unsafe {
                        libc::kill(pid as libc::pid_t, libc::SIGTERM);
                    },
                    Signal::Kill => {
                        let _ = child.start_kill();
                    }
                },
            }
        };
        let (status, success) = match status {
            Ok(s) => (s.to_string(), s.success()),
            Err(e) => (format!("unknown status ({e})"), false),
        };
        let _ = exits.send(WorkerExit {
            index: k,
            pid,
            status,
            success,
            log,
        });
    });
    Ok(Handle {
        signals,
        exited: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::worker_binary::tests::script;
    use std::path::Path;

    fn spec(dir: &Path, bin: PathBuf) -> WorkerSpec {
        WorkerSpec {
            bin,
            coordinator_url: "http://127.0.0.1:9".into(),
            threads: 2,
            extra_args: vec!["--simulate".into()],
            log_format: LogFormat::Text,
            token_file: Some(dir.join("worker.token")),
            dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn worker_args_carry_url_threads_name_state_dir_and_extras() {
        let s = spec(Path::new("/tmp/sw"), PathBuf::from("/bin/true"));
        let args: Vec<String> = s
            .args(2)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "run",
                "--coordinator",
                "http://127.0.0.1:9",
                "--threads",
                "2",
                "--name",
                "worker-2",
                "--state-dir",
                "/tmp/sw/workers/worker-2",
                "--shared-dir",
                "/tmp/sw/workers/shared",
                "--token-file",
                "/tmp/sw/worker.token",
                "--simulate"
            ]
        );
        assert_eq!(s.log_path(2), Path::new("/tmp/sw/logs/worker-2.log"));
    }

    #[tokio::test]
    async fn exits_are_reported_and_output_goes_to_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let bin = script(dir.path(), "w", "echo \"args: $*\"; echo oops >&2; exit 3");
        let mut pool = WorkerPool::spawn(&spec(dir.path(), bin), 2).unwrap();
        assert_eq!(pool.alive(), 2);
        let mut seen = Vec::new();
        while let Some(exit) = pool.next_exit().await {
            assert!(!exit.success);
            assert!(exit.status.contains('3'), "{}", exit.status);
            seen.push(exit.index);
        }
        seen.sort();
        assert_eq!(seen, [1, 2]);
        assert_eq!(pool.alive(), 0);
        let log = std::fs::read_to_string(dir.path().join("logs/worker-1.log")).unwrap();
        assert!(
            log.contains("args: run --coordinator") && log.contains("--name worker-1"),
            "{log}"
        );
        assert!(log.contains("oops"), "{log}");
    }

    #[tokio::test]
    async fn stop_ends_workers_that_obey_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let bin = script(
            dir.path(),
            "w",
            "trap 'exit 0' TERM; while true; do sleep 0.05; done",
        );
        let mut pool = WorkerPool::spawn(&spec(dir.path(), bin), 2).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await; // let the traps be set
        let started = std::time::Instant::now();
        let (exits, killed) = pool.stop(false).await;
        assert_eq!((exits.len(), killed), (2, 0));
        assert!(exits.iter().all(|e| e.success), "{exits:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_second_sigterm_is_sent_to_workers_that_ignore_the_first() {
        let dir = tempfile::tempdir().unwrap();
        // Exits 0 on the second SIGTERM only, like the daemon's "cancel now".
        let bin = script(
            dir.path(),
            "w",
            "n=0; trap 'n=$((n+1)); [ $n -ge 2 ] && exit 0' TERM; while true; do sleep 0.05; done",
        );
        let mut pool = WorkerPool::spawn(&spec(dir.path(), bin), 1).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (exits, killed) = pool.stop(true).await;
        assert_eq!((exits.len(), killed), (1, 0));
        assert!(exits[0].success, "{exits:?}");
    }
}
