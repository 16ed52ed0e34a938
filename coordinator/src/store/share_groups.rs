//! Share groups: which trials of a sweep a worker computes much of alike
//! (issue 10). Trials whose configs differ only in what the trainable part
//! sees — learning rates, label smoothing, the schedule, the optimizer, how
//! long phase 2 runs — feed the same batches through the same frozen stages,
//! so the worker's shared caches serve the second one from the first. That
//! only pays if the second starts after the first: two of one group running
//! at the same moment both compute the shared part. A lease therefore skips
//! ahead to a pending trial whose group is not running, when there is one
//! (`leases`). A trial whose group shares nothing beyond what every worker
//! computes anyway has none ([`Keys::group`]). The grouping is a scheduling
//! hint only: what is reused is decided by the worker's content keys, never
//! by this.
//!
//! A bundle key is wider: trials that see the same batch stream (data, split,
//! seed, input size, augmentation, batch size, backbone, model), whatever
//! they train. A worker asking for several trials at once gets partners of
//! one bundle key (`bundles`), those of the first trial's share group first;
//! a trial without a share group is leased alone.

use sweep_proto::trial::{LossConfig, OptimizerConfig, SchedulerConfig, TrialConfig};

/// The share group of a trial's resolved config (its JSON as stored): `None`
/// when it is not a pipeline trial config, or when its group shares nothing
/// beyond what every worker computes anyway (then it conflicts with
/// nothing; see [`Keys::group`]).
pub fn share_group(config_json: &str) -> Option<String> {
    let c: TrialConfig = serde_json::from_str(config_json).ok()?;
    group_if_shared(c)
}

/// A trial's bundle key, share group and expected cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Keys {
    /// Everything but what each phase trains and how (phases, loss,
    /// schedule, optimizer, threads): the batch stream.
    pub bundle: String,
    /// Trials that feed the same batches through the same frozen stages (see
    /// the module doc); `None` when that shares nothing beyond what every
    /// worker computes anyway: a phase 1 that trains only the head and a
    /// phase 2 that trains every stage (`unfreeze: [all]`). Phase 2 then has
    /// no frozen prefix to share, and the head-only phase 1 is the one that
    /// trials of every unfreeze depth share on each worker. Such a trial is
    /// kept apart from nothing and leased alone: keeping them apart would
    /// send all of them to one worker, and a lockstep bundle of them would
    /// only queue long trials behind each other in one slot.
    pub group: Option<String>,
    /// The trial's expected cost relative to the sweep's other trials
    /// ([`TrialConfig::relative_cost`]).
    pub cost: f64,
}

/// The [`Keys`] of a trial's resolved config, from one parse of it; `None`
/// when it is not a pipeline trial config (it is then bundled with nothing).
pub fn keys(config_json: &str) -> Option<Keys> {
    let c: TrialConfig = serde_json::from_str(config_json).ok()?;
    Some(Keys {
        bundle: bundle_of(&c),
        cost: c.relative_cost(),
        group: group_if_shared(c),
    })
}

/// `c`'s share group, when its trials share more than every worker computes
/// anyway ([`Keys::group`]).
fn group_if_shared(c: TrialConfig) -> Option<String> {
    shares_across_trials(&c).then(|| group_of(c))
}

/// Whether trials of `c`'s group share more than a worker computes for any
/// trial of `c`'s batch stream: a phase 2 that keeps a frozen prefix, or a
/// phase 1 that trains a stage (its snapshot).
fn shares_across_trials(c: &TrialConfig) -> bool {
    let phase2_keeps_a_prefix =
        c.phase2.unfrozen_stages(c.model).first() != c.model.stages().first();
    phase2_keeps_a_prefix || !c.phase1.unfrozen_stages(c.model).is_empty()
}

fn group_of(mut c: TrialConfig) -> String {
    c.phase2.lr_backbone = 0.0;
    c.phase2.lr_head = 0.0;
    c.phase2.epochs = 0;
    // A head-only phase 1 leaves the backbone as it found it, whatever trains
    // the head; a phase 1 that trains backbone stages keeps all of it.
    if c.phase1.unfreeze.is_empty() {
        c.phase1.lr_head = 0.0;
        c.phase1.lr_backbone = 0.0;
        c.loss = LossConfig::default();
        c.scheduler = SchedulerConfig::default();
        c.optimizer = OptimizerConfig::default();
    }
    c.canonical_json()
}

