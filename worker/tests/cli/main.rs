//! `sweep-worker train` from the outside: every bad input is refused before
//! any training, through `parse_trial_yaml` and through the binary (non-zero
//! exit, a message naming the field, path or repairing command); and a tiny
//! good trial writes its result as JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use sweep_proto::trial::{parse_trial_yaml, TrialResult};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn mnist_dir() -> PathBuf {
    let dir = repo_root().join("data/mnist");
    assert!(
        dir.join("train-images-idx3-ubyte").is_file() || dir.join("train-images-idx3-ubyte.gz").is_file(),
        "MNIST is missing at {}: run scripts/setup.sh (or `python3 scripts/fetch_mnist.py data/mnist`)",
        dir.display()
    );
    dir
}

fn backbone() -> PathBuf {
    let p = repo_root().join("data/backbone/resnet18-fashion-32.safetensors");
    assert!(
        p.is_file(),
        "the stand-in backbone is missing at {}: run scripts/setup.sh (or `sweep-worker pretrain --out {} --input-size 32`)",
        p.display(),
        p.display()
    );
    p
}

/// Runs `sweep-worker train` on `yaml` written to a temp file.
fn train(yaml: &str, extra: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trial.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sweep-worker"))
        .arg("train")
        .arg(&file)
        .args(extra)
        .current_dir(dir.path())
        .output()
        .unwrap();
    (out, dir)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// (yaml, what the error must name).
const BAD: &[(&str, &str)] = &[
    ("seed: 1\nphase2:\n  lr_bakbone: 0.1\n", "lr_bakbone"),
    ("colour: red\n", "colour"),
    ("batch_size: many\n", "batch_size"),
    ("phase1: {epochs: -1}\n", "phase1.epochs"),
    (
        "phase1: {epochs: 0}\nphase2: {epochs: 0}\n",
        "phase2.epochs",
    ),
    ("phase2: {unfreeze: [layer5]}\n", "layer5"),
    ("phase1: {unfreeze: [head]}\n", "head"),
    ("input_size: 16\n", "input_size"),
    ("data: {train: 60000}\n", "data.train"),
    ("data: {train: 50000, val: 5000}\n", "data.train"),
    ("data: {test: 9000}\n", "data.test"),
    ("data: {val: 15}\n", "data.val"),
    ("loss: {label_smoothing: 1.0}\n", "loss.label_smoothing"),
    ("loss: {label_smoothing: -0.1}\n", "loss.label_smoothing"),
    ("phase2: {lr_backbone: 0}\n", "phase2.lr_backbone"),
    ("scheduler: {kind: exponential}\n", "exponential"),
    // step_size counts batches here: 0.1 every 3 batches would end near 0.
    (
        "scheduler: {kind: step, step_per: batch}\n",
        "scheduler.step_size",
    ),
    ("augment: {mode: bilinear}\n", "bilinear"),
];

#[test]
fn bad_configs_are_refused_by_the_parser_naming_the_field() {
    for (yaml, field) in BAD {
        let e = parse_trial_yaml(yaml).expect_err(yaml).to_string();
        assert!(
            e.contains(field),
            "{yaml:?}: error {e:?} does not name {field}"
        );
    }
}

#[test]
fn bad_configs_are_refused_by_the_binary_before_training() {
    for (yaml, field) in BAD {
        let (o, _dir) = train(yaml, &[]);
        let err = stderr(&o);
        assert!(!o.status.success(), "{yaml:?} was accepted");
        assert!(
            err.contains(field),
            "{yaml:?}: stderr {err:?} does not name {field}"
        );
        assert!(
            err.contains("trial.yaml"),
            "{yaml:?}: stderr {err:?} does not name the file"
        );
        assert!(!err.contains("epoch 1"), "{yaml:?}: training started");
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn a_missing_config_file_is_named() {
    let o = Command::new(env!("CARGO_BIN_EXE_sweep-worker"))
        .args(["train", "/nonexistent/trial.yaml"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/nonexistent/trial.yaml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_weights_name_the_path_and_the_pretrain_command() {
    let yaml = format!(
        "input_size: 48\ndata: {{dir: {}}}\nbackbone: {{weights: /nowhere/bb.safetensors}}\n",
        mnist_dir().display()
    );
    let (o, _dir) = train(&yaml, &[]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(err.contains("/nowhere/bb.safetensors"), "{err}");
    assert!(
        err.contains("sweep-worker pretrain --out /nowhere/bb.safetensors --input-size 48"),
        "{err}"
    );
}

#[test]
fn missing_or_corrupt_data_names_the_path_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w.safetensors");
    std::fs::write(&weights, b"only its existence is checked before the data").unwrap();
    let yaml = format!(
        "data: {{dir: /nowhere/mnist}}\nbackbone: {{weights: {}}}\n",
        weights.display()
    );
    let (o, _d) = train(&yaml, &[]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("/nowhere/mnist") && err.contains("scripts/fetch_mnist.py"),
        "{err}"
    );

    // A truncated image file.
    let bad = dir.path().join("mnist");
    std::fs::create_dir(&bad).unwrap();
    for f in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        let full = std::fs::read(mnist_dir().join(f)).unwrap();
        let keep = if f == "t10k-images-idx3-ubyte" {
            full.len() - 100
        } else {
            full.len()
        };
        std::fs::write(bad.join(f), &full[..keep]).unwrap();
    }
    let yaml = format!(
        "data: {{dir: {}}}\nbackbone: {{weights: {}}}\n",
        bad.display(),
        weights.display()
    );
    let (o, _d) = train(&yaml, &[]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("t10k-images-idx3-ubyte") && err.contains("truncated"),
        "{err}"
    );
    assert!(err.contains("scripts/fetch_mnist.py"), "{err}");

    // Real data, but the weights file is not safetensors.
    let yaml = format!(
        "data: {{dir: {}}}\nbackbone: {{weights: {}}}\n",
        mnist_dir().display(),
        weights.display()
    );
    let (o, _d) = train(&yaml, &[]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("w.safetensors") && err.contains("safetensors"),
        "{err}"
    );
    assert!(!err.contains("epoch 1"), "training started: {err}");
}

#[test]
fn a_tiny_trial_writes_its_result_json() {
    let yaml = format!(
        "seed: 4\ninput_size: 32\nthreads: 2\ndata: {{dir: {}, train: 200, val: 100, test: 100}}\n\
         backbone: {{weights: {}}}\nphase1: {{epochs: 1}}\nphase2: {{epochs: 1, unfreeze: [all], lr_backbone: 0.002}}\n\
         scheduler: {{kind: cosine, step_per: batch}}\nbatch_size: 50\n",
        mnist_dir().display(),
        backbone().display()
    );
    let (o, dir) = train(
        &yaml,
        &[
            "--out",
            "res/result.json",
            "--save-best",
            "res/best.safetensors",
        ],
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(o.stdout.is_empty(), "with --out, stdout stays empty");
    assert!(
        err.contains("epoch 1/2 phase 1") && err.contains("epoch 2/2 phase 2"),
        "{err}"
    );
    let text = std::fs::read_to_string(dir.path().join("res/result.json")).unwrap();
    let r: TrialResult = serde_json::from_str(&text).unwrap();
    assert_eq!(r.epochs.len(), 2);
    // Whether training learns is end_to_end.rs's question (against the
    // untrained model, same run); here: the reported accuracy is the
    // confusion matrix's, over the 100 test images.
    let right: u64 = (0..10).map(|c| r.test.confusion[c][c]).sum();
    let tested: u64 = r.test.confusion.iter().flatten().sum();
    assert_eq!(tested, 100);
    assert_eq!(r.test.acc, right as f64 / 100.0, "{:?}", r.test);
    // Phase 1 is not scheduled; phase 2 is cosine per batch over its 4
    // batches, so its last batch ran after 3 steps, each group from its own base.
    let e1 = &r.epochs[0];
    assert_eq!((e1.lr_backbone, e1.lr_head), (0.0, 1e-3));
    let f = 0.5 * (1.0 + (0.75 * std::f64::consts::PI).cos());
    let e2 = &r.epochs[1];
    assert!(
        (e2.lr_backbone - 2e-3 * f).abs() < 1e-12 && (e2.lr_head - 1e-3 * f).abs() < 1e-12,
        "{e2:?}"
    );
    assert!(dir.path().join("res/best.safetensors").is_file());

    // Grad-CAM of the saved weights on the trial's test images: a PNG.
    let cam = Command::new(env!("CARGO_BIN_EXE_sweep-worker"))
        .args([
            "gradcam",
            "--weights",
            "res/best.safetensors",
            "--config",
            "trial.yaml",
        ])
        .args(["--images", "5", "-o", "res/cam.png"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(cam.status.success(), "{}", stderr(&cam));
    let png = std::fs::read(dir.path().join("res/cam.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // Weights that are not there are named.
    let missing = Command::new(env!("CARGO_BIN_EXE_sweep-worker"))
        .args([
            "gradcam",
            "--weights",
            "res/nothing.safetensors",
            "--config",
            "trial.yaml",
        ])
        .args(["-o", "res/cam2.png"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("nothing.safetensors"),
        "{}",
        stderr(&missing)
    );
}
