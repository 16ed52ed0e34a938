//! `sweep run` end to end without libtorch: the embedded coordinator, real
//! worker *processes* (this test binary re-executed as a minimal gRPC worker,
//! see [`fake_worker_process`]), live progress, the leaderboard, and the
//! orderly stop. Also: a refused file starts no worker, and workers that all
//! die fail the run.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use sweep_proto::trial::{
    BackboneInfo, EpochMetrics, PhaseTiming, TestMetrics, TrialConfig, TrialResult,
};
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use sweep_proto::v1::{CompleteTrialRequest, HeartbeatRequest, LeaseTrialRequest, RegisterRequest};

/// Set (to the coordinator URL) when this binary runs as a fake worker.
const FAKE_WORKER_URL: &str = "SWEEP_TEST_FAKE_WORKER_URL";
/// The `--token-file` the fake worker was given.
const FAKE_WORKER_TOKEN_FILE: &str = "SWEEP_TEST_FAKE_WORKER_TOKEN_FILE";
/// When set to N, the fake worker completes N trials, leases one more and
/// dies with it (exit 3), as a killed run's worker would.
const FAKE_WORKER_DIE_AFTER: &str = "SWEEP_TEST_FAKE_WORKER_DIE_AFTER";

const SWEEP_FILE: &str = "\
name: fake-grid
metric: {name: val_acc, goal: maximize}
method: grid
base:
  input_size: 32
  data: {train: 100, val: 100, test: 100}
  phase1: {epochs: 1}
  phase2: {epochs: 1}
parameters:
  phase2.lr_backbone: {values: [1.0e-5, 1.0e-3]}
  phase2.unfreeze: {values: [[layer4], [all]]}
";

fn write_executable(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A `sweep-worker` stand-in: `sweep run` passes `run --coordinator URL ...`;
/// the script re-executes this test binary's fake worker with that URL.
fn fake_worker_bin(dir: &Path) -> PathBuf {
    let me = std::env::current_exe().unwrap();
    let path = dir.join("fake-sweep-worker");
    write_executable(
        &path,
        &format!(
            "[ \"$1\" = run ] && [ \"$2\" = --coordinator ] || exit 64\n\
             url=\"$3\"; tf=\n\
             while [ $# -gt 0 ]; do [ \"$1\" = --token-file ] && tf=\"$2\"; shift; done\n\
             {FAKE_WORKER_URL}=\"$url\" {FAKE_WORKER_TOKEN_FILE}=\"$tf\" exec '{}' fake_worker_process --exact --ignored --nocapture --test-threads=1",
            me.display()
        ),
    );
    path
}

fn sweep_run(dir: &Path, file_text: &str, worker_bin: &Path, workers: &str) -> Output {
    sweep_run_with(dir, file_text, worker_bin, workers, &[], &[])
}

fn sweep_run_with(
    dir: &Path,
    file_text: &str,
    worker_bin: &Path,
    workers: &str,
    extra_args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let file = dir.join("grid.yaml");
    std::fs::write(&file, file_text).unwrap();
    Command::new(env!("CARGO_BIN_EXE_sweep"))
        .envs(env.iter().copied())
        .args([
            "run",
            file.to_str().unwrap(),
            "--workers",
            workers,
            "--lease-ms",
            "2000",
        ])
        .arg("--dir")
        .arg(dir.join("state"))
        .arg("--worker-bin")
        .arg(worker_bin)
        .args(extra_args)
        .output()
        .expect("sweep runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn run_does_a_whole_sweep_with_worker_processes() {
    let dir = tempfile::tempdir().unwrap();
    let out = sweep_run(dir.path(), SWEEP_FILE, &fake_worker_bin(dir.path()), "2");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );

    assert!(stderr.contains("submitted"), "{stderr}");
    assert!(stderr.contains("started 2 worker(s)"), "{stderr}");
    assert!(stderr.contains("finished 4/4"), "{stderr}");
    assert!(!stderr.contains("unexpectedly"), "{stderr}");
    assert!(!stderr.contains("while stopping"), "{stderr}");

    // The leaderboard: 4 ranked trials, best first (the fake's val_acc grows with the LR).
    let rows: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("rank"))
        .skip(1)
        .collect();
    assert_eq!(rows.len(), 4, "{stdout}");
    for (i, row) in rows.iter().enumerate() {
        assert!(
            row.trim_start().starts_with(&(i + 1).to_string()),
            "{stdout}"
        );
        assert!(row.contains(" done "), "{stdout}");
    }
    assert!(
        rows[0].contains("0.001") && rows[3].contains("1e-5"),
        "{stdout}"
    );

    // Both workers served and were stopped by SIGTERM, not killed.
    let state = dir.path().join("state");
    assert!(state.join("sweep.db").is_file());
    for k in 1..=2 {
        let log = std::fs::read_to_string(state.join(format!("logs/worker-{k}.log"))).unwrap();
        assert!(
            log.contains("fake worker: SIGTERM, exiting"),
            "worker-{k}.log:\n{log}"
        );
    }
}

