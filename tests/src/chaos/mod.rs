//! The chaos suite: a sweep of many short simulated trials on real
//! coordinator and worker processes over loopback, while [`faults`] kills
//! workers and the coordinator, stops workers and partitions the network;
//! then [`checker`] judges the database against the logs ([`evidence`]).
//!
//! - [`plan`]: the run's size and faults (short for CI, `SWEEP_CHAOS=long`).
//! - [`proxy`]: the TCP proxy between workers and coordinator (partitions).
//! - [`fleet`]: the worker daemons, all behind the proxy.
//! - [`faults`]: the nemesis.
//! - [`watcher`]: a `WatchSweep` client from the start, reconnecting.
//! - [`evidence`]: what the worker and coordinator logs say happened.
//! - [`checker`]: the invariants, read from the database and the evidence.
//! - [`table`]: the one table a run prints.
//! - [`rng`]: the seeded randomness of the fault schedule.

pub mod checker;
pub mod evidence;
pub mod faults;
pub mod fleet;
pub mod plan;
pub mod proxy;
pub mod rng;
pub mod table;
pub mod watcher;

use crate::fixtures::sim_sweep;
use crate::Cluster;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use plan::Plan;

/// What a run did and what the checker found.
#[derive(Debug)]
pub struct Outcome {
    pub plan: Plan,
    pub faults: faults::Faults,
    pub verdict: checker::Verdict,
    pub watch: watcher::Seen,
    /// From the cluster's start to the sweep seen finished.
    pub wall: Duration,
    /// Where the logs and database were copied when something was wrong.
    pub kept: Option<PathBuf>,
}

impl Outcome {
    /// Every broken promise: the checker's, and the run's own.
    pub fn violations(&self) -> Vec<String> {
        let mut all = self.verdict.violations.clone();
        if !self.faults.finished {
            all.push(format!(
                "the sweep was not FINISHED within {:?}",
                self.plan.deadline
            ));
        }
        if !self.watch.finished {
            all.push(format!(
                "the watch stream never saw the sweep end: {:?}",
                self.watch
            ));
        }
        all
    }
}

/// Runs `plan` to its end and checks it.
pub async fn run(plan: &Plan) -> Outcome {
    let started = Instant::now();
    let mut cluster = Cluster::start(plan.lease_ms);
    let seeds: Vec<u64> = (1..=plan.trials).collect();
    let sweep = sim_sweep("chaos", &seeds, (1, 1), plan.max_attempts);
    let sweep_id = cluster.submit("chaos.yaml", &sweep).await;
    let watcher = watcher::Watcher::start(cluster.url(), &sweep_id);
    let target = cluster
        .url()
        .strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .expect("the coordinator's address");
    let proxy = proxy::Proxy::start(target).await;
    let mut fleet = fleet::Fleet::new(cluster.dir(), &proxy.url(), plan.epoch_ms);
    for _ in 0..plan.workers {
        fleet.start_new();
    }

    let faults = faults::run(plan, &mut cluster, &mut fleet, &proxy, &sweep_id).await;
    let wall = started.elapsed();

    let waited = Instant::now();
    while !watcher.seen().finished && waited.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let watch = watcher.seen();
    fleet.stop_all(Duration::from_secs(15)).await;
    cluster.coordinator().signal(libc::SIGTERM);
    cluster
        .coordinator()
        .wait_exit(Duration::from_secs(30))
        .await;

    let evidence = evidence::Evidence::read(&fleet.logs(), &coordinator_logs(cluster.dir()));
    let (rows, max_attempts, _) = checker::read_db(&cluster.db(), &sweep_id);
    let verdict = checker::check(&rows, max_attempts, &evidence);
    let mut outcome = Outcome {
        plan: plan.clone(),
        faults,
        verdict,
        watch,
        wall,
        kept: None,
    };
    if !outcome.violations().is_empty() {
        outcome.kept = keep(cluster.dir(), plan.seed);
    }
    outcome
}

/// Every `coordinator-N.log` in `dir`.
fn coordinator_logs(dir: &Path) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("coordinator-") && n.ends_with(".log"))
                })
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    logs
}

/// Copies the run's logs and database out of its temp dir (which dies
/// with the cluster), for a person to read.
fn keep(dir: &Path, seed: u64) -> Option<PathBuf> {
    let to = std::env::temp_dir().join(format!("sweep-chaos-{seed}"));
    std::fs::create_dir_all(&to).ok()?;
    for entry in std::fs::read_dir(dir).ok()?.filter_map(Result::ok) {
        let path = entry.path();
        let name = path.file_name()?.to_str()?.to_string();
        if name.ends_with(".log") || name.starts_with("sweep.db") || name.ends_with(".yaml") {
            std::fs::copy(&path, to.join(&name)).ok()?;
        }
    }
    Some(to)
}
