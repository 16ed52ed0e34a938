//! Bundles end to end (issue 10, item 1): a real coordinator and a real
//! `sweep-worker run --simulate --bundle 4` over real sockets. Six trials of
//! one batch stream (they differ only in the head's learning rate) are
//! leased in bundles and run in lockstep, each trial taking its turn epoch by
//! epoch; the lease (1.5 s) is shorter than a bundle's trials take together,
//! so a trial waiting for its turn must keep its lease with its own
//! heartbeats: every trial must finish on its first attempt, on that worker,
//! and the worker's log must show the bundles it ran.

use std::time::Duration;
use sweep_proto::v1::SweepState;
use sweep_tests::rpc;
use sweep_tests::Cluster;

/// Six simulated trials that see the same batches: one bundle key.
fn one_stream(name: &str) -> String {
    format!(
        "name: {name}
method: grid
base:
  input_size: 32
  seed: 5
  data: {{train: 200, val: 100, test: 100}}
  phase1: {{epochs: 1}}
  phase2: {{epochs: 3}}
parameters:
  phase2.lr_head: {{values: [1.0e-4, 3.0e-4, 1.0e-3, 3.0e-3, 1.0e-2, 3.0e-2]}}
"
    )
}

#[tokio::test]
async fn a_bundle_s_trials_keep_their_leases_between_turns_and_run_once() {
    let c = Cluster::start(1500);
    let id = c.submit("bundle.yaml", &one_stream("bundled")).await;
    // 4 epochs of 250 ms: 1 s a trial; a bundle of 3 takes 3 s, and each
    // trial waits two epochs' time between its turns.
    let w = c.worker(
        "bundler",
        &["--simulate", "--threads", "1", "--bundle", "4"],
        &[("SWEEP_SIM_EPOCH_MS", "250")],
    );
    let s = rpc::wait_state(c.url(), &id, SweepState::Finished, Duration::from_secs(60)).await;
    assert_eq!((s.total, s.done, s.failed), (6, 6, 0), "{s:#?}");
    for t in rpc::trials(c.url(), &id).await {
        assert_eq!(
            t.attempts, 1,
            "trial {} needed {} attempts: a waiting trial's lease expired",
            t.trial_id, t.attempts
        );
    }
    let log = w.log_text();
    let bundles: Vec<&str> = log.lines().filter(|l| l.contains("bundle of ")).collect();
    // 6 pending, one live slot: half a share is 3; then 3 pending: 2.
    assert!(
        bundles
            .first()
            .is_some_and(|l| l.contains("bundle of 3 trials")),
        "{log}"
    );
    assert!(
        bundles.iter().any(|l| l.contains("bundle of 2 trials")),
        "{log}"
    );
    assert!(bundles.iter().all(|l| l.contains("in lockstep")), "{log}");
}
