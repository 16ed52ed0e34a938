//! One attempt in a process of its own: the daemon starts `sweep-worker
//! trial-child` (this same binary), writes the config to its stdin, reads
//! its messages from its stdout ([`super::protocol`]) and waits for it. A
//! crash — abort, segfault, OOM kill — ends that one process: it becomes an
//! [`ChildOutcome::Crashed`] naming the signal, and the daemon and its other
//! slots carry on. The child's stderr is the daemon's (its log lines land in
//! the worker's log). The child ignores SIGINT and SIGTERM from the start:
//! the daemon decides when a trial stops.
//!
//! Cancelling writes [`CANCEL`] to the child's stdin; a child that has not
//! ended [`CANCEL_GRACE`] later is killed.
//!
//! A member of a lockstep bundle ([`super::turns`]) runs with `--turns`: its
//! supervisor writes [`GO`] to the child each time the turn is its, and
//! turns it over when the child says `TurnOver`; the child leaves the round
//! when it ends. When the child sends its final message, its peak resident
//! memory (`VmHWM`) is read and kept as the largest a trial process of this
//! worker has needed ([`PeakRss`]), which sizes the bundles it asks for.

use super::artifacts::AttemptArtifacts;
use super::cause::Cause;
use super::protocol::{ChildMessage, CANCEL, GO, MAX_MESSAGE_LINE};
use super::turns::{Go, Seat};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use sweep_proto::trial::{EpochMetrics, TrialConfig, TrialResult};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot};

/// How long a cancelled child may take to stop before it is killed.
pub const CANCEL_GRACE: Duration = Duration::from_secs(10);

/// The program each attempt runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialProgram {
    /// The `sweep-worker` binary (the daemon's own, normally).
    pub exe: PathBuf,
    /// Run simulated trials (`trial-child --simulate`, tests only).
    pub simulate: bool,
    /// Passed on as `--log-format`.
    pub log_format: sweep_runtime::logging::LogFormat,
}

/// How a trial process ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ChildOutcome {
    /// It finished (possibly diverged).
    Result(Box<TrialResult>),
    /// It failed and said why.
    Failed { error: String, cause: Cause },
    /// It stopped when asked.
    Cancelled,
    /// It ended without saying how (a signal, an exit): why, in words.
    Crashed(String),
}

/// A running trial process; dropping it cancels the trial.
pub struct TrialProcess {
    cancel: Option<oneshot::Sender<()>>,
    pid: Option<u32>,
}

impl TrialProcess {
    /// Asks the child to stop at its next batch (killed if it has not
    /// ended [`CANCEL_GRACE`] later).
    pub fn cancel(&mut self) {
        if let Some(tx) = self.cancel.take() {
            let _ = tx.send(());
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }
}

/// The largest peak resident memory (bytes) of a trial process seen so far.
#[derive(Debug, Default)]
pub struct PeakRss(AtomicU64);

impl PeakRss {
    /// The largest seen, if any process was measured.
    pub fn get(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|b| *b > 0)
    }

    /// Keeps `bytes` if it is the largest so far.
    pub fn record(&self, bytes: u64) {
        self.0.fetch_max(bytes, Ordering::Relaxed);
    }
}

/// What a trial process is started with besides its config.
#[derive(Default)]
pub struct Extras<'a> {
    /// A successful trial leaves its files in that attempt's folder
    /// (`--artifacts-dir`, `--artifacts`).
    pub artifacts: Option<&'a AttemptArtifacts>,
    /// The trial may share what trials compute alike through this folder
    /// (`--shared-dir`).
    pub shared_dir: Option<&'a Path>,
    /// Its place in a lockstep bundle's turns (`--turns`).
    pub turns: Option<(Seat, Go)>,
    /// Where its peak resident memory is kept.
    pub peak_rss: Option<Arc<PeakRss>>,
}

