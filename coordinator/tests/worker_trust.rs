//! A worker reports only on its own lease: secrets from `Register` (only
//! their digest stored, surviving a restart), reports on another worker's
//! lease refused with nothing changed, and hand-backs capped per trial.

mod common;

use common::*;
use std::sync::Arc;
use sweep_coordinator::store::{
    CompletionReport, FailureReport, HeartbeatReport, ManualClock, Store, StoreError, StoreOptions,
    TrialInfo, TrialState, WorkerInfo, WorkerPolicy,
};

fn register(store: &Store, host: &str) -> (String, String) {
    let r = store
        .register_worker(&WorkerInfo {
            hostname: host.into(),
            slots: 1,
            ..Default::default()
        })
        .unwrap();
    (r.worker_id, r.secret)
}

fn only_trial(store: &Store, sweep: &str) -> TrialInfo {
    store.list_trials(sweep, 0).unwrap().trials.remove(0)
}

#[test]
fn secrets_are_checked_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000));
    let (a, secret, b, b_secret) = {
        let store = open_store(dir.path(), &clock);
        let (a, secret) = register(&store, "a");
        let (b, b_secret) = register(&store, "b");
        assert_eq!(secret.len(), 64, "256 bits in hex");
        assert_ne!(secret, b_secret);
        store.authenticate_worker(&a, &secret).unwrap();
        (a, secret, b, b_secret)
    };
    // Only the digest is on disk.
    let db = std::fs::read(dir.path().join("sweep.db")).unwrap();
    let wal = std::fs::read(dir.path().join("sweep.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret itself is stored"
        );
    }
    let store = open_store(dir.path(), &clock);
    store.authenticate_worker(&a, &secret).unwrap();
    store.authenticate_worker(&b, &b_secret).unwrap();
    for wrong in ["", "x", &b_secret, &secret[..63]] {
        match store.authenticate_worker(&a, wrong) {
            Err(StoreError::WrongSecret(id)) => assert_eq!(id, a),
            other => panic!("{wrong:?}: {other:?}"),
        }
    }
    assert!(matches!(
        store.authenticate_worker("nobody-0000", &secret),
        Err(StoreError::UnknownWorker(_))
    ));
}

#[test]
fn another_workers_lease_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000));
    let store = open_store(dir.path(), &clock);
    let s = store
        .create_sweep(
            &seed_sweep("own", 1, ""),
            &seed_sweep_yaml("own", 1, ""),
            "t.yaml",
        )
        .unwrap();
    let (a, _) = register(&store, "a");
    let (b, _) = register(&store, "b");
    let l = store.lease(&a, "").unwrap().unwrap();
    let before = only_trial(&store, &s);

    let refused = |r: Result<_, StoreError>| match r {
        Err(StoreError::NotYourLease {
            trial_id,
            attempt,
            worker_id,
        }) => assert_eq!(
            (trial_id, attempt, worker_id),
            (l.trial_id.clone(), 1, b.clone())
        ),
        other => panic!("{other:?}"),
    };
    refused(
        store
            .heartbeat(&HeartbeatReport {
                sweep_id: s.clone(),
                worker_id: b.clone(),
                trial_id: l.trial_id.clone(),
                attempt: 1,
                epoch_json: vec![serde_json::to_string(&epoch(1, 0.9)).unwrap()],
                epochs_done: 1,
                total_epochs: 10,
            })
            .map(|_| ()),
    );
    refused(
        store
            .complete(&CompletionReport {
                sweep_id: s.clone(),
                worker_id: b.clone(),
                trial_id: l.trial_id.clone(),
                attempt: 1,
                result_json: result_json(1.0, 1.0),
            })
            .map(|_| ()),
    );
    for handed_back in [false, true] {
        refused(
            store
                .fail(&FailureReport {
                    sweep_id: s.clone(),
                    worker_id: b.clone(),
                    trial_id: l.trial_id.clone(),
                    attempt: 1,
                    error: "forged".into(),
                    handed_back,
                    ..Default::default()
                })
                .map(|_| ()),
        );
    }
    assert_eq!(only_trial(&store, &s), before, "nothing changed");
    assert!(store.trial_epochs(&s, &l.trial_id).unwrap().is_empty());

    // The holder still reports as before.
    assert!(store
        .complete(&CompletionReport {
            sweep_id: s.clone(),
            worker_id: a.clone(),
            trial_id: l.trial_id.clone(),
            attempt: 1,
            result_json: result_json(0.5, 0.5),
        })
        .unwrap());
    let done = only_trial(&store, &s);
    assert_eq!((done.state, done.worker_id), (TrialState::Done, a));
}

#[test]
fn hand_backs_beyond_the_cap_count_as_failed_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000));
    let store = Store::open(
        &dir.path().join("sweep.db"),
        StoreOptions {
            clock: clock.clone(),
            policy: WorkerPolicy {
                max_handbacks: 2,
                ..WorkerPolicy::default()
            },
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let s = store
        .create_sweep(
            &seed_sweep("loop", 1, "max_attempts: 2\n"),
            &seed_sweep_yaml("loop", 1, "max_attempts: 2\n"),
            "t.yaml",
        )
        .unwrap();
    let (w, _) = register(&store, "w");
    let hand_back = |store: &Store| {
        let l = store.lease(&w, "").unwrap().expect("the trial is pending");
        store
            .fail(&FailureReport {
                sweep_id: s.clone(),
                worker_id: w.clone(),
                trial_id: l.trial_id,
                attempt: l.attempt,
                error: "shutting down".into(),
                handed_back: true,
                ..Default::default()
            })
            .unwrap();
        only_trial(store, &s)
    };
    // Two hand-backs are free.
    for n in 1..=2 {
        let t = hand_back(&store);
        assert_eq!(
            (t.state, t.counted_attempts),
            (TrialState::Pending, 0),
            "{n}"
        );
    }
    // The third counts as a failed attempt, and says why.
    let t = hand_back(&store);
    assert_eq!((t.state, t.counted_attempts), (TrialState::Pending, 1));
    assert!(
        t.last_error.contains("handed back 3 times") && t.last_error.contains("max_handbacks 2"),
        "{}",
        t.last_error
    );
    // The fourth uses the last attempt: the trial fails instead of looping.
    let t = hand_back(&store);
    assert_eq!(
        (t.state, t.counted_attempts, t.attempts),
        (TrialState::Failed, 2, 4)
    );
    assert!(store.lease(&w, "").unwrap().is_none());
}
