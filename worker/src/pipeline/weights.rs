//! Backbone weights on disk: torchvision-format ResNet18 state dicts stored as
//! `.safetensors`, read in, identified by name + sha256, and written back out.

use super::resnet::ResNet18;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use sweep_proto::trial::BackboneInfo;
use tch::Tensor;

/// Why backbone weights could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("backbone weights {} not found; make them with {make}", .path.display())]
    NotFound { path: PathBuf, make: String },
    #[error("cannot read {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("backbone weights {} are not a readable .safetensors file", .path.display())]
    NotSafetensors {
        path: PathBuf,
        #[source]
        source: tch::TchError,
    },
    #[error("cannot create {}", .path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: tch::TchError,
    },
}

type Result<T, E = WeightsError> = std::result::Result<T, E>;

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
        return Err(WeightsError::NotFound {
            path: path.to_path_buf(),
            make: pretrain_command(path, input_size),
        });
    }
    Ok(())
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let read_error = |source| WeightsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(read_error)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(read_error)?;
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
    let tensors =
        Tensor::read_safetensors(path).map_err(|source| WeightsError::NotSafetensors {
            path: path.to_path_buf(),
            source,
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
        std::fs::create_dir_all(dir).map_err(|source| WeightsError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let sd: Vec<(String, Tensor)> = model
        .state_dict()
        .into_iter()
        .map(|(n, t)| (n, t.contiguous()))
        .collect();
    Tensor::write_safetensors(&sd, path).map_err(|source| WeightsError::Write {
        path: path.to_path_buf(),
        source,
    })
}
