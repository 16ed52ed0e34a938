//! Tensors derived from a frozen weight (the tap matrices of the small-map
//! convs in [`super::layers`]), kept while the weight is unchanged, so a
//! frozen conv builds its matrix once rather than once per batch: at 32 px
//! building layer3's matrix cost about as much as the product it feeds.
//!
//! An entry is good while the weight is the same tensor (the entry holds a
//! handle to it, so its memory cannot be reused by another tensor) at the same
//! version (libtorch bumps a tensor's version on every in-place write: an
//! optimizer step, a state dict or snapshot copied in). A weight that trains
//! is never cached: its matrix must carry autograd's graph. A cached matrix
//! holds the same values as a rebuilt one, so results do not change.

use std::cell::RefCell;
use tch::Tensor;

extern "C" {
    fn sweep_tensor_version(t: *const torch_sys::C_tensor) -> i64;
    fn sweep_same_tensor(a: *const torch_sys::C_tensor, b: *const torch_sys::C_tensor) -> i32;
}

/// `t`'s version counter.
pub(super) fn version(t: &Tensor) -> i64 {
    // SAFETY: `t` is a live tensor for the call; the shim only reads it.
    unsafe { sweep_tensor_version(t.as_ptr()) }
}

/// Whether `a` and `b` are handles to the same tensor.
fn same(a: &Tensor, b: &Tensor) -> bool {
    // SAFETY: both are live tensors for the call; the shim only reads them.
    unsafe { sweep_same_tensor(a.as_ptr(), b.as_ptr()) == 1 }
}

struct Entry {
    weight: Tensor,
    version: i64,
    key: [i64; 3],
    value: Tensor,
}

/// One conv's derived tensors, by a key naming what was derived (which
/// matrix, for which input size).
#[derive(Default)]
pub struct Derived(RefCell<Vec<Entry>>);

impl Derived {
    /// `build()`, or what it gave before for `key` if `weight` has not
    /// changed since; always `build()` for a weight that requires grad.
    pub fn get(&self, weight: &Tensor, key: [i64; 3], build: impl FnOnce() -> Tensor) -> Tensor {
        if weight.requires_grad() {
            return build();
        }
        let now = version(weight);
        let mut entries = self.0.borrow_mut();
        entries.retain(|e| e.version == now && same(&e.weight, weight));
        if let Some(e) = entries.iter().find(|e| e.key == key) {
            return e.value.shallow_clone();
        }
        let value = tch::no_grad(build);
        entries.push(Entry {
            weight: weight.shallow_clone(),
            version: now,
            key,
            value: value.shallow_clone(),
        });
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use tch::{Device, Kind};

    #[test]
    fn builds_again_only_when_the_weight_changes() {
        let w = Tensor::ones([2, 2], (Kind::Float, Device::Cpu));
        let cache = Derived::default();
        let builds = Cell::new(0);
        let build = |w: &Tensor| {
            builds.set(builds.get() + 1);
            w * 2.0
        };
        let a = cache.get(&w, [0, 1, 1], || build(&w));
        let b = cache.get(&w, [0, 1, 1], || build(&w));
        assert_eq!(builds.get(), 1);
        assert!(a.equal(&b));
        // Another key builds its own.
        let _ = cache.get(&w, [1, 1, 1], || build(&w));
        assert_eq!(builds.get(), 2);
        // An in-place write (as an optimizer step or a loaded snapshot makes).
        tch::no_grad(|| {
            w.shallow_clone()
                .copy_(&Tensor::full([2, 2], 3.0, (Kind::Float, Device::Cpu)));
        });
        let c = cache.get(&w, [0, 1, 1], || build(&w));
        assert_eq!(builds.get(), 3);
        assert_eq!(f64::try_from(c.get(0).get(0)).unwrap(), 6.0);
        // Another tensor with the same values is not the same weight.
        let other = w.copy();
        let _ = cache.get(&other, [0, 1, 1], || build(&other));
        assert_eq!(builds.get(), 4);
        // A weight that trains is never cached.
        let trained = w.copy().set_requires_grad(true);
        let _ = cache.get(&trained, [0, 1, 1], || build(&trained));
        let _ = cache.get(&trained, [0, 1, 1], || build(&trained));
        assert_eq!(builds.get(), 6);
    }
}
