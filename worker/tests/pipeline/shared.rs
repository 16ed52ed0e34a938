//! What trials share through a worker's shared folder gives every trial
//! exactly the numbers it gets alone: tiny real trials (ResNet18 and
//! MobileNetV2 stand-ins, real MNIST) run once each through one shared
//! folder and once each alone; epoch metrics, best epoch, val and test
//! metrics, calibration and the saved best weights must be equal bit for
//! bit, at the same thread count. The variants cover a shared phase 1
//! (phase 2 differs: `[layer4]`, `[layer3, layer4]`, `[all]`, another
//! learning rate, a cosine schedule), a phase 1 that differs only in the
//! head's loss (label smoothing: its backbone pass comes from the shared
//! prefix outputs), and phase 2 prefixes shared by depth (`[layer4]` uses
//! stem..layer3's outputs of an earlier `[layer4]` trial). The count of
//! kept prefix epochs after each variant shows what was computed anew.

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
        shared_dir: cache.map(Path::to_path_buf),
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

/// Prefix epochs kept in the shared folder `dir`; each holds the training
/// and the validation outputs.
fn prefix_epochs(dir: &Path) -> usize {
    let Ok(keys) = std::fs::read_dir(dir.join("prefix")) else {
        return 0;
    };
    let files: Vec<_> = keys
        .flatten()
        .flat_map(|k| std::fs::read_dir(k.path()).unwrap().flatten())
        .map(|f| f.path())
        .collect();
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "safetensors"))
    {
        let names: Vec<String> = tch::Tensor::read_safetensors(f)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(
            names.iter().any(|n| n == "train") && names.iter().any(|n| n == "val"),
            "{names:?}"
        );
    }
    files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .count()
}

/// Runs each variant (config, whether it resumes a shared phase 1, prefix
/// epochs kept after it) through one shared folder and alone, and checks
/// they agree exactly; returns the shared runs' results.
fn check_shared_equals_alone(variants: &[(TrialConfig, bool, usize)]) -> Vec<TrialResult> {
    let mut results = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("shared");
    for (i, (cfg, resumes, kept)) in variants.iter().enumerate() {
        let (shared, seen, shared_weights) = run(cfg, Some(&cache), dir.path());
        let (alone, _, alone_weights) = run(cfg, None, dir.path());
        assert_eq!(
            shared.phases[0].shared, *resumes,
            "variant {i}: shared phase 1"
        );
        assert_eq!(
            prefix_epochs(&cache),
            *kept,
            "variant {i}: prefix epochs kept"
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
        results.push(shared);
    }
    results
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
    let mut faster = b.clone();
    faster.phase2.lr_backbone = 1e-3;
    let mut smoothed = b.clone();
    smoothed.loss.label_smoothing = 0.1;
    // The first keeps 2 epochs of phase 1's whole backbone and 2 of phase
    // 2's stem..layer3; [layer3, layer4] keeps 2 of stem..layer2; the rest
    // compute no prefix anew ([all] has none).
    let r = check_shared_equals_alone(&[
        (b, false, 4),
        (layer34, true, 6),
        (all, true, 6),
        (faster, true, 6),
        (smoothed, false, 6),
    ]);
    let prefix_epochs_used = |r: &TrialResult, phase: usize| r.phases[phase].prefix_shared_epochs;
    assert_eq!(
        prefix_epochs_used(&r[0], 1),
        0,
        "the first computes its prefixes"
    );
    assert_eq!(
        prefix_epochs_used(&r[3], 1),
        2,
        "[layer4] again: stem..layer3 shared"
    );
    assert_eq!(
        prefix_epochs_used(&r[4], 0),
        2,
        "smoothing: phase 1's backbone shared"
    );
    assert_eq!(
        prefix_epochs_used(&r[4], 1),
        2,
        "and phase 2's stem..layer3"
    );
}

#[test]
fn mobilenet_v2_trials_resuming_a_shared_phase_1_equal_their_runs_alone() {
    // Its head's dropout draws from libtorch's generator in both phases.
    let mut b = base(Model::MobilenetV2);
    b.phase2.unfreeze = vec![Stage::Features(18)];
    let mut all = b.clone();
    all.phase2.unfreeze = vec![Stage::All];
    all.phase2.lr_backbone = 1e-3;
    check_shared_equals_alone(&[(b, false, 4), (all, true, 4)]);
}

#[test]
fn a_trial_whose_phase_1_differs_does_not_resume_from_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("shared");
    let b = base(Model::Resnet18);
    let (first, _, _) = run(&b, Some(&cache), dir.path());
    assert!(!first.phases[0].shared);
    let mut smoothed = b.clone();
    smoothed.loss.label_smoothing = 0.1;
    let (other, _, _) = run(&smoothed, Some(&cache), dir.path());
    assert!(!other.phases[0].shared, "label smoothing acts in phase 1");
    let entries = std::fs::read_dir(cache.join("phase1")).unwrap().count();
    assert_eq!(entries, 2, "one snapshot per phase-1 config");
    // A damaged snapshot or a forged prefix epoch (a header whose offsets
    // point past the data) is not used, and the trial still runs.
    let header = br#"{"train":{"dtype":"F32","shape":[4],"data_offsets":[0,16000000]}}"#;
    let mut forged = (header.len() as u64).to_le_bytes().to_vec();
    forged.extend_from_slice(header);
    for e in std::fs::read_dir(cache.join("phase1")).unwrap() {
        std::fs::write(e.unwrap().path().join("state.safetensors"), b"garbage").unwrap();
    }
    for k in std::fs::read_dir(cache.join("prefix")).unwrap() {
        for f in std::fs::read_dir(k.unwrap().path()).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "safetensors") {
                std::fs::write(f, &forged).unwrap();
            }
        }
    }
    let (again, _, _) = run(&b, Some(&cache), dir.path());
    assert!(!again.phases[0].shared);
    assert_eq!(numbers(&again), numbers(&first));
}
