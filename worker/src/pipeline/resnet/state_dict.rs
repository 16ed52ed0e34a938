//! torchvision-format state dicts in and out of a [`ResNet18`], by the names
//! [`super::names`] gives: loading checks every tensor's presence, shape and
//! kind and refuses keys a ResNet18 does not have.

use super::layers::{Init, Linear, FEATURES};
use super::names::{Entry, HEAD_BIAS, HEAD_WEIGHT};
use super::{Head, ResNet18};
use std::collections::HashMap;
use tch::{Kind, Tensor};

/// Why a state dict is not a torchvision ResNet18.
#[derive(Debug, thiserror::Error)]
pub enum StateDictError {
    #[error("weights lack `{0}`")]
    Missing(String),
    #[error("`{name}` has shape {found:?}, ResNet18's is {expected:?}")]
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
    #[error("weights hold `{0}`, which is not part of a torchvision ResNet18")]
    Unknown(String),
    #[error("`{HEAD_WEIGHT}` {weight:?} / `{HEAD_BIAS}` {bias:?} do not fit {FEATURES} features")]
    Head { weight: Vec<i64>, bias: Vec<i64> },
}

/// The head a state dict's `fc.*` describes (any class count), zeros for now.
fn kept_head(sd: &HashMap<String, Tensor>) -> Result<Linear, StateDictError> {
    let (w, b) = match (sd.get(HEAD_WEIGHT), sd.get(HEAD_BIAS)) {
        (Some(w), Some(b)) => (w, b),
        (None, _) => return Err(StateDictError::Missing(HEAD_WEIGHT.into())),
        (_, None) => return Err(StateDictError::Missing(HEAD_BIAS.into())),
    };
    if w.dim() != 2 || w.size()[1] != FEATURES || b.size() != [w.size()[0]] {
        return Err(StateDictError::Head {
            weight: w.size(),
            bias: b.size(),
        });
    }
    Ok(Linear::zeros(w.size()[0]))
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

impl ResNet18 {
    /// Builds the model from a torchvision-format state dict. Every backbone
    /// tensor must be there with torchvision's shape; `num_batches_tracked` may
    /// be absent (0) or any integer kind; float tensors of another precision
    /// are converted to f32. Unknown keys are refused (not a ResNet18). All
    /// stages start frozen.
    pub fn from_state_dict(
        mut sd: HashMap<String, Tensor>,
        head: Head,
    ) -> Result<Self, StateDictError> {
        let fc = match head {
            Head::Keep => kept_head(&sd)?,
            Head::Fresh { classes, seed } => {
                sd.remove(HEAD_WEIGHT);
                sd.remove(HEAD_BIAS);
                Linear::fresh(classes, seed)
            }
        };
        let keep_head = matches!(head, Head::Keep);
        let model = Self::assemble(Init::Zeros, fc);
        let mut failed = None;
        model.visit(&mut |name, entry| {
            if failed.is_some() || (!keep_head && (name == HEAD_WEIGHT || name == HEAD_BIAS)) {
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
            return Err(StateDictError::Unknown(unknown.clone()));
        }
        model.set_trainable(&[]);
        Ok(model)
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
