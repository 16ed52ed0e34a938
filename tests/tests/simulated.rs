//! Scheduling end to end, with simulated trials (`sweep-worker run
//! --simulate`: no tensors, `SWEEP_SIM_EPOCH_MS` per epoch, seed 13013
//! always fails): lease expiry after a worker dies, stale and repeated
//! reports, a coordinator restart, cancel, max_attempts, and worker shutdown.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use sweep_proto::trial::TrialResult;
use sweep_proto::v1::{CompleteTrialRequest, HeartbeatRequest, SweepState, TrialState};
use sweep_tests::fixtures::{fake_result, sim_sweep, FAILING_SEED};
use sweep_tests::rpc::{self, find, is};
use sweep_tests::{wait_until, Cluster};
use tonic::Code;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// How many lines of `log` contain `needle`.
fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

#[tokio::test]
async fn a_killed_worker_s_trial_is_leased_again_after_its_lease_expires() {
    let c = Cluster::start(1500);
    let id = c
        .submit(
            "kill.yaml",
            &sim_sweep("kill-worker", &[1, 2, 3], (2, 3), 3),
        )
        .await;
    let mut a = c.sim_worker("worker-a", 300);
    let victim = rpc::wait_running(c.url(), &id, 1, secs(20)).await;
    a.kill9();
    let killed = Instant::now();
    let _b = c.sim_worker("worker-b", 300);

    let again = wait_until(
        "the killed trial to run again as attempt 2",
        secs(20),
        || async {
            let s = rpc::summary(c.url(), &id).await;
            s.running_trials
                .into_iter()
                .find(|r| r.trial_id == victim.trial_id && r.attempt == 2)
        },
    )
    .await;
    let after = killed.elapsed();
    // The last heartbeat was at most a heartbeat interval before the kill,
    // and the lease runs 1.5 s from it: nobody gets the trial for ~1 s.
    assert!(
        after >= Duration::from_millis(800),
        "re-leased {after:?} after the kill"
    );
    assert_ne!(again.worker_id, victim.worker_id);

    rpc::wait_state(c.url(), &id, SweepState::Finished, secs(30)).await;
    let trials = rpc::trials(c.url(), &id).await;
    assert_eq!(trials.len(), 3);
    for t in &trials {
        assert!(is(t, TrialState::Done), "{t:#?}");
        let result: TrialResult = serde_json::from_str(&t.result_json).expect("a TrialResult");
        assert_eq!(result.epochs.len(), 5);
        assert_eq!(t.metric, Some(result.best_val_acc));
    }
    let t = find(&trials, &victim.trial_id);
    assert_eq!(t.attempts, 2);
    assert_eq!(t.worker_id, again.worker_id);
}

#[tokio::test]
async fn a_stale_attempt_s_report_is_refused() {
    let c = Cluster::start(1000);
    let id = c
        .submit("stale.yaml", &sim_sweep("stale", &[1], (1, 0), 3))
        .await;
    let w1 = rpc::register(c.url(), "by-hand-1").await;
    let first = rpc::lease(c.url(), &w1, secs(5)).await;
    assert_eq!(first.attempt, 1);
    let leased_at = Instant::now();

    let w2 = rpc::register(c.url(), "by-hand-2").await;
    let second = rpc::lease(c.url(), &w2, secs(10)).await;
    assert!(
        leased_at.elapsed() >= Duration::from_millis(900),
        "re-leased before the lease expired"
    );
    assert_eq!(
        (second.trial_id.as_str(), second.attempt),
        (first.trial_id.as_str(), 2)
    );

    let stale = rpc::workers(c.url())
        .complete_trial(CompleteTrialRequest {
            sweep_id: Default::default(),
            worker_id: w1.id.clone(),
            worker_secret: w1.secret.clone(),
            trial_id: first.trial_id.clone(),
            attempt: 1,
            result_json: fake_result(0.5),
        })
        .await
        .expect_err("a stale attempt's result must be refused");
    assert_eq!(stale.code(), Code::FailedPrecondition, "{stale:?}");
    let beat = rpc::workers(c.url())
        .heartbeat(HeartbeatRequest {
            sweep_id: Default::default(),
            worker_id: w1.id,
            worker_secret: w1.secret,
            trial_id: first.trial_id.clone(),
            attempt: 1,
            epoch_json: vec![],
            epochs_done: 0,
            total_epochs: 1,
        })
        .await
        .expect_err("a stale attempt's heartbeat must be refused");
    assert_eq!(beat.code(), Code::FailedPrecondition, "{beat:?}");

    let stored = rpc::workers(c.url())
        .complete_trial(CompleteTrialRequest {
            sweep_id: Default::default(),
            worker_id: w2.id.clone(),
            worker_secret: w2.secret.clone(),
            trial_id: second.trial_id.clone(),
            attempt: 2,
            result_json: fake_result(0.9),
        })
        .await
        .expect("the current attempt's result")
        .into_inner();
    assert!(stored.stored);
    let trials = rpc::trials(c.url(), &id).await;
    let t = find(&trials, &first.trial_id);
    assert!(is(t, TrialState::Done));
    assert_eq!(json(&t.result_json), json(&fake_result(0.9)));
    assert_eq!(
        (t.attempts, t.worker_id.as_str(), t.metric),
        (2, w2.id.as_str(), Some(0.9))
    );
}

