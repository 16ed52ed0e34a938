//! `sweep health` against a real coordinator (the library serving on a
//! loopback port, its database in a temporary folder): SERVING and exit 0
//! for the server and each service, one line and exit 1 for a service it
//! does not have, exit 2 once it is gone.

use std::process::Command;
use std::time::Duration;
use sweep_coordinator::server::{serve, ServerConfig};

/// Runs `sweep --coordinator URL health ARGS…`; (exit code, stdout, stderr).
async fn health(url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sweep"));
    cmd.arg("--coordinator").arg(url).arg("health").args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn health_says_serving_then_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        ServerConfig {
            db_path: dir.path().join("sweep.db"),
            lease: Duration::from_secs(60),
            max_grid: 100,
            policy: Default::default(),
            limits: Default::default(),
        },
        listener,
        async {
            let _ = stopped.await;
        },
    ));

    for service in ["", "sweep.v1.SweepService", "sweep.v1.WorkerService"] {
        let (code, out, err) = health(&url, &["--service", service]).await;
        assert_eq!(
            (code, out.as_str()),
            (Some(0), "SERVING\n"),
            "{service}: {err}"
        );
    }
    let (code, out, err) = health(&url, &["--service", "no.Such"]).await;
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("sweep: not found"), "{err}");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let (code, _, err) = health(&url, &[]).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with(&format!("sweep: cannot reach coordinator at {url}")),
        "{err}"
    );
}
