//! Backbone weights on disk: torchvision-format ResNet18 state dicts stored as
//! `.safetensors`, read in, identified by name + sha256, and written back out.

use super::resnet::ResNet18;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use sweep_proto::trial::BackboneInfo;
use tch::Tensor;

/// The command that makes a stand-in backbone for `input_size`, quoted when a
/// weights file is missing.
pub fn pretrain_command(path: &Path, input_size: u32) -> String {
    format!(
        "`sweep-worker pretrain --out {} --input-size {input_size}` (or run scripts/setup.sh)",
        path.display()
    )
}

/// Checks the weights file exists; the error names it and how to make it.
pub fn check_weights_exist(path: &Path, input_size: u32) -> Result<()> {
    if !path.is_file() {
        bail!(
            "backbone weights {} not found; make them with {}",
            path.display(),
            pretrain_command(path, input_size)
        );
    }
    Ok(())
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Reads a `.safetensors` state dict and says which file it was.
pub fn read_state_dict(
    path: &Path,
    input_size: u32,
) -> Result<(HashMap<String, Tensor>, BackboneInfo)> {
    check_weights_exist(path, input_size)?;
    let tensors = Tensor::read_safetensors(path).with_context(|| {
        format!(
            "backbone weights {} are not a readable .safetensors file",
            path.display()
        )
    })?;
    let info = BackboneInfo {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256: sha256_file(path)?,
    };
    Ok((tensors.into_iter().collect(), info))
}

/// Writes the model's state dict (torchvision names, running statistics and
/// `num_batches_tracked` included) to `path`, creating its folder.
pub fn write_state_dict(model: &ResNet18, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let sd: Vec<(String, Tensor)> = model
        .state_dict()
        .into_iter()
        .map(|(n, t)| (n, t.contiguous()))
        .collect();
    Tensor::write_safetensors(&sd, path).with_context(|| format!("cannot write {}", path.display()))
}
