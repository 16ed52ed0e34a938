//! `sweep submit` refuses bad sweep files with one clear line naming the
//! line or field at fault, exits non-zero, and the coordinator stores nothing.

use sweep_tests::fixtures::sim_sweep;
use sweep_tests::{rpc, Cluster};

/// name, text, what the one error line must contain.
const REFUSED: [(&str, &str, &[&str]); 5] = [
    (
        "unknown-key.yaml",
        "name: typo\nmethod: grid\nparalelism: 2\n",
        &["unknown-key.yaml", "paralelism", "line 3"],
    ),
    (
        "bad-value.yaml",
        "name: bad-value\nmethod: grid\nparameters:\n  loss.label_smoothing: {values: [0.1, 1.5]}\n",
        &["bad-value.yaml", "loss.label_smoothing", "1.5"],
    ),
    (
        "no-such-path.yaml",
        "name: no-such-path\nmethod: grid\nparameters:\n  phase2.lr_bakbone: {values: [0.001, 0.01]}\n",
        &["no-such-path.yaml", "phase2.lr_bakbone", "phase2.lr_backbone"],
    ),
    (
        "too-big.yaml",
        "name: too-big
method: grid
parameters:
  seed: {values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}
  batch_size: {values: [8, 16, 24, 32, 40, 48, 56, 64, 72, 80]}
  phase1.lr_head: {values: [0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01]}
  phase2.lr_head: {values: [0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01]}
  optimizer.weight_decay: {values: [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09]}
",
        &["too-big.yaml", "100000", "max_grid"],
    ),
    (
        "bad-syntax.yaml",
        "name: bad-syntax\nmethod: grid\nparameters: {seed: {values: [1, 2}\n",
        &["bad-syntax.yaml", "line 3"],
    ),
];

#[tokio::test]
async fn refused_sweep_files_store_nothing() {
    let c = Cluster::start(30_000);
    for (name, text, needles) in REFUSED {
        let out = c.submit_file(name, text).await;
        assert!(!out.success(), "{name} was accepted: {out:?}");
        assert!(
            out.stdout.trim().is_empty(),
            "{name}: no sweep id may be printed: {out:?}"
        );
        let lines: Vec<&str> = out.stderr.trim().lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "{name}: want one error line, got {:?}",
            out.stderr
        );
        for needle in needles {
            assert!(
                lines[0].contains(needle),
                "{name}: {:?} does not mention {needle:?}",
                lines[0]
            );
        }
    }
    assert!(
        rpc::list_sweeps(c.url()).await.is_empty(),
        "a refused file was stored"
    );
    let list = c.cli(&["list"]).await;
    assert!(
        list.success() && list.stdout.trim().is_empty(),
        "sweep list: {list:?}"
    );

    // The same path accepts a good file, so the refusals above are the files' fault.
    let id = c
        .submit("good.yaml", &sim_sweep("good", &[1, 2], (1, 1), 3))
        .await;
    let sweeps = rpc::list_sweeps(c.url()).await;
    assert_eq!(sweeps.len(), 1);
    assert_eq!(
        (sweeps[0].sweep_id.as_str(), sweeps[0].total),
        (id.as_str(), 2)
    );
    let list = c.cli(&["list"]).await;
    assert!(
        list.success() && list.stdout.contains(&id),
        "sweep list: {list:?}"
    );
}
