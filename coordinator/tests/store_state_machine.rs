//! The store's state machine without gRPC: leases, heartbeats, expiry and
//! requeue, attempt fencing, late and repeated reports, hand-backs, cancel,
//! the parallelism cap, ranking, and a restart on the same file.

mod common;

use common::*;
use std::sync::Arc;
use sweep_coordinator::store::{
    chain_text, CompletionReport, FailureReport, HeartbeatReport, ManualClock, OpenError, Store,
    StoreError, StoreOptions, SweepState, TrialState,
};

fn setup() -> (tempfile::TempDir, Arc<ManualClock>, Store) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store = open_store(dir.path(), &clock);
    (dir, clock, store)
}

fn submit(store: &Store, name: &str, n: usize, extra: &str) -> String {
    let yaml = seed_sweep_yaml(name, n, extra);
    store
        .create_sweep(&seed_sweep(name, n, extra), &yaml, "test.yaml")
        .unwrap()
}

fn beat(
    store: &Store,
    w: &str,
    trial: &str,
    attempt: u32,
    epochs: &[u32],
) -> Result<bool, StoreError> {
    store
        .heartbeat(&HeartbeatReport {
            sweep_id: Default::default(),
            worker_id: w.into(),
            trial_id: trial.into(),
            attempt,
            epoch_json: epochs
                .iter()
                .map(|&e| serde_json::to_string(&epoch(e, 0.5 + e as f64 / 100.0)).unwrap())
                .collect(),
            epochs_done: epochs.iter().copied().max().unwrap_or(0),
            total_epochs: 10,
        })
        .map(|a| a.stop)
}

fn complete(
    store: &Store,
    w: &str,
    trial: &str,
    attempt: u32,
    val_acc: f64,
) -> Result<bool, StoreError> {
    store.complete(&CompletionReport {
        sweep_id: Default::default(),
        worker_id: w.into(),
        trial_id: trial.into(),
        attempt,
        result_json: result_json(val_acc, 0.9),
    })
}

fn fail(
    store: &Store,
    w: &str,
    trial: &str,
    attempt: u32,
    error: &str,
    handed_back: bool,
) -> Result<bool, StoreError> {
    store.fail(&FailureReport {
        sweep_id: Default::default(),
        worker_id: w.into(),
        trial_id: trial.into(),
        attempt,
        error: error.into(),
        handed_back,
        ..Default::default()
    })
}

/// (state, attempts, last_error) of a trial.
fn trial(store: &Store, sweep: &str, trial_id: &str) -> (TrialState, u32, String) {
    let t = store
        .list_trials(sweep, 0)
        .unwrap()
        .trials
        .into_iter()
        .find(|t| t.trial_id == trial_id)
        .unwrap();
    (t.state, t.attempts, t.last_error)
}

#[test]
fn leases_go_oldest_sweep_first_in_index_order() {
    let (_d, _c, store) = setup();
    let w = worker(&store, "a");
    assert!(store.lease(&w, "").unwrap().is_none(), "nothing pending");
    let s1 = submit(&store, "one", 2, "");
    let s2 = submit(&store, "two", 1, "");
    assert!(
        s1.starts_with("sw-") && s1.len() == 11 && s1 != s2,
        "{s1} {s2}"
    );
    let points = seed_sweep("one", 2, "").points;
    let a = store.lease(&w, "").unwrap().unwrap();
    assert_eq!(
        (a.sweep_id.as_str(), a.trial_id.as_str(), a.attempt),
        (s1.as_str(), points[0].trial_id.as_str(), 1)
    );
    assert_eq!(a.config_json, points[0].config.canonical_json());
    assert_eq!(a.lease_ms, LEASE_MS);
    let b = store.lease(&w, "").unwrap().unwrap();
    assert_eq!(
        (b.sweep_id.as_str(), b.trial_id.as_str()),
        (s1.as_str(), points[1].trial_id.as_str())
    );
    let c = store.lease(&w, "").unwrap().unwrap();
    assert_eq!(c.sweep_id, s2);
    assert!(store.lease(&w, "").unwrap().is_none());
    let sum = store.sweep_summary(&s1).unwrap();
    assert_eq!(
        (sum.counts.total, sum.counts.running, sum.counts.pending),
        (2, 2, 0)
    );
    assert_eq!(sum.state, SweepState::Running);
    assert_eq!(sum.running[0].worker_id, w);

    match store.lease("w-nobody", "") {
        Err(StoreError::UnknownWorker(id)) => assert_eq!(id, "w-nobody"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        beat(&store, "w-nobody", &a.trial_id, 1, &[]),
        Err(StoreError::UnknownWorker(_))
    ));
    assert!(matches!(
        store.sweep_summary("sw-none"),
        Err(StoreError::NoSweep(_))
    ));
}