#[test]
fn a_refused_file_starts_no_worker() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("worker-started");
    let bin = dir.path().join("marker-worker");
    write_executable(&bin, &format!("touch '{}'", marker.display()));
    let bad = "name: bad\nbase:\n  phase2: {lr_bakbone: 0.1}\n";
    let out = sweep_run(dir.path(), bad, &bin, "1");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with("sweep: ") && last.contains("lr_bakbone"),
        "{stderr}"
    );
    assert!(last.contains("grid.yaml"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(!marker.exists(), "a worker was started for a refused file");
}

#[test]
fn all_workers_dying_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("dying-worker");
    write_executable(&bin, "echo 'cannot load libtorch' >&2; exit 3");
    let out = sweep_run(dir.path(), SWEEP_FILE, &bin, "2");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("exited unexpectedly (exit status: 3)"),
        "{stderr}"
    );
    let last = stderr.lines().last().unwrap();
    assert!(last.starts_with("sweep: all 2 worker(s) died"), "{stderr}");
    let log = std::fs::read_to_string(dir.path().join("state/logs/worker-1.log")).unwrap();
    assert_eq!(log, "cannot load libtorch\n");
}

#[test]
fn a_stopped_run_resumes_where_it_stopped_and_fresh_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_worker_bin(dir.path());
    // The only worker completes one trial, leases a second and dies holding it.
    let out = sweep_run_with(
        dir.path(),
        SWEEP_FILE,
        &bin,
        "1",
        &[],
        &[(FAKE_WORKER_DIE_AFTER, "1")],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("submitted"), "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(last.contains("it is kept"), "{stderr}");

    // The same command again: the same sweep, its done trial kept, the
    // dead worker's lease handed back without burning an attempt.
    let out = sweep_run(dir.path(), SWEEP_FILE, &bin, "1");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!stderr.contains("submitted"), "{stderr}");
    let resuming = stderr
        .lines()
        .find(|l| l.contains("resuming sw-"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(resuming.contains(": 1 of 4 done"), "{resuming}");
    assert!(
        resuming.contains("1 trial(s) the earlier run left running are pending again"),
        "{resuming}"
    );
    assert!(stderr.contains("finished 4/4"), "{stderr}");

    let db = dir.path().join("state/sweep.db");
    let store = sweep_coordinator::store::Store::open(&db, Default::default()).unwrap();
    let sweeps = store.list_sweeps().unwrap();
    assert_eq!(sweeps.len(), 1, "{sweeps:?}");
    let trials = store.list_trials(&sweeps[0].sweep_id, 0).unwrap().trials;
    let attempts: Vec<(u32, u32)> = trials
        .iter()
        .map(|t| (t.attempts, t.counted_attempts))
        .collect();
    // Every trial done; the one the dead worker held was leased twice, and
    // neither lease counted as a failed attempt.
    assert!(trials
        .iter()
        .all(|t| t.state == sweep_coordinator::store::TrialState::Done));
    assert_eq!(
        attempts.iter().filter(|a| **a == (2, 0)).count(),
        1,
        "{attempts:?}"
    );
    assert_eq!(
        attempts.iter().filter(|a| **a == (1, 0)).count(),
        3,
        "{attempts:?}"
    );
    drop(store);

    // Finished: a rerun says so and recomputes nothing; --fresh starts over.
    let out = sweep_run(dir.path(), SWEEP_FILE, &bin, "1");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("already ran to the end"), "{stderr}");
    assert!(
        !stderr.contains("started 1 worker"),
        "nothing to run, no workers: {stderr}"
    );
    assert_eq!(
        text(&out.stdout)
            .lines()
            .filter(|l| l.contains(" done "))
            .count(),
        4
    );
    let out = sweep_run_with(dir.path(), SWEEP_FILE, &bin, "1", &["--fresh"], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("--fresh: cancelled"), "{stderr}");
    assert!(stderr.contains("submitted"), "{stderr}");
    let store = sweep_coordinator::store::Store::open(&db, Default::default()).unwrap();
    assert_eq!(store.list_sweeps().unwrap().len(), 2);
}

