//! The layers ResNet18 is made of — a bias-free conv, BatchNorm2d,
//! torchvision's `BasicBlock`, the linear head — each with its forward pass
//! and a constructor that takes shapes only. Parameter names live in
//! [`super::names`], nowhere here.

use crate::pipeline::rng::{stream, Stream};
use rand::Rng;
use std::cell::Cell;
use tch::{Device, Kind, Tensor};

/// Width of the feature vector that enters the head.
pub const FEATURES: i64 = 512;
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

/// A bias-free 2-D convolution (every conv of ResNet18 is one), padding `k / 2`.
pub struct Conv2d {
    pub weight: Tensor,
    stride: i64,
    padding: i64,
}

impl Conv2d {
    pub fn new(cin: i64, cout: i64, k: i64, stride: i64, init: Init) -> Self {
        let shape = [cout, cin, k, k];
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
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.conv2d(
            &self.weight,
            None::<Tensor>,
            [self.stride, self.stride],
            [self.padding, self.padding],
            [1, 1],
            1,
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

/// torchvision's `BasicBlock`: two 3×3 convs and a shortcut, projected by a
/// 1×1 conv when the shape changes.
pub struct BasicBlock {
    pub conv1: Conv2d,
    pub bn1: BatchNorm2d,
    pub conv2: Conv2d,
    pub bn2: BatchNorm2d,
    pub downsample: Option<(Conv2d, BatchNorm2d)>,
}

impl BasicBlock {
    /// Convs are made in torchvision's order (conv1, conv2, downsample), so
    /// [`Init::Kaiming`] draws the same numbers torchvision's layout would.
    pub fn new(cin: i64, cout: i64, stride: i64, init: Init) -> Self {
        Self {
            conv1: Conv2d::new(cin, cout, 3, stride, init),
            bn1: BatchNorm2d::new(cout),
            conv2: Conv2d::new(cout, cout, 3, 1, init),
            bn2: BatchNorm2d::new(cout),
            downsample: (stride != 1 || cin != cout).then(|| {
                (
                    Conv2d::new(cin, cout, 1, stride, init),
                    BatchNorm2d::new(cout),
                )
            }),
        }
    }

    pub fn forward(&self, x: &Tensor, bn_train: bool) -> Tensor {
        let mut out = self.bn1.forward(&self.conv1.forward(x), bn_train);
        let _ = out.relu_();
        let mut out = self.bn2.forward(&self.conv2.forward(&out), bn_train);
        let identity = match &self.downsample {
            Some((conv, bn)) => bn.forward(&conv.forward(x), bn_train),
            None => x.shallow_clone(),
        };
        let _ = out.g_add_(&identity);
        let _ = out.relu_();
        out
    }
}

/// The classifier head.
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    /// A head initialised like torch's `nn.Linear`: weight and bias uniform
    /// in ±1/√fan_in, drawn from the seed's head-init stream.
    pub fn fresh(classes: i64, seed: u64) -> Self {
        let mut rng = stream(seed, Stream::HeadInit);
        let bound = 1.0 / (FEATURES as f32).sqrt();
        let mut draw =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
        let w = draw((classes * FEATURES) as usize);
        let b = draw(classes as usize);
        Self {
            weight: Tensor::from_slice(&w).reshape([classes, FEATURES]),
            bias: Tensor::from_slice(&b),
        }
    }

    /// A head of `classes` outputs, all zeros (to be overwritten).
    pub fn zeros(classes: i64) -> Self {
        Self {
            weight: Tensor::zeros([classes, FEATURES], CPU_F32),
            bias: Tensor::zeros([classes], CPU_F32),
        }
    }

    /// Global average pool, flatten, linear.
    pub fn forward(&self, features: &Tensor) -> Tensor {
        features
            .adaptive_avg_pool2d([1, 1])
            .flatten(1, -1)
            .linear(&self.weight, Some(&self.bias))
    }
}
