//! The seed report's open points, on the real pipeline (real MNIST, the
//! stand-in backbone, libtorch): a one-image last batch no longer poisons
//! BatchNorm, `train_loss` is comparable across label smoothing, the exact
//! torchvision augmentation trains, temperature scaling and val's confusion
//! come with every result, and Grad-CAM draws the test images.

use super::common::{tiny_config, untrained_on_test};
use std::sync::atomic::AtomicBool;
use sweep_proto::trial::{AugmentMode, Stage};
use sweep_worker::pipeline::data::prepare_data;
use sweep_worker::pipeline::net::{Head, Net};
use sweep_worker::pipeline::{run_trial, NoObserver};

fn backbone_model(cfg: &sweep_proto::trial::TrialConfig) -> Net {
    let sd = tch::Tensor::read_safetensors(&cfg.backbone.weights)
        .unwrap()
        .into_iter()
        .collect();
    Net::from_state_dict(sweep_proto::trial::Model::Resnet18, sd, Head::Keep).unwrap()
}

/// Why the merge exists: at 32 px, one image in a train-mode batch makes
/// layer4's running variance NaN (n − 1 = 0)…
#[test]
fn a_one_image_batch_makes_the_running_variance_nan() {
    let cfg = tiny_config();
    let model = backbone_model(&cfg);
    model.set_trainable(&[]);
    let data = prepare_data(&cfg).unwrap();
    let one = data.val_inputs.inputs(0, 1);
    let _ = model.forward_train(&one);
    let nan = model
        .bn_stats(Stage::Layer4)
        .iter()
        .any(|(_, t)| t.isnan().any().int64_value(&[]) != 0);
    assert!(
        nan,
        "a one-image batch left layer4's running statistics finite"
    );
}

/// …and a split whose last batch would hold one image (10 images, batch 9)
/// trains with it merged into the batch before: the trial stays finite.
#[test]
fn a_lone_last_image_joins_the_batch_before() {
    let mut cfg = tiny_config();
    cfg.data.train = 10;
    cfg.batch_size = 9;
    cfg.phase2.epochs = 0;
    let r = run_trial(&cfg, &mut NoObserver, &AtomicBool::new(false)).unwrap();
    assert!(r.diverged.is_none(), "{:?}", r.diverged);
    assert!(r.epochs[0].val_loss.is_finite() && r.test.loss.is_finite());
}

/// `train_loss` is the plain cross-entropy: with learning rates too small to
/// move the model, trials with smoothing 0 and 0.1 see the same batches
/// through the same model and report the same train loss (the smoothed loss
/// they optimise differs by far more).
#[test]
fn train_loss_leaves_label_smoothing_out() {
    let mut cfg = tiny_config();
    cfg.phase1.lr_head = 1e-12;
    cfg.phase2.epochs = 0;
    let plain = run_trial(&cfg, &mut NoObserver, &AtomicBool::new(false)).unwrap();
    cfg.loss.label_smoothing = 0.1;
    let smoothed = run_trial(&cfg, &mut NoObserver, &AtomicBool::new(false)).unwrap();
    let (a, b) = (plain.epochs[0].train_loss, smoothed.epochs[0].train_loss);
    assert!(
        (a - b).abs() < 1e-4,
        "train loss {a} without smoothing, {b} with"
    );
}

/// `augment.mode: exact` trains and learns, and draws other images than the
/// fast mode (so the results differ).
#[test]
fn the_exact_augmentation_trains() {
    let mut cfg = tiny_config();
    cfg.phase2.unfreeze = vec![Stage::All];
    cfg.phase2.lr_backbone = 1e-3;
    let fast = run_trial(&cfg, &mut NoObserver, &AtomicBool::new(false)).unwrap();
    cfg.augment.mode = AugmentMode::Exact;
    let exact = run_trial(&cfg, &mut NoObserver, &AtomicBool::new(false)).unwrap();
    // "Learns" as end_to_end.rs judges it: against the untrained model (the
    // backbone with the trial's fresh head) in the same run, never a figure
    // from another CPU.
    let before = untrained_on_test(&cfg).accuracy();
    eprintln!(
        "untrained {before:.3}; fast {:.3}; exact {:.3}",
        fast.test.acc, exact.test.acc
    );
    assert!(
        exact.test.acc > before + 0.2,
        "exact augmentation: test acc {} against the untrained {before}",
        exact.test.acc
    );
    assert_ne!(fast.epochs[0].train_loss, exact.epochs[0].train_loss);
}

/// Every result carries val's confusion and reliability, and a temperature
/// fitted on val that does not make val's NLL worse and leaves test's
/// uncalibrated NLL equal to the reported test loss.
#[test]
fn results_carry_val_metrics_and_temperature_scaling() {
    let cfg = tiny_config();
    let r = run_trial(&cfg, &mut NoObserver, &AtomicBool::new(false)).unwrap();
    let val = r.val.as_ref().expect("val metrics");
    assert_eq!(val.confusion.iter().flatten().sum::<u64>(), 200);
    assert_eq!(val.acc, r.best_val_acc);
    assert_eq!(val.reliability.iter().map(|b| b.count).sum::<u64>(), 200);
    let c = r.calibration.as_ref().expect("calibration");
    eprintln!(
        "T {:.3}; val nll {:.4} -> {:.4}; test nll {:.4} -> {:.4}, ece {:.4} -> {:.4}",
        c.temperature,
        c.val_nll_before,
        c.val_nll_after,
        c.test_nll_before,
        c.test_nll_after,
        c.test_ece_before,
        c.test_ece_after
    );
    assert!(c.temperature > 0.0 && c.temperature.is_finite());
    assert!(c.val_nll_after <= c.val_nll_before + 1e-12);
    assert!((c.val_nll_before - r.best_val_loss).abs() < 1e-5);
    assert!((c.test_nll_before - r.test.loss).abs() < 1e-5);
    assert!((c.test_ece_before - r.test.ece).abs() < 1e-6);
    assert_eq!(
        c.test_reliability_after
            .iter()
            .map(|b| b.count)
            .sum::<u64>(),
        200
    );
}

/// Grad-CAM on the real network: on the deepest stage with more than one
/// position, maps in [0, 1] at the input size, and the figure is a PNG.
#[test]
fn gradcam_maps_the_test_images() {
    let cfg = tiny_config();
    let model = backbone_model(&cfg);
    let data = prepare_data(&cfg).unwrap();
    let x = data.test_inputs.inputs(0, 4);
    // The predicted classes, as the figure uses them.
    let predicted = Vec::<i64>::try_from(model.forward_eval(&x).argmax(1, false)).unwrap();
    let (stage, maps) = model.grad_cam(&x, &predicted);
    // At 32 px layer4's maps are 1 × 1 (no place to show): layer3's, 2 × 2.
    assert_eq!(stage, sweep_proto::trial::Stage::Layer3);
    assert_eq!(maps.size(), [4, 32, 32]);
    let (min, max) = (maps.min().double_value(&[]), maps.max().double_value(&[]));
    assert!(min >= 0.0 && max <= 1.0 + 1e-6, "[{min}, {max}]");
    assert!(max > 0.99, "no map reached 1: {max}");
    let (figure_stage, png) =
        sweep_worker::commands::gradcam::render(&cfg, &cfg.backbone.weights, 7).unwrap();
    assert_eq!(figure_stage, stage);
    assert_eq!(&png[1..4], b"PNG");
}
