//! The dashboard in a real browser: a gated coordinator with its HTTP side
//! (`SWEEP_HTTP_LISTEN`), a finished sweep of simulated trials (three swept
//! parameters) and a live one, opened in Debian's headless `chromium` driven
//! over CDP by `tests/browser/dashboard.mjs` (playwright-core). The script
//! signs in with the client token, opens every page, asserts on the rendered
//! DOM (table rows, one chart per container with the right series count,
//! canvases drawn, no console errors), checks server-side sorting, and that
//! a trial finishing on the live sweep shows on the open page within 2 s.
//! Screenshots land in `target/dashboard-screenshots/`.
//!
//! Needs `chromium` (or `SWEEP_CHROMIUM`), `node` and
//! `tests/browser/node_modules` (`scripts/setup.sh` installs all three).

use std::path::PathBuf;
use std::time::Duration;
use sweep_tests::bins::repo_root;
use sweep_tests::Cluster;

const CLIENT_TOKEN: &str = "dashboard-client-token-0123456789";
const WORKER_TOKEN: &str = "dashboard-worker-token-0123456789";

/// 4 head learning rates × 2 label smoothings × 2 seeds = 16 trials.
const FINISHED_SWEEP: &str = "name: dashboard-finished
method: grid
metric: {name: val_acc, goal: maximize}
base:
  input_size: 32
  data: {train: 200, val: 100, test: 100}
  phase1: {epochs: 2}
  phase2: {epochs: 3}
parameters:
  phase2.lr_head: {values: [1.0e-4, 3.0e-4, 1.0e-3, 3.0e-3]}
  loss.label_smoothing: {values: [0.0, 0.1]}
  seed: {values: [1, 2]}
";
const FINISHED_TRIALS: usize = 16;
const PARAMS: usize = 3;

/// Slow trials, so that one finishes while the page is open.
const LIVE_SWEEP: &str = "name: dashboard-live
method: grid
base:
  input_size: 32
  data: {train: 200, val: 100, test: 100}
  phase1: {epochs: 3}
  phase2: {epochs: 5}
parameters:
  seed: {values: [21, 22, 23, 24]}
";

fn chromium() -> PathBuf {
    let path = std::env::var_os("SWEEP_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup.sh (it installs Debian's chromium), or set SWEEP_CHROMIUM",
        path.display()
    );
    path
}

fn browser_script_dir() -> PathBuf {
    let dir = repo_root().join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "{}/node_modules is missing: run scripts/setup.sh (npm ci --prefix tests/browser)",
        dir.display()
    );
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[tokio::test]
async fn every_dashboard_page_renders_in_chromium_and_updates_live() {
    let chromium = chromium();
    let script_dir = browser_script_dir();
    let tokens = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = tokens.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let client_token = write("client.token", &format!("{CLIENT_TOKEN}\n"));
    let worker_token = write("worker.token", &format!("{WORKER_TOKEN}\n"));
    let client_tokens = write("client.tokens", &format!("{CLIENT_TOKEN}\n"));
    let worker_tokens = write("worker.tokens", &format!("{WORKER_TOKEN}\n"));
    let http = format!("127.0.0.1:{}", free_port());
    // One test in this binary: the environment is the coordinator's and the CLI's.
    std::env::set_var("SWEEP_CLIENT_TOKENS_FILE", &client_tokens);
    std::env::set_var("SWEEP_WORKER_TOKENS_FILE", &worker_tokens);
    std::env::set_var("SWEEP_TOKEN_FILE", &client_token);
    std::env::set_var("SWEEP_HTTP_LISTEN", &http);
    let cluster = Cluster::start(2000);
    let worker_token = worker_token.to_str().unwrap();
    let sim = |name: &str, epoch_ms: u64, slots: &str| {
        cluster.worker(
            name,
            &[
                "--simulate",
                "--threads",
                "1",
                "--slots",
                slots,
                "--token-file",
                worker_token,
            ],
            &[("SWEEP_SIM_EPOCH_MS", &epoch_ms.to_string())],
        )
    };

    let finished = cluster.submit("finished.yaml", FINISHED_SWEEP).await;
    let fast = sim("fast-worker", 20, "4");
    // `sweep watch` returns once the sweep is over.
    let watched = tokio::time::timeout(Duration::from_secs(60), cluster.cli(&["watch", &finished]))
        .await
        .expect("the finished sweep ran within 60 s");
    assert!(watched.success(), "sweep watch: {watched:?}");
    drop(fast);
    let live = cluster.submit("live.yaml", LIVE_SWEEP).await;
    let _slow = sim("slow-worker", 600, "1");

    let screenshots = repo_root().join("target/dashboard-screenshots");
    let out = tokio::process::Command::new("node")
        .arg("dashboard.mjs")
        .current_dir(&script_dir)
        .env("SWEEP_HTTP", format!("http://{http}"))
        .env("SWEEP_TOKEN", CLIENT_TOKEN)
        .env("SWEEP_FINISHED", &finished)
        .env("FINISHED_TRIALS", FINISHED_TRIALS.to_string())
        .env("PARAMS", PARAMS.to_string())
        .env("SWEEP_LIVE", &live)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOTS", &screenshots)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), out)
        .await
        .expect("the browser script finished within 3 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser script failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    eprintln!(
        "dashboard_browser: {stdout}screenshots in {}",
        screenshots.display()
    );
}
