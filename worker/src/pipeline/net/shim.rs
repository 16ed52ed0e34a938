//! The one way a tensor comes back from this crate's C++ shims
//! (`max_pool.cpp`, `channels_last.cpp`, `batch_norm.cpp`): an owned
//! `at::Tensor *`, or null with a NUL-terminated message the shim wrote into
//! a caller's buffer (empty where the shim only declined the case).

use std::ffi::{c_char, CStr};
use tch::Tensor;

/// Bytes of the message buffer a shim call gets.
pub const ERR_LEN: usize = 512;

/// The tensor the shim returned, or a panic naming `what` with the shim's
/// message (libtorch's own ops panic in tch on the same bad input).
pub fn owned(ptr: *mut torch_sys::C_tensor, err: &[c_char; ERR_LEN], what: &str) -> Tensor {
    owned_unless_declined(ptr, err, what)
        .unwrap_or_else(|| panic!("{what} failed: the shim returned nothing"))
}

/// The tensor the shim returned; `None` where it declined the case (null,
/// empty message); a panic naming `what` with the shim's message where it
/// failed.
pub fn owned_unless_declined(
    ptr: *mut torch_sys::C_tensor,
    err: &[c_char; ERR_LEN],
    what: &str,
) -> Option<Tensor> {
    if ptr.is_null() {
        // SAFETY: the shim NUL-terminates `err` (snprintf into a buffer
        // whose length it was given, or an empty message when it declined).
        let msg = unsafe { CStr::from_ptr(err.as_ptr()) };
        assert!(msg.is_empty(), "{what} failed: {}", msg.to_string_lossy());
        return None;
    }
    // SAFETY: a fresh, heap-allocated `at::Tensor *` whose ownership the shim
    // passes to the caller.
    Some(unsafe { Tensor::from_ptr(ptr) })
}
