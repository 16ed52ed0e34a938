//! ResNet18 written out by hand, stage by stage (stem, layer1..layer4, fc), with
//! torchvision's layout and parameter names, so that each stage can be frozen,
//! a frozen stage's BatchNorm can be held in eval mode, and each stage's
//! parameters can go into their own optimizer group. (tch's built-in resnet is
//! one opaque closure and can do none of this.)
//!
//! - [`layers`]: conv, BatchNorm, `BasicBlock`, the head; forward passes.
//! - [`stages`]: the layout, built once from shapes.
//! - [`names`]: the one walk that names every tensor as torchvision does.
//! - [`state_dict`]: torchvision state dicts in and out.
//!
//! This file: the model's API (construction, freezing, forward, snapshots).

pub mod layers;
pub mod names;
pub mod stages;
pub mod state_dict;

use layers::{Init, Linear};
use names::Entry;
use stages::StageModule;
use sweep_proto::trial::Stage;
use tch::Tensor;

pub use layers::FEATURES;
pub use state_dict::StateDictError;

/// How the head (`fc`) is made when weights are loaded.
#[derive(Debug, Clone, Copy)]
pub enum Head {
    /// Use the state dict's `fc.*` as it is (any class count).
    Keep,
    /// Drop any `fc.*` and make a new head of `classes` outputs, initialised
    /// like torch's `nn.Linear` from `seed`.
    Fresh { classes: i64, seed: u64 },
}

/// ResNet18 as five backbone stages plus `fc`.
pub struct ResNet18 {
    stages: Vec<StageModule>,
    pub fc: Linear,
    /// Frozen stages keep their BatchNorm in eval mode while training.
    pub hold_frozen_bn: bool,
}

impl ResNet18 {
    fn assemble(init: Init, fc: Linear) -> Self {
        Self {
            stages: stages::backbone(init),
            fc,
            hold_frozen_bn: false,
        }
    }

    /// torchvision's initialisation (kaiming-normal fan-out convs, BN 1/0,
    /// nn.Linear head), from tch's global generator (seed it first). Every
    /// stage trains.
    pub fn random(classes: i64, seed: u64) -> Self {
        let model = Self::assemble(Init::Kaiming, Linear::fresh(classes, seed));
        model.set_trainable(&Stage::BACKBONE);
        model
    }

    /// Makes exactly `stages` (plus `fc`, always) trainable; every other
    /// backbone stage is frozen (`requires_grad = false`).
    pub fn set_trainable(&self, stages: &[Stage]) {
        let all = stages.contains(&Stage::All);
        for s in &self.stages {
            let on = all || stages.contains(&s.stage);
            s.trainable.set(on);
            for p in s.parameters() {
                let _ = p.set_requires_grad(on);
            }
        }
        for p in self.head_parameters() {
            let _ = p.set_requires_grad(true);
        }
    }

    /// Whether `stage` trains now.
    pub fn is_trainable(&self, stage: Stage) -> bool {
        self.stage(stage).trainable.get()
    }

    pub fn stage(&self, stage: Stage) -> &StageModule {
        self.stages
            .iter()
            .find(|s| s.stage == stage)
            .expect("backbone stages only")
    }

    /// The head's parameters (weight, bias).
    pub fn head_parameters(&self) -> Vec<Tensor> {
        vec![self.fc.weight.shallow_clone(), self.fc.bias.shallow_clone()]
    }

    /// (name, tensor) of every BatchNorm running statistic in `stage`.
    pub fn bn_stats(&self, stage: Stage) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        self.stage(stage).visit(&mut |name, e| {
            if let Entry::Statistic(t) = e {
                out.push((name.to_string(), t.shallow_clone()));
            }
        });
        out
    }

    /// Training-mode forward. The leading run of frozen stages runs under
    /// `no_grad` (no graph is built for it); a frozen stage's BatchNorm uses
    /// running statistics when `hold_frozen_bn`, batch statistics otherwise.
    pub fn forward_train(&self, x: &Tensor) -> Tensor {
        let frozen_prefix = self
            .stages
            .iter()
            .take_while(|s| !s.trainable.get())
            .count();
        let bn_train = |s: &StageModule| s.trainable.get() || !self.hold_frozen_bn;
        let mut h = tch::no_grad(|| {
            let mut h = x.shallow_clone();
            for s in &self.stages[..frozen_prefix] {
                h = s.forward(&h, bn_train(s));
            }
            h
        });
        for s in &self.stages[frozen_prefix..] {
            h = s.forward(&h, bn_train(s));
        }
        self.fc.forward(&h)
    }

    /// Eval-mode forward (running statistics everywhere), without a graph.
    pub fn forward_eval(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let mut h = x.shallow_clone();
            for s in &self.stages {
                h = s.forward(&h, false);
            }
            self.fc.forward(&h)
        })
    }

    /// A deep copy of all weights and BatchNorm state.
    pub fn snapshot(&self) -> Snapshot {
        let mut snap = Snapshot {
            tensors: Vec::new(),
            counts: Vec::new(),
        };
        tch::no_grad(|| {
            self.visit(&mut |_, e| match e {
                Entry::Parameter(t) | Entry::Statistic(t) => snap.tensors.push(t.detach().copy()),
                Entry::Counter(c) => snap.counts.push(c.get()),
            })
        });
        snap
    }

    /// Puts back what [`Self::snapshot`] took.
    pub fn restore(&self, snap: &Snapshot) {
        let (mut tensors, mut counts) = (snap.tensors.iter(), snap.counts.iter());
        tch::no_grad(|| {
            self.visit(&mut |_, e| match e {
                Entry::Parameter(t) | Entry::Statistic(t) => {
                    let src = tensors.next().expect("a snapshot of this model");
                    t.shallow_clone().copy_(src);
                }
                Entry::Counter(c) => c.set(*counts.next().expect("a snapshot of this model")),
            })
        });
    }
}

/// Saved weights and BatchNorm state of a [`ResNet18`].
pub struct Snapshot {
    tensors: Vec<Tensor>,
    counts: Vec<i64>,
}
