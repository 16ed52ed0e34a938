//! `sweep-worker pretrain`: trains the stand-in backbone (ResNet18, or
//! MobileNetV2 with `--model mobilenet_v2`, from scratch on Fashion-MNIST at
//! the trials' input size) and writes it as a
//! torchvision-format `.safetensors` state dict. The defaults finish in a few
//! minutes on 2 cores; scripts/setup.sh runs it once and keeps the file.

use super::progress::Progress;
use crate::pipeline::pretrain::{pretrain, PretrainConfig, PretrainObserver};
use anyhow::Result;
use std::path::PathBuf;
use sweep_proto::trial::Model;

fn parse_model(s: &str) -> Result<Model, String> {
    [Model::Resnet18, Model::MobilenetV2]
        .into_iter()
        .find(|m| m.name() == s)
        .ok_or_else(|| format!("`{s}` is not a model: resnet18 or mobilenet_v2"))
}

/// Where the stand-in backbone of `model` at `size` px lives by default (the
/// path sweep files name).
pub fn default_backbone_path(model: Model, size: u32) -> PathBuf {
    PathBuf::from(format!("data/backbone/{model}-fashion-{size}.safetensors"))
}

/// Command-line arguments of `sweep-worker pretrain`.
#[derive(clap::Args)]
pub struct Args {
    /// IDX folder to train on (train-*/t10k-* images and labels, plain or .gz).
    #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
    pub data: PathBuf,
    /// Side of the square input, pixels (use the trials' input_size).
    #[arg(long, default_value_t = 32)]
    pub input_size: u32,
    #[arg(long, default_value_t = 2)]
    pub epochs: u32,
    /// The architecture: resnet18 or mobilenet_v2.
    #[arg(long, default_value = "resnet18", value_parser = parse_model)]
    pub model: Model,
    /// Where to write the weights [default: data/backbone/MODEL-fashion-SIZE.safetensors].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Train on the first N images only (0 = all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Intra-op threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: u32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Peak AdamW learning rate, cosine-annealed to 0 over the run.
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
}

struct Observer {
    progress: Progress,
    epochs: u32,
}

impl PretrainObserver for Observer {
    fn on_batch(&mut self, epoch: u32, batch: usize, batches: usize, loss: f64) {
        let label = format!("epoch {epoch}/{} loss {loss:.3}", self.epochs);
        self.progress.batch(batch, batches, &label);
    }

    fn on_epoch(&mut self, epoch: u32, train_loss: f64, seconds: f64) {
        self.progress.line(&format!(
            "epoch {epoch}/{}: train loss {train_loss:.4} ({seconds:.1}s)",
            self.epochs
        ));
    }
}

pub fn execute(a: Args) -> Result<()> {
    let out = a
        .out
        .unwrap_or_else(|| default_backbone_path(a.model, a.input_size));
    let cfg = PretrainConfig {
        model: a.model,
        data: a.data,
        input_size: a.input_size,
        epochs: a.epochs,
        limit: a.limit,
        batch_size: a.batch_size,
        lr: a.lr,
        threads: a.threads,
        seed: a.seed,
        out,
    };
    let images = if cfg.limit == 0 {
        60_000
    } else {
        cfg.limit as u64
    };
    let batches = images.div_ceil(cfg.batch_size.max(1) as u64);
    let mut obs = Observer {
        progress: Progress::new(batches * cfg.epochs as u64),
        epochs: cfg.epochs,
    };
    let report = pretrain(&cfg, &mut obs);
    obs.progress.finish();
    let r = report?;
    eprintln!(
        "wrote {}: test acc {:.4}, final train loss {:.4}, {:.0} img/s, {:.1}s on {} threads",
        cfg.out.display(),
        r.test_acc,
        r.train_loss,
        r.images_per_s,
        r.wall_s,
        r.threads
    );
    Ok(())
}
