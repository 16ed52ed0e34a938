//! `sweep-coordinator --log-format json`: every log line on stderr is one
//! JSON object a log shipper can read, with the level and the message.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

#[test]
fn json_log_lines_are_json_objects() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sweep.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sweep-coordinator"))
        .args(["--listen", "127.0.0.1:0", "--log-format", "json", "--db"])
        .arg(&db)
        .env("RUST_LOG", "info")
        .env_remove("SWEEP_LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("sweep-coordinator listening on "),
        "{line}"
    );
    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{stderr}");

    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "no log lines at info level");
    let mut messages = Vec::new();
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string(), "{l}");
        messages.push(
            v["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    assert!(
        messages.iter().any(|m| m.contains("SIGTERM received")),
        "{messages:?}"
    );
}
