//! The daemon's behaviour towards its coordinator, one scenario a test.

use super::fake_coordinator::Script;
use super::*;
use sweep_proto::trial::{EpochMetrics, TrialResult};
use sweep_worker::daemon::outbox::Outcome;
use tonic::Code;

#[tokio::test]
async fn runs_a_trial_heartbeats_its_epochs_and_completes_it() {
    let d = start(script(vec![lease("t1", 1, (1, 2))])).await;
    d.until("the result", |s| !s.stored.is_empty()).await;
    let (seen, state) = d.stop(1).await;

    let reg = &seen.registers[0];
    assert_eq!(
        (reg.hostname.as_str(), reg.cores, reg.slots),
        ("test-host", 4, 1)
    );
    let epochs: Vec<u32> = seen
        .heartbeats
        .iter()
        .flat_map(|h| h.epoch_json.iter())
        .map(|j| serde_json::from_str::<EpochMetrics>(j).unwrap().epoch)
        .collect();
    assert!(
        epochs.contains(&1),
        "epoch 1 must be heartbeated as soon as it ends: {epochs:?}"
    );
    assert!(seen
        .heartbeats
        .iter()
        .all(|h| h.total_epochs == 3 && h.trial_id == "t1" && h.sweep_id == "s1"));
    assert_eq!(seen.completes.len(), 1);
    let c = &seen.completes[0];
    assert_eq!(
        (
            c.sweep_id.as_str(),
            c.worker_id.as_str(),
            c.trial_id.as_str(),
            c.attempt
        ),
        ("s1", "w1", "t1", 1)
    );
    let result: TrialResult = serde_json::from_str(&c.result_json).unwrap();
    assert_eq!(result.epochs.len(), 3);
    assert_eq!(
        result.threads, 3,
        "the daemon's per-trial threads override the config"
    );
    assert!(seen.fails.is_empty());
    assert!(spooled(state.path()).is_empty());
    assert_eq!(seen.drains.len(), 1, "Drain once on shutdown");
    assert_eq!(seen.drains[0].worker_id, "w1");
}

#[tokio::test]
async fn keeps_a_result_while_the_coordinator_is_unavailable() {
    let mut s = script(vec![lease("t1", 1, (1, 0))]);
    s.complete_errors = [Code::Unavailable, Code::Unavailable, Code::Unavailable].into();
    let d = start(s).await;
    d.until("a second try", |s| s.completes.len() >= 2).await;
    let waiting = spooled(d.state.path());
    assert_eq!(waiting.len(), 1, "an unacknowledged result is spooled");
    assert_eq!(waiting[0].trial_id, "t1");
    d.until("the result", |s| !s.stored.is_empty()).await;
    let (seen, state) = d.stop(1).await;
    assert_eq!(seen.completes.len(), 4);
    assert_eq!(seen.stored.len(), 1);
    assert!(spooled(state.path()).is_empty());
}

#[tokio::test]
async fn a_stop_answer_cancels_the_trial_and_reports_nothing() {
    let mut s = script(vec![lease("t1", 1, (1, 999))]);
    s.stop = true;
    let d = start(s).await;
    d.until("a heartbeat", |s| !s.heartbeats.is_empty()).await;
    let stopping = Instant::now();
    let (seen, _) = d.stop(1).await;
    // 1000 epochs of 5 ms would take 5 s; the stop ends it at the trial
    // process's next batch (once it has started).
    assert!(
        stopping.elapsed() < Duration::from_millis(3000),
        "{:?}",
        stopping.elapsed()
    );
    assert!(
        seen.completes.is_empty() && seen.fails.is_empty(),
        "{seen:#?}"
    );
}

#[tokio::test]
async fn an_early_stop_ends_the_trial_after_its_epoch_and_leasing_goes_on() {
    let mut s = script(vec![lease("t1", 1, (1, 999)), lease("t2", 1, (1, 999))]);
    s.stopped_early = Some("stopped by ASHA at rung 1".into());
    let d = start(s).await;
    // Each trial is stopped at its first epoch's heartbeat, then the next is leased.
    let seen = d
        .until("both trials stopped", |s| {
            let t2 = s
                .heartbeats
                .iter()
                .any(|h| h.trial_id == "t2" && !h.epoch_json.is_empty());
            t2 && s.lease_calls.len() >= 3
        })
        .await;
    // Nothing is sent about t1 after the answer that stopped it.
    let first: Vec<_> = seen
        .heartbeats
        .iter()
        .filter(|h| h.trial_id == "t1" && !h.epoch_json.is_empty())
        .collect();
    assert_eq!(first.len(), 1, "{first:#?}");
    let (seen, _) = d.stop(1).await;
    assert!(
        seen.completes.is_empty() && seen.fails.is_empty(),
        "a stopped trial reports nothing: {seen:#?}"
    );
}

