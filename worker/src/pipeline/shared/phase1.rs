//! Phase 1 computed once for all the trials that share it: a stage tree of
//! depth one. Trials of a sweep that differ only in phase 2 (its learning
//! rates, what it unfreezes, its schedule) run an identical phase 1; the
//! first to finish it leaves a snapshot on the worker, keyed by everything
//! phase 1 depends on, and the others resume from it instead of running it.
//!
//! The snapshot is the whole state phase 2 starts from: the model (weights,
//! BatchNorm statistics and counters), where the shuffle and augmentation
//! streams stand, the epoch count, the epochs' metrics, and the best epoch
//! so far (its number, validation predictions and weights), and where the
//! head's dropout stream stands. Phase 2 makes a fresh optimizer and
//! schedule, and nothing in a trial draws from libtorch's process-wide
//! generator, so nothing else carries over: a trial that resumes
//! reports the same numbers, bit for bit, as one that ran phase 1 itself
//! (`tests/pipeline/shared.rs`).
//!
//! The key ([`Phase1Key`]) is the trial config with phase 2 (and the
//! scheduler, when it does not act in phase 1) set to a constant and the
//! file paths replaced by what the files hold — the backbone file's SHA-256
//! and a SHA-256 of the training and validation images and labels — plus
//! the thread count actually used, the CPU model and this worker's version
//! and snapshot format. The full key is stored with the snapshot and
//! compared on load, so a hash collision cannot match.
//!
//! The cache is a folder ([`super::phase1_dir`]);
//! each entry is a folder `<sha256 of key>/` with `meta.json` and
//! `state.safetensors`, written under a temporary name and renamed into
//! place, so a reader never sees half an entry. Entries beyond
//! [`BUDGET_BYTES`] are deleted, least recently used first. The cache never
//! fails a trial: an entry that cannot be read or written is logged and the
//! trial computes phase 1 itself.

use super::{touch, trim};
use crate::pipeline::metrics::Predictions;
use crate::pipeline::net::{Net, Snapshot};
use crate::pipeline::weights::read_checked;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use sweep_proto::trial::{EpochMetrics, PhaseConfig, PhaseTiming, SchedulerConfig, TrialConfig};
use tch::Tensor;

/// Bumped whenever what a snapshot holds, or how phase 1 computes, changes.
const FORMAT: u32 = 1;
/// What the cache may hold on disk before old entries go (a ResNet18
/// snapshot is about 90 MB: the weights twice).
pub const BUDGET_BYTES: u64 = 2 << 30;

/// Everything a trial's phase 1 depends on, as canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase1Key(String);

impl Phase1Key {
    /// The key of `cfg`'s phase 1 run on `threads` threads, with the
    /// backbone file and the data it read identified by content.
    pub fn new(cfg: &TrialConfig, backbone_sha256: &str, data_sha256: &str, threads: u32) -> Self {
        let mut c = cfg.clone();
        c.phase2 = PhaseConfig::seed(2);
        if !c.scheduler.phase1 {
            c.scheduler = SchedulerConfig::default();
        }
        c.threads = threads;
        c.backbone.weights = PathBuf::new();
        c.data.dir = PathBuf::new();
        let key = serde_json::json!({
            "format": FORMAT,
            "numerics": super::numerics(cfg),
            "cpu": sweep_runtime::cores::model(),
            "config": c.canonical_json(),
            "backbone_sha256": backbone_sha256,
            "data_sha256": data_sha256,
        });
        Self(key.to_string())
    }