#[tokio::test]
async fn a_repeated_report_is_stored_once() {
    let c = Cluster::start(5000);
    let id = c
        .submit("dup.yaml", &sim_sweep("duplicate", &[1], (1, 0), 3))
        .await;
    let w = rpc::register(c.url(), "by-hand").await;
    let lease = rpc::lease(c.url(), &w, secs(5)).await;
    let report = CompleteTrialRequest {
        sweep_id: Default::default(),
        worker_id: w.id,
        worker_secret: w.secret,
        trial_id: lease.trial_id.clone(),
        attempt: lease.attempt,
        result_json: fake_result(0.75),
    };
    let mut client = rpc::workers(c.url());
    let first = client
        .complete_trial(report.clone())
        .await
        .expect("first report")
        .into_inner();
    let again = client
        .complete_trial(report)
        .await
        .expect("repeated report")
        .into_inner();
    assert!(first.stored, "the first report must be stored");
    assert!(
        !again.stored,
        "the repeat must be answered as already stored"
    );

    let s = rpc::wait_state(c.url(), &id, SweepState::Finished, secs(5)).await;
    assert_eq!((s.total, s.done), (1, 1));
    let trials = rpc::trials(c.url(), &id).await;
    assert_eq!(trials.len(), 1);
    assert_eq!(json(&trials[0].result_json), json(&fake_result(0.75)));
    assert_eq!(trials[0].attempts, 1);
}

#[tokio::test]
async fn a_coordinator_killed_mid_sweep_loses_nothing() {
    // Downtime (~0.7 s) is well under the lease (3 s): no lease expires, so
    // no trial may run twice.
    let mut c = Cluster::start(3000);
    let seeds: Vec<u64> = (1..=6).collect();
    let id = c
        .submit("restart.yaml", &sim_sweep("restart", &seeds, (2, 2), 3))
        .await;
    let w1 = c.sim_worker("worker-1", 250);
    let w2 = c.sim_worker("worker-2", 250);
    wait_until("2 trials done and one running", secs(30), || async {
        let s = rpc::summary(c.url(), &id).await;
        (s.done >= 2 && s.running >= 1).then_some(())
    })
    .await;
    let before: BTreeMap<String, (String, u32, String)> = rpc::trials(c.url(), &id)
        .await
        .into_iter()
        .filter(|t| is(t, TrialState::Done))
        .map(|t| (t.trial_id, (t.result_json, t.attempts, t.worker_id)))
        .collect();
    assert!(before.len() >= 2);

    c.kill_coordinator();
    tokio::time::sleep(Duration::from_millis(700)).await;
    c.restart_coordinator();

    let s = rpc::wait_state(c.url(), &id, SweepState::Finished, secs(40)).await;
    assert_eq!((s.total, s.done, s.failed), (6, 6, 0), "{s:#?}");
    let after = rpc::trials(c.url(), &id).await;
    assert_eq!(after.len(), 6);
    for (trial_id, (result_json, attempts, worker)) in &before {
        let t = find(&after, trial_id);
        assert_eq!(
            &t.result_json, result_json,
            "trial {trial_id} changed its result"
        );
        assert_eq!((&t.attempts, &t.worker_id), (attempts, worker));
    }
    let logs = format!("{}\n{}", w1.log_text(), w2.log_text());
    for t in &after {
        assert!(is(t, TrialState::Done), "{t:#?}");
        assert_eq!(
            t.attempts, 1,
            "trial {} was leased more than once",
            t.trial_id
        );
        let runs = count(&logs, &format!("trial {} finished", t.trial_id));
        assert_eq!(runs, 1, "trial {} ran {runs} times", t.trial_id);
    }
    // The workers found the new coordinator on their own.
    let (mut w1, mut w2) = (w1, w2);
    assert!(w1.is_running() && w2.is_running());
}