fn bundle_of(c: &TrialConfig) -> String {
    let blank = TrialConfig::default();
    TrialConfig {
        phase1: blank.phase1,
        phase2: blank.phase2,
        loss: blank.loss,
        scheduler: blank.scheduler,
        optimizer: blank.optimizer,
        threads: 0,
        ..c.clone()
    }
    .canonical_json()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(f: impl FnOnce(&mut TrialConfig)) -> String {
        let mut c = TrialConfig::default();
        f(&mut c);
        c.canonical_json()
    }

    #[test]
    fn what_only_the_trainable_part_sees_leaves_the_group() {
        let base = share_group(&json(|_| {})).unwrap();
        for changed in [
            json(|c| c.phase2.lr_backbone = 1e-3),
            json(|c| c.phase2.lr_head = 1e-2),
            json(|c| c.phase2.epochs = 2),
            json(|c| c.loss.label_smoothing = 0.1),
            json(|c| c.scheduler.phase1 = true),
            json(|c| c.optimizer.weight_decay = 0.05),
        ] {
            assert_eq!(share_group(&changed).unwrap(), base);
        }
    }

    #[test]
    fn what_the_frozen_stages_see_changes_it() {
        let base = share_group(&json(|_| {})).unwrap();
        for changed in [
            json(|c| c.phase2.unfreeze = vec![sweep_proto::trial::Stage::Layer3]),
            json(|c| c.seed = 7),
            json(|c| c.input_size = 64),
            json(|c| c.batch_size = 64),
            json(|c| c.data.train = 123),
            json(|c| c.phase1.epochs = 1),
        ] {
            assert_ne!(share_group(&changed).unwrap(), base);
        }
        // A phase 1 that trains a backbone stage keeps its learning rates.
        let trains = |lr: f64| {
            json(|c| {
                c.phase1.unfreeze = vec![sweep_proto::trial::Stage::Layer4];
                c.phase1.lr_backbone = lr;
            })
        };
        assert_ne!(share_group(&trains(1e-4)), share_group(&trains(1e-3)));
    }

    #[test]
    fn a_phase_2_that_trains_everything_after_a_head_only_phase_1_conflicts_with_nothing() {
        use sweep_proto::trial::Stage;
        assert_eq!(
            share_group(&json(|c| c.phase2.unfreeze = vec![Stage::All])),
            None
        );
        // Naming every stage is the same as `all`; leaving the stem frozen is not.
        let named = json(|c| {
            c.phase2.unfreeze = vec![
                Stage::Stem,
                Stage::Layer1,
                Stage::Layer2,
                Stage::Layer3,
                Stage::Layer4,
            ]
        });
        assert_eq!(share_group(&named), None);
        let stem_frozen = json(|c| {
            c.phase2.unfreeze = vec![Stage::Layer1, Stage::Layer2, Stage::Layer3, Stage::Layer4]
        });
        assert!(share_group(&stem_frozen).is_some());
        // A phase 1 that trains a stage leaves a snapshot worth keeping apart.
        let phase1_trains = json(|c| {
            c.phase1.unfreeze = vec![Stage::Layer4];
            c.phase2.unfreeze = vec![Stage::All];
        });
        assert!(share_group(&phase1_trains).is_some());
    }

    #[test]
    fn other_configs_have_none() {
        assert_eq!(share_group("{\"simulate\": true}"), None);
        assert_eq!(share_group("not json"), None);
        assert_eq!(keys("not json"), None);
    }

    #[test]
    fn a_bundle_spans_what_each_trial_trains_but_not_its_batches() {
        let base = keys(&json(|_| {})).unwrap().bundle;
        for same in [
            json(|c| c.phase2.unfreeze = vec![sweep_proto::trial::Stage::All]),
            json(|c| c.phase1.unfreeze = vec![sweep_proto::trial::Stage::Layer4]),
            json(|c| c.phase1.epochs = 1),
            json(|c| c.phase2.lr_backbone = 1e-3),
            json(|c| c.loss.label_smoothing = 0.1),
            json(|c| c.scheduler.phase1 = true),
        ] {
            assert_eq!(keys(&same).unwrap().bundle, base);
        }
        for other in [
            json(|c| c.seed = 7),
            json(|c| c.input_size = 64),
            json(|c| c.batch_size = 64),
            json(|c| c.data.train = 123),
            json(|c| c.augment.rotation_deg = 3.0),
        ] {
            assert_ne!(keys(&other).unwrap().bundle, base);
        }
    }
}
