//! One gRPC round trip over a real loopback socket with the generated
//! clients: health, a refused and an accepted submit, register, lease,
//! heartbeat, complete (and its repeat), fencing errors, ranking, a watch
//! stream that ends when the sweep finishes, and a clean shutdown. Then the
//! strict state machine as a client sees it: a silent worker's trial failed
//! by expiry stays failed (late heartbeat and hand-back refused) but takes
//! its late result, and a retried lease request (same request id, also
//! after a restart) gets the same lease back.

mod common;

use common::*;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use sweep_coordinator::server::{serve, ServerConfig, ServerError};
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use sweep_proto::v1::*;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServerError>>,
    _dir: Option<tempfile::TempDir>,
}

async fn start(lease: Duration) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut running = start_on(dir.path().join("sweep.db"), lease).await;
    running._dir = Some(dir);
    running
}

/// A coordinator on `db` (which outlives it).
async fn start_on(db: PathBuf, lease: Duration) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = ServerConfig {
        db_path: db,
        lease,
        max_grid: 100,
        policy: Default::default(),
        limits: Default::default(),
    };
    let task = tokio::spawn(serve(config, listener, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop,
        task,
        _dir: None,
    }
}

/// Stops `server` and waits (up to 10 s) for it to end cleanly.
async fn stop(server: Running) {
    server.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("shutdown within 10 s")
        .unwrap()
        .unwrap();
}

