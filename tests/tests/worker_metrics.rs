//! `sweep-worker run --metrics-listen ADDR`: a simulated worker against a
//! real coordinator serves Prometheus text at `/metrics`, and after a sweep
//! its counters have moved: trials started and completed, epochs run, epoch
//! durations observed, images per second of the latest epoch, no slot busy;
//! every `sweep_worker_*` series `deploy/grafana/sweep.json` queries is served.

use std::time::Duration;
use sweep_tests::Cluster;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SWEEP: &str = "name: worker-metrics
method: grid
base:
  input_size: 32
  data: {train: 200, val: 100, test: 100}
  phase1: {epochs: 1}
  phase2: {epochs: 2}
parameters:
  seed: {values: [1, 2]}
";

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `GET /metrics` over plain HTTP/1.1: status line and body.
async fn scrape(port: u16) -> std::io::Result<(String, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).await?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    Ok((
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    ))
}

/// The value of the sample named exactly `name` (labels included).
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn a_worker_serves_its_metrics_and_they_move() {
    let cluster = Cluster::start(2000);
    let id = cluster.submit("metrics.yaml", SWEEP).await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _worker = cluster.worker(
        "metrics-worker",
        &["--simulate", "--threads", "1", "--metrics-listen", &listen],
        &[("SWEEP_SIM_EPOCH_MS", "20")],
    );
    let watched = tokio::time::timeout(Duration::from_secs(60), cluster.cli(&["watch", &id]))
        .await
        .expect("the sweep ran within 60 s");
    assert!(watched.success(), "{watched:?}");

    let (status, body) = scrape(port).await.expect("the worker serves /metrics");
    assert!(status.contains(" 200 "), "{status}\n{body}");
    assert_eq!(
        sample(&body, "sweep_worker_trials_started_total"),
        Some(2.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            "sweep_worker_trials_finished_total{outcome=\"completed\"}"
        ),
        Some(2.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, "sweep_worker_epochs_total"),
        Some(6.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, "sweep_worker_epoch_duration_seconds_count"),
        Some(6.0),
        "{body}"
    );
    let ips = sample(&body, "sweep_worker_images_per_second").expect("images/s");
    assert!(ips > 0.0 && ips.is_finite(), "{body}");
    assert_eq!(
        sample(&body, "sweep_worker_slots_busy"),
        Some(0.0),
        "{body}"
    );
    grafana_queries_name_served_metrics(&body);

    // A non-loopback address is refused unless the operator allows it.
    let mut refused = cluster.worker(
        "public-metrics",
        &["--simulate", "--metrics-listen", "0.0.0.0:0"],
        &[],
    );
    let status = refused.wait_exit(Duration::from_secs(20)).await;
    assert!(!status.success(), "{status:?}");
    let said = refused.log_text();
    assert!(said.contains("metrics_listen: 0.0.0.0:0"), "{said}");
}

/// Every `sweep_worker_*` name in the Grafana dashboard's queries is a
/// series (or a histogram's `_bucket`) the worker serves.
fn grafana_queries_name_served_metrics(scraped: &str) {
    let path = sweep_tests::bins::repo_root().join("deploy/grafana/sweep.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let mut rest = target["expr"].as_str().unwrap();
            while let Some(at) = rest.find("sweep_worker_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                names.push(name);
            }
        }
    }
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        assert!(
            scraped
                .lines()
                .any(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{"))),
            "the Grafana dashboard queries {name}, which the worker's /metrics does not serve"
        );
    }
}
