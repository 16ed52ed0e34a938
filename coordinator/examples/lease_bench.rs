//! Lease throughput of a real coordinator: serves in-process on a loopback
//! port with its database in a temporary file, submits one grid of N
//! trivial trials, then K client tasks (each its own connection, like K
//! workers) loop register → lease → complete over gRPC until every trial is
//! done. Prints lease→complete round trips per second; every one of them is
//! two committed SQLite transactions (WAL, synchronous=FULL). `--tokens`
//! puts the gate in front (a client and a worker token, every call checked);
//! `--tls` serves over TLS with a CA and certificate made for the run. Prints
//! the CPU model first: figures from different CPUs do not compare.
//!
//! `cargo run -p sweep-coordinator --release --example lease_bench -- --workers 4 --trials 2000 [--tokens --tls]`

use clap::Parser;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sweep_coordinator::auth::Gate;
use sweep_coordinator::security::{self, Security};
use sweep_coordinator::server::{serve_secured, ServerConfig};
use sweep_proto::trial::{BackboneInfo, EpochMetrics, PhaseTiming, TestMetrics, TrialResult};
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use sweep_proto::v1::*;
use sweep_runtime::credentials::{Bearer, ClientTls, Credentials};
use tonic::transport::{Certificate, ClientTlsConfig};

#[derive(Debug, Parser)]
struct Args {
    /// Client tasks (workers) leasing at once.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Trials in the sweep.
    #[arg(long, default_value_t = 2000)]
    trials: usize,
    /// Require bearer tokens (one per role) on every call.
    #[arg(long)]
    tokens: bool,
    /// Serve over TLS (a CA and a certificate for `localhost` made for the run).
    #[arg(long)]
    tls: bool,
}

