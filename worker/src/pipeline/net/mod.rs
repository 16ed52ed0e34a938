//! The networks a trial trains — ResNet18 (stem, layer1..layer4, `fc`) and
//! MobileNetV2 (`features.0`..`features.18`, `classifier.1`) — written out by
//! hand, block by block, with torchvision's layout and parameter names, so
//! that each block can be frozen, a frozen block's BatchNorm can be held in
//! eval mode, and each block's parameters can go into their own optimizer
//! group. (tch's built-in models are opaque closures and can do none of this.)
//!
//! - [`layers`]: conv, BatchNorm, the head; forward passes;
//!   [`max_pool`]: the stem's max pool, faster than libtorch's on NCHW;
//!   [`derived`]: matrices built from frozen weights, kept while unchanged.
//! - [`resnet`], [`mobilenet`]: each architecture's blocks and layout, built
//!   once from shapes; [`stages`]: a backbone as a list of freezable blocks.
//! - [`names`]: the one walk that names every tensor as torchvision does.
//! - [`state_dict`]: torchvision state dicts in and out.
//!
//! This file: the model's API (construction, freezing, forward, snapshots).

pub mod batch_norm;
pub mod derived;
pub mod layers;
pub mod layout;
pub mod max_pool;
pub mod mobilenet;
pub mod names;
pub mod resnet;
mod shim;
pub mod stages;
pub mod state_dict;

use crate::pipeline::rng::{position, stream, stream_at, Stream, StreamRng};
use layers::{Init, Linear};
pub use layout::Layout;
use names::Entry;
use stages::StageModule;
use sweep_proto::trial::{Model, Stage};
use tch::Tensor;

pub use state_dict::StateDictError;

/// Width of the feature vector that enters `model`'s head.
pub fn features(model: Model) -> i64 {
    match model {
        Model::Resnet18 => resnet::FEATURES,
        Model::MobilenetV2 => mobilenet::FEATURES,
    }
}

/// Dropout before `model`'s head while training (torchvision's).
fn head_dropout(model: Model) -> f64 {
    match model {
        Model::Resnet18 => 0.0,
        Model::MobilenetV2 => mobilenet::DROPOUT,
    }
}

/// How the head (`fc` / `classifier.1`) is made when weights are loaded.
#[derive(Debug, Clone, Copy)]
pub enum Head {
    /// Use the state dict's head as it is (any class count).
    Keep,
    /// Drop the state dict's head and make a new one of `classes` outputs, initialised
    /// like torch's `nn.Linear` from `seed`.
    Fresh { classes: i64, seed: u64 },
}

/// A network as its backbone stages plus a linear head.
pub struct Net {
    model: Model,
    stages: Vec<StageModule>,
    pub head: Linear,
    /// Frozen stages keep their BatchNorm in eval mode while training.
    pub hold_frozen_bn: bool,
    /// The head's dropout draws ([`Self::seed_dropout`]).
    dropout_rng: std::cell::RefCell<StreamRng>,
    /// How activations are laid out between stages ([`Self::set_layout`]).
    layout: Layout,
}

impl Net {
    fn assemble(model: Model, init: Init, head: Linear) -> Self {
        Self {
            model,
            stages: stages::backbone(model, init),
            head,
            hold_frozen_bn: false,
            dropout_rng: std::cell::RefCell::new(stream(0, Stream::Dropout)),
            layout: Layout::Nchw,
        }
    }

    /// Lays out every stage's input (after the first) as `layout`: the same
    /// values, other kernels (so results may differ in the last digits).
    pub fn set_layout(&mut self, layout: Layout) {
        self.layout = layout;
    }

    /// How activations are laid out.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Stages `range` on `x` in order, each input in the net's layout; `train`:
    /// BatchNorm as in training ([`Self::bn_train`]), else eval mode.
    fn run_stages(&self, range: std::ops::Range<usize>, x: &Tensor, train: bool) -> Tensor {
        let first = range.start;
        self.stages[range]
            .iter()
            .enumerate()
            .fold(x.shallow_clone(), |h, (i, s)| {
                let h = if first + i == 0 {
                    h
                } else {
                    self.layout.apply(&h)
                };
                s.forward(&h, train && self.bn_train(s))
            })
    }

    /// torchvision's initialisation (kaiming-normal fan-out convs, BN 1/0)
    /// from tch's global generator (seed it first), an `nn.Linear` head from
    /// `seed`. Every stage trains.
    pub fn random(model: Model, classes: i64, seed: u64) -> Self {
        let head = Linear::fresh(classes, features(model), seed);
        let net = Self::assemble(model, Init::Kaiming, head);
        net.set_trainable(&[Stage::All]);
        net.seed_dropout(seed, 0);
        net
    }

