//! Fixtures shared by the coordinator's tests: small sweeps, trivial trial
//! results, and a store on a temporary file with a hand-moved clock.
#![allow(dead_code)]

pub mod http_get;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use sweep_coordinator::store::{
    CompletionReport, LeaseGrant, ManualClock, Store, StoreOptions, WorkerInfo,
};
use sweep_coordinator::sweepfile::{self, LoadLimits, Sweep};
use sweep_proto::trial::{BackboneInfo, EpochMetrics, PhaseTiming, TestMetrics, TrialResult};

pub const LEASE_MS: u64 = 30_000;

/// A grid sweep over `seed` with `n` points and the given extra top-level
/// lines. Seeds start at a number derived from `name`, so sweeps with
/// different names share no config.
pub fn seed_sweep_yaml(name: &str, n: usize, extra: &str) -> String {
    let first = name
        .bytes()
        .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
        % 1_000_000
        * 1000;
    let seeds: Vec<String> = (first..first + n).map(|i| i.to_string()).collect();
    format!(
        "name: {name}\nmethod: grid\n{extra}base:\n  input_size: 32\n  data: {{train: 500, val: 200, test: 200}}\nparameters:\n  seed: {{values: [{}]}}\n",
        seeds.join(", ")
    )
}

pub fn seed_sweep(name: &str, n: usize, extra: &str) -> Sweep {
    sweepfile::load(
        &seed_sweep_yaml(name, n, extra),
        "test.yaml",
        &LoadLimits::default(),
    )
    .unwrap()
}

/// A store on a fresh file under `dir`, with a manual clock.
pub fn open_store(dir: &Path, clock: &Arc<ManualClock>) -> Store {
    Store::open(
        &dir.join("sweep.db"),
        StoreOptions {
            lease: Duration::from_millis(LEASE_MS),
            clock: clock.clone(),
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

pub fn worker(store: &Store, host: &str) -> String {
    store
        .register_worker(&WorkerInfo {
            hostname: host.into(),
            cores: 2,
            slots: 1,
            version: "test".into(),
        })
        .unwrap()
        .worker_id
}

pub fn epoch(n: u32, val_acc: f64) -> EpochMetrics {
    EpochMetrics {
        epoch: n,
        phase: 1,
        train_loss: 1.0 / n as f64,
        train_acc: val_acc,
        val_loss: 1.0 - val_acc,
        val_acc,
        val_ece: 0.05,
        lr_backbone: 1e-5,
        lr_head: 1e-3,
        wall_s: 0.1,
    }
}

/// A one-epoch result with the given validation and test accuracy.
pub fn result(val_acc: f64, test_acc: f64) -> TrialResult {
    TrialResult {
        backbone: BackboneInfo {
            name: "test.safetensors".into(),
            sha256: "00".into(),
        },
        epochs: vec![epoch(1, val_acc)],
        best_epoch: 1,
        best_val_acc: val_acc,
        best_val_loss: 1.0 - val_acc,
        best_val_ece: 0.05,
        test: TestMetrics {
            acc: test_acc,
            loss: 1.0 - test_acc,
            ece: 0.05,
            per_class_acc: vec![test_acc; 10],
            confusion: vec![vec![0; 10]; 10],
            reliability: vec![],
        },
        val: None,
        calibration: None,
        phases: vec![PhaseTiming {
            phase: 1,
            epochs: 1,
            wall_s: 0.1,
            train_images_per_s: 100.0,
            shared: false,
            prefix_shared_epochs: 0,
        }],
        wall_s: 0.1,
        turn_wait_s: 0.0,
        threads: 1,
        host: "test".into(),
        diverged: None,
        simulated: false,
    }
}

pub fn result_json(val_acc: f64, test_acc: f64) -> String {
    serde_json::to_string(&result(val_acc, test_acc)).unwrap()
}

/// Reports `lease` done by `worker` with `result_json`; the store must accept it.
pub fn complete(store: &Store, worker: &str, lease: &LeaseGrant, result_json: String) {
    assert!(store
        .complete(&CompletionReport {
            sweep_id: lease.sweep_id.clone(),
            worker_id: worker.into(),
            trial_id: lease.trial_id.clone(),
            attempt: lease.attempt,
            result_json,
        })
        .unwrap());
}