#[tokio::test]
async fn cancel_stops_the_running_trial_and_leases_nothing_more() {
    let c = Cluster::start(1500);
    let id = c
        .submit(
            "cancel.yaml",
            &sim_sweep("cancel", &[1, 2, 3, 4], (2, 8), 3),
        )
        .await;
    let worker = c.sim_worker("worker", 200);
    let running = rpc::wait_running(c.url(), &id, 1, secs(20)).await;

    let out = c.cli(&["cancel", &id]).await;
    assert!(out.success(), "sweep cancel: {out:?}");
    let s = rpc::summary(c.url(), &id).await;
    assert_eq!(s.state, SweepState::Cancelled as i32, "{s:#?}");

    let stopped = format!("trial {} stopped", running.trial_id);
    wait_until(
        "the worker to stop the cancelled trial",
        secs(5),
        || async { worker.log_text().contains(&stopped).then_some(()) },
    )
    .await;
    // Time enough for a worker to lease the next trial, were any leasable.
    tokio::time::sleep(secs(1)).await;
    let log = worker.log_text();
    assert_eq!(count(&log, "leased trial"), 1, "{log}");
    assert_eq!(
        count(&log, &format!("trial {} finished", running.trial_id)),
        0
    );

    let trials = rpc::trials(c.url(), &id).await;
    assert_eq!(trials.len(), 4);
    for t in &trials {
        assert!(t.result_json.is_empty(), "{t:#?}");
        assert!(
            !is(t, TrialState::Done) && !is(t, TrialState::Running) && !is(t, TrialState::Pending),
            "{t:#?}"
        );
        if t.trial_id != running.trial_id {
            assert_eq!(
                t.attempts, 0,
                "a trial of a cancelled sweep was leased: {t:#?}"
            );
        }
    }
    let s = rpc::summary(c.url(), &id).await;
    assert_eq!((s.running, s.pending, s.done), (0, 0, 0), "{s:#?}");
}

#[tokio::test]
async fn a_trial_that_always_fails_ends_failed_after_max_attempts() {
    let c = Cluster::start(1500);
    let id = c
        .submit(
            "failing.yaml",
            &sim_sweep("failing", &[FAILING_SEED, 1], (1, 1), 2),
        )
        .await;
    let worker = c.sim_worker("worker", 100);
    let s = rpc::wait_state(c.url(), &id, SweepState::Finished, secs(20)).await;
    assert_eq!((s.done, s.failed), (1, 1), "{s:#?}");

    let trials = rpc::trials(c.url(), &id).await;
    let failing = trials
        .iter()
        .find(|t| t.params.get("seed").map(String::as_str) == Some("13013"))
        .unwrap_or_else(|| panic!("no seed-13013 trial in {trials:#?}"));
    assert!(is(failing, TrialState::Failed), "{failing:#?}");
    assert_eq!(failing.attempts, 2);
    assert!(
        failing.last_error.contains("13013"),
        "last error: {:?}",
        failing.last_error
    );
    assert!(failing.result_json.is_empty());
    assert_eq!(
        count(
            &worker.log_text(),
            &format!("leased trial {} ", failing.trial_id)
        ),
        2
    );
    let other = trials
        .iter()
        .find(|t| t.trial_id != failing.trial_id)
        .expect("two trials");
    assert!(is(other, TrialState::Done), "{other:#?}");
}