#[test]
fn heartbeat_extends_the_lease_and_records_epochs_once() {
    let (_d, clock, store) = setup();
    let s = submit(&store, "hb", 1, "");
    let w = worker(&store, "a");
    let l = store.lease(&w, "").unwrap().unwrap();
    clock.advance_ms(LEASE_MS - 1);
    assert!(!beat(&store, &w, &l.trial_id, 1, &[1, 2]).unwrap());
    assert!(
        !beat(&store, &w, &l.trial_id, 1, &[2, 3]).unwrap(),
        "epoch 2 again is ignored"
    );
    clock.advance_ms(LEASE_MS - 1);
    assert_eq!(
        store.expire_leases().unwrap(),
        0,
        "the heartbeat renewed the lease"
    );
    let sum = store.sweep_summary(&s).unwrap();
    assert_eq!(sum.running[0].epochs_done, 3);
    assert_eq!(sum.running[0].total_epochs, 10);
    assert_eq!(sum.running[0].last_val_acc, Some(0.53));
    let epochs = store.trial_epochs(&s, &l.trial_id).unwrap();
    assert_eq!(
        epochs
            .iter()
            .map(|(a, e)| (*a, e.epoch))
            .collect::<Vec<_>>(),
        vec![(1, 1), (1, 2), (1, 3)]
    );

    clock.advance_ms(2);
    assert_eq!(
        store.expire_leases().unwrap(),
        1,
        "no heartbeat for a whole lease"
    );

    let bad = store.heartbeat(&HeartbeatReport {
        sweep_id: Default::default(),
        worker_id: w.clone(),
        trial_id: l.trial_id.clone(),
        attempt: 1,
        epoch_json: vec!["{\"epoch\": 1}".into()],
        ..Default::default()
    });
    match bad {
        Err(e @ StoreError::BadEpoch { index: 0, .. }) => {
            assert!(
                chain_text(&e).starts_with("epoch_json[0]: not EpochMetrics: "),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn expiry_requeues_then_fails_after_max_attempts() {
    let (_d, clock, store) = setup();
    let s = submit(&store, "exp", 1, "max_attempts: 2\n");
    let w = worker(&store, "a");
    let l1 = store.lease(&w, "").unwrap().unwrap();
    clock.advance_ms(LEASE_MS + 1);
    // Lazily, before leasing: attempt 1 expires, the trial is leased again.
    let l2 = store.lease(&w, "").unwrap().unwrap();
    assert_eq!(
        (l2.trial_id.as_str(), l2.attempt),
        (l1.trial_id.as_str(), 2)
    );
    clock.advance_ms(LEASE_MS + 1);
    assert_eq!(store.expire_leases().unwrap(), 1);
    let (state, attempts, error) = trial(&store, &s, &l1.trial_id);
    assert_eq!((state, attempts), (TrialState::Failed, 2));
    assert_eq!(error, "lease expired after 2 attempts");
    assert!(store.lease(&w, "").unwrap().is_none());
    assert_eq!(store.sweep_summary(&s).unwrap().state, SweepState::Finished);
}

#[test]
fn failures_count_and_the_last_error_is_kept() {
    let (_d, _c, store) = setup();
    let s = submit(&store, "f", 1, "max_attempts: 2\n");
    let w = worker(&store, "a");
    let l = store.lease(&w, "").unwrap().unwrap();
    assert!(fail(&store, &w, &l.trial_id, 1, "out of memory", false).unwrap());
    assert!(
        !fail(&store, &w, &l.trial_id, 1, "out of memory", false).unwrap(),
        "a repeat stores nothing"
    );
    assert_eq!(trial(&store, &s, &l.trial_id).0, TrialState::Pending);
    let l = store.lease(&w, "").unwrap().unwrap();
    assert_eq!(l.attempt, 2);
    assert!(fail(&store, &w, &l.trial_id, 2, "NaN loss at epoch 3", false).unwrap());
    let (state, attempts, error) = trial(&store, &s, &l.trial_id);
    assert_eq!(
        (state, attempts, error.as_str()),
        (TrialState::Failed, 2, "NaN loss at epoch 3")
    );
    assert_eq!(store.sweep_summary(&s).unwrap().counts.failed, 1);
}

#[test]
fn stale_attempts_are_refused() {
    let (_d, clock, store) = setup();
    let _s = submit(&store, "stale", 1, "");
    let a = worker(&store, "a");
    let b = worker(&store, "b");
    let l1 = store.lease(&a, "").unwrap().unwrap();
    clock.advance_ms(LEASE_MS + 1);
    let l2 = store.lease(&b, "").unwrap().unwrap();
    assert_eq!(l2.attempt, 2);
    for r in [
        beat(&store, &a, &l1.trial_id, 1, &[1]),
        complete(&store, &a, &l1.trial_id, 1, 0.9),
        fail(&store, &a, &l1.trial_id, 1, "x", false),
        fail(&store, &a, &l1.trial_id, 1, "x", true),
    ] {
        match r {
            Err(e @ StoreError::StaleAttempt { .. }) => {
                assert_eq!(
                    e.to_string(),
                    format!("trial {}: stale attempt 1, current is 2", l1.trial_id)
                )
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        complete(&store, &b, &l1.trial_id, 3, 0.9),
        Err(StoreError::StaleAttempt { .. })
    ));
    assert!(matches!(
        complete(&store, &b, "0000000000000000", 1, 0.9),
        Err(StoreError::NoTrial(_))
    ));
    assert!(complete(&store, &b, &l2.trial_id, 2, 0.9).unwrap());
}

#[test]
fn a_never_leased_trial_takes_no_report() {
    let (_d, _c, store) = setup();
    let _s = submit(&store, "nl", 1, "");
    let w = worker(&store, "a");
    let id = seed_sweep("nl", 1, "").points[0].trial_id.clone();
    assert!(matches!(
        complete(&store, &w, &id, 0, 0.9),
        Err(StoreError::StaleAttempt { .. })
    ));
}

#[test]
fn a_repeated_complete_stores_one_result() {
    let (_d, _c, store) = setup();
    let s = submit(&store, "dup", 1, "");
    let w = worker(&store, "a");
    let l = store.lease(&w, "").unwrap().unwrap();
    assert!(complete(&store, &w, &l.trial_id, 1, 0.8).unwrap());
    assert!(!complete(&store, &w, &l.trial_id, 1, 0.1).unwrap());
    assert!(!fail(&store, &w, &l.trial_id, 1, "late failure", false).unwrap());
    let t = &store.list_trials(&s, 0).unwrap().trials[0];
    assert_eq!((t.state, t.metric), (TrialState::Done, Some(0.8)));
    assert_eq!(t.test_acc, Some(0.9));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&t.result_json).unwrap()["best_val_acc"],
        0.8
    );
    assert!(matches!(
        beat(&store, &w, &l.trial_id, 1, &[]),
        Err(StoreError::AlreadyReported { .. })
    ));
    assert_eq!(store.sweep_summary(&s).unwrap().state, SweepState::Finished);
}

#[test]
fn a_late_result_of_the_latest_attempt_is_accepted() {
    let (_d, clock, store) = setup();
    let s = submit(&store, "late", 2, "max_attempts: 1\n");
    let w = worker(&store, "a");
    let a = store.lease(&w, "").unwrap().unwrap();
    let b = store.lease(&w, "").unwrap().unwrap();
    clock.advance_ms(LEASE_MS + 1);
    store.expire_leases().unwrap();
    assert_eq!(
        trial(&store, &s, &a.trial_id).0,
        TrialState::Failed,
        "max_attempts 1: failed on expiry"
    );
    // The worker was only slow: its result still counts.
    assert!(complete(&store, &w, &a.trial_id, 1, 0.7).unwrap());
    assert_eq!(
        trial(&store, &s, &a.trial_id),
        (TrialState::Done, 1, String::new()),
        "a done trial shows no error"
    );
    // A late heartbeat does not reopen the failed trial.
    assert!(matches!(
        beat(&store, &w, &b.trial_id, 1, &[4]),
        Err(StoreError::TrialOver {
            state: TrialState::Failed,
            ..
        })
    ));
    let (state, attempts, error) = trial(&store, &s, &b.trial_id);
    assert_eq!(
        (state, attempts, error.as_str()),
        (TrialState::Failed, 1, "lease expired after 1 attempts")
    );
    assert_eq!(store.sweep_summary(&s).unwrap().state, SweepState::Finished);
}

#[test]
fn terminal_states_never_reopen() {
    let (_d, clock, store) = setup();
    let s = submit(&store, "strict", 1, "max_attempts: 1\n");
    let w = worker(&store, "a");
    let l = store.lease(&w, "").unwrap().unwrap();
    clock.advance_ms(LEASE_MS + 1);
    assert_eq!(store.expire_leases().unwrap(), 1);
    let failed = store.sweep_summary(&s).unwrap();
    assert_eq!(
        (failed.state, failed.counts.failed),
        (SweepState::Finished, 1)
    );
    let mut rx = store.subscribe(&s);

    // The silent worker comes back: neither a heartbeat nor a hand-back is
    // taken, and neither changes anything.
    for refused in [
        beat(&store, &w, &l.trial_id, 1, &[1]),
        fail(&store, &w, &l.trial_id, 1, "shutting down", true),
    ] {
        match refused {
            Err(e @ StoreError::TrialOver { .. }) => assert_eq!(
                e.to_string(),
                format!("trial {} is failed and does not reopen", l.trial_id)
            ),
            other => panic!("{other:?}"),
        }
    }
    assert!(!rx.has_changed().unwrap(), "a refusal changes nothing");
    assert_eq!(store.sweep_summary(&s).unwrap(), failed);
    assert!(store.lease(&w, "").unwrap().is_none(), "no attempt 2 of 1");
    assert!(store.trial_epochs(&s, &l.trial_id).unwrap().is_empty());

    // Its result is still taken: failed → done, and watchers hear of it; the
    // sweep stays finished.
    assert!(complete(&store, &w, &l.trial_id, 1, 0.9).unwrap());
    assert!(rx.has_changed().unwrap());
    let done = store.sweep_summary(&s).unwrap();
    assert_eq!(
        (done.state, done.counts.done, done.counts.failed),
        (SweepState::Finished, 1, 0)
    );
    let t = &store.list_trials(&s, 0).unwrap().trials[0];
    assert_eq!((t.attempts, t.counted_attempts), (1, 1));

    // Done is terminal too.
    rx.mark_unchanged();
    assert!(matches!(
        beat(&store, &w, &l.trial_id, 1, &[2]),
        Err(StoreError::AlreadyReported { .. })
    ));
    assert!(matches!(
        fail(&store, &w, &l.trial_id, 1, "shutting down", true),
        Err(StoreError::TrialOver {
            state: TrialState::Done,
            ..
        })
    ));
    assert!(!fail(&store, &w, &l.trial_id, 1, "late", false).unwrap());
    assert!(!rx.has_changed().unwrap());
    assert_eq!(store.sweep_summary(&s).unwrap(), done);
}

#[test]
fn a_cancelled_trial_takes_no_heartbeat_or_hand_back() {
    let (_d, _c, store) = setup();
    let s = submit(&store, "cancelled", 1, "");
    let w = worker(&store, "a");
    let l = store.lease(&w, "").unwrap().unwrap();
    store.cancel_sweep(&s).unwrap();
    assert!(beat(&store, &w, &l.trial_id, 1, &[1]).unwrap(), "stop");
    assert_eq!(trial(&store, &s, &l.trial_id).0, TrialState::Cancelled);
    for refused in [
        beat(&store, &w, &l.trial_id, 1, &[2]),
        fail(&store, &w, &l.trial_id, 1, "stopping", true),
    ] {
        assert!(
            matches!(
                refused,
                Err(StoreError::TrialOver {
                    state: TrialState::Cancelled,
                    ..
                })
            ),
            "{refused:?}"
        );
    }
    assert_eq!(
        trial(&store, &s, &l.trial_id),
        (TrialState::Cancelled, 1, "sweep cancelled".into())
    );
}

#[test]
fn a_late_failure_of_an_expired_attempt_keeps_the_trial_failed() {
    let (_d, clock, store) = setup();
    let s = submit(&store, "late-fail", 1, "max_attempts: 1\n");
    let w = worker(&store, "a");
    let l = store.lease(&w, "").unwrap().unwrap();
    clock.advance_ms(LEASE_MS + 1);
    store.expire_leases().unwrap();
    assert!(fail(&store, &w, &l.trial_id, 1, "NaN loss", false).unwrap());
    assert!(!fail(&store, &w, &l.trial_id, 1, "NaN loss", false).unwrap());
    assert_eq!(
        trial(&store, &s, &l.trial_id),
        (TrialState::Failed, 1, "NaN loss".into()),
        "the worker's reason replaces the expiry's; the state stays"
    );
    assert!(store.lease(&w, "").unwrap().is_none());
    assert_eq!(store.sweep_summary(&s).unwrap().state, SweepState::Finished);
}

#[test]
fn a_retried_lease_request_gets_the_same_assignment() {
    let (_d, clock, store) = setup();
    let s = submit(&store, "retry", 3, "");
    let w = worker(&store, "a");
    let v = worker(&store, "b");
    let first = store.lease(&w, "req-1").unwrap().unwrap();
    clock.advance_ms(LEASE_MS - 1);
    let again = store.lease(&w, "req-1").unwrap().unwrap();
    assert_eq!(again, first, "same trial, same attempt");
    clock.advance_ms(LEASE_MS - 1);
    assert_eq!(
        store.expire_leases().unwrap(),
        0,
        "the retry restarted the lease"
    );
    // Request ids are per worker; another id is another lease.
    let other = store.lease(&v, "req-1").unwrap().unwrap();
    let next = store.lease(&w, "req-2").unwrap().unwrap();
    assert_ne!(other.trial_id, first.trial_id);
    assert_ne!(next.trial_id, first.trial_id);
    assert_ne!(next.trial_id, other.trial_id);
    let t = store
        .list_trials(&s, 0)
        .unwrap()
        .trials
        .into_iter()
        .find(|t| t.trial_id == first.trial_id)
        .unwrap();
    assert_eq!(
        (t.state, t.attempts),
        (TrialState::Running, 1),
        "no attempt burned"
    );
    assert_eq!(store.sweep_summary(&s).unwrap().counts.running, 3);
}

#[test]
fn an_empty_request_id_leases_anew_and_an_empty_answer_is_not_remembered() {
    let (_d, _c, store) = setup();
    let w = worker(&store, "a");
    assert!(store.lease(&w, "req-1").unwrap().is_none());
    let s = submit(&store, "later", 2, "");
    let l = store.lease(&w, "req-1").unwrap().unwrap();
    assert_eq!((l.sweep_id.as_str(), l.attempt), (s.as_str(), 1));
    let a = store.lease(&w, "").unwrap().unwrap();
    assert_ne!(a.trial_id, l.trial_id);
    assert!(store.lease(&w, "").unwrap().is_none());
}

#[test]
fn a_retry_after_the_trial_moved_on_is_fenced_by_its_attempt() {
    let (_d, clock, store) = setup();
    let _s = submit(&store, "moved", 1, "");
    let a = worker(&store, "a");
    let b = worker(&store, "b");
    let first = store.lease(&a, "req-1").unwrap().unwrap();
    clock.advance_ms(LEASE_MS + 1);
    let second = store.lease(&b, "req-1").unwrap().unwrap();
    assert_eq!(second.attempt, 2);
    // The same answer, which the first heartbeat shows to be stale.
    assert_eq!(store.lease(&a, "req-1").unwrap().unwrap(), first);
    assert!(matches!(
        beat(&store, &a, &first.trial_id, 1, &[1]),
        Err(StoreError::StaleAttempt { .. })
    ));
    assert!(!beat(&store, &b, &second.trial_id, 2, &[1]).unwrap());
}

#[test]
fn a_lease_retry_after_a_restart_gets_the_same_assignment() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(5_000_000));
    let (s, w, first) = {
        let store = open_store(dir.path(), &clock);
        let s = submit(&store, "restart-retry", 2, "");
        let w = worker(&store, "a");
        let first = store.lease(&w, "req-1").unwrap().unwrap();
        (s, w, first)
    };
    clock.advance_ms(10 * LEASE_MS);
    let store = open_store(dir.path(), &clock);
    assert_eq!(store.lease(&w, "req-1").unwrap().unwrap(), first);
    let r = store.list_trials(&s, 0).unwrap();
    assert_eq!(
        r.trials.iter().map(|t| t.attempts).collect::<Vec<_>>(),
        vec![1, 0],
        "no attempt burned"
    );
}

#[test]
fn a_version_1_database_is_brought_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let (s, w) = {
        let store = open_store(dir.path(), &clock);
        let s = submit(&store, "v1", 1, "");
        (s, worker(&store, "a"))
    };
    let conn = rusqlite::Connection::open(dir.path().join("sweep.db")).unwrap();
    conn.execute_batch(UNDO_V6).unwrap();
    conn.execute_batch(UNDO_V5).unwrap();
    conn.execute_batch(UNDO_V4).unwrap();
    conn.execute_batch(UNDO_V3).unwrap();
    conn.execute_batch("DROP TABLE lease_requests; PRAGMA user_version = 1;")
        .unwrap();
    drop(conn);
    let store = open_store(dir.path(), &clock);
    let l = store.lease(&w, "req-1").unwrap().unwrap();
    assert_eq!(l.sweep_id, s);
    assert_eq!(store.lease(&w, "req-1").unwrap().unwrap(), l);
}

