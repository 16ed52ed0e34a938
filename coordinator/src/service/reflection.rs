//! gRPC server reflection (`grpc.reflection.v1` and the older `v1alpha` that
//! some clients still ask first), so `grpcurl`, grpcui or Postman discover
//! `sweep.v1.SweepService`, `sweep.v1.WorkerService` and the health service
//! without the proto file. The server puts both behind the client role's gate.

use tonic_reflection::server::{v1, v1alpha, Builder, Error};

/// The `grpc.reflection.v1` service over `sweep.proto` and the health proto.
pub fn reflection_v1() -> Result<v1::ServerReflectionServer<impl v1::ServerReflection>, Error> {
    described().build_v1()
}

/// The `grpc.reflection.v1alpha` service over the same descriptors.
pub fn reflection_v1alpha(
) -> Result<v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>, Error> {
    described().build_v1alpha()
}

fn described() -> Builder<'static> {
    Builder::configure()
        .register_encoded_file_descriptor_set(sweep_proto::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}
