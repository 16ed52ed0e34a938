//! A child process owned by a test: its stdout and stderr go to a log file,
//! it is killed (SIGKILL) and reaped when dropped, so a failing test leaves
//! nothing running, and its log is printed when the test panics.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running (or finished) child process.
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Proc {
        let out = open_log(log);
        let err = out.try_clone().expect("log file handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        }
    }

    /// Starts `cmd`, waits up to `timeout` for its first stdout line and
    /// returns it; the rest of stdout and all of stderr go to `log`.
    pub fn spawn_reading_first_line(
        name: &str,
        mut cmd: Command,
        log: &Path,
        timeout: Duration,
    ) -> (Proc, String) {
        let err = open_log(log);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut rest = open_log(log);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for line in lines.map_while(Result::ok) {
                let _ = writeln!(rest, "{line}");
            }
        });
        let mut proc = Proc {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        };
        let first = match rx.recv_timeout(timeout) {
            Ok(Some(Ok(line))) => line,
            other => {
                let status = proc.child.try_wait().ok().flatten();
                panic!(
                    "{name} printed no first line within {timeout:?} (got {other:?}, exit status {status:?}); its log:\n{}",
                    proc.log_text()
                )
            }
        };
        (proc, first)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process has written so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `signal` (libc::SIGTERM, SIGINT, ...) to the process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with a pid this test owns and has not reaped yet.
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "cannot signal {} (pid {})", self.name, self.pid());
    }

    /// `kill -9`, then reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `timeout` for the process to exit; panics if it does not.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                started.elapsed() < timeout,
                "{} did not exit within {timeout:?}; its log:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let was_running = self.is_running();
        if was_running {
            self.kill9();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- {} ({}) log, {} -----\n{}",
                self.name,
                if was_running {
                    "killed by the harness"
                } else {
                    "had exited"
                },
                self.log.display(),
                tail(&self.log_text(), 150)
            );
        }
    }
}

fn open_log(path: &Path) -> File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open log {}: {e}", path.display()))
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
