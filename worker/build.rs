//! Puts libtorch's lib folder on the binaries' rpath, so `sweep-worker` runs
//! without the user setting `LD_LIBRARY_PATH`. torch-sys exports the folder
//! to crates that depend on it directly as `DEP_TCH_LIBTORCH_LIB`.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
