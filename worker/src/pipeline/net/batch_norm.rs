//! Train-mode BatchNorm of a frozen stage through the C++ kernel in
//! `batch_norm.cpp`: the same output and running statistics as libtorch's
//! bit for bit, with the batch statistics computed with the same additions
//! in the same order but several channels side by side (libtorch's kernel
//! adds one value at a time into one sum per channel: 6.7% of a seed-recipe
//! trial). Only for inputs nothing needs a gradient of, NCHW float;
//! [`frozen_train`] says `None` for anything else.

use super::shim::{owned_unless_declined, ERR_LEN};
use std::ffi::c_char;
use tch::Tensor;

extern "C" {
    fn sweep_batch_norm_frozen_train(
        x: *const torch_sys::C_tensor,
        weight: *const torch_sys::C_tensor,
        bias: *const torch_sys::C_tensor,
        running_mean: *const torch_sys::C_tensor,
        running_var: *const torch_sys::C_tensor,
        momentum: f64,
        eps: f64,
        err: *mut c_char,
        err_len: usize,
    ) -> *mut torch_sys::C_tensor;
    fn sweep_batch_norm_frozen_active() -> std::ffi::c_int;
}

/// Set to `libtorch`, every BatchNorm runs libtorch's own kernel: the path
/// this replaces, kept for measuring one against the other.
pub const BATCH_NORM_ENV: &str = "SWEEP_BATCH_NORM";

fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var(BATCH_NORM_ENV).as_deref() != Ok("libtorch"))
}

/// Whether this process uses the kernel: on its first use it checks itself
/// against libtorch's train-mode batch norm on a probe batch (how libtorch's
/// vectorised kernel rounds the shift depends on how it was compiled for
/// this CPU) and stays off if neither rounding matches bit for bit.
pub fn active() -> bool {
    // SAFETY: no arguments; the shim runs one small batch norm.
    enabled() && unsafe { sweep_batch_norm_frozen_active() } == 1
}