/// What version 6 added (execution settings, input fingerprints, reuse
/// marks), taken away again: a version 5 database.
const UNDO_V6: &str = "ALTER TABLE sweeps DROP COLUMN execution_json;
    ALTER TABLE sweeps DROP COLUMN inputs_json;
    ALTER TABLE trials DROP COLUMN reused_from_sweep;
    PRAGMA user_version = 5;";

#[test]
fn a_version_5_database_gains_execution_settings_with_both_defaults_on() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let (s, w) = {
        let store = open_store(dir.path(), &clock);
        let s = submit(&store, "v5", 2, "");
        (s, worker(&store, "a"))
    };
    let conn = rusqlite::Connection::open(dir.path().join("sweep.db")).unwrap();
    conn.execute_batch(UNDO_V6).unwrap();
    drop(conn);
    let store = open_store(dir.path(), &clock);
    let l = store.lease(&w, "req-1").unwrap().unwrap();
    assert_eq!(l.sweep_id, s);
    assert!(!l.sharing_off);
    let summary = store.sweep_summary(&s).unwrap();
    assert_eq!(
        summary.execution,
        sweep_coordinator::sweepfile::Execution::default()
    );
    assert_eq!(summary.counts.reused, 0);
    let trials = store.list_trials(&s, 0).unwrap().trials;
    assert!(trials.iter().all(|t| t.reused_from_sweep.is_empty()));
}

