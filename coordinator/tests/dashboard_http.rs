//! The dashboard's HTTP side without a browser, over real sockets: pages and
//! assets are refused without the client token (a browser is sent to
//! `/login`), the JSON API answers with the token, unknown or overlong ids
//! are 404/400, the trials table sorts and pages on the server, server-sent
//! events tell an open page about a change within 2 s, and a 10,000-trial
//! sweep stays quick: the timings of its first (uncached) and later table
//! pages, curves and plot points are printed (`--nocapture`).

mod common;

use common::http_get::get;
use common::*;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use sweep_coordinator::auth::Gate;
use sweep_coordinator::security::Security;
use sweep_coordinator::server::{CoordinatorServer, ServerConfig};
use sweep_coordinator::store::{CompletionReport, ManualClock};
use sweep_proto::trial::EpochMetrics;
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use sweep_proto::v1::{LeaseTrialRequest, RegisterRequest};
use sweep_runtime::credentials::Bearer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const CLIENT_TOKEN: &str = "client-token-0123456789abcdef";
const WORKER_TOKEN: &str = "worker-token-0123456789abcdef";

/// A sweep of `n` trials of which the first `done` are finished (10 epochs
/// each, phase 2 from epoch 4), stored before the server opens the file.
fn populate(dir: &Path, n: usize, done: usize) -> String {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let store = open_store(dir, &clock);
    let sweep = seed_sweep("dash", n, "");
    let id = store
        .create_sweep(&sweep, &seed_sweep_yaml("dash", n, ""), "dash.yaml")
        .unwrap();
    let w = worker(&store, "dash-host");
    for k in 0..done {
        let lease = store.lease(&w, "").unwrap().unwrap();
        let top = 0.5 + 0.4 * ((k * 7919) % 1000) as f64 / 1000.0;
        let mut r = result(top, top - 0.01);
        r.epochs = (1..=10)
            .map(|e| EpochMetrics {
                phase: if e <= 3 { 1 } else { 2 },
                ..epoch(e, top * f64::from(e) / 10.0)
            })
            .collect();
        r.best_epoch = 10;
        r.best_val_acc = top;
        store
            .complete(&CompletionReport {
                sweep_id: lease.sweep_id,
                worker_id: w.clone(),
                trial_id: lease.trial_id,
                attempt: lease.attempt,
                result_json: serde_json::to_string(&r).unwrap(),
            })
            .unwrap();
    }
    id
}

/// A gated coordinator on `dir`'s database with its HTTP side; (gRPC, HTTP).
async fn start(dir: &Path) -> (SocketAddr, SocketAddr) {
    let (c, w) = (dir.join("client.tokens"), dir.join("worker.tokens"));
    std::fs::write(&c, format!("{CLIENT_TOKEN}\n")).unwrap();
    std::fs::write(&w, format!("{WORKER_TOKEN}\n")).unwrap();
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addrs = (grpc.local_addr().unwrap(), http.local_addr().unwrap());
    let config = ServerConfig {
        db_path: dir.join("sweep.db"),
        lease: Duration::from_secs(30),
        max_grid: 20_000,
        policy: Default::default(),
        limits: Default::default(),
    };
    let server = CoordinatorServer::open(config)
        .unwrap()
        .with_security(Security {
            gate: Gate::from_files(&c, &w).unwrap(),
            tls: None,
        })
        .with_http(http);
    tokio::spawn(server.run(grpc, std::future::pending()));
    addrs
}

fn bearer() -> String {
    format!("Bearer {CLIENT_TOKEN}")
}

async fn api(http: SocketAddr, path: &str) -> serde_json::Value {
    let answer = get(http, path, &[("Authorization", &bearer())]).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    serde_json::from_str(&answer.body).unwrap()
}

