//! A trial's whole life can be followed by grepping its id: every line the
//! coordinator and the worker log about an attempt sits in a span naming
//! its sweep, trial, attempt and worker (text and JSON logs alike).

use std::time::Duration;
use sweep_proto::v1::SweepState;
use sweep_tests::cluster::Cluster;
use sweep_tests::fixtures::sim_sweep;
use sweep_tests::rpc;

#[tokio::test]
async fn a_trial_id_finds_its_attempts_in_both_logs() {
    let mut c = Cluster::start(3000);
    let id = c
        .submit("traced.yaml", &sim_sweep("traced", &[1], (1, 1), 2))
        .await;
    let text = c.sim_worker("worker-text", 50);
    rpc::wait_state(c.url(), &id, SweepState::Finished, Duration::from_secs(60)).await;
    let trial = rpc::trials(c.url(), &id).await.remove(0).trial_id;

    let spanned = |log: &str, span: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains(&format!("trial={trial}")) && l.contains(&format!("{span}{{")))
            .map(str::to_string)
            .collect()
    };
    let coordinator = c.coordinator().log_text();
    let leased = spanned(&coordinator, "lease");
    assert!(
        leased.iter().any(|l| l.contains(&format!("sweep={id}"))
            && l.contains("attempt=1")
            && l.contains("worker=")),
        "coordinator log:\n{coordinator}"
    );
    assert!(
        spanned(&coordinator, "complete")
            .iter()
            .any(|l| l.contains("done")),
        "coordinator log:\n{coordinator}"
    );
    let worker = text.log_text();
    let attempt_lines = spanned(&worker, "attempt");
    assert!(
        attempt_lines.iter().any(|l| l.contains("leased trial"))
            && attempt_lines.iter().any(|l| l.contains("stored")),
        "worker log:\n{worker}"
    );
    assert!(attempt_lines
        .iter()
        .all(|l| l.contains(&format!("sweep={id}")) && l.contains("attempt=1")));
}

#[tokio::test]
async fn json_worker_logs_carry_the_attempt_span() {
    let c = Cluster::start(3000);
    let id = c
        .submit(
            "traced-json.yaml",
            &sim_sweep("traced-json", &[2], (1, 1), 2),
        )
        .await;
    let worker = c.worker(
        "worker-json",
        &["--simulate", "--threads", "1", "--log-format", "json"],
        &[("SWEEP_SIM_EPOCH_MS", "50")],
    );
    rpc::wait_state(c.url(), &id, SweepState::Finished, Duration::from_secs(60)).await;
    let trial = rpc::trials(c.url(), &id).await.remove(0).trial_id;
    let log = worker.log_text();
    let mut in_span = 0;
    for line in log.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v["span"]["name"] == "attempt" {
            assert_eq!(v["span"]["trial"], trial.as_str(), "{line}");
            assert_eq!(v["span"]["sweep"], id.as_str(), "{line}");
            assert!(v["span"]["worker"].is_string(), "{line}");
            in_span += 1;
        }
    }
    assert!(in_span >= 2, "{in_span} lines in the attempt span:\n{log}");
}
