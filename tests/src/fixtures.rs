//! Sweep files and trial results for the tests.

use crate::bins::repo_root;
use std::path::{Path, PathBuf};
use sweep_proto::trial::{BackboneInfo, EpochMetrics, PhaseTiming, TestMetrics, TrialResult};

/// The seed whose simulated trial always fails (see the worker's `daemon::simulated`).
pub const FAILING_SEED: u64 = 13013;

/// A grid sweep of simulated trials, one per seed, `epochs` = (phase 1, phase 2).
pub fn sim_sweep(name: &str, seeds: &[u64], epochs: (u32, u32), max_attempts: u32) -> String {
    let seeds: Vec<String> = seeds.iter().map(u64::to_string).collect();
    format!(
        "name: {name}
method: grid
max_attempts: {max_attempts}
base:
  input_size: 32
  data: {{train: 200, val: 100, test: 100}}
  phase1: {{epochs: {}}}
  phase2: {{epochs: {}}}
parameters:
  seed: {{values: [{}]}}
",
        epochs.0,
        epochs.1,
        seeds.join(", ")
    )
}

/// `data/mnist` in the repository (absolute).
pub fn mnist_dir() -> PathBuf {
    repo_root().join("data/mnist")
}

/// Environment variable naming another backbone file for the real sweep
/// (e.g. a quick `sweep-worker pretrain --limit 1000` output).
pub const BACKBONE_ENV: &str = "SWEEP_TEST_BACKBONE";

/// The stand-in backbone `scripts/setup.sh` makes (absolute), unless
/// [`BACKBONE_ENV`] names another.
pub fn backbone() -> PathBuf {
    match std::env::var_os(BACKBONE_ENV).filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => repo_root().join("data/backbone/resnet18-fashion-32.safetensors"),
    }
}

/// Panics with the command that makes them when MNIST or the backbone is missing.
pub fn require_real_data() {
    let mnist = mnist_dir().join("train-images-idx3-ubyte");
    assert!(
        mnist.is_file(),
        "{} is missing: run scripts/setup.sh (it makes data/mnist)",
        mnist.display()
    );
    assert!(
        backbone().is_file(),
        "{} is missing: run scripts/setup.sh (it pretrains the stand-in backbone)",
        backbone().display()
    );
}

/// The `--data-root` arguments a real worker needs: MNIST's folder and the
/// backbone's, resolved (either may be a symlink to a shared checkout, and
/// a worker may read only where they lead).
pub fn real_data_roots() -> Vec<String> {
    let mut roots = vec![mnist_dir()];
    roots.extend(backbone().parent().map(Path::to_path_buf));
    roots
        .iter()
        .flat_map(|r| {
            [
                "--data-root".to_string(),
                r.canonicalize().unwrap().display().to_string(),
            ]
        })
        .collect()
}

/// A small real sweep: two trials (phase-2 head LR 1e-3 and 3e-3), 200/100/100
/// images at 32 px, one epoch per phase.
pub fn real_sweep(name: &str) -> String {
    format!(
        "name: {name}
method: grid
metric: {{name: val_acc}}
base:
  seed: 7
  input_size: 32
  batch_size: 50
  data: {{dir: {}, train: 200, val: 100, test: 100}}
  backbone: {{weights: {}}}
  phase1: {{epochs: 1}}
  phase2: {{epochs: 1}}
parameters:
  phase2.lr_head: {{values: [0.001, 0.003]}}
",
        mnist_dir().display(),
        backbone().display()
    )
}

/// A well-formed result with `val_acc` as its best validation accuracy (one epoch).
pub fn fake_result(val_acc: f64) -> String {
    let epoch = EpochMetrics {
        epoch: 1,
        phase: 1,
        train_loss: 0.5,
        train_acc: 0.8,
        val_loss: 0.4,
        val_acc,
        val_ece: 0.05,
        lr_backbone: 1e-5,
        lr_head: 1e-3,
        wall_s: 0.1,
    };
    let result = TrialResult {
        backbone: BackboneInfo {
            name: "by-hand".into(),
            sha256: "0".repeat(64),
        },
        epochs: vec![epoch],
        best_epoch: 1,
        best_val_acc: val_acc,
        best_val_loss: 0.4,
        best_val_ece: 0.05,
        test: TestMetrics {
            acc: val_acc,
            loss: 0.4,
            ece: 0.05,
            per_class_acc: vec![val_acc; 10],
            confusion: (0..10)
                .map(|i| (0..10).map(|j| u64::from(i == j) * 10).collect())
                .collect(),
            reliability: vec![],
        },
        val: None,
        calibration: None,
        phases: vec![PhaseTiming {
            phase: 1,
            epochs: 1,
            wall_s: 0.1,
            train_images_per_s: 2000.0,
            shared: false,
            prefix_shared_epochs: 0,
        }],
        wall_s: 0.1,
        turn_wait_s: 0.0,
        threads: 1,
        host: "e2e".into(),
        diverged: None,
        simulated: false,
    };
    serde_json::to_string(&result).expect("a result serialises")
}
