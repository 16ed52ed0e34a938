//! Learning-rate schedules as a factor on each group's base rate: `none`,
//! `cosine` (to `min_lr_factor` over the phase), `step` (× `gamma` every
//! `step_size` steps) and `plateau` (× `factor` after more than `patience`
//! epochs without a better val loss, as torch's `ReduceLROnPlateau`).
//! Cosine and step advance per batch or per epoch (`step_per`); plateau
//! always per epoch.

use std::f64::consts::PI;
use sweep_proto::trial::{SchedulerConfig, SchedulerKind, StepUnit};

/// torch's default relative threshold for "better" in `ReduceLROnPlateau`.
const PLATEAU_THRESHOLD: f64 = 1e-4;

/// The schedule of one phase.
#[derive(Debug, Clone)]
pub struct Schedule {
    cfg: SchedulerConfig,
    /// Off: the factor stays 1 (phase 1 unless `scheduler.phase1`).
    active: bool,
    /// Steps in the phase (cosine's horizon), in `step_per` units.
    total_steps: u64,
    steps: u64,
    factor: f64,
    best_loss: f64,
    bad_epochs: u32,
}

impl Schedule {
    pub fn new(cfg: &SchedulerConfig, active: bool, epochs: u32, batches_per_epoch: usize) -> Self {
        let total_steps = match cfg.step_per {
            StepUnit::Batch => epochs as u64 * batches_per_epoch as u64,
            StepUnit::Epoch => epochs as u64,
        };
        Self {
            cfg: cfg.clone(),
            active: active && cfg.kind != SchedulerKind::None,
            total_steps: total_steps.max(1),
            steps: 0,
            factor: 1.0,
            best_loss: f64::INFINITY,
            bad_epochs: 0,
        }
    }

    /// The factor on every group's base learning rate now.
    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// After each training batch; true when the factor changed.
    pub fn after_batch(&mut self) -> bool {
        self.active && self.cfg.step_per == StepUnit::Batch && self.advance()
    }

    /// After each epoch's validation; true when the factor changed.
    pub fn after_epoch(&mut self, val_loss: f64) -> bool {
        if !self.active {
            return false;
        }
        if self.cfg.kind == SchedulerKind::Plateau {
            if val_loss < self.best_loss * (1.0 - PLATEAU_THRESHOLD) {
                self.best_loss = val_loss;
                self.bad_epochs = 0;
            } else {
                self.bad_epochs += 1;
                if self.bad_epochs > self.cfg.patience {
                    self.factor *= self.cfg.factor;
                    self.bad_epochs = 0;
                    return true;
                }
            }
            return false;
        }
        self.cfg.step_per == StepUnit::Epoch && self.advance()
    }

    fn advance(&mut self) -> bool {
        self.steps += 1;
        let old = self.factor;
        self.factor = match self.cfg.kind {
            SchedulerKind::Cosine => {
                let m = self.cfg.min_lr_factor;
                let t = (self.steps.min(self.total_steps)) as f64 / self.total_steps as f64;
                m + (1.0 - m) * 0.5 * (1.0 + (PI * t).cos())
            }
            SchedulerKind::Step => self
                .cfg
                .gamma
                .powi((self.steps / self.cfg.step_size.max(1) as u64) as i32),
            SchedulerKind::None | SchedulerKind::Plateau => self.factor,
        };
        self.factor != old
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(kind: SchedulerKind, step_per: StepUnit) -> SchedulerConfig {
        SchedulerConfig {
            kind,
            step_per,
            ..SchedulerConfig::default()
        }
    }

    #[test]
    fn cosine_reaches_min_at_the_end_of_the_phase() {
        let mut c = cfg(SchedulerKind::Cosine, StepUnit::Batch);
        c.min_lr_factor = 0.1;
        let mut s = Schedule::new(&c, true, 2, 5);
        for _ in 0..5 {
            s.after_batch();
        }
        assert!((s.factor() - 0.55).abs() < 1e-12, "{}", s.factor());
        for _ in 0..5 {
            s.after_batch();
        }
        assert!((s.factor() - 0.1).abs() < 1e-12);
        assert!(!s.after_epoch(1.0), "batch-stepped cosine ignores epochs");
    }

    #[test]
    fn step_decays_every_step_size_epochs() {
        let mut c = cfg(SchedulerKind::Step, StepUnit::Epoch);
        c.step_size = 2;
        c.gamma = 0.5;
        let mut s = Schedule::new(&c, true, 6, 100);
        let f: Vec<f64> = (0..4)
            .map(|_| {
                s.after_epoch(0.0);
                s.factor()
            })
            .collect();
        assert_eq!(f, vec![1.0, 0.5, 0.5, 0.25]);
        assert!(!s.after_batch());
    }

    /// The seed report's open point C-2 (per batch or per epoch): a `step`
    /// schedule stepped per batch with `step_size` = k epochs' batches gives,
    /// at every epoch boundary, the factor of the per-epoch schedule with
    /// `step_size` = k; in between it changes only at those boundaries.
    #[test]
    fn step_per_batch_agrees_with_step_per_epoch_at_epoch_ends() {
        let batches = 7;
        let mut by_epoch = cfg(SchedulerKind::Step, StepUnit::Epoch);
        by_epoch.step_size = 2;
        by_epoch.gamma = 0.5;
        let mut by_batch = by_epoch.clone();
        by_batch.step_per = StepUnit::Batch;
        by_batch.step_size = 2 * batches as u32;
        let mut e = Schedule::new(&by_epoch, true, 6, batches);
        let mut b = Schedule::new(&by_batch, true, 6, batches);
        for epoch in 1..=6 {
            for batch in 1..=batches {
                let changed = b.after_batch();
                assert_eq!(
                    changed,
                    batch == batches && epoch % 2 == 0,
                    "epoch {epoch} batch {batch}"
                );
            }
            assert!(
                !b.after_epoch(0.0),
                "a batch-stepped step schedule ignores epochs"
            );
            e.after_epoch(0.0);
            assert_eq!(b.factor(), e.factor(), "after epoch {epoch}");
        }
        assert_eq!(b.factor(), 0.125);
    }

    #[test]
    fn plateau_waits_patience_epochs() {
        let mut c = cfg(SchedulerKind::Plateau, StepUnit::Batch);
        c.patience = 1;
        c.factor = 0.1;
        let mut s = Schedule::new(&c, true, 10, 10);
        assert!(!s.after_batch());
        s.after_epoch(1.0);
        s.after_epoch(1.0); // 1 bad epoch: not more than patience
        assert_eq!(s.factor(), 1.0);
        assert!(s.after_epoch(1.0)); // 2 bad epochs
        assert!((s.factor() - 0.1).abs() < 1e-15);
        s.after_epoch(0.5);
        assert!((s.factor() - 0.1).abs() < 1e-15);
    }

    #[test]
    fn inactive_schedule_stays_at_one() {
        let mut s = Schedule::new(&cfg(SchedulerKind::Step, StepUnit::Batch), false, 3, 3);
        for _ in 0..20 {
            s.after_batch();
            s.after_epoch(1.0);
        }
        assert_eq!(s.factor(), 1.0);
    }
}
