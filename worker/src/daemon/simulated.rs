//! Simulated trials, for scheduling tests only (`sweep-worker run --simulate`,
//! a hidden flag). Same signature as [`crate::pipeline::run_trial`], but no
//! tensors: each epoch sleeps `SWEEP_SIM_EPOCH_MS` milliseconds (default 100)
//! in a few "batches", checking the cancel flag between them, and reports
//! [`EpochMetrics`] whose values are a deterministic function of the config
//! (the phase-2 learning rates, label smoothing and the seed), so the same
//! config always ranks the same.
//!
//! Magic value: a config with `seed: 13013` ([`FAILING_SEED`]) fails after
//! its first epoch, every time, with an error naming that seed. Tests use it
//! to exercise `max_attempts` and the trial's last error. A config with
//! `seed: 13666` ([`ABORTING_SEED`]) aborts the whole process
//! (`std::process::abort()`, SIGABRT) after its first epoch: run it only in
//! a trial process, as the daemon does, to exercise crash isolation.
//!
//! Divergence, as a real trial would: a phase whose `lr_head` is at least
//! [`DIVERGING_LR_HEAD`] diverges in its first epoch (train loss NaN at batch
//! 2), and the trial ends at once with a result marked diverged.

use crate::pipeline::{TrialError, TrialObserver};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use sweep_proto::trial::{
    BackboneInfo, DivergedLoss, Divergence, EpochMetrics, PhaseTiming, ReliabilityBin, TestMetrics,
    TrialConfig, TrialResult,
};

/// The seed whose simulated trial always fails.
pub const FAILING_SEED: u64 = 13013;

/// The seed whose simulated trial aborts its process after the first epoch.
pub const ABORTING_SEED: u64 = 13666;

/// A phase with a head learning rate this high diverges.
pub const DIVERGING_LR_HEAD: f64 = 1.0;

/// The batch of a diverging epoch whose loss is NaN.
const DIVERGING_BATCH: usize = 2;

/// Environment variable holding the simulated epoch length in milliseconds.
pub const EPOCH_MS_ENV: &str = "SWEEP_SIM_EPOCH_MS";

/// How a simulated trial fails.
#[derive(Debug, thiserror::Error)]
pub enum SimulatedError {
    #[error("simulated failure: a trial with seed {FAILING_SEED} always fails (epoch {epoch})")]
    MagicSeed { epoch: u32 },
    #[error("{EPOCH_MS_ENV} must be a whole number of milliseconds, got {0:?}")]
    EpochMs(String),
}

impl From<SimulatedError> for TrialError {
    fn from(e: SimulatedError) -> Self {
        TrialError::Other(Box::new(e))
    }
}

const DEFAULT_EPOCH_MS: u64 = 100;
const BATCHES_PER_EPOCH: usize = 5;
const CLASSES: usize = 10;

