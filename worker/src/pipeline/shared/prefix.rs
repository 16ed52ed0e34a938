//! The frozen prefix of a phase computed once for all the trials that share
//! it. In a training epoch, the stages that lead the backbone frozen (stem
//! .. layer3 for `unfreeze: [layer4]`, stem .. layer2 for `[layer3,
//! layer4]`, every stage in a head-only phase 1) compute the same outputs
//! in every trial that feeds them the same batches: same data, seed,
//! augmentation, batch size, input size, thread count, and the same prefix
//! weights and BatchNorm state at the phase's start. (In train mode a
//! frozen stage's BatchNorm normalises with batch statistics, so what the
//! trials' heads or later stages do never reaches it; its running
//! statistics move the same way in all of them.) So the first trial to run
//! an epoch keeps what its prefix produced — every batch's output, in
//! batch order, and the prefix's BatchNorm statistics after the epoch —
//! and a later trial of the same key runs only its trainable suffix and
//! head on those outputs, then takes the statistics, and comes out with
//! exactly the numbers it gets alone (`tests/pipeline/shared.rs`).
//!
//! This is the sweep's stage tree realised across processes: trials that
//! differ in head settings (label smoothing, head LR) share phase 1's whole
//! backbone pass, trials that unfreeze only `layer4` share stem..layer3 in
//! phase 2, and `[all]` shares nothing (its prefix is empty).
//!
//! The validation split's prefix outputs after each epoch (eval mode, so
//! they depend only on the prefix's statistics then) are kept with the
//! epoch too, and a later trial evaluates only its suffix and head on them.
//!
//! An epoch's entry is `<key hash>/p<phase>e<epoch>.safetensors` (the
//! outputs as `train` and `val`, the statistics as `stats.*`) with a `.json` beside
//! it (the stream positions after the epoch), written under a temporary
//! name and renamed; the JSON last, so an entry without it is never read.
//! An epoch whose outputs would exceed [`MAX_EPOCH_BYTES`] is not kept
//! (224 px at the full split). Keys whose files exceed [`BUDGET_BYTES`]
//! go, least recently used first. Like the phase-1 snapshots, the cache
//! never fails a trial.

use super::{touch, trim};
use crate::pipeline::net::{Net, Snapshot};
use crate::pipeline::weights::read_checked;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use sweep_proto::trial::TrialConfig;
use tch::Tensor;

/// Bumped whenever what an entry holds, or how a prefix computes, changes.
const FORMAT: u32 = 1;
/// What the cache may hold on disk before old keys go.
pub const BUDGET_BYTES: u64 = 4 << 30;
/// An epoch's outputs larger than this are not kept (nor held in memory
/// while the epoch runs).
pub const MAX_EPOCH_BYTES: u64 = 512 << 20;

/// Everything a phase's frozen-prefix outputs depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixKey(String);

/// Where a phase starts, for its [`PrefixKey`].
pub struct PhaseStart<'a> {
    pub phase: u32,
    /// Leading frozen stages (≥ 1).
    pub stages: usize,
    /// [`Net::prefix_digest`] of those stages at the phase's start.
    pub prefix_digest: &'a str,
    pub shuffle_position: u128,
    pub augment_position: u128,
}

impl PrefixKey {
    pub fn new(cfg: &TrialConfig, data_sha256: &str, threads: u32, start: &PhaseStart<'_>) -> Self {
        let key = serde_json::json!({
            "format": FORMAT,
            "numerics": super::numerics(cfg),
            "cpu": sweep_runtime::cores::model(),
            "threads": threads,
            "model": cfg.model.to_string(),
            "seed": cfg.seed,
            "input_size": cfg.input_size,
            "batch_size": cfg.batch_size,
            "augment": serde_json::to_value(&cfg.augment).unwrap_or_default(),
            "hold_frozen_bn": cfg.backbone.hold_frozen_bn,
            "data_sha256": data_sha256,
            "phase": start.phase,
            "stages": start.stages,
            "prefix_digest": start.prefix_digest,
            "shuffle_position": start.shuffle_position.to_string(),
            "augment_position": start.augment_position.to_string(),
        });
        Self(key.to_string())
    }

