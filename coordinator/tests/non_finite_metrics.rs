//! Non-finite metrics through the store: heartbeats whose epochs hold NaN or
//! infinite values are accepted and kept, a diverged result completes its
//! trial without counting an attempt, and non-finite or diverged trials rank
//! after every finite one, for both goals.

mod common;

use common::*;
use std::sync::Arc;
use sweep_coordinator::store::{
    CompletionReport, HeartbeatReport, ManualClock, Store, TrialInfo, TrialState,
};
use sweep_proto::trial::{DivergedLoss, Divergence, TrialResult};

fn setup() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store = open_store(dir.path(), &clock);
    (dir, store)
}

fn submit(store: &Store, name: &str, n: usize, extra: &str) -> String {
    let yaml = seed_sweep_yaml(name, n, extra);
    store
        .create_sweep(&seed_sweep(name, n, extra), &yaml, "test.yaml")
        .unwrap()
}

fn complete_with(store: &Store, w: &str, sweep: &str, trial: &str, r: &TrialResult) -> bool {
    store
        .complete(&CompletionReport {
            sweep_id: sweep.into(),
            worker_id: w.into(),
            trial_id: trial.into(),
            attempt: 1,
            result_json: serde_json::to_string(r).unwrap(),
        })
        .unwrap()
}

/// A result that diverged in epoch 2 after a finite epoch 1 with `val_acc`.
fn diverged(val_acc: f64) -> TrialResult {
    let mut r = result(val_acc, 0.9);
    let mut bad = epoch(2, f64::NAN);
    bad.train_loss = f64::NAN;
    bad.val_loss = f64::NAN;
    r.epochs.push(bad);
    r.test.acc = f64::NAN;
    r.diverged = Some(Divergence {
        epoch: 2,
        phase: 1,
        loss: DivergedLoss::Train,
        batch: 4,
        value: f64::NAN,
    });
    r
}

/// A result whose ranking metrics (val_acc and val_loss) are both `v`.
fn with_metric(v: f64) -> TrialResult {
    let mut r = result(0.5, 0.9);
    r.best_val_acc = v;
    r.best_val_loss = v;
    r
}

fn trials(store: &Store, sweep: &str) -> Vec<TrialInfo> {
    store.list_trials(sweep, 0).unwrap().trials
}

#[test]
fn a_heartbeat_with_non_finite_epoch_metrics_is_accepted_and_kept() {
    let (_d, store) = setup();
    let s = submit(&store, "hb", 1, "");
    let w = worker(&store, "a");
    let l = store.lease(&w, "").unwrap().unwrap();
    // As a worker writes it, and as a person (or an older worker: null) might.
    let mut first = epoch(1, 0.6);
    first.train_loss = f64::INFINITY;
    let by_hand = r#"{"epoch":2,"phase":1,"train_loss":"NaN","train_acc":0.1,"val_loss":"-inf",
        "val_acc":"NaN","val_ece":null,"lr_backbone":1e-5,"lr_head":1e8,"wall_s":0.1}"#;
    let answer = store
        .heartbeat(&HeartbeatReport {
            sweep_id: s.clone(),
            worker_id: w.clone(),
            trial_id: l.trial_id.clone(),
            attempt: 1,
            epoch_json: vec![serde_json::to_string(&first).unwrap(), by_hand.into()],
            epochs_done: 2,
            total_epochs: 10,
        })
        .unwrap();
    assert!(!answer.stop);
    let epochs = store.trial_epochs(&s, &l.trial_id).unwrap();
    assert_eq!(epochs.len(), 2);
    assert_eq!(epochs[0].1.train_loss, f64::INFINITY);
    let e2 = &epochs[1].1;
    assert!(e2.train_loss.is_nan() && e2.val_acc.is_nan() && e2.val_ece.is_nan());
    assert_eq!(e2.val_loss, f64::NEG_INFINITY);
    // A non-finite val_acc leaves the one shown unchanged (none yet here).
    let running = &store.sweep_summary(&s).unwrap().running;
    assert_eq!(running[0].last_val_acc, None);
    assert_eq!(trials(&store, &s)[0].state, TrialState::Running);
}

#[test]
fn a_diverged_result_completes_without_counting_an_attempt() {
    let (_d, store) = setup();
    let s = submit(&store, "dv", 1, "max_attempts: 1\n");
    let w = worker(&store, "a");
    let l = store.lease(&w, "").unwrap().unwrap();
    assert!(complete_with(&store, &w, &s, &l.trial_id, &diverged(0.7)));
    let t = &trials(&store, &s)[0];
    assert_eq!(t.state, TrialState::Done);
    assert_eq!((t.attempts, t.counted_attempts), (1, 0));
    assert_eq!(t.metric, None, "a diverged trial has no ranking metric");
    assert_eq!(t.test_acc, None);
    assert_eq!(
        t.last_error,
        "diverged at epoch 2 (train loss NaN, batch 4)"
    );
    let back: TrialResult = serde_json::from_str(&t.result_json).unwrap();
    assert!(back.epochs[1].train_loss.is_nan());
    assert_eq!(back.diverged.unwrap().epoch, 2);
    let epochs = store.trial_epochs(&s, &l.trial_id).unwrap();
    assert!(epochs[1].1.val_loss.is_nan());
    let sum = store.sweep_summary(&s).unwrap();
    assert_eq!((sum.counts.done, sum.counts.failed), (1, 0));
    assert_eq!(sum.best, None);
}

#[test]
fn non_finite_and_diverged_trials_rank_after_every_finite_one_for_both_goals() {
    let (_d, store) = setup();
    let max = submit(&store, "max", 7, "");
    let min = submit(&store, "min", 7, "metric: {name: val_loss}\n");
    let w = worker(&store, "a");
    // By index: NaN, 0.5, diverged (its finite best would win), +inf, 0.9, -inf, 0.7.
    let results = [
        with_metric(f64::NAN),
        with_metric(0.5),
        diverged(0.99),
        with_metric(f64::INFINITY),
        with_metric(0.9),
        with_metric(f64::NEG_INFINITY),
        with_metric(0.7),
    ];
    for sweep in [&max, &min] {
        for r in &results {
            let l = store.lease(&w, "").unwrap().unwrap();
            assert_eq!(&l.sweep_id, sweep);
            assert!(complete_with(&store, &w, sweep, &l.trial_id, r));
        }
    }
    let order = |sweep: &str| -> Vec<(u32, u64, Option<f64>)> {
        trials(&store, sweep)
            .iter()
            .map(|t| (t.rank, t.index, t.metric))
            .collect()
    };
    let last = [(4, 0, None), (5, 2, None), (6, 3, None), (7, 5, None)];
    let mut want = vec![(1, 4, Some(0.9)), (2, 6, Some(0.7)), (3, 1, Some(0.5))];
    want.extend(last);
    assert_eq!(order(&max), want);
    let mut want = vec![(1, 1, Some(0.5)), (2, 6, Some(0.7)), (3, 4, Some(0.9))];
    want.extend(last);
    assert_eq!(order(&min), want);
    let best = |sweep: &str| store.sweep_summary(sweep).unwrap().best.unwrap().0;
    assert_eq!((best(&max), best(&min)), (0.9, 0.5));
    let notes: Vec<String> = trials(&store, &max)
        .into_iter()
        .map(|t| t.last_error)
        .collect();
    assert_eq!(notes[4], "diverged at epoch 2 (train loss NaN, batch 4)");
    assert!(notes.iter().filter(|n| !n.is_empty()).count() == 1);
}