#[tokio::test]
async fn a_stale_result_is_dropped_and_leasing_goes_on() {
    let mut s = script(vec![lease("t1", 1, (1, 0))]);
    s.complete_errors = [Code::FailedPrecondition].into();
    let d = start(s).await;
    let seen = d
        .until("the refused result", |s| !s.completes.is_empty())
        .await;
    let leases_then = seen.lease_calls.len();
    d.until("more lease calls", |s| {
        s.lease_calls.len() > leases_then + 2
    })
    .await;
    let (seen, state) = d.stop(1).await;
    assert_eq!(seen.completes.len(), 1, "a stale result is not retried");
    assert!(seen.stored.is_empty());
    assert!(spooled(state.path()).is_empty());
}

#[tokio::test]
async fn an_unknown_worker_registers_again() {
    let mut s = script(vec![lease("t1", 1, (1, 0))]);
    s.lease_errors = [Code::NotFound].into();
    let d = start(s).await;
    d.until("the result", |s| !s.stored.is_empty()).await;
    let (seen, _) = d.stop(1).await;
    assert_eq!(seen.registers.len(), 2);
    assert_eq!(seen.lease_calls[..2], ["w1", "w2"]);
    assert_eq!(seen.stored[0].worker_id, "w2");
}

#[tokio::test]
async fn a_failing_trial_is_reported_as_failed() {
    let d = start(script(vec![lease("t1", simulated::FAILING_SEED, (2, 0))])).await;
    let seen = d.until("the failure", |s| !s.fails.is_empty()).await;
    let f = &seen.fails[0];
    assert!(f.error.contains("13013") && !f.handed_back, "{f:?}");
    assert_eq!(
        f.cause,
        sweep_proto::v1::FailureCause::Trial as i32,
        "a trial that fails by itself is the trial's fault"
    );
    let (seen, _) = d.stop(1).await;
    assert!(seen.completes.is_empty());
}

