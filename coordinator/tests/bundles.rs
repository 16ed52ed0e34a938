//! Bundles (issue 10, item 1): a worker asking for several trials gets, in
//! one transaction, partners that see the same batch stream, those of the
//! first trial's share group first; never more than its fair share of the
//! pending trials (counted in trials and in expected work) or the sweep's
//! `parallelism` allows; never a trial of
//! another batch stream. Each partner is a lease of its own: a retry of the
//! request gets the same bundle back, a waiting partner's heartbeat keeps
//! it, an expired one is taken back and leased again under a new attempt,
//! and its stale attempt is refused. On a real SQLite file, through the
//! store's public API.

mod common;

use common::{complete, open_store, result_json, worker, LEASE_MS};
use std::sync::Arc;
use sweep_coordinator::store::{
    HeartbeatReport, InputFingerprints, LeaseGrant, ManualClock, Store, StoreError,
};
use sweep_coordinator::sweepfile::{self, LoadLimits};

/// 3 unfreeze depths × 2 backbone LRs × `seeds` (a batch stream of 6
/// trials per seed, each three share groups of two), with `extra` sweep keys.
/// (Not `[all]`: such a trial has no share group and goes alone, see
/// `a_trial_that_shares_nothing_with_partners_goes_alone`.)
fn grid(seeds: &str, extra: &str) -> String {
    format!(
        "name: bundles\nmethod: grid\nexecution: {{reuse: off}}\n{extra}base:\n  input_size: 32\n  data: {{train: 500, val: 200, test: 200}}\nparameters:\n  seed: {{values: [{seeds}]}}\n  phase2.unfreeze: {{values: [[layer4], [layer3, layer4], [layer2, layer3, layer4]]}}\n  phase2.lr_backbone: {{values: [1.0e-4, 1.0e-3]}}\n"
    )
}

fn field(l: &LeaseGrant, path: &[&str]) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(&l.config_json).unwrap();
    for p in path {
        v = v[*p].take();
    }
    v
}

fn seed(l: &LeaseGrant) -> u64 {
    field(l, &["seed"]).as_u64().unwrap()
}

fn depth(l: &LeaseGrant) -> serde_json::Value {
    field(l, &["phase2", "unfreeze"])
}

fn submit(store: &Store, yaml: &str) -> String {
    let sweep = sweepfile::load(yaml, "t.yaml", &LoadLimits::default()).unwrap();
    store
        .submit_sweep(&sweep, yaml, "t.yaml", &InputFingerprints::new())
        .unwrap()
        .sweep_id
}

fn setup(seeds: &str, extra: &str) -> (tempfile::TempDir, Arc<ManualClock>, Store, String) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000));
    let store = open_store(dir.path(), &clock);
    let sweep = submit(&store, &grid(seeds, extra));
    (dir, clock, store, sweep)
}

fn beat(store: &Store, w: &str, l: &LeaseGrant) -> Result<bool, StoreError> {
    store
        .heartbeat(&HeartbeatReport {
            sweep_id: l.sweep_id.clone(),
            worker_id: w.into(),
            trial_id: l.trial_id.clone(),
            attempt: l.attempt,
            epoch_json: Vec::new(),
            epochs_done: 0,
            total_epochs: 10,
        })
        .map(|a| a.stop)
}

#[test]
fn a_bundle_is_one_batch_stream_its_share_group_first() {
    let (_d, _c, store, _) = setup("1, 2", "");
    let w = worker(&store, "a");
    let bundle = store.lease_bundle(&w, "r1", 4).unwrap();
    assert_eq!(
        bundle.len(),
        4,
        "one live worker may take up to what it asks"
    );
    let stream = seed(&bundle[0]);
    assert!(bundle.iter().all(|l| seed(l) == stream), "one batch stream");
    assert_eq!(
        depth(&bundle[1]),
        depth(&bundle[0]),
        "the first trial's group partner comes next"
    );
    let mut ids: Vec<_> = bundle.iter().map(|l| l.trial_id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 4, "four different trials");
    assert!(bundle
        .iter()
        .all(|l| l.attempt == 1 && l.lease_ms == LEASE_MS));

    // A retry of the request gets the same bundle, in order, no new attempt.
    let again = store.lease_bundle(&w, "r1", 4).unwrap();
    assert_eq!(again, bundle);

    // The two left of its stream (8 pending, half a share: 4), then the
    // other stream (never mixed), in bundles shrinking to the end.
    let rest = store.lease_bundle(&w, "r2", 16).unwrap();
    assert_eq!(rest.len(), 2, "{rest:#?}");
    assert!(rest.iter().all(|l| seed(l) == stream));
    let mut pending: usize = 6;
    while pending > 0 {
        let got = store.lease_bundle(&w, "", 16).unwrap();
        assert!((1..=pending.div_ceil(2)).contains(&got.len()));
        assert!(got.iter().all(|l| seed(l) != stream));
        pending -= got.len();
    }
    assert!(store.lease_bundle(&w, "", 16).unwrap().is_empty());
}

