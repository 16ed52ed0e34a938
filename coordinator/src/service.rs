//! The gRPC services. To be written.
