//! The shared vocabulary of the sweep cluster.
//!
//! - [`v1`]: the gRPC wire (`proto/sweep/v1/sweep.proto`), generated at build time,
//!   and its encoded descriptors for server reflection.
//! - [`trial`]: the trial configuration a sweep file's points resolve to, the
//!   result a worker sends back, and their validation. Coordinator and worker
//!   both depend on this crate; it never links `tch`.
//! - [`artifacts`]: what a trial leaves with the coordinator (kinds, file
//!   names, which names are allowed, the chunk size).
//! - [`yaml`]: the one way user-written YAML is read (budgets, duplicate keys
//!   refused, errors with path, line and column).

pub mod artifacts;
pub mod trial;
pub mod yaml;

/// Generated `sweep.v1` messages, clients and servers.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("sweep.v1");

    /// The encoded `FileDescriptorSet` of `sweep.proto`, for gRPC server
    /// reflection (`grpcurl list` without the proto file).
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/sweep_descriptor.bin"));
}
