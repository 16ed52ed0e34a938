//! The trial configuration types. Defaults are the seed's recipe: 10k/2k/2k
//! stratified split, 224 px, phase 1 (head only, 3 epochs) then phase 2
//! (`layer4` + head, 7 epochs), AdamW, LR 1e-5 backbone / 1e-3 head, batch 128,
//! no label smoothing, no scheduler.

pub use super::model::{Model, Stage};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything one trial needs. Serialises to the canonical JSON whose hash is
/// the trial's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrialConfig {
    /// The architecture (`resnet18`, the default, or `mobilenet_v2`); its
    /// backbone file must hold that architecture. Left out of the canonical
    /// JSON when `resnet18`, so the ids of older trials hold.
    #[serde(skip_serializing_if = "Model::is_resnet18")]
    pub model: Model,
    /// Fixes head init, shuffling and augmentation (and the split unless
    /// `data.split_seed` is set).
    pub seed: u64,
    pub data: DataConfig,
    /// Side of the square network input, in pixels (≥ 32).
    pub input_size: u32,
    pub batch_size: u32,
    pub backbone: BackboneConfig,
    pub augment: AugmentConfig,
    /// Keys left out keep the seed's phase 1 (3 epochs, head only).
    #[serde(deserialize_with = "phase_over_seed::<1, _>")]
    pub phase1: PhaseConfig,
    /// Keys left out keep the seed's phase 2 (7 epochs, `layer4` + head).
    #[serde(deserialize_with = "phase_over_seed::<2, _>")]
    pub phase2: PhaseConfig,
    pub optimizer: OptimizerConfig,
    pub loss: LossConfig,
    pub scheduler: SchedulerConfig,
    /// Intra-op threads; 0 = fit the machine.
    pub threads: u32,
}

impl Default for TrialConfig {
    fn default() -> Self {
        Self {
            model: Model::Resnet18,
            seed: 0,
            data: DataConfig::default(),
            input_size: 224,
            batch_size: 128,
            backbone: BackboneConfig::default(),
            augment: AugmentConfig::default(),
            phase1: PhaseConfig::seed(1),
            phase2: PhaseConfig::seed(2),
            optimizer: OptimizerConfig::default(),
            loss: LossConfig::default(),
            scheduler: SchedulerConfig::default(),
            threads: 0,
        }
    }
}

impl TrialConfig {
    /// Total epochs over both phases (saturating: a validated config is far
    /// below `u32::MAX`, an unvalidated one never wraps).
    pub fn total_epochs(&self) -> u32 {
        self.phase1.epochs.saturating_add(self.phase2.epochs)
    }
}

/// Where the MNIST IDX files are and how the split is drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Folder with the four MNIST IDX files (`train-images-idx3-ubyte`, ...).
    pub dir: PathBuf,
    /// Training images, drawn from MNIST's training set, equal per class.
    pub train: u32,
    /// Validation images, drawn disjointly from the same pool, equal per class.
    pub val: u32,
    /// Test images, from MNIST's test set, equal per class.
    pub test: u32,
    /// Seed of the split; `None` = use the trial's `seed`.
    pub split_seed: Option<u64>,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("data/mnist"),
            train: 10_000,
            val: 2_000,
            test: 2_000,
            split_seed: None,
        }
    }
}

/// The pretrained backbone to start from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackboneConfig {
    /// A torchvision-format state dict of `model` as `.safetensors`.
    pub weights: PathBuf,
    /// Keep BatchNorm of frozen stages in eval mode (running statistics held).
    pub hold_frozen_bn: bool,
}

impl Default for BackboneConfig {
    fn default() -> Self {
        Self {
            weights: PathBuf::from("data/backbone/resnet18-fashion-32.safetensors"),
            hold_frozen_bn: false,
        }
    }
}

/// Train-only augmentation (as torchvision's `RandomRotation(rotation_deg)` and
/// `RandomAffine(0, translate=(translate, translate))`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    pub enabled: bool,
    /// Maximum rotation, degrees, either way.
    pub rotation_deg: f64,
    /// Maximum shift as a fraction of width/height.
    pub translate: f64,
    /// How the transform is sampled. Left out of the canonical JSON when
    /// `fast`, so configs from before the key existed keep their ids.
    #[serde(skip_serializing_if = "AugmentMode::is_fast")]
    pub mode: AugmentMode,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            rotation_deg: 15.0,
            translate: 0.1,
            mode: AugmentMode::Fast,
        }
    }
}