/// What version 5 added (artifacts), taken away again: a version 4 database.
const UNDO_V5: &str = "DROP TABLE artifacts;
    ALTER TABLE sweeps DROP COLUMN artifacts_json;
    PRAGMA user_version = 4;";

#[test]
fn a_version_4_database_gains_artifacts_with_the_default_policy() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let (s, w) = {
        let store = open_store(dir.path(), &clock);
        let s = submit(&store, "v4", 1, "");
        (s, worker(&store, "a"))
    };
    let conn = rusqlite::Connection::open(dir.path().join("sweep.db")).unwrap();
    conn.execute_batch(UNDO_V6).unwrap();
    conn.execute_batch(UNDO_V5).unwrap();
    drop(conn);
    let store = open_store(dir.path(), &clock);
    let l = store.lease(&w, "req-1").unwrap().unwrap();
    assert_eq!(l.sweep_id, s);
    assert_eq!(l.artifacts, ["best_weights", "gradcam", "confusion"]);
    assert_eq!(store.list_artifacts(&s, None).unwrap(), (vec![], false));
}

/// What version 4 added, taken away again (a version 3 database, but for
/// the `stopped` its CHECK allows, which a version 3 database never holds).
const UNDO_V4: &str = "ALTER TABLE sweeps DROP COLUMN planned;
    ALTER TABLE sweeps DROP COLUMN proposals_closed;
    ALTER TABLE sweeps DROP COLUMN early_stop_json;
    ALTER TABLE sweeps DROP COLUMN tpe_json;
    ALTER TABLE trials DROP COLUMN stop_epoch;
    ALTER TABLE trials DROP COLUMN stop_value;
    PRAGMA user_version = 3;";

