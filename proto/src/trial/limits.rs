//! The caps [`TrialConfig::validate`](super::TrialConfig::validate) holds a
//! config to. Each is far beyond a real trial (the seed runs 3 + 7 epochs on
//! 10k/2k/2k images at batch 128), so only a typo or a hostile file meets
//! one; together they keep every sum and product of these numbers far from
//! overflow.

/// Images in MNIST's training set: `data.train` and `data.val` are drawn from it.
pub const MNIST_TRAIN_IMAGES: u32 = 60_000;
/// Images in MNIST's test set: `data.test` is drawn from it.
pub const MNIST_TEST_IMAGES: u32 = 10_000;
/// Fewest images of one digit in MNIST's training set (digit 5).
pub const MNIST_TRAIN_CLASS_MIN: u32 = 5421;
/// Fewest images of one digit in MNIST's test set (digit 5).
pub const MNIST_TEST_CLASS_MIN: u32 = 892;

/// Most epochs of one phase (the seed: 3 and 7).
pub const MAX_PHASE_EPOCHS: u32 = 1_000;
/// Most epochs of one trial, both phases together.
pub const MAX_TRIAL_EPOCHS: u32 = 1_000;
/// Largest batch (the seed: 128).
pub const MAX_BATCH_SIZE: u32 = 65_536;
/// Smallest network input side, pixels: MNIST's own 28, no resize at all
/// (ResNet18 and MobileNetV2 still end on a 1×1 map).
pub const MIN_INPUT_SIZE: u32 = 28;
/// Largest network input side, pixels (the seed: 224).
pub const MAX_INPUT_SIZE: u32 = 1_024;
/// Most intra-op threads.
pub const MAX_THREADS: u32 = 1_024;
/// Longest file path (`data.dir`, `backbone.weights`), bytes: Linux's PATH_MAX.
pub const MAX_PATH_BYTES: usize = 4_096;
/// Largest trial config file, bytes, refused before parsing (a full one is ~1 KB).
pub const MAX_TRIAL_YAML_BYTES: usize = 64 * 1024;
/// The smallest fraction of its starting learning rate a `step` schedule
/// may decay to within a phase (see `TrialConfig::check_step_schedule`).
pub const MIN_STEP_LR_FACTOR: f64 = 1e-6;
