//! Checks a [`TrialConfig`] must pass before any training starts, each failure
//! naming the dotted field it is about. Every number is held to a cap
//! ([`super::limits`]) and every sum is computed with checked arithmetic.

use super::limits::*;
use super::{ConfigError, PhaseConfig, SchedulerKind, StepUnit, TrialConfig};
use std::path::Path;

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

impl TrialConfig {
    /// Every unfrozen block must be one of the model's (a ResNet stage names
    /// nothing in a MobileNetV2, and the reverse).
    fn check_stages(&self) -> Result<(), ConfigError> {
        let m = self.model;
        for (p, name) in [(&self.phase1, "phase1"), (&self.phase2, "phase2")] {
            for &s in &p.unfreeze {
                check(m.has(s), &format!("{name}.unfreeze"), || {
                    let blocks = m.stages();
                    format!(
                        "`{s}` is not a block of {m} (its blocks: {} .. {}, or all)",
                        blocks[0],
                        blocks[blocks.len() - 1]
                    )
                })?;
            }
        }
        Ok(())
    }
}

fn check_phase(p: &PhaseConfig, name: &str) -> Result<(), ConfigError> {
    check(
        p.epochs <= MAX_PHASE_EPOCHS,
        &format!("{name}.epochs"),
        || format!("must be at most {MAX_PHASE_EPOCHS}, got {}", p.epochs),
    )?;
    finite_positive(p.lr_backbone, &format!("{name}.lr_backbone"))?;
    finite_positive(p.lr_head, &format!("{name}.lr_head"))
}

impl TrialConfig {
    /// Every check that needs no data on disk. The split sizes are checked
    /// against MNIST's smallest class; the worker re-checks against the files.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check_data()?;
        check_path(&self.data.dir, "data.dir")?;
        check_path(&self.backbone.weights, "backbone.weights")?;
        check(self.input_size >= MIN_INPUT_SIZE, "input_size", || {
            format!("must be at least {MIN_INPUT_SIZE}, got {}", self.input_size)
        })?;
        check(self.input_size <= MAX_INPUT_SIZE, "input_size", || {
            format!("must be at most {MAX_INPUT_SIZE}, got {}", self.input_size)
        })?;
        check(
            (1..=MAX_BATCH_SIZE).contains(&self.batch_size),
            "batch_size",
            || {
                format!(
                    "must be within [1, {MAX_BATCH_SIZE}], got {}",
                    self.batch_size
                )
            },
        )?;
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
        check_phase(&self.phase1, "phase1")?;
        check_phase(&self.phase2, "phase2")?;
        self.check_stages()?;
        let total = self.phase1.epochs.checked_add(self.phase2.epochs);
        check(
            total.is_some_and(|t| (1..=MAX_TRIAL_EPOCHS).contains(&t)),
            "phase2.epochs",
            || {
                format!(
                    "phase1.epochs + phase2.epochs must be within [1, {MAX_TRIAL_EPOCHS}], got {} + {}",
                    self.phase1.epochs, self.phase2.epochs
                )
            },
        )?;
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
        if s.kind == SchedulerKind::Step {
            self.check_step_schedule()?;
        }
        check(
            s.min_lr_factor.is_finite() && (0.0..=1.0).contains(&s.min_lr_factor),
            "scheduler.min_lr_factor",
            || format!("must be within [0, 1], got {}", s.min_lr_factor),
        )?;
        check(self.threads <= MAX_THREADS, "threads", || {
            format!("must be at most {MAX_THREADS}, got {}", self.threads)
        })?;
        Ok(())
    }

    /// A `step` schedule must not decay the learning rate below
    /// [`MIN_STEP_LR_FACTOR`] of its start within a scheduled phase. The
    /// mistake this catches: `step_size` counts `step_per` units, so a
    /// `step_size` meant in epochs (the default 3) with `step_per: batch`
    /// decays every 3 batches — 0.1^26 within one epoch of 79 batches.
    fn check_step_schedule(&self) -> Result<(), ConfigError> {
        let s = &self.scheduler;
        // As the worker cuts an epoch.
        let batches = super::batch_ranges(self.data.train as usize, self.batch_size.max(1) as usize)
            .len() as u64;
        let mut phases = vec![&self.phase2];
        if s.phase1 {
            phases.push(&self.phase1);
        }
        let epochs = phases.iter().map(|p| p.epochs as u64).max().unwrap_or(0);
        let (steps, unit) = match s.step_per {
            StepUnit::Batch => (epochs * batches, "batches"),
            StepUnit::Epoch => (epochs, "epochs"),
        };
        let decays = steps / s.step_size.max(1) as u64;
        let end = s.gamma.powf(decays as f64);
        check(
            s.gamma == 1.0 || end >= MIN_STEP_LR_FACTOR,
            "scheduler.step_size",
            || {
                format!(
                    "{} {unit} with gamma {} decays the learning rate {decays} times in a phase of {steps} {unit} \
                     (to {end:.1e} of its start, below {MIN_STEP_LR_FACTOR:e}); step_size counts step_per units — \
                     raise it, or step per epoch",
                    s.step_size, s.gamma
                )
            },
        )
    }

    /// The split sizes: each a positive multiple of 10 within MNIST's size,
    /// and train + val within what MNIST's smallest class can give.
    fn check_data(&self) -> Result<(), ConfigError> {
        let d = &self.data;
        for (v, f, cap) in [
            (d.train, "data.train", MNIST_TRAIN_IMAGES),
            (d.val, "data.val", MNIST_TRAIN_IMAGES),
            (d.test, "data.test", MNIST_TEST_IMAGES),
        ] {
            check(v > 0 && v % 10 == 0, f, || {
                format!("must be a positive multiple of 10 (equal count per class), got {v}")
            })?;
            check(v <= cap, f, || {
                format!("must be at most {cap} (the images MNIST has), got {v}")
            })?;
        }
        let pool = d.train.checked_add(d.val);
        let per_class_pool = pool.map(|p| p / 10);
        check(
            per_class_pool.is_some_and(|n| n <= MNIST_TRAIN_CLASS_MIN),
            "data.train",
            || {
                format!(
                    "train + val = {} + {} needs {} images per class, but MNIST's smallest training class has {MNIST_TRAIN_CLASS_MIN}",
                    d.train,
                    d.val,
                    per_class_pool.map_or_else(|| "more than 2^32 / 10".into(), |n| n.to_string())
                )
            },
        )?;
        check(d.test / 10 <= MNIST_TEST_CLASS_MIN, "data.test", || {
            format!(
                "{} needs {} images per class, but MNIST's smallest test class has {MNIST_TEST_CLASS_MIN}",
                d.test,
                d.test / 10
            )
        })
    }
}

