//! ResNet18's layout, written once: torchvision's `BasicBlock` and the stem
//! and layer1..layer4 as [`StageModule`]s, built in one pass from channel
//! counts and strides.

use super::layers::{BatchNorm2d, Conv2d, Init};
use super::stages::{Body, StageModule};
use sweep_proto::trial::Stage;
use tch::Tensor;

/// Width of the feature vector that enters the head (`fc`).
pub const FEATURES: i64 = 512;
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

/// The five backbone stages in forward order, frozen.
pub fn backbone(init: Init) -> Vec<StageModule> {
    let mut stages = vec![StageModule::frozen(
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
        stages.push(StageModule::frozen(stage, Body::Layer(blocks)));
        cin = cout;
    }
    stages
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