/// Not a test: the fake worker process the tests above start (through
/// [`fake_worker_bin`]). Leases trials, reports one epoch and a result whose
/// val_acc grows with `phase2.lr_backbone`, and exits 0 on SIGTERM.
#[test]
#[ignore = "helper process for run_does_a_whole_sweep_with_worker_processes"]
fn fake_worker_process() {
    // Under `cargo test -- --include-ignored` there is nothing to serve.
    let Ok(url) = std::env::var(FAKE_WORKER_URL) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
        tokio::select! {
            _ = term.recv() => println!("fake worker: SIGTERM, exiting"),
            _ = serve_trials(url) => unreachable!("the fake worker loops until SIGTERM"),
        }
    });
}

async fn serve_trials(url: String) {
    // `sweep run` gives its workers a token file only they (and it) can read.
    let token_file = PathBuf::from(std::env::var(FAKE_WORKER_TOKEN_FILE).unwrap());
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", token_file.display());
    let token = std::fs::read_to_string(&token_file).unwrap();
    let header: tonic::metadata::MetadataValue<_> =
        format!("Bearer {}", token.trim()).parse().unwrap();
    let channel = tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client =
        WorkerServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", header.clone());
            Ok(r)
        });
    let registered = client
        .register(RegisterRequest {
            hostname: "fake".into(),
            cores: 1,
            slots: 1,
            version: "fake".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let (worker_id, worker_secret) = (registered.worker_id, registered.worker_secret);
    let die_after: Option<usize> = std::env::var(FAKE_WORKER_DIE_AFTER)
        .ok()
        .map(|n| n.parse().unwrap());
    let mut completed = 0;
    loop {
        let answer = client
            .lease_trial(LeaseTrialRequest {
                worker_id: worker_id.clone(),
                worker_secret: worker_secret.clone(),
                request_id: String::new(),
                max_trials: 1,
            })
            .await
            .unwrap()
            .into_inner();
        let Some(lease) = answer.lease else {
            tokio::time::sleep(Duration::from_millis(answer.retry_after_ms.clamp(10, 200))).await;
            continue;
        };
        if die_after == Some(completed) {
            println!("fake worker: dying with trial {} leased", lease.trial_id);
            std::process::exit(3);
        }
        let config: TrialConfig = serde_json::from_str(&lease.config_json).unwrap();
        let result = fake_result(&config);
        let epoch = result.epochs[0].clone();
        client
            .heartbeat(HeartbeatRequest {
                sweep_id: lease.sweep_id.clone(),
                worker_id: worker_id.clone(),
                worker_secret: worker_secret.clone(),
                trial_id: lease.trial_id.clone(),
                attempt: lease.attempt,
                epoch_json: vec![serde_json::to_string(&epoch).unwrap()],
                epochs_done: 1,
                total_epochs: config.total_epochs(),
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        client
            .complete_trial(CompleteTrialRequest {
                sweep_id: lease.sweep_id.clone(),
                worker_id: worker_id.clone(),
                worker_secret: worker_secret.clone(),
                trial_id: lease.trial_id,
                attempt: lease.attempt,
                result_json: serde_json::to_string(&result).unwrap(),
            })
            .await
            .unwrap();
        completed += 1;
    }
}

fn fake_result(config: &TrialConfig) -> TrialResult {
    let val_acc = 0.9 + config.phase2.lr_backbone * 10.0;
    let epochs: Vec<EpochMetrics> = (1..=config.total_epochs())
        .map(|epoch| EpochMetrics {
            epoch,
            phase: if epoch <= config.phase1.epochs { 1 } else { 2 },
            train_loss: 0.5,
            train_acc: 0.8,
            val_loss: 0.3,
            val_acc,
            val_ece: 0.05,
            lr_backbone: config.phase2.lr_backbone,
            lr_head: config.phase2.lr_head,
            wall_s: 0.01,
        })
        .collect();
    TrialResult {
        backbone: BackboneInfo {
            name: "fake.safetensors".into(),
            sha256: "0".repeat(64),
        },
        best_epoch: config.total_epochs(),
        best_val_acc: val_acc,
        best_val_loss: 0.3,
        best_val_ece: 0.05,
        test: TestMetrics {
            acc: 0.97,
            loss: 0.3,
            ece: 0.05,
            per_class_acc: vec![0.97; 10],
            confusion: vec![vec![0; 10]; 10],
            reliability: vec![],
        },
        val: None,
        calibration: None,
        phases: vec![PhaseTiming {
            phase: 2,
            epochs: config.phase2.epochs,
            wall_s: 0.02,
            train_images_per_s: 1000.0,
            shared: false,
            prefix_shared_epochs: 0,
        }],
        wall_s: 0.05,
        turn_wait_s: 0.0,
        threads: 1,
        host: "fake".into(),
        diverged: None,
        epochs,
        simulated: false,
    }
}
