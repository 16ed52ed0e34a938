//! Process plumbing shared by the `sweep`, `sweep-coordinator` and
//! `sweep-worker` binaries, so each is written once: how logs are set up
//! ([`logging`]), how SIGINT/SIGTERM arrive ([`signals`]), what a coordinator
//! address means ([`endpoint`]), how a client proves who it is ([`credentials`]) and how cores are split ([`cores`]).
//!
//! Nothing here knows about sweeps, trials or tensors.

pub mod cores;
pub mod credentials;
pub mod endpoint;
pub mod logging;
pub mod signals;