    /// Which architecture this is.
    pub fn model(&self) -> Model {
        self.model
    }

    /// Makes exactly `stages` (plus the head, always) trainable; every other
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
        vec![
            self.head.weight.shallow_clone(),
            self.head.bias.shallow_clone(),
        ]
    }

    /// The head on the last stage's features (`train`: with its dropout,
    /// drawn from the dropout stream).
    pub fn head_forward(&self, features: &Tensor, train: bool) -> Tensor {
        let p = head_dropout(self.model);
        let keep = (train && p > 0.0).then(|| {
            let size = features.size();
            layers::dropout_mask(&mut *self.dropout_rng.borrow_mut(), size[0], size[1], p)
        });
        self.head.forward(features, keep.as_ref())
    }

    /// Starts the head's dropout stream for a trial seeded `seed`, at
    /// `position` (0 for a fresh trial; where a snapshot left it).
    pub fn seed_dropout(&self, seed: u64, position: u128) {
        *self.dropout_rng.borrow_mut() = stream_at(seed, Stream::Dropout, position);
    }

    /// Where the head's dropout stream stands.
    pub fn dropout_position(&self) -> u128 {
        position(&self.dropout_rng.borrow())
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
        self.suffix_forward_train(&self.prefix_forward_train(x))
    }

    /// How many stages lead the backbone frozen now (0 when the first
    /// trains; every stage in a head-only phase).
    pub fn frozen_prefix(&self) -> usize {
        self.stages
            .iter()
            .take_while(|s| !s.trainable.get())
            .count()
    }

    fn bn_train(&self, s: &StageModule) -> bool {
        s.trainable.get() || !self.hold_frozen_bn
    }

    /// The first part of [`Self::forward_train`]: the frozen prefix's
    /// output of `x`, without a graph.
    pub fn prefix_forward_train(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| self.run_stages(0..self.frozen_prefix(), x, true))
    }

    /// The rest of [`Self::forward_train`]: the stages after the frozen
    /// prefix and the head, on the prefix's output `h`.
    pub fn suffix_forward_train(&self, h: &Tensor) -> Tensor {
        let h = self.run_stages(self.frozen_prefix()..self.stages.len(), h, true);
        self.head_forward(&h, true)
    }

    /// Eval-mode outputs of the first `stages` stages (no graph): with
    /// [`Self::suffix_forward_eval`], the same as [`Self::forward_eval`].
    pub fn prefix_forward_eval(&self, stages: usize, x: &Tensor) -> Tensor {
        tch::no_grad(|| self.run_stages(0..stages, x, false))
    }

    /// Eval-mode logits from the output `h` of the first `stages` stages.
    pub fn suffix_forward_eval(&self, stages: usize, h: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let h = self.run_stages(stages..self.stages.len(), h, false);
            self.head_forward(&h, false)
        })
    }

    /// The BatchNorm running statistics and counters of the first `stages`
    /// stages: all that a training pass changes in a frozen prefix.
    pub fn prefix_statistics(&self, stages: usize) -> Snapshot {
        let mut snap = Snapshot {
            tensors: Vec::new(),
            counts: Vec::new(),
        };
        tch::no_grad(|| {
            for s in &self.stages[..stages] {
                s.visit(&mut |_, e| match e {
                    Entry::Parameter(_) => {}
                    Entry::Statistic(t) => snap.tensors.push(t.detach().copy()),
                    Entry::Counter(c) => snap.counts.push(c.get()),
                });
            }
        });
        snap
    }

    /// Puts back what [`Self::prefix_statistics`] took, if it is a
    /// snapshot of this model's first `stages` stages (else false, nothing
    /// changed).
    pub fn restore_prefix_statistics(&self, stages: usize, snap: &Snapshot) -> bool {
        let like = self.prefix_statistics(stages);
        let fits = like.counts.len() == snap.counts.len()
            && like.tensors.len() == snap.tensors.len()
            && like
                .tensors
                .iter()
                .zip(&snap.tensors)
                .all(|(a, b)| a.size() == b.size() && a.kind() == b.kind());
        if !fits {
            return false;
        }
        let (mut tensors, mut counts) = (snap.tensors.iter(), snap.counts.iter());
        tch::no_grad(|| {
            for s in &self.stages[..stages] {
                s.visit(&mut |_, e| match e {
                    Entry::Parameter(_) => {}
                    Entry::Statistic(t) => {
                        t.shallow_clone().copy_(tensors.next().expect("checked"));
                    }
                    Entry::Counter(c) => c.set(*counts.next().expect("checked")),
                });
            }
        });
        true
    }

    /// SHA-256 (hex) of everything in the first `stages` stages (weights,
    /// statistics, counters), with the architecture: two prefixes with the
    /// same digest compute the same outputs.
    pub fn prefix_digest(&self, stages: usize) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.model.to_string().as_bytes());
        h.update((stages as u64).to_le_bytes());
        for s in &self.stages[..stages] {
            s.visit(&mut |name, e| {
                h.update(name.as_bytes());
                match e {
                    Entry::Parameter(t) | Entry::Statistic(t) => {
                        let t = t.detach().contiguous();
                        let numel = t.numel();
                        let mut bytes = vec![0u8; numel * t.kind().elt_size_in_bytes()];
                        t.copy_data_u8(&mut bytes, numel);
                        h.update(&bytes);
                    }
                    Entry::Counter(c) => h.update(c.get().to_le_bytes()),
                }
            });
        }
        hex::encode(h.finalize())
    }

    /// Eval-mode forward (running statistics everywhere), without a graph.
    pub fn forward_eval(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| self.head_forward(&self.last_features(x), false))
    }

    /// Every stage's output of `x` in eval mode, in forward order (no graph).
    pub fn stage_outputs(&self, x: &Tensor) -> Vec<(Stage, Tensor)> {
        tch::no_grad(|| {
            let mut h = x.shallow_clone();
            (0..self.stages.len())
                .map(|i| {
                    h = self.run_stages(i..i + 1, &h, false);
                    (self.stages[i].stage, h.shallow_clone())
                })
                .collect()
        })
    }

    /// Eval-mode logits from `stage`'s output `h`: the stages after it, then
    /// the head (with a graph, for gradients with respect to `h`).
    pub fn logits_after(&self, stage: Stage, h: &Tensor) -> Tensor {
        let after = self
            .stages
            .iter()
            .position(|s| s.stage == stage)
            .map_or(self.stages.len(), |i| i + 1);
        let h = self.run_stages(after..self.stages.len(), h, false);
        self.head_forward(&h, false)
    }

    /// The last stage's feature maps of `x` in eval mode (no graph).
    pub fn last_features(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| self.run_stages(0..self.stages.len(), x, false))
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

