//! A cluster behind the gate, as processes: `sweep-coordinator` with token
//! files (from `SWEEP_CLIENT_TOKENS_FILE` / `SWEEP_WORKER_TOKENS_FILE`), the
//! `sweep` CLI with its client token (`SWEEP_TOKEN_FILE`) and a real
//! `sweep-worker run --token-file` with its worker token run a sweep to the
//! end; a gRPC client without a token is refused.

use std::time::Duration;
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::{GetSweepRequest, SweepState};
use sweep_tests::cluster::Cluster;
use sweep_tests::fixtures::sim_sweep;
use sweep_tests::wait::wait_until;
use tonic::transport::Channel;

#[tokio::test]
async fn a_sweep_runs_with_tokens_for_every_role() {
    let secrets = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = secrets.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let client_token = write("client.token", "e2e-client-token\n");
    let worker_token = write("worker.token", "e2e-worker-token\n");
    let client_tokens = write("client.tokens", "# the CLI\ne2e-client-token\n");
    let worker_tokens = write("worker.tokens", "# the workers\ne2e-worker-token\n");
    // This test binary holds this one test: its children inherit these.
    std::env::set_var("SWEEP_CLIENT_TOKENS_FILE", &client_tokens);
    std::env::set_var("SWEEP_WORKER_TOKENS_FILE", &worker_tokens);
    std::env::set_var("SWEEP_TOKEN_FILE", &client_token);

    let c = Cluster::start(3000);
    let id = c
        .submit("secured.yaml", &sim_sweep("secured", &[1, 2, 3], (1, 1), 1))
        .await;
    let worker_token = worker_token.to_str().unwrap();
    let _w = c.worker(
        "worker-1",
        &["--simulate", "--threads", "1", "--token-file", worker_token],
        &[("SWEEP_SIM_EPOCH_MS", "20")],
    );

    let channel = Channel::from_shared(c.url().to_string())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let header: tonic::metadata::MetadataValue<_> = "Bearer e2e-client-token".parse().unwrap();
    let mut sweeps =
        SweepServiceClient::with_interceptor(channel.clone(), move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", header.clone());
            Ok(r)
        });
    wait_until("the sweep finishes", Duration::from_secs(60), || {
        let (mut sweeps, id) = (sweeps.clone(), id.clone());
        async move {
            let s = sweeps
                .get_sweep(GetSweepRequest { sweep_id: id })
                .await
                .unwrap()
                .into_inner();
            (s.state == SweepState::Finished as i32 && s.done == 3).then_some(())
        }
    })
    .await;
    let _ = sweeps
        .get_sweep(GetSweepRequest {
            sweep_id: id.clone(),
        })
        .await
        .unwrap();

    let refused = SweepServiceClient::new(channel)
        .get_sweep(GetSweepRequest { sweep_id: id })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
}
