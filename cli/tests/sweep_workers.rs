//! `sweep workers` and the workers in `sweep status` against a real
//! coordinator (the coordinator library serving on a loopback port, its
//! database in a temporary folder) and workers driven by hand over gRPC:
//! one that completes a trial, one quarantined by environment failures, one
//! draining; then every worker unable to lease, and the sweep says it is
//! stalled.

use std::process::Command;
use std::time::Duration;
use sweep_coordinator::server::{serve, ServerConfig};
use sweep_proto::trial::{BackboneInfo, EpochMetrics, PhaseTiming, TestMetrics, TrialResult};
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use sweep_proto::v1::*;
use tonic::transport::Channel;

const SWEEP_FILE: &str = "\
name: workers-test
method: grid
base:
  input_size: 32
  data: {train: 100, val: 100, test: 100}
parameters:
  seed: {values: [1, 2, 3, 4, 5]}
";

/// Runs `sweep --coordinator URL ARGS…`; (exit code, stdout, stderr).
async fn sweep(url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sweep"));
    cmd.arg("--coordinator").arg(url).args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Hand {
    id: String,
    secret: String,
}

async fn register(w: &mut WorkerServiceClient<Channel>, host: &str, slots: u32) -> Hand {
    let r = w
        .register(RegisterRequest {
            hostname: host.into(),
            cores: 4,
            slots,
            version: "test".into(),
        })
        .await
        .unwrap()
        .into_inner();
    Hand {
        id: r.worker_id,
        secret: r.worker_secret,
    }
}

async fn lease(w: &mut WorkerServiceClient<Channel>, h: &Hand) -> Lease {
    w.lease_trial(LeaseTrialRequest {
        worker_id: h.id.clone(),
        worker_secret: h.secret.clone(),
        request_id: String::new(),
        max_trials: 1,
    })
    .await
    .unwrap()
    .into_inner()
    .lease
    .expect("a pending trial")
}

fn result_json() -> String {
    let epoch = EpochMetrics {
        epoch: 1,
        phase: 1,
        train_loss: 0.5,
        train_acc: 0.8,
        val_loss: 0.4,
        val_acc: 0.8,
        val_ece: 0.05,
        lr_backbone: 1e-5,
        lr_head: 1e-3,
        wall_s: 0.1,
    };
    serde_json::to_string(&TrialResult {
        backbone: BackboneInfo {
            name: "test".into(),
            sha256: "00".into(),
        },
        epochs: vec![epoch],
        best_epoch: 1,
        best_val_acc: 0.8,
        best_val_loss: 0.4,
        best_val_ece: 0.05,
        test: TestMetrics {
            acc: 0.8,
            loss: 0.4,
            ece: 0.05,
            per_class_acc: vec![0.8; 10],
            confusion: vec![vec![0; 10]; 10],
            reliability: vec![],
        },
        val: None,
        calibration: None,
        phases: vec![PhaseTiming {
            phase: 1,
            epochs: 1,
            wall_s: 0.1,
            train_images_per_s: 100.0,
            shared: false,
            prefix_shared_epochs: 0,
        }],
        wall_s: 0.1,
        turn_wait_s: 0.0,
        threads: 1,
        host: "test".into(),
        diverged: None,
        simulated: false,
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_lists_states_and_status_says_when_the_sweep_stalls() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        ServerConfig {
            db_path: dir.path().join("sweep.db"),
            lease: Duration::from_secs(60),
            max_grid: 100,
            policy: Default::default(),
            limits: Default::default(),
        },
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    let ch = Channel::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut w = WorkerServiceClient::new(ch.clone());
    let sweep_id = SweepServiceClient::new(ch)
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: SWEEP_FILE.into(),
            source_name: "workers.yaml".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sweep_id;

    let (code, out, err) = sweep(&url, &["workers"]).await;
    assert_eq!((code, out.as_str()), (Some(0), ""), "{err}");
    assert!(err.contains("no workers at"), "{err}");

    // good: completes one trial.
    let good = register(&mut w, "good-host", 2).await;
    let l = lease(&mut w, &good).await;
    w.complete_trial(CompleteTrialRequest {
        worker_id: good.id.clone(),
        worker_secret: good.secret.clone(),
        sweep_id: l.sweep_id,
        trial_id: l.trial_id,
        attempt: l.attempt,
        result_json: result_json(),
    })
    .await
    .unwrap();
    // nodata: three environment failures on three trials.
    let nodata = register(&mut w, "nodata-host", 1).await;
    for _ in 0..3 {
        let l = lease(&mut w, &nodata).await;
        w.fail_trial(FailTrialRequest {
            worker_id: nodata.id.clone(),
            worker_secret: nodata.secret.clone(),
            sweep_id: l.sweep_id,
            trial_id: l.trial_id,
            attempt: l.attempt,
            error: "backbone weights data/r18.safetensors not found".into(),
            handed_back: false,
            cause: FailureCause::Environment as i32,
        })
        .await
        .unwrap();
    }
    let refused = w
        .lease_trial(LeaseTrialRequest {
            worker_id: nodata.id.clone(),
            worker_secret: nodata.secret.clone(),
            request_id: String::new(),
            max_trials: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert_eq!(
        refused.message(),
        format!(
            "worker {} quarantined: its last 3 trials failed for environment reasons \
             (last: backbone weights data/r18.safetensors not found)",
            nodata.id
        )
    );
    // leaving: holds a trial, then drains.
    let leaving = register(&mut w, "leaving-host", 1).await;
    lease(&mut w, &leaving).await;
    w.drain(DrainRequest {
        worker_id: leaving.id.clone(),
        worker_secret: leaving.secret.clone(),
    })
    .await
    .unwrap();

    let (code, out, err) = sweep(&url, &["workers"]).await;
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "id", "host", "slots", "last", "seen", "state", "running", "done", "failed", "env",
            "failures"
        ]
    );
    let row = |id: &str| -> Vec<String> {
        let line = lines.iter().find(|l| l.starts_with(id)).unwrap();
        line.split_whitespace().map(str::to_string).collect()
    };
    // id host slots <n>s ago state running done failed env
    let g = row(&good.id);
    assert_eq!(
        (
            g[1].as_str(),
            g[2].as_str(),
            g[4].as_str(),
            g[5].as_str(),
            g[6].as_str(),
            g[7].as_str(),
            g[8].as_str()
        ),
        ("good-host", "2", "ago", "active", "0", "1", "0"),
        "{out}"
    );
    assert!(g[3].ends_with('s'), "{out}");
    let q = row(&nodata.id);
    assert_eq!(
        (q[5].as_str(), q[9].as_str()),
        ("quarantined", "3"),
        "{out}"
    );
    let d = row(&leaving.id);
    assert_eq!((d[5].as_str(), d[6].as_str()), ("draining", "1"), "{out}");
    assert!(
        out.contains(&format!(
            "{} quarantined: its last 3 trials failed for environment reasons",
            nodata.id
        )),
        "{out}"
    );

    let (code, csv, _) = sweep(&url, &["workers", "--format", "csv"]).await;
    assert_eq!(code, Some(0));
    let csv_lines: Vec<&str> = csv.lines().collect();
    assert_eq!(csv_lines.len(), 4, "{csv}");
    assert!(csv_lines[0].starts_with("worker_id,hostname,slots,"));
    assert!(csv_lines
        .iter()
        .any(|l| l.starts_with(&format!("{},nodata-host,1,4,test,quarantined,", nodata.id))));
    let (code, json, _) = sweep(&url, &["workers", "--format", "json"]).await;
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let states: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["active", "quarantined", "draining"]);
    assert_eq!(json[0]["done"], 1);
    assert_eq!(json[1]["environment_failures"], 3);

    let (code, status, err) = sweep(&url, &["status", &sweep_id]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        status.contains("workers  1 active · 1 quarantined\n"),
        "{status}"
    );
    assert!(!status.contains("stalled"), "{status}");

    // The last active worker drains: nobody can take the pending trials.
    w.drain(DrainRequest {
        worker_id: good.id.clone(),
        worker_secret: good.secret.clone(),
    })
    .await
    .unwrap();
    let (code, status, _) = sweep(&url, &["status", &sweep_id]).await;
    assert_eq!(code, Some(0));
    assert!(
        status.contains("workers  0 active · 1 quarantined\n"),
        "{status}"
    );
    assert!(
        status.contains(
            "stalled  3 trials are pending but no worker can take them: of 3 known workers, \
             1 quarantined after environment failures, 2 draining\n"
        ),
        "{status}"
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