/// The server's security and the two roles' client credentials.
fn set_up(
    dir: &Path,
    tokens: bool,
    tls: bool,
) -> anyhow::Result<(Security, Credentials, Credentials)> {
    let mut server = Security::open();
    let (mut client, mut worker) = (Credentials::none(), Credentials::none());
    if tokens {
        let (c, w) = (dir.join("client.tokens"), dir.join("worker.tokens"));
        std::fs::write(&c, "bench-client-token\n")?;
        std::fs::write(&w, "bench-worker-token\n")?;
        server.gate = Gate::from_files(&c, &w)?;
        client.bearer = Bearer::new("bench-client-token");
        worker.bearer = Bearer::new("bench-worker-token");
    }
    if tls {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate()?;
        let ca_pem = ca_params.self_signed(&ca_key)?.pem();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate()?;
        let cert =
            CertificateParams::new(vec!["localhost".to_string()])?.signed_by(&key, &issuer)?;
        let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
        std::fs::write(&cert_path, cert.pem())?;
        std::fs::write(&key_path, key.serialize_pem())?;
        server.tls = Some(security::server_tls(&cert_path, &key_path, None)?);
        let tls = ClientTls::from_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca_pem))
                .domain_name("localhost"),
        );
        client.tls = Some(tls.clone());
        worker.tls = Some(tls);
    }
    Ok((server, client, worker))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.workers > 0 && args.trials > 0,
        "--workers and --trials must be positive"
    );
    println!(
        "CPU: {}; tokens {}, TLS {}",
        sweep_runtime::cores::model(),
        if args.tokens { "on" } else { "off" },
        if args.tls { "on" } else { "off" }
    );
    let dir = tempfile::tempdir()?;
    let (security, client, worker_credentials) = set_up(dir.path(), args.tokens, args.tls)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ServerConfig {
        db_path: dir.path().join("bench.db"),
        lease: Duration::from_secs(30),
        max_grid: (args.trials as u64).max(10_000),
        policy: Default::default(),
        limits: Default::default(),
    };
    let server = tokio::spawn(serve_secured(config, security, listener, async {
        let _ = stopped.await;
    }));

    let channel = client.endpoint(&addr)?.connect().await?;
    let seeds: Vec<String> = (0..args.trials).map(|i| i.to_string()).collect();
    let yaml = format!(
        "name: bench\nmethod: grid\nbase:\n  input_size: 32\n  data: {{train: 500, val: 200, test: 200}}\nparameters:\n  seed: {{values: [{}]}}\n",
        seeds.join(", ")
    );
    let submitted = Instant::now();
    let sweep = SweepServiceClient::with_interceptor(channel, client.bearer.clone())
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: yaml,
            source_name: "bench.yaml".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let submit_s = submitted.elapsed().as_secs_f64();
    anyhow::ensure!(sweep.trial_count == args.trials as u64);

    let result_json = serde_json::to_string(&trivial_result())?;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..args.workers {
        let (addr, result_json, done) = (addr.clone(), result_json.clone(), done.clone());
        let credentials = worker_credentials.clone();
        let total = args.trials as u64;
        tasks.push(tokio::spawn(async move {
            worker(k, &addr, &credentials, &result_json, &done, total).await
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    server.await??;

    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    println!(
        "submit of {} trials: {:.3} s; {} workers: {} lease→complete round trips in {:.2} s = {:.1} trials/s (per trial: p50 {:.2} ms, p99 {:.2} ms)",
        args.trials,
        submit_s,
        args.workers,
        latencies.len(),
        elapsed,
        latencies.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99)
    );
    Ok(())
}

/// One worker: register, then lease → complete until all trials are done.
/// Returns the duration of each of its lease→complete round trips.
async fn worker(
    k: usize,
    addr: &str,
    credentials: &Credentials,
    result_json: &str,
    done: &AtomicU64,
    total: u64,
) -> anyhow::Result<Vec<Duration>> {
    let channel = credentials
        .endpoint(addr)?
        .tcp_nodelay(true)
        .connect()
        .await?;
    let mut rpc = WorkerServiceClient::with_interceptor(channel, credentials.bearer.clone());
    let registered = rpc
        .register(RegisterRequest {
            hostname: format!("bench-{k}"),
            cores: 1,
            slots: 1,
            version: "bench".into(),
        })
        .await?
        .into_inner();
    let (worker_id, worker_secret) = (registered.worker_id, registered.worker_secret);
    let mut latencies = Vec::new();
    loop {
        let t0 = Instant::now();
        let answer = rpc
            .lease_trial(LeaseTrialRequest {
                worker_id: worker_id.clone(),
                worker_secret: worker_secret.clone(),
                request_id: String::new(),
                max_trials: 1,
            })
            .await?
            .into_inner();
        let Some(lease) = answer.lease else {
            if done.load(Ordering::SeqCst) == total {
                return Ok(latencies);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        let stored = rpc
            .complete_trial(CompleteTrialRequest {
                sweep_id: Default::default(),
                worker_id: worker_id.clone(),
                worker_secret: worker_secret.clone(),
                trial_id: lease.trial_id,
                attempt: lease.attempt,
                result_json: result_json.to_string(),
            })
            .await?
            .into_inner()
            .stored;
        anyhow::ensure!(stored, "a first complete must be stored");
        latencies.push(t0.elapsed());
        done.fetch_add(1, Ordering::SeqCst);
    }
}

fn trivial_result() -> TrialResult {
    let epoch = EpochMetrics {
        epoch: 1,
        phase: 1,
        train_loss: 0.5,
        train_acc: 0.8,
        val_loss: 0.5,
        val_acc: 0.8,
        val_ece: 0.05,
        lr_backbone: 1e-5,
        lr_head: 1e-3,
        wall_s: 0.0,
    };
    TrialResult {
        backbone: BackboneInfo {
            name: "none".into(),
            sha256: String::new(),
        },
        epochs: vec![epoch],
        best_epoch: 1,
        best_val_acc: 0.8,
        best_val_loss: 0.5,
        best_val_ece: 0.05,
        test: TestMetrics {
            acc: 0.8,
            loss: 0.5,
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
            wall_s: 0.0,
            train_images_per_s: 0.0,
            shared: false,
            prefix_shared_epochs: 0,
        }],
        wall_s: 0.0,
        turn_wait_s: 0.0,
        threads: 1,
        host: "bench".into(),
        diverged: None,
        simulated: false,
    }
}
