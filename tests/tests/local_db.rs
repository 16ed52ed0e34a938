//! `sweep report` over gRPC while the coordinator runs, and `--db FILE`:
//! `sweep leaderboard`, `status` and `report` read a
//! coordinator's database file directly, while the coordinator runs (a WAL
//! reader beside it) and once it has stopped: both times they answer what it
//! answers over gRPC, and the stopped coordinator's file is left byte for
//! byte as it was. A second coordinator on the same file is refused, naming
//! its lock file. Both reports are one HTML file
//! that draws offline in headless Chromium (`tests/browser/report.mjs`): table,
//! curves, parallel coordinates, the best trial's confusion matrix, no
//! network request, no console error.

use std::path::PathBuf;
use std::time::Duration;
use sweep_tests::bins::repo_root;
use sweep_tests::Cluster;

const SWEEP: &str = "name: local-db
method: grid
base:
  input_size: 32
  data: {train: 200, val: 100, test: 100}
  phase1: {epochs: 1}
  phase2: {epochs: 2}
parameters:
  phase2.lr_head: {values: [1.0e-4, 1.0e-3, 3.0e-3]}
  seed: {values: [1, 2]}
";
const TRIALS: usize = 6;

/// A short digest for comparing files in assertion messages.
fn sha(bytes: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    format!("{} bytes, hash {:016x}", bytes.len(), h.finish())
}

fn file_bytes(path: &PathBuf) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[tokio::test]
async fn leaderboard_status_and_report_read_the_file_read_only() {
    let mut cluster = Cluster::start(2000);
    let id = cluster.submit("local.yaml", SWEEP).await;
    let worker = cluster.sim_worker("local-worker", 20);
    let watched = tokio::time::timeout(Duration::from_secs(60), cluster.cli(&["watch", &id]))
        .await
        .expect("the sweep ran within 60 s");
    assert!(watched.success(), "{watched:?}");
    drop(worker);
    let db = cluster.db();
    let db_arg = db.to_str().unwrap().to_string();
    let over_grpc = cluster.cli(&["leaderboard", &id, "--format", "csv"]).await;
    assert!(over_grpc.success(), "{over_grpc:?}");

    // Over gRPC, while the coordinator runs.
    let asked = cluster.dir().join("asked.html");
    let made = cluster
        .cli(&["report", &id, "-o", asked.to_str().unwrap()])
        .await;
    assert!(made.success(), "{made:?}");
    let html = std::fs::read_to_string(&asked).unwrap();
    assert!(html.contains("id=\"sweep-data\"") && html.contains(&id));
    assert!(
        html.contains("\"confusion\""),
        "the best trial's result is in the report"
    );

    // From the file, while the coordinator runs.
    let live = cluster
        .cli(&["leaderboard", &id, "--format", "csv", "--db", &db_arg])
        .await;
    assert!(live.success(), "{live:?}");
    assert_eq!(live.stdout, over_grpc.stdout);
    let live_status = cluster.cli(&["status", &id, "--db", &db_arg]).await;
    assert!(
        live_status.success() && live_status.stdout.contains(&id),
        "{live_status:?}"
    );
    // The running coordinator still answers (and writes) after the reads.
    let still = cluster.cli(&["leaderboard", &id, "--format", "csv"]).await;
    assert!(still.success(), "{still:?}");
    assert_eq!(still.stdout, over_grpc.stdout);

    // A second coordinator on the same database is refused.
    let second = tokio::process::Command::new(sweep_tests::bins::path("sweep-coordinator"))
        .args(["--listen", "127.0.0.1:0", "--db", &db_arg])
        .kill_on_drop(true)
        .output();
    let second = tokio::time::timeout(Duration::from_secs(20), second)
        .await
        .expect("a second coordinator on the same database stops at once")
        .expect("sweep-coordinator runs");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{said}");
    assert!(
        said.contains("sweep.db.lock") && said.contains("another coordinator"),
        "{said}"
    );

    cluster.coordinator().signal(libc::SIGTERM);
    let status = cluster
        .coordinator()
        .wait_exit(Duration::from_secs(20))
        .await;
    assert!(status.success(), "{status:?}");
    let before = sha(&file_bytes(&db));

    let local = cluster
        .cli(&["leaderboard", &id, "--format", "csv", "--db", &db_arg])
        .await;
    assert!(local.success(), "{local:?}");
    assert_eq!(local.stdout, over_grpc.stdout);
    let status = cluster.cli(&["status", &id, "--db", &db_arg]).await;
    assert!(
        status.success() && status.stdout.contains(&id),
        "{status:?}"
    );
    let unknown = cluster
        .cli(&["status", "sw-00000000", "--db", &db_arg])
        .await;
    assert!(
        !unknown.success() && unknown.stderr.contains("sw-00000000"),
        "{unknown:?}"
    );

    let report = cluster.dir().join("report.html");
    let made = cluster
        .cli(&[
            "report",
            &id,
            "-o",
            report.to_str().unwrap(),
            "--db",
            &db_arg,
        ])
        .await;
    assert!(made.success(), "{made:?}");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("id=\"sweep-data\"") && html.contains(&id));
    assert!(!html.contains("<script src=") && !html.contains("<link rel=\"stylesheet\""));
    // SQLite's readers of a WAL database may leave an empty -wal and a -shm
    // beside it; the database itself is untouched.
    assert_eq!(
        sha(&file_bytes(&db)),
        before,
        "--db changed the database file"
    );

    let chromium = std::env::var_os("SWEEP_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let script_dir = repo_root().join("tests/browser");
    assert!(
        chromium.is_file() && script_dir.join("node_modules/playwright-core").is_dir(),
        "chromium or tests/browser/node_modules is missing: run scripts/setup.sh"
    );
    for file in [&asked, &report] {
        let out = tokio::process::Command::new("node")
            .arg("report.mjs")
            .current_dir(&script_dir)
            .env("REPORT", file)
            .env("TRIALS", TRIALS.to_string())
            .env("CHROMIUM", &chromium)
            .env(
                "SCREENSHOTS",
                repo_root().join("target/dashboard-screenshots"),
            )
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(120), out)
            .await
            .expect("the report opened within 2 minutes")
            .expect("node runs");
        assert!(
            out.status.success(),
            "{} did not draw:\n{}\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
