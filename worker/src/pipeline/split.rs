//! The stratified split: `data.train` + `data.val` images drawn disjointly from
//! MNIST's training set and `data.test` from its test set, the same count of
//! every digit, fully determined by the split seed.

use super::rng::{stream, Stream};
use rand::seq::SliceRandom;

/// Indices into the training set (`train`, `val`) and the test set (`test`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

/// Split sizes in images (each a multiple of the class count).
#[derive(Debug, Clone, Copy)]
pub struct SplitSizes {
    pub train: usize,
    pub val: usize,
    pub test: usize,
}

const CLASSES: usize = 10;

/// The split the config asks for does not fit the data.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("`{field}` must be a multiple of {CLASSES} (equal count per class), got {n}")]
    NotMultiple { field: &'static str, n: usize },
    #[error("`data.train` + `data.val` need {need} images of digit {class} but the training set has {have}")]
    TooFewTraining {
        need: usize,
        class: usize,
        have: usize,
    },
    #[error("`data.test` needs {need} images of digit {class} but the test set has {have}")]
    TooFewTest {
        need: usize,
        class: usize,
        have: usize,
    },
}

/// Indices of each class, in file order.
fn by_class(labels: &[u8]) -> Vec<Vec<usize>> {
    let mut pools = vec![Vec::new(); CLASSES];
    for (i, &l) in labels.iter().enumerate() {
        pools[l as usize].push(i);
    }
    pools
}

/// Draws the split. Errors (naming `data.train` / `data.test`) when a class
/// has fewer images than the split needs; this re-checks the config's limits
/// against the files actually on disk.
pub fn stratified_split(
    train_labels: &[u8],
    test_labels: &[u8],
    sizes: SplitSizes,
    seed: u64,
) -> Result<Split, SplitError> {
    for (n, field) in [
        (sizes.train, "data.train"),
        (sizes.val, "data.val"),
        (sizes.test, "data.test"),
    ] {
        if n % CLASSES != 0 {
            return Err(SplitError::NotMultiple { field, n });
        }
    }
    let (tr_per, va_per, te_per) = (
        sizes.train / CLASSES,
        sizes.val / CLASSES,
        sizes.test / CLASSES,
    );
    let mut rng = stream(seed, Stream::Split);
    let (mut train, mut val, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for (class, mut pool) in by_class(train_labels).into_iter().enumerate() {
        if pool.len() < tr_per + va_per {
            return Err(SplitError::TooFewTraining {
                need: tr_per + va_per,
                class,
                have: pool.len(),
            });
        }
        pool.shuffle(&mut rng);
        train.extend_from_slice(&pool[..tr_per]);
        val.extend_from_slice(&pool[tr_per..tr_per + va_per]);
    }
    for (class, mut pool) in by_class(test_labels).into_iter().enumerate() {
        if pool.len() < te_per {
            return Err(SplitError::TooFewTest {
                need: te_per,
                class,
                have: pool.len(),
            });
        }
        pool.shuffle(&mut rng);
        test.extend_from_slice(&pool[..te_per]);
    }
    // Class-interleaved order is irrelevant (training shuffles); sorting
    // keeps the kept val/test tensors in file order.
    train.sort_unstable();
    val.sort_unstable();
    test.sort_unstable();
    Ok(Split { train, val, test })
}
