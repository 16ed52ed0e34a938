//! Max pooling with stride 2 (ResNet18's stem), through the C++ kernel in
//! `max_pool.cpp`: the same values, argmax and gradients as libtorch's
//! `max_pool2d`, several times faster on NCHW inputs at 1-2 threads, where
//! libtorch's kernel cost more than any convolution of the stem's batch.
//! Inputs the kernel does not cover (channels-last, other strides or types)
//! go to libtorch's.

use super::shim::{owned, ERR_LEN};
use std::ffi::c_char;
use tch::Tensor;

extern "C" {
    fn sweep_max_pool2d(
        x: *const torch_sys::C_tensor,
        kh: i64,
        kw: i64,
        sh: i64,
        sw: i64,
        ph: i64,
        pw: i64,
        err: *mut c_char,
        err_len: usize,
    ) -> *mut torch_sys::C_tensor;
    #[cfg(test)]
    fn sweep_max_pool2d_argmax(
        x: *const torch_sys::C_tensor,
        kh: i64,
        kw: i64,
        ph: i64,
        pw: i64,
        err: *mut c_char,
        err_len: usize,
    ) -> *mut torch_sys::C_tensor;
}

/// `x.max_pool2d(kernel, stride, padding, [1, 1], false)`: dilation 1, floor
/// mode. Differentiable when `x` requires grad.
pub fn max_pool2d(x: &Tensor, kernel: [i64; 2], stride: [i64; 2], padding: [i64; 2]) -> Tensor {
    let mut err = [0 as c_char; ERR_LEN];
    // SAFETY: `x` is a live tensor for the call; the shim returns a new
    // heap-allocated `at::Tensor` (ownership passes to the returned Tensor) or
    // null with a NUL-terminated message in `err`.
    let ptr = unsafe {
        sweep_max_pool2d(
            x.as_ptr(),
            kernel[0],
            kernel[1],
            stride[0],
            stride[1],
            padding[0],
            padding[1],
            err.as_mut_ptr(),
            err.len(),
        )
    };
    owned(ptr, &err, "max pool")
}

/// The argmax the fast kernel finds for a stride-2 pool of `x`.
#[cfg(test)]
fn argmax(x: &Tensor, kernel: [i64; 2], padding: [i64; 2]) -> Tensor {
    let mut err = [0 as c_char; ERR_LEN];
    // SAFETY: as in `max_pool2d`.
    let ptr = unsafe {
        sweep_max_pool2d_argmax(
            x.as_ptr(),
            kernel[0],
            kernel[1],
            padding[0],
            padding[1],
            err.as_mut_ptr(),
            err.len(),
        )
    };
    owned(ptr, &err, "max pool argmax")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Post-ReLU activations: many exact zeros (ties), some repeated positive
    /// values, a -0.0, a NaN and a -inf in chosen places.
    fn awkward(shape: [i64; 4], seed: i64) -> Tensor {
        tch::manual_seed(seed);
        let x = Tensor::randn(shape, (Kind::Float, Device::Cpu)).relu();
        // Coarse values so that distinct positions tie often.
        let x = (x * 4.0).round() / 4.0;
        let flat = x.view([-1]);
        let n = flat.size()[0];
        let _ = flat.get(3 % n).fill_(-0.0);
        if n > 40 {
            let _ = flat.get(17).fill_(f64::NAN);
            let _ = flat.get(29).fill_(f64::NAN);
            let _ = flat.get(40).fill_(f64::NEG_INFINITY);
        }
        x
    }

    /// Bit patterns, so NaN equals NaN and -0.0 differs from 0.0.
    fn bits(t: &Tensor) -> Vec<i32> {
        Vec::<i32>::try_from(t.contiguous().view_dtype(Kind::Int).view([-1])).unwrap()
    }

    const CASES: [([i64; 4], [i64; 2], [i64; 2]); 7] = [
        ([4, 8, 16, 16], [3, 3], [1, 1]),
        ([2, 3, 15, 17], [3, 3], [1, 1]),
        ([2, 3, 7, 5], [2, 2], [0, 0]),
        ([1, 2, 9, 9], [3, 3], [0, 0]),
        ([1, 2, 11, 13], [5, 5], [2, 2]),
        ([3, 4, 1, 1], [3, 3], [1, 1]),
        ([2, 2, 32, 3], [3, 2], [1, 0]),
    ];

    #[test]
    fn values_and_argmax_are_libtorchs() {
        for (i, (shape, k, p)) in CASES.into_iter().enumerate() {
            let x = awkward(shape, i as i64);
            let (want, want_idx) = x.max_pool2d_with_indices(k, [2, 2], p, [1, 1], false);
            let got = max_pool2d(&x, k, [2, 2], p);
            assert_eq!(got.size(), want.size(), "case {i}");
            assert_eq!(bits(&got), bits(&want), "values, case {i}");
            assert!(argmax(&x, k, p).equal(&want_idx), "argmax, case {i}");
        }
    }

    #[test]
    fn gradients_are_libtorchs() {
        for (i, (shape, k, p)) in CASES.into_iter().enumerate() {
            let x = awkward(shape, 100 + i as i64).nan_to_num(0.0, None, None);
            let xa = x.detach().set_requires_grad(true);
            let xb = x.detach().set_requires_grad(true);
            let ya = max_pool2d(&xa, k, [2, 2], p);
            let yb = xb.max_pool2d(k, [2, 2], p, [1, 1], false);
            assert!(ya.requires_grad(), "case {i}");
            tch::manual_seed(7);
            let g = Tensor::randn(ya.size(), (Kind::Float, Device::Cpu));
            (ya * &g).sum(Kind::Float).backward();
            (yb * &g).sum(Kind::Float).backward();
            assert_eq!(bits(&xa.grad()), bits(&xb.grad()), "case {i}");
        }
    }

    #[test]
    fn threads_do_not_change_the_result() {
        let x = awkward([8, 64, 16, 16], 5);
        let threads = tch::get_num_threads();
        tch::set_num_threads(1);
        let one = max_pool2d(&x, [3, 3], [2, 2], [1, 1]);
        tch::set_num_threads(2);
        let two = max_pool2d(&x, [3, 3], [2, 2], [1, 1]);
        tch::set_num_threads(threads);
        assert_eq!(bits(&one), bits(&two));
    }

    #[test]
    fn uncovered_inputs_go_to_libtorch() {
        let x = awkward([2, 8, 10, 10], 9);
        // stride 1, and a channels-last input
        let want = x.max_pool2d([3, 3], [1, 1], [1, 1], [1, 1], false);
        assert_eq!(bits(&max_pool2d(&x, [3, 3], [1, 1], [1, 1])), bits(&want));
        let cl = crate::pipeline::net::layout::channels_last(&x);
        let want = cl.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        let got = max_pool2d(&cl, [3, 3], [2, 2], [1, 1]);
        assert_eq!(bits(&got), bits(&want));
        assert!(crate::pipeline::net::layout::is_channels_last(&got));
    }
}
