//! One phase's AdamW with its parameter groups: group 0 is the head (`fc`) at
//! the phase's `lr_head`, then one group per trainable backbone stage at
//! `lr_backbone`. Learning rates are set per group (never one rate for all, as
//! tch's `set_lr` would do) as a factor of each group's own base rate, which is
//! what every scheduler produces.

use super::adamw::{AdamWHyper, FusedAdamW, StepError};
use super::net::Net;
use sweep_proto::trial::{OptimizerConfig, Stage};

/// What one optimizer group holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// `fc` or the stage name.
    pub label: &'static str,
    pub is_head: bool,
    pub base_lr: f64,
    pub lr: f64,
}

/// AdamW over the head and the trainable stages of one phase.
pub struct PhaseOptimizer {
    opt: FusedAdamW,
    groups: Vec<Group>,
}

impl PhaseOptimizer {
    /// Groups the head and `stages` (each its own group) of `model`. Stages
    /// must already be trainable ([`Net::set_trainable`]).
    pub fn new(
        model: &Net,
        stages: &[Stage],
        lr_backbone: f64,
        lr_head: f64,
        cfg: &OptimizerConfig,
    ) -> Result<Self, StepError> {
        let mut opt = FusedAdamW::new(AdamWHyper {
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            weight_decay: cfg.weight_decay,
            eps: cfg.eps,
        });
        let mut groups = vec![Group {
            label: "fc",
            is_head: true,
            base_lr: lr_head,
            lr: lr_head,
        }];
        opt.add_group(&model.head_parameters(), lr_head);
        for &stage in stages {
            opt.add_group(&model.stage(stage).parameters(), lr_backbone);
            groups.push(Group {
                label: stage.name(),
                is_head: false,
                base_lr: lr_backbone,
                lr: lr_backbone,
            });
        }
        let mut me = Self { opt, groups };
        me.set_factor(1.0)?;
        Ok(me)
    }

    pub fn zero_grad(&mut self) -> Result<(), StepError> {
        self.opt.zero_grad();
        Ok(())
    }

    pub fn step(&mut self) -> Result<(), StepError> {
        self.opt.step()
    }

    /// Sets every group's learning rate to `factor` × its own base rate.
    pub fn set_factor(&mut self, factor: f64) -> Result<(), StepError> {
        for (i, g) in self.groups.iter_mut().enumerate() {
            g.lr = g.base_lr * factor;
            self.opt.set_lr(i, g.lr);
        }
        Ok(())
    }

    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The learning rate the optimizer itself holds for group `i`.
    pub fn optimizer_lr(&self, i: usize) -> f64 {
        self.opt.lr(i)
    }

    /// Current (backbone, head) learning rates; backbone is 0 when no stage trains.
    pub fn lrs(&self) -> (f64, f64) {
        let head = self.groups[0].lr;
        let backbone = self
            .groups
            .iter()
            .find(|g| !g.is_head)
            .map_or(0.0, |g| g.lr);
        (backbone, head)
    }
}
