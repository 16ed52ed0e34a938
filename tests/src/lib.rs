//! The harness of the end-to-end tests: real `sweep-coordinator`, `sweep`
//! and `sweep-worker` processes over real sockets.
//!
//! - [`bins`]: where the built binaries are.
//! - [`process`]: a child process that is killed when dropped, with its
//!   output in a log file (printed when a test fails).
//! - [`cluster`]: a coordinator on a temp database, its workers, the CLI.
//! - [`rpc`]: gRPC clients and the queries the tests make.
//! - [`wait`]: polling for a condition with a deadline.
//! - [`fixtures`]: sweep files and trial results.
//! - [`chaos`]: the chaos suite's harness (proxy, faults, checker).

pub mod bins;
pub mod chaos;
pub mod cluster;
pub mod fixtures;
pub mod process;
pub mod rpc;
pub mod wait;

pub use cluster::Cluster;
pub use process::Proc;
pub use wait::wait_until;