#[tokio::test]
async fn pages_need_the_token_and_the_api_sorts_pages_and_streams_changes() {
    let dir = tempfile::tempdir().unwrap();
    let id = populate(dir.path(), 30, 12);
    let (grpc, http) = start(dir.path()).await;

    for path in ["/", "/workers", "/assets/dashboard.js", "/api/sweeps"] {
        let refused = get(http, path, &[]).await;
        assert_eq!(refused.status, 401, "{path}");
    }
    let browser = get(http, &format!("/sweeps/{id}"), &[("Accept", "text/html")]).await;
    assert_eq!(browser.status, 303);
    assert_eq!(browser.header("location"), Some("/login"));
    let page = get(
        http,
        &format!("/sweeps/{id}"),
        &[("Authorization", &bearer())],
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-page=\"sweep\"") && !page.body.contains(&id));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    let echarts = get(
        http,
        "/assets/echarts-6.1.0.min.js",
        &[("Authorization", &bearer())],
    )
    .await;
    assert_eq!(echarts.status, 200);
    assert!(echarts.body.len() > 500_000);

    let sweeps = api(http, "/api/sweeps").await;
    assert_eq!(sweeps[0]["sweep_id"], id.as_str());
    assert_eq!(sweeps[0]["done"], 12);
    let sweep = api(http, &format!("/api/sweeps/{id}")).await;
    assert_eq!(sweep["param_names"], serde_json::json!(["seed"]));
    assert!(sweep["importance"]["method"]
        .as_str()
        .unwrap()
        .contains("variance decomposition"));

    let page = api(
        http,
        &format!("/api/sweeps/{id}/trials?sort=metric&desc=true&offset=2&limit=5"),
    )
    .await;
    assert_eq!(page["page"]["total"], 30);
    let rows = page["page"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let metrics: Vec<f64> = rows.iter().map(|r| r["metric"].as_f64().unwrap()).collect();
    assert!(metrics.windows(2).all(|w| w[0] >= w[1]), "{metrics:?}");
    assert_eq!(rows[0]["rank"], 3);
    let curves = api(http, &format!("/api/sweeps/{id}/curves")).await;
    assert_eq!(curves["curves"].as_array().unwrap().len(), 12);
    assert_eq!(curves["phase2_epoch"], 4);
    let points = api(http, &format!("/api/sweeps/{id}/points")).await;
    assert_eq!(points["rows"].as_array().unwrap().len(), 12);
    let best = sweep["summary"]["best_trial"].as_str().unwrap();
    let trial = api(http, &format!("/api/sweeps/{id}/trials/{best}")).await;
    assert_eq!(trial["epochs"].as_array().unwrap().len(), 10);
    assert_eq!(
        trial["result"]["test"]["confusion"]
            .as_array()
            .unwrap()
            .len(),
        10
    );

    let missing = get(http, "/api/sweeps/sw-nope", &[("Authorization", &bearer())]).await;
    assert_eq!(missing.status, 404);
    let long = format!("/api/sweeps/{}", "x".repeat(200));
    assert_eq!(
        get(http, &long, &[("Authorization", &bearer())])
            .await
            .status,
        400
    );

    // Server-sent events: one change on connect, one after a commit.
    let mut stream = tokio::net::TcpStream::connect(http).await.unwrap();
    stream
        .write_all(
            format!(
                "GET /api/sweeps/{id}/events HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n",
                bearer()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut lines = BufReader::new(stream).lines();
    let mut next_change = async || loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the stream stays open");
        if line.contains("event: change") {
            return;
        }
    };
    tokio::time::timeout(Duration::from_secs(2), next_change())
        .await
        .expect("a first change event");
    // A worker leases a trial over gRPC: the open stream hears of it.
    let ch = tonic::transport::Channel::from_shared(format!("http://{grpc}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut workers = WorkerServiceClient::with_interceptor(ch, Bearer::new(WORKER_TOKEN));
    let reg = workers
        .register(RegisterRequest {
            hostname: "sse".into(),
            cores: 1,
            slots: 1,
            version: "test".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let leased_at = Instant::now();
    let lease = workers
        .lease_trial(LeaseTrialRequest {
            worker_id: reg.worker_id,
            request_id: "sse-1".into(),
            worker_secret: reg.worker_secret,
            max_trials: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(lease.lease.is_some());
    tokio::time::timeout(Duration::from_secs(2), next_change())
        .await
        .expect("a change event within 2 s of the lease");
    eprintln!(
        "dashboard_http: change event {:?} after the lease",
        leased_at.elapsed()
    );
    let running = api(http, &format!("/api/sweeps/{id}")).await;
    assert_eq!(running["summary"]["running"], 1);
}

#[tokio::test]
async fn a_ten_thousand_trial_sweep_stays_quick() {
    let dir = tempfile::tempdir().unwrap();
    let filled = Instant::now();
    let id = populate(dir.path(), 10_000, 2_000);
    eprintln!(
        "dashboard_http: 10,000 trials (2,000 done) stored in {:?}",
        filled.elapsed()
    );
    let (_, http) = start(dir.path()).await;
    let timed = |what: &'static str, path: String| async move {
        let started = Instant::now();
        let answer = get(http, &path, &[("Authorization", &bearer())]).await;
        let took = started.elapsed();
        assert_eq!(answer.status, 200, "{what}");
        eprintln!(
            "dashboard_http: {what}: {took:?}, {} bytes",
            answer.body.len()
        );
        (took, answer.body)
    };
    let (_, first) = timed(
        "first table page (reads the sweep)",
        format!("/api/sweeps/{id}/trials"),
    )
    .await;
    let page: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(page["page"]["total"], 10_000);
    assert_eq!(page["page"]["rows"].as_array().unwrap().len(), 50);
    let (took, body) = timed(
        "table page sorted by seed, descending (cached)",
        format!("/api/sweeps/{id}/trials?sort=p:seed&desc=true&offset=9950&limit=500"),
    )
    .await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["page"]["rows"].as_array().unwrap().len(), 50);
    let (took, body) = timed("curves", format!("/api/sweeps/{id}/curves")).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    let curves: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(curves["curves"].as_array().unwrap().len(), 200);
    assert_eq!(curves["total"], 2_000);
    let (took, body) = timed("plot points", format!("/api/sweeps/{id}/points")).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    let points: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(points["rows"].as_array().unwrap().len(), 2_000);
    let (took, _) = timed("sweep and importance", format!("/api/sweeps/{id}")).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
}
