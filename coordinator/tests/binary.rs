//! The `sweep-coordinator` binary as a process: the address line, kill -9
//! and restart on the same database (results kept, the running trial kept by
//! its worker), graceful exit on SIGTERM, and one clear line for bad
//! settings or an unusable database.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use sweep_proto::v1::*;
use tonic::transport::Channel;

const BIN: &str = env!("CARGO_BIN_EXE_sweep-coordinator");

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args);
    for var in [
        "SWEEP_LISTEN",
        "SWEEP_DB",
        "SWEEP_LEASE_MS",
        "SWEEP_MAX_GRID",
    ] {
        c.env_remove(var);
    }
    c.env("RUST_LOG", "warn");
    c
}

/// Starts the coordinator on `db` and returns it with its URL (from the first stdout line).
fn start(db: &Path) -> (Child, String) {
    let mut child = command(&[
        "--listen",
        "127.0.0.1:0",
        "--db",
        db.to_str().unwrap(),
        "--lease-ms",
        "60000",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("sweep-coordinator listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (child, url)
}

async fn lease_one(
    workers: &mut WorkerServiceClient<Channel>,
    (worker_id, secret): (&str, &str),
) -> Lease {
    workers
        .lease_trial(LeaseTrialRequest {
            worker_id: worker_id.into(),
            worker_secret: secret.into(),
            request_id: String::new(),
            max_trials: 1,
        })
        .await
        .unwrap()
        .into_inner()
        .lease
        .expect("a pending trial")
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < limit, "still running after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restart_keeps_results_and_the_running_trial() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sweep.db");
    let (mut first, url) = start(&db);
    let mut sweeps = SweepServiceClient::connect(url.clone()).await.unwrap();
    let mut workers = WorkerServiceClient::connect(url.clone()).await.unwrap();
    let sweep_id = sweeps
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: seed_sweep_yaml("restart", 3, ""),
            source_name: "restart.yaml".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sweep_id;
    let registered = workers
        .register(RegisterRequest::default())
        .await
        .unwrap()
        .into_inner();
    let (wid, secret) = (registered.worker_id, registered.worker_secret);
    let done = lease_one(&mut workers, (&wid, &secret)).await;
    let stored = workers
        .complete_trial(CompleteTrialRequest {
            sweep_id: Default::default(),
            worker_id: wid.clone(),
            worker_secret: secret.clone(),
            trial_id: done.trial_id.clone(),
            attempt: 1,
            result_json: result_json(0.77, 0.9),
        })
        .await
        .unwrap()
        .into_inner()
        .stored;
    assert!(stored, "acknowledged = committed");
    let running = lease_one(&mut workers, (&wid, &secret)).await;

    first.kill().unwrap(); // SIGKILL: no shutdown code runs
    first.wait().unwrap();

    let (mut second, url) = start(&db);
    let mut sweeps = SweepServiceClient::connect(url.clone()).await.unwrap();
    let mut workers = WorkerServiceClient::connect(url).await.unwrap();
    let s = sweeps
        .get_sweep(GetSweepRequest {
            sweep_id: sweep_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.done, s.running, s.pending), (1, 1, 1));
    assert_eq!(s.best_trial_id, done.trial_id);
    assert_eq!(s.running_trials[0].trial_id, running.trial_id);
    assert_eq!(s.running_trials[0].attempt, 1);
    // The worker is remembered (its secret too) and keeps its trial.
    let hb = workers
        .heartbeat(HeartbeatRequest {
            sweep_id: Default::default(),
            worker_id: wid.clone(),
            worker_secret: secret.clone(),
            trial_id: running.trial_id.clone(),
            attempt: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!hb.stop);
    let next = lease_one(&mut workers, (&wid, &secret)).await;
    assert_ne!(next.trial_id, running.trial_id);
    assert_ne!(next.trial_id, done.trial_id);

    let pid = second.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let exit = wait_with_timeout(&mut second, Duration::from_secs(10));
    assert!(exit.success(), "graceful exit on SIGTERM: {exit:?}");
}

#[test]
fn an_unusable_database_is_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing-dir/sweep.db");
    let out = command(&["--listen", "127.0.0.1:0", "--db", db.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "no address line when nothing is served"
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("missing-dir/sweep.db"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn bad_settings_are_one_line_naming_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("coordinator.yaml");
    std::fs::write(&file, "lease_ms: 1000\nmax_gird: 5\n").unwrap();
    let out = command(&["--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("coordinator.yaml") && err.contains("max_gird"),
        "{err}"
    );

    let out = command(&["--listen", "127.0.0.1:0"])
        .env("SWEEP_MAX_GRID", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("SWEEP_MAX_GRID") && err.contains("max_grid"),
        "{err}"
    );
}