#[test]
fn a_version_3_database_keeps_its_trials_and_leases_through_the_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let (s, w, l) = {
        let store = open_store(dir.path(), &clock);
        let s = submit(&store, "v3", 3, "");
        let w = worker(&store, "a");
        let l = store.lease(&w, "req-1").unwrap().unwrap();
        (s, w, l)
    };
    let conn = rusqlite::Connection::open(dir.path().join("sweep.db")).unwrap();
    conn.execute_batch(UNDO_V6).unwrap();
    conn.execute_batch(UNDO_V5).unwrap();
    conn.execute_batch(UNDO_V4).unwrap();
    drop(conn);
    let store = open_store(dir.path(), &clock);
    // The retried lease request still finds its trial (lease_requests
    // refers to the rebuilt table), the others are pending.
    assert_eq!(store.lease(&w, "req-1").unwrap().unwrap(), l);
    let summary = store.sweep_summary(&s).unwrap();
    assert_eq!(
        (
            summary.counts.total,
            summary.counts.running,
            summary.counts.pending
        ),
        (3, 1, 2)
    );
    assert!(store.lease(&w, "req-2").unwrap().is_some());
}

/// What version 3 added, taken away again (a version 2 database).
const UNDO_V3: &str = "DROP TABLE worker_outcomes;
    ALTER TABLE workers DROP COLUMN secret_sha256;
    ALTER TABLE workers DROP COLUMN draining;
    ALTER TABLE workers DROP COLUMN done;
    ALTER TABLE workers DROP COLUMN failed;
    ALTER TABLE workers DROP COLUMN environment_failures;
    ALTER TABLE workers DROP COLUMN quarantine_reason;
    ALTER TABLE trials DROP COLUMN handbacks;
    ALTER TABLE trials DROP COLUMN environment_failures;
    PRAGMA user_version = 2;";

#[test]
fn a_version_2_database_gains_secrets_and_its_workers_register_again() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let w = {
        let store = open_store(dir.path(), &clock);
        submit(&store, "v2", 1, "");
        worker(&store, "old")
    };
    let conn = rusqlite::Connection::open(dir.path().join("sweep.db")).unwrap();
    conn.execute_batch(UNDO_V6).unwrap();
    conn.execute_batch(UNDO_V5).unwrap();
    conn.execute_batch(UNDO_V4).unwrap();
    conn.execute_batch(UNDO_V3).unwrap();
    drop(conn);
    let store = open_store(dir.path(), &clock);
    // A worker from before secrets has none: it is told to register again.
    assert!(matches!(
        store.authenticate_worker(&w, "anything"),
        Err(StoreError::UnknownWorker(_))
    ));
    let fresh = store
        .register_worker(&sweep_coordinator::store::WorkerInfo::default())
        .unwrap();
    store
        .authenticate_worker(&fresh.worker_id, &fresh.secret)
        .unwrap();
}

#[test]
fn wall_clock_steps_change_no_deadline() {
    const DAY_MS: u64 = 24 * 3600 * 1000;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let store = open_store(dir.path(), &clock);
    let s = submit(&store, "ntp", 1, "");
    let w = worker(&store, "a");
    let l = store.lease(&w, "").unwrap().unwrap();
    // NTP steps the wall clock a day forward: no lease has run out.
    clock.step_wall_ms(DAY_MS as i64);
    assert_eq!(store.expire_leases().unwrap(), 0);
    assert!(!beat(&store, &w, &l.trial_id, 1, &[1]).unwrap());
    // ... and two days back: the heartbeat's deadline is not prolonged.
    clock.step_wall_ms(-2 * DAY_MS as i64);
    clock.advance_ms(LEASE_MS - 1);
    assert_eq!(store.expire_leases().unwrap(), 0);
    clock.advance_ms(2);
    assert_eq!(
        store.expire_leases().unwrap(),
        1,
        "a lease, by the monotonic clock"
    );
    assert_eq!(trial(&store, &s, &l.trial_id).0, TrialState::Pending);
    // Times people read still follow the wall clock.
    let later = submit(&store, "ntp-later", 1, "");
    let created = |id: &str| store.sweep_summary(id).unwrap().created_unix_ms;
    assert_eq!(created(&s), 1_700_000_000_000);
    assert_eq!(created(&later), 1_700_000_000_000 - DAY_MS + LEASE_MS + 1);
}

