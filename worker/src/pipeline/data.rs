//! A trial's data, made once before training: the stratified split of MNIST,
//! the training images kept small (28×28, [0, 1]) for per-batch augmentation,
//! and the val/test images kept the same way, transformed a batch at a time
//! when evaluated ([`EvalImages`]).

use super::idx::Labelled;
use super::mnist::{load_mnist, MnistError};
use super::split::{stratified_split, Split, SplitError, SplitSizes};
use super::transform::{label_tensor, unit_images, EvalImages};
use sweep_proto::trial::TrialConfig;
use tch::Tensor;

/// Tensors of one trial's three splits.
pub struct TrialData {
    pub split: Split,
    /// `[N, 1, 28, 28]` in [0, 1]: augmented and resized batch by batch.
    pub train_unit: Tensor,
    pub train_labels: Tensor,
    /// Made into `[n, 3, S, S]` normalised inputs batch by batch.
    pub val_inputs: EvalImages,
    pub val_labels: Tensor,
    pub test_inputs: EvalImages,
    pub test_labels: Tensor,
    /// SHA-256 (hex) of the training and validation images and labels, in
    /// split order: everything phase 1 sees of the data (the phase-1
    /// snapshot's key uses it, so a changed file never matches).
    pub phase1_data_sha256: String,
}

/// Why a trial's data could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Mnist(#[from] MnistError),
    #[error(transparent)]
    Split(#[from] SplitError),
}

/// Loads MNIST from `cfg.data.dir`, draws the split (seed `data.split_seed`
/// or the trial seed) and prepares the tensors.
pub fn prepare_data(cfg: &TrialConfig) -> Result<TrialData, DataError> {
    let mnist = load_mnist(&cfg.data.dir)?;
    let sizes = SplitSizes {
        train: cfg.data.train as usize,
        val: cfg.data.val as usize,
        test: cfg.data.test as usize,
    };
    let seed = cfg.data.split_seed.unwrap_or(cfg.seed);
    let split = stratified_split(&mnist.train.labels, &mnist.test.labels, sizes, seed)?;
    let size = cfg.input_size as i64;
    let (tr, te) = (&mnist.train, &mnist.test);
    let phase1_data_sha256 = fingerprint(tr, &[&split.train, &split.val]);
    Ok(TrialData {
        phase1_data_sha256,
        train_unit: unit_images(&tr.images, &split.train),
        train_labels: label_tensor(&tr.labels, &split.train),
        val_inputs: EvalImages::new(unit_images(&tr.images, &split.val), size),
        val_labels: label_tensor(&tr.labels, &split.val),
        test_inputs: EvalImages::new(unit_images(&te.images, &split.test), size),
        test_labels: label_tensor(&te.labels, &split.test),
        split,
    })
}

/// SHA-256 (hex) of the images and labels of `set` at `parts`' indices, in order.
fn fingerprint(set: &Labelled, parts: &[&Vec<usize>]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        for &i in part.iter() {
            h.update(set.images.image(i));
            h.update([set.labels[i]]);
        }
    }
    hex::encode(h.finalize())
}
