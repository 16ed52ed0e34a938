//! The sweep files shipped in `sweeps/` load with the coordinator's own
//! parser and expand to the trials their comments promise.

use std::path::PathBuf;
use sweep_coordinator::sweepfile::{self, LoadLimits, Sweep};
use sweep_proto::trial::{SchedulerKind, Stage, TrialConfig};

fn load(name: &str) -> Sweep {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sweeps")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    sweepfile::load(&text, name, &LoadLimits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn quick_is_four_small_trials() {
    let sweep = load("quick.yaml");
    assert_eq!(sweep.metric_name, "val_acc");
    assert_eq!(sweep.points.len(), 4);
    for p in &sweep.points {
        let c = &p.config;
        assert_eq!(c.input_size, 32);
        assert_eq!((c.data.train, c.data.val, c.data.test), (3000, 500, 500));
        assert_eq!((c.phase1.epochs, c.phase2.epochs), (1, 3));
        assert_eq!(c.backbone.weights, TrialConfig::default().backbone.weights);
    }
    let lrs: Vec<f64> = sweep
        .points
        .iter()
        .map(|p| p.config.phase2.lr_backbone)
        .collect();
    assert!(lrs.contains(&1e-5) && lrs.contains(&1e-3), "{lrs:?}");
}

#[test]
fn seed_is_the_seed_recipe_on_a_224_px_backbone() {
    let sweep = load("seed.yaml");
    assert_eq!(sweep.points.len(), 1);
    let mut expected = TrialConfig::default();
    expected.backbone.weights = "data/backbone/resnet18-fashion-224.safetensors".into();
    expected.data.split_seed = Some(0);
    assert_eq!(sweep.points[0].config, expected);
}

#[test]
fn seed_imagenet_is_the_seed_recipe_exactly() {
    let sweep = load("seed-imagenet.yaml");
    assert_eq!(sweep.points.len(), 1);
    let mut expected = TrialConfig::default();
    expected.backbone.weights = "data/backbone/resnet18-imagenet-224.safetensors".into();
    expected.data.split_seed = Some(0);
    expected.augment.mode = sweep_proto::trial::AugmentMode::Exact;
    assert_eq!(sweep.points[0].config, expected);
}

#[test]
fn every_shipped_sweep_pins_its_split() {
    for entry in
        std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sweeps")).unwrap()
    {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let sweep = load(&name);
        // A TPE sweep proposes later; its base holds the split.
        let mut configs: Vec<&TrialConfig> = sweep.points.iter().map(|p| &p.config).collect();
        configs.extend(sweep.tpe.as_ref().map(|plan| &plan.space.base));
        assert!(!configs.is_empty(), "{name}");
        assert!(
            configs.iter().all(|c| c.data.split_seed == Some(0)),
            "{name} does not pin data.split_seed"
        );
    }
}

#[test]
fn grid_is_the_full_design_grid() {
    let sweep = load("grid.yaml");
    assert_eq!(sweep.points.len(), 3 * 3 * 2 * 2);
    let mut kinds = std::collections::BTreeSet::new();
    let mut unfreezes = std::collections::BTreeSet::new();
    for p in &sweep.points {
        let c = &p.config;
        assert_eq!(c.input_size, 32);
        assert_eq!(
            (c.data.train, c.data.val, c.data.test),
            (10_000, 2_000, 2_000)
        );
        assert_eq!((c.phase1.epochs, c.phase2.epochs), (3, 7));
        kinds.insert(format!("{:?}", c.scheduler.kind));
        unfreezes.insert(c.phase2.unfreeze.clone());
    }
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&format!("{:?}", SchedulerKind::Cosine)));
    assert!(unfreezes.contains(&vec![Stage::Layer3, Stage::Layer4]));
    assert!(unfreezes.contains(&vec![Stage::All]));
}

#[test]
fn asha_is_the_design_grid_with_asha() {
    let sweep = load("asha.yaml");
    assert_eq!(sweep.points.len(), 36);
    let Some(sweep_coordinator::search::EarlyStop::Asha(a)) = &sweep.early_stop else {
        panic!("{:?}", sweep.early_stop)
    };
    // Rungs at phase 2's epochs 1 and 3 (of 7; 9 would be past its end).
    assert_eq!(a.epochs, sweep_coordinator::search::EpochCount::Phase2);
    assert_eq!(a.rungs(7), [1, 3]);
}

#[test]
fn tpe_proposes_24_trials_later() {
    let sweep = load("tpe.yaml");
    assert!(sweep.points.is_empty());
    let plan = sweep.tpe.as_ref().unwrap();
    assert_eq!((plan.settings.count, plan.settings.startup_trials), (24, 8));
    assert_eq!(sweep.planned(), 24);
    assert!(sweep.early_stop.is_some());
}

/// `models.yaml` sweeps the architecture; `{model}` in the backbone path
/// resolves per trial, and the stored configs hold the resolved paths.
#[test]
fn models_sweeps_both_architectures_with_their_own_backbones() {
    use sweep_proto::trial::Model;
    let sweep = load("models.yaml");
    assert_eq!(sweep.points.len(), 2);
    let mut seen = Vec::new();
    for p in &sweep.points {
        let c = &p.config;
        let expected = format!("data/backbone/{}-fashion-32.safetensors", c.model);
        assert_eq!(c.backbone.weights, PathBuf::from(expected));
        assert_eq!(c.phase2.unfreeze, vec![Stage::All]);
        seen.push(c.model);
    }
    seen.sort_by_key(|m| m.name());
    assert_eq!(seen, vec![Model::MobilenetV2, Model::Resnet18]);
    // The two trials differ, so they have different ids.
    assert_ne!(
        sweep.points[0].config.content_id(),
        sweep.points[1].config.content_id()
    );
}

/// A ResNet stage named for a MobileNetV2 trial is refused at submit time,
/// naming the point and the field.
#[test]
fn a_stage_of_the_other_model_is_refused_with_the_field() {
    let text = "name: bad\nmetric: {name: val_acc, goal: maximize}\nmethod: grid\nbase: {input_size: 32}\nparameters:\n  model: {values: [resnet18, mobilenet_v2]}\n";
    let err = sweepfile::load(text, "bad.yaml", &LoadLimits::default())
        .expect_err("layer4 is not a MobileNetV2 block")
        .to_string();
    assert!(
        err.contains("phase2.unfreeze") && err.contains("mobilenet_v2"),
        "{err}"
    );
}

/// `best.yaml` is the recipe the README's "Result quality" measured: four
/// trials of 1 + 15 epochs on the full split at 32 px, every block trained.
#[test]
fn best_is_the_measured_recipe() {
    let sweep = load("best.yaml");
    assert_eq!(sweep.points.len(), 4);
    for p in &sweep.points {
        let c = &p.config;
        assert_eq!((c.input_size, c.threads), (32, 2));
        assert_eq!((c.data.train, c.data.val, c.data.test), (10000, 2000, 2000));
        assert_eq!((c.phase1.epochs, c.phase2.epochs), (1, 15));
        assert_eq!(c.phase2.unfreeze, vec![Stage::All]);
        assert_eq!(c.scheduler.kind, SchedulerKind::Cosine);
        assert_eq!(c.loss.label_smoothing, 0.1);
        assert!([0.05, 0.2].contains(&c.optimizer.weight_decay));
    }
}
