//! Search that spends less, end to end with simulated trials (`sweep-worker
//! run --simulate`: the known response surface of
//! `worker/src/daemon/simulated.rs`, best at phase-2 `lr_head` 1e-3,
//! `lr_backbone` 1e-4, no label smoothing): ASHA on a 27-point grid stops
//! trials through the heartbeat's answer (the worker obeys), saves at least
//! half the trial-epochs and keeps the best trial; a TPE sweep whose
//! coordinator is killed and restarted in the middle proposes the same
//! sequence as one run straight through.

use std::path::Path;
use std::time::Duration;
use sweep_proto::v1::{SweepState, TrialState};
use sweep_tests::rpc::{self, is};
use sweep_tests::{wait_until, Cluster};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

const GRID: &str = "name: asha-grid
method: grid
early_stop: {kind: asha, metric: val_acc, min_epochs: 1, reduction_factor: 3}
base:
  input_size: 32
  data: {train: 200, val: 100, test: 100}
  phase1: {epochs: 1}
  phase2: {epochs: 8}
parameters:
  phase2.lr_head: {values: [1.0e-4, 1.0e-3, 1.0e-2]}
  phase2.lr_backbone: {values: [1.0e-5, 1.0e-4, 1.0e-3]}
  loss.label_smoothing: {values: [0.0, 0.1, 0.2]}
";

#[tokio::test]
async fn asha_on_simulated_trials_saves_half_the_epochs_and_keeps_the_best() {
    let c = Cluster::start(3000);
    let id = c.submit("asha.yaml", GRID).await;
    let a = c.sim_worker("worker-a", 60);
    let b = c.sim_worker("worker-b", 60);
    let s = rpc::wait_state(c.url(), &id, SweepState::Finished, secs(120)).await;
    assert_eq!(s.total, 27);
    assert_eq!(s.done + s.stopped, 27, "{s:#?}");
    assert_eq!(s.epochs_run + s.epochs_saved, 27 * 9, "{s:#?}");
    eprintln!(
        "ASHA, 27 simulated trials × 9 epochs on 2 workers: {} epochs run, {} saved, {} trials stopped",
        s.epochs_run, s.epochs_saved, s.stopped
    );
    assert!(s.epochs_saved * 2 >= 27 * 9, "{s:#?}");

    let trials = rpc::trials(c.url(), &id).await;
    let best = &trials[0];
    assert!(is(best, TrialState::Done), "{best:#?}");
    assert_eq!(best.params["phase2.lr_head"], "0.001");
    assert_eq!(best.params["phase2.lr_backbone"], "0.0001");
    assert_eq!(best.params["loss.label_smoothing"], "0.0");
    let stopped: Vec<_> = trials
        .iter()
        .filter(|t| is(t, TrialState::Stopped))
        .collect();
    assert_eq!(stopped.len() as u64, s.stopped);
    for t in &stopped {
        assert!(t.rank > 0 && t.metric.is_some(), "{t:#?}");
        assert!(t.epochs_done < t.total_epochs, "{t:#?}");
        assert!(t.last_error.contains("stopped by ASHA at rung"), "{t:#?}");
    }

    // The CLI says so.
    let status = c.cli(&["status", &id]).await;
    assert!(status.success(), "{status:?}");
    assert!(
        status.stdout.contains("saved by early stopping"),
        "{}",
        status.stdout
    );
    let board = c.cli(&["leaderboard", &id, "--top", "30"]).await;
    assert!(board.stdout.contains("stopped"), "{}", board.stdout);
    // The worker stopped the trials it was told to stop.
    let log = a.log_text() + &b.log_text();
    assert!(
        log.contains("stopped early by the coordinator"),
        "no stop in the worker logs"
    );
}

const TPE: &str = "name: tpe-restart
method: tpe
count: 12
random_seed: 9
startup_trials: 4
base:
  input_size: 32
  data: {train: 200, val: 100, test: 100}
  phase1: {epochs: 1}
  phase2: {epochs: 2}
parameters:
  phase2.lr_head: {log_uniform: [1.0e-4, 1.0e-2]}
  phase2.lr_backbone: {log_uniform: [1.0e-5, 1.0e-3]}
  loss.label_smoothing: {uniform: [0.0, 0.2]}
";

/// The sweep's trial ids in proposal order, read from the database (the
/// coordinator must be stopped: this opens the file read-write).
fn proposals(db: &Path, sweep_id: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT trial_id FROM trials WHERE sweep_id = ?1 ORDER BY idx")
        .unwrap();
    stmt.query_map([sweep_id], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// One worker, one slot: results come back in proposal order.
fn sequential_worker(c: &Cluster) -> sweep_tests::process::Proc {
    c.worker(
        "worker",
        &["--simulate", "--threads", "1", "--slots", "1"],
        &[("SWEEP_SIM_EPOCH_MS", "40")],
    )
}

#[tokio::test]
async fn a_tpe_sweep_continues_its_sequence_across_a_coordinator_kill() {
    let mut straight = Cluster::start(3000);
    let id = straight.submit("tpe.yaml", TPE).await;
    let _w = sequential_worker(&straight);
    let s = rpc::wait_state(straight.url(), &id, SweepState::Finished, secs(120)).await;
    assert_eq!((s.total, s.done), (12, 12));
    straight.kill_coordinator();
    let expected = proposals(&straight.db(), &id);
    assert_eq!(expected.len(), 12);

    let mut broken = Cluster::start(3000);
    let id = broken.submit("tpe.yaml", TPE).await;
    let _w = sequential_worker(&broken);
    wait_until("5 trials done", secs(60), || async {
        (rpc::summary(broken.url(), &id).await.done >= 5).then_some(())
    })
    .await;
    broken.kill_coordinator();
    tokio::time::sleep(Duration::from_millis(300)).await;
    broken.restart_coordinator();
    let s = rpc::wait_state(broken.url(), &id, SweepState::Finished, secs(120)).await;
    assert_eq!((s.total, s.done), (12, 12));
    broken.kill_coordinator();
    assert_eq!(proposals(&broken.db(), &id), expected);
}
