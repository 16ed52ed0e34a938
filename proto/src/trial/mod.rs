//! What one trial is: its configuration ([`TrialConfig`]), what it reports per
//! epoch ([`EpochMetrics`]) and at the end ([`TrialResult`]), and the checks a
//! configuration must pass before any training starts ([`TrialConfig::validate`]).
//!
//! Field names are the dotted paths a sweep file uses (`phase2.lr_backbone`,
//! `loss.label_smoothing`, `scheduler.kind`, ...). Every struct denies unknown
//! keys and defaults to the seed report's recipe.

mod config;
mod result;
mod validate;

pub use config::*;
pub use result::*;
pub use validate::{ConfigError, MNIST_TEST_CLASS_MIN, MNIST_TRAIN_CLASS_MIN};

/// Parses a trial config from YAML text, then validates it.
///
/// Errors name the line/column (syntax, unknown keys, wrong types) or the
/// field (values out of range).
pub fn parse_trial_yaml(text: &str) -> Result<TrialConfig, ConfigError> {
    let cfg: TrialConfig = serde_yaml::from_str(text).map_err(ConfigError::from_yaml)?;
    cfg.validate()?;
    Ok(cfg)
}