/// Starts `cfg` in a child process, with `extras`. Each finished epoch goes
/// to `epochs`; how the child ended goes to `done` once it has exited.
pub fn spawn(
    program: &TrialProgram,
    cfg: &TrialConfig,
    extras: Extras<'_>,
    epochs: mpsc::UnboundedSender<EpochMetrics>,
    done: oneshot::Sender<ChildOutcome>,
) -> std::io::Result<TrialProcess> {
    let Extras {
        artifacts,
        shared_dir,
        turns,
        peak_rss,
    } = extras;
    let mut cmd = Command::new(&program.exe);
    cmd.arg("trial-child")
        .arg("--log-format")
        .arg(match program.log_format {
            sweep_runtime::logging::LogFormat::Text => "text",
            sweep_runtime::logging::LogFormat::Json => "json",
        })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if program.simulate {
        cmd.arg("--simulate");
    }
    if let Some(a) = artifacts {
        cmd.arg("--artifacts-dir")
            .arg(&a.dir)
            .arg("--artifacts")
            .arg(a.kinds_arg());
    }
    if let Some(dir) = shared_dir {
        cmd.arg("--shared-dir").arg(dir);
    }
    if turns.is_some() {
        cmd.arg("--turns");
    }
    // SAFETY: only async-signal-safe calls between fork and exec. Ignored
    // signals stay ignored across exec, so the child is deaf to SIGINT and
    // SIGTERM from its first instruction (a Ctrl-C or a systemd stop
    // signals every process of the group; the daemon decides what stops).
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (cancel_tx, cancel_rx) = oneshot::channel();
    let config_line = format!("{}\n", cfg.canonical_json());
    tokio::spawn(async move {
        let talk = Talk {
            config_line,
            cancel: cancel_rx,
            epochs,
            turns,
            peak_rss,
        };
        let outcome = supervise(child, stdin, stdout, talk).await;
        let _ = done.send(outcome);
    });
    Ok(TrialProcess {
        cancel: Some(cancel_tx),
        pid,
    })
}

/// What a supervisor says to its child and passes on from it.
struct Talk {
    config_line: String,
    cancel: oneshot::Receiver<()>,
    epochs: mpsc::UnboundedSender<EpochMetrics>,
    turns: Option<(Seat, Go)>,
    peak_rss: Option<Arc<PeakRss>>,
}

/// Feeds the child its config (and its turns), relays its messages, cancels
/// it when asked, and waits for it to exit.
async fn supervise(
    mut child: Child,
    mut stdin: ChildStdin,
    stdout: ChildStdout,
    talk: Talk,
) -> ChildOutcome {
    let Talk {
        config_line,
        mut cancel,
        epochs,
        turns,
        peak_rss,
    } = talk;
    let (seat, mut go) = match turns {
        Some((seat, go)) => (Some(seat), Some(go)),
        None => (None, None),
    };
    // A child that dies before reading its config shows as a broken pipe
    // here, and as its exit status below.
    let _ = stdin.write_all(config_line.as_bytes()).await;
    let _ = stdin.flush().await;
    let mut stdin = Some(stdin);
    let mut lines = Lines::new(BufReader::new(stdout));
    let mut last: Option<ChildMessage> = None;
    let mut cancelled = false;
    let kill_timer = tokio::time::sleep(Duration::MAX / 4);
    tokio::pin!(kill_timer);
    let mut killed = false;
    loop {
        tokio::select! {
            line = lines.next() => match line {
                Some(line) => match serde_json::from_str::<ChildMessage>(&line) {
                    Ok(ChildMessage::Epoch(m)) => {
                        let _ = epochs.send(m);
                    }
                    Ok(ChildMessage::TurnOver) => {
                        if let Some(seat) = &seat {
                            seat.turn_over();
                        }
                    }
                    Ok(m) => {
                        if let (Some(peak), Some(pid)) = (&peak_rss, child.id()) {
                            if let Some(bytes) = peak_rss_of(pid) {
                                peak.record(bytes);
                            }
                        }
                        last = Some(m);
                    }
                    Err(e) => tracing::warn!(
                        "trial process {}: unreadable message ({e}): {:.200}",
                        child.id().unwrap_or(0),
                        line
                    ),
                },
                None => break,
            },
            Some(()) = next_turn(&mut go) => {
                if let Some(s) = stdin.as_mut() {
                    let _ = s.write_all(format!("{GO}\n").as_bytes()).await;
                    let _ = s.flush().await;
                }
            }
            _ = &mut cancel, if !cancelled => {
                cancelled = true;
                if let Some(mut s) = stdin.take() {
                    let _ = s.write_all(format!("{CANCEL}\n").as_bytes()).await;
                    let _ = s.flush().await;
                    // Dropping stdin closes it: a cancel the child cannot miss.
                }
                kill_timer.as_mut().reset(tokio::time::Instant::now() + CANCEL_GRACE);
            }
            _ = &mut kill_timer, if cancelled && !killed => {
                tracing::warn!("trial process did not stop within {CANCEL_GRACE:?} of being cancelled; killing it");
                killed = true;
                let _ = child.start_kill();
            }
        }
    }
    drop(stdin);
    // The child is done with the round (a holder passes the turn on).
    drop(seat);
    // Stdout closed: the child is exiting (or closed it and hangs: kill it).
    let status = match tokio::time::timeout(CANCEL_GRACE, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    match (last, status) {
        (Some(ChildMessage::Result(r)), _) => ChildOutcome::Result(r),
        (Some(ChildMessage::Failed { error, cause }), _) => ChildOutcome::Failed { error, cause },
        (Some(ChildMessage::Cancelled), _) => ChildOutcome::Cancelled,
        (_, Ok(status)) => ChildOutcome::Crashed(describe_exit(status)),
        (_, Err(e)) => ChildOutcome::Crashed(format!("trial process could not be waited for: {e}")),
    }
}

/// The next turn granted, if the child is a member of a round; never ready
/// otherwise.
async fn next_turn(go: &mut Option<Go>) -> Option<()> {
    match go {
        Some(go) => go.recv().await,
        None => std::future::pending().await,
    }
}

/// A process's peak resident memory in bytes (`VmHWM` of
/// `/proc/<pid>/status`), if it can be read.
fn peak_rss_of(pid: u32) -> Option<u64> {
    proc_kib_field(&format!("/proc/{pid}/status"), "VmHWM:")
}

/// The `key` line of a `/proc` file that counts in kB (`VmHWM:   5120 kB`),
/// in bytes; `None` if the file or the line cannot be read.
pub(super) fn proc_kib_field(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Lines of a child's stdout, each capped at [`MAX_MESSAGE_LINE`]. Safe to
/// use in `select!`: a partly read line is kept for the next call.
struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
}

impl<R: tokio::io::AsyncBufRead + Unpin> Lines<R> {
    fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::new(),
        }
    }

    /// The next line without its newline; `None` at the end (or on a read
    /// error, or a line longer than [`MAX_MESSAGE_LINE`], which ends the
    /// conversation).
    async fn next(&mut self) -> Option<String> {
        let room = (MAX_MESSAGE_LINE + 1).saturating_sub(self.buf.len()) as u64;
        let n = (&mut self.reader)
            .take(room)
            .read_until(b'\n', &mut self.buf)
            .await
            .ok()?;
        if n == 0 && self.buf.is_empty() {
            return None;
        }
        if self.buf.last() != Some(&b'\n') && self.buf.len() > MAX_MESSAGE_LINE {
            tracing::error!("trial process sent a line longer than {MAX_MESSAGE_LINE} bytes; ignoring the rest of its output");
            return None;
        }
        let mut line = std::mem::take(&mut self.buf);
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        Some(String::from_utf8_lossy(&line).into_owned())
    }
}