#[test]
fn a_worker_takes_its_fair_share_and_parallelism_holds() {
    let (_d, _c, store, _) = setup("1, 2, 3", "");
    let (a, b) = (worker(&store, "a"), worker(&store, "b"));
    // 18 pending, 2 live slots: half a slot's share, 18 / 4 rounded up.
    assert_eq!(store.lease_bundle(&a, "", 16).unwrap().len(), 5);
    // 13 pending: 4; then the bundles shrink to the end.
    assert_eq!(store.lease_bundle(&b, "", 16).unwrap().len(), 4);
    let mut pending: usize = 9;
    while pending > 0 {
        let got = store.lease_bundle(&a, "", 16).unwrap().len();
        assert!(
            (1..=pending.div_ceil(4)).contains(&got),
            "{got} of {pending} pending"
        );
        pending -= got;
    }
    assert!(store.lease_bundle(&a, "", 16).unwrap().is_empty());
    // A third live slot shrinks what each takes: 18 / 6.
    let (_d3, _c3, store, _) = setup("1, 2, 3", "");
    let (a, _b, _c) = (
        worker(&store, "a"),
        worker(&store, "b"),
        worker(&store, "c"),
    );
    assert_eq!(store.lease_bundle(&a, "", 16).unwrap().len(), 3);

    let (_d2, _c2, store, _) = setup("1, 2", "parallelism: 3\n");
    let w = worker(&store, "a");
    let first = store.lease_bundle(&w, "", 16).unwrap();
    assert_eq!(first.len(), 3, "no more than parallelism runs");
    assert!(store.lease_bundle(&w, "", 16).unwrap().is_empty());
    complete(&store, &w, &first[0], result_json(0.9, 0.9));
    assert_eq!(store.lease_bundle(&w, "", 16).unwrap().len(), 1);
}

#[test]
fn dear_trials_go_out_by_their_share_of_the_work_not_of_the_count() {
    // 3 `[all]` trials, then 3 `[layer4]` ones; a short phase 1 and a long
    // phase 2 on a tiny validation split make an `[all]` trial cost a little
    // over twice a `[layer4]` one (backward through all 5 stages, not 1). A
    // phase 1 that trains `layer4` gives the `[all]` trials a share group.
    let yaml = "name: dear\nmethod: grid\nexecution: {reuse: off}\nbase:\n  input_size: 32\n  data: {train: 1000, val: 10, test: 10}\n  phase1: {epochs: 1, unfreeze: [layer4]}\n  phase2: {epochs: 9}\nparameters:\n  phase2.unfreeze: {values: [[all], [layer4]]}\n  phase2.lr_backbone: {values: [1.0e-5, 1.0e-4, 1.0e-3]}\n";
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), &Arc::new(ManualClock::new(1_000)));
    submit(&store, yaml);
    let w = worker(&store, "a");
    let cost = |l: &LeaseGrant| {
        serde_json::from_str::<sweep_proto::trial::TrialConfig>(&l.config_json)
            .unwrap()
            .relative_cost()
    };
    // One live slot: half its share is 3 of the 6 trials, and half the work
    // plus an average trial, (3 all + 3 layer4) / 2 + (all + layer4) / 2 =
    // 2 all + 2 layer4, is less than 3 `[all]` trials: two go out.
    let first = store.lease_bundle(&w, "", 16).unwrap();
    assert_eq!(first.len(), 2, "{first:#?}");
    assert!(first.iter().all(|l| depth(l) == serde_json::json!(["all"])));
    for l in &first {
        complete(&store, &w, l, result_json(0.9, 0.9));
    }
    // 4 pending (1 all, 3 layer4): 2 by count, and the last `[all]` with a
    // `[layer4]` partner is under 2 + 1 average trials.
    let rest = store.lease_bundle(&w, "", 16).unwrap();
    assert_eq!(rest.len(), 2, "{rest:#?}");
    assert_eq!(depth(&rest[0]), serde_json::json!(["all"]));
    let (all, layer4) = (cost(&first[0]), cost(&rest[1]));
    assert!(all > 2.0 * layer4 && all < 2.1 * layer4, "{all} {layer4}");

    // Trials of equal cost go out as the count allows: the same 6 trials
    // with one depth only, 3 at once.
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), &Arc::new(ManualClock::new(1_000)));
    submit(
        &store,
        &yaml
            .replace("[[all], [layer4]]", "[[all]]")
            .replace("1.0e-3]", "1.0e-3, 1.0e-2, 1.0e-1, 0.5]"),
    );
    let w = worker(&store, "a");
    assert_eq!(store.lease_bundle(&w, "", 16).unwrap().len(), 3);
}

