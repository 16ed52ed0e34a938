//! gRPC server reflection over a real loopback socket: with a client token,
//! `ListServices` (v1 and v1alpha) names both `sweep.v1` services, the health
//! service and reflection itself, and the descriptor of `SweepService` comes
//! back by symbol; without a token, or with a worker token, reflection is
//! refused like every other client-role method.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use sweep_coordinator::auth::Gate;
use sweep_coordinator::security::Security;
use sweep_coordinator::server::{serve_secured, ServerConfig};
use sweep_runtime::credentials::Bearer;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::Code;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1alpha;

const CLIENT_TOKEN: &str = "client-token-0123456789abcdef";
const WORKER_TOKEN: &str = "worker-token-0123456789abcdef";

async fn start(dir: &Path) -> SocketAddr {
    let (c, w) = (dir.join("client.tokens"), dir.join("worker.tokens"));
    std::fs::write(&c, format!("{CLIENT_TOKEN}\n")).unwrap();
    std::fs::write(&w, format!("{WORKER_TOKEN}\n")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ServerConfig {
        db_path: dir.join("sweep.db"),
        lease: Duration::from_secs(30),
        max_grid: 100,
        policy: Default::default(),
        limits: Default::default(),
    };
    let security = Security {
        gate: Gate::from_files(&c, &w).unwrap(),
        tls: None,
    };
    tokio::spawn(serve_secured(
        config,
        security,
        listener,
        std::future::pending(),
    ));
    addr
}

async fn channel(addr: SocketAddr) -> Channel {
    for _ in 0..100 {
        if let Ok(ch) = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
        {
            return ch;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("coordinator on {addr} never answered");
}

/// One v1 reflection request, its one answer.
async fn ask_v1(
    ch: &Channel,
    token: &str,
    request: MessageRequest,
) -> Result<MessageResponse, tonic::Status> {
    let mut client = ServerReflectionClient::with_interceptor(ch.clone(), Bearer::new(token));
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await?
        .into_inner();
    let answer = answers.next().await.expect("one answer")?;
    Ok(answer.message_response.expect("a response"))
}

#[tokio::test]
async fn reflection_lists_the_services_for_clients_only() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start(dir.path()).await;
    let ch = channel(addr).await;

    let MessageResponse::ListServicesResponse(list) = ask_v1(
        &ch,
        CLIENT_TOKEN,
        MessageRequest::ListServices(String::new()),
    )
    .await
    .unwrap() else {
        panic!("not a service list");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "sweep.v1.SweepService",
            "sweep.v1.WorkerService",
        ]
    );

    let MessageResponse::FileDescriptorResponse(files) = ask_v1(
        &ch,
        CLIENT_TOKEN,
        MessageRequest::FileContainingSymbol("sweep.v1.SweepService".into()),
    )
    .await
    .unwrap() else {
        panic!("not a file descriptor");
    };
    assert!(!files.file_descriptor_proto.is_empty());

    // The older protocol, which grpcurl falls back to.
    let mut alpha = v1alpha::server_reflection_client::ServerReflectionClient::with_interceptor(
        ch.clone(),
        Bearer::new(CLIENT_TOKEN),
    );
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let answer = alpha
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner()
        .next()
        .await
        .unwrap()
        .unwrap();
    assert!(format!("{answer:?}").contains("sweep.v1.WorkerService"));

    for (token, code) in [
        ("", Code::Unauthenticated),
        ("nope", Code::Unauthenticated),
        (WORKER_TOKEN, Code::PermissionDenied),
    ] {
        let refused = ask_v1(&ch, token, MessageRequest::ListServices(String::new()))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), code, "token {token:?}: {refused}");
    }
}