/// "trial process killed by SIGSEGV (core dumped)", "trial process exited
/// with status 3 before reporting an outcome".
pub fn describe_exit(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        let hint = if signal == libc::SIGKILL {
            " (the kernel's out-of-memory killer sends SIGKILL)"
        } else {
            ""
        };
        let core = if status.core_dumped() {
            " (core dumped)"
        } else {
            ""
        };
        return format!(
            "trial process killed by {}{core}{hint}",
            signal_name(signal)
        );
    }
    match status.code() {
        Some(code) => {
            format!("trial process exited with status {code} before reporting an outcome")
        }
        None => format!("trial process ended ({status}) before reporting an outcome"),
    }
}

/// The conventional name of `signal` (`SIGSEGV`), or `signal N`.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGABRT => "SIGABRT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGKILL => "SIGKILL",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGSYS => "SIGSYS",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        _ => return format!("signal {signal}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_described_by_signal_name() {
        let by = |sig: i32| describe_exit(ExitStatus::from_raw(sig));
        assert_eq!(by(libc::SIGSEGV), "trial process killed by SIGSEGV");
        assert_eq!(
            by(libc::SIGABRT | 0x80),
            "trial process killed by SIGABRT (core dumped)"
        );
        assert!(by(libc::SIGKILL).contains("out-of-memory killer"));
        assert_eq!(
            describe_exit(ExitStatus::from_raw(3 << 8)),
            "trial process exited with status 3 before reporting an outcome"
        );
        assert_eq!(signal_name(63), "signal 63");
    }

    #[tokio::test]
    async fn long_lines_end_the_conversation() {
        let mut ok = Lines::new(BufReader::new(&b"{\"a\":1}\r\nlast"[..]));
        assert_eq!(ok.next().await.as_deref(), Some("{\"a\":1}"));
        assert_eq!(ok.next().await.as_deref(), Some("last"));
        assert_eq!(ok.next().await, None);
        let long = vec![b'x'; MAX_MESSAGE_LINE + 10];
        let mut r = Lines::new(BufReader::new(&long[..]));
        assert_eq!(r.next().await, None);
    }
}
