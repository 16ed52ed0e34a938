//! `sweep-coordinator` is safe by default: a non-loopback address without TLS
//! and tokens is refused on one line with exit status 2 (and served with
//! `--insecure`), and an empty or missing token file is one line naming it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sweep-coordinator");

fn command(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).arg("--db").arg(dir.join("sweep.db"));
    for (var, _) in std::env::vars().filter(|(k, _)| k.starts_with("SWEEP_")) {
        c.env_remove(var);
    }
    c.env("RUST_LOG", "warn");
    c
}

#[test]
fn an_exposed_address_without_tls_and_tokens_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path(), &["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("0.0.0.0:0") && stderr.contains("TLS") && stderr.contains("--insecure"),
        "{stderr}"
    );
    assert!(!dir.path().join("sweep.db").exists(), "nothing opened");
}

#[test]
fn insecure_serves_an_exposed_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(dir.path(), &["--listen", "0.0.0.0:0", "--insecure"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("sweep-coordinator listening on http://0.0.0.0:"),
        "{line}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn unusable_token_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.tokens");
    std::fs::write(&empty, "# nobody yet\n").unwrap();
    let missing = dir.path().join("missing.tokens");
    for (client, worker, named) in [(&empty, &empty, &empty), (&empty, &missing, &empty)] {
        let out = command(dir.path(), &["--listen", "127.0.0.1:0"])
            .arg("--client-tokens-file")
            .arg(client)
            .arg("--worker-tokens-file")
            .arg(worker)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&named.display().to_string()), "{stderr}");
    }
    std::fs::write(&empty, "a-token\n").unwrap();
    let out = command(dir.path(), &["--listen", "127.0.0.1:0"])
        .arg("--client-tokens-file")
        .arg(&empty)
        .arg("--worker-tokens-file")
        .arg(&missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing.tokens") && !stderr.contains("a-token"),
        "{stderr}"
    );
}