#[test]
fn a_trial_that_shares_nothing_with_partners_goes_alone() {
    // `[layer4]` and `[all]` × 2 backbone LRs, one batch stream; phase 1
    // trains the head only, so an `[all]` trial shares nothing in phase 2
    // and nothing in phase 1 that each worker does not compute anyway.
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), &Arc::new(ManualClock::new(1_000)));
    submit(
        &store,
        &grid("1", "").replace("[layer3, layer4], [layer2, layer3, layer4]", "[all]"),
    );
    let a = worker(&store, "a");
    let layer4 = store.lease_bundle(&a, "", 16).unwrap();
    assert_eq!(layer4.len(), 2, "no `[all]` partner: {layer4:#?}");
    assert!(layer4
        .iter()
        .all(|l| depth(l) == serde_json::json!(["layer4"])));
    // Alone, and not kept apart from the other `[all]` trial running.
    let b = worker(&store, "b");
    let first_all = store.lease_bundle(&b, "", 16).unwrap();
    assert_eq!(first_all.len(), 1);
    assert_eq!(depth(&first_all[0]), serde_json::json!(["all"]));
    let second_all = store.lease_bundle(&a, "", 16).unwrap();
    assert_eq!(second_all.len(), 1);
    assert_eq!(depth(&second_all[0]), serde_json::json!(["all"]));
    assert_ne!(second_all[0].trial_id, first_all[0].trial_id);
}

#[test]
fn each_partner_is_a_lease_of_its_own() {
    let (_d, clock, store, _) = setup("1, 2", "");
    let (w, other) = (worker(&store, "a"), worker(&store, "b"));
    let bundle = store.lease_bundle(&w, "", 3).unwrap();
    assert_eq!(bundle.len(), 3);
    // The worker runs the first and keeps the second waiting with
    // heartbeats; it forgets the third, whose lease expires.
    clock.advance_ms(LEASE_MS / 2);
    assert!(!beat(&store, &w, &bundle[0]).unwrap());
    assert!(!beat(&store, &w, &bundle[1]).unwrap());
    clock.advance_ms(LEASE_MS / 2 + 1);
    assert_eq!(store.expire_leases().unwrap(), 1, "only the forgotten one");
    let again = store.lease(&other, "").unwrap().unwrap();
    assert_eq!(
        (again.trial_id.as_str(), again.attempt),
        (bundle[2].trial_id.as_str(), 2),
        "the expired partner is leased again, under a new attempt"
    );
    assert!(
        beat(&store, &w, &bundle[2]).is_err(),
        "its stale attempt is refused"
    );
    // The waiting one still belongs to its worker and completes as any.
    complete(&store, &w, &bundle[1], result_json(0.8, 0.8));
    complete(&store, &w, &bundle[0], result_json(0.9, 0.9));
}

#[test]
fn asking_for_one_is_a_plain_lease() {
    let (_d, _c, store, _) = setup("1, 2", "");
    let w = worker(&store, "a");
    assert_eq!(store.lease_bundle(&w, "", 0).unwrap().len(), 1);
    assert_eq!(store.lease_bundle(&w, "", 1).unwrap().len(), 1);
    let plain = store.lease(&w, "x").unwrap().unwrap();
    assert_eq!(store.lease_bundle(&w, "x", 8).unwrap(), vec![plain]);
}