    fn folder(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

/// One epoch of a frozen prefix, as a later trial uses it.
pub struct EpochOutputs {
    /// Every training batch's prefix output, concatenated in batch order.
    pub train: Tensor,
    /// The validation split's prefix outputs after the epoch (eval mode,
    /// the statistics below), when kept.
    pub val: Option<Tensor>,
    /// The prefix's BatchNorm state after the epoch.
    pub statistics: Snapshot,
    /// Where the streams stood after the epoch.
    pub shuffle_position: u128,
    pub augment_position: u128,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    key: String,
    shuffle_position: String,
    augment_position: String,
}

/// A folder of frozen-prefix outputs.
#[derive(Debug, Clone)]
pub struct PrefixCache {
    dir: PathBuf,
}

impl PrefixCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn files(&self, key: &PrefixKey, phase: u32, epoch: u32) -> (PathBuf, PathBuf) {
        let base = self.dir.join(key.folder());
        let name = format!("p{phase}e{epoch}");
        (
            base.join(format!("{name}.safetensors")),
            base.join(format!("{name}.json")),
        )
    }

    /// Epoch `epoch` (1-based, within `phase`) of `key`, if a whole entry
    /// is there and fits `model`'s first `stages` stages and `images`.
    pub fn load(
        &self,
        key: &PrefixKey,
        phase: u32,
        epoch: u32,
        model: &Net,
        stages: usize,
        images: i64,
    ) -> Option<EpochOutputs> {
        let (tensors, meta) = self.files(key, phase, epoch);
        if !meta.is_file() {
            return None;
        }
        match read(&tensors, &meta, key, model, stages, images) {
            Ok(e) => {
                touch(&meta);
                Some(e)
            }
            Err(why) => {
                tracing::warn!(
                    "shared prefix {} not used ({why}); computing it",
                    tensors.display()
                );
                None
            }
        }
    }

    /// Keeps `outputs` as epoch `epoch` of `key` (unless too large or
    /// already there), then trims the cache. Failures are logged.
    pub fn store(&self, key: &PrefixKey, phase: u32, epoch: u32, outputs: &EpochOutputs) {
        let bytes = [Some(&outputs.train), outputs.val.as_ref()]
            .into_iter()
            .flatten()
            .map(|t| t.numel() as u64 * t.kind().elt_size_in_bytes() as u64)
            .sum::<u64>();
        if bytes > MAX_EPOCH_BYTES {
            return;
        }
        let (tensors, meta) = self.files(key, phase, epoch);
        if meta.exists() {
            return;
        }
        if let Err(why) = write(&tensors, &meta, key, outputs) {
            tracing::warn!("shared prefix {} not kept: {why}", tensors.display());
            return;
        }
        trim(&self.dir, BUDGET_BYTES);
    }
}

fn read(
    tensors: &Path,
    meta: &Path,
    key: &PrefixKey,
    model: &Net,
    stages: usize,
    images: i64,
) -> Result<EpochOutputs, String> {
    let text = std::fs::read_to_string(meta).map_err(|e| e.to_string())?;
    let m: Meta = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    if m.key != key.0 {
        return Err("its key differs (a hash collision or an edited file)".into());
    }
    let named = read_checked(tensors).map_err(|e| e.to_string())?;
    let train = named
        .get("train")
        .ok_or("no `train` tensor")?
        .shallow_clone();
    if train.size().first() != Some(&images) {
        return Err(format!("{:?} outputs for {images} images", train.size()));
    }
    let val = named.get("val").map(Tensor::shallow_clone);
    let statistics = Snapshot::from_named_statistics(model, stages, &named, "stats")
        .ok_or("its statistics do not fit this model's prefix")?;
    let position = |t: &str| t.parse::<u128>().map_err(|e| e.to_string());
    Ok(EpochOutputs {
        train,
        val,
        statistics,
        shuffle_position: position(&m.shuffle_position)?,
        augment_position: position(&m.augment_position)?,
    })
}

fn write(
    tensors: &Path,
    meta: &Path,
    key: &PrefixKey,
    outputs: &EpochOutputs,
) -> Result<(), String> {
    let dir = tensors.parent().expect("inside the key's folder");
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let tmp = |p: &Path| {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        dir.join(format!(".tmp-{}-{name}", std::process::id()))
    };
    let (tmp_tensors, tmp_meta) = (tmp(tensors), tmp(meta));
    let written = (|| {
        let mut named = vec![("train".to_string(), outputs.train.contiguous())];
        if let Some(val) = &outputs.val {
            named.push(("val".to_string(), val.contiguous()));
        }
        named.extend(outputs.statistics.to_named("stats"));
        Tensor::write_safetensors(&named, &tmp_tensors).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp_tensors, tensors).map_err(|e| e.to_string())?;
        let m = Meta {
            key: key.0.clone(),
            shuffle_position: outputs.shuffle_position.to_string(),
            augment_position: outputs.augment_position.to_string(),
        };
        std::fs::write(
            &tmp_meta,
            serde_json::to_string(&m).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        std::fs::rename(&tmp_meta, meta).map_err(|e| e.to_string())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp_tensors);
        let _ = std::fs::remove_file(&tmp_meta);
    }
    written
}
