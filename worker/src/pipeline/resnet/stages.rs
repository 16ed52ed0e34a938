//! ResNet18's layout, written once: the stem and layer1..layer4 as
//! [`StageModule`]s, built in one pass from channel counts and strides, each
//! with its forward pass and whether it trains.

use super::layers::{BasicBlock, BatchNorm2d, Conv2d, Init};
use std::cell::Cell;
use sweep_proto::trial::Stage;
use tch::Tensor;

/// (stage, out channels, stride of the first block) of layer1..layer4.
const LAYERS: [(Stage, i64, i64); 4] = [
    (Stage::Layer1, 64, 1),
    (Stage::Layer2, 128, 2),
    (Stage::Layer3, 256, 2),
    (Stage::Layer4, 512, 2),
];
/// `BasicBlock`s per layer.
const BLOCKS: usize = 2;
const STEM_CHANNELS: i64 = 64;

/// What a stage is made of.
pub enum Body {
    /// conv1 + bn1 + relu + maxpool.
    Stem { conv1: Conv2d, bn1: BatchNorm2d },
    /// Two `BasicBlock`s.
    Layer(Vec<BasicBlock>),
}

/// One backbone stage and whether it trains.
pub struct StageModule {
    pub stage: Stage,
    pub body: Body,
    pub trainable: Cell<bool>,
}

/// The five backbone stages in forward order, frozen.
pub fn backbone(init: Init) -> Vec<StageModule> {
    let frozen = |stage, body| StageModule {
        stage,
        body,
        trainable: Cell::new(false),
    };
    let mut stages = vec![frozen(
        Stage::Stem,
        Body::Stem {
            conv1: Conv2d::new(3, STEM_CHANNELS, 7, 2, init),
            bn1: BatchNorm2d::new(STEM_CHANNELS),
        },
    )];
    let mut cin = STEM_CHANNELS;
    for (stage, cout, stride) in LAYERS {
        let blocks = (0..BLOCKS)
            .map(|i| match i {
                0 => BasicBlock::new(cin, cout, stride, init),
                _ => BasicBlock::new(cout, cout, 1, init),
            })
            .collect();
        stages.push(frozen(stage, Body::Layer(blocks)));
        cin = cout;
    }
    stages
}

impl StageModule {
    /// `bn_train`: BatchNorm in train mode (batch statistics).
    pub fn forward(&self, x: &Tensor, bn_train: bool) -> Tensor {
        match &self.body {
            Body::Stem { conv1, bn1 } => {
                let mut y = bn1.forward(&conv1.forward(x), bn_train);
                let _ = y.relu_();
                y.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false)
            }
            Body::Layer(blocks) => blocks
                .iter()
                .fold(x.shallow_clone(), |h, b| b.forward(&h, bn_train)),
        }
    }
}
