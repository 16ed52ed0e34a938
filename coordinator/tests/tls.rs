//! TLS and mutual TLS over a real loopback socket, with a CA and
//! certificates made inside the test (rcgen): a client that trusts the CA
//! gets through (with its token), one that trusts another CA or speaks
//! plain HTTP/2 does not; with `client_ca` set, a worker without a client
//! certificate, or with one from another CA, is refused at the handshake.

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use sweep_coordinator::config::Settings;
use sweep_coordinator::server::{serve_secured, ServerConfig};
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use sweep_proto::v1::*;
use sweep_runtime::credentials::{Bearer, ClientTls, Credentials};
use tokio::sync::oneshot;

const TOKEN: &str = "one-token-for-both-roles";

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    Ca {
        pem,
        issuer: Issuer::new(params, key),
    }
}

/// A certificate for `names` signed by `ca`, written as `stem.pem` and
/// `stem.key` in `dir`.
fn leaf(ca: &Ca, names: &[&str], dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
    let params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let (c, k) = (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Serves with TLS (and mTLS if `client_ca`) and tokens; returns the address.
async fn start(
    dir: &Path,
    cert: (PathBuf, PathBuf),
    client_ca: Option<PathBuf>,
) -> (SocketAddr, oneshot::Sender<()>) {
    let tokens = write(dir, "tokens", &format!("{TOKEN}\n"));
    let settings = Settings {
        db: dir.join("sweep.db"),
        tls_cert: Some(cert.0),
        tls_key: Some(cert.1),
        client_ca,
        client_tokens_file: Some(tokens.clone()),
        worker_tokens_file: Some(tokens),
        ..Settings::default()
    };
    let security = settings.security().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = ServerConfig {
        db_path: settings.db.clone(),
        lease: Duration::from_secs(30),
        max_grid: 100,
        policy: Default::default(),
        limits: Default::default(),
    };
    tokio::spawn(serve_secured(config, security, listener, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

fn credentials(ca: &Path, identity: Option<&(PathBuf, PathBuf)>) -> Credentials {
    let tls = ClientTls::load(
        ca,
        identity.map(|i| i.0.as_path()),
        identity.map(|i| i.1.as_path()),
    )
    .unwrap();
    let tls = ClientTls::from_config(tls.config().clone().domain_name("localhost"));
    Credentials {
        bearer: Bearer::new(TOKEN),
        tls: Some(tls),
    }
}

/// A `ListSweeps` through `credentials`: the error text if refused.
async fn list(addr: SocketAddr, credentials: &Credentials) -> Result<(), String> {
    let endpoint = credentials
        .endpoint(&addr.to_string())
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5));
    let channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
    SweepServiceClient::with_interceptor(channel, credentials.bearer.clone())
        .list_sweeps(ListSweepsRequest {})
        .await
        .map(|_| ())
        .map_err(|s| format!("{s:?}"))
}

async fn register(addr: SocketAddr, credentials: &Credentials) -> Result<(), String> {
    let endpoint = credentials.endpoint(&addr.to_string()).unwrap();
    let channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
    WorkerServiceClient::with_interceptor(channel, credentials.bearer.clone())
        .register(RegisterRequest {
            hostname: "w".into(),
            cores: 1,
            slots: 1,
            version: "t".into(),
        })
        .await
        .map(|_| ())
        .map_err(|s| format!("{s:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_lets_in_only_clients_that_trust_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (lab, other) = (ca("lab CA"), ca("someone else's CA"));
    let lab_pem = write(dir.path(), "lab-ca.pem", &lab.pem);
    let other_pem = write(dir.path(), "other-ca.pem", &other.pem);
    let server_cert = leaf(&lab, &["localhost"], dir.path(), "server");
    let (addr, stop) = start(dir.path(), server_cert, None).await;

    list(addr, &credentials(&lab_pem, None)).await.unwrap();
    let e = list(addr, &credentials(&other_pem, None))
        .await
        .unwrap_err();
    assert!(
        e.to_lowercase().contains("certificate") || e.contains("UnknownIssuer"),
        "{e}"
    );
    // Plain HTTP/2 to a TLS port gets nowhere.
    let plain = Credentials {
        bearer: Bearer::new(TOKEN),
        tls: None,
    };
    assert!(list(addr, &plain).await.is_err());
    // An explicit http:// URL with TLS set up is refused, not downgraded.
    let e = credentials(&lab_pem, None)
        .endpoint(&format!("http://{addr}"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("https://"), "{e}");
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_wants_a_client_certificate_from_the_client_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (lab, workers_ca, other) = (ca("lab CA"), ca("workers CA"), ca("other CA"));
    let lab_pem = write(dir.path(), "lab-ca.pem", &lab.pem);
    let workers_pem = write(dir.path(), "workers-ca.pem", &workers_ca.pem);
    let server_cert = leaf(&lab, &["localhost"], dir.path(), "server");
    let worker_cert = leaf(&workers_ca, &["worker-1"], dir.path(), "worker");
    let stranger_cert = leaf(&other, &["stranger"], dir.path(), "stranger");
    let (addr, stop) = start(dir.path(), server_cert, Some(workers_pem)).await;

    register(addr, &credentials(&lab_pem, Some(&worker_cert)))
        .await
        .unwrap();
    assert!(register(addr, &credentials(&lab_pem, None)).await.is_err());
    assert!(register(addr, &credentials(&lab_pem, Some(&stranger_cert)))
        .await
        .is_err());
    let _ = stop.send(());
}
