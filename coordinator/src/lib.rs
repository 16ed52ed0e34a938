//! The coordinator side of the sweep cluster, and the `sweep` CLI.
//!
//! - [`sweepfile`]: parse a sweep file, validate it, expand it into trial configs.
//! - [`store`]: the SQLite database; every state change is a committed transaction.
//! - [`service`]: the `sweep.v1` gRPC services over the store.
//! - [`server`]: binds, serves, shuts down.
//! - [`config`]: the coordinator's settings (file, `SWEEP_*` environment, flags).
//! - [`cli`]: the `sweep` command (a gRPC client, plus `sweep run`).

pub mod cli;
pub mod config;
pub mod server;
pub mod service;
pub mod store;
pub mod sweepfile;