/// Random operations from several workers, some stale, some late, with
/// time passing: after each one, the state machine's promises still hold.
#[test]
fn random_histories_keep_the_promises() {
    use rand::{Rng, SeedableRng};
    let (_d, clock, store) = setup();
    let max_attempts = 2;
    let sweeps: Vec<String> = (0..2)
        .map(|i| submit(&store, &format!("random-{i}"), 3, "max_attempts: 2\n"))
        .collect();
    let workers: Vec<String> = (0..3).map(|i| worker(&store, &format!("w{i}"))).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut leases: Vec<(String, sweep_coordinator::store::LeaseGrant)> = Vec::new();
    let mut ended: std::collections::HashMap<(String, String), TrialState> = Default::default();
    let mut finished: std::collections::HashSet<String> = Default::default();
    for step in 0..300 {
        let w = workers[rng.random_range(0..workers.len())].clone();
        match rng.random_range(0..10) {
            0..=2 => {
                let request = format!("r{}", rng.random_range(0..4));
                if let Some(l) = store.lease(&w, &request).unwrap() {
                    leases.push((w, l));
                }
            }
            3..=7 if !leases.is_empty() => {
                let (w, l) = leases[rng.random_range(0..leases.len())].clone();
                let report = |handed_back| {
                    store.fail(&FailureReport {
                        sweep_id: l.sweep_id.clone(),
                        worker_id: w.clone(),
                        trial_id: l.trial_id.clone(),
                        attempt: l.attempt,
                        error: "boom".into(),
                        handed_back,
                        ..Default::default()
                    })
                };
                let _ = match rng.random_range(0..4) {
                    0 => store
                        .heartbeat(&HeartbeatReport {
                            sweep_id: l.sweep_id.clone(),
                            worker_id: w.clone(),
                            trial_id: l.trial_id.clone(),
                            attempt: l.attempt,
                            ..Default::default()
                        })
                        .map(|_| true),
                    1 => store.complete(&CompletionReport {
                        sweep_id: l.sweep_id.clone(),
                        worker_id: w.clone(),
                        trial_id: l.trial_id.clone(),
                        attempt: l.attempt,
                        result_json: result_json(0.5, 0.5),
                    }),
                    2 => report(false),
                    _ => report(true),
                };
            }
            8 => clock.advance_ms(rng.random_range(0..2 * LEASE_MS)),
            _ => {
                store.expire_leases().unwrap();
            }
        }
        for s in &sweeps {
            let summary = store.sweep_summary(s).unwrap();
            if summary.state == SweepState::Finished {
                finished.insert(s.clone());
            }
            assert!(
                summary.state == SweepState::Finished || !finished.contains(s),
                "step {step}: sweep {s} reopened"
            );
            for t in store.list_trials(s, 0).unwrap().trials {
                assert!(
                    t.counted_attempts <= max_attempts,
                    "step {step}: {} counted {} attempts",
                    t.trial_id,
                    t.counted_attempts
                );
                let key = (s.clone(), t.trial_id.clone());
                if let Some(before) = ended.get(&key) {
                    assert!(
                        t.state == *before || t.state == TrialState::Done,
                        "step {step}: {} went from {before:?} to {:?}",
                        t.trial_id,
                        t.state
                    );
                }
                if t.state.is_terminal() {
                    ended.insert(key, t.state);
                }
            }
        }
    }
    assert!(
        !ended.is_empty() && !finished.is_empty(),
        "the history ends trials"
    );
}

#[test]
fn a_late_heartbeat_after_requeue_keeps_the_attempt() {
    let (_d, clock, store) = setup();
    let s = submit(&store, "requeue", 1, "max_attempts: 2\n");
    let w = worker(&store, "a");
    let l = store.lease(&w, "").unwrap().unwrap();
    clock.advance_ms(LEASE_MS + 1);
    store.expire_leases().unwrap();
    assert_eq!(trial(&store, &s, &l.trial_id).0, TrialState::Pending);
    beat(&store, &w, &l.trial_id, 1, &[1]).unwrap();
    assert_eq!(trial(&store, &s, &l.trial_id).0, TrialState::Running);
    // Re-adopted, the expiry no longer counts: one real failure leaves one attempt.
    assert!(fail(&store, &w, &l.trial_id, 1, "boom", false).unwrap());
    assert_eq!(trial(&store, &s, &l.trial_id).0, TrialState::Pending);
}

#[test]
fn a_hand_back_does_not_count() {
    let (_d, _c, store) = setup();
    let s = submit(&store, "hand", 1, "max_attempts: 1\n");
    let w = worker(&store, "a");
    for attempt in 1..=3 {
        let l = store.lease(&w, "").unwrap().unwrap();
        assert_eq!(l.attempt, attempt);
        assert!(fail(&store, &w, &l.trial_id, attempt, "shutting down", true).unwrap());
        assert_eq!(trial(&store, &s, &l.trial_id).0, TrialState::Pending);
    }
    let l = store.lease(&w, "").unwrap().unwrap();
    assert!(fail(&store, &w, &l.trial_id, 4, "segfault", false).unwrap());
    assert_eq!(
        trial(&store, &s, &l.trial_id),
        (TrialState::Failed, 4, "segfault".into())
    );
}

#[test]
fn cancel_stops_leasing_and_tells_running_trials_to_stop() {
    let (_d, _c, store) = setup();
    let s = submit(&store, "cancel", 3, "");
    let other = submit(&store, "other", 1, "");
    let w = worker(&store, "a");
    let a = store.lease(&w, "").unwrap().unwrap();
    let b = store.lease(&w, "").unwrap().unwrap();
    let sum = store.cancel_sweep(&s).unwrap();
    assert_eq!(sum.state, SweepState::Cancelled);
    assert_eq!((sum.counts.cancelled, sum.counts.running), (1, 2));
    let next = store.lease(&w, "").unwrap().unwrap();
    assert_eq!(
        next.sweep_id, other,
        "nothing more from the cancelled sweep"
    );
    assert!(
        beat(&store, &w, &a.trial_id, 1, &[1]).unwrap(),
        "stop at the next heartbeat"
    );
    assert_eq!(trial(&store, &s, &a.trial_id).0, TrialState::Cancelled);
    // A late result is still stored.
    assert!(complete(&store, &w, &b.trial_id, 1, 0.6).unwrap());
    let sum = store.sweep_summary(&s).unwrap();
    assert_eq!(
        (sum.counts.done, sum.counts.cancelled, sum.counts.running),
        (1, 2, 0)
    );
    assert_eq!(sum.state, SweepState::Cancelled);
    assert_eq!(
        store.cancel_sweep(&s).unwrap().state,
        SweepState::Cancelled,
        "cancel twice is fine"
    );
    assert!(matches!(
        store.cancel_sweep("sw-nope"),
        Err(StoreError::NoSweep(_))
    ));
}

