//! `ListTrials` in pages over real gRPC on loopback: a 10,000-trial sweep
//! (the default grid cap) listed whole a page at a time, page sizes
//! defaulted and capped, tokens of another sweep or none of ours refused,
//! ranks that continue across pages, `top` cutting the total, and pages cut
//! where they would outgrow the message cap.

mod common;

use common::*;
use prost::Message;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use sweep_coordinator::server::{serve, ServerConfig, ServerError};
use sweep_coordinator::service::ServiceLimits;
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use sweep_proto::v1::*;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::Code;

struct Running {
    sweeps: SweepServiceClient<Channel>,
    workers: WorkerServiceClient<Channel>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServerError>>,
    _dir: tempfile::TempDir,
}

async fn start(max_grid: u64, limits: ServiceLimits) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = ServerConfig {
        policy: Default::default(),
        db_path: dir.path().join("sweep.db"),
        lease: Duration::from_secs(30),
        max_grid,
        limits,
    };
    let task = tokio::spawn(serve(config, listener, async {
        let _ = stopped.await;
    }));
    let ch = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    Running {
        sweeps: SweepServiceClient::new(ch.clone()),
        workers: WorkerServiceClient::new(ch),
        stop,
        task,
        _dir: dir,
    }
}

async fn stop(server: Running) {
    server.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("shutdown within 10 s")
        .unwrap()
        .unwrap();
}

