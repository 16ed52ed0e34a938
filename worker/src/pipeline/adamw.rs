//! AdamW over parameter groups, each step one call per group into libtorch's
//! fused kernel (`at::_fused_adamw_`, via the C++ shim in `fused_adamw.cpp`),
//! the same math as `torch.optim.AdamW(fused=True)`. tch's `COptimizer` runs
//! libtorch's op-by-op AdamW instead, which on CPU costs about as much as the
//! backward pass of `layer4` itself.

use std::ffi::{c_char, c_int, CStr};
use tch::{Kind, Tensor};

extern "C" {
    fn sweep_fused_adamw(
        params: *const *const torch_sys::C_tensor,
        grads: *const *const torch_sys::C_tensor,
        exp_avgs: *const *const torch_sys::C_tensor,
        exp_avg_sqs: *const *const torch_sys::C_tensor,
        steps: *const *const torch_sys::C_tensor,
        n: usize,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn sweep_clear_grads(params: *const *const torch_sys::C_tensor, n: usize);
}

/// libtorch refused a fused AdamW step (its message).
#[derive(Debug, thiserror::Error)]
#[error("fused AdamW step failed: {0}")]
pub struct StepError(pub String);

/// AdamW's hyperparameters other than the learning rate.
#[derive(Debug, Clone, Copy)]
pub struct AdamWHyper {
    pub beta1: f64,
    pub beta2: f64,
    pub weight_decay: f64,
    pub eps: f64,
}

/// One parameter with its moment estimates and step count.
struct Slot {
    param: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    /// f32 scalar, as torch keeps `state["step"]` for the fused kernel.
    step: Tensor,
}

struct Group {
    lr: f64,
    slots: Vec<Slot>,
}

/// AdamW with groups of parameters, each at its own learning rate.
pub struct FusedAdamW {
    hyper: AdamWHyper,
    groups: Vec<Group>,
}

impl FusedAdamW {
    pub fn new(hyper: AdamWHyper) -> Self {
        Self {
            hyper,
            groups: Vec::new(),
        }
    }

    /// Adds a group; returns its index.
    pub fn add_group(&mut self, params: &[Tensor], lr: f64) -> usize {
        let slots = params
            .iter()
            .map(|p| Slot {
                param: p.shallow_clone(),
                exp_avg: p.detach().zeros_like(),
                exp_avg_sq: p.detach().zeros_like(),
                step: Tensor::zeros([], (Kind::Float, p.device())),
            })
            .collect();
        self.groups.push(Group { lr, slots });
        self.groups.len() - 1
    }

    pub fn set_lr(&mut self, group: usize, lr: f64) {
        self.groups[group].lr = lr;
    }

    pub fn lr(&self, group: usize) -> f64 {
        self.groups[group].lr
    }

    /// Drops every gradient (as `zero_grad(set_to_none=True)`, torch's
    /// default): the next backward's gradients are handed over, not added
    /// into zeros. Every parameter of a group is used by every forward here,
    /// so each still gets a gradient and a step, with the same values as
    /// after zeroing (`0 + g` is `g`; only the sign of a zero could differ,
    /// and AdamW's moments and update cannot tell them apart).
    pub fn zero_grad(&mut self) {
        let params: Vec<*const torch_sys::C_tensor> = self
            .groups
            .iter()
            .flat_map(|g| &g.slots)
            .map(|s| s.param.as_ptr())
            .collect();
        // SAFETY: every pointer is a live at::Tensor owned by `self.groups`
        // for the call; the shim only resets each one's gradient.
        unsafe { sweep_clear_grads(params.as_ptr(), params.len()) };
    }

    /// One AdamW step for every parameter that has a gradient.
    pub fn step(&mut self) -> Result<(), StepError> {
        let h = self.hyper;
        for group in &mut self.groups {
            let live: Vec<(&mut Slot, Tensor)> = group
                .slots
                .iter_mut()
                .filter_map(|s| {
                    let g = s.param.grad();
                    g.defined().then_some((s, g))
                })
                .collect();
            if live.is_empty() {
                continue;
            }
            let mut ptrs: [Vec<*const torch_sys::C_tensor>; 5] = Default::default();
            for (slot, grad) in &live {
                tch::no_grad(|| {
                    let _ = slot.step.shallow_clone().g_add_scalar_(1.0);
                });
                ptrs[0].push(slot.param.as_ptr());
                ptrs[1].push(grad.as_ptr());
                ptrs[2].push(slot.exp_avg.as_ptr());
                ptrs[3].push(slot.exp_avg_sq.as_ptr());
                ptrs[4].push(slot.step.as_ptr());
            }
            let mut err = [0 as c_char; 512];
            // SAFETY: every pointer is a live at::Tensor owned by `live` or
            // `group.slots`, which outlive the call; the shim only reads the
            // arrays (n entries each) and writes at most err.len() bytes.
            let rc = unsafe {
                sweep_fused_adamw(
                    ptrs[0].as_ptr(),
                    ptrs[1].as_ptr(),
                    ptrs[2].as_ptr(),
                    ptrs[3].as_ptr(),
                    ptrs[4].as_ptr(),
                    live.len(),
                    group.lr,
                    h.beta1,
                    h.beta2,
                    h.weight_decay,
                    h.eps,
                    err.as_mut_ptr(),
                    err.len(),
                )
            };
            if rc != 0 {
                // SAFETY: the shim NUL-terminates what it wrote (snprintf).
                let msg = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy();
                return Err(StepError(msg.into_owned()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps by hand: gradient g each time, decoupled decay, bias correction.
    #[test]
    fn matches_adamw_by_hand() {
        let p = Tensor::from_slice(&[1.0f32, -2.0, 0.5]).set_requires_grad(true);
        let hyper = AdamWHyper {
            beta1: 0.9,
            beta2: 0.999,
            weight_decay: 0.1,
            eps: 1e-8,
        };
        let mut opt = FusedAdamW::new(hyper);
        let g = opt.add_group(&[p.shallow_clone()], 1e-2);
        let grad = [0.5f64, -1.0, 2.0];
        let mut want: Vec<f64> = vec![1.0, -2.0, 0.5];
        let (mut m, mut v) = (vec![0.0; 3], vec![0.0; 3]);
        for t in 1..=2 {
            opt.zero_grad();
            let loss = (&p * Tensor::from_slice(&grad.map(|x| x as f32))).sum(Kind::Float);
            loss.backward();
            opt.step().unwrap();
            for i in 0..3 {
                m[i] = 0.9 * m[i] + 0.1 * grad[i];
                v[i] = 0.999 * v[i] + 0.001 * grad[i] * grad[i];
                let mh = m[i] / (1.0 - 0.9f64.powi(t));
                let vh = v[i] / (1.0 - 0.999f64.powi(t));
                want[i] *= 1.0 - 1e-2 * 0.1;
                want[i] -= 1e-2 * mh / (vh.sqrt() + 1e-8);
            }
        }
        let got = Vec::<f32>::try_from(&p.detach()).unwrap();
        for i in 0..3 {
            assert!(
                (got[i] as f64 - want[i]).abs() < 1e-6,
                "{got:?} vs {want:?}"
            );
        }
        assert_eq!(opt.lr(g), 1e-2);
    }

    #[test]
    fn parameters_without_gradient_stay() {
        let p = Tensor::from_slice(&[1.0f32, 2.0]).set_requires_grad(true);
        let mut opt = FusedAdamW::new(AdamWHyper {
            beta1: 0.9,
            beta2: 0.999,
            weight_decay: 0.5,
            eps: 1e-8,
        });
        opt.add_group(&[p.shallow_clone()], 1.0);
        opt.step().unwrap();
        assert_eq!(Vec::<f32>::try_from(&p.detach()).unwrap(), vec![1.0, 2.0]);
    }
}
