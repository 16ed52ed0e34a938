//! Memory layouts of activations: NCHW (torch's default) or channels-last
//! (NHWC), which libtorch's oneDNN convolutions run faster on at large
//! inputs. The layout changes kernels, not values beyond the last digits, so
//! it is part of what the shared caches' keys name.

use super::shim::{owned, ERR_LEN};
use std::ffi::{c_char, c_int};
use tch::Tensor;

extern "C" {
    fn sweep_channels_last(
        t: *const torch_sys::C_tensor,
        err: *mut c_char,
        err_len: usize,
    ) -> *mut torch_sys::C_tensor;
    fn sweep_is_channels_last(t: *const torch_sys::C_tensor) -> c_int;
}

/// How a network lays out its activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// torch's default, `[N, C, H, W]` contiguous.
    Nchw,
    /// Channels-last: the same shape, stored `[N, H, W, C]`.
    ChannelsLast,
}

/// Below this input size channels-last was not faster (README, "Cheaper
/// tensors"): a 32 px ResNet18 phase spends its time in small convolutions
/// whose layout change costs what it saves.
pub const CHANNELS_LAST_FROM: i64 = 64;

/// Overrides [`Layout::for_input_size`] (`nchw` or `channels_last`), for
/// measuring one against the other; anything else is ignored.
pub const LAYOUT_ENV: &str = "SWEEP_LAYOUT";

impl Layout {
    /// The layout a network fed `input_size` px images runs in
    /// ([`LAYOUT_ENV`] overrides it).
    pub fn for_input_size(input_size: i64) -> Self {
        match std::env::var(LAYOUT_ENV).as_deref() {
            Ok("nchw") => return Layout::Nchw,
            Ok("channels_last") => return Layout::ChannelsLast,
            _ => {}
        }
        if input_size >= CHANNELS_LAST_FROM {
            Layout::ChannelsLast
        } else {
            Layout::Nchw
        }
    }

    /// Its name in cache keys and reports.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Nchw => "nchw",
            Layout::ChannelsLast => "channels_last",
        }
    }

    /// `x` (4-D) in this layout: a no-op for NCHW and for a tensor already
    /// channels-last; otherwise a copy that autograd sees through.
    pub fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Layout::Nchw => x.shallow_clone(),
            Layout::ChannelsLast => channels_last(x),
        }
    }
}

/// `x` as a channels-last tensor (libtorch's `contiguous(ChannelsLast)`).
pub fn channels_last(x: &Tensor) -> Tensor {
    let mut err = [0 as c_char; ERR_LEN];
    // SAFETY: `x` is a live tensor for the call; the shim only reads it and
    // writes at most `err.len()` bytes into `err`.
    let ptr = unsafe { sweep_channels_last(x.as_ptr(), err.as_mut_ptr(), err.len()) };
    owned(ptr, &err, "channels-last copy")
}

/// Whether `x` is stored channels-last (and not also plain contiguous).
pub fn is_channels_last(x: &Tensor) -> bool {
    // SAFETY: `x` is a live tensor for the call; the shim only reads it.
    unsafe { sweep_is_channels_last(x.as_ptr()) == 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn channels_last_keeps_values_and_changes_strides() {
        let x = Tensor::randn([2, 8, 5, 5], (Kind::Float, Device::Cpu));
        let y = channels_last(&x);
        assert!(is_channels_last(&y));
        assert!(!is_channels_last(&x));
        assert_eq!(y.stride(), vec![200, 1, 40, 8]);
        assert!(x.equal(&y));
        assert!(Layout::Nchw.apply(&x).equal(&x));
        assert!(is_channels_last(&Layout::ChannelsLast.apply(&y)));
    }

    #[test]
    fn gradients_flow_through_the_copy() {
        let x = Tensor::randn([1, 3, 4, 4], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let y = channels_last(&x);
        (&y * 2.0).sum(Kind::Float).backward();
        assert!(x
            .grad()
            .equal(&Tensor::full([1, 3, 4, 4], 2.0, (Kind::Float, Device::Cpu))));
    }

    #[test]
    fn large_inputs_run_channels_last() {
        if std::env::var_os(LAYOUT_ENV).is_none() {
            assert_eq!(Layout::for_input_size(32), Layout::Nchw);
            assert_eq!(Layout::for_input_size(224), Layout::ChannelsLast);
        }
    }
}
