//! The `sweep` binary against a real coordinator (in-process, loopback,
//! real SQLite): `leaderboard` and `status` on a 10,000-trial sweep (every
//! page of `ListTrials` read), and text that carries terminal escapes (a
//! sweep name, a worker's error) printed without a single control byte
//! while CSV and JSON keep it.

use std::net::SocketAddr;
use std::process::Output;
use std::time::{Duration, Instant};
use sweep_coordinator::server::{serve, ServerConfig};
use sweep_coordinator::service::ServiceLimits;
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use sweep_proto::v1::*;
use tonic::transport::Channel;

/// What a hostile sweep name or error carries: clear screen, window title.
const ESCAPES: &str = "\x1b[2J\x1b]0;pwned\x07";

/// A grid of 100 × 100 points (seed × split seed) under `name` (YAML escapes allowed).
fn grid_yaml(name: &str) -> String {
    let list = (1..=100)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "name: \"{name}\"\nmethod: grid\nbase:\n  input_size: 32\n  data: {{train: 500, val: 200, test: 200}}\n\
         parameters:\n  seed: {{values: [{list}]}}\n  data.split_seed: {{values: [{list}]}}\n"
    )
}

async fn sweep(url: String, args: &[&str]) -> (Output, Duration) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sweep"))
            .args(&args)
            .env("SWEEP_COORDINATOR", url)
            .env_remove("SWEEP_TOKEN_FILE")
            .output()
            .expect("the sweep binary runs");
        (out, started.elapsed())
    })
    .await
    .unwrap()
}

fn no_controls(what: &str, out: &Output) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let bad: Vec<u8> = bytes
            .iter()
            .copied()
            .filter(|b| *b == 0x1b || *b == 0x07 || *b == b'\r')
            .collect();
        assert!(bad.is_empty(), "{what} {stream} has {bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaderboard_and_status_on_10000_trials_without_terminal_escapes() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ServerConfig {
        db_path: dir.path().join("sweep.db"),
        lease: Duration::from_secs(30),
        max_grid: 10_000,
        policy: Default::default(),
        limits: ServiceLimits::default(),
    };
    let server = tokio::spawn(serve(config, listener, async {
        let _ = stopped.await;
    }));
    let url = format!("http://{addr}");
    let ch = Channel::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut sweeps = SweepServiceClient::new(ch.clone());
    let mut workers = WorkerServiceClient::new(ch);

    let name = format!("evil{ESCAPES}grid");
    let submitted = sweeps
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: grid_yaml(&name.replace('\x1b', "\\e").replace('\x07', "\\a")),
            source_name: "grid.yaml".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(submitted.trial_count, 10_000);
    let id = submitted.sweep_id;
    let stored = sweeps
        .get_sweep(GetSweepRequest {
            sweep_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.name, name, "the name is stored as sent");

    // One trial's attempt fails with an error full of escapes.
    let registered = workers
        .register(RegisterRequest {
            hostname: format!("host{ESCAPES}"),
            cores: 1,
            slots: 1,
            version: "t".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let (wid, secret) = (registered.worker_id, registered.worker_secret);
    let lease = workers
        .lease_trial(LeaseTrialRequest {
            worker_id: wid.clone(),
            worker_secret: secret.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .lease
        .unwrap();
    workers
        .fail_trial(FailTrialRequest {
            sweep_id: lease.sweep_id.clone(),
            worker_id: wid.clone(),
            worker_secret: secret.clone(),
            trial_id: lease.trial_id.clone(),
            attempt: lease.attempt,
            error: format!("boom{ESCAPES}\r\nsecond line"),
            ..Default::default()
        })
        .await
        .unwrap();

    let (out, took) = sweep(url.clone(), &["leaderboard", &id]).await;
    eprintln!("sweep leaderboard over 10,000 trials (all pages): {took:?}");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    no_controls("leaderboard", &out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1 + 10_000, "a header and every trial");
    assert!(text.contains("boom"), "the error is shown, cleaned");

    let (out, _) = sweep(url.clone(), &["status", &id]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    no_controls("status", &out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("evilgrid"), "{text}");

    let (out, _) = sweep(url.clone(), &["list"]).await;
    assert!(out.status.success());
    no_controls("list", &out);

    // JSON keeps the data, escaped; CSV keeps it, quoted where it must be.
    let (out, _) = sweep(url.clone(), &["leaderboard", &id, "--format", "json"]).await;
    assert!(out.status.success());
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 10_000);
    assert!(rows
        .iter()
        .any(|r| r["last_error"].as_str() == Some(&format!("boom{ESCAPES}\r\nsecond line"))));
    let (out, _) = sweep(
        url.clone(),
        &["leaderboard", &id, "--format", "csv", "--top", "3"],
    )
    .await;
    assert!(out.status.success());
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(
        csv.contains(&format!("\"boom{ESCAPES}\r\nsecond line\"")),
        "{csv:?}"
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
