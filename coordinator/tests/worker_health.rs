//! Environment failures, quarantine, poison trials, draining and worker
//! states in the store: an environment failure counts no attempt but counts
//! against its worker; `quarantine_after` of them in a row on different
//! trials stop a worker's leases; a trial that breaks `poison_after`
//! workers fails; sweeps say when nobody can take their pending trials.

mod common;

use common::*;
use std::sync::Arc;
use sweep_coordinator::store::{
    FailureCause, FailureReport, LeaseGrant, ManualClock, Store, StoreError, TrialState,
    WorkerState, WorkerStatus,
};

fn setup(n: usize) -> (tempfile::TempDir, Arc<ManualClock>, Store, String) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store = open_store(dir.path(), &clock);
    let s = store
        .create_sweep(
            &seed_sweep("health", n, "max_attempts: 2\n"),
            &seed_sweep_yaml("health", n, "max_attempts: 2\n"),
            "t.yaml",
        )
        .unwrap();
    (dir, clock, store, s)
}

fn env_fail(store: &Store, w: &str, l: &LeaseGrant, error: &str) {
    assert!(store
        .fail(&FailureReport {
            sweep_id: l.sweep_id.clone(),
            worker_id: w.into(),
            trial_id: l.trial_id.clone(),
            attempt: l.attempt,
            error: error.into(),
            cause: FailureCause::Environment,
            ..Default::default()
        })
        .unwrap());
}

fn status(store: &Store, w: &str) -> WorkerStatus {
    store
        .list_workers()
        .unwrap()
        .into_iter()
        .find(|s| s.worker_id == w)
        .unwrap()
}

fn trial_of(store: &Store, sweep: &str, trial_id: &str) -> sweep_coordinator::store::TrialInfo {
    store
        .list_trials(sweep, 0)
        .unwrap()
        .trials
        .into_iter()
        .find(|t| t.trial_id == trial_id)
        .unwrap()
}

#[test]
fn an_environment_failure_counts_no_attempt_and_the_worker_moves_on() {
    let (_d, _c, store, s) = setup(2);
    let w = worker(&store, "broken");
    let first = store.lease(&w, "").unwrap().unwrap();
    env_fail(
        &store,
        &w,
        &first,
        "backbone weights data/r18.safetensors not found",
    );
    let t = trial_of(&store, &s, &first.trial_id);
    assert_eq!(
        (t.state, t.counted_attempts, t.attempts),
        (TrialState::Pending, 0, 1)
    );
    assert!(
        t.last_error.contains("environment failure on worker")
            && t.last_error.contains("not found"),
        "{}",
        t.last_error
    );
    // The same worker is handed the other trial, not the one it failed.
    let second = store.lease(&w, "").unwrap().unwrap();
    assert_ne!(second.trial_id, first.trial_id);
    // Another worker takes the first one, as attempt 2 that still counts as its first.
    let other = worker(&store, "fine");
    let again = store.lease(&other, "").unwrap().unwrap();
    assert_eq!(
        (again.trial_id.as_str(), again.attempt),
        (first.trial_id.as_str(), 2)
    );
    complete(&store, &other, &again, result_json(0.5, 0.5));
    let st = status(&store, &w);
    assert_eq!(
        (st.environment_failures, st.failed, st.done, st.running),
        (1, 0, 0, 1)
    );
    assert_eq!(st.state, WorkerState::Active);
    assert_eq!(status(&store, &other).done, 1);
}

#[test]
fn quarantine_after_k_environment_failures_on_different_trials() {
    let (_d, _c, store, s) = setup(5);
    let w = worker(&store, "nodata");
    let good = worker(&store, "good");
    let mut held = Vec::new();
    for n in 1..=3 {
        let l = store.lease(&w, "").unwrap().unwrap();
        if n == 2 {
            // One lease stays running while the worker breaks.
            held.push(l);
            continue;
        }
        env_fail(&store, &w, &l, &format!("data dir missing ({n})"));
        assert_eq!(status(&store, &w).state, WorkerState::Active, "after {n}");
    }
    let l = store.lease(&w, "").unwrap().unwrap();
    env_fail(
        &store,
        &w,
        &l,
        "backbone weights data/r18.safetensors not found",
    );
    let st = status(&store, &w);
    assert_eq!(
        (st.state, st.environment_failures),
        (WorkerState::Quarantined, 3)
    );
    match store.lease(&w, "") {
        Err(e @ StoreError::Quarantined { .. }) => {
            let text = e.to_string();
            assert_eq!(
                text,
                format!(
                    "worker {w} quarantined: its last 3 trials failed for environment reasons \
                     (last: backbone weights data/r18.safetensors not found)"
                )
            );
        }
        other => panic!("{other:?}"),
    }
    // Its running trial still reports, and finishing it lifts the quarantine.
    let summary = store.sweep_summary(&s).unwrap();
    assert_eq!(
        (summary.workers.active, summary.workers.quarantined),
        (1, 1)
    );
    assert_eq!(
        summary.stalled_reason, "",
        "the good worker can still lease"
    );
    complete(&store, &w, &held[0], result_json(0.5, 0.5));
    assert_eq!(status(&store, &w).state, WorkerState::Active);
    assert!(store.lease(&good, "").unwrap().is_some());
}

