//! The coordinator side of the sweep cluster: the server, its store and the
//! sweep-file loader. The `sweep` CLI (crate `sweep-cli`) embeds it for `sweep run`.
//!
//! - [`sweepfile`]: parse a sweep file, validate it, expand it into trial configs.
//! - [`search`]: early stopping (ASHA, median) and TPE proposals, as pure functions.
//! - [`artifacts`]: the files trials leave (weights, figures) beside the database.
//! - [`store`]: the SQLite database; every state change is a committed transaction.
//! - [`service`]: the `sweep.v1` gRPC services over the store.
//! - [`server`]: binds, serves, shuts down.
//! - [`http`]: the HTTP side on its own address: the dashboard and `/metrics`.
//! - [`dashboard`]: what the dashboard and reports show (tables, curves, importance).
//! - [`metrics`]: the Prometheus metrics (RPCs, leases, reports, commits, trials, workers).
//! - [`auth`]: bearer tokens per role (client, worker) on every method.
//! - [`security`]: the gate and TLS a coordinator serves with, from its files.
//! - [`config`]: the coordinator's settings (defaults, file, `SWEEP_*` environment, flags).

pub mod artifacts;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod http;
pub mod metrics;
pub mod search;
pub mod security;
pub mod server;
pub mod service;
pub mod store;
pub mod sweepfile;
