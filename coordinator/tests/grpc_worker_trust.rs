//! Over real gRPC on loopback: a worker's calls must carry the secret its
//! `Register` returned, and a second registered worker cannot heartbeat,
//! complete or fail (nor hand back) the first one's lease. Each refusal is
//! PERMISSION_DENIED and leaves the store as it was.

mod common;

use common::*;
use std::time::Duration;
use sweep_coordinator::server::{serve, ServerConfig};
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use sweep_proto::v1::*;
use tonic::transport::Channel;
use tonic::{Code, Status};

type Workers = WorkerServiceClient<Channel>;

/// The whole listing of `sweep_id`, as text to compare.
async fn snapshot(sweeps: &mut SweepServiceClient<Channel>, sweep_id: &str) -> String {
    let trials = sweeps
        .list_trials(ListTrialsRequest {
            sweep_id: sweep_id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    format!("{trials:?}")
}

async fn register(w: &mut Workers, host: &str) -> (String, String) {
    let r = w
        .register(RegisterRequest {
            hostname: host.into(),
            cores: 1,
            slots: 1,
            version: "t".into(),
        })
        .await
        .unwrap()
        .into_inner();
    (r.worker_id, r.worker_secret)
}

/// Heartbeat, complete, fail and hand back `lease` as `(worker_id, secret)`.
async fn report_all(
    w: &mut Workers,
    (worker_id, secret): (&str, &str),
    lease: &Lease,
) -> Vec<(&'static str, Status)> {
    let mut refused = Vec::new();
    let hb = w
        .heartbeat(HeartbeatRequest {
            worker_id: worker_id.into(),
            worker_secret: secret.into(),
            sweep_id: lease.sweep_id.clone(),
            trial_id: lease.trial_id.clone(),
            attempt: lease.attempt,
            epoch_json: vec![serde_json::to_string(&epoch(1, 0.99)).unwrap()],
            epochs_done: 1,
            total_epochs: 2,
        })
        .await;
    refused.push(("Heartbeat", hb.expect_err("heartbeat let through")));
    let done = w
        .complete_trial(CompleteTrialRequest {
            worker_id: worker_id.into(),
            worker_secret: secret.into(),
            sweep_id: lease.sweep_id.clone(),
            trial_id: lease.trial_id.clone(),
            attempt: lease.attempt,
            result_json: result_json(1.0, 1.0),
        })
        .await;
    refused.push(("CompleteTrial", done.expect_err("complete let through")));
    for (rpc, handed_back, cause) in [
        ("FailTrial", false, FailureCause::Trial),
        ("FailTrial (hand-back)", true, FailureCause::Unspecified),
        ("FailTrial (environment)", false, FailureCause::Environment),
    ] {
        let failed = w
            .fail_trial(FailTrialRequest {
                worker_id: worker_id.into(),
                worker_secret: secret.into(),
                sweep_id: lease.sweep_id.clone(),
                trial_id: lease.trial_id.clone(),
                attempt: lease.attempt,
                error: "forged".into(),
                handed_back,
                cause: cause as i32,
            })
            .await;
        refused.push((rpc, failed.expect_err("fail let through")));
    }
    refused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_with_its_secret_may_report() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        ServerConfig {
            limits: Default::default(),
            db_path: dir.path().join("sweep.db"),
            lease: Duration::from_secs(30),
            max_grid: 100,
            policy: Default::default(),
        },
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    let ch = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut sweeps = SweepServiceClient::new(ch.clone());
    let mut w = WorkerServiceClient::new(ch);
    let sweep_id = sweeps
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: seed_sweep_yaml("trust", 2, ""),
            source_name: "trust.yaml".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sweep_id;
    let (a, a_secret) = register(&mut w, "a").await;
    let (b, b_secret) = register(&mut w, "b").await;
    assert_ne!(a_secret, b_secret);

    // A lease without the secret, or with another worker's, is refused.
    for secret in ["", b_secret.as_str(), &a_secret[1..]] {
        let refused = w
            .lease_trial(LeaseTrialRequest {
                worker_id: a.clone(),
                worker_secret: secret.into(),
                request_id: String::new(),
                max_trials: 1,
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    }
    let untouched = snapshot(&mut sweeps, &sweep_id).await;
    assert!(
        untouched.contains("attempts: 0"),
        "nothing leased: {untouched}"
    );

    let lease = w
        .lease_trial(LeaseTrialRequest {
            worker_id: a.clone(),
            worker_secret: a_secret.clone(),
            request_id: String::new(),
            max_trials: 1,
        })
        .await
        .unwrap()
        .into_inner()
        .lease
        .expect("a lease");
    let before = snapshot(&mut sweeps, &sweep_id).await;

    // B, registered and with its own secret, on A's lease.
    for (rpc, status) in report_all(&mut w, (&b, &b_secret), &lease).await {
        assert_eq!(status.code(), Code::PermissionDenied, "{rpc}: {status:?}");
        assert!(
            status.message().contains("is not leased to worker"),
            "{rpc}: {}",
            status.message()
        );
    }
    // A's id with B's secret, or none.
    for secret in [b_secret.as_str(), ""] {
        for (rpc, status) in report_all(&mut w, (&a, secret), &lease).await {
            assert_eq!(status.code(), Code::PermissionDenied, "{rpc}: {status:?}");
            assert!(
                status.message().contains("worker_secret"),
                "{rpc}: {status:?}"
            );
        }
        let drain = w
            .drain(DrainRequest {
                worker_id: a.clone(),
                worker_secret: secret.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(drain.code(), Code::PermissionDenied);
    }
    assert_eq!(
        snapshot(&mut sweeps, &sweep_id).await,
        before,
        "nothing changed"
    );

    // The holder reports as usual, and is not draining.
    let stored = w
        .complete_trial(CompleteTrialRequest {
            worker_id: a.clone(),
            worker_secret: a_secret.clone(),
            sweep_id: lease.sweep_id.clone(),
            trial_id: lease.trial_id.clone(),
            attempt: lease.attempt,
            result_json: result_json(0.5, 0.5),
        })
        .await
        .unwrap()
        .into_inner()
        .stored;
    assert!(stored);
    let next = w
        .lease_trial(LeaseTrialRequest {
            worker_id: a.clone(),
            worker_secret: a_secret.clone(),
            request_id: String::new(),
            max_trials: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(next.lease.is_some(), "a wrong-secret Drain drained nothing");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
