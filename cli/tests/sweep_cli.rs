//! The `sweep` binary's failures as a user sees them: one line on stderr,
//! nothing on stdout, and the documented exit code. Needs no coordinator.

use std::process::{Command, Output};

fn sweep(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sweep"))
        .args(args)
        .env_remove("SWEEP_COORDINATOR")
        .output()
        .expect("the sweep binary runs")
}

/// A loopback port nobody listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn an_unreachable_coordinator_is_one_line_and_exit_2() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    for args in [
        vec!["list"],
        vec!["status", "sw-00000000"],
        vec!["leaderboard", "sw-00000000", "--format", "csv"],
        vec!["cancel", "sw-00000000"],
        vec!["watch", "sw-00000000"],
    ] {
        let mut full = vec!["--coordinator", url.as_str()];
        full.extend(&args);
        let out = sweep(&full);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        let lines = stderr_lines(&out);
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(
            lines[0].starts_with(&format!("sweep: cannot reach coordinator at {url}: ")),
            "{args:?}: {lines:?}"
        );
    }
}

#[test]
fn a_missing_sweep_file_names_the_path_before_connecting() {
    // Read before connecting: the (unreachable) coordinator is never asked.
    let url = format!("http://127.0.0.1:{}", closed_port());
    let out = sweep(&["--coordinator", &url, "submit", "/no/such/grid.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        ["sweep: cannot read sweep file /no/such/grid.yaml: no such file"]
    );
    let out = sweep(&["run", "/no/such/grid.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        ["sweep: cannot read sweep file /no/such/grid.yaml: no such file"]
    );
}

#[test]
fn run_without_a_worker_binary_says_how_to_build_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.yaml");
    std::fs::write(&file, "name: s\n").unwrap();
    let missing = dir.path().join("no-worker");
    let out = sweep(&[
        "run",
        file.to_str().unwrap(),
        "--dir",
        dir.path().join("state").to_str().unwrap(),
        "--worker-bin",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("--worker-bin") && lines[0].contains("no-worker"),
        "{lines:?}"
    );
    // Nothing was started or created.
    assert!(!dir.path().join("state").exists());
}

#[test]
fn usage_errors_exit_2_without_a_debug_dump() {
    let out = sweep(&["leaderboard", "sw-1", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("xml") && !text.contains("Status {"), "{text}");
}