/// Saved weights and BatchNorm state of a [`Net`].
pub struct Snapshot {
    tensors: Vec<Tensor>,
    counts: Vec<i64>,
}

impl Snapshot {
    /// The same snapshot, sharing its tensors' storage (nothing is copied).
    pub fn share(&self) -> Snapshot {
        Snapshot {
            tensors: self.tensors.iter().map(Tensor::shallow_clone).collect(),
            counts: self.counts.clone(),
        }
    }

    /// Its contents as named tensors for a file: `{prefix}.{i}` in the
    /// model's walk order, and the BatchNorm counters as one int64 tensor
    /// `{prefix}.counts`.
    pub fn to_named(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut named: Vec<(String, Tensor)> = self
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("{prefix}.{i}"), t.contiguous()))
            .collect();
        named.push((format!("{prefix}.counts"), Tensor::from_slice(&self.counts)));
        named
    }

    /// What [`Self::to_named`] wrote, if `named` holds a whole snapshot of
    /// `model` (every tensor, each of the model's shape and kind).
    pub fn from_named(
        model: &Net,
        named: &std::collections::HashMap<String, Tensor>,
        prefix: &str,
    ) -> Option<Snapshot> {
        Self::from_named_like(&model.snapshot(), named, prefix)
    }

    /// What [`Self::to_named`] wrote of [`Net::prefix_statistics`]`(stages)`.
    pub fn from_named_statistics(
        model: &Net,
        stages: usize,
        named: &std::collections::HashMap<String, Tensor>,
        prefix: &str,
    ) -> Option<Snapshot> {
        Self::from_named_like(&model.prefix_statistics(stages), named, prefix)
    }

    fn from_named_like(
        like: &Snapshot,
        named: &std::collections::HashMap<String, Tensor>,
        prefix: &str,
    ) -> Option<Snapshot> {
        let counts_tensor = named.get(&format!("{prefix}.counts"))?;
        let counts = Vec::<i64>::try_from(counts_tensor).ok()?;
        if counts.len() != like.counts.len() {
            return None;
        }
        let mut tensors = Vec::with_capacity(like.tensors.len());
        for (i, want) in like.tensors.iter().enumerate() {
            let t = named.get(&format!("{prefix}.{i}"))?;
            if t.size() != want.size() || t.kind() != want.kind() {
                return None;
            }
            tensors.push(t.shallow_clone());
        }
        Some(Snapshot { tensors, counts })
    }
}