#[test]
fn parallelism_caps_running_trials_per_sweep() {
    let (_d, _c, store) = setup();
    let capped = submit(&store, "capped", 5, "parallelism: 2\n");
    let free = submit(&store, "free", 2, "");
    let w = worker(&store, "a");
    let got: Vec<String> = (0..4)
        .map(|_| store.lease(&w, "").unwrap().unwrap().sweep_id)
        .collect();
    assert_eq!(
        got,
        vec![capped.clone(), capped.clone(), free.clone(), free.clone()]
    );
    assert!(
        store.lease(&w, "").unwrap().is_none(),
        "capped sweep full, the other empty"
    );
    let running = store.sweep_summary(&capped).unwrap().running;
    assert!(complete(&store, &w, &running[0].trial_id, 1, 0.5).unwrap());
    assert_eq!(
        store.lease(&w, "").unwrap().unwrap().sweep_id,
        capped,
        "room again"
    );
}

#[test]
fn the_same_config_in_two_sweeps_is_two_trials() {
    let (_d, _c, store) = setup();
    let a = submit(&store, "same", 1, "");
    let b = submit(&store, "same", 1, "");
    let w = worker(&store, "a");
    let v = worker(&store, "b");
    let first = store.lease(&w, "").unwrap().unwrap();
    let second = store.lease(&v, "").unwrap().unwrap();
    assert_eq!(first.sweep_id, a);
    assert_eq!(second.sweep_id, b);
    assert_eq!(
        first.trial_id, second.trial_id,
        "same config, same content id"
    );
    // Reports name their sweep, so each lands on its own trial, whatever the order.
    let report = |sweep: &str, worker: &str, val_acc: f64| {
        store.complete(&CompletionReport {
            sweep_id: sweep.into(),
            worker_id: worker.into(),
            trial_id: first.trial_id.clone(),
            attempt: 1,
            result_json: result_json(val_acc, 0.9),
        })
    };
    assert!(report(&b, &v, 0.4).unwrap());
    assert!(report(&a, &w, 0.5).unwrap());
    assert_eq!(
        store.list_trials(&a, 0).unwrap().trials[0].metric,
        Some(0.5)
    );
    assert_eq!(
        store.list_trials(&b, 0).unwrap().trials[0].metric,
        Some(0.4)
    );
}

#[test]
fn ranking_follows_the_goal_with_ties_by_index() {
    let (_d, _c, store) = setup();
    let max = submit(&store, "max", 5, "");
    let min = submit(&store, "min", 5, "metric: {name: val_loss}\n");
    let w = worker(&store, "a");
    let accs = [0.5, 0.9, 0.7, 0.9];
    for sweep in [&max, &min] {
        for acc in accs {
            let l = store.lease(&w, "").unwrap().unwrap();
            assert_eq!(&l.sweep_id, sweep);
            complete(&store, &w, &l.trial_id, 1, acc).unwrap();
        }
        store.lease(&w, "").unwrap().unwrap(); // the fifth stays running
    }
    let r = store.list_trials(&max, 0).unwrap();
    let order: Vec<(u32, u64)> = r.trials.iter().map(|t| (t.rank, t.index)).collect();
    assert_eq!(order, vec![(1, 1), (2, 3), (3, 2), (4, 0), (0, 4)]);
    let seed = seed_sweep("max", 5, "").points[1].config.seed;
    assert_eq!(
        r.trials[0].params,
        vec![("seed".to_string(), seed.to_string())]
    );
    let sum = store.sweep_summary(&max).unwrap();
    assert_eq!(sum.best, Some((0.9, r.trials[0].trial_id.clone())));

    // val_loss = 1 - val_acc, minimised: the same order.
    let r = store.list_trials(&min, 2).unwrap();
    assert_eq!(r.metric_name, "val_loss");
    let order: Vec<(u32, u64)> = r.trials.iter().map(|t| (t.rank, t.index)).collect();
    assert_eq!(order, vec![(1, 1), (2, 3)]);
    assert!((r.trials[0].metric.unwrap() - 0.1).abs() < 1e-12);
}

#[test]
fn test_accuracy_never_ranks() {
    let (_d, _c, store) = setup();
    let s = submit(&store, "t", 2, "");
    let w = worker(&store, "a");
    let a = store.lease(&w, "").unwrap().unwrap();
    let b = store.lease(&w, "").unwrap().unwrap();
    store
        .complete(&CompletionReport {
            sweep_id: Default::default(),
            worker_id: w.clone(),
            trial_id: a.trial_id.clone(),
            attempt: 1,
            result_json: result_json(0.6, 0.99),
        })
        .unwrap();
    store
        .complete(&CompletionReport {
            sweep_id: Default::default(),
            worker_id: w.clone(),
            trial_id: b.trial_id.clone(),
            attempt: 1,
            result_json: result_json(0.7, 0.10),
        })
        .unwrap();
    let r = store.list_trials(&s, 0).unwrap();
    assert_eq!(
        r.trials[0].trial_id, b.trial_id,
        "ranked on validation, not test"
    );
}

