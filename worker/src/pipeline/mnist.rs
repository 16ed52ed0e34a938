//! Loads MNIST from `data.dir` and checks it is the real thing (60,000 training
//! and 10,000 test images of 28×28); any problem names the folder and the
//! command that repairs it.

use super::idx::{read_idx_dataset, DatasetError, IdxDataset};
use std::path::{Path, PathBuf};

/// The command that (re)makes the MNIST folder, quoted in every data error.
pub const MNIST_REPAIR: &str =
    "make it with `python3 scripts/fetch_mnist.py data/mnist` (or run scripts/setup.sh)";

/// Why `data.dir` is not usable MNIST.
#[derive(Debug, thiserror::Error)]
pub enum MnistError {
    #[error(transparent)]
    Unreadable(#[from] DatasetError),
    #[error("data folder {}: {part} images are {found}, MNIST's are {want}×28×28; {MNIST_REPAIR}", .dir.display())]
    NotMnist {
        dir: PathBuf,
        part: &'static str,
        found: String,
        want: usize,
    },
}

/// Reads and checks the four MNIST IDX files in `dir`.
pub fn load_mnist(dir: &Path) -> Result<IdxDataset, MnistError> {
    let ds = read_idx_dataset(dir, MNIST_REPAIR)?;
    for (part, set, want) in [("train", &ds.train, 60_000), ("t10k", &ds.test, 10_000)] {
        let im = &set.images;
        if im.count != want || im.rows != 28 || im.cols != 28 {
            return Err(MnistError::NotMnist {
                dir: dir.to_path_buf(),
                part,
                found: format!("{}×{}×{}", im.count, im.rows, im.cols),
                want,
            });
        }
    }
    Ok(ds)
}
