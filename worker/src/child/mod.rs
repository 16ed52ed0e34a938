//! The trial process (`sweep-worker trial-child`, hidden): runs exactly one
//! attempt for the daemon, which talks to it over a pipe
//! ([`crate::daemon::protocol`]). It reads the config from stdin, applies
//! the config's intra-op thread count (libtorch's is per process, so each
//! trial now gets its own), runs the trial on this thread while a second
//! thread watches stdin for a cancel (or for the daemon going away), writes
//! each epoch and then the outcome as JSON lines, and exits.
//!
//! SIGINT and SIGTERM are ignored: the daemon decides when a trial stops. A
//! Ctrl-C in a terminal, or systemd stopping the unit, signals every process
//! of the group, and the daemon's answer to a first signal is to let running
//! trials finish; a second one cancels them over the pipe.
//!
//! Its stdout is the protocol only: at start the real stdout is moved to a
//! private descriptor and descriptor 1 pointed at stderr, so anything else
//! that prints (libtorch's C++ included) ends up in the log, not the pipe.
//!
//! - [`classify`]: whose fault a failure is (trial or environment).
//! - [`artifacts`]: the files a successful trial leaves in its attempt's
//!   folder for the daemon to upload (best weights, Grad-CAM, confusion).
//! - [`turn`]: with `--turns` (a lockstep bundle), the trial waits for the
//!   daemon's `go` before it starts and between epochs.

pub mod artifacts;
pub mod classify;
pub mod turn;

use crate::daemon::protocol::{ChildMessage, CANCEL, GO, MAX_CONFIG_LINE};
use crate::error_chain::error_chain;
use crate::pipeline::{TrialError, TrialObserver, TrialOptions};
use classify::{cause_of, cause_of_panic};
use std::io::{BufRead, Read, Write};
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use sweep_proto::trial::{EpochMetrics, TrialConfig};

/// Why the trial process could not even start its trial.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("cannot set up the protocol descriptor")]
    Descriptor(#[source] std::io::Error),
    #[error("cannot read the trial's config from stdin")]
    ReadConfig(#[source] std::io::Error),
    #[error("no trial config on stdin")]
    NoConfig,
    #[error("the trial's config on stdin is longer than {MAX_CONFIG_LINE} bytes")]
    ConfigTooLong,
    #[error("cannot write to the daemon")]
    Write(#[source] std::io::Error),
}

/// How the trial process runs its trial: the pipeline's
/// `run_trial_with_options`, or the simulated trial.
pub type ChildTrialFn = fn(
    &TrialConfig,
    &mut dyn TrialObserver,
    &AtomicBool,
    &TrialOptions,
) -> Result<sweep_proto::trial::TrialResult, TrialError>;

/// Runs one trial with `trial_fn` as described in the module doc; after a
/// result, leaves the files `artifacts` asks for (`simulated`: stand-ins
/// for weights and Grad-CAM, see [`artifacts`]). `shared_dir`: the
/// worker's folder of what trials compute alike, when the trial may share.
/// `turns`: the trial is a member of a lockstep bundle ([`turn`]).
pub fn run(
    trial_fn: ChildTrialFn,
    artifacts: Option<artifacts::Request>,
    shared_dir: Option<std::path::PathBuf>,
    simulated: bool,
    turns: bool,
) -> Result<(), ChildError> {
    ignore_stop_signals();
    let out = protocol_output().map_err(ChildError::Descriptor)?;
    let out = Arc::new(std::sync::Mutex::new(std::io::LineWriter::new(out)));
    let mut stdin = std::io::BufReader::new(std::io::stdin());
    let cfg = match read_config(&mut stdin)? {
        Ok(cfg) => cfg,
        Err(error) => {
            let failed = ChildMessage::Failed {
                error,
                cause: crate::daemon::cause::Cause::Trial,
            };
            return send(&out, &failed);
        }
    };

    let cancel = Arc::new(AtomicBool::new(false));
    let turn = turns.then(|| Arc::new(turn::Turn::default()));
    let (watcher, granted) = (cancel.clone(), turn.clone());
    std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || watch_stdin(stdin, &watcher, granted.as_deref()))
        .map_err(ChildError::ReadConfig)?;
    if let Some(t) = &turn {
        t.wait();
        if cancel.load(Ordering::Relaxed) {
            return send(&out, &ChildMessage::Cancelled);
        }
    }

    let mut observer = PipeObserver {
        out: out.clone(),
        turn,
        turn_wait: std::time::Duration::ZERO,
    };
    let options = TrialOptions {
        save_best: if simulated {
            None
        } else {
            artifacts
                .as_ref()
                .and_then(artifacts::Request::weights_path)
        },
        shared_dir,
    };
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut result = trial_fn(&cfg, &mut observer, &cancel, &options)?;
        result.turn_wait_s = observer.turn_wait.as_secs_f64();
        if let Some(a) = &artifacts {
            a.make(&cfg, &result, simulated);
        }
        Ok(result)
    }));
    let message = match run {
        Ok(Ok(result)) => ChildMessage::Result(Box::new(result)),
        Ok(Err(TrialError::Cancelled)) => ChildMessage::Cancelled,
        Ok(Err(e)) => ChildMessage::Failed {
            error: error_chain(&e),
            cause: cause_of(&e),
        },
        Err(panic) => {
            let message = panic_message(&panic);
            ChildMessage::Failed {
                cause: cause_of_panic(&message),
                error: format!("the trial panicked: {message}"),
            }
        }
    };
    send(&out, &message)
}

