//! `sweep-worker gradcam --weights W --config C [--images N] -o out.png`:
//! Grad-CAM of trained weights (e.g. `train --save-best`, or a sweep's kept
//! best weights) on the test split the trial config draws: the test images
//! are classified, misclassified ones come first (most confident first),
//! then right ones (least confident first), and the first N are drawn with
//! their heat-map (last stage: `layer4`, `features.18`) for the predicted
//! class.

use super::train::load_config;
use crate::figures::gradcam_grid::{self, Cell};
use crate::figures::png;
use crate::pipeline::data::prepare_data;
use crate::pipeline::net::{Head, Layout, Net};
use crate::pipeline::trial::apply_threads;
use crate::pipeline::weights::read_state_dict;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// Command-line arguments of `sweep-worker gradcam`.
#[derive(clap::Args)]
pub struct Args {
    /// Trained weights (safetensors, torchvision names, with their head).
    #[arg(long)]
    pub weights: PathBuf,
    /// The trial config the weights were trained with (its data and input size).
    #[arg(long)]
    pub config: PathBuf,
    /// Test images to draw.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=512))]
    pub images: u32,
    /// The PNG to write.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
}

/// Evaluation batch (speed only).
const BATCH: i64 = 256;

pub fn execute(args: Args) -> Result<()> {
    let cfg = load_config(&args.config)?;
    apply_threads(cfg.threads);
    let (stage, png) = render(&cfg, &args.weights, args.images as usize)?;
    std::fs::write(&args.out, png)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("wrote {} (Grad-CAM on {stage})", args.out.display());
    Ok(())
}

/// The Grad-CAM figure (PNG bytes) of `weights` on `cfg`'s test split, and
/// the stage its maps come from.
pub fn render(
    cfg: &sweep_proto::trial::TrialConfig,
    weights: &Path,
    images: usize,
) -> Result<(sweep_proto::trial::Stage, Vec<u8>)> {
    let (sd, _) = read_state_dict(weights, cfg.input_size)?;
    let mut model = Net::from_state_dict(cfg.model, sd, Head::Keep)
        .with_context(|| format!("--weights {}", weights.display()))?;
    model.set_layout(Layout::for_input_size(i64::from(cfg.input_size)));
    let data = prepare_data(cfg)?;
    let x = &data.test_inputs;
    let n = x.len();
    let mut probs = Vec::new();
    let mut start = 0;
    while start < n {
        let len = BATCH.min(n - start);
        probs.push(
            model
                .forward_eval(&x.inputs(start, len))
                .softmax(-1, Kind::Float),
        );
        start += len;
    }
    let (conf, pred) = Tensor::cat(&probs, 0).max_dim(1, false);
    let conf = Vec::<f32>::try_from(&conf)?;
    let pred = Vec::<i64>::try_from(&pred)?;
    let truth = Vec::<i64>::try_from(&data.test_labels)?;
    let key = |i: usize| (truth[i], pred[i], conf[i] as f64);
    let mut order: Vec<usize> = (0..n as usize).collect();
    order.sort_by(|&a, &b| gradcam_grid::compare(key(a), key(b)));
    order.truncate(images);
    let idx = Tensor::from_slice(&order.iter().map(|&i| i as i64).collect::<Vec<_>>());
    let chosen = x.select(&idx);
    let classes: Vec<i64> = order.iter().map(|&i| pred[i]).collect();
    let (stage, heat) = model.grad_cam(&chosen, &classes);
    let side = cfg.input_size as usize;
    // The network's inputs are the gray images themselves, in [0, 1].
    let gray = chosen.shallow_clone();
    let cells: Vec<Cell> = order
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            Ok(Cell {
                gray: Vec::<f32>::try_from(gray.get(k as i64).flatten(0, -1))?,
                heat: Vec::<f32>::try_from(heat.get(k as i64).flatten(0, -1))?,
                truth: truth[i],
                predicted: pred[i],
                confidence: conf[i] as f64,
            })
        })
        .collect::<Result<_>>()?;
    let canvas = gradcam_grid::draw(&cells, side);
    let png = png::encode_rgb(canvas.width as u32, canvas.height as u32, &canvas.pixels);
    Ok((stage, png))
}
