//! Puts libtorch's lib folder on the binaries' rpath, so `sweep-worker` runs
//! without the user setting `LD_LIBRARY_PATH`, and compiles the small C++ shim
//! that reaches libtorch's fused AdamW kernel (src/pipeline/fused_adamw.cpp)
//! against the same libtorch. torch-sys exports the lib folder to crates that
//! depend on it directly as `DEP_TCH_LIBTORCH_LIB`; the headers sit beside it.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    println!("cargo:rerun-if-changed=src/pipeline/fused_adamw.cpp");
    let lib = PathBuf::from(
        std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys exports DEP_TCH_LIBTORCH_LIB"),
    );
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    let include = lib
        .parent()
        .expect("libtorch's lib folder has a parent")
        .join("include");
    // torch-sys's default (and the PyPI wheels' ABI since torch 2.6).
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("src/pipeline/fused_adamw.cpp")
        .compile("sweep_fused_adamw");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}
