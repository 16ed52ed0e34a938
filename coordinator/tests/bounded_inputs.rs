//! Bounded inputs over real gRPC on loopback: ids over their cap are refused
//! naming the field, a long hostname is cut, a long error is kept cut with a
//! marker, oversized results and epochs and too many epochs are refused,
//! epoch numbers beyond the trial's own config are refused with nothing
//! stored, and the configured message and sweep file caps hold.

mod common;

use common::*;
use std::net::SocketAddr;
use std::time::Duration;
use sweep_coordinator::server::{serve, ServerConfig, ServerError};
use sweep_coordinator::service::{
    ServiceLimits, MAX_EPOCHS_PER_HEARTBEAT, MAX_EPOCH_JSON_BYTES, MAX_ERROR_BYTES, MAX_ID_BYTES,
    MAX_RESULT_JSON_BYTES, MAX_SOURCE_NAME_BYTES,
};
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

async fn start(limits: ServiceLimits) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = ServerConfig {
        policy: Default::default(),
        db_path: dir.path().join("sweep.db"),
        lease: Duration::from_secs(30),
        max_grid: 100,
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
        sweeps: SweepServiceClient::new(ch.clone()).max_decoding_message_size(64 << 20),
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

/// Asserts an INVALID_ARGUMENT whose message starts with `` `field` ``.
fn refused_naming<T: std::fmt::Debug>(r: Result<T, tonic::Status>, field: &str) {
    let e = r.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{field}: {e:?}");
    assert!(
        e.message().starts_with(&format!("`{field}`")),
        "{field}: {}",
        e.message()
    );
}

/// A one-trial sweep (10 epochs by default) leased to a fresh worker.
async fn leased(s: &mut Running, name: &str) -> (String, String, Lease) {
    s.sweeps
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: seed_sweep_yaml(name, 1, ""),
            source_name: format!("{name}.yaml"),
            ..Default::default()
        })
        .await
        .unwrap();
    let registered = s
        .workers
        .register(RegisterRequest {
            hostname: "h".into(),
            cores: 1,
            slots: 1,
            version: "t".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let (wid, secret) = (registered.worker_id, registered.worker_secret);
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
    (wid, secret, lease)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_string_a_caller_sends_is_capped() {
    let mut s = start(ServiceLimits::default()).await;
    let long_id = "x".repeat(MAX_ID_BYTES + 1);

    // Ids on the client side.
    refused_naming(
        s.sweeps
            .get_sweep(GetSweepRequest {
                sweep_id: long_id.clone(),
            })
            .await,
        "sweep_id",
    );
    refused_naming(
        s.sweeps
            .cancel_sweep(CancelSweepRequest {
                sweep_id: long_id.clone(),
            })
            .await,
        "sweep_id",
    );
    refused_naming(
        s.sweeps
            .list_trials(ListTrialsRequest {
                sweep_id: long_id.clone(),
                ..Default::default()
            })
            .await,
        "sweep_id",
    );
    refused_naming(
        s.sweeps
            .watch_sweep(WatchSweepRequest {
                sweep_id: long_id.clone(),
            })
            .await,
        "sweep_id",
    );
    refused_naming(
        s.sweeps
            .submit_sweep(SubmitSweepRequest {
                sweep_yaml: seed_sweep_yaml("n", 1, ""),
                source_name: "s".repeat(MAX_SOURCE_NAME_BYTES + 1),
                ..Default::default()
            })
            .await,
        "source_name",
    );
    let listed = s.sweeps.list_sweeps(ListSweepsRequest {}).await.unwrap();
    assert!(listed.into_inner().sweeps.is_empty(), "nothing stored");

    // A long hostname is cut, and the worker registered.
    let reg = s
        .workers
        .register(RegisterRequest {
            hostname: "h".repeat(100_000),
            cores: 1,
            slots: 1,
            version: "v".repeat(100_000),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reg.worker_id.len() < 40, "{}", reg.worker_id);

    let (wid, secret, lease) = leased(&mut s, "caps").await;
    refused_naming(
        s.workers
            .lease_trial(LeaseTrialRequest {
                worker_id: long_id.clone(),
                ..Default::default()
            })
            .await,
        "worker_id",
    );
    refused_naming(
        s.workers
            .lease_trial(LeaseTrialRequest {
                worker_id: wid.clone(),
                worker_secret: secret.clone(),
                request_id: long_id.clone(),
                max_trials: 1,
            })
            .await,
        "request_id",
    );
    let beat = HeartbeatRequest {
        sweep_id: lease.sweep_id.clone(),
        worker_id: wid.clone(),
        worker_secret: secret.clone(),
        trial_id: lease.trial_id.clone(),
        attempt: lease.attempt,
        epochs_done: 1,
        total_epochs: 10,
        ..Default::default()
    };
    refused_naming(
        s.workers
            .heartbeat(HeartbeatRequest {
                trial_id: long_id.clone(),
                ..beat.clone()
            })
            .await,
        "trial_id",
    );
    refused_naming(
        s.workers
            .heartbeat(HeartbeatRequest {
                epoch_json: vec![
                    serde_json::to_string(&epoch(1, 0.5)).unwrap();
                    MAX_EPOCHS_PER_HEARTBEAT + 1
                ],
                ..beat.clone()
            })
            .await,
        "epoch_json",
    );
    refused_naming(
        s.workers
            .heartbeat(HeartbeatRequest {
                epoch_json: vec![format!(
                    "{{\"pad\": \"{}\"}}",
                    "p".repeat(MAX_EPOCH_JSON_BYTES)
                )],
                ..beat.clone()
            })
            .await,
        "epoch_json[0]",
    );
    let complete = CompleteTrialRequest {
        sweep_id: lease.sweep_id.clone(),
        worker_id: wid.clone(),
        worker_secret: secret.clone(),
        trial_id: lease.trial_id.clone(),
        attempt: lease.attempt,
        result_json: " ".repeat(MAX_RESULT_JSON_BYTES + 1),
    };
    refused_naming(s.workers.complete_trial(complete).await, "result_json");
    refused_naming(
        s.workers
            .fail_trial(FailTrialRequest {
                sweep_id: long_id.clone(),
                ..Default::default()
            })
            .await,
        "sweep_id",
    );

    // Nothing of that was stored: the trial runs on, never reported.
    let summary = s
        .sweeps
        .get_sweep(GetSweepRequest {
            sweep_id: lease.sweep_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summary.running, 1);
    assert_eq!(summary.running_trials[0].epochs_done, 0);

    // A long error is stored cut, with a marker saying how much.
    let error = format!("{}ü{}", "e".repeat(MAX_ERROR_BYTES - 1), "z".repeat(50_000));
    let r = s
        .workers
        .fail_trial(FailTrialRequest {
            sweep_id: lease.sweep_id.clone(),
            worker_id: wid.clone(),
            worker_secret: secret.clone(),
            trial_id: lease.trial_id.clone(),
            attempt: lease.attempt,
            error: error.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.stored);
    let trials = s
        .sweeps
        .list_trials(ListTrialsRequest {
            sweep_id: lease.sweep_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .trials;
    let kept = &trials[0].last_error;
    // 'ü' (2 bytes) straddles the cap: it is cut before it, not split.
    let expected = format!(
        "{}… [truncated {} bytes]",
        "e".repeat(MAX_ERROR_BYTES - 1),
        error.len() - (MAX_ERROR_BYTES - 1)
    );
    assert_eq!(kept, &expected);

    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epochs_beyond_the_trials_own_config_are_refused_and_nothing_is_stored() {
    let mut s = start(ServiceLimits::default()).await;
    let (wid, secret, lease) = leased(&mut s, "epochs").await;
    let config: sweep_proto::trial::TrialConfig = serde_json::from_str(&lease.config_json).unwrap();
    let total = config.total_epochs();
    assert_eq!(total, 10, "the seed's recipe: 3 + 7 epochs");
    let beat = |epochs: Vec<u32>, done: u32, claimed_total: u32| HeartbeatRequest {
        sweep_id: lease.sweep_id.clone(),
        worker_id: wid.clone(),
        worker_secret: secret.clone(),
        trial_id: lease.trial_id.clone(),
        attempt: lease.attempt,
        epoch_json: epochs
            .into_iter()
            .map(|n| serde_json::to_string(&epoch(n, 0.5 + n as f64 / 100.0)).unwrap())
            .collect(),
        epochs_done: done,
        total_epochs: claimed_total,
    };
    let summary = |mut sweeps: SweepServiceClient<Channel>| {
        let id = lease.sweep_id.clone();
        async move {
            let s = sweeps
                .get_sweep(GetSweepRequest { sweep_id: id })
                .await
                .unwrap()
                .into_inner();
            let r = &s.running_trials[0];
            (r.epochs_done, r.total_epochs, r.last_val_acc)
        }
    };

    s.workers.heartbeat(beat(vec![1], 1, total)).await.unwrap();
    let before = summary(s.sweeps.clone()).await;
    assert_eq!(before, (1, 10, Some(0.51)));

    // epochs_done past the config's total, even with a total that claims more.
    for req in [beat(vec![], 11, 0), beat(vec![], 1000, 1000)] {
        let e = s.workers.heartbeat(req).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(
            e.message().contains("epochs_done") && e.message().contains("10 epochs"),
            "{}",
            e.message()
        );
    }
    // An epoch numbered 0 or past the total, beside a good one.
    for bad in [0, 11, u32::MAX] {
        let e = s
            .workers
            .heartbeat(beat(vec![2, bad], 2, total))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(
            e.message().contains("epoch_json[1].epoch") && e.message().contains(&bad.to_string()),
            "{}",
            e.message()
        );
    }
    assert_eq!(summary(s.sweeps.clone()).await, before, "nothing stored");

    // The last epoch is fine; a total the worker claims is not believed.
    s.workers.heartbeat(beat(vec![10], 10, 99)).await.unwrap();
    assert_eq!(summary(s.sweeps.clone()).await, (10, 10, Some(0.6)));

    // A result's epochs are held to the same total: refused, nothing stored.
    for (epoch, best, field) in [
        (11, 1, "result.epochs[0].epoch"),
        (1, 11, "result.best_epoch"),
    ] {
        let mut bad = result(0.9, 0.9);
        bad.epochs[0].epoch = epoch;
        bad.best_epoch = best;
        let e = s
            .workers
            .complete_trial(CompleteTrialRequest {
                sweep_id: lease.sweep_id.clone(),
                worker_id: wid.clone(),
                worker_secret: secret.clone(),
                trial_id: lease.trial_id.clone(),
                attempt: lease.attempt,
                result_json: serde_json::to_string(&bad).unwrap(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains(field), "{}", e.message());
    }
    assert_eq!(summary(s.sweeps.clone()).await, (10, 10, Some(0.6)));
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_message_and_sweep_file_caps_hold() {
    let limits = ServiceLimits {
        max_message_bytes: 64 * 1024,
        max_sweep_file_bytes: 2000,
        ..ServiceLimits::default()
    };
    let mut s = start(limits).await;

    // Over the message cap: refused before the service sees it.
    let e = s
        .sweeps
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: "#".repeat(70 * 1024),
            source_name: "huge.yaml".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{e:?}"
    );
    assert!(e.message().contains("65536"), "{}", e.message());
    let e = s
        .workers
        .fail_trial(FailTrialRequest {
            error: "e".repeat(70 * 1024),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{e:?}"
    );

    // Over the sweep file cap, under the message cap: refused before parsing
    // (the text is no YAML at all, and the refusal speaks of its size).
    let not_yaml = format!("name: [unclosed\n{}", "\t: :\n".repeat(500));
    assert!(not_yaml.len() > 2000);
    let e = s
        .sweeps
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: not_yaml,
            source_name: "big.yaml".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with("big.yaml: ") && e.message().contains("2000"),
        "{}",
        e.message()
    );
    assert!(!e.message().contains("line"), "{}", e.message());
    // A file under the cap is accepted.
    let ok = seed_sweep_yaml("small", 2, "");
    assert!(ok.len() < 2000);
    s.sweeps
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: ok,
            source_name: "small.yaml".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    stop(s).await;
}
