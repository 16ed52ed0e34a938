//! Checks a [`TrialConfig`] must pass before any training starts, each failure
//! naming the dotted field it is about.

use super::{PhaseConfig, SchedulerKind, TrialConfig};
use std::fmt;

/// Fewest images of one digit in MNIST's training set (digit 5).
pub const MNIST_TRAIN_CLASS_MIN: u32 = 5421;
/// Fewest images of one digit in MNIST's test set (digit 5).
pub const MNIST_TEST_CLASS_MIN: u32 = 892;

/// A refused configuration: which field (dotted path, or a line/column for
/// YAML errors) and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// Dotted path (`phase2.epochs`) or empty when only a location is known.
    pub field: String,
    /// 1-based line/column in the source text, when known.
    pub location: Option<(usize, usize)>,
    pub message: String,
}

impl ConfigError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            location: None,
            message: message.into(),
        }
    }

    /// A serde_yaml error (syntax, unknown key, wrong type) with its location.
    pub fn from_yaml(err: serde_yaml::Error) -> Self {
        Self {
            field: String::new(),
            location: err.location().map(|l| (l.line(), l.column())),
            message: err.to_string(),
        }
    }

    /// The same error with `prefix.` before its field (for nested configs).
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.location, self.field.is_empty()) {
            (Some((l, c)), true) => write!(f, "line {l}, column {c}: {}", self.message),
            (Some((l, c)), false) => {
                write!(
                    f,
                    "line {l}, column {c}: `{}`: {}",
                    self.field, self.message
                )
            }
            (None, false) => write!(f, "`{}`: {}", self.field, self.message),
            (None, true) => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

fn check(ok: bool, field: &str, message: impl FnOnce() -> String) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::field(field, message()))
    }
}

fn finite_positive(v: f64, field: &str) -> Result<(), ConfigError> {
    check(v.is_finite() && v > 0.0, field, || {
        format!("must be a positive number, got {v}")
    })
}

fn check_phase(p: &PhaseConfig, name: &str) -> Result<(), ConfigError> {
    finite_positive(p.lr_backbone, &format!("{name}.lr_backbone"))?;
    finite_positive(p.lr_head, &format!("{name}.lr_head"))
}