/// How augmentation samples its transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AugmentMode {
    /// Rotation and a continuous shift in one bilinear pass from the 28 px
    /// image straight to the input size (one resampling; the default).
    #[default]
    Fast,
    /// As torchvision does it on a PIL image after `Resize`: resize, rotate
    /// (nearest), shift by whole pixels (nearest): three resamplings.
    Exact,
}

impl AugmentMode {
    pub fn is_fast(&self) -> bool {
        *self == AugmentMode::Fast
    }
}

/// One training phase. The head (`fc`, `classifier.1`) always trains; `unfreeze` names the
/// backbone stages that train too. Read through [`PhasePatch`] (keys left out
/// keep the seed's values for that phase).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseConfig {
    pub epochs: u32,
    pub unfreeze: Vec<Stage>,
    pub lr_backbone: f64,
    pub lr_head: f64,
}

/// A phase as written in a file: every key optional, laid over the seed's
/// phase of the same number, so `phase2: {epochs: 3}` keeps `layer4`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhasePatch {
    epochs: Option<u32>,
    unfreeze: Option<Vec<Stage>>,
    lr_backbone: Option<f64>,
    lr_head: Option<f64>,
}

fn phase_over_seed<'de, const N: u32, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<PhaseConfig, D::Error> {
    let patch = PhasePatch::deserialize(d)?;
    let seed = PhaseConfig::seed(N);
    Ok(PhaseConfig {
        epochs: patch.epochs.unwrap_or(seed.epochs),
        unfreeze: patch.unfreeze.unwrap_or(seed.unfreeze),
        lr_backbone: patch.lr_backbone.unwrap_or(seed.lr_backbone),
        lr_head: patch.lr_head.unwrap_or(seed.lr_head),
    })
}

impl PhaseConfig {
    /// The seed's phase `n`: 1 = head only for 3 epochs, 2 = `layer4` + head
    /// for 7; LR 1e-5 backbone, 1e-3 head.
    pub fn seed(n: u32) -> Self {
        let (epochs, unfreeze) = if n == 1 {
            (3, vec![])
        } else {
            (7, vec![Stage::Layer4])
        };
        Self {
            epochs,
            unfreeze,
            lr_backbone: 1e-5,
            lr_head: 1e-3,
        }
    }

    /// The backbone stages of `model` this phase trains, `all` expanded, in
    /// forward order.
    pub fn unfrozen_stages(&self, model: Model) -> Vec<Stage> {
        let all = self.unfreeze.contains(&Stage::All);
        model
            .stages()
            .iter()
            .copied()
            .filter(|s| all || self.unfreeze.contains(s))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// AdamW weight decay (torch's default).
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    /// Cross-entropy label smoothing, in [0, 1).
    pub label_smoothing: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SchedulerKind {
    /// Constant learning rates (the seed).
    #[default]
    None,
    /// Cosine annealing from each group's LR to `min_lr_factor` × LR over the phase.
    Cosine,
    /// Multiply by `gamma` every `step_size` steps.
    Step,
    /// Multiply by `factor` when val loss has not improved for `patience` epochs.
    Plateau,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StepUnit {
    /// Step after every batch (cosine, step).
    Batch,
    /// Step after every epoch.
    #[default]
    Epoch,
}

/// The learning-rate schedule, applied to every optimizer group separately.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    pub kind: SchedulerKind,
    /// Where cosine/step advance; plateau always steps per epoch on val loss.
    pub step_per: StepUnit,
    /// Schedule phase 1 too (phase 2 is always scheduled when `kind` ≠ none).
    pub phase1: bool,
    /// `step`: steps (in `step_per` units) between decays.
    pub step_size: u32,
    /// `step`: decay factor.
    pub gamma: f64,
    /// `plateau`: decay factor.
    pub factor: f64,
    /// `plateau`: epochs without improvement before decaying.
    pub patience: u32,
    /// `cosine`: final LR as a fraction of the initial one.
    pub min_lr_factor: f64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            kind: SchedulerKind::None,
            step_per: StepUnit::Epoch,
            phase1: false,
            step_size: 3,
            gamma: 0.1,
            factor: 0.1,
            patience: 1,
            min_lr_factor: 0.0,
        }
    }
}

impl TrialConfig {
    /// The canonical JSON of this config: serde_json with struct fields in
    /// declaration order, so equal configs give equal text.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).expect("a TrialConfig always serialises")
    }

    /// Content-hash id of the full resolved config: the first 16 hex digits
    /// of the sha256 of [`Self::canonical_json`]. The same point always gets
    /// the same id, so a sweep never stores (or runs) it twice.
    pub fn content_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.canonical_json().as_bytes());
        hex::encode(&digest[..8])
    }
}
