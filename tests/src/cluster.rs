//! A coordinator on a fresh temp database, the workers that serve it, and
//! the `sweep` CLI pointed at it. Everything lives in one temp folder (the
//! database, sweep files, each process's log and each worker's state dir)
//! and every process dies with the [`Cluster`].

use crate::bins;
use crate::process::Proc;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

/// How long a coordinator may take to print its listening line.
const STARTUP: Duration = Duration::from_secs(20);

/// What `sweep` printed and how it exited.
#[derive(Debug)]
pub struct CliOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// A running coordinator and the processes around it.
pub struct Cluster {
    dir: TempDir,
    lease_ms: u64,
    url: String,
    coordinator: Option<Proc>,
    starts: u32,
}

impl Cluster {
    /// Starts `sweep-coordinator --listen 127.0.0.1:0 --db TMP/sweep.db --lease-ms LEASE_MS`.
    pub fn start(lease_ms: u64) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("sweep-e2e-")
            .tempdir()
            .expect("temp dir");
        let mut cluster = Cluster {
            dir,
            lease_ms,
            url: String::new(),
            coordinator: None,
            starts: 0,
        };
        cluster.launch_coordinator("127.0.0.1:0");
        cluster
    }

    /// `http://127.0.0.1:PORT`, as the coordinator announced it.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn db(&self) -> PathBuf {
        self.dir().join("sweep.db")
    }

    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }

    /// The coordinator process (panics if it was killed and not restarted).
    pub fn coordinator(&mut self) -> &mut Proc {
        self.coordinator
            .as_mut()
            .expect("the coordinator is not running")
    }

    /// `kill -9` the coordinator.
    pub fn kill_coordinator(&mut self) {
        let mut proc = self
            .coordinator
            .take()
            .expect("the coordinator is not running");
        proc.kill9();
    }

    /// Starts a coordinator again on the same database and the same port,
    /// so workers find it at the URL they already have.
    pub fn restart_coordinator(&mut self) {
        assert!(self.coordinator.is_none(), "kill the coordinator first");
        let port = self
            .url
            .rsplit(':')
            .next()
            .expect("a port in the URL")
            .to_string();
        let before = self.url.clone();
        self.launch_coordinator(&format!("127.0.0.1:{port}"));
        assert_eq!(
            self.url, before,
            "the restarted coordinator must keep its address"
        );
    }

    fn launch_coordinator(&mut self, listen: &str) {
        self.starts += 1;
        let mut cmd = Command::new(bins::path("sweep-coordinator"));
        cmd.arg("--listen")
            .arg(listen)
            .arg("--db")
            .arg(self.db())
            .arg("--lease-ms")
            .arg(self.lease_ms.to_string())
            .env("RUST_LOG", "info");
        let log = self.dir().join(format!("coordinator-{}.log", self.starts));
        let (proc, line) = Proc::spawn_reading_first_line(
            &format!("sweep-coordinator #{}", self.starts),
            cmd,
            &log,
            STARTUP,
        );
        let url = line
            .strip_prefix("sweep-coordinator listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from sweep-coordinator: {line:?}"))
            .trim()
            .to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "unexpected URL {url:?}"
        );
        self.url = url;
        self.coordinator = Some(proc);
    }

    /// Starts `sweep-worker run` against this coordinator with `args` added,
    /// its own state dir, and `env` set (e.g. `SWEEP_SIM_EPOCH_MS`).
    pub fn worker(&self, name: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let mut cmd = Command::new(bins::path("sweep-worker"));
        cmd.arg("run")
            .arg("--coordinator")
            .arg(&self.url)
            .arg("--name")
            .arg(name)
            .arg("--state-dir")
            .arg(self.dir().join(format!("{name}-state")))
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("SWEEP_COORDINATOR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Proc::spawn(name, cmd, &self.dir().join(format!("{name}.log")))
    }

    /// A simulated worker (`--simulate --threads 1`) with `epoch_ms` per epoch.
    pub fn sim_worker(&self, name: &str, epoch_ms: u64) -> Proc {
        self.worker(
            name,
            &["--simulate", "--threads", "1"],
            &[("SWEEP_SIM_EPOCH_MS", &epoch_ms.to_string())],
        )
    }

    /// Runs `sweep --coordinator URL ARGS...` to its end.
    pub async fn cli(&self, args: &[&str]) -> CliOutput {
        let out = tokio::process::Command::new(bins::path("sweep"))
            .arg("--coordinator")
            .arg(&self.url)
            .args(args)
            .env_remove("SWEEP_COORDINATOR")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .expect("cannot run sweep");
        CliOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Writes `yaml` to `TMP/NAME` and runs `sweep submit` on it; the raw output.
    pub async fn submit_file(&self, name: &str, yaml: &str) -> CliOutput {
        let path = self.dir().join(name);
        std::fs::write(&path, yaml).expect("write sweep file");
        self.cli(&["submit", path.to_str().expect("utf-8 temp path")])
            .await
    }

    /// Submits `yaml` with `sweep submit` and returns the new sweep's id.
    pub async fn submit(&self, name: &str, yaml: &str) -> String {
        let out = self.submit_file(name, yaml).await;
        assert!(out.success(), "sweep submit {name} failed: {out:?}");
        let id = out.stdout.trim().to_string();
        assert!(
            !id.is_empty() && !id.contains('\n'),
            "sweep submit printed {:?}",
            out.stdout
        );
        id
    }
}
