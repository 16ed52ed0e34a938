//! The systemd units in `deploy/systemd/` as systemd itself reads them
//! (`systemd-analyze verify`, no warnings), with their binaries pointed at
//! this build; and the worker's drain timeout ends before systemd's kill.

use std::path::{Path, PathBuf};
use std::process::Command;
use sweep_tests::bins;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `systemd-analyze verify` on `text` saved as `name`: (success, what it printed).
fn verify(dir: &Path, name: &str, text: &str) -> (bool, String) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze runs (Debian's systemd; scripts/setup.sh installs it)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && said.trim().is_empty(), said)
}

/// The unit with its `/usr/local/bin/NAME` replaced by this build's binary.
fn unit(name: &str) -> String {
    let text = std::fs::read_to_string(repo().join("deploy/systemd").join(name)).unwrap();
    let bin = name.trim_end_matches(".service");
    text.replace(
        &format!("/usr/local/bin/{bin}"),
        bins::path(bin).to_str().unwrap(),
    )
}

#[test]
fn the_units_verify_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["sweep-coordinator.service", "sweep-worker.service"] {
        let (ok, said) = verify(dir.path(), name, &unit(name));
        assert!(ok, "{name}:\n{said}");
    }
    // The check can fail: a misspelt setting is reported.
    let bad = unit("sweep-worker.service").replace("ProtectSystem=strict", "ProtectSystem=strikt");
    let (ok, said) = verify(dir.path(), "bad.service", &bad);
    assert!(!ok && said.contains("strikt"), "{said}");
}

#[test]
fn the_worker_hands_back_before_systemd_kills_it() {
    let text = unit("sweep-worker.service");
    // The flag's value (the comments mention the flag too).
    let drain: u64 = text
        .split("--drain-timeout ")
        .skip(1)
        .find_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("the worker unit sets --drain-timeout");
    let stop = text
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .expect("the worker unit sets TimeoutStopSec");
    let stop_secs: u64 = match stop.strip_suffix("min") {
        Some(m) => m.parse::<u64>().unwrap() * 60,
        None => stop.trim_end_matches('s').parse().unwrap(),
    };
    // A minute at least for the hand-back and the outbox before SIGKILL.
    assert!(drain + 60 <= stop_secs, "drain {drain}s, stop {stop_secs}s");
    assert!(text.contains("Restart=on-failure"));
}
