//! Backbone weights on disk: torchvision-format state dicts stored as
//! `.safetensors`, read in, identified by name + sha256, and written back out.

use super::net::Net;
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
    #[error("backbone weights {} are not a valid .safetensors file: {why}", .path.display())]
    BadHeader { path: PathBuf, why: String },
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
/// weights file is missing (a file named for MobileNetV2 gets `--model`).
pub fn pretrain_command(path: &Path, input_size: u32) -> String {
    let mobilenet = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("mobilenet"));
    let model = if mobilenet {
        " --model mobilenet_v2"
    } else {
        ""
    };
    format!(
        "`sweep-worker pretrain{model} --out {} --input-size {input_size}` (or run scripts/setup.sh)",
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
    let tensors = read_checked(path)?;
    let info = BackboneInfo {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256: sha256_file(path)?,
    };
    Ok((tensors, info))
}

/// A `.safetensors` file's tensors by name, its header checked first (see
/// [`check_header`]): a forged or damaged file is an error, never a panic.
pub fn read_checked(path: &Path) -> Result<HashMap<String, Tensor>> {
    check_header(path)?;
    let tensors =
        Tensor::read_safetensors(path).map_err(|source| WeightsError::NotSafetensors {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(tensors.into_iter().collect())
}

/// Checks a `.safetensors` header with checked arithmetic before libtorch's
/// reader sees the file: the reader tch uses (safetensors 0.3) adds offsets
/// from the header unchecked, and a forged header panics it (found by
/// tests/fuzz_readers.rs). Every tensor's `data_offsets` must be ordered and
/// inside the data, and its byte length must match its shape and dtype.
fn check_header(path: &Path) -> Result<()> {
    let bad = |why: String| WeightsError::BadHeader {
        path: path.to_path_buf(),
        why,
    };
    let read = |source| WeightsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read)?;
    let file_len = file.metadata().map_err(read)?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len)
        .map_err(|_| bad("shorter than its 8-byte header length".into()))?;
    let header_len = u64::from_le_bytes(len);
    // The header is JSON naming at most a few hundred tensors: 100 MB is plenty.
    if header_len > 100 << 20 || header_len.saturating_add(8) > file_len {
        return Err(bad(format!(
            "header length {header_len} does not fit the file ({file_len} bytes)"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(read)?;
    let header: HashMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| bad(format!("header is not a JSON object ({e})")))?;
    let data_len = file_len - 8 - header_len;
    for (name, t) in header
        .iter()
        .filter(|(name, _)| name.as_str() != "__metadata__")
    {
        let offsets = t["data_offsets"].as_array().map(|o| {
            (
                o.first().and_then(|v| v.as_u64()),
                o.get(1).and_then(|v| v.as_u64()),
            )
        });
        let Some((Some(begin), Some(end))) = offsets else {
            return Err(bad(format!(
                "tensor `{name}` has no data_offsets [begin, end]"
            )));
        };
        if begin > end || end > data_len {
            return Err(bad(format!(
                "tensor `{name}` data_offsets [{begin}, {end}] are outside the {data_len} data bytes"
            )));
        }
        let width: u64 = match t["dtype"].as_str() {
            Some("F64" | "I64" | "U64") => 8,
            Some("F32" | "I32" | "U32") => 4,
            Some("F16" | "BF16" | "I16" | "U16") => 2,
            Some("I8" | "U8" | "BOOL") => 1,
            other => {
                return Err(bad(format!(
                    "tensor `{name}` has an unknown dtype {other:?}"
                )))
            }
        };
        let elements = t["shape"]
            .as_array()
            .ok_or_else(|| bad(format!("tensor `{name}` has no shape")))?
            .iter()
            .try_fold(1u64, |n, d| d.as_u64().and_then(|d| n.checked_mul(d)));
        match elements.and_then(|n| n.checked_mul(width)) {
            Some(bytes) if bytes == end - begin => {}
            _ => {
                return Err(bad(format!(
                    "tensor `{name}`'s shape and dtype do not match its {} data bytes",
                    end - begin
                )))
            }
        }
    }
    Ok(())
}

/// Writes the model's state dict (torchvision names, running statistics and
/// `num_batches_tracked` included) to `path`, creating its folder.
pub fn write_state_dict(model: &Net, path: &Path) -> Result<()> {
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
