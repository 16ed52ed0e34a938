//! The layers both networks share — a bias-free conv (grouped for
//! MobileNetV2's depthwise ones), BatchNorm2d, the linear head — each with its
//! forward pass and a constructor that takes shapes only. The blocks are in
//! [`super::resnet`] and [`super::mobilenet`]; parameter names live in
//! [`super::names`], nowhere here.

use crate::pipeline::rng::{stream, Stream};
use rand::Rng;
use std::cell::Cell;
use tch::{Device, Kind, Tensor};

const BN_MOMENTUM: f64 = 0.1;
const BN_EPS: f64 = 1e-5;
const CPU_F32: (Kind, Device) = (Kind::Float, Device::Cpu);

/// How a new conv's weight starts out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// torchvision's: kaiming-normal (fan-out), drawn from tch's global generator.
    Kaiming,
    /// Zeros, to be overwritten (loading a state dict draws nothing).
    Zeros,
}

/// A bias-free 2-D convolution (every conv of both networks is one), padding
/// `k / 2`.
pub struct Conv2d {
    pub weight: Tensor,
    stride: i64,
    padding: i64,
    groups: i64,
}

impl Conv2d {
    pub fn new(cin: i64, cout: i64, k: i64, stride: i64, init: Init) -> Self {
        Self::grouped(cin, cout, k, stride, 1, init)
    }

    /// A conv in `groups` groups (`groups == cin == cout`: depthwise).
    pub fn grouped(cin: i64, cout: i64, k: i64, stride: i64, groups: i64, init: Init) -> Self {
        let shape = [cout, cin / groups, k, k];
        let weight = match init {
            Init::Kaiming => {
                let fan_out = cout * k * k;
                Tensor::randn(shape, CPU_F32) * (2.0 / fan_out as f64).sqrt()
            }
            Init::Zeros => Tensor::zeros(shape, CPU_F32),
        };
        Self {
            weight,
            stride,
            padding: k / 2,
            groups,
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.conv2d(
            &self.weight,
            None::<Tensor>,
            [self.stride, self.stride],
            [self.padding, self.padding],
            [1, 1],
            self.groups,
        )
    }
}

/// BatchNorm2d with torchvision's defaults (momentum 0.1, eps 1e-5).
pub struct BatchNorm2d {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    /// torch's `num_batches_tracked` (kept for a faithful state dict).
    pub num_batches_tracked: Cell<i64>,
}

impl BatchNorm2d {
    /// torch's initial state: weight 1, bias 0, mean 0, var 1, no batches.
    pub fn new(channels: i64) -> Self {
        Self {
            weight: Tensor::ones([channels], CPU_F32),
            bias: Tensor::zeros([channels], CPU_F32),
            running_mean: Tensor::zeros([channels], CPU_F32),
            running_var: Tensor::ones([channels], CPU_F32),
            num_batches_tracked: Cell::new(0),
        }
    }

    /// `update_stats`: train mode (batch statistics, running stats updated in
    /// place); otherwise eval mode (running statistics).
    pub fn forward(&self, x: &Tensor, update_stats: bool) -> Tensor {
        if update_stats {
            self.num_batches_tracked
                .set(self.num_batches_tracked.get() + 1);
        }
        x.batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            update_stats,
            BN_MOMENTUM,
            BN_EPS,
            false,
        )
    }
}

/// The classifier head.
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    /// A head of `features` inputs initialised like torch's `nn.Linear`:
    /// weight and bias uniform in ±1/√fan_in, drawn from the seed's head-init
    /// stream.
    pub fn fresh(classes: i64, features: i64, seed: u64) -> Self {
        let mut rng = stream(seed, Stream::HeadInit);
        let bound = 1.0 / (features as f32).sqrt();
        let mut draw =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
        let w = draw((classes * features) as usize);
        let b = draw(classes as usize);
        Self {
            weight: Tensor::from_slice(&w).reshape([classes, features]),
            bias: Tensor::from_slice(&b),
        }
    }

    /// A head of `classes` outputs, all zeros (to be overwritten).
    pub fn zeros(classes: i64, features: i64) -> Self {
        Self {
            weight: Tensor::zeros([classes, features], CPU_F32),
            bias: Tensor::zeros([classes], CPU_F32),
        }
    }

    /// Global average pool, flatten, dropout (`keep`: each feature's kept
    /// and rescaled share, from [`dropout_mask`]), linear.
    pub fn forward(&self, features: &Tensor, keep: Option<&Tensor>) -> Tensor {
        let pooled = features.adaptive_avg_pool2d([1, 1]).flatten(1, -1);
        let h = match keep {
            Some(keep) => &pooled * keep,
            None => pooled,
        };
        h.linear(&self.weight, Some(&self.bias))
    }
}

/// A dropout mask of `[rows, cols]` with drop probability `p`: 0 where
/// dropped, 1/(1-p) where kept (torch's inverted dropout), drawn from
/// `rng` (the trial's own stream, never libtorch's process-wide generator,
/// so trials sharing a process or a snapshot draw exactly what they draw
/// alone).
pub fn dropout_mask(rng: &mut impl Rng, rows: i64, cols: i64, p: f64) -> Tensor {
    let scale = (1.0 / (1.0 - p)) as f32;
    let values: Vec<f32> = (0..rows * cols)
        .map(|_| if rng.random::<f64>() < p { 0.0 } else { scale })
        .collect();
    Tensor::from_slice(&values).reshape([rows, cols])
}
