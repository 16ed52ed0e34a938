//! `WatchSweep` over real gRPC on loopback: an unknown id is NOT_FOUND
//! naming only that id, and the number of open streams is capped: one more
//! is RESOURCE_EXHAUSTED until one closes.

mod common;

use common::*;
use std::net::SocketAddr;
use std::time::Duration;
use sweep_coordinator::server::{serve, ServerConfig};
use sweep_coordinator::service::ServiceLimits;
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::*;
use tonic::transport::Channel;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_are_capped_and_unknown_sweeps_leak_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ServerConfig {
        policy: Default::default(),
        db_path: dir.path().join("sweep.db"),
        lease: Duration::from_secs(30),
        max_grid: 100,
        limits: ServiceLimits {
            max_watchers: 2,
            ..ServiceLimits::default()
        },
    };
    let task = tokio::spawn(serve(config, listener, async {
        let _ = stopped.await;
    }));
    let ch = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut sweeps = SweepServiceClient::new(ch.clone());
    let mut ids = Vec::new();
    for name in ["secret-project", "other"] {
        let id = sweeps
            .submit_sweep(SubmitSweepRequest {
                sweep_yaml: seed_sweep_yaml(name, 2, ""),
                source_name: format!("{name}.yaml"),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .sweep_id;
        ids.push(id);
    }

    // Unknown: NOT_FOUND with the id asked for, nothing about the others.
    let e = sweeps
        .watch_sweep(WatchSweepRequest {
            sweep_id: "sw-nosuch".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("sw-nosuch"), "{}", e.message());
    for leak in [ids[0].as_str(), ids[1].as_str(), "secret-project", "other"] {
        assert!(!e.message().contains(leak), "{}", e.message());
    }

    // Two streams fit; a third is refused.
    let open = |id: String| {
        let mut c = SweepServiceClient::new(ch.clone());
        async move { c.watch_sweep(WatchSweepRequest { sweep_id: id }).await }
    };
    let mut first = open(ids[0].clone()).await.unwrap().into_inner();
    let mut second = open(ids[1].clone()).await.unwrap().into_inner();
    assert!(first.message().await.unwrap().is_some());
    assert!(second.message().await.unwrap().is_some());
    let e = open(ids[0].clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    // A refused unknown id holds no place either.
    let e = open("sw-nosuch".into()).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");

    // Closing one frees its place (once the server notices).
    drop(first);
    let mut third = None;
    for _ in 0..100 {
        match open(ids[0].clone()).await {
            Ok(s) => {
                third = Some(s.into_inner());
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let mut third = third.expect("a closed stream frees its place within 5 s");
    assert!(third.message().await.unwrap().is_some());
    assert_eq!(
        open(ids[1].clone()).await.unwrap_err().code(),
        Code::ResourceExhausted
    );
    drop((second, third));
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
