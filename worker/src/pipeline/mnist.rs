//! Loads MNIST from `data.dir` and checks it is the real thing (60,000 training
//! and 10,000 test images of 28×28); any problem names the folder and the
//! command that repairs it.

use super::idx::{read_idx_dataset, IdxDataset};
use anyhow::{bail, Result};
use std::path::Path;

/// The command that (re)makes the MNIST folder, quoted in every data error.
pub const MNIST_REPAIR: &str =
    "make it with `python3 scripts/fetch_mnist.py data/mnist` (or run scripts/setup.sh)";

/// Reads and checks the four MNIST IDX files in `dir`.
pub fn load_mnist(dir: &Path) -> Result<IdxDataset> {
    let ds = read_idx_dataset(dir, MNIST_REPAIR)?;
    for (part, set, want) in [("train", &ds.train, 60_000), ("t10k", &ds.test, 10_000)] {
        let im = &set.images;
        if im.count != want || im.rows != 28 || im.cols != 28 {
            bail!(
                "data folder {}: {part} images are {}×{}×{}, MNIST's are {want}×28×28; {MNIST_REPAIR}",
                dir.display(),
                im.count,
                im.rows,
                im.cols
            );
        }
    }
    Ok(ds)
}
