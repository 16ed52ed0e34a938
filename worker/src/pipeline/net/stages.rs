//! A backbone as a list of [`StageModule`]s — the blocks a phase freezes or
//! unfreezes as units (ResNet18's stem and layer1..layer4, MobileNetV2's
//! `features.N`) — each with its forward pass and whether it trains.

use super::layers::{BatchNorm2d, Conv2d, Init};
use super::mobilenet::{self, ConvBnAct, InvertedResidual};
use super::resnet::{self, BasicBlock};
use std::cell::Cell;
use sweep_proto::trial::{Model, Stage};
use tch::Tensor;

/// What a stage is made of.
pub enum Body {
    /// ResNet18: conv1 + bn1 + relu + maxpool.
    Stem { conv1: Conv2d, bn1: BatchNorm2d },
    /// ResNet18: two `BasicBlock`s.
    Layer(Vec<BasicBlock>),
    /// MobileNetV2: `features.0` and `features.18`.
    ConvBnAct(ConvBnAct),
    /// MobileNetV2: `features.1`..`features.17`.
    Inverted(InvertedResidual),
}

/// One backbone stage and whether it trains.
pub struct StageModule {
    pub stage: Stage,
    pub body: Body,
    pub trainable: Cell<bool>,
}

/// The backbone stages of `model` in forward order, frozen.
pub fn backbone(model: Model, init: Init) -> Vec<StageModule> {
    match model {
        Model::Resnet18 => resnet::backbone(init),
        Model::MobilenetV2 => mobilenet::backbone(init),
    }
}

impl StageModule {
    /// A stage that does not train (yet).
    pub fn frozen(stage: Stage, body: Body) -> Self {
        Self {
            stage,
            body,
            trainable: Cell::new(false),
        }
    }

    /// `bn_train`: BatchNorm in train mode (batch statistics).
    pub fn forward(&self, x: &Tensor, bn_train: bool) -> Tensor {
        match &self.body {
            Body::Stem { conv1, bn1 } => {
                let mut y = bn1.forward(&conv1.forward(x), bn_train);
                let _ = y.relu_();
                super::max_pool::max_pool2d(&y, [3, 3], [2, 2], [1, 1])
            }
            Body::Layer(blocks) => blocks
                .iter()
                .fold(x.shallow_clone(), |h, b| b.forward(&h, bn_train)),
            Body::ConvBnAct(c) => c.forward(x, bn_train),
            Body::Inverted(b) => b.forward(x, bn_train),
        }
    }
}
