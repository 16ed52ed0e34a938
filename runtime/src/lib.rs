//! Process plumbing shared by the `sweep`, `sweep-coordinator` and
//! `sweep-worker` binaries, so each is written once: how logs are set up
//! ([`logging`]), how SIGINT/SIGTERM arrive ([`signals`]), what a coordinator
//! address means ([`endpoint`]), how a client proves who it is
//! ([`credentials`]), how cores are split ([`cores`]) and how an error and its
//! causes become one line of text ([`error_chain`]).
//!
//! Nothing here knows about sweeps, trials or tensors.

pub mod cores;
pub mod credentials;
pub mod endpoint;
pub mod error_chain;
pub mod logging;
pub mod signals;