/// `x.batch_norm(weight, bias, running_mean, running_var, true, momentum,
/// eps)` (the running statistics updated in place), or `None` with nothing
/// changed when the kernel does not cover the case: a weight, bias or input
/// that requires grad, another type or layout, planes of one value (which
/// libtorch treats as channels-last), fewer than 3 dimensions, or a machine
/// where it is not [`active`].
pub fn frozen_train(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    momentum: f64,
    eps: f64,
) -> Option<Tensor> {
    if !enabled() {
        return None;
    }
    let mut err = [0 as c_char; ERR_LEN];
    // SAFETY: every tensor is live for the call; the shim reads them, writes
    // the running statistics in place (their own storage), and writes at most
    // `err.len()` bytes into `err`.
    let ptr = unsafe {
        sweep_batch_norm_frozen_train(
            x.as_ptr(),
            weight.as_ptr(),
            bias.as_ptr(),
            running_mean.as_ptr(),
            running_var.as_ptr(),
            momentum,
            eps,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    owned_unless_declined(ptr, &err, "batch norm")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn bits(t: &Tensor) -> Vec<i32> {
        let f = Vec::<f32>::try_from(&t.flatten(0, -1)).unwrap();
        f.iter().map(|v| v.to_bits() as i32).collect()
    }

    /// Activations like a ReLU network's: many exact zeros, a spread of
    /// magnitudes, an offset per channel.
    fn activations(shape: &[i64], seed: i64) -> Tensor {
        tch::manual_seed(seed);
        let c = shape[1];
        let mut view = vec![1i64; shape.len()];
        view[1] = c;
        let offset = Tensor::randn([c], (Kind::Float, Device::Cpu)).view(view.as_slice());
        ((Tensor::randn(shape, (Kind::Float, Device::Cpu)) * 3.0 + offset).relu() * 0.7)
            .contiguous()
    }

    fn params(c: i64, seed: i64) -> [Tensor; 4] {
        tch::manual_seed(seed);
        let o = (Kind::Float, Device::Cpu);
        [
            Tensor::rand([c], o) + 0.5,
            Tensor::randn([c], o) * 0.1,
            Tensor::randn([c], o) * 0.2,
            Tensor::rand([c], o) + 0.1,
        ]
    }

    /// One train-mode step of libtorch's batch norm and of ours, each on its
    /// own copy of the running statistics, compared bit for bit; false when
    /// ours declined, which only a machine where it is not active may do.
    fn step_both(
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        theirs: [&Tensor; 2],
        ours: [&Tensor; 2],
        what: &str,
    ) -> bool {
        let want = x.batch_norm(
            Some(w),
            Some(b),
            Some(theirs[0]),
            Some(theirs[1]),
            true,
            0.1,
            1e-5,
            false,
        );
        let Some(got) = frozen_train(x, w, b, ours[0], ours[1], 0.1, 1e-5) else {
            assert!(!active(), "{what}: declined a covered input while active");
            return false;
        };
        assert_eq!(bits(ours[0]), bits(theirs[0]), "running mean, {what}");
        assert_eq!(bits(ours[1]), bits(theirs[1]), "running var, {what}");
        assert_eq!(bits(&got), bits(&want), "output, {what}");
        true
    }

    #[test]
    fn output_and_running_statistics_are_libtorchs() {
        // ResNet18's maps at 32 px (16 × 16 down to 1 × 1), odd sizes, channel
        // counts that leave a partial block, a 2-D input, a lone last pair.
        // ResNet18's maps at 32 px that it covers (16 × 16 down to 2 × 2), odd
        // sizes, channel counts that leave a partial block, a 3-D input.
        let shapes: [&[i64]; 6] = [
            &[128, 64, 16, 16],
            &[128, 64, 8, 8],
            &[128, 128, 4, 4],
            &[128, 256, 2, 2],
            &[7, 13, 5, 3],
            &[5, 9, 7],
        ];
        if !active() {
            // A libtorch build that rounds some other way: the kernel must
            // then decline everything, and libtorch runs every batch norm.
            eprintln!("batch norm kernel off on this machine: checking that it declines");
            for shape in shapes {
                let x = activations(shape, 1);
                let [w, b, rm, rv] = params(shape[1], 2);
                assert!(frozen_train(&x, &w, &b, &rm, &rv, 0.1, 1e-5).is_none());
            }
            return;
        }
        for threads in [1, 2] {
            tch::set_num_threads(threads);
            for (i, shape) in shapes.iter().enumerate() {
                let x = activations(shape, 10 + i as i64);
                let [w, b, rm, rv] = params(shape[1], 50 + i as i64);
                let (rm2, rv2) = (rm.copy(), rv.copy());
                for round in 0..3 {
                    let what = format!("shape {shape:?}, round {round}, {threads} threads");
                    assert!(step_both(&x, &w, &b, [&rm, &rv], [&rm2, &rv2], &what));
                }
            }
        }
    }

    #[test]
    fn a_constant_channel_and_a_zero_channel_are_libtorchs() {
        let x = activations(&[16, 4, 3, 3], 7);
        let _ = x.narrow(1, 1, 1).fill_(2.5);
        let _ = x.narrow(1, 2, 1).fill_(0.0);
        let [w, b, rm, rv] = params(4, 8);
        let (rm2, rv2) = (rm.copy(), rv.copy());
        step_both(
            &x,
            &w,
            &b,
            [&rm, &rv],
            [&rm2, &rv2],
            "constant and zero channels",
        );
    }

    #[test]
    fn what_needs_a_gradient_or_another_layout_is_left_to_libtorch() {
        let x = activations(&[8, 4, 3, 3], 3);
        let [w, b, rm, rv] = params(4, 4);
        let before = (bits(&rm), bits(&rv));
        let trains = w.copy().set_requires_grad(true);
        assert!(frozen_train(&x, &trains, &b, &rm, &rv, 0.1, 1e-5).is_none());
        let xg = x.copy().set_requires_grad(true);
        assert!(frozen_train(&xg, &w, &b, &rm, &rv, 0.1, 1e-5).is_none());
        let strided = x.transpose(2, 3);
        assert!(frozen_train(&strided, &w, &b, &rm, &rv, 0.1, 1e-5).is_none());
        let double = x.to_kind(Kind::Double);
        assert!(frozen_train(&double, &w, &b, &rm, &rv, 0.1, 1e-5).is_none());
        let one_each = x
            .narrow(0, 0, 1)
            .narrow(2, 0, 1)
            .narrow(3, 0, 1)
            .contiguous();
        assert!(frozen_train(&one_each, &w, &b, &rm, &rv, 0.1, 1e-5).is_none());
        let one_pixel = x.narrow(2, 0, 1).narrow(3, 0, 1).contiguous();
        assert!(frozen_train(&one_pixel, &w, &b, &rm, &rv, 0.1, 1e-5).is_none());
        let flat = x.narrow(2, 0, 1).narrow(3, 0, 1).reshape([8, 4]);
        assert!(frozen_train(&flat, &w, &b, &rm, &rv, 0.1, 1e-5).is_none());
        assert_eq!(
            (bits(&rm), bits(&rv)),
            before,
            "declined calls change nothing"
        );
    }

    #[test]
    fn the_running_statistics_version_moves() {
        let x = activations(&[8, 4, 3, 3], 5);
        let [w, b, rm, rv] = params(4, 6);
        let v = super::super::derived::version(&rm);
        match frozen_train(&x, &w, &b, &rm, &rv, 0.1, 1e-5) {
            Some(_) => assert!(super::super::derived::version(&rm) > v),
            None => assert!(!active(), "declined a covered input while active"),
        }
    }
}

/// Side by side with libtorch's, one batch norm at a time on ResNet18's
/// maps at 32 px (batch 128, 1 thread), 20 calls each, three rounds:
/// `cargo test -p sweep-worker --lib batch_norm::bench -- --ignored --nocapture`.
#[cfg(test)]
mod bench {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    #[ignore = "a measurement, not a check"]
    fn against_libtorch() {
        tch::set_num_threads(1);
        let o = (Kind::Float, Device::Cpu);
        for shape in [
            [128i64, 64, 16, 16],
            [128, 64, 8, 8],
            [128, 128, 4, 4],
            [128, 256, 2, 2],
        ] {
            let x = Tensor::randn(shape, o).relu();
            let c = shape[1];
            let (w, b) = (Tensor::ones([c], o), Tensor::zeros([c], o));
            let (rm, rv) = (Tensor::zeros([c], o), Tensor::ones([c], o));
            let time = |f: &dyn Fn()| {
                let t = std::time::Instant::now();
                for _ in 0..20 {
                    f();
                }
                t.elapsed().as_secs_f64() / 20.0 * 1e3
            };
            for _ in 0..3 {
                let theirs = time(&|| {
                    let _ = x.batch_norm(
                        Some(&w),
                        Some(&b),
                        Some(&rm),
                        Some(&rv),
                        true,
                        0.1,
                        1e-5,
                        false,
                    );
                });
                let ours = time(&|| {
                    let _ = frozen_train(&x, &w, &b, &rm, &rv, 0.1, 1e-5).expect("covered");
                });
                eprintln!("{shape:?}: libtorch {theirs:.3} ms, ours {ours:.3} ms");
            }
        }
    }
}
