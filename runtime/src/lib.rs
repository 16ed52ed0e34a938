//! Process plumbing shared by the `sweep`, `sweep-coordinator` and
//! `sweep-worker` binaries, so each is written once: how logs are set up
//! ([`logging`]), how SIGINT/SIGTERM arrive ([`signals`]), what a coordinator
//! address means ([`endpoint`]), how a client proves who it is
//! ([`credentials`]), how cores are split ([`cores`]), how an error and its
//! causes become one line of text ([`error_chain`]) and how settings are
//! layered from defaults, a file, the environment and flags
//! ([`layered_settings`]).
//!
//! Nothing here knows about sweeps, trials or tensors.

pub mod cores;
pub mod credentials;
pub mod endpoint;
pub mod error_chain;
pub mod layered_settings;
pub mod logging;
pub mod signals;
