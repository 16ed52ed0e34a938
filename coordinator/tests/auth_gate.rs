//! The gate over a real loopback socket: every RPC of both services is
//! called with no token, an unknown token, a malformed header and the other
//! role's token, and each is refused (UNAUTHENTICATED, or PERMISSION_DENIED
//! for the wrong role) with nothing changed in the store: the sweeps, their
//! trials (state, attempt, worker, results) read back the same afterwards, and
//! a trial leased before is still running its first attempt. The health
//! service stays open; SIGHUP-style reloads (`Gate::reload`) revoke a token.

mod common;

use common::*;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use sweep_coordinator::auth::Gate;
use sweep_coordinator::security::Security;
use sweep_coordinator::server::{serve_secured, ServerConfig, ServerError};
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use sweep_proto::v1::*;
use sweep_runtime::credentials::Bearer;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

const CLIENT_TOKEN: &str = "client-token-0123456789abcdef";
const WORKER_TOKEN: &str = "worker-token-0123456789abcdef";

type Sweeps = SweepServiceClient<InterceptedService<Channel, Bearer>>;
type Workers = WorkerServiceClient<InterceptedService<Channel, Bearer>>;

struct Running {
    addr: SocketAddr,
    gate: Gate,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServerError>>,
}

async fn start(dir: &Path) -> Running {
    let (c, w) = (dir.join("client.tokens"), dir.join("worker.tokens"));
    std::fs::write(&c, format!("# clients\n{CLIENT_TOKEN}\n")).unwrap();
    std::fs::write(&w, format!("\n{WORKER_TOKEN}\n")).unwrap();
    let gate = Gate::from_files(&c, &w).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = ServerConfig {
        db_path: dir.join("sweep.db"),
        lease: Duration::from_secs(30),
        max_grid: 100,
        policy: Default::default(),
        limits: Default::default(),
    };
    let security = Security {
        gate: gate.clone(),
        tls: None,
    };
    let task = tokio::spawn(serve_secured(config, security, listener, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        gate,
        stop,
        task,
    }
}

async fn clients(addr: SocketAddr, bearer: Bearer) -> (Sweeps, Workers) {
    let ch = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (
        SweepServiceClient::with_interceptor(ch.clone(), bearer.clone()),
        WorkerServiceClient::with_interceptor(ch, bearer),
    )
}

/// The ids a forged call would need to do harm.
struct Target {
    sweep_id: String,
    worker_id: String,
    worker_secret: String,
    lease: Lease,
}

/// Everything the store holds that a client can read back.
async fn snapshot(sweeps: &mut Sweeps) -> String {
    let list = sweeps
        .list_sweeps(ListSweepsRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut text = format!("{list:?}");
    for s in &list.sweeps {
        let trials = sweeps
            .list_trials(ListTrialsRequest {
                sweep_id: s.sweep_id.clone(),
                top: 0,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        text.push_str(&format!("{trials:?}"));
    }
    text
}

fn ok<T>(r: Result<tonic::Response<T>, Status>) -> Result<(), Status> {
    r.map(|_| ())
}

/// Every `SweepService` method, each with real ids.
async fn call_sweep_service(s: &mut Sweeps, t: &Target) -> Vec<(&'static str, Result<(), Status>)> {
    let id = || t.sweep_id.clone();
    vec![
        (
            "SubmitSweep",
            ok(s.submit_sweep(SubmitSweepRequest {
                sweep_yaml: seed_sweep_yaml("forged", 2, ""),
                source_name: "forged.yaml".into(),
                ..Default::default()
            })
            .await),
        ),
        (
            "GetSweep",
            ok(s.get_sweep(GetSweepRequest { sweep_id: id() }).await),
        ),
        ("ListSweeps", ok(s.list_sweeps(ListSweepsRequest {}).await)),
        (
            "CancelSweep",
            ok(s.cancel_sweep(CancelSweepRequest { sweep_id: id() }).await),
        ),
        (
            "ListTrials",
            ok(s.list_trials(ListTrialsRequest {
                sweep_id: id(),
                top: 0,
                ..Default::default()
            })
            .await),
        ),
        (
            "WatchSweep",
            ok(s.watch_sweep(WatchSweepRequest { sweep_id: id() }).await),
        ),
        (
            "ListWorkers",
            ok(s.list_workers(ListWorkersRequest {}).await),
        ),
    ]
}

/// Every `WorkerService` method, each with real ids (the leased trial's).
async fn call_worker_service(
    w: &mut Workers,
    t: &Target,
) -> Vec<(&'static str, Result<(), Status>)> {
    let (worker_id, lease) = (t.worker_id.clone(), &t.lease);
    // Even the worker's own secret does not get past the gate.
    let worker_secret = || t.worker_secret.clone();
    vec![
        (
            "Register",
            ok(w.register(RegisterRequest {
                hostname: "intruder".into(),
                cores: 1,
                slots: 1,
                version: "x".into(),
            })
            .await),
        ),
        (
            "LeaseTrial",
            ok(w.lease_trial(LeaseTrialRequest {
                worker_id: worker_id.clone(),
                request_id: "forged-lease".into(),
                worker_secret: worker_secret(),
                max_trials: 1,
            })
            .await),
        ),
        (
            "Heartbeat",
            ok(w.heartbeat(HeartbeatRequest {
                worker_id: worker_id.clone(),
                trial_id: lease.trial_id.clone(),
                attempt: lease.attempt,
                epoch_json: vec![serde_json::to_string(&epoch(1, 0.5)).unwrap()],
                epochs_done: 1,
                total_epochs: 2,
                sweep_id: lease.sweep_id.clone(),
                worker_secret: worker_secret(),
            })
            .await),
        ),
        (
            "CompleteTrial",
            ok(w.complete_trial(CompleteTrialRequest {
                worker_id: worker_id.clone(),
                trial_id: lease.trial_id.clone(),
                attempt: lease.attempt,
                result_json: result_json(0.99, 0.99),
                sweep_id: lease.sweep_id.clone(),
                worker_secret: worker_secret(),
            })
            .await),
        ),
        (
            "FailTrial",
            ok(w.fail_trial(FailTrialRequest {
                worker_id: worker_id.clone(),
                trial_id: lease.trial_id.clone(),
                attempt: lease.attempt,
                error: "forged".into(),
                handed_back: true,
                sweep_id: lease.sweep_id.clone(),
                worker_secret: worker_secret(),
                ..Default::default()
            })
            .await),
        ),
        (
            "Drain",
            ok(w.drain(DrainRequest {
                worker_id,
                worker_secret: worker_secret(),
            })
            .await),
        ),
    ]
}

fn assert_all(calls: &[(&'static str, Result<(), Status>)], code: Code, who: &str) {
    for (rpc, result) in calls {
        match result {
            Err(s) => assert_eq!(s.code(), code, "{rpc} with {who}: {s:?}"),
            Ok(()) => panic!("{rpc} with {who} was let through"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_refuses_callers_without_the_right_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let (mut sweeps, _) = clients(server.addr, Bearer::new(CLIENT_TOKEN)).await;
    let (_, mut workers) = clients(server.addr, Bearer::new(WORKER_TOKEN)).await;

    // The rightful callers set the scene: a sweep, a worker, a leased trial.
    let sweep_id = sweeps
        .submit_sweep(SubmitSweepRequest {
            sweep_yaml: seed_sweep_yaml("real", 3, ""),
            source_name: "real.yaml".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sweep_id;
    let registered = workers
        .register(RegisterRequest {
            hostname: "w".into(),
            cores: 1,
            slots: 1,
            version: "t".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let (worker_id, worker_secret) = (registered.worker_id, registered.worker_secret);
    let lease = workers
        .lease_trial(LeaseTrialRequest {
            worker_id: worker_id.clone(),
            worker_secret: worker_secret.clone(),
            request_id: "real-lease".into(),
            max_trials: 1,
        })
        .await
        .unwrap()
        .into_inner()
        .lease
        .expect("a trial to lease");
    let target = Target {
        sweep_id,
        worker_id,
        worker_secret,
        lease,
    };
    let before = snapshot(&mut sweeps).await;

    let mut called = 0;
    for (who, bearer) in [
        ("no token", Bearer::none()),
        ("an unknown token", Bearer::new("not-a-token")),
        ("a token one byte short", Bearer::new(&CLIENT_TOKEN[1..])),
    ] {
        let (mut s, mut w) = clients(server.addr, bearer).await;
        let calls = call_sweep_service(&mut s, &target).await;
        assert_all(&calls, Code::Unauthenticated, who);
        let more = call_worker_service(&mut w, &target).await;
        assert_all(&more, Code::Unauthenticated, who);
        called += calls.len() + more.len();
    }
    assert_eq!(called, 3 * 13, "every RPC of both services");

    // A header without the Bearer scheme.
    let ch = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut raw = SweepServiceClient::with_interceptor(ch.clone(), |mut r: tonic::Request<()>| {
        r.metadata_mut()
            .insert("authorization", CLIENT_TOKEN.parse().unwrap());
        Ok(r)
    });
    let refused = raw.list_sweeps(ListSweepsRequest {}).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    // The wrong role: PERMISSION_DENIED on every method of the other service.
    let (mut as_worker, _) = clients(server.addr, Bearer::new(WORKER_TOKEN)).await;
    assert_all(
        &call_sweep_service(&mut as_worker, &target).await,
        Code::PermissionDenied,
        "a worker token",
    );
    let (_, mut as_client) = clients(server.addr, Bearer::new(CLIENT_TOKEN)).await;
    assert_all(
        &call_worker_service(&mut as_client, &target).await,
        Code::PermissionDenied,
        "a client token",
    );

    // Nothing changed: same sweeps, same trials, the lease still the only attempt.
    assert_eq!(snapshot(&mut sweeps).await, before);
    let hb = workers
        .heartbeat(HeartbeatRequest {
            worker_id: target.worker_id.clone(),
            worker_secret: target.worker_secret.clone(),
            trial_id: target.lease.trial_id.clone(),
            attempt: target.lease.attempt,
            epoch_json: Vec::new(),
            epochs_done: 0,
            total_epochs: 2,
            sweep_id: target.lease.sweep_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!hb.stop, "the real lease is intact");

    // Probes need no token.
    let mut health = HealthClient::new(ch);
    health
        .check(HealthCheckRequest {
            service: "sweep.v1.WorkerService".into(),
        })
        .await
        .unwrap();

    // Revocation: the file loses the token, a reload, and it is refused.
    std::fs::write(dir.path().join("client.tokens"), "client-token-new\n").unwrap();
    server.gate.reload().unwrap();
    let e = sweeps.list_sweeps(ListSweepsRequest {}).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let (mut rotated, _) = clients(server.addr, Bearer::new("client-token-new")).await;
    rotated.list_sweeps(ListSweepsRequest {}).await.unwrap();

    server.stop.send(()).unwrap();
    server.task.await.unwrap().unwrap();
}
