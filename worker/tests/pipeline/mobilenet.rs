//! A real trial of MobileNetV2: its stand-in backbone (scripts/setup.sh),
//! phase 2 unfreezing `features.4`..`features.18` by torchvision's names
//! (`features.0`..`features.3` frozen, their BatchNorm held). It learns
//! (judged against the untrained model in the same run), the frozen blocks
//! come out of the trial exactly as they went in, and the kept weights
//! reproduce the reported test accuracy.

use super::common::{assert_learns, backbone_of, tiny_config, untrained_on_test};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use sweep_proto::trial::{Model, Stage};
use sweep_worker::pipeline::data::prepare_data;
use sweep_worker::pipeline::metrics::evaluate;
use sweep_worker::pipeline::net::{Head, Net};
use sweep_worker::pipeline::{run_trial_with_options, NoObserver, TrialOptions};
use tch::Tensor;

fn read(path: &std::path::Path) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn mobilenet_v2_trial_learns_with_named_blocks() {
    let mut cfg = tiny_config();
    cfg.model = Model::MobilenetV2;
    cfg.backbone.weights = backbone_of(Model::MobilenetV2);
    cfg.backbone.hold_frozen_bn = true;
    cfg.phase1.epochs = 1;
    cfg.phase1.lr_head = 3e-3;
    cfg.data.train = 2000;
    cfg.phase2.epochs = 3;
    cfg.phase2.unfreeze = (4..=18).map(Stage::Features).collect();
    cfg.phase2.lr_backbone = 3e-3;
    cfg.phase2.lr_head = 3e-3;
    let dir = tempfile::tempdir().unwrap();
    let best = dir.path().join("best.safetensors");
    let opts = TrialOptions {
        save_best: Some(best.clone()),
        ..TrialOptions::default()
    };
    let r = run_trial_with_options(&cfg, &mut NoObserver, &AtomicBool::new(false), &opts).unwrap();
    eprintln!(
        "mobilenet_v2: best val {:.3}, {:.0} img/s in phase 2",
        r.best_val_acc, r.phases[1].train_images_per_s
    );
    assert_learns(&r, &untrained_on_test(&cfg));
    assert_eq!(r.backbone.name, "mobilenet_v2-fashion-32.safetensors");
    assert_eq!(r.epochs.len(), 4);

    // Frozen blocks (held BatchNorm) leave the trial bit for bit as they came.
    let start = read(&cfg.backbone.weights);
    let kept = read(&best);
    for (name, t) in &start {
        let trained_block = (4..=18).any(|b| name.starts_with(&format!("features.{b}.")));
        if name.starts_with("classifier") || trained_block || name.ends_with("num_batches_tracked")
        {
            continue;
        }
        assert!(
            kept[name].equal(t),
            "{name} moved although its block was frozen"
        );
    }
    let moved = |prefix: &str| {
        start
            .iter()
            .filter(|(n, _)| n.starts_with(prefix) && n.ends_with(".weight"))
            .any(|(n, t)| !kept[n].equal(t))
    };
    assert!(
        moved("features.17.") && moved("features.18."),
        "the unfrozen blocks should train"
    );

    // The kept weights reproduce the reported test accuracy.
    let model = Net::from_state_dict(Model::MobilenetV2, kept, Head::Keep).unwrap();
    let data = prepare_data(&cfg).unwrap();
    let test = evaluate(&model, &data.test_inputs, &data.test_labels, 100);
    assert_eq!(test.accuracy(), r.test.acc);
}