    /// The entry's folder name: the key's SHA-256.
    fn folder(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

/// The state at the end of phase 1 (see the module docs).
pub struct Phase1State {
    /// The model as phase 1 left it.
    pub model: Snapshot,
    /// Epochs run so far (phase 1's count).
    pub epoch: u32,
    pub epochs: Vec<EpochMetrics>,
    pub timing: PhaseTiming,
    pub best_epoch: u32,
    pub best_val: Predictions,
    pub best_weights: Snapshot,
    pub shuffle_position: u128,
    pub augment_position: u128,
    pub dropout_position: u128,
}

/// `meta.json`: everything but the tensors.
#[derive(Serialize, Deserialize)]
struct Meta {
    key: String,
    epoch: u32,
    epochs: Vec<EpochMetrics>,
    timing: PhaseTiming,
    best_epoch: u32,
    best_val: Predictions,
    /// u128 as decimal text (JSON numbers stop at 64 bits in many readers).
    shuffle_position: String,
    augment_position: String,
    dropout_position: String,
}

const META: &str = "meta.json";
const STATE: &str = "state.safetensors";

/// A folder of phase-1 snapshots.
#[derive(Debug, Clone)]
pub struct Phase1Cache {
    dir: PathBuf,
}

impl Phase1Cache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The snapshot stored under `key`, for `model`'s architecture, if
    /// there is a whole one; anything unreadable is logged and skipped.
    pub fn load(&self, key: &Phase1Key, model: &Net) -> Option<Phase1State> {
        let entry = self.dir.join(key.folder());
        if !entry.join(META).is_file() {
            return None;
        }
        match read_entry(&entry, key, model) {
            Ok(state) => {
                touch(&entry.join(META));
                Some(state)
            }
            Err(why) => {
                tracing::warn!(
                    "phase-1 snapshot {} not used ({why}); running phase 1",
                    entry.display()
                );
                None
            }
        }
    }

    /// Stores `state` under `key` (a no-op when another trial got there
    /// first), then trims the cache to its budget. Failures are logged.
    pub fn store(&self, key: &Phase1Key, state: &Phase1State) {
        let entry = self.dir.join(key.folder());
        if entry.exists() {
            return;
        }
        if let Err(why) = write_entry(&self.dir, &entry, key, state) {
            tracing::warn!("phase-1 snapshot {} not kept: {why}", entry.display());
            return;
        }
        trim(&self.dir, BUDGET_BYTES);
    }
}

fn read_entry(entry: &Path, key: &Phase1Key, model: &Net) -> Result<Phase1State, String> {
    let text = std::fs::read_to_string(entry.join(META)).map_err(|e| e.to_string())?;
    let meta: Meta = serde_json::from_str(&text).map_err(|e| format!("{META}: {e}"))?;
    if meta.key != key.0 {
        return Err("its key differs (a hash collision or an edited file)".into());
    }
    let tensors = read_checked(&entry.join(STATE)).map_err(|e| e.to_string())?;
    let snapshot = |prefix| {
        Snapshot::from_named(model, &tensors, prefix)
            .ok_or_else(|| format!("{STATE} does not hold this model's `{prefix}` tensors"))
    };
    let position = |text: &str| {
        text.parse::<u128>()
            .map_err(|e| format!("a stream position: {e}"))
    };
    Ok(Phase1State {
        model: snapshot("model")?,
        best_weights: snapshot("best")?,
        epoch: meta.epoch,
        epochs: meta.epochs,
        timing: meta.timing,
        best_epoch: meta.best_epoch,
        best_val: meta.best_val,
        shuffle_position: position(&meta.shuffle_position)?,
        augment_position: position(&meta.augment_position)?,
        dropout_position: position(&meta.dropout_position)?,
    })
}

fn write_entry(
    dir: &Path,
    entry: &Path,
    key: &Phase1Key,
    state: &Phase1State,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the folder: {e}"))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        key.folder().get(..16).unwrap_or_default()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let written = (|| {
        let mut named = state.model.to_named("model");
        named.extend(state.best_weights.to_named("best"));
        Tensor::write_safetensors(&named, tmp.join(STATE)).map_err(|e| e.to_string())?;
        let meta = Meta {
            key: key.0.clone(),
            epoch: state.epoch,
            epochs: state.epochs.clone(),
            timing: state.timing.clone(),
            best_epoch: state.best_epoch,
            best_val: state.best_val.clone(),
            shuffle_position: state.shuffle_position.to_string(),
            augment_position: state.augment_position.to_string(),
            dropout_position: state.dropout_position.to_string(),
        };
        let text = serde_json::to_string(&meta).map_err(|e| e.to_string())?;
        // meta.json last: an entry without it is never read.
        std::fs::write(tmp.join(META), text).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, entry).map_err(|e| e.to_string())
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    // Another trial renamed its entry into place first: it is the same.
    if entry.join(META).is_file() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Ok(());
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweep_proto::trial::{SchedulerKind, Stage};

    fn key(cfg: &TrialConfig) -> Phase1Key {
        Phase1Key::new(cfg, "b", "d", 2)
    }

    #[test]
    fn what_phase_1_does_not_see_leaves_the_key_alone() {
        let base = TrialConfig::default();
        let mut c = base.clone();
        c.phase2.unfreeze = vec![Stage::All];
        c.phase2.lr_backbone = 1e-3;
        c.phase2.epochs = 30;
        c.scheduler.kind = SchedulerKind::Cosine;
        c.backbone.weights = "elsewhere/same-bytes.safetensors".into();
        c.data.dir = "elsewhere/mnist".into();
        c.threads = 0;
        assert_eq!(key(&c), key(&base));
    }

    #[test]
    fn what_phase_1_sees_changes_the_key() {
        let base = TrialConfig::default();
        let changes: [fn(&mut TrialConfig); 6] = [
            |c| c.loss.label_smoothing = 0.1,
            |c| c.seed = 1,
            |c| c.phase1.lr_head = 0.5,
            |c| c.augment.enabled = false,
            |c| c.data.train += 10,
            |c| {
                c.scheduler.kind = SchedulerKind::Cosine;
                c.scheduler.phase1 = true;
            },
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut c = base.clone();
            change(&mut c);
            assert_ne!(key(&c), key(&base), "change {i}");
        }
        assert_ne!(Phase1Key::new(&base, "other", "d", 2), key(&base));
        assert_ne!(Phase1Key::new(&base, "b", "other", 2), key(&base));
        assert_ne!(Phase1Key::new(&base, "b", "d", 1), key(&base));
    }
}
