//! The stand-in backbone: ResNet18 or MobileNetV2 trained from scratch on another 28×28
//! domain (Fashion-MNIST) at a trial's input size, with the trials' own
//! preprocessing (3 channels, ImageNet mean/std), so it can be loaded like
//! torchvision's ImageNet weights where those cannot be downloaded.

use super::adamw::StepError;
use super::idx::{read_idx_dataset, DatasetError};
use super::metrics::evaluate;
use super::net::Net;
use super::optim::PhaseOptimizer;
use super::rng::{stream, Stream};
use super::schedule::Schedule;
use super::transform::{eval_transform, label_tensor, unit_images, EvalImages};
use super::trial::apply_threads;
use super::weights::{write_state_dict, WeightsError};
use rand::seq::SliceRandom;
use std::path::PathBuf;
use std::time::Instant;
use sweep_proto::trial::{Model, OptimizerConfig, SchedulerConfig, SchedulerKind, StepUnit};
use tch::{Reduction, Tensor};

/// Why pretraining stopped.
#[derive(Debug, thiserror::Error)]
pub enum PretrainError {
    #[error("--input-size must be ≥ 32 and --epochs, --batch-size positive")]
    Arguments,
    #[error(transparent)]
    Data(#[from] DatasetError),
    #[error(transparent)]
    Optimizer(#[from] StepError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

/// What to pretrain on and how.
#[derive(Debug, Clone)]
pub struct PretrainConfig {
    /// The architecture to train.
    pub model: Model,
    /// An IDX folder (`train-*`, `t10k-*`, plain or .gz).
    pub data: PathBuf,
    pub input_size: u32,
    pub epochs: u32,
    /// Use only the first N training (and N/6 test) images; 0 = all.
    pub limit: usize,
    pub batch_size: usize,
    /// Peak AdamW learning rate (cosine-annealed to 0 per batch).
    pub lr: f64,
    pub threads: u32,
    pub seed: u64,
    pub out: PathBuf,
}

/// What pretraining achieved.
#[derive(Debug, Clone)]
pub struct PretrainReport {
    pub train_loss: f64,
    pub test_acc: f64,
    pub images_per_s: f64,
    pub wall_s: f64,
    pub threads: u32,
}

/// Progress callbacks: after each batch and each epoch.
pub trait PretrainObserver {
    fn on_batch(&mut self, epoch: u32, batch: usize, batches: usize, loss: f64);
    fn on_epoch(&mut self, epoch: u32, train_loss: f64, seconds: f64);
}

/// Trains `cfg.model` from scratch on `cfg.data` and writes it to `cfg.out`.
pub fn pretrain(
    cfg: &PretrainConfig,
    observer: &mut dyn PretrainObserver,
) -> Result<PretrainReport, PretrainError> {
    let start = Instant::now();
    if cfg.input_size < 32 || cfg.epochs == 0 || cfg.batch_size == 0 {
        return Err(PretrainError::Arguments);
    }
    let ds = read_idx_dataset(
        &cfg.data,
        "install Debian's dataset-fashion-mnist (IDX files under /usr/share/datasets/fashion-mnist) or name another IDX folder with --data",
    )?;
    let threads = apply_threads(cfg.threads);
    tch::manual_seed(cfg.seed as i64);
    let limit = |n: usize, l: usize| if l == 0 { n } else { l.min(n) };
    let train_idx: Vec<usize> = (0..limit(ds.train.images.count, cfg.limit)).collect();
    let test_idx: Vec<usize> = (0..limit(ds.test.images.count, cfg.limit.div_ceil(6))).collect();
    let train_unit = unit_images(&ds.train.images, &train_idx);
    let train_labels = label_tensor(&ds.train.labels, &train_idx);
    let size = cfg.input_size as i64;

    let mut model = Net::random(cfg.model, 10, cfg.seed);
    model.set_layout(crate::pipeline::net::Layout::for_input_size(size));
    let optim = OptimizerConfig::default();
    let stages = cfg.model.stages();
    let mut opt = PhaseOptimizer::new(&model, stages, cfg.lr, cfg.lr, &optim)?;
    let ranges = sweep_proto::trial::batch_ranges(train_idx.len(), cfg.batch_size);
    let batches = ranges.len();
    let cosine = SchedulerConfig {
        kind: SchedulerKind::Cosine,
        step_per: StepUnit::Batch,
        ..Default::default()
    };
    let mut sched = Schedule::new(&cosine, true, cfg.epochs, batches);
    let mut rng = stream(cfg.seed, Stream::Shuffle);
    let mut order: Vec<i64> = (0..train_idx.len() as i64).collect();
    let (mut train_loss, mut train_s) = (0.0, 0.0);
    for epoch in 1..=cfg.epochs {
        let t0 = Instant::now();
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for (b, range) in ranges.iter().enumerate() {
            let chunk = &order[range.clone()];
            let idx = Tensor::from_slice(chunk);
            let x = tch::no_grad(|| eval_transform(&train_unit.index_select(0, &idx), size));
            let y = train_labels.index_select(0, &idx);
            let loss = model.forward_train(&x).cross_entropy_loss(
                &y,
                None::<Tensor>,
                Reduction::Mean,
                -100,
                0.0,
            );
            opt.zero_grad()?;
            loss.backward();
            opt.step()?;
            let l = loss.double_value(&[]);
            loss_sum += l * chunk.len() as f64;
            if sched.after_batch() {
                opt.set_factor(sched.factor())?;
            }
            observer.on_batch(epoch, b + 1, batches, l);
        }
        train_loss = loss_sum / order.len() as f64;
        let secs = t0.elapsed().as_secs_f64();
        train_s += secs;
        observer.on_epoch(epoch, train_loss, secs);
    }
    let test_inputs = EvalImages::new(unit_images(&ds.test.images, &test_idx), size);
    let test = evaluate(
        &model,
        &test_inputs,
        &label_tensor(&ds.test.labels, &test_idx),
        256,
    );
    write_state_dict(&model, &cfg.out)?;
    Ok(PretrainReport {
        train_loss,
        test_acc: test.accuracy(),
        images_per_s: (order.len() * cfg.epochs as usize) as f64 / train_s.max(1e-9),
        wall_s: start.elapsed().as_secs_f64(),
        threads,
    })
}
