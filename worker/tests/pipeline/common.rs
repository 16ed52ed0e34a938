//! Where the pipeline tests find what scripts/setup.sh makes (MNIST, the
//! stand-in backbone, the venv's python), a tiny trial config and the
//! untrained model it starts from (what "it learns" is judged against). A missing
//! piece fails the test with the command that makes it; nothing is skipped.

use std::path::{Path, PathBuf};
use sweep_proto::trial::{Model, TrialConfig};
use sweep_worker::pipeline::data::prepare_data;
use sweep_worker::pipeline::metrics::{evaluate, Predictions};
use sweep_worker::pipeline::net::{Head, Net};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("worker/ sits in the repo")
        .to_path_buf()
}

pub fn mnist_dir() -> PathBuf {
    let dir = repo_root().join("data/mnist");
    let there = ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"]
        .iter()
        .any(|f| dir.join(f).is_file());
    assert!(
        there,
        "MNIST is missing at {}: run scripts/setup.sh (or `python3 scripts/fetch_mnist.py data/mnist`)",
        dir.display()
    );
    dir
}

pub fn backbone() -> PathBuf {
    backbone_of(Model::Resnet18)
}

/// The stand-in backbone scripts/setup.sh makes for `model`.
pub fn backbone_of(model: Model) -> PathBuf {
    let path = repo_root().join(format!("data/backbone/{model}-fashion-32.safetensors"));
    assert!(
        path.is_file(),
        "the stand-in backbone is missing at {}: run scripts/setup.sh (or `sweep-worker pretrain --model {model} --out {} --input-size 32`)",
        path.display(),
        path.display()
    );
    path
}

pub fn python() -> PathBuf {
    let py = repo_root().join(".venv/bin/python");
    assert!(
        py.is_file(),
        "the project venv is missing at {}: run scripts/setup.sh",
        py.display()
    );
    py
}

/// 500/200/200 images, 32 px, 1 + 1 epochs, on the real data and backbone.
pub fn tiny_config() -> TrialConfig {
    let mut c = TrialConfig::default();
    c.data.dir = mnist_dir();
    c.data.train = 500;
    c.data.val = 200;
    c.data.test = 200;
    c.input_size = 32;
    c.batch_size = 32;
    c.phase1.epochs = 1;
    c.phase2.epochs = 1;
    c.backbone.weights = backbone();
    c.threads = 2;
    c
}

/// The model the trial starts from, never trained: the backbone with a fresh
/// head, evaluated on the trial's test images.
pub fn untrained_on_test(cfg: &TrialConfig) -> Predictions {
    let sd = tch::Tensor::read_safetensors(&cfg.backbone.weights)
        .unwrap()
        .into_iter()
        .collect();
    let head = Head::Fresh {
        classes: 10,
        seed: cfg.seed,
    };
    let model = Net::from_state_dict(cfg.model, sd, head).unwrap();
    let data = prepare_data(cfg).unwrap();
    evaluate(&model, &data.test_inputs, &data.test_labels, 100)
}

/// A trained result must beat the untrained model `before` clearly: test
/// accuracy by more than 0.2, test loss below 0.8 of its loss.
pub fn assert_learns(r: &sweep_proto::trial::TrialResult, before: &Predictions) {
    eprintln!(
        "untrained: test acc {:.3}, loss {:.3}; trained: test acc {:.3}, loss {:.3}",
        before.accuracy(),
        before.loss(),
        r.test.acc,
        r.test.loss
    );
    assert!(
        r.test.acc > before.accuracy() + 0.2,
        "test accuracy {} is not well above the untrained model's {}",
        r.test.acc,
        before.accuracy()
    );
    assert!(
        r.test.loss < 0.8 * before.loss(),
        "test loss {} did not fall clearly below the untrained model's {}",
        r.test.loss,
        before.loss()
    );
}
