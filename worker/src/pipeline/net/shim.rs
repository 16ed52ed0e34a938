//! The one way a tensor comes back from this crate's C++ shims
//! (`max_pool.cpp`, `channels_last.cpp`): an owned `at::Tensor *`, or null
//! with a NUL-terminated message the shim wrote into a caller's buffer.

use std::ffi::{c_char, CStr};
use tch::Tensor;

/// Bytes of the message buffer a shim call gets.
pub const ERR_LEN: usize = 512;

/// The tensor the shim returned, or a panic naming `what` with the shim's
/// message (libtorch's own ops panic in tch on the same bad input).
pub fn owned(ptr: *mut torch_sys::C_tensor, err: &[c_char; ERR_LEN], what: &str) -> Tensor {
    if ptr.is_null() {
        // SAFETY: on failure the shim wrote a NUL-terminated message
        // (snprintf into `err`, whose length it was given).
        let msg = unsafe { CStr::from_ptr(err.as_ptr()) };
        panic!("{what} failed: {}", msg.to_string_lossy());
    }
    // SAFETY: a fresh, heap-allocated `at::Tensor *` whose ownership the shim
    // passes to the caller.
    unsafe { Tensor::from_ptr(ptr) }
}
