//! `/metrics` on the HTTP side over real loopback sockets: refused without a
//! client token (401; a worker token: 403), and with one (header or the
//! cookie `/login` sets) it shows what happened over gRPC: RPCs by method and
//! code with latencies, a lease granted, a completed attempt, store commit
//! latency, trials by sweep and state, and the connected worker; every series
//! the Grafana dashboard in `deploy/grafana/` queries is among them.

mod common;

use common::http_get::{get, request};
use common::*;
use std::net::SocketAddr;
use std::time::Duration;
use sweep_coordinator::auth::Gate;
use sweep_coordinator::security::Security;
use sweep_coordinator::server::{CoordinatorServer, ServerConfig};
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use sweep_proto::v1::*;
use sweep_runtime::credentials::Bearer;
use tonic::transport::Channel;

const CLIENT_TOKEN: &str = "client-token-0123456789abcdef";
const WORKER_TOKEN: &str = "worker-token-0123456789abcdef";

/// Starts a gated coordinator with its HTTP side; (gRPC, HTTP) addresses.
async fn start(dir: &std::path::Path) -> (SocketAddr, SocketAddr) {
    let (c, w) = (dir.join("client.tokens"), dir.join("worker.tokens"));
    std::fs::write(&c, format!("{CLIENT_TOKEN}\n")).unwrap();
    std::fs::write(&w, format!("{WORKER_TOKEN}\n")).unwrap();
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addrs = (grpc.local_addr().unwrap(), http.local_addr().unwrap());
    let config = ServerConfig {
        db_path: dir.join("sweep.db"),
        lease: Duration::from_secs(30),
        max_grid: 100,
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

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// The value of the sample line that starts with `name_and_labels `.
fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no `{name_and_labels}` in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_count_rpcs_leases_reports_and_trials_behind_the_client_token() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, http) = start(dir.path()).await;

    for (headers, status) in [
        (vec![], 401),
        (vec![("Authorization", "Bearer nope")], 401),
        (vec![("Cookie", "sweep_token=nope")], 401),
        (
            vec![("Authorization", &*format!("Bearer {WORKER_TOKEN}"))],
            403,
        ),
    ] {
        let refused = get(http, "/metrics", &headers).await;
        assert_eq!(refused.status, status, "{headers:?}: {}", refused.body);
        assert!(!refused.body.contains("sweep_rpc"), "{}", refused.body);
    }

    let ch = channel(grpc).await;
    let mut sweeps = SweepServiceClient::with_interceptor(ch.clone(), Bearer::new(CLIENT_TOKEN));
    let mut workers = WorkerServiceClient::with_interceptor(ch.clone(), Bearer::new(WORKER_TOKEN));
    let sweep_id = sweeps
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: seed_sweep_yaml("metrics", 3, ""),
            source_name: "metrics.yaml".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sweep_id;
    let refused = SweepServiceClient::new(ch.clone())
        .list_sweeps(ListSweepsRequest {})
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let reg = workers
        .register(RegisterRequest {
            hostname: "metrics-host".into(),
            cores: 2,
            slots: 1,
            version: "test".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let lease = workers
        .lease_trial(LeaseTrialRequest {
            worker_id: reg.worker_id.clone(),
            request_id: "r1".into(),
            worker_secret: reg.worker_secret.clone(),
            max_trials: 1,
        })
        .await
        .unwrap()
        .into_inner()
        .lease
        .unwrap();
    let stored = workers
        .complete_trial(CompleteTrialRequest {
            sweep_id: lease.sweep_id.clone(),
            worker_id: reg.worker_id.clone(),
            trial_id: lease.trial_id.clone(),
            attempt: lease.attempt,
            result_json: result_json(0.9, 0.8),
            worker_secret: reg.worker_secret.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .stored;
    assert!(stored);

    let scraped = get(
        http,
        "/metrics",
        &[("Authorization", &format!("Bearer {CLIENT_TOKEN}"))],
    )
    .await;
    assert_eq!(scraped.status, 200, "{}", scraped.body);
    assert!(scraped
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let m = &scraped.body;
    let submit = r#"{method="/sweep.v1.SweepService/SubmitSweep",code="Ok"}"#;
    assert_eq!(sample(m, &format!("sweep_rpc_calls_total{submit}")), 1.0);
    assert_eq!(
        sample(m, &format!("sweep_rpc_latency_seconds_count{submit}")),
        1.0
    );
    let refused = r#"{method="/sweep.v1.SweepService/ListSweeps",code="Unauthenticated"}"#;
    assert_eq!(sample(m, &format!("sweep_rpc_calls_total{refused}")), 1.0);
    assert_eq!(sample(m, "sweep_leases_granted_total"), 1.0);
    assert_eq!(sample(m, "sweep_leases_expired_total"), 0.0);
    assert_eq!(
        sample(m, r#"sweep_attempt_reports_total{outcome="completed"}"#),
        1.0
    );
    assert!(sample(m, "sweep_store_commit_seconds_count") >= 4.0, "{m}");
    for (state, n) in [("pending", 2.0), ("running", 0.0), ("done", 1.0)] {
        let labels = format!(r#"sweep_trials{{sweep_id="{sweep_id}",state="{state}"}}"#);
        assert_eq!(sample(m, &labels), n, "{state}");
    }
    assert_eq!(sample(m, r#"sweep_workers{state="active"}"#), 1.0);
    assert_eq!(sample(m, "sweep_connected_workers"), 1.0);
    grafana_queries_name_served_metrics(m);

    // The login form turns the token into an HttpOnly cookie.
    let refused = request(
        http,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("token={WORKER_TOKEN}"),
    )
    .await;
    assert_eq!(refused.status, 401);
    assert!(refused.header("set-cookie").is_none());
    let signed_in = request(
        http,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("token={CLIENT_TOKEN}"),
    )
    .await;
    assert_eq!(signed_in.status, 303, "{signed_in:?}");
    let cookie = signed_in.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let with_cookie = get(http, "/metrics", &[("Cookie", pair)]).await;
    assert_eq!(with_cookie.status, 200);
}

/// Every `sweep_*` series the Grafana dashboard (`deploy/grafana/sweep.json`)
/// queries is one the coordinator serves.
fn grafana_queries_name_served_metrics(scraped: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/grafana/sweep.json");
    let text = std::fs::read_to_string(path).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut names = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("sweep_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                // `sweep_worker_*` are the workers' own (tests/tests/worker_metrics.rs).
                if name != "sweep_id" && !name.starts_with("sweep_worker_") {
                    names.push(name);
                }
            }
        }
    }
    assert!(names.len() >= 9, "{names:?}");
    for name in names {
        assert!(
            scraped
                .lines()
                .any(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{"))),
            "the Grafana dashboard queries {name}, which /metrics does not serve"
        );
    }
}
