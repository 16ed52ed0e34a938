//! MobileNetV2's layout (Sandler et al. 2018, torchvision's `mobilenet_v2`
//! at width 1.0), written once: `features.0` (a 3×3 conv, stride 2),
//! `features.1`..`features.17` (inverted residual blocks), `features.18` (a
//! 1×1 conv to 1280 channels), each a [`StageModule`] that can be frozen on
//! its own. The head (`classifier.1`, after a dropout of 0.2) is the shared
//! [`super::layers::Linear`].

use super::layers::{BatchNorm2d, Conv2d, Init};
use super::stages::{Body, StageModule};
use sweep_proto::trial::Stage;
use tch::Tensor;

/// Width of the feature vector that enters the head (`classifier.1`).
pub const FEATURES: i64 = 1280;
/// torchvision's classifier dropout, applied while training.
pub const DROPOUT: f64 = 0.2;
const STEM_CHANNELS: i64 = 32;
/// (expansion t, out channels c, repeats n, first stride s), as in the paper.
const SETTINGS: [(i64, i64, usize, i64); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// torchvision's `Conv2dNormActivation` with ReLU6: conv (`.0`), BatchNorm
/// (`.1`), ReLU6.
pub struct ConvBnAct {
    pub conv: Conv2d,
    pub bn: BatchNorm2d,
}

impl ConvBnAct {
    fn new(cin: i64, cout: i64, k: i64, stride: i64, groups: i64, init: Init) -> Self {
        Self {
            conv: Conv2d::grouped(cin, cout, k, stride, groups, init),
            bn: BatchNorm2d::new(cout),
        }
    }

    pub fn forward(&self, x: &Tensor, bn_train: bool) -> Tensor {
        let mut y = self.bn.forward(&self.conv.forward(x), bn_train);
        let _ = y.relu6_();
        y
    }
}

/// torchvision's `InvertedResidual`: an optional 1×1 expansion (`conv.0`),
/// a depthwise 3×3 (next `conv.N`), a linear 1×1 projection and its
/// BatchNorm; the input is added back when stride is 1 and the shape holds.
pub struct InvertedResidual {
    pub expand: Option<ConvBnAct>,
    pub depthwise: ConvBnAct,
    pub project: Conv2d,
    pub project_bn: BatchNorm2d,
    pub residual: bool,
}

impl InvertedResidual {
    /// Convs are made in torchvision's module order, so [`Init::Kaiming`]
    /// draws in the order torchvision's initialisation does.
    fn new(cin: i64, cout: i64, stride: i64, t: i64, init: Init) -> Self {
        let hidden = cin * t;
        Self {
            expand: (t != 1).then(|| ConvBnAct::new(cin, hidden, 1, 1, 1, init)),
            depthwise: ConvBnAct::new(hidden, hidden, 3, stride, hidden, init),
            project: Conv2d::new(hidden, cout, 1, 1, init),
            project_bn: BatchNorm2d::new(cout),
            residual: stride == 1 && cin == cout,
        }
    }

    pub fn forward(&self, x: &Tensor, bn_train: bool) -> Tensor {
        let h = match &self.expand {
            Some(e) => e.forward(x, bn_train),
            None => x.shallow_clone(),
        };
        let h = self.depthwise.forward(&h, bn_train);
        let mut out = self.project_bn.forward(&self.project.forward(&h), bn_train);
        if self.residual {
            let _ = out.g_add_(x);
        }
        out
    }
}

/// `features.0`..`features.18` in forward order, frozen.
pub fn backbone(init: Init) -> Vec<StageModule> {
    let mut n = 0u8;
    let mut next = |body| {
        let stage = StageModule::frozen(Stage::Features(n), body);
        n += 1;
        stage
    };
    let mut stages = vec![next(Body::ConvBnAct(ConvBnAct::new(
        3,
        STEM_CHANNELS,
        3,
        2,
        1,
        init,
    )))];
    let mut cin = STEM_CHANNELS;
    for (t, c, repeats, s) in SETTINGS {
        for i in 0..repeats {
            let stride = if i == 0 { s } else { 1 };
            stages.push(next(Body::Inverted(InvertedResidual::new(
                cin, c, stride, t, init,
            ))));
            cin = c;
        }
    }
    stages.push(next(Body::ConvBnAct(ConvBnAct::new(
        cin, FEATURES, 1, 1, 1, init,
    ))));
    stages
}