/// Runs a simulated trial to the end, or until `cancel` is set.
pub fn run_trial(
    cfg: &TrialConfig,
    observer: &mut dyn TrialObserver,
    cancel: &AtomicBool,
) -> Result<TrialResult, TrialError> {
    cfg.validate()?;
    let started = Instant::now();
    let batch_time = epoch_duration()? / BATCHES_PER_EPOCH as u32;
    let model = Model::of(cfg);
    let total = cfg.total_epochs();
    let mut epochs = Vec::with_capacity(total as usize);
    let mut phases = Vec::new();
    let mut diverged = None;
    for (phase, phase_epochs) in [(1, cfg.phase1.epochs), (2, cfg.phase2.epochs)] {
        if diverged.is_some() || phase_epochs == 0 {
            continue;
        }
        let phase_started = Instant::now();
        let diverges = phase_config(cfg, phase).lr_head >= DIVERGING_LR_HEAD;
        let mut ran = 0;
        for _ in 0..phase_epochs {
            if !epochs.is_empty() {
                observer.between_epochs();
            }
            let epoch = epochs.len() as u32 + 1;
            let epoch_started = Instant::now();
            ran += 1;
            for batch in 1..=BATCHES_PER_EPOCH {
                sleep_unless_cancelled(batch_time, cancel)?;
                observer.on_batch(phase, epoch, batch, BATCHES_PER_EPOCH);
                if diverges && batch == DIVERGING_BATCH {
                    break;
                }
            }
            if diverges {
                let mut metrics = model.epoch(cfg, phase, epoch, total, epoch_started.elapsed());
                (metrics.train_loss, metrics.train_acc) = (f64::NAN, f64::NAN);
                (metrics.val_loss, metrics.val_acc, metrics.val_ece) =
                    (f64::NAN, f64::NAN, f64::NAN);
                observer.on_epoch(&metrics);
                epochs.push(metrics);
                diverged = Some(Divergence {
                    epoch,
                    phase,
                    loss: DivergedLoss::Train,
                    batch: DIVERGING_BATCH as u32,
                    value: f64::NAN,
                });
                break;
            }
            if cfg.seed == FAILING_SEED {
                return Err(SimulatedError::MagicSeed { epoch }.into());
            }
            let metrics = model.epoch(cfg, phase, epoch, total, epoch_started.elapsed());
            observer.on_epoch(&metrics);
            epochs.push(metrics);
            if cfg.seed == ABORTING_SEED {
                std::process::abort();
            }
        }
        let wall_s = phase_started.elapsed().as_secs_f64();
        phases.push(PhaseTiming {
            phase,
            epochs: ran,
            wall_s,
            train_images_per_s: f64::from(cfg.data.train * ran) / wall_s.max(1e-9),
            shared: false,
            prefix_shared_epochs: 0,
        });
    }
    let best = epochs
        .iter()
        .filter(|e| e.val_acc.is_finite())
        .max_by(|a, b| a.val_acc.total_cmp(&b.val_acc).then(b.epoch.cmp(&a.epoch)))
        .cloned();
    let (best_epoch, best_val_acc, best_val_loss, best_val_ece) = match &best {
        Some(b) => (b.epoch, b.val_acc, b.val_loss, b.val_ece),
        None => (0, f64::NAN, f64::NAN, f64::NAN),
    };
    Ok(TrialResult {
        backbone: BackboneInfo {
            name: "simulated".into(),
            sha256: cfg.content_id(),
        },
        best_epoch,
        best_val_acc,
        best_val_loss,
        best_val_ece,
        test: match diverged {
            None => model.test(cfg),
            Some(_) => TestMetrics {
                acc: f64::NAN,
                loss: f64::NAN,
                ece: f64::NAN,
                per_class_acc: Vec::new(),
                confusion: Vec::new(),
                reliability: Vec::new(),
            },
        },
        epochs,
        val: None,
        calibration: None,
        phases,
        wall_s: started.elapsed().as_secs_f64(),
        turn_wait_s: 0.0,
        threads: cfg.threads,
        host: crate::host::hostname(),
        diverged,
        simulated: true,
    })
}

fn phase_config(cfg: &TrialConfig, phase: u32) -> &sweep_proto::trial::PhaseConfig {
    if phase == 1 {
        &cfg.phase1
    } else {
        &cfg.phase2
    }
}

/// The simulated epoch length from [`EPOCH_MS_ENV`].
fn epoch_duration() -> Result<Duration, SimulatedError> {
    match std::env::var(EPOCH_MS_ENV) {
        Err(_) => Ok(Duration::from_millis(DEFAULT_EPOCH_MS)),
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| SimulatedError::EpochMs(text)),
    }
}

/// Sleeps `total`, in short naps, returning `Cancelled` as soon as the flag is set.
fn sleep_unless_cancelled(total: Duration, cancel: &AtomicBool) -> Result<(), TrialError> {
    const NAP: Duration = Duration::from_millis(10);
    let until = Instant::now() + total;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(TrialError::Cancelled);
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep(NAP.min(until - now));
    }
}

/// The simulated model's final quality, fixed by the config.
struct Model {
    /// Validation accuracy the trial converges to.
    final_acc: f64,
    /// A per-seed number in [0, 1).
    noise: f64,
}

