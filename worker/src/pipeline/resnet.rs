//! ResNet18 written out by hand, stage by stage (stem, layer1..layer4, fc), with
//! torchvision's layout and parameter names, so that each stage can be frozen,
//! a frozen stage's BatchNorm can be held in eval mode, and each stage's
//! parameters can go into their own optimizer group. (tch's built-in resnet is
//! one opaque closure and can do none of this.)

use super::rng::{stream, Stream};
use anyhow::{bail, Context, Result};
use rand::Rng;
use std::cell::Cell;
use std::collections::HashMap;
use sweep_proto::trial::Stage;
use tch::{Kind, Tensor};

/// Width of the feature vector that enters `fc`.
pub const FEATURES: i64 = 512;
const BN_MOMENTUM: f64 = 0.1;
const BN_EPS: f64 = 1e-5;

/// A bias-free 2-D convolution (every conv of ResNet18 is one).
pub struct Conv2d {
    pub weight: Tensor,
    stride: i64,
    padding: i64,
}

impl Conv2d {
    fn forward(&self, x: &Tensor) -> Tensor {
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
    /// `update_stats`: train mode (batch statistics, running stats updated in
    /// place); otherwise eval mode (running statistics).
    fn forward(&self, x: &Tensor, update_stats: bool) -> Tensor {
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

/// torchvision's `BasicBlock`.
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    downsample: Option<(Conv2d, BatchNorm2d)>,
}

impl BasicBlock {
    fn forward(&self, x: &Tensor, bn_train: bool) -> Tensor {
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

enum Body {
    /// conv1 + bn1 + relu + maxpool.
    Stem { conv1: Conv2d, bn1: BatchNorm2d },
    /// Two `BasicBlock`s.
    Layer(Vec<BasicBlock>),
}

/// One backbone stage and whether it trains.
pub struct StageModule {
    pub stage: Stage,
    body: Body,
    trainable: Cell<bool>,
}

impl StageModule {
    fn forward(&self, x: &Tensor, bn_train: bool) -> Tensor {
        match &self.body {
            Body::Stem { conv1, bn1 } => {
                let mut y = bn1.forward(&conv1.forward(x), bn_train);
                let _ = y.relu_();
                y.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false)
            }
            Body::Layer(blocks) => {
                let mut h = blocks[0].forward(x, bn_train);
                for b in &blocks[1..] {
                    h = b.forward(&h, bn_train);
                }
                h
            }
        }
    }

    /// (torchvision name, tensor) of every parameter and buffer, in
    /// state-dict order; `num_batches_tracked` is left out (not a tensor here).
    fn named(&self, out: &mut Vec<(String, Tensor, bool)>) {
        let conv = |out: &mut Vec<_>, name: String, c: &Conv2d| {
            out.push((format!("{name}.weight"), c.weight.shallow_clone(), true));
        };
        let bn = |out: &mut Vec<_>, name: String, b: &BatchNorm2d| {
            out.push((format!("{name}.weight"), b.weight.shallow_clone(), true));
            out.push((format!("{name}.bias"), b.bias.shallow_clone(), true));
            out.push((
                format!("{name}.running_mean"),
                b.running_mean.shallow_clone(),
                false,
            ));
            out.push((
                format!("{name}.running_var"),
                b.running_var.shallow_clone(),
                false,
            ));
        };
        match &self.body {
            Body::Stem { conv1, bn1 } => {
                conv(out, "conv1".into(), conv1);
                bn(out, "bn1".into(), bn1);
            }
            Body::Layer(blocks) => {
                let stage = self.stage.name();
                for (i, b) in blocks.iter().enumerate() {
                    let p = format!("{stage}.{i}");
                    conv(out, format!("{p}.conv1"), &b.conv1);
                    bn(out, format!("{p}.bn1"), &b.bn1);
                    conv(out, format!("{p}.conv2"), &b.conv2);
                    bn(out, format!("{p}.bn2"), &b.bn2);
                    if let Some((c, n)) = &b.downsample {
                        conv(out, format!("{p}.downsample.0"), c);
                        bn(out, format!("{p}.downsample.1"), n);
                    }
                }
            }
        }
    }

    fn batch_norms(&self) -> Vec<(String, &BatchNorm2d)> {
        match &self.body {
            Body::Stem { bn1, .. } => vec![("bn1".into(), bn1)],
            Body::Layer(blocks) => {
                let stage = self.stage.name();
                let mut v = Vec::new();
                for (i, b) in blocks.iter().enumerate() {
                    v.push((format!("{stage}.{i}.bn1"), &b.bn1));
                    v.push((format!("{stage}.{i}.bn2"), &b.bn2));
                    if let Some((_, n)) = &b.downsample {
                        v.push((format!("{stage}.{i}.downsample.1"), n));
                    }
                }
                v
            }
        }
    }

    /// The trainable tensors (conv and BN weights/biases) of this stage.
    pub fn parameters(&self) -> Vec<Tensor> {
        let mut all = Vec::new();
        self.named(&mut all);
        all.into_iter()
            .filter(|(_, _, p)| *p)
            .map(|(_, t, _)| t)
            .collect()
    }
}

/// The classifier head.
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

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

/// (name, out channels, stride of the first block) of layer1..layer4.
const LAYERS: [(Stage, i64, i64); 4] = [
    (Stage::Layer1, 64, 1),
    (Stage::Layer2, 128, 2),
    (Stage::Layer3, 256, 2),
    (Stage::Layer4, 512, 2),
];

/// Builds the module tree, asking `make(name, shape)` for every tensor.
fn build(mut make: impl FnMut(&str, &[i64]) -> Result<Tensor>) -> Result<Vec<StageModule>> {
    let mut conv = |name: &str, cin: i64, cout: i64, k: i64, stride: i64| -> Result<Conv2d> {
        Ok(Conv2d {
            weight: make(&format!("{name}.weight"), &[cout, cin, k, k])?,
            stride,
            padding: k / 2,
        })
    };
    let mut convs = Vec::new();
    // Two passes keep the borrow checker happy: convs first, then BNs.
    convs.push(conv("conv1", 3, 64, 7, 2)?);
    let mut cin = 64;
    for (stage, cout, stride) in LAYERS {
        for i in 0..2 {
            let p = format!("{}.{i}", stage.name());
            let s = if i == 0 { stride } else { 1 };
            let c_in = if i == 0 { cin } else { cout };
            convs.push(conv(&format!("{p}.conv1"), c_in, cout, 3, s)?);
            convs.push(conv(&format!("{p}.conv2"), cout, cout, 3, 1)?);
            if i == 0 && (s != 1 || c_in != cout) {
                convs.push(conv(&format!("{p}.downsample.0"), c_in, cout, 1, s)?);
            }
        }
        cin = cout;
    }
    let mut bn = |name: &str, c: i64| -> Result<BatchNorm2d> {
        Ok(BatchNorm2d {
            weight: make(&format!("{name}.weight"), &[c])?,
            bias: make(&format!("{name}.bias"), &[c])?,
            running_mean: make(&format!("{name}.running_mean"), &[c])?,
            running_var: make(&format!("{name}.running_var"), &[c])?,
            num_batches_tracked: Cell::new(0),
        })
    };
    let mut convs = convs.into_iter();
    let mut stages = vec![StageModule {
        stage: Stage::Stem,
        body: Body::Stem {
            conv1: convs.next().unwrap(),
            bn1: bn("bn1", 64)?,
        },
        trainable: Cell::new(false),
    }];
    let mut cin = 64;
    for (stage, cout, stride) in LAYERS {
        let mut blocks = Vec::new();
        for i in 0..2 {
            let p = format!("{}.{i}", stage.name());
            let c_in = if i == 0 { cin } else { cout };
            let s = if i == 0 { stride } else { 1 };
            let conv1 = convs.next().unwrap();
            let conv2 = convs.next().unwrap();
            let downsample = if i == 0 && (s != 1 || c_in != cout) {
                Some((
                    convs.next().unwrap(),
                    bn(&format!("{p}.downsample.1"), cout)?,
                ))
            } else {
                None
            };
            blocks.push(BasicBlock {
                conv1,
                bn1: bn(&format!("{p}.bn1"), cout)?,
                conv2,
                bn2: bn(&format!("{p}.bn2"), cout)?,
                downsample,
            });
        }
        stages.push(StageModule {
            stage,
            body: Body::Layer(blocks),
            trainable: Cell::new(false),
        });
        cin = cout;
    }
    Ok(stages)
}

/// A head initialised like torch's `nn.Linear`: weight and bias uniform in
/// ±1/√fan_in, drawn from the seed's head-init stream.
pub fn fresh_head(classes: i64, seed: u64) -> Linear {
    let mut rng = stream(seed, Stream::HeadInit);
    let bound = 1.0 / (FEATURES as f32).sqrt();
    let mut draw =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
    let w = draw((classes * FEATURES) as usize);
    let b = draw(classes as usize);
    Linear {
        weight: Tensor::from_slice(&w).reshape([classes, FEATURES]),
        bias: Tensor::from_slice(&b),
    }
}

impl ResNet18 {
    /// torchvision's initialisation (kaiming-normal fan-out convs, BN 1/0,
    /// nn.Linear head), from tch's global generator (seed it first).
    pub fn random(classes: i64, seed: u64) -> Self {
        let stages = build(|name, shape| {
            Ok(
                if name.ends_with("running_var")
                    || (name.contains("bn") || name.contains("downsample.1"))
                        && name.ends_with(".weight")
                {
                    Tensor::ones(shape, (Kind::Float, tch::Device::Cpu))
                } else if shape.len() == 4 {
                    let fan_out = shape[0] * shape[2] * shape[3];
                    Tensor::randn(shape, (Kind::Float, tch::Device::Cpu))
                        * (2.0 / fan_out as f64).sqrt()
                } else {
                    Tensor::zeros(shape, (Kind::Float, tch::Device::Cpu))
                },
            )
        })
        .expect("building from generated tensors cannot fail");
        let model = Self {
            stages,
            fc: fresh_head(classes, seed),
            hold_frozen_bn: false,
        };
        model.set_trainable(&Stage::BACKBONE);
        model
    }

    /// Builds the model from a torchvision-format state dict. Every backbone
    /// tensor must be there with torchvision's shape; `num_batches_tracked` may
    /// be absent (0) or any integer kind; float tensors of another precision
    /// are converted to f32. Unknown keys are refused (not a ResNet18).
    pub fn from_state_dict(mut sd: HashMap<String, Tensor>, head: Head) -> Result<Self> {
        let mut counts: HashMap<String, i64> = HashMap::new();
        let count_keys: Vec<String> = sd
            .keys()
            .filter(|k| k.ends_with(".num_batches_tracked"))
            .cloned()
            .collect();
        for k in count_keys {
            let t = sd.remove(&k).unwrap();
            let v = t.to_kind(Kind::Int64).int64_value(&[]);
            counts.insert(k.trim_end_matches(".num_batches_tracked").to_string(), v);
        }
        let stages = build(|name, shape| {
            let t = sd
                .remove(name)
                .with_context(|| format!("weights lack `{name}`"))?;
            if t.size() != shape {
                bail!("`{name}` has shape {:?}, ResNet18's is {shape:?}", t.size());
            }
            if !t.is_floating_point() {
                bail!("`{name}` is {:?}, expected floating point", t.kind());
            }
            Ok(t.to_kind(Kind::Float).detach().contiguous())
        })?;
        let fc_w = sd.remove("fc.weight");
        let fc_b = sd.remove("fc.bias");
        if let Some(unknown) = sd.keys().min() {
            bail!("weights hold `{unknown}`, which is not part of a torchvision ResNet18");
        }
        let fc = match head {
            Head::Fresh { classes, seed } => fresh_head(classes, seed),
            Head::Keep => {
                let (w, b) = match (fc_w, fc_b) {
                    (Some(w), Some(b)) => (w, b),
                    _ => bail!("weights lack `fc.weight` / `fc.bias`"),
                };
                if w.dim() != 2 || w.size()[1] != FEATURES || b.size() != [w.size()[0]] {
                    bail!(
                        "`fc.weight` {:?} / `fc.bias` {:?} do not fit 512 features",
                        w.size(),
                        b.size()
                    );
                }
                Linear {
                    weight: w.to_kind(Kind::Float).contiguous(),
                    bias: b.to_kind(Kind::Float).contiguous(),
                }
            }
        };
        let model = Self {
            stages,
            fc,
            hold_frozen_bn: false,
        };
        for s in &model.stages {
            for (name, bn) in s.batch_norms() {
                bn.num_batches_tracked
                    .set(counts.get(&name).copied().unwrap_or(0));
            }
        }
        model.set_trainable(&[]);
        Ok(model)
    }

    /// The state dict in torchvision's names and order, `num_batches_tracked`
    /// included (int64 scalars), ready for safetensors.
    pub fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for s in &self.stages {
            let mut named = Vec::new();
            s.named(&mut named);
            let counts: HashMap<String, i64> = s
                .batch_norms()
                .into_iter()
                .map(|(n, b)| (n, b.num_batches_tracked.get()))
                .collect();
            for (name, t, _) in named {
                let done_bn = name.strip_suffix(".running_var").map(str::to_string);
                out.push((name, t.detach()));
                if let Some(bn) = done_bn {
                    let n = counts[&bn];
                    out.push((format!("{bn}.num_batches_tracked"), Tensor::from(n)));
                }
            }
        }
        out.push(("fc.weight".into(), self.fc.weight.detach()));
        out.push(("fc.bias".into(), self.fc.bias.detach()));
        out
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
        let _ = self.fc.weight.set_requires_grad(true);
        let _ = self.fc.bias.set_requires_grad(true);
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

    /// (name, running_mean, running_var) of every BatchNorm in `stage`.
    pub fn bn_stats(&self, stage: Stage) -> Vec<(String, Tensor, Tensor)> {
        self.stage(stage)
            .batch_norms()
            .into_iter()
            .map(|(n, b)| {
                (
                    n,
                    b.running_mean.shallow_clone(),
                    b.running_var.shallow_clone(),
                )
            })
            .collect()
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
        self.head(&h)
    }

    /// Eval-mode forward (running statistics everywhere), without a graph.
    pub fn forward_eval(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let mut h = x.shallow_clone();
            for s in &self.stages {
                h = s.forward(&h, false);
            }
            self.head(&h)
        })
    }

    fn head(&self, h: &Tensor) -> Tensor {
        h.adaptive_avg_pool2d([1, 1])
            .flatten(1, -1)
            .linear(&self.fc.weight, Some(&self.fc.bias))
    }

    /// Every tensor of the model (parameters and buffers) in state-dict order.
    fn all_tensors(&self) -> Vec<Tensor> {
        let mut named = Vec::new();
        for s in &self.stages {
            s.named(&mut named);
        }
        let mut v: Vec<Tensor> = named.into_iter().map(|(_, t, _)| t).collect();
        v.extend(self.head_parameters());
        v
    }

    /// A deep copy of all weights and BatchNorm state.
    pub fn snapshot(&self) -> Snapshot {
        let tensors = tch::no_grad(|| {
            self.all_tensors()
                .iter()
                .map(|t| t.detach().copy())
                .collect()
        });
        let counts = self.counters().iter().map(|c| c.get()).collect();
        Snapshot { tensors, counts }
    }

    /// Puts back what [`Self::snapshot`] took.
    pub fn restore(&self, snap: &Snapshot) {
        tch::no_grad(|| {
            for (mut dst, src) in self.all_tensors().into_iter().zip(&snap.tensors) {
                dst.copy_(src);
            }
        });
        for (c, v) in self.counters().iter().zip(&snap.counts) {
            c.set(*v);
        }
    }

    fn counters(&self) -> Vec<&Cell<i64>> {
        self.stages
            .iter()
            .flat_map(|s| {
                s.batch_norms()
                    .into_iter()
                    .map(|(_, b)| &b.num_batches_tracked)
            })
            .collect()
    }
}

/// Saved weights and BatchNorm state of a [`ResNet18`].
pub struct Snapshot {
    tensors: Vec<Tensor>,
    counts: Vec<i64>,
}