#[tokio::test]
async fn sigterm_lets_the_running_trial_finish_then_the_worker_exits_0() {
    let c = Cluster::start(1500);
    let id = c
        .submit("sigterm.yaml", &sim_sweep("sigterm", &[1, 2], (2, 3), 3))
        .await;
    let mut worker = c.sim_worker("worker", 250);
    let running = rpc::wait_running(c.url(), &id, 1, secs(20)).await;
    worker.signal(libc::SIGTERM);
    let status = worker.wait_exit(secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", worker.log_text());

    let trials = rpc::trials(c.url(), &id).await;
    let t = find(&trials, &running.trial_id);
    assert!(
        is(t, TrialState::Done),
        "the running trial must finish and be reported: {t:#?}"
    );
    assert_eq!(t.attempts, 1);
    let other = trials
        .iter()
        .find(|t| t.trial_id != running.trial_id)
        .expect("two trials");
    assert!(
        is(other, TrialState::Pending),
        "nothing is leased after SIGTERM: {other:#?}"
    );
    assert_eq!(other.attempts, 0);
}

#[tokio::test]
async fn a_second_signal_hands_the_running_trial_back() {
    let c = Cluster::start(1500);
    let id = c
        .submit("handback.yaml", &sim_sweep("hand-back", &[1], (2, 8), 3))
        .await;
    let mut worker = c.sim_worker("worker", 200);
    let running = rpc::wait_running(c.url(), &id, 1, secs(20)).await;
    worker.signal(libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(100)).await;
    worker.signal(libc::SIGINT);
    let status = worker.wait_exit(secs(5)).await;
    assert_eq!(status.code(), Some(0), "{}", worker.log_text());
    assert!(
        worker
            .log_text()
            .contains(&format!("handed trial {} attempt 1 back", running.trial_id)),
        "{}",
        worker.log_text()
    );
    let trials = rpc::trials(c.url(), &id).await;
    let t = find(&trials, &running.trial_id);
    assert!(
        is(t, TrialState::Pending),
        "a handed-back trial is pending again: {t:#?}"
    );
    assert!(t.result_json.is_empty());

    let _next = c.sim_worker("next-worker", 50);
    rpc::wait_state(c.url(), &id, SweepState::Finished, secs(20)).await;
    let trials = rpc::trials(c.url(), &id).await;
    assert!(is(&trials[0], TrialState::Done), "{:#?}", trials[0]);
}

#[tokio::test]
async fn two_slots_run_side_by_side_and_heartbeats_keep_long_trials_leased() {
    // Each trial runs 2.5 s, the lease is 1 s: only heartbeats keep them.
    let c = Cluster::start(1000);
    let id = c
        .submit("slots.yaml", &sim_sweep("slots", &[1, 2], (2, 8), 3))
        .await;
    let _worker = c.worker(
        "worker",
        &["--simulate", "--slots", "2"],
        &[("SWEEP_SIM_EPOCH_MS", "250")],
    );
    let both = wait_until(
        "both trials running on the one worker",
        secs(20),
        || async {
            let s = rpc::summary(c.url(), &id).await;
            (s.running_trials.len() == 2).then_some(s.running_trials)
        },
    )
    .await;
    assert_eq!(both[0].worker_id, both[1].worker_id);
    let progress = rpc::wait_running(c.url(), &id, 5, secs(20)).await;
    assert_eq!(progress.total_epochs, 10);
    assert!(
        progress.last_val_acc.is_some(),
        "epoch metrics reach the coordinator: {progress:#?}"
    );

    rpc::wait_state(c.url(), &id, SweepState::Finished, secs(20)).await;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    for t in rpc::trials(c.url(), &id).await {
        assert!(is(&t, TrialState::Done), "{t:#?}");
        assert_eq!(t.attempts, 1, "a heartbeated lease must not expire: {t:#?}");
        let result: TrialResult = serde_json::from_str(&t.result_json).expect("a TrialResult");
        assert_eq!(
            result.threads,
            (cores / 2).max(1),
            "threads per trial = cores / slots"
        );
    }
}

#[tokio::test]
async fn a_drain_timeout_hands_the_running_trial_back_after_one_signal() {
    let c = Cluster::start(1500);
    let id = c
        .submit("drain.yaml", &sim_sweep("drain-timeout", &[1], (2, 8), 3))
        .await;
    // One signal, as systemd, Slurm or Kubernetes send before their own kill.
    let mut worker = c.worker(
        "worker",
        &["--simulate", "--threads", "1", "--drain-timeout", "1"],
        &[("SWEEP_SIM_EPOCH_MS", "400")],
    );
    let running = rpc::wait_running(c.url(), &id, 1, secs(20)).await;
    let signalled = Instant::now();
    worker.signal(libc::SIGTERM);
    let status = worker.wait_exit(secs(10)).await;
    let took = signalled.elapsed();
    let log = worker.log_text();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("drain timeout (1s)"), "{log}");
    assert!(
        log.contains(&format!("handed trial {} attempt 1 back", running.trial_id)),
        "{log}"
    );
    // 10 epochs of 400 ms would take 4 s: the timeout, not the trial, ended it.
    assert!(
        took < Duration::from_millis(3500),
        "exited {took:?} after the signal"
    );
    let trials = rpc::trials(c.url(), &id).await;
    let t = find(&trials, &running.trial_id);
    assert!(is(t, TrialState::Pending), "{t:#?}");
}
