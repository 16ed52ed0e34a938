//! The one place that knows torchvision's parameter names: a walk over the
//! model that yields every (name, [`Entry`]) in state-dict order. Loading and
//! writing state dicts, freezing, optimizer groups, BatchNorm statistics and
//! snapshots are all built on it.

use super::layers::{BatchNorm2d, Conv2d, Linear};
use super::mobilenet::{ConvBnAct, InvertedResidual};
use super::resnet::BasicBlock;
use super::stages::{Body, StageModule};
use super::Net;
use std::cell::Cell;
use sweep_proto::trial::Model;
use tch::Tensor;

/// The head's (weight, bias), as torchvision names them in `model`.
pub fn head_names(model: Model) -> (&'static str, &'static str) {
    match model {
        Model::Resnet18 => ("fc.weight", "fc.bias"),
        Model::MobilenetV2 => ("classifier.1.weight", "classifier.1.bias"),
    }
}

/// One named piece of model state.
#[derive(Clone, Copy)]
pub enum Entry<'a> {
    /// A trainable tensor: a conv weight, a BatchNorm weight or bias, the head.
    Parameter(&'a Tensor),
    /// A BatchNorm running statistic (`running_mean`, `running_var`).
    Statistic(&'a Tensor),
    /// A BatchNorm's `num_batches_tracked` (an int64 scalar in a state dict).
    Counter(&'a Cell<i64>),
}

/// What a walk calls for every entry.
pub type Visitor<'v, 'a> = dyn FnMut(&str, Entry<'a>) + 'v;

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl Conv2d {
    fn visit<'a>(&'a self, prefix: &str, f: &mut Visitor<'_, 'a>) {
        f(&join(prefix, "weight"), Entry::Parameter(&self.weight));
    }
}

impl BatchNorm2d {
    fn visit<'a>(&'a self, prefix: &str, f: &mut Visitor<'_, 'a>) {
        f(&join(prefix, "weight"), Entry::Parameter(&self.weight));
        f(&join(prefix, "bias"), Entry::Parameter(&self.bias));
        f(
            &join(prefix, "running_mean"),
            Entry::Statistic(&self.running_mean),
        );
        f(
            &join(prefix, "running_var"),
            Entry::Statistic(&self.running_var),
        );
        f(
            &join(prefix, "num_batches_tracked"),
            Entry::Counter(&self.num_batches_tracked),
        );
    }
}

impl BasicBlock {
    fn visit<'a>(&'a self, prefix: &str, f: &mut Visitor<'_, 'a>) {
        self.conv1.visit(&join(prefix, "conv1"), f);
        self.bn1.visit(&join(prefix, "bn1"), f);
        self.conv2.visit(&join(prefix, "conv2"), f);
        self.bn2.visit(&join(prefix, "bn2"), f);
        if let Some((conv, bn)) = &self.downsample {
            conv.visit(&join(prefix, "downsample.0"), f);
            bn.visit(&join(prefix, "downsample.1"), f);
        }
    }
}

impl ConvBnAct {
    fn visit<'a>(&'a self, prefix: &str, f: &mut Visitor<'_, 'a>) {
        self.conv.visit(&join(prefix, "0"), f);
        self.bn.visit(&join(prefix, "1"), f);
    }
}

impl InvertedResidual {
    /// torchvision's `conv` Sequential: `[expand,] depthwise, project, bn`.
    fn visit<'a>(&'a self, prefix: &str, f: &mut Visitor<'_, 'a>) {
        let mut i = 0;
        let mut next = || {
            i += 1;
            format!("{prefix}.conv.{}", i - 1)
        };
        if let Some(e) = &self.expand {
            e.visit(&next(), f);
        }
        self.depthwise.visit(&next(), f);
        self.project.visit(&next(), f);
        self.project_bn.visit(&next(), f);
    }
}

impl StageModule {
    /// Every entry of this stage, named as in the whole model's state dict.
    pub fn visit<'a>(&'a self, f: &mut Visitor<'_, 'a>) {
        match &self.body {
            Body::Stem { conv1, bn1 } => {
                conv1.visit("conv1", f);
                bn1.visit("bn1", f);
            }
            Body::Layer(blocks) => {
                for (i, block) in blocks.iter().enumerate() {
                    block.visit(&format!("{}.{i}", self.stage.name()), f);
                }
            }
            Body::ConvBnAct(c) => c.visit(self.stage.name(), f),
            Body::Inverted(b) => b.visit(self.stage.name(), f),
        }
    }

    /// The trainable tensors (conv and BN weights/biases) of this stage.
    pub fn parameters(&self) -> Vec<Tensor> {
        let mut out = Vec::new();
        self.visit(&mut |_, e| {
            if let Entry::Parameter(t) = e {
                out.push(t.shallow_clone());
            }
        });
        out
    }
}

impl Linear {
    pub fn visit<'a>(&'a self, model: Model, f: &mut Visitor<'_, 'a>) {
        let (weight, bias) = head_names(model);
        f(weight, Entry::Parameter(&self.weight));
        f(bias, Entry::Parameter(&self.bias));
    }
}

impl Net {
    /// Every entry of the model, backbone then head, in torchvision's
    /// state-dict order.
    pub fn visit<'a>(&'a self, f: &mut Visitor<'_, 'a>) {
        for stage in &self.stages {
            stage.visit(f);
        }
        self.head.visit(self.model, f);
    }
}
