//! Phase 1 shared through a snapshot gives every trial exactly the numbers
//! it gets alone: tiny real trials (ResNet18 and MobileNetV2 stand-ins, real
//! MNIST) whose phase 2 differs — `[layer4]`, `[layer3, layer4]`, `[all]`,
//! another learning rate, a cosine schedule — run once through one cache
//! folder (the first leaves the snapshot, the others resume from it) and
//! once each alone; epoch metrics, best epoch, val and test metrics,
//! calibration and the saved best weights must be equal bit for bit, at the
//! same thread count. A trial whose phase 1 differs (label smoothing) does
//! not resume from the snapshot.

use super::common::{backbone_of, tiny_config};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use sweep_proto::trial::{EpochMetrics, Model, SchedulerKind, Stage, TrialConfig, TrialResult};
use sweep_worker::pipeline::{run_trial_with_options, TrialObserver, TrialOptions};

/// Records the epochs the observer is told of.
#[derive(Default)]
struct Epochs(Vec<EpochMetrics>);

impl TrialObserver for Epochs {
    fn on_epoch(&mut self, m: &EpochMetrics) {
        self.0.push(m.clone());
    }
}

/// Runs `cfg` (through `cache` when given); the result, the epochs the
/// observer saw, and the saved best weights' bytes.
fn run(
    cfg: &TrialConfig,
    cache: Option<&Path>,
    out: &Path,
) -> (TrialResult, Vec<EpochMetrics>, Vec<u8>) {
    let best = out.join(format!("best-{}.safetensors", rand_name()));
    let opts = TrialOptions {
        save_best: Some(best.clone()),
        phase1_cache: cache.map(Path::to_path_buf),
    };
    let mut seen = Epochs::default();
    let r = run_trial_with_options(cfg, &mut seen, &AtomicBool::new(false), &opts).unwrap();
    (r, seen.0, std::fs::read(best).unwrap())
}

fn rand_name() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Everything a trial reports but its timings and host, as JSON.
fn numbers(r: &TrialResult) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    let o = v.as_object_mut().unwrap();
    for k in ["wall_s", "phases", "host"] {
        o.remove(k);
    }
    for e in o["epochs"].as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("wall_s");
    }
    v
}

fn base(model: Model) -> TrialConfig {
    let mut c = tiny_config();
    c.model = model;
    c.backbone.weights = backbone_of(model);
    c.phase1.epochs = 2;
    c.phase2.epochs = 2;
    c.augment.enabled = true;
    c
}

/// Runs each of `variants` through one cache (the first computes phase 1)
/// and alone, and checks they agree exactly.
fn check_shared_equals_alone(variants: &[TrialConfig]) {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("phase1-cache");
    for (i, cfg) in variants.iter().enumerate() {
        let (shared, seen, shared_weights) = run(cfg, Some(&cache), dir.path());
        let (alone, _, alone_weights) = run(cfg, None, dir.path());
        assert_eq!(
            shared.phases[0].shared,
            i > 0,
            "variant {i}: only the first computes phase 1"
        );
        assert!(!alone.phases[0].shared);
        assert_eq!(
            numbers(&shared),
            numbers(&alone),
            "variant {i}: shared and alone differ"
        );
        assert_eq!(
            shared_weights, alone_weights,
            "variant {i}: best weights differ"
        );
        assert_eq!(
            seen, shared.epochs,
            "variant {i}: the observer saw every epoch"
        );
    }
}

#[test]
fn resnet18_trials_resuming_a_shared_phase_1_equal_their_runs_alone() {
    let b = base(Model::Resnet18);
    let mut layer34 = b.clone();
    layer34.phase2.unfreeze = vec![Stage::Layer3, Stage::Layer4];
    layer34.phase2.lr_backbone = 1e-3;
    layer34.scheduler.kind = SchedulerKind::Cosine;
    let mut all = b.clone();
    all.phase2.unfreeze = vec![Stage::All];
    all.phase2.lr_backbone = 1e-4;
    check_shared_equals_alone(&[b, layer34, all]);
}

#[test]
fn mobilenet_v2_trials_resuming_a_shared_phase_1_equal_their_runs_alone() {
    // Its head's dropout draws from libtorch's generator in both phases.
    let mut b = base(Model::MobilenetV2);
    b.phase2.unfreeze = vec![Stage::Features(18)];
    let mut all = b.clone();
    all.phase2.unfreeze = vec![Stage::All];
    all.phase2.lr_backbone = 1e-3;
    check_shared_equals_alone(&[b, all]);
}

#[test]
fn a_trial_whose_phase_1_differs_does_not_resume_from_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("phase1-cache");
    let b = base(Model::Resnet18);
    let (first, _, _) = run(&b, Some(&cache), dir.path());
    assert!(!first.phases[0].shared);
    let mut smoothed = b.clone();
    smoothed.loss.label_smoothing = 0.1;
    let (other, _, _) = run(&smoothed, Some(&cache), dir.path());
    assert!(!other.phases[0].shared, "label smoothing acts in phase 1");
    let entries = std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(entries, 2, "one snapshot per phase-1 config");
    // A damaged snapshot is not used, and the trial still runs.
    for e in std::fs::read_dir(&cache).unwrap() {
        std::fs::write(e.unwrap().path().join("state.safetensors"), b"garbage").unwrap();
    }
    let (again, _, _) = run(&b, Some(&cache), dir.path());
    assert!(!again.phases[0].shared);
    assert_eq!(numbers(&again), numbers(&first));
}
