//! Artifacts end to end: a tiny real sweep (two trials, 200/100/100 images
//! at 32 px, one epoch per phase) on one real `sweep-worker run`, with the
//! default `artifacts:` (figures for every trial, weights for the top 3).
//! The real `sweep` CLI then lists what was kept and downloads the best
//! trial's `gradcam.png` and `best.safetensors`: the PNG signature, the
//! sizes and the SHA-256 the coordinator recorded must match the files.
//! The coordinator keeps them under `artifacts/` beside its database.

use sha2::{Digest, Sha256};
use std::time::Duration;
use sweep_proto::v1::SweepState;
use sweep_tests::fixtures::{real_sweep, require_real_data};
use sweep_tests::rpc;
use sweep_tests::Cluster;

#[tokio::test]
async fn a_real_sweep_keeps_its_figures_and_weights_and_the_cli_downloads_them() {
    require_real_data();
    let c = Cluster::start(30_000);
    let id = c.submit("kept.yaml", &real_sweep("kept-e2e")).await;
    let mut args = vec!["--threads".to_string(), "1".to_string()];
    args.extend(sweep_tests::fixtures::real_data_roots());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let w = c.worker("kept-1", &args, &[]);
    let s = rpc::wait_state(c.url(), &id, SweepState::Finished, Duration::from_secs(240)).await;
    assert_eq!((s.total, s.done, s.failed), (2, 2, 0), "{s:#?}");

    let listed = c.cli(&["artifacts", &id, "--format", "json"]).await;
    assert!(listed.success(), "sweep artifacts: {listed:?}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&listed.stdout).unwrap();
    let mut names: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["trial_id"].as_str().unwrap().to_string(),
                r["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    names.sort();
    let mut trials: Vec<&str> = names.iter().map(|(t, _)| t.as_str()).collect();
    trials.dedup();
    assert_eq!(trials.len(), 2, "both trials kept something: {names:?}");
    for t in &trials {
        for n in ["best.safetensors", "confusion.png", "gradcam.png"] {
            assert!(
                names.contains(&(t.to_string(), n.to_string())),
                "{t} lacks {n}: {names:?} (worker log: {})",
                w.log_text()
            );
        }
    }
    let table = c.cli(&["artifacts", &id, &s.best_trial_id]).await;
    assert!(
        table.success() && table.stdout.contains("gradcam.png"),
        "{table:?}"
    );

    for (name, magic) in [
        ("gradcam.png", &b"\x89PNG\r\n\x1a\n"[..]),
        ("best.safetensors", &b""[..]),
    ] {
        let out = c.dir().join(format!("got-{name}"));
        let got = c
            .cli(&[
                "artifacts",
                &id,
                &s.best_trial_id,
                "--get",
                name,
                "-o",
                out.to_str().unwrap(),
            ])
            .await;
        assert!(got.success(), "sweep artifacts --get {name}: {got:?}");
        let bytes = std::fs::read(&out).unwrap();
        assert!(bytes.starts_with(magic), "{name} starts {:?}", &bytes[..8]);
        let row = rows
            .iter()
            .find(|r| r["trial_id"] == s.best_trial_id.as_str() && r["name"] == name)
            .unwrap();
        assert_eq!(bytes.len() as u64, row["size"].as_u64().unwrap(), "{name}");
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            row["sha256"].as_str().unwrap(),
            "{name}"
        );
        if name == "best.safetensors" {
            // A safetensors file: an 8-byte little-endian header length,
            // then that much JSON naming the tensors (torchvision names).
            let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
            let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
            assert!(
                header.contains("layer4.1.conv2.weight"),
                "{}",
                &header[..200.min(n)]
            );
        }
    }
    // Stored beside the database, by sweep, trial and attempt.
    let stored = c
        .dir()
        .join("artifacts")
        .join(&id)
        .join(&s.best_trial_id)
        .join("1")
        .join("gradcam.png");
    assert!(stored.is_file(), "{} missing", stored.display());
    // A name with a path component is refused by the coordinator.
    let bad = c
        .cli(&[
            "artifacts",
            &id,
            &s.best_trial_id,
            "--get",
            "../sweep.db",
            "-o",
            "x",
        ])
        .await;
    assert!(!bad.success(), "{bad:?}");
    for line in w
        .log_text()
        .lines()
        .filter(|l| l.contains("uploaded best.safetensors"))
    {
        eprintln!("{line}");
    }
}
