//! torchvision-format state dicts in and out of a [`Net`], by the names
//! [`super::names`] gives: loading checks every tensor's presence, shape and
//! kind and refuses keys the architecture does not have.

use super::layers::{Init, Linear};
use super::names::{head_names, Entry};
use super::{features, Head, Net};
use std::collections::HashMap;
use sweep_proto::trial::Model;
use tch::{Kind, Tensor};

/// Why a state dict is not a torchvision network of the expected kind.
#[derive(Debug, thiserror::Error)]
pub enum StateDictError {
    #[error("weights lack `{0}`{hint}", hint = hint(.0))]
    Missing(String),
    #[error("`{name}` has shape {found:?}, the model's is {expected:?}")]
    Shape {
        name: String,
        found: Vec<i64>,
        expected: Vec<i64>,
    },
    #[error("`{name}` is {kind:?}, expected floating point")]
    NotFloat { name: String, kind: Kind },
    #[error("`{name}` is not an integer scalar")]
    Counter {
        name: String,
        #[source]
        source: tch::TchError,
    },
    #[error("weights hold `{name}`, which is not part of a torchvision {model}")]
    Unknown { name: String, model: Model },
    #[error("the head {weight:?} / {bias:?} does not fit {features} features")]
    Head {
        weight: Vec<i64>,
        bias: Vec<i64>,
        features: i64,
    },
}

/// A missing tensor often means the file holds the other architecture.
fn hint(name: &str) -> &'static str {
    match name.split('.').next() {
        Some("features" | "classifier") => " (is this a resnet18 file? set `model: resnet18`)",
        Some("conv1" | "bn1" | "layer1" | "layer2" | "layer3" | "layer4" | "fc") => {
            " (is this a mobilenet_v2 file? set `model: mobilenet_v2`)"
        }
        _ => "",
    }
}

/// The head a state dict describes (any class count), zeros for now.
fn kept_head(model: Model, sd: &HashMap<String, Tensor>) -> Result<Linear, StateDictError> {
    let (weight, bias) = head_names(model);
    let (w, b) = match (sd.get(weight), sd.get(bias)) {
        (Some(w), Some(b)) => (w, b),
        (None, _) => return Err(StateDictError::Missing(weight.into())),
        (_, None) => return Err(StateDictError::Missing(bias.into())),
    };
    let n = features(model);
    if w.dim() != 2 || w.size()[1] != n || b.size() != [w.size()[0]] {
        return Err(StateDictError::Head {
            weight: w.size(),
            bias: b.size(),
            features: n,
        });
    }
    Ok(Linear::zeros(w.size()[0], n))
}

/// Takes `name` out of `sd` and copies it into `dst`, checking shape and kind.
fn load_tensor(
    sd: &mut HashMap<String, Tensor>,
    name: &str,
    dst: &Tensor,
) -> Result<(), StateDictError> {
    let src = sd
        .remove(name)
        .ok_or_else(|| StateDictError::Missing(name.into()))?;
    if src.size() != dst.size() {
        return Err(StateDictError::Shape {
            name: name.into(),
            found: src.size(),
            expected: dst.size(),
        });
    }
    if !src.is_floating_point() {
        return Err(StateDictError::NotFloat {
            name: name.into(),
            kind: src.kind(),
        });
    }
    tch::no_grad(|| dst.shallow_clone().copy_(&src));
    Ok(())
}

/// Takes `name` out of `sd` (absent means 0) as an integer.
fn load_counter(sd: &mut HashMap<String, Tensor>, name: &str) -> Result<i64, StateDictError> {
    match sd.remove(name) {
        None => Ok(0),
        Some(t) => {
            t.to_kind(Kind::Int64)
                .f_int64_value(&[])
                .map_err(|source| StateDictError::Counter {
                    name: name.into(),
                    source,
                })
        }
    }
}

impl Net {
    /// Builds a `model` from a torchvision-format state dict. Every backbone
    /// tensor must be there with torchvision's shape; `num_batches_tracked` may
    /// be absent (0) or any integer kind; float tensors of another precision
    /// are converted to f32. Unknown keys are refused (not that
    /// architecture). All stages start frozen.
    pub fn from_state_dict(
        model: Model,
        mut sd: HashMap<String, Tensor>,
        head: Head,
    ) -> Result<Self, StateDictError> {
        let (head_weight, head_bias) = head_names(model);
        let linear = match head {
            Head::Keep => kept_head(model, &sd)?,
            Head::Fresh { classes, seed } => {
                sd.remove(head_weight);
                sd.remove(head_bias);
                Linear::fresh(classes, features(model), seed)
            }
        };
        let keep_head = matches!(head, Head::Keep);
        let net = Self::assemble(model, Init::Zeros, linear);
        let mut failed = None;
        net.visit(&mut |name, entry| {
            if failed.is_some() || (!keep_head && (name == head_weight || name == head_bias)) {
                return;
            }
            let loaded = match entry {
                Entry::Parameter(t) | Entry::Statistic(t) => load_tensor(&mut sd, name, t),
                Entry::Counter(c) => load_counter(&mut sd, name).map(|n| c.set(n)),
            };
            failed = loaded.err();
        });
        if let Some(e) = failed {
            return Err(e);
        }
        if let Some(unknown) = sd.keys().min() {
            return Err(StateDictError::Unknown {
                name: unknown.clone(),
                model,
            });
        }
        net.set_trainable(&[]);
        Ok(net)
    }

    /// The state dict in torchvision's names and order, `num_batches_tracked`
    /// included (int64 scalars), ready for safetensors.
    pub fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        self.visit(&mut |name, entry| {
            let t = match entry {
                Entry::Parameter(t) | Entry::Statistic(t) => t.detach(),
                Entry::Counter(c) => Tensor::from(c.get()),
            };
            out.push((name.to_string(), t));
        });
        out
    }
}
