//! The worker daemons of a chaos run, all behind the proxy: simulated
//! trials, one slot each, JSON logs (one file per worker name, appended to
//! by every daemon that reuses the name and so its state dir and outbox).

use crate::bins;
use crate::process::Proc;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The live workers and how to start more.
pub struct Fleet {
    dir: PathBuf,
    coordinator: String,
    epoch_ms: u64,
    live: Vec<Proc>,
    /// Names ever used (each has a log and a state dir).
    names: Vec<String>,
}

impl Fleet {
    /// No workers yet; they will live in `dir` and serve `coordinator`.
    pub fn new(dir: &Path, coordinator: &str, epoch_ms: u64) -> Fleet {
        Fleet {
            dir: dir.to_path_buf(),
            coordinator: coordinator.to_string(),
            epoch_ms,
            live: Vec::new(),
            names: Vec::new(),
        }
    }

    /// Starts a worker with a new name (so a new state dir).
    pub fn start_new(&mut self) {
        let name = format!("worker-{}", self.names.len() + 1);
        self.names.push(name.clone());
        self.start(&name);
    }

    /// Starts a worker named `name` (its state dir and log are reused if it ran before).
    pub fn start(&mut self, name: &str) {
        let mut cmd = Command::new(bins::path("sweep-worker"));
        cmd.arg("run")
            .arg("--coordinator")
            .arg(&self.coordinator)
            .arg("--name")
            .arg(name)
            .arg("--state-dir")
            .arg(self.dir.join(format!("{name}-state")))
            .args(["--simulate", "--threads", "1", "--log-format", "json"])
            .env("RUST_LOG", "info")
            .env("SWEEP_SIM_EPOCH_MS", self.epoch_ms.to_string())
            .env_remove("SWEEP_COORDINATOR");
        self.live.push(Proc::spawn(name, cmd, &self.log_of(name)));
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// `kill -9` the live worker at `index`; its name.
    pub fn kill(&mut self, index: usize) -> String {
        let mut proc = self.live.remove(index);
        proc.kill9();
        proc.name().to_string()
    }

    /// The live worker at `index`.
    pub fn get(&self, index: usize) -> &Proc {
        &self.live[index]
    }

    /// SIGTERM every live worker and wait for it to drain and exit
    /// (kill -9 after `grace`); how many had to be killed.
    pub async fn stop_all(&mut self, grace: Duration) -> usize {
        for p in &self.live {
            p.signal(libc::SIGTERM);
        }
        let mut killed = 0;
        for mut p in self.live.drain(..) {
            let started = std::time::Instant::now();
            while p.is_running() && started.elapsed() < grace {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if p.is_running() {
                p.kill9();
                killed += 1;
            }
        }
        killed
    }

    /// Every log file, one per name ever used.
    pub fn logs(&self) -> Vec<PathBuf> {
        self.names.iter().map(|n| self.log_of(n)).collect()
    }

    fn log_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }
}
