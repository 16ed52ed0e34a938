//! Puts libtorch's lib folder on the binaries' rpath, so `sweep-worker` runs
//! without the user setting `LD_LIBRARY_PATH`, and compiles the small C++
//! shims against the same libtorch: libtorch's fused AdamW kernel
//! (src/pipeline/fused_adamw.cpp), the channels-last copy, a faster NCHW
//! max pool, train-mode batch norm of frozen stages and tensor versions (src/pipeline/net/). torch-sys exports the lib folder to crates that
//! depend on it directly as `DEP_TCH_LIBTORCH_LIB`; the headers sit beside it.
//! It also names the pipeline's numerics: `SWEEP_PIPELINE_BUILD`, a hash of
//! every file under src/pipeline, goes into the shared caches' keys, so a
//! worker built from other pipeline code never reads entries this one wrote.

use std::path::{Path, PathBuf};

/// FNV-1a over a file's path, then its contents.
fn hash_tree_file(path: &Path, hash: &mut u64) {
    let name = path.to_string_lossy().into_owned().into_bytes();
    for b in name.iter().chain(&std::fs::read(path).unwrap_or_default()) {
        *hash ^= u64::from(*b);
        *hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
}

/// [`hash_tree_file`] over every file under `dir`, in sorted order.
fn hash_tree(dir: &Path, hash: &mut u64) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            hash_tree(&path, hash);
            continue;
        }
        hash_tree_file(&path, hash);
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    println!("cargo:rerun-if-changed=src/pipeline");
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    hash_tree(Path::new("src/pipeline"), &mut hash);
    println!("cargo:rustc-env=SWEEP_PIPELINE_BUILD={hash:016x}");
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
    // The C++ shims compile against libtorch's headers (tens of seconds), so they are compiled again
    // only when their sources, the headers' folder or the ABI change, not on every pipeline edit.
    const SHIMS: [&str; 5] = [
        "src/pipeline/fused_adamw.cpp",
        "src/pipeline/net/batch_norm.cpp",
        "src/pipeline/net/channels_last.cpp",
        "src/pipeline/net/max_pool.cpp",
        "src/pipeline/net/version.cpp",
    ];
    let mut shims_hash = 0xcbf2_9ce4_8422_2325_u64;
    for shim in SHIMS {
        hash_tree_file(Path::new(shim), &mut shims_hash);
    }
    // The max-pool kernel is ours, not a call into libtorch: optimised even in a debug build.
    const SHIMS_OPT_LEVEL: u32 = 3;
    let stamp = format!(
        "{shims_hash:016x} {} {abi} O{SHIMS_OPT_LEVEL} nocontract",
        include.display()
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let stamp_file = out.join("shims.stamp");
    let archive = out.join("libsweep_torch_shims.a");
    if archive.is_file() && std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(&stamp) {
        println!("cargo:rustc-link-search=native={}", out.display());
        println!("cargo:rustc-link-lib=static=sweep_torch_shims");
    } else {
        cc::Build::new()
            .cpp(true)
            .pic(true)
            .warnings(false)
            .opt_level(SHIMS_OPT_LEVEL)
            .include(&include)
            .flag("-std=c++17")
            .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
            .flag("-DGLOG_USE_GLOG_EXPORT")
            // batch_norm.cpp repeats libtorch's roundings: no fused multiply-adds.
            .flag("-ffp-contract=off")
            .files(SHIMS)
            .compile("sweep_torch_shims");
        std::fs::write(&stamp_file, stamp).expect("write the shims' stamp");
    }
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}