fn check_path(path: &Path, field: &str) -> Result<(), ConfigError> {
    let len = path.as_os_str().len();
    check(len <= MAX_PATH_BYTES, field, || {
        format!("a path of {len} bytes, more than {MAX_PATH_BYTES}")
    })
}

#[cfg(test)]
mod tests {
    use super::super::{parse_trial_yaml, ConfigError, TrialConfig, MAX_TRIAL_YAML_BYTES};

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

    /// A `step` schedule may not decay the LR to nothing within a phase; its
    /// refusal shows the arithmetic. Sensible ones pass in either unit.
    #[test]
    fn a_step_schedule_that_decays_to_nothing_is_refused() {
        let e = err("scheduler: {kind: step, step_per: batch}");
        assert!(
            e.contains("scheduler.step_size")
                && e.contains("184 times")
                && e.contains("553 batches"),
            "{e}"
        );
        parse_trial_yaml("scheduler: {kind: step}").unwrap();
        parse_trial_yaml("scheduler: {kind: step, step_per: batch, step_size: 158}").unwrap();
        // gamma 1 never decays; phase 1 counts when scheduled.
        parse_trial_yaml("scheduler: {kind: step, step_per: batch, step_size: 1, gamma: 1.0}")
            .unwrap();
        let e = err("scheduler: {kind: step, step_size: 1, phase1: true}\nphase1: {epochs: 20}");
        assert!(e.contains("20 epochs"), "{e}");
    }

