//! gRPC clients of a test coordinator and the queries the tests make
//! through `SweepService` (to inspect) and `WorkerService` (to play a worker
//! by hand).

use crate::wait::wait_until;
use std::time::Duration;
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use sweep_proto::v1::{
    GetSweepRequest, Lease, LeaseTrialRequest, ListSweepsRequest, ListTrialsRequest,
    RegisterRequest, RunningTrial, SweepState, SweepSummary, TrialInfo, TrialState,
};
use tonic::transport::{Channel, Endpoint};

fn channel(url: &str) -> Channel {
    Endpoint::from_shared(url.to_string())
        .expect("a valid URL")
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .connect_lazy()
}

pub fn sweeps(url: &str) -> SweepServiceClient<Channel> {
    SweepServiceClient::new(channel(url))
}

pub fn workers(url: &str) -> WorkerServiceClient<Channel> {
    WorkerServiceClient::new(channel(url))
}

pub async fn summary(url: &str, sweep_id: &str) -> SweepSummary {
    sweeps(url)
        .get_sweep(GetSweepRequest {
            sweep_id: sweep_id.into(),
        })
        .await
        .unwrap_or_else(|s| panic!("GetSweep {sweep_id}: {s:?}"))
        .into_inner()
}

/// Every trial of the sweep, as ListTrials ranks them.
pub async fn trials(url: &str, sweep_id: &str) -> Vec<TrialInfo> {
    sweeps(url)
        .list_trials(ListTrialsRequest {
            sweep_id: sweep_id.into(),
            top: 0,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("ListTrials {sweep_id}: {s:?}"))
        .into_inner()
        .trials
}

pub async fn list_sweeps(url: &str) -> Vec<SweepSummary> {
    sweeps(url)
        .list_sweeps(ListSweepsRequest {})
        .await
        .unwrap_or_else(|s| panic!("ListSweeps: {s:?}"))
        .into_inner()
        .sweeps
}

/// Waits until the sweep is in `state`; its summary then.
pub async fn wait_state(
    url: &str,
    sweep_id: &str,
    state: SweepState,
    timeout: Duration,
) -> SweepSummary {
    wait_until(
        &format!("sweep {sweep_id} to be {state:?}"),
        timeout,
        || async {
            let s = summary(url, sweep_id).await;
            (s.state == state as i32).then_some(s)
        },
    )
    .await
}

/// Waits until some trial of the sweep runs with at least `epochs` epochs done.
pub async fn wait_running(
    url: &str,
    sweep_id: &str,
    epochs: u32,
    timeout: Duration,
) -> RunningTrial {
    let what = format!("a trial of {sweep_id} running with {epochs}+ epochs done");
    wait_until(&what, timeout, || async {
        let s = summary(url, sweep_id).await;
        s.running_trials
            .into_iter()
            .find(|r| r.epochs_done >= epochs)
    })
    .await
}

/// A hand-driven worker: its id and the secret its calls must carry.
#[derive(Debug, Clone)]
pub struct HandWorker {
    pub id: String,
    pub secret: String,
}

/// Registers a hand-driven worker.
pub async fn register(url: &str, hostname: &str) -> HandWorker {
    let r = workers(url)
        .register(RegisterRequest {
            hostname: hostname.into(),
            cores: 1,
            slots: 1,
            version: "e2e test by hand".into(),
        })
        .await
        .unwrap_or_else(|s| panic!("Register: {s:?}"))
        .into_inner();
    HandWorker {
        id: r.worker_id,
        secret: r.worker_secret,
    }
}

/// Leases one trial for `worker`, asking again until one is handed out.
pub async fn lease(url: &str, worker: &HandWorker, timeout: Duration) -> Lease {
    wait_until(
        &format!("a lease for worker {}", worker.id),
        timeout,
        || async {
            workers(url)
                .lease_trial(LeaseTrialRequest {
                    worker_id: worker.id.clone(),
                    worker_secret: worker.secret.clone(),
                    request_id: String::new(),
                    max_trials: 1,
                })
                .await
                .unwrap_or_else(|s| panic!("LeaseTrial: {s:?}"))
                .into_inner()
                .lease
        },
    )
    .await
}

/// The trial with `trial_id` among `trials`.
pub fn find<'a>(trials: &'a [TrialInfo], trial_id: &str) -> &'a TrialInfo {
    trials
        .iter()
        .find(|t| t.trial_id == trial_id)
        .unwrap_or_else(|| panic!("no trial {trial_id} in {trials:#?}"))
}

/// Whether `t` is in `state`.
pub fn is(t: &TrialInfo, state: TrialState) -> bool {
    t.state == state as i32
}