impl Model {
    fn of(cfg: &TrialConfig) -> Self {
        let noise = (splitmix64(cfg.seed) >> 11) as f64 / (1u64 << 53) as f64;
        // Best at lr_head 1e-3 and lr_backbone 1e-4 (phase 2); every decade
        // away costs a few points, label smoothing a little more.
        let off_head = (cfg.phase2.lr_head.log10() + 3.0).abs();
        let off_backbone = (cfg.phase2.lr_backbone.log10() + 4.0).abs();
        let acc = 0.985 - 0.04 * off_head - 0.02 * off_backbone - 0.05 * cfg.loss.label_smoothing
            + 0.01 * noise;
        Self {
            final_acc: acc.clamp(0.1, 0.999),
            noise,
        }
    }

    /// Accuracy after `epoch` of `total`: rises towards `final_acc`.
    fn acc_at(&self, epoch: u32, total: u32) -> f64 {
        let progress = f64::from(epoch) / f64::from(total.max(1));
        0.1 + (self.final_acc - 0.1) * (1.0 - 0.5f64.powf(1.0 + 4.0 * progress))
            / (1.0 - 0.5f64.powi(5))
    }

    fn epoch(
        &self,
        cfg: &TrialConfig,
        phase: u32,
        epoch: u32,
        total: u32,
        took: Duration,
    ) -> EpochMetrics {
        let val_acc = self.acc_at(epoch, total);
        let lrs = phase_config(cfg, phase);
        EpochMetrics {
            epoch,
            phase,
            train_loss: 2.3 * (1.0 - val_acc) + 0.02,
            train_acc: (val_acc - 0.005).max(0.0),
            val_loss: 2.5 * (1.0 - val_acc) + 0.03,
            val_acc,
            val_ece: 0.01 + 0.1 * (1.0 - val_acc),
            lr_backbone: lrs.lr_backbone,
            lr_head: lrs.lr_head,
            wall_s: took.as_secs_f64(),
        }
    }

    fn test(&self, cfg: &TrialConfig) -> TestMetrics {
        let per_class_n = u64::from(cfg.data.test) / CLASSES as u64;
        let acc_target = (self.final_acc - 0.004 + 0.008 * self.noise).clamp(0.0, 1.0);
        let correct = (acc_target * per_class_n as f64).round() as u64;
        let confusion: Vec<Vec<u64>> = (0..CLASSES)
            .map(|t| {
                let mut row = vec![0; CLASSES];
                row[t] = correct;
                row[(t + 1) % CLASSES] += per_class_n - correct;
                row
            })
            .collect();
        let per_class_acc = vec![correct as f64 / per_class_n as f64; CLASSES];
        let acc = per_class_acc[0];
        TestMetrics {
            acc,
            loss: 2.5 * (1.0 - acc) + 0.03,
            ece: 0.01 + 0.1 * (1.0 - acc),
            per_class_acc,
            confusion,
            reliability: Self::reliability(per_class_n * CLASSES as u64, acc),
        }
    }