    /// The augmentation mode is new: `fast` stays out of the canonical JSON
    /// (so earlier trial ids hold), `exact` goes in.
    #[test]
    fn the_fast_augmentation_mode_keeps_the_old_ids() {
        let fast = parse_trial_yaml("augment: {mode: fast}").unwrap();
        assert_eq!(fast.content_id(), TrialConfig::default().content_id());
        assert!(!fast.canonical_json().contains("mode"));
        let exact = parse_trial_yaml("augment: {mode: exact}").unwrap();
        assert!(exact.canonical_json().contains(r#""mode":"exact""#));
        assert_ne!(exact.content_id(), fast.content_id());
    }

    #[test]
    fn a_model_unfreezes_only_its_own_blocks() {
        let m =
            parse_trial_yaml("model: mobilenet_v2\nphase2: {unfreeze: [features.17, features.18]}")
                .unwrap();
        assert_eq!(
            m.phase2.unfrozen_stages(m.model),
            vec![
                super::super::Stage::Features(17),
                super::super::Stage::Features(18)
            ]
        );
        assert!(m.canonical_json().contains(r#""model":"mobilenet_v2""#));
        assert!(m.canonical_json().contains(r#""features.17""#));
        // The seed's phase 2 unfreezes layer4, which MobileNetV2 lacks.
        let e = err("model: mobilenet_v2");
        assert!(e.contains("phase2.unfreeze") && e.contains("layer4"), "{e}");
        let e = err("phase2: {unfreeze: [features.3]}");
        assert!(e.contains("not a block of resnet18"), "{e}");
        assert!(err("model: vgg16").contains("vgg16"));
        // resnet18 stays out of the canonical JSON: old ids hold.
        let r = parse_trial_yaml("model: resnet18").unwrap();
        assert!(!r.canonical_json().contains("model"));
        assert_eq!(r.content_id(), parse_trial_yaml("{}").unwrap().content_id());
    }

    #[test]
    fn refusals_name_the_field() {
        assert!(err("phase2: {epochs: 0}\nphase1: {epochs: 0}").contains("phase2.epochs"));
        assert!(err("phase1: {epochs: -1}").contains("line 1"));
        assert!(err("phase2: {unfreeze: [layer5]}").contains("layer5"));
        assert!(err("phase1: {epoch: 2}").contains("epoch"));
        assert!(err("colour: red").contains("colour"));
        assert!(err("phase1: {unfreeze: [head]}").contains("head"));
        assert!(err("scheduler: {kind: exponential}").contains("exponential"));
        assert!(err("data: {val: 15}").contains("data.val"));
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

    /// `(yaml, field the refusal must name)`: every cap, at one past it.
    const OVER_CAPS: [(&str, &str); 13] = [
        ("phase1: {epochs: 4294967295}", "phase1.epochs"),
        ("phase2: {epochs: 4294967295}", "phase2.epochs"),
        ("phase1: {epochs: 1001}", "phase1.epochs"),
        (
            "phase1: {epochs: 600}\nphase2: {epochs: 401}",
            "phase2.epochs",
        ),
        ("batch_size: 0", "batch_size"),
        ("batch_size: 65537", "batch_size"),
        ("input_size: 1025", "input_size"),
        ("data: {train: 4294967290}", "data.train"),
        ("data: {val: 60010}", "data.val"),
        ("data: {test: 10010}", "data.test"),
        ("data: {train: 4294967290, val: 4294967290}", "data.train"),
        ("threads: 1025", "threads"),
        ("optimizer: {beta1: 1.0}", "optimizer.beta1"),
    ];

    #[test]
    fn every_cap_is_checked_without_wrapping_and_names_the_field() {
        for (yaml, field) in OVER_CAPS {
            let e = parse_trial_yaml(yaml).expect_err(yaml);
            assert!(
                matches!(&e, ConfigError::Field { field: f, .. } if f == field),
                "{yaml:?}: {e}"
            );
            assert!(e.to_string().contains(&format!("`{field}`")), "{e}");
        }
        let e = err("phase1: {epochs: 4294967295}\nphase2: {epochs: 1}");
        assert!(e.contains("1000"), "{e}");
        // At the caps: accepted.
        parse_trial_yaml(
            "phase1: {epochs: 500}\nphase2: {epochs: 500}\nbatch_size: 65536\ninput_size: 1024\ndata: {train: 50000, val: 4000, test: 8920}",
        )
        .unwrap();
        // Unvalidated, the sum saturates rather than wraps.
        let mut c = TrialConfig::default();
        c.phase1.epochs = u32::MAX;
        assert_eq!(c.total_epochs(), u32::MAX);
    }

    #[test]
    fn long_paths_are_refused() {
        let yaml = format!("data: {{dir: {}}}", "d".repeat(5000));
        assert!(err(&yaml).contains("data.dir"));
        let yaml = format!("backbone: {{weights: {}}}", "w".repeat(5000));
        assert!(err(&yaml).contains("backbone.weights"));
    }

    #[test]
    fn hostile_yaml_is_refused_by_the_parser() {
        let e = parse_trial_yaml("seed: 1\nseed: 2\n").unwrap_err();
        assert!(
            e.to_string().contains("duplicate") && e.location() == Some((2, 1)),
            "{e}"
        );
        // Typed fields stop at the first bracket; a document deeper than the
        // budget is refused even where nothing reads it.
        let e = err(&format!(
            "seed: {}1{}",
            "[".repeat(10_000),
            "]".repeat(10_000)
        ));
        assert!(e.contains("seed") && e.contains("line 1"), "{e}");
        let e = err(&format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)));
        assert!(e.contains("line 1"), "{e}");
        let stages = vec!["all"; 12_000].join(",");
        let e = err(&format!(
            "phase1: {{unfreeze: &a [{stages}]}}\nphase2: {{unfreeze: *a}}\n"
        ));
        assert!(e.contains("alias budget"), "{e}");
        let big = format!("seed: 1\n#{}\n", "x".repeat(MAX_TRIAL_YAML_BYTES));
        let e = parse_trial_yaml(&big).unwrap_err();
        assert!(matches!(e, ConfigError::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("65536"), "{e}");
    }

    #[test]
    fn type_errors_name_the_path_and_place() {
        let e = err("phase1: {epochs: -1}");
        assert!(e.contains("phase1.epochs") && e.contains("line 1"), "{e}");
        let e = err("batch_size: many");
        assert!(e.contains("batch_size") && e.contains("line 1"), "{e}");
    }
}