/// Submits `yaml` and returns the new sweep's id.
async fn submit(sweeps: &mut SweepServiceClient<Channel>, yaml: String) -> String {
    sweeps
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: yaml,
            source_name: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sweep_id
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_runs_end_to_end_over_grpc() {
    let server = start(Duration::from_secs(30)).await;
    let ch = channel(server.addr).await;
    let mut sweeps = SweepServiceClient::new(ch.clone());
    let mut workers = WorkerServiceClient::new(ch.clone());

    let mut health = HealthClient::new(ch.clone());
    for service in ["sweep.v1.SweepService", "sweep.v1.WorkerService"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{service}");
    }

    // Refused: INVALID_ARGUMENT naming the file and line, nothing stored.
    let refused = sweeps
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: "name: x\nmethod: grid\nbase:\n  phase2: {lr_bakbone: 1}\n".into(),
            source_name: "bad.yaml".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().starts_with("bad.yaml: ") && refused.message().contains("line 4"),
        "{}",
        refused.message()
    );
    let too_big = sweeps
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: seed_sweep_yaml("big", 101, ""),
            source_name: "big.yaml".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        too_big.message().contains("max_grid = 100"),
        "{}",
        too_big.message()
    );
    let listed = sweeps
        .list_sweeps(ListSweepsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(listed.sweeps.is_empty(), "a refused submit stores nothing");

    let submitted = sweeps
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: seed_sweep_yaml("rt", 2, "metric: {name: val_acc, goal: maximize}\n"),
            source_name: "rt.yaml".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(submitted.trial_count, 2);
    let sweep_id = submitted.sweep_id;

    let mut watch = sweeps
        .watch_sweep(WatchSweepRequest {
            sweep_id: sweep_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(
        (first.state, first.pending, first.total),
        (SweepState::Running as i32, 2, 2)
    );

    let reg = workers
        .register(RegisterRequest {
            hostname: "test-host".into(),
            cores: 2,
            slots: 1,
            version: "test".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reg.worker_id.starts_with("test-host-"), "{}", reg.worker_id);
    assert_eq!((reg.lease_ms, reg.heartbeat_interval_ms), (30_000, 10_000));
    assert_eq!(reg.worker_secret.len(), 64, "a 256-bit secret");
    let (wid, secret) = (reg.worker_id, reg.worker_secret);

    let unknown = workers
        .lease_trial(LeaseTrialRequest {
            worker_id: "w-unknown".into(),
            request_id: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    let mut vals = [0.6, 0.8].into_iter();
    let mut trial_ids = Vec::new();
    loop {
        let answer = workers
            .lease_trial(LeaseTrialRequest {
                worker_id: wid.clone(),
                worker_secret: secret.clone(),
                request_id: String::new(),
                max_trials: 1,
            })
            .await
            .unwrap()
            .into_inner();
        let Some(lease) = answer.lease else {
            assert!(answer.retry_after_ms > 0);
            break;
        };
        assert_eq!(
            (lease.sweep_id.as_str(), lease.attempt, lease.lease_ms),
            (sweep_id.as_str(), 1, 30_000)
        );
        let config: sweep_proto::trial::TrialConfig =
            serde_json::from_str(&lease.config_json).unwrap();
        assert_eq!(config.content_id(), lease.trial_id);
        let hb = workers
            .heartbeat(HeartbeatRequest {
                sweep_id: Default::default(),
                worker_id: wid.clone(),
                worker_secret: secret.clone(),
                trial_id: lease.trial_id.clone(),
                attempt: 1,
                epoch_json: vec![serde_json::to_string(&epoch(1, 0.5)).unwrap()],
                epochs_done: 1,
                total_epochs: 1,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!hb.stop);
        let report = CompleteTrialRequest {
            sweep_id: Default::default(),
            worker_id: wid.clone(),
            worker_secret: secret.clone(),
            trial_id: lease.trial_id.clone(),
            attempt: 1,
            result_json: result_json(vals.next().unwrap(), 0.95),
        };
        let r = workers
            .complete_trial(report.clone())
            .await
            .unwrap()
            .into_inner();
        assert!(r.stored);
        let again = workers.complete_trial(report).await.unwrap().into_inner();
        assert!(!again.stored, "a repeat is acknowledged, not stored");
        let stale = workers
            .fail_trial(FailTrialRequest {
                sweep_id: Default::default(),
                worker_id: wid.clone(),
                worker_secret: secret.clone(),
                trial_id: lease.trial_id.clone(),
                attempt: 2,
                error: "x".into(),
                handed_back: false,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(stale.code(), Code::FailedPrecondition);
        assert!(
            stale.message().contains("stale attempt 2, current is 1"),
            "{}",
            stale.message()
        );
        trial_ids.push(lease.trial_id);
    }
    assert_eq!(trial_ids.len(), 2);

    // The watch stream saw the changes and ended with the sweep finished.
    let mut last = first;
    let mut updates = 0;
    while let Some(s) = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("the watch stream ends once the sweep is finished")
        .unwrap()
    {
        last = s;
        updates += 1;
    }
    assert!(updates >= 2, "{updates} updates");
    assert_eq!((last.state, last.done), (SweepState::Finished as i32, 2));
    assert_eq!(last.best_trial_id, trial_ids[1]);
    assert_eq!(last.best_metric, Some(0.8));

    let ranking = sweeps
        .list_trials(ListTrialsRequest {
            sweep_id: sweep_id.clone(),
            top: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (ranking.metric_name.as_str(), ranking.metric_goal.as_str()),
        ("val_acc", "maximize")
    );
    assert_eq!(ranking.trials.len(), 1);
    let best = &ranking.trials[0];
    assert_eq!(
        (best.rank, best.trial_id.as_str(), best.state),
        (1, trial_ids[1].as_str(), TrialState::Done as i32)
    );
    assert_eq!(best.metric, Some(0.8));
    assert_eq!(best.test_acc, Some(0.95));
    assert!(best.params.contains_key("seed"));
    assert!(!best.result_json.is_empty() && !best.config_json.is_empty());

    let missing = sweeps
        .get_sweep(GetSweepRequest {
            sweep_id: "sw-00000000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    stop(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_requeued_by_the_background_task_and_shutdown_ends_watches() {
    let server = start(Duration::from_millis(200)).await;
    let ch = channel(server.addr).await;
    let mut sweeps = SweepServiceClient::new(ch.clone());
    let mut workers = WorkerServiceClient::new(ch.clone());
    let sweep_id = submit(
        &mut sweeps,
        seed_sweep_yaml("expiry", 1, "max_attempts: 5\n"),
    )
    .await;
    let (wid, secret) = register(&mut workers).await;
    let lease = lease(&mut workers, (&wid, &secret), "").await.unwrap();
    let mut watch = sweeps
        .watch_sweep(WatchSweepRequest {
            sweep_id: sweep_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().running, 1);
    // No heartbeat: the background expiry (every lease/4) requeues it; the
    // watch stream reports the change without anyone leasing.
    let requeued = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("expiry within 5 s")
        .unwrap()
        .unwrap();
    assert_eq!((requeued.pending, requeued.running), (1, 0));
    let trials = sweeps
        .list_trials(ListTrialsRequest {
            sweep_id: sweep_id.clone(),
            top: 0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .trials;
    assert_eq!(
        (trials[0].trial_id.as_str(), trials[0].attempts),
        (lease.trial_id.as_str(), 1)
    );
    assert!(
        trials[0].last_error.contains("expired"),
        "{}",
        trials[0].last_error
    );

    // The sweep is still running and watched; shutdown must not wait for it.
    server.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("shutdown is not held up by an open watch stream")
        .unwrap()
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("stream ends");
    assert!(
        !matches!(end, Ok(Some(_))),
        "no more summaries after shutdown: {end:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_can_be_served_again_right_after_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sweep.db");
    let mut sweep_id = String::new();
    for round in 0..2 {
        let server = start_on(db.clone(), Duration::from_secs(30)).await;
        let mut sweeps = SweepServiceClient::new(channel(server.addr).await);
        if round == 0 {
            sweep_id = submit(&mut sweeps, seed_sweep_yaml("again", 2, "")).await;
        }
        let mut watch = sweeps
            .watch_sweep(WatchSweepRequest {
                sweep_id: sweep_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let s = watch.message().await.unwrap().unwrap();
        assert_eq!(s.pending, 2, "round {round}");
        stop(server).await;
    }
}

/// A registered worker's (id, secret).
async fn register(workers: &mut WorkerServiceClient<Channel>) -> (String, String) {
    let r = workers
        .register(RegisterRequest::default())
        .await
        .unwrap()
        .into_inner();
    (r.worker_id, r.worker_secret)
}

async fn lease(
    workers: &mut WorkerServiceClient<Channel>,
    (worker_id, secret): (&str, &str),
    request_id: &str,
) -> Option<Lease> {
    workers
        .lease_trial(LeaseTrialRequest {
            worker_id: worker_id.into(),
            worker_secret: secret.into(),
            request_id: request_id.into(),
            max_trials: 1,
        })
        .await
        .unwrap()
        .into_inner()
        .lease
}

/// The reproduction: 500 ms leases, one trial, `max_attempts: 1`,
/// a client that leases and goes silent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trial_failed_by_expiry_never_reopens_but_takes_its_late_result() {
    let server = start(Duration::from_millis(500)).await;
    let ch = channel(server.addr).await;
    let mut sweeps = SweepServiceClient::new(ch.clone());
    let mut workers = WorkerServiceClient::new(ch.clone());
    let sweep_id = submit(
        &mut sweeps,
        seed_sweep_yaml("silent", 1, "max_attempts: 1\n"),
    )
    .await;
    let (wid, secret) = register(&mut workers).await;
    let l = lease(&mut workers, (&wid, &secret), "").await.unwrap();
    let mut watch = sweeps
        .watch_sweep(WatchSweepRequest {
            sweep_id: sweep_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut last = watch.message().await.unwrap().unwrap();
    while let Some(s) = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("expiry within 10 s")
        .unwrap()
    {
        last = s;
    }
    assert_eq!((last.state, last.failed), (SweepState::Finished as i32, 1));

    let beat = workers
        .heartbeat(HeartbeatRequest {
            sweep_id: sweep_id.clone(),
            worker_id: wid.clone(),
            worker_secret: secret.clone(),
            trial_id: l.trial_id.clone(),
            attempt: 1,
            epoch_json: vec![],
            epochs_done: 1,
            total_epochs: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(beat.code(), Code::FailedPrecondition);
    assert!(
        beat.message().contains("is failed and does not reopen"),
        "{}",
        beat.message()
    );
    let hand_back = workers
        .fail_trial(FailTrialRequest {
            sweep_id: sweep_id.clone(),
            worker_id: wid.clone(),
            worker_secret: secret.clone(),
            trial_id: l.trial_id.clone(),
            attempt: 1,
            error: "shutting down".into(),
            handed_back: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(hand_back.code(), Code::FailedPrecondition);
    assert!(
        lease(&mut workers, (&wid, &secret), "").await.is_none(),
        "no attempt 2 of 1"
    );
    let get = |mut sweeps: SweepServiceClient<Channel>, id: String| async move {
        sweeps
            .get_sweep(GetSweepRequest { sweep_id: id })
            .await
            .unwrap()
            .into_inner()
    };
    let summary = get(sweeps.clone(), sweep_id.clone()).await;
    assert_eq!(
        (summary.state, summary.failed, summary.running),
        (SweepState::Finished as i32, 1, 0)
    );

    // The late result is stored; the sweep stays finished, now with it done.
    let r = workers
        .complete_trial(CompleteTrialRequest {
            sweep_id: sweep_id.clone(),
            worker_id: wid.clone(),
            worker_secret: secret.clone(),
            trial_id: l.trial_id.clone(),
            attempt: 1,
            result_json: result_json(0.9, 0.9),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.stored);
    let mut watch = sweeps
        .watch_sweep(WatchSweepRequest {
            sweep_id: sweep_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let seen = watch.message().await.unwrap().unwrap();
    assert_eq!(
        (seen.state, seen.done, seen.failed, seen.best_metric),
        (SweepState::Finished as i32, 1, 0, Some(0.9))
    );
    let trials = sweeps
        .list_trials(ListTrialsRequest {
            sweep_id: sweep_id.clone(),
            top: 0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .trials;
    assert_eq!(
        (trials[0].state, trials[0].attempts),
        (TrialState::Done as i32, 1)
    );
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_lease_request_gets_the_same_lease_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sweep.db");
    let server = start_on(db.clone(), Duration::from_secs(30)).await;
    let ch = channel(server.addr).await;
    let mut sweeps = SweepServiceClient::new(ch.clone());
    let mut workers = WorkerServiceClient::new(ch);
    let sweep_id = submit(&mut sweeps, seed_sweep_yaml("retry", 2, "")).await;
    let (wid, secret) = register(&mut workers).await;
    let first = lease(&mut workers, (&wid, &secret), "req-1").await.unwrap();
    let again = lease(&mut workers, (&wid, &secret), "req-1").await.unwrap();
    assert_eq!(again, first, "the same lease, no attempt burned");
    stop(server).await;

    let server = start_on(db, Duration::from_secs(30)).await;
    let ch = channel(server.addr).await;
    let mut sweeps = SweepServiceClient::new(ch.clone());
    let mut workers = WorkerServiceClient::new(ch);
    let after_restart = lease(&mut workers, (&wid, &secret), "req-1").await.unwrap();
    assert_eq!(after_restart, first);
    let next = lease(&mut workers, (&wid, &secret), "req-2").await.unwrap();
    assert_ne!(next.trial_id, first.trial_id);
    let attempts: Vec<u32> = sweeps
        .list_trials(ListTrialsRequest {
            sweep_id,
            top: 0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .trials
        .iter()
        .map(|t| t.attempts)
        .collect();
    assert_eq!(attempts, vec![1, 1]);
    stop(server).await;
}