    /// A plausible reliability diagram: most predictions confident and
    /// right, a few hesitant ones less often right.
    fn reliability(n: u64, acc: f64) -> Vec<ReliabilityBin> {
        let bin = |b: u32, share: f64, confidence: f64, accuracy: f64| ReliabilityBin {
            lower: f64::from(b) / 15.0,
            upper: f64::from(b + 1) / 15.0,
            count: (share * n as f64).round() as u64,
            confidence,
            accuracy: accuracy.clamp(0.0, 1.0),
        };
        vec![
            bin(6, 0.05, 0.45, acc - 0.5),
            bin(10, 0.15, 0.70, acc - 0.15),
            bin(14, 0.80, 0.97, acc + 0.02),
        ]
    }
}

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::NoObserver;

    fn tiny(seed: u64) -> TrialConfig {
        let mut cfg = TrialConfig {
            seed,
            ..TrialConfig::default()
        };
        cfg.phase1.epochs = 1;
        cfg.phase2.epochs = 2;
        cfg
    }

    struct Recorder(Vec<EpochMetrics>, usize);
    impl TrialObserver for Recorder {
        fn on_batch(&mut self, _: u32, _: u32, _: usize, _: usize) {
            self.1 += 1;
        }
        fn on_epoch(&mut self, m: &EpochMetrics) {
            self.0.push(m.clone());
        }
    }

    #[test]
    fn results_follow_the_config_and_nothing_else() {
        std::env::set_var(EPOCH_MS_ENV, "5");
        let mut seen = Recorder(vec![], 0);
        let a = run_trial(&tiny(1), &mut seen, &AtomicBool::new(false)).unwrap();
        let b = run_trial(&tiny(1), &mut NoObserver, &AtomicBool::new(false)).unwrap();
        assert_eq!(seen.0.len(), 3);
        assert_eq!(seen.1, 3 * BATCHES_PER_EPOCH);
        assert_eq!(a.epochs.len(), 3);
        assert_eq!((a.best_val_acc, a.test.acc), (b.best_val_acc, b.test.acc));
        assert_eq!(a.best_epoch, 3);
        assert_eq!(a.best_val_acc, a.epochs[2].val_acc);
        assert!(
            a.best_val_acc > 0.9 && a.best_val_acc < 1.0,
            "{}",
            a.best_val_acc
        );
        let mut worse = tiny(1);
        worse.phase2.lr_head = 1e-1;
        let w = run_trial(&worse, &mut NoObserver, &AtomicBool::new(false)).unwrap();
        assert!(w.best_val_acc < a.best_val_acc);
        assert_eq!(a.test.confusion.iter().flatten().sum::<u64>(), 2000);
        assert_eq!(a.phases.len(), 2);
        // Labelled, so it can never pass for a trained result.
        assert!(a.simulated);
        assert!(serde_json::to_string(&a)
            .unwrap()
            .contains("\"simulated\":true"));
    }

    #[test]
    fn the_magic_seed_always_fails() {
        std::env::set_var(EPOCH_MS_ENV, "5");
        let err = run_trial(
            &tiny(FAILING_SEED),
            &mut NoObserver,
            &AtomicBool::new(false),
        )
        .unwrap_err();
        assert!(err.to_string().contains("13013"), "{err}");
    }

    #[test]
    fn a_huge_head_learning_rate_diverges_at_once() {
        std::env::set_var(EPOCH_MS_ENV, "5");
        let mut cfg = tiny(3);
        cfg.phase2.lr_head = 1e8;
        let mut seen = Recorder(vec![], 0);
        let r = run_trial(&cfg, &mut seen, &AtomicBool::new(false)).unwrap();
        let d = r.diverged.as_ref().expect("diverged");
        assert_eq!((d.epoch, d.phase, d.batch), (2, 2, 2));
        assert_eq!(r.epochs.len(), 2, "stopped in the first phase-2 epoch");
        assert_eq!(seen.0.len(), 2);
        assert_eq!(seen.1, BATCHES_PER_EPOCH + 2);
        assert!(r.epochs[1].train_loss.is_nan());
        assert_eq!((r.best_epoch, r.best_val_acc), (1, r.epochs[0].val_acc));
        assert!(r.test.acc.is_nan());
        assert_eq!(
            r.phases.iter().map(|p| p.epochs).collect::<Vec<_>>(),
            [1, 1]
        );
        cfg.phase1.lr_head = 1e8;
        let r = run_trial(&cfg, &mut NoObserver, &AtomicBool::new(false)).unwrap();
        assert_eq!(r.diverged.unwrap().epoch, 1);
        assert_eq!((r.best_epoch, r.epochs.len(), r.phases.len()), (0, 1, 1));
        assert!(r.best_val_acc.is_nan());
    }

    #[test]
    fn a_set_flag_cancels() {
        let err = run_trial(&tiny(2), &mut NoObserver, &AtomicBool::new(true)).unwrap_err();
        assert!(matches!(err, TrialError::Cancelled));
    }
}
