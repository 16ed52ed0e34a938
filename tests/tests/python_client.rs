//! The Python example (`examples/python/sweep_client.py`, grpcio with stubs
//! generated from `sweep.proto`) against a real gated coordinator with a
//! simulated worker: it submits a sweep file with its client token, watches
//! it to the end, and prints the leaderboard (a pandas DataFrame) as CSV,
//! one row per trial, one column per swept parameter; without the token it
//! is refused. Keeps the example from rotting.
//!
//! Needs grpcio, grpcio-tools and pandas in the project's `.venv`
//! (`scripts/setup.sh` installs them).

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;
use sweep_tests::bins::repo_root;
use sweep_tests::Cluster;

const CLIENT_TOKEN: &str = "python-client-token-0123456789";
const WORKER_TOKEN: &str = "python-worker-token-0123456789";

fn python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    let ready = std::process::Command::new(&python)
        .args(["-c", "import grpc, grpc_tools, pandas"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ready,
        "{} lacks grpcio, grpcio-tools or pandas: run scripts/setup.sh",
        python.display()
    );
    python
}

async fn example(python: &PathBuf, args: &[&str]) -> Output {
    let run = tokio::process::Command::new(python)
        .arg(repo_root().join("examples/python/sweep_client.py"))
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the example finished within 2 minutes")
        .expect("python runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_python_example_submits_watches_and_reads_the_leaderboard() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let client_token = write("client.token", &format!("{CLIENT_TOKEN}\n"));
    let worker_token = write("worker.token", &format!("{WORKER_TOKEN}\n"));
    // One test in this binary: the environment is the coordinator's.
    std::env::set_var(
        "SWEEP_CLIENT_TOKENS_FILE",
        write("client.tokens", &format!("{CLIENT_TOKEN}\n")),
    );
    std::env::set_var(
        "SWEEP_WORKER_TOKENS_FILE",
        write("worker.tokens", &format!("{WORKER_TOKEN}\n")),
    );
    let cluster = Cluster::start(2000);
    let _worker = cluster.worker(
        "py-worker",
        &[
            "--simulate",
            "--threads",
            "1",
            "--slots",
            "2",
            "--token-file",
            worker_token.to_str().unwrap(),
        ],
        &[("SWEEP_SIM_EPOCH_MS", "20")],
    );
    let sweep = write(
        "py.yaml",
        "name: python-example
method: grid
base:
  input_size: 32
  data: {train: 200, val: 100, test: 100}
  phase1: {epochs: 1}
  phase2: {epochs: 2}
parameters:
  phase2.lr_head: {values: [1.0e-4, 1.0e-3]}
  seed: {values: [1, 2]}
",
    );
    let url = cluster.url();
    let token = client_token.to_str().unwrap();
    let base = ["--coordinator", url, "--token-file", token];

    let refused = example(
        &python,
        &["--coordinator", url, "submit", sweep.to_str().unwrap()],
    )
    .await;
    let (_, err) = text(&refused);
    assert!(
        !refused.status.success() && err.contains("UNAUTHENTICATED"),
        "{err}"
    );

    let submitted = example(
        &python,
        &[&base[..], &["submit", sweep.to_str().unwrap()]].concat(),
    )
    .await;
    let (out, err) = text(&submitted);
    assert!(submitted.status.success(), "{out}\n{err}");
    let id = out.trim().to_string();
    assert!(id.starts_with("sw-"), "{out}");

    let watched = example(&python, &[&base[..], &["watch", &id]].concat()).await;
    let (out, err) = text(&watched);
    assert!(watched.status.success(), "{out}\n{err}");
    assert_eq!(out.trim(), "finished", "{err}");

    let board = example(
        &python,
        &[&base[..], &["leaderboard", &id, "--csv"]].concat(),
    )
    .await;
    let (out, err) = text(&board);
    assert!(board.status.success(), "{out}\n{err}");
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for column in [
        "rank",
        "state",
        "phase2.lr_head",
        "seed",
        "metric",
        "test_acc",
        "test_ece",
    ] {
        assert!(header.contains(&column), "no {column} in {header:?}");
    }
    let rows: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 4, "{out}");
    assert!(rows[0].starts_with("1,"), "ranked first: {}", rows[0]);
    assert!(rows.iter().all(|r| r.contains(",done,")), "{out}");
}