#[test]
fn a_completed_trial_between_environment_failures_breaks_the_streak() {
    let (_d, _c, store, _s) = setup(5);
    let w = worker(&store, "flaky");
    for n in 0..4 {
        let l = store.lease(&w, "").unwrap().unwrap();
        if n == 1 {
            complete(&store, &w, &l, result_json(0.5, 0.5));
        } else {
            env_fail(&store, &w, &l, "out of memory");
        }
    }
    // env, done, env, env: only 2 in a row.
    assert_eq!(status(&store, &w).state, WorkerState::Active);
    assert!(store.lease(&w, "").unwrap().is_some());
}

#[test]
fn a_trial_that_breaks_three_workers_fails() {
    let (_d, _c, store, s) = setup(1);
    let mut workers = Vec::new();
    for n in 1..=3 {
        let w = worker(&store, &format!("w{n}"));
        let l = store.lease(&w, "").unwrap().expect("the trial again");
        env_fail(&store, &w, &l, "trial process killed by SIGSEGV");
        workers.push(w);
    }
    let t = store.list_trials(&s, 0).unwrap().trials.remove(0);
    assert_eq!(
        (t.state, t.counted_attempts, t.attempts),
        (TrialState::Failed, 0, 3)
    );
    assert!(
        t.last_error
            .starts_with("failed for environment reasons on 3 different workers")
            && t.last_error.contains("SIGSEGV"),
        "{}",
        t.last_error
    );
    for w in &workers {
        assert!(store.lease(w, "").unwrap().is_none());
    }
    // A failed trial never reopens: another environment failure is refused.
    assert!(matches!(
        store.fail(&FailureReport {
            sweep_id: s.clone(),
            worker_id: workers[2].clone(),
            trial_id: t.trial_id.clone(),
            attempt: 3,
            error: "again".into(),
            cause: FailureCause::Environment,
            ..Default::default()
        }),
        Err(StoreError::TrialOver { .. })
    ));
}

#[test]
fn a_sweep_says_when_every_worker_is_quarantined_or_gone() {
    let (_d, clock, store, s) = setup(4);
    assert_eq!(
        store.sweep_summary(&s).unwrap().stalled_reason,
        "",
        "no worker yet is not a stall"
    );
    let w = worker(&store, "nodata");
    let other = store
        .create_sweep(
            &seed_sweep("other", 1, ""),
            &seed_sweep_yaml("other", 1, ""),
            "o.yaml",
        )
        .unwrap();
    let other_watcher = store.subscribe(&other);
    for n in 0..3 {
        let l = store.lease(&w, "").unwrap().unwrap();
        assert_eq!(l.sweep_id, s);
        env_fail(&store, &w, &l, "data dir missing");
        // The quarantine changes every sweep's summary: all watchers hear of it.
        assert_eq!(other_watcher.has_changed().unwrap(), n == 2, "after {n}");
    }
    let summary = store.sweep_summary(&s).unwrap();
    assert_eq!(
        (summary.workers.active, summary.workers.quarantined),
        (0, 1)
    );
    assert_eq!(
        summary.stalled_reason,
        "4 trials are pending but no worker can take them: of 1 known worker, \
         1 quarantined after environment failures"
    );
    assert_eq!(
        store.sweep_summary(&other).unwrap().stalled_reason,
        "1 trial is pending but no worker can take it: of 1 known worker, \
         1 quarantined after environment failures"
    );
    // A second worker that registers and then goes silent for two leases.
    let _silent = worker(&store, "silent");
    assert_eq!(store.sweep_summary(&s).unwrap().stalled_reason, "");
    clock.advance_ms(2 * LEASE_MS + 1);
    let summary = store.sweep_summary(&s).unwrap();
    assert_eq!(summary.workers.gone, 2);
    assert!(
        summary
            .stalled_reason
            .ends_with("of 2 known workers, 2 gone"),
        "{}",
        summary.stalled_reason
    );
    assert_eq!(status(&store, &w).state, WorkerState::Gone);
    // Any call brings a worker back.
    let _ = store.lease(&w, "");
    assert_eq!(status(&store, &w).state, WorkerState::Quarantined);
}

#[test]
fn a_draining_worker_leases_nothing_but_finishes_its_trials() {
    let (_d, _c, store, s) = setup(3);
    let w = worker(&store, "leaving");
    let l = store.lease(&w, "").unwrap().unwrap();
    let mut watcher = store.subscribe(&s);
    store.drain_worker(&w).unwrap();
    assert!(watcher.has_changed().unwrap(), "watchers hear of a drain");
    watcher.mark_unchanged();
    store.drain_worker(&w).unwrap();
    assert!(!watcher.has_changed().unwrap(), "draining twice is once");
    assert!(store.lease(&w, "").unwrap().is_none());
    let st = status(&store, &w);
    assert_eq!((st.state, st.running), (WorkerState::Draining, 1));
    let summary = store.sweep_summary(&s).unwrap();
    assert_eq!(summary.workers.active, 0);
    assert!(
        summary
            .stalled_reason
            .ends_with("of 1 known worker, 1 draining"),
        "{}",
        summary.stalled_reason
    );
    complete(&store, &w, &l, result_json(0.5, 0.5));
    assert_eq!(status(&store, &w).done, 1);
    assert!(matches!(
        store.drain_worker("nobody-0000"),
        Err(StoreError::UnknownWorker(_))
    ));
}