impl TrialConfig {
    /// Every check that needs no data on disk. The split sizes are checked
    /// against MNIST's smallest class; the worker re-checks against the files.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let d = &self.data;
        for (v, f) in [
            (d.train, "data.train"),
            (d.val, "data.val"),
            (d.test, "data.test"),
        ] {
            check(v > 0 && v % 10 == 0, f, || {
                format!("must be a positive multiple of 10 (equal count per class), got {v}")
            })?;
        }
        let per_class_pool = (d.train + d.val) / 10;
        check(
            per_class_pool <= MNIST_TRAIN_CLASS_MIN,
            "data.train",
            || {
                format!(
                "train + val = {} needs {per_class_pool} images per class, but MNIST's smallest training class has {MNIST_TRAIN_CLASS_MIN}",
                d.train + d.val
            )
            },
        )?;
        check(d.test / 10 <= MNIST_TEST_CLASS_MIN, "data.test", || {
            format!(
                "{} needs {} images per class, but MNIST's smallest test class has {MNIST_TEST_CLASS_MIN}",
                d.test,
                d.test / 10
            )
        })?;
        check(self.input_size >= 32, "input_size", || {
            format!("must be at least 32, got {}", self.input_size)
        })?;
        check(self.input_size <= 1024, "input_size", || {
            format!("must be at most 1024, got {}", self.input_size)
        })?;
        check(self.batch_size > 0, "batch_size", || {
            "must be positive".into()
        })?;
        let a = &self.augment;
        check(
            a.rotation_deg.is_finite() && (0.0..=180.0).contains(&a.rotation_deg),
            "augment.rotation_deg",
            || format!("must be within [0, 180], got {}", a.rotation_deg),
        )?;
        check(
            a.translate.is_finite() && (0.0..1.0).contains(&a.translate),
            "augment.translate",
            || format!("must be within [0, 1), got {}", a.translate),
        )?;
        check(
            self.phase1.epochs + self.phase2.epochs > 0,
            "phase2.epochs",
            || "phase1.epochs + phase2.epochs must be at least 1".into(),
        )?;
        check_phase(&self.phase1, "phase1")?;
        check_phase(&self.phase2, "phase2")?;
        let o = &self.optimizer;
        check(
            o.weight_decay.is_finite() && o.weight_decay >= 0.0,
            "optimizer.weight_decay",
            || format!("must be ≥ 0, got {}", o.weight_decay),
        )?;
        for (v, f) in [(o.beta1, "optimizer.beta1"), (o.beta2, "optimizer.beta2")] {
            check(v.is_finite() && (0.0..1.0).contains(&v), f, || {
                format!("must be within [0, 1), got {v}")
            })?;
        }
        finite_positive(o.eps, "optimizer.eps")?;
        let ls = self.loss.label_smoothing;
        check(
            ls.is_finite() && (0.0..1.0).contains(&ls),
            "loss.label_smoothing",
            || format!("must be within [0, 1), got {ls}"),
        )?;
        let s = &self.scheduler;
        if s.kind == SchedulerKind::Step {
            check(s.step_size > 0, "scheduler.step_size", || {
                "must be positive".into()
            })?;
        }
        for (v, f) in [(s.gamma, "scheduler.gamma"), (s.factor, "scheduler.factor")] {
            check(v.is_finite() && v > 0.0 && v <= 1.0, f, || {
                format!("must be within (0, 1], got {v}")
            })?;
        }
        check(
            s.min_lr_factor.is_finite() && (0.0..=1.0).contains(&s.min_lr_factor),
            "scheduler.min_lr_factor",
            || format!("must be within [0, 1], got {}", s.min_lr_factor),
        )?;
        check(self.threads <= 1024, "threads", || {
            format!("must be at most 1024, got {}", self.threads)
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_trial_yaml, TrialConfig};

    fn err(yaml: &str) -> String {
        parse_trial_yaml(yaml).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_the_seed_and_valid() {
        let c = TrialConfig::default();
        c.validate().unwrap();
        assert_eq!(
            (c.data.train, c.data.val, c.data.test),
            (10_000, 2_000, 2_000)
        );
        assert_eq!(c.total_epochs(), 10);
        assert_eq!(c.batch_size, 128);
    }

    #[test]
    fn empty_yaml_is_the_default() {
        assert_eq!(parse_trial_yaml("{}").unwrap(), TrialConfig::default());
    }

    #[test]
    fn a_phase_keeps_the_seed_values_it_does_not_name() {
        let c = parse_trial_yaml("phase2: {unfreeze: [all], lr_backbone: 1.0e-3}").unwrap();
        assert_eq!((c.phase2.epochs, c.phase2.lr_head), (7, 1e-3));
        assert_eq!(c.phase2.unfreeze, vec![super::super::Stage::All]);
        let c = parse_trial_yaml("phase2: {epochs: 2}\nphase1: {epochs: 1}").unwrap();
        assert_eq!(c.phase2.unfreeze, vec![super::super::Stage::Layer4]);
        assert_eq!((c.phase1.epochs, c.phase1.unfreeze.len()), (1, 0));
        let round_trip: TrialConfig = serde_json::from_str(&c.canonical_json()).unwrap();
        assert_eq!(round_trip, c);
    }

    #[test]
    fn refusals_name_the_field() {
        assert!(err("phase2: {epochs: 0}\nphase1: {epochs: 0}").contains("phase2.epochs"));
        assert!(err("phase1: {epochs: -1}").contains("line 1"));
        assert!(err("phase2: {unfreeze: [layer5]}").contains("layer5"));
        assert!(err("phase1: {epoch: 2}").contains("epoch"));
        assert!(err("input_size: 16").contains("input_size"));
        assert!(err("data: {train: 60000}").contains("data.train"));
        assert!(err("loss: {label_smoothing: 1.0}").contains("loss.label_smoothing"));
        assert!(err("loss: {label_smoothing: -0.1}").contains("loss.label_smoothing"));
        let unknown = err("seed: 1\nphase2:\n  lr_bakbone: 0.1\n");
        assert!(
            unknown.contains("lr_bakbone") && unknown.contains("line 3"),
            "{unknown}"
        );
        assert!(
            err("batch_size: many").contains("batch_size")
                || err("batch_size: many").contains("line 1")
        );
    }
}