#[tokio::test]
async fn a_diverging_trial_is_completed_at_once_as_diverged_and_never_failed() {
    let mut l = lease("t1", 1, (1, 50));
    let mut cfg: TrialConfig = serde_json::from_str(&l.config_json).unwrap();
    cfg.phase2.lr_head = 1e8;
    l.config_json = cfg.canonical_json();
    let started = Instant::now();
    let d = start(script(vec![l])).await;
    let seen = d.until("the result", |s| !s.completes.is_empty()).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "50 more epochs were not run: {:?}",
        started.elapsed()
    );
    let (seen_after, _) = d.stop(1).await;
    assert!(seen_after.fails.is_empty(), "{:?}", seen_after.fails);
    let result: TrialResult = serde_json::from_str(&seen.completes[0].result_json).unwrap();
    let div = result.diverged.as_ref().expect("marked diverged");
    assert_eq!(
        div.to_string(),
        "diverged at epoch 2 (train loss NaN, batch 2)"
    );
    assert_eq!(result.epochs.len(), 2);
    assert!(result.epochs[1].train_loss.is_nan() && result.test.acc.is_nan());
    // Heartbeats carry NaN as a string (the diverged epoch may be sent in
    // one before the result, or only in the result).
    for j in seen_after
        .heartbeats
        .iter()
        .flat_map(|h| h.epoch_json.iter())
    {
        let e: EpochMetrics = serde_json::from_str(j).unwrap();
        assert_eq!(e.epoch == 2, j.contains(r#""train_loss":"NaN""#), "{j}");
    }
}

#[tokio::test]
async fn the_first_signal_drains_the_second_hands_back() {
    let d = start(script(vec![
        lease("t1", 1, (1, 99)),
        lease("t2", 2, (1, 0)),
    ]))
    .await;
    d.until("a heartbeat", |s| !s.heartbeats.is_empty()).await;
    d.trigger.escalate();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let seen = d.fake.seen();
    assert!(
        seen.fails.is_empty() && seen.completes.is_empty(),
        "draining lets the trial run"
    );
    let leases_then = seen.lease_calls.len();
    let (seen, _) = d.stop(1).await;
    assert_eq!(
        seen.lease_calls.len(),
        leases_then,
        "nothing is leased while draining"
    );
    assert_eq!(seen.fails.len(), 1);
    let f = &seen.fails[0];
    assert!(f.handed_back && f.trial_id == "t1", "{f:?}");
    assert!(seen.completes.is_empty());
}

#[tokio::test]
async fn spooled_reports_are_resent_on_start() {
    let state = tempfile::tempdir().unwrap();
    let old = Report {
        sweep_id: "s-old".into(),
        trial_id: "old".into(),
        attempt: 2,
        worker_id: "w-before".into(),
        worker_secret: "secret-before".into(),
        outcome: Outcome::Completed {
            result_json: "{}".into(),
        },
    };
    Outbox::open(state.path()).unwrap().put(&old).unwrap();
    let d = start_with_state(Script::default(), state).await;
    let seen = d
        .until("the spooled result", |s| !s.stored.is_empty())
        .await;
    assert_eq!(seen.stored[0].trial_id, "old");
    assert_eq!(seen.stored[0].worker_id, "w-before");
    assert_eq!(seen.stored[0].sweep_id, "s-old");
    // The restarted daemon never registered as w-before: it proves the
    // report is w-before's with the secret spooled beside it.
    assert_eq!(seen.stored[0].worker_secret, "secret-before");
    let (_, state) = d.stop(1).await;
    assert!(spooled(state.path()).is_empty());
}

#[tokio::test]
async fn an_unwritable_outbox_holds_the_slot_until_it_can_write_again() {
    let d = start(script(vec![lease("t1", 1, (1, 60))])).await;
    d.until("the lease", |s| !s.lease_calls.is_empty()).await;
    let spool = break_outbox(&d.state);
    // The result still goes out, from memory.
    d.until("the result", |s| !s.stored.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let leases_then = d.fake.seen().lease_calls.len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        d.fake.seen().lease_calls.len(),
        leases_then,
        "a slot that cannot spool takes no new work"
    );
    repair_outbox(&spool);
    d.until("leasing again", |s| s.lease_calls.len() > leases_then + 1)
        .await;
    let (seen, state) = d.stop(1).await;
    assert_eq!(seen.stored.len(), 1);
    assert!(spooled(state.path()).is_empty());
}

#[tokio::test]
async fn a_result_spooled_late_survives_an_absent_coordinator() {
    let mut s = script(vec![lease("t1", 1, (1, 60))]);
    s.complete_errors = std::iter::repeat_n(Code::Unavailable, 1000).collect();
    let d = start(s).await;
    d.until("the lease", |s| !s.lease_calls.is_empty()).await;
    let spool = break_outbox(&d.state);
    d.until("a try to report", |s| !s.completes.is_empty())
        .await;
    repair_outbox(&spool);
    let file = spool.join("s1.t1.1.json");
    let started = Instant::now();
    while !file.is_file() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the result must be spooled once the outbox is writable"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (seen, state) = d.stop(2).await;
    assert!(seen.stored.is_empty());
    let left = spooled(state.path());
    assert_eq!(left.len(), 1, "an unacknowledged result stays spooled");
    assert_eq!(
        (left[0].sweep_id.as_str(), left[0].trial_id.as_str()),
        ("s1", "t1")
    );
}

#[tokio::test]
async fn a_path_outside_the_data_roots_fails_the_trial_naming_the_field() {
    let mut l = lease("t1", 1, (1, 0));
    let mut cfg: TrialConfig = serde_json::from_str(&l.config_json).unwrap();
    cfg.data.dir = "/etc".into();
    l.config_json = cfg.canonical_json();
    let d = start(script(vec![l])).await;
    let seen = d.until("the failure", |s| !s.fails.is_empty()).await;
    let f = &seen.fails[0];
    assert!(
        f.error
            .starts_with("data.dir /etc resolves outside the allowed roots ("),
        "{f:?}"
    );
    assert!(!f.handed_back);
    assert_eq!(
        f.cause,
        sweep_proto::v1::FailureCause::Trial as i32,
        "a config naming a path it may not read is the trial's fault"
    );
    let (seen, _) = d.stop(1).await;
    assert!(seen.completes.is_empty() && seen.heartbeats.is_empty());
}
