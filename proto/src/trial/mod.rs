//! What one trial is: its configuration ([`TrialConfig`]), what it reports per
//! epoch ([`EpochMetrics`]) and at the end ([`TrialResult`]), and the checks a
//! configuration must pass before any training starts ([`TrialConfig::validate`]).
//!
//! Field names are the dotted paths a sweep file uses (`phase2.lr_backbone`,
//! `loss.label_smoothing`, `scheduler.kind`, ...). Every struct denies unknown
//! keys and defaults to the seed report's recipe.
//!
//! Results and epoch metrics travel as JSON in which a non-finite `f64` (a
//! diverged loss) is the string `"NaN"`, `"inf"` or `"-inf"` ([`nonfinite`]).

mod batches;
mod config;
mod cost;
mod error;
pub mod limits;
mod model;
pub mod nonfinite;
mod result;
mod validate;

pub use batches::batch_ranges;
pub use config::*;
pub use error::ConfigError;
pub use limits::{MAX_TRIAL_YAML_BYTES, MNIST_TEST_CLASS_MIN, MNIST_TRAIN_CLASS_MIN};
pub use result::*;

use crate::yaml::{self, YamlBudget};

/// Parses a trial config from YAML text, then validates it.
///
/// Text over [`MAX_TRIAL_YAML_BYTES`] is refused unread; the parser runs
/// within [`YamlBudget::default`]. Errors name the path and line/column
/// (syntax, unknown keys, wrong types, duplicate keys) or the field (values
/// out of range).
pub fn parse_trial_yaml(text: &str) -> Result<TrialConfig, ConfigError> {
    if text.len() > MAX_TRIAL_YAML_BYTES {
        return Err(ConfigError::TooLarge {
            size: text.len(),
            max: MAX_TRIAL_YAML_BYTES,
        });
    }
    let cfg: TrialConfig = yaml::from_str(text, &YamlBudget::default())?;
    cfg.validate()?;
    Ok(cfg)
}
