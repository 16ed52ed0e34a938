//! The worker side of the sweep cluster.
//!
//! - [`pipeline`]: one trial, the seed's two-phase ResNet18 transfer learning
//!   on reduced MNIST, in libtorch. Knows nothing of gRPC.
//! - [`daemon`]: `sweep-worker run`, which leases trials from a coordinator
//!   and runs them through [`pipeline::run_trial`]. Knows nothing of tensors.
//! - [`child`]: the trial process the daemon starts for each attempt (the
//!   only place the daemon's trials touch libtorch).
//! - [`figures`]: PNG figures (the Grad-CAM grid), drawn without a plotting library.
//! - [`commands`]: the `sweep-worker` subcommands.
//! - [`allocator`]: glibc malloc told to keep freed memory (tensor processes).
//! - [`host`]: the host name results and registrations carry.
//! - [`error_chain`]: an error and its causes on one line.

pub mod allocator;
pub mod child;
pub mod commands;
pub mod daemon;
pub mod figures;
pub use sweep_runtime::error_chain;
pub mod host;
pub mod pipeline;
