//! Leases with shared execution (issue 10): two trials of one share group
//! (the same frozen stages fed the same batches) running at the same moment
//! would both compute what they share, so a lease skips ahead to a pending
//! trial whose group is not running; with `execution: {sharing: off}`, or
//! when every pending group is running, trials go in plain index order. On a
//! real SQLite file, through the store's public API.

mod common;

use common::{complete, open_store, result_json, worker};
use std::sync::Arc;
use sweep_coordinator::store::{InputFingerprints, LeaseGrant, ManualClock, Store};
use sweep_coordinator::sweepfile::{self, LoadLimits};

/// 2 unfreeze depths × 2 backbone LRs: two share groups of two trials.
fn grid(sharing: &str) -> String {
    format!(
        "name: groups-{sharing}\nmethod: grid\nexecution: {{sharing: {sharing}, reuse: off}}\nbase:\n  input_size: 32\n  data: {{train: 500, val: 200, test: 200}}\nparameters:\n  phase2.unfreeze: {{values: [[layer4], [layer3, layer4]]}}\n  phase2.lr_backbone: {{values: [1.0e-4, 1.0e-3]}}\n"
    )
}

fn depth(l: &LeaseGrant) -> usize {
    let v: serde_json::Value = serde_json::from_str(&l.config_json).unwrap();
    v["phase2"]["unfreeze"].as_array().unwrap().len()
}

fn submit(store: &Store, yaml: &str) {
    let sweep = sweepfile::load(yaml, "t.yaml", &LoadLimits::default()).unwrap();
    store
        .submit_sweep(&sweep, yaml, "t.yaml", &InputFingerprints::new())
        .unwrap();
}

/// Three leases: w1, w2, then w1 again after finishing its first; their
/// unfreeze depths.
fn three_leases(sharing: &str) -> [usize; 3] {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), &Arc::new(ManualClock::new(1_000)));
    submit(&store, &grid(sharing));
    let (w1, w2) = (worker(&store, "a"), worker(&store, "b"));
    let first = store.lease(&w1, "").unwrap().unwrap();
    let second = store.lease(&w2, "").unwrap().unwrap();
    complete(&store, &w1, &first, result_json(0.9, 0.89));
    let third = store.lease(&w1, "").unwrap().unwrap();
    [depth(&first), depth(&second), depth(&third)]
}

#[test]
fn a_lease_skips_a_trial_whose_group_is_running() {
    // In index order the grid's second trial is the first's group partner
    // (same depth, other LR): without sharing it goes second.
    let [a, b, _] = three_leases("off");
    assert_eq!(a, b, "index order pairs the groups");
    // With sharing, the second worker gets the other group, and the first,
    // done with its trial, its group partner (which now runs on its cache).
    let [a, b, c] = three_leases("on");
    assert_ne!(a, b, "the second lease went to the running group");
    assert_eq!(a, c, "the first worker's next trial is its group partner");
}
