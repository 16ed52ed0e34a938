//! The daemon (`sweep_worker::daemon::run`, in this process) against a
//! scripted in-process coordinator ([`fake_coordinator`]), running every
//! attempt in a real trial process (`sweep-worker trial-child --simulate`,
//! simulated 5 ms epochs).
//!
//! - [`scenarios`]: the happy path, a coordinator that is away, stop
//!   answers, stale and unknown-worker refusals, a trial that diverges, the
//!   two shutdown steps, the outbox, refused paths.
//! - [`artifacts`]: the files a trial leaves, uploaded before its result,
//!   retried when the coordinator is away, skipped when refused.
//! - [`bundles`]: several trials from one lease call, run in lockstep in
//!   one slot (one process each, taking turns), finished on drain, handed
//!   back on the second signal, a crash ending its own trial only.
//! - [`isolation`]: a trial process that aborts beside one that completes;
//!   the pause after environment failures; `Drain` on shutdown.

mod artifacts;
mod bundles;
mod fake_coordinator;
mod isolation;
mod scenarios;

use fake_coordinator::{Fake, Script, Seen};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sweep_proto::trial::TrialConfig;
use sweep_proto::v1::Lease;
use sweep_worker::daemon::outbox::{Outbox, Report};
use sweep_worker::daemon::paths::DataRoots;
use sweep_worker::daemon::shutdown::{self, Trigger};
use sweep_worker::daemon::trial_process::TrialProgram;
use sweep_worker::daemon::{run, simulated, DaemonConfig, DaemonError};

pub struct Daemon {
    pub fake: Arc<Fake>,
    pub trigger: Trigger,
    handle: tokio::task::JoinHandle<Result<(), DaemonError>>,
    pub state: tempfile::TempDir,
}

/// The `sweep-worker` binary every attempt runs in.
pub fn program() -> TrialProgram {
    TrialProgram {
        exe: env!("CARGO_BIN_EXE_sweep-worker").into(),
        simulate: true,
        log_format: Default::default(),
    }
}

pub async fn start(script: Script) -> Daemon {
    start_with(script, tempfile::tempdir().unwrap(), 1, program()).await
}

pub async fn start_with_state(script: Script, state: tempfile::TempDir) -> Daemon {
    start_with(script, state, 1, program()).await
}

/// A daemon with `slots` slots running `program`, serving a fake that
/// follows `script`.
pub async fn start_with(
    script: Script,
    state: tempfile::TempDir,
    slots: u32,
    program: TrialProgram,
) -> Daemon {
    launch(script, state, slots, 1, program).await
}

/// A one-slot daemon that leases up to `bundle` trials at once.
pub async fn start_bundled(script: Script, bundle: u32) -> Daemon {
    launch(script, tempfile::tempdir().unwrap(), 1, bundle, program()).await
}

async fn launch(
    mut script: Script,
    state: tempfile::TempDir,
    slots: u32,
    bundle: u32,
    program: TrialProgram,
) -> Daemon {
    std::env::set_var(simulated::EPOCH_MS_ENV, "5");
    if script.heartbeat_interval_ms == 0 {
        script.heartbeat_interval_ms = 10;
    }
    let (fake, url) = Fake::start(script).await;
    let (trigger, shutdown) = shutdown::channel();
    let config = DaemonConfig {
        coordinator: url,
        slots,
        bundle,
        memory_per_slot: None,
        threads_per_trial: 3,
        name: "test-host".into(),
        cores: 4,
        version: "test".into(),
        state_dir: state.path().to_path_buf(),
        shared_dir: None,
        program,
        credentials: Default::default(),
        data_roots: DataRoots::new([std::path::PathBuf::from(".")]),
        metrics_listen: None,
    };
    let handle = tokio::spawn(run(config, shutdown));
    Daemon {
        fake,
        trigger,
        handle,
        state,
    }
}

impl Daemon {
    /// Waits until what the fake has seen satisfies `done`.
    pub async fn until(&self, what: &str, done: impl Fn(&Seen) -> bool) -> Seen {
        let started = Instant::now();
        loop {
            let seen = self.fake.seen();
            if done(&seen) {
                return seen;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "timed out waiting for {what}: {seen:#?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Sends `signals` shutdown signals and waits for the daemon to return.
    pub async fn stop(self, signals: usize) -> (Seen, tempfile::TempDir) {
        for _ in 0..signals {
            self.trigger.escalate();
        }
        tokio::time::timeout(Duration::from_secs(5), self.handle)
            .await
            .expect("the daemon must stop")
            .unwrap()
            .expect("the daemon must stop cleanly");
        (self.fake.seen(), self.state)
    }
}

/// The reports spooled under `state`.
pub fn spooled(state: &std::path::Path) -> Vec<Report> {
    Outbox::open(state).unwrap().pending().unwrap().reports
}

/// Puts a file where the outbox folder was: every spool write fails, even
/// as root (who ignores a read-only mode). Returns the outbox's path.
pub fn break_outbox(state: &tempfile::TempDir) -> std::path::PathBuf {
    let spool = state.path().join("outbox");
    std::fs::remove_dir(&spool).unwrap();
    std::fs::write(&spool, "").unwrap();
    spool
}

/// Undoes [`break_outbox`].
pub fn repair_outbox(spool: &std::path::Path) {
    std::fs::remove_file(spool).unwrap();
    std::fs::create_dir(spool).unwrap();
}

pub fn lease(trial_id: &str, seed: u64, epochs: (u32, u32)) -> Lease {
    let mut cfg = TrialConfig {
        seed,
        ..TrialConfig::default()
    };
    cfg.phase1.epochs = epochs.0;
    cfg.phase2.epochs = epochs.1;
    Lease {
        sweep_id: "s1".into(),
        trial_id: trial_id.into(),
        attempt: 1,
        config_json: cfg.canonical_json(),
        lease_ms: 1000,
        artifacts: Vec::new(),
        sharing_off: false,
    }
}

pub fn script(leases: Vec<Lease>) -> Script {
    Script {
        leases: leases.into(),
        ..Script::default()
    }
}
