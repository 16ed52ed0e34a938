//! Reads IDX files (the MNIST / Fashion-MNIST format), plain or gzipped, and
//! the four-file train/test layout those data sets ship in.
//!
//! Paths come from trial configs, so no file is read without a cap: a plain
//! file larger than [`MAX_IDX_BYTES`] is refused before it is read, and a
//! `.gz` is decompressed only up to that many bytes (a gzip bomb is refused
//! once it passes the cap, never inflated in full).

use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A stack of 8-bit grayscale images, row-major, `count × rows × cols`.
#[derive(Debug, Clone)]
pub struct Images {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

impl Images {
    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
}

/// Images with their class labels (0..=9).
#[derive(Debug, Clone)]
pub struct Labelled {
    pub images: Images,
    pub labels: Vec<u8>,
}

/// Both halves of an IDX data set (MNIST's layout: `train-*` and `t10k-*`).
#[derive(Debug, Clone)]
pub struct IdxDataset {
    pub train: Labelled,
    pub test: Labelled,
}

/// What is wrong with one IDX file or the folder holding them.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    #[error("the folder does not exist")]
    NoFolder,
    #[error("{} (or .gz) is missing", .0.display())]
    Missing(PathBuf),
    #[error("cannot read {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is larger than {limit} bytes (the largest IDX file a data set may hold): refused", .path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{} decompresses to more than {limit} bytes (the largest IDX file a data set may hold): refused as a possible gzip bomb", .path.display())]
    GzipTooLarge { path: PathBuf, limit: u64 },
    #[error("{} is not valid gzip", .path.display())]
    Gzip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not an IDX {kind} file (bad header)", .path.display())]
    BadHeader { path: PathBuf, kind: &'static str },
    #[error("{} is truncated or corrupt: header says {header}, file has {bytes} bytes", .path.display())]
    Truncated {
        path: PathBuf,
        header: String,
        bytes: usize,
    },
    #[error("{} holds label {label}, outside 0..=9", .path.display())]
    BadLabel { path: PathBuf, label: u8 },
    #[error("{} has {images} images but {} has {labels} labels", .images_path.display(), .labels_path.display())]
    CountMismatch {
        images_path: PathBuf,
        images: usize,
        labels_path: PathBuf,
        labels: usize,
    },
}

/// An IDX data set folder that cannot be read, with the command that repairs it.
#[derive(Debug, thiserror::Error)]
#[error("data folder {} is missing or corrupt; {repair}", .dir.display())]
pub struct DatasetError {
    pub dir: PathBuf,
    pub repair: String,
    #[source]
    pub source: IdxError,
}

type Result<T, E = IdxError> = std::result::Result<T, E>;

/// The largest IDX file read, plain or decompressed: MNIST's and
/// Fashion-MNIST's training images (16 + 60,000 × 28 × 28 = 47,040,016
/// bytes) with a margin.
pub const MAX_IDX_BYTES: u64 = 48 << 20;

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// The file `dir/name`, or `dir/name.gz` if only that exists.
fn locate(dir: &Path, name: &str) -> Result<PathBuf> {
    let plain = dir.join(name);
    if plain.is_file() {
        return Ok(plain);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(IdxError::Missing(plain))
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    read_bytes_capped(path, MAX_IDX_BYTES)
}

/// The bytes of `path` (decompressed if it ends in `.gz`), refused once they
/// would pass `limit`: at most `limit + 1` bytes are ever inflated.
pub fn read_bytes_capped(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let read_error = |source| IdxError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    if size > limit {
        return Err(IdxError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    let mut raw = Vec::with_capacity(size as usize);
    file.take(limit + 1)
        .read_to_end(&mut raw)
        .map_err(read_error)?;
    let gzipped = path.extension().is_some_and(|e| e == "gz");
    if !gzipped {
        return Ok(raw);
    }
    let mut out = Vec::new();
    GzDecoder::new(raw.as_slice())
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|source| IdxError::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    if out.len() as u64 > limit {
        return Err(IdxError::GzipTooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(out)
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses an IDX image file (magic 0x803, three dimensions).
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<Images> {
    if bytes.len() < 16 || be_u32(bytes, 0) != IMAGES_MAGIC {
        return Err(IdxError::BadHeader {
            path: path.to_path_buf(),
            kind: "image",
        });
    }
    let (count, rows, cols) = (
        be_u32(bytes, 4) as usize,
        be_u32(bytes, 8) as usize,
        be_u32(bytes, 12) as usize,
    );
    // Checked: a forged header (4294967295 × 4294967295 × …) must not wrap
    // into a small size that matches the file (found by tests/fuzz_readers.rs).
    let expected = count
        .checked_mul(rows)
        .and_then(|n| n.checked_mul(cols))
        .and_then(|n| n.checked_add(16));
    if expected != Some(bytes.len()) || rows == 0 || cols == 0 {
        return Err(IdxError::Truncated {
            path: path.to_path_buf(),
            header: match expected {
                Some(n) => format!("{count}×{rows}×{cols} ({n} bytes)"),
                None => format!("{count}×{rows}×{cols} (more bytes than can be addressed)"),
            },
            bytes: bytes.len(),
        });
    }
    Ok(Images {
        count,
        rows,
        cols,
        pixels: bytes[16..].to_vec(),
    })
}

/// Parses an IDX label file (magic 0x801, one dimension, labels 0..=9).
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    if bytes.len() < 8 || be_u32(bytes, 0) != LABELS_MAGIC {
        return Err(IdxError::BadHeader {
            path: path.to_path_buf(),
            kind: "label",
        });
    }
    let count = be_u32(bytes, 4) as usize;
    if bytes.len() != 8 + count {
        return Err(IdxError::Truncated {
            path: path.to_path_buf(),
            header: format!("{count} labels"),
            bytes: bytes.len(),
        });
    }
    let labels = bytes[8..].to_vec();
    if let Some(bad) = labels.iter().find(|&&l| l > 9) {
        return Err(IdxError::BadLabel {
            path: path.to_path_buf(),
            label: *bad,
        });
    }
    Ok(labels)
}

fn read_pair(dir: &Path, prefix: &str) -> Result<Labelled> {
    let ipath = locate(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let lpath = locate(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = parse_images(&read_bytes(&ipath)?, &ipath)?;
    let labels = parse_labels(&read_bytes(&lpath)?, &lpath)?;
    if images.count != labels.len() {
        return Err(IdxError::CountMismatch {
            images_path: ipath,
            images: images.count,
            labels_path: lpath,
            labels: labels.len(),
        });
    }
    Ok(Labelled { images, labels })
}

/// Reads `train-{images,labels}` and `t10k-{images,labels}` from `dir`
/// (each plain or `.gz`). `repair` is appended to any error: the command
/// that makes or repairs the folder.
pub fn read_idx_dataset(dir: &Path, repair: &str) -> Result<IdxDataset, DatasetError> {
    let load = || -> Result<IdxDataset> {
        if !dir.is_dir() {
            return Err(IdxError::NoFolder);
        }
        Ok(IdxDataset {
            train: read_pair(dir, "train")?,
            test: read_pair(dir, "t10k")?,
        })
    };
    load().map_err(|source| DatasetError {
        dir: dir.to_path_buf(),
        repair: repair.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_file(count: u32, rows: u32, cols: u32, extra: usize) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [IMAGES_MAGIC, count, rows, cols] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.resize(16 + (count * rows * cols) as usize + extra, 7);
        b
    }

    #[test]
    fn parses_images_and_refuses_truncation() {
        let p = Path::new("x");
        let ok = parse_images(&image_file(2, 3, 4, 0), p).unwrap();
        assert_eq!(
            (ok.count, ok.rows, ok.cols, ok.image(1).len()),
            (2, 3, 4, 12)
        );
        assert!(parse_images(&image_file(2, 3, 4, 1), p).is_err());
        let mut short = image_file(2, 3, 4, 0);
        short.pop();
        assert!(parse_images(&short, p)
            .unwrap_err()
            .to_string()
            .contains("truncated"));
    }

    #[test]
    fn refuses_bad_labels() {
        let mut b = Vec::new();
        b.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
        b.extend_from_slice(&2u32.to_be_bytes());
        b.extend_from_slice(&[3, 12]);
        assert!(parse_labels(&b, Path::new("l"))
            .unwrap_err()
            .to_string()
            .contains("12"));
    }

    /// `len` zero bytes, gzipped, streamed (never held uncompressed).
    fn gzipped_zeros(len: u64) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let chunk = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            std::io::Write::write_all(&mut enc, &chunk[..n]).unwrap();
            left -= n as u64;
        }
        enc.finish().unwrap()
    }

    #[test]
    fn a_gzip_bomb_is_refused_quickly_at_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let bomb = dir.path().join("train-images-idx3-ubyte.gz");
        let packed = gzipped_zeros(100 << 20);
        assert!(packed.len() < 1 << 20, "a bomb: {} bytes", packed.len());
        std::fs::write(&bomb, &packed).unwrap();
        let started = std::time::Instant::now();
        let err = read_bytes(&bomb).unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(err, IdxError::GzipTooLarge { limit, .. } if limit == MAX_IDX_BYTES),
            "{err}"
        );
        assert!(err.to_string().contains("gzip bomb"), "{err}");
        assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
        // Under a small cap, only the cap's worth is ever inflated.
        let err = read_bytes_capped(&bomb, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("more than 1048576 bytes"), "{err}");
    }

    #[test]
    fn files_within_the_cap_are_read_and_larger_plain_files_refused() {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("small.gz");
        std::fs::write(&gz, gzipped_zeros(4096)).unwrap();
        assert_eq!(read_bytes_capped(&gz, 4096).unwrap().len(), 4096);
        assert!(read_bytes_capped(&gz, 4095).is_err());
        let plain = dir.path().join("big");
        std::fs::write(&plain, vec![1u8; 2048]).unwrap();
        assert_eq!(read_bytes_capped(&plain, 2048).unwrap().len(), 2048);
        let err = read_bytes_capped(&plain, 2047).unwrap_err();
        assert!(matches!(err, IdxError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn missing_folder_names_path_and_repair() {
        let e = read_idx_dataset(Path::new("/nonexistent/mnist"), "run `fix-it`").unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("/nonexistent/mnist") && msg.contains("fix-it"),
            "{msg}"
        );
    }
}