/// A grid of `a` × `b` points (seed × split seed).
pub fn grid_yaml(name: &str, a: usize, b: usize) -> String {
    let list = |n: usize| {
        (0..n)
            .map(|i| (i + 1).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "name: {name}\nmethod: grid\nbase:\n  input_size: 32\n  data: {{train: 500, val: 200, test: 200}}\n\
         parameters:\n  seed: {{values: [{}]}}\n  data.split_seed: {{values: [{}]}}\n",
        list(a),
        list(b)
    )
}

async fn submit(s: &mut Running, yaml: String) -> String {
    s.sweeps
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: yaml,
            source_name: "grid.yaml".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sweep_id
}

/// Every page of `sweep_id`'s listing (cut to `top`), `page_size` at a time.
async fn all_pages(
    s: &mut Running,
    sweep_id: &str,
    top: u32,
    page_size: u32,
) -> Vec<ListTrialsResponse> {
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let page = s
            .sweeps
            .list_trials(ListTrialsRequest {
                sweep_id: sweep_id.into(),
                top,
                page_size,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        token = page.next_page_token.clone();
        pages.push(page);
        if token.is_empty() {
            return pages;
        }
        assert!(pages.len() < 100_000, "the listing never ends");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10000_trial_sweep_is_listed_whole_in_pages() {
    let mut s = start(10_000, ServiceLimits::default()).await;
    let started = Instant::now();
    let sweep_id = submit(&mut s, grid_yaml("ten-k", 100, 100)).await;
    eprintln!("submit of 10,000 trials: {:?}", started.elapsed());

    let started = Instant::now();
    let pages = all_pages(&mut s, &sweep_id, 0, 0).await;
    eprintln!(
        "ListTrials, all {} pages of 10,000 trials: {:?}",
        pages.len(),
        started.elapsed()
    );
    assert_eq!(pages.len(), 20, "500 a page by default");
    let mut ids = HashSet::new();
    for page in &pages {
        assert_eq!(page.total, 10_000);
        assert!(page.trials.len() <= 500);
        for t in &page.trials {
            assert!(ids.insert(t.trial_id.clone()), "{} twice", t.trial_id);
        }
    }
    assert_eq!(ids.len(), 10_000);
    assert!(pages.last().unwrap().next_page_token.is_empty());

    // A page larger than the maximum is cut to it.
    let big = s
        .sweeps
        .list_trials(ListTrialsRequest {
            sweep_id: sweep_id.clone(),
            page_size: 1_000_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(big.trials.len(), 1000);
    assert!(!big.next_page_token.is_empty());

    // A token of another sweep, or none of ours, is refused.
    let other = submit(&mut s, seed_sweep_yaml("other", 3, "")).await;
    let token = pages[0].next_page_token.clone();
    for (sweep, token) in [
        (other.as_str(), token.as_str()),
        (sweep_id.as_str(), "not-a-token"),
        (sweep_id.as_str(), "01ffffffffffffffff0000000000000000"),
    ] {
        let e = s
            .sweeps
            .list_trials(ListTrialsRequest {
                sweep_id: sweep.into(),
                page_token: token.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{token}");
        assert!(e.message().contains("page_token"), "{}", e.message());
    }
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranks_continue_across_pages_and_top_cuts_the_total() {
    let mut s = start(100, ServiceLimits::default()).await;
    let sweep_id = submit(
        &mut s,
        seed_sweep_yaml("ranked", 7, "metric: {name: val_acc, goal: maximize}\n"),
    )
    .await;
    let (wid, secret) = worker_id(&mut s).await;
    // Five finish, in an order unlike their metric's; two stay pending.
    for val in [0.5, 0.9, 0.7, 0.6, 0.8] {
        let lease = s
            .workers
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
        s.workers
            .complete_trial(CompleteTrialRequest {
                sweep_id: lease.sweep_id,
                worker_id: wid.clone(),
                worker_secret: secret.clone(),
                trial_id: lease.trial_id,
                attempt: lease.attempt,
                result_json: result_json(val, 0.9),
            })
            .await
            .unwrap();
    }
    let whole = all_pages(&mut s, &sweep_id, 0, 1000).await;
    assert_eq!(whole.len(), 1);
    let expected: Vec<(String, u32, Option<f64>)> = whole[0]
        .trials
        .iter()
        .map(|t| (t.trial_id.clone(), t.rank, t.metric))
        .collect();
    let ranks: Vec<u32> = expected.iter().map(|e| e.1).collect();
    assert_eq!(ranks, [1, 2, 3, 4, 5, 0, 0]);
    assert_eq!(expected[0].2, Some(0.9));

    for size in [1, 2, 3] {
        let pages = all_pages(&mut s, &sweep_id, 0, size).await;
        assert_eq!(pages.len(), 7usize.div_ceil(size as usize), "size {size}");
        let paged: Vec<(String, u32, Option<f64>)> = pages
            .iter()
            .flat_map(|p| &p.trials)
            .map(|t| (t.trial_id.clone(), t.rank, t.metric))
            .collect();
        assert_eq!(paged, expected, "pages of {size}");
        assert!(pages.iter().all(|p| p.total == 7));
    }

    let top = all_pages(&mut s, &sweep_id, 3, 2).await;
    assert_eq!(top.len(), 2);
    assert_eq!((top[0].trials.len(), top[1].trials.len()), (2, 1));
    assert!(top.iter().all(|p| p.total == 3));
    let ids: Vec<&str> = top
        .iter()
        .flat_map(|p| &p.trials)
        .map(|t| t.trial_id.as_str())
        .collect();
    let first3: Vec<&str> = expected[..3].iter().map(|e| e.0.as_str()).collect();
    assert_eq!(ids, first3);
    // A token is for one `top`: another one is refused.
    let e = s
        .sweeps
        .list_trials(ListTrialsRequest {
            sweep_id: sweep_id.clone(),
            top: 0,
            page_size: 2,
            page_token: top[0].next_page_token.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    stop(s).await;
}

/// A registered worker's id and secret.
async fn worker_id(s: &mut Running) -> (String, String) {
    let r = s
        .workers
        .register(RegisterRequest {
            hostname: "pager".into(),
            cores: 1,
            slots: 1,
            version: "t".into(),
        })
        .await
        .unwrap()
        .into_inner();
    (r.worker_id, r.worker_secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_is_cut_where_it_would_outgrow_the_message_cap() {
    let limits = ServiceLimits {
        max_message_bytes: 64 * 1024,
        max_sweep_file_bytes: 16 * 1024,
        ..ServiceLimits::default()
    };
    let mut s = start(1000, limits).await;
    let sweep_id = submit(&mut s, grid_yaml("cut", 20, 10)).await;
    let pages = all_pages(&mut s, &sweep_id, 0, 1000).await;
    assert!(pages.len() > 2, "{} pages", pages.len());
    for p in &pages {
        assert!(p.encoded_len() < 64 * 1024, "{} bytes", p.encoded_len());
        assert!(!p.trials.is_empty());
    }
    let ids: HashSet<&str> = pages
        .iter()
        .flat_map(|p| &p.trials)
        .map(|t| t.trial_id.as_str())
        .collect();
    assert_eq!(ids.len(), 200);
    stop(s).await;
}
