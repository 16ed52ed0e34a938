//! Generates the `sweep.v1` gRPC code from `proto/sweep/v1/sweep.proto` with
//! protox (a pure-Rust protobuf compiler), so no system `protoc` is needed,
//! and writes the encoded file descriptor set (`sweep_descriptor.bin`) that
//! the coordinator's gRPC server reflection serves.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/sweep/v1/sweep.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("sweep_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