#[test]
fn a_malformed_result_is_refused_and_nothing_changes() {
    let (_d, _c, store) = setup();
    let s = submit(&store, "bad", 1, "");
    let w = worker(&store, "a");
    let l = store.lease(&w, "").unwrap().unwrap();
    let r = store.complete(&CompletionReport {
        sweep_id: Default::default(),
        worker_id: w.clone(),
        trial_id: l.trial_id.clone(),
        attempt: 1,
        result_json: "{\"best_epoch\": 1}".into(),
    });
    match r {
        Err(e @ StoreError::BadResult(_)) => assert!(e.to_string().contains("result_json"), "{e}"),
        other => panic!("{other:?}"),
    }
    let mut res = result(0.5, 0.5);
    res.best_epoch = 7;
    let r = store.complete(&CompletionReport {
        sweep_id: Default::default(),
        worker_id: w.clone(),
        trial_id: l.trial_id.clone(),
        attempt: 1,
        result_json: serde_json::to_string(&res).unwrap(),
    });
    // val_acc is taken from best_val_acc, so this one is fine; train_loss needs the epoch.
    assert!(r.unwrap());
    let s2 = submit(&store, "bad2", 1, "metric: {name: train_loss}\n");
    let l = store.lease(&w, "").unwrap().unwrap();
    assert_eq!(l.sweep_id, s2);
    let r = store.complete(&CompletionReport {
        sweep_id: Default::default(),
        worker_id: w.clone(),
        trial_id: l.trial_id.clone(),
        attempt: 1,
        result_json: serde_json::to_string(&res).unwrap(),
    });
    assert!(
        matches!(r, Err(StoreError::NoMetric { metric, best_epoch: 7 }) if metric == "train_loss")
    );
    assert_eq!(trial(&store, &s2, &l.trial_id).0, TrialState::Running);
    assert_eq!(store.sweep_summary(&s).unwrap().counts.done, 1);
}

#[test]
fn a_restart_keeps_everything_and_renews_running_leases() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(5_000_000));
    let (s, w, running, done) = {
        let store = open_store(dir.path(), &clock);
        let s = submit(&store, "restart", 4, "");
        let w = worker(&store, "a");
        let done = store.lease(&w, "").unwrap().unwrap();
        complete(&store, &w, &done.trial_id, 1, 0.75).unwrap();
        let running = store.lease(&w, "").unwrap().unwrap();
        beat(&store, &w, &running.trial_id, 1, &[1]).unwrap();
        (s, w, running, done)
        // Dropped without any shutdown step, as after kill -9.
    };
    // Down for longer than a lease.
    clock.advance_ms(10 * LEASE_MS);
    let store = open_store(dir.path(), &clock);
    assert_eq!(
        store.expire_leases().unwrap(),
        0,
        "the running trial got a fresh deadline"
    );
    let sum = store.sweep_summary(&s).unwrap();
    assert_eq!(
        (sum.counts.pending, sum.counts.running, sum.counts.done),
        (2, 1, 1)
    );
    assert_eq!(sum.running[0].trial_id, running.trial_id);
    assert_eq!(sum.running[0].epochs_done, 1);
    let r = store.list_trials(&s, 0).unwrap();
    assert_eq!(
        (r.trials[0].trial_id.as_str(), r.trials[0].metric),
        (done.trial_id.as_str(), Some(0.75))
    );
    // The worker is remembered and keeps its trial by heartbeating.
    clock.advance_ms(LEASE_MS - 1);
    assert!(!beat(&store, &w, &running.trial_id, 1, &[2]).unwrap());
    clock.advance_ms(LEASE_MS - 1);
    assert_eq!(store.expire_leases().unwrap(), 0);
    clock.advance_ms(2);
    assert_eq!(
        store.expire_leases().unwrap(),
        1,
        "silent after the restart: requeued"
    );
    assert_eq!(trial(&store, &s, &running.trial_id).0, TrialState::Pending);
}

#[test]
fn watchers_hear_of_every_committed_change() {
    let (_d, _c, store) = setup();
    let s = submit(&store, "watch", 1, "");
    let mut rx = store.subscribe(&s);
    assert!(!rx.has_changed().unwrap());
    let w = worker(&store, "a");
    let l = store.lease(&w, "").unwrap().unwrap();
    assert!(rx.has_changed().unwrap());
    rx.mark_unchanged();
    assert!(complete(&store, &w, &l.trial_id, 2, 0.5).is_err());
    assert!(
        !rx.has_changed().unwrap(),
        "a refused report changes nothing"
    );
    complete(&store, &w, &l.trial_id, 1, 0.5).unwrap();
    assert!(rx.has_changed().unwrap());
}

#[test]
fn unusable_database_paths_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/sweep.db");
    let err = Store::open(&missing, StoreOptions::default()).unwrap_err();
    // The lock file beside it is the first thing a writer makes.
    assert!(matches!(
        &err,
        StoreError::Open {
            source: OpenError::LockFile { .. },
            ..
        }
    ));
    assert!(err.to_string().contains("no/such/dir/sweep.db"), "{err}");

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
    let err = Store::open(&garbage, StoreOptions::default()).unwrap_err();
    assert!(err.to_string().contains("garbage.db"), "{err}");

    let foreign = dir.path().join("foreign.db");
    let conn = rusqlite::Connection::open(&foreign).unwrap();
    conn.execute_batch("CREATE TABLE notes (x TEXT);").unwrap();
    drop(conn);
    let err = Store::open(&foreign, StoreOptions::default()).unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Open {
                source: OpenError::Foreign,
                ..
            }
        ),
        "{err:?}"
    );
    let text = chain_text(&err);
    assert!(
        text.contains("foreign.db") && text.contains("not a coordinator"),
        "{text}"
    );
}

#[test]
fn a_second_store_on_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let first = open_store(dir.path(), &clock);
    let err = Store::open(&dir.path().join("sweep.db"), StoreOptions::default()).unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Open {
                source: OpenError::InUse { .. },
                ..
            }
        ),
        "{err:?}"
    );
    let text = chain_text(&err);
    assert!(
        text.contains("sweep.db.lock") && text.contains("another coordinator"),
        "{text}"
    );
    drop(first);
    open_store(dir.path(), &clock);
}

#[test]
fn a_read_only_store_reads_while_the_writer_holds_the_file() {
    let (dir, _clock, store) = setup();
    let id = submit(&store, "live", 3, "");
    let reader = Store::open_read_only(&dir.path().join("sweep.db")).unwrap();
    assert_eq!(reader.sweep_summary(&id).unwrap().counts.pending, 3);
    // A later commit of the writer is seen by the open reader.
    store.cancel_sweep(&id).unwrap();
    assert_eq!(
        reader.sweep_summary(&id).unwrap().state,
        SweepState::Cancelled
    );
    // The reader never writes and does not keep the writer from committing.
    let err = reader.cancel_sweep(&id).unwrap_err();
    assert!(matches!(err, StoreError::Sql(_)), "{err:?}");
    submit(&store, "after", 1, "");
}