/// The first stdin line as a config, or the error to report.
fn read_config(stdin: &mut impl BufRead) -> Result<Result<TrialConfig, String>, ChildError> {
    let mut line = Vec::new();
    stdin
        .take(MAX_CONFIG_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(ChildError::ReadConfig)?;
    if line.is_empty() {
        return Err(ChildError::NoConfig);
    }
    if line.len() > MAX_CONFIG_LINE {
        return Err(ChildError::ConfigTooLong);
    }
    Ok(serde_json::from_slice::<TrialConfig>(&line)
        .map_err(|e| format!("the trial process cannot read its config: {e}")))
}

/// Sets `cancel` on a [`CANCEL`] line or when stdin closes (the daemon
/// cancelled, or is gone), which also ends `turn`; grants `turn` a turn on
/// each [`GO`] line.
fn watch_stdin(stdin: impl BufRead, cancel: &AtomicBool, turn: Option<&turn::Turn>) {
    for line in stdin.lines() {
        match line {
            Ok(l) if l.trim() == CANCEL => break,
            Ok(l) if l.trim() == GO => {
                if let Some(t) = turn {
                    t.grant();
                }
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    cancel.store(true, Ordering::Relaxed);
    if let Some(t) = turn {
        t.end();
    }
}

/// Writes `message` as one line.
fn send(
    out: &std::sync::Mutex<std::io::LineWriter<std::fs::File>>,
    message: &ChildMessage,
) -> Result<(), ChildError> {
    let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
    writeln!(out, "{}", message.to_line()).map_err(ChildError::Write)?;
    out.flush().map_err(ChildError::Write)
}

/// Sends each finished epoch to the daemon; with turns, gives the turn up
/// between epochs and waits for the next.
struct PipeObserver {
    out: Arc<std::sync::Mutex<std::io::LineWriter<std::fs::File>>>,
    turn: Option<Arc<turn::Turn>>,
    /// How long the trial waited for its turns (the result's `turn_wait_s`).
    turn_wait: std::time::Duration,
}

impl PipeObserver {
    fn tell(&self, message: &ChildMessage) {
        if let Err(e) = send(&self.out, message) {
            // The daemon is gone; stdin closing will cancel the trial.
            tracing::warn!("{}", error_chain(&e));
        }
    }
}

impl TrialObserver for PipeObserver {
    fn on_epoch(&mut self, metrics: &EpochMetrics) {
        self.tell(&ChildMessage::Epoch(metrics.clone()));
    }

    fn between_epochs(&mut self) {
        if let Some(turn) = &self.turn {
            self.tell(&ChildMessage::TurnOver);
            let asked = std::time::Instant::now();
            turn.wait();
            self.turn_wait += asked.elapsed();
        }
    }
}

/// Leaves SIGINT and SIGTERM to the daemon (see the module doc).
fn ignore_stop_signals() {
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
}

/// The process's stdout moved to a descriptor of its own (close-on-exec),
/// with descriptor 1 pointed at stderr from now on.
fn protocol_output() -> std::io::Result<std::fs::File> {
    std::io::stdout().flush()?;
    // SAFETY: plain descriptor calls on descriptors this process owns; the
    // new descriptor is owned by the File from here on.
    unsafe {
        let fd = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::dup2(2, 1) < 0 {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        Ok(std::fs::File::from_raw_fd(fd))
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_line_is_read_capped_and_checked() {
        let cfg = TrialConfig::default();
        let mut ok = std::io::Cursor::new(format!("{}\ncancel\n", cfg.canonical_json()));
        assert_eq!(read_config(&mut ok).unwrap().unwrap(), cfg);
        let mut bad = std::io::Cursor::new("{\"colour\": 1}\n");
        let err = read_config(&mut bad).unwrap().unwrap_err();
        assert!(err.contains("colour"), "{err}");
        let mut empty = std::io::Cursor::new("");
        assert!(matches!(read_config(&mut empty), Err(ChildError::NoConfig)));
        let mut long = std::io::Cursor::new(vec![b' '; MAX_CONFIG_LINE + 5]);
        assert!(matches!(
            read_config(&mut long),
            Err(ChildError::ConfigTooLong)
        ));
    }

    #[test]
    fn a_cancel_line_or_a_closed_stdin_cancels() {
        let flag = AtomicBool::new(false);
        watch_stdin(std::io::Cursor::new("noise\ncancel\n"), &flag, None);
        assert!(flag.load(Ordering::Relaxed));
        let flag = AtomicBool::new(false);
        watch_stdin(std::io::Cursor::new(""), &flag, None);
        assert!(flag.load(Ordering::Relaxed));
    }

    #[test]
    fn go_lines_grant_turns_and_the_end_of_stdin_ends_them() {
        let (flag, turn) = (AtomicBool::new(false), turn::Turn::default());
        watch_stdin(std::io::Cursor::new("go\ngo\n"), &flag, Some(&turn));
        // Two turns granted, then stdin closed: both are taken, and a third
        // wait returns at once because the turns are over.
        turn.wait();
        turn.wait();
        turn.wait();
        assert!(flag.load(Ordering::Relaxed));
    }
}
