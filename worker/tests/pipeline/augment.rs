//! Augmentation: val/test inputs are the plain eval transform whatever the
//! augmentation settings; training batches differ between draws; a rotated
//! bar never tilts beyond `rotation_deg` and a shifted blob never moves
//! beyond `translate`.

use super::common::tiny_config;
use rand::rngs::StdRng;
use rand::SeedableRng;
use sweep_worker::pipeline::data::prepare_data;
use sweep_worker::pipeline::mnist::load_mnist;
use sweep_worker::pipeline::transform::{
    eval_inputs, eval_transform, unit_images, Affine, Augmenter, EvalImages,
};
use tch::{Kind, Tensor};

#[test]
fn val_and_test_get_the_eval_transform_only() {
    let mut cfg = tiny_config();
    cfg.augment.enabled = true;
    cfg.augment.rotation_deg = 45.0;
    cfg.augment.translate = 0.3;
    let with = prepare_data(&cfg).unwrap();
    cfg.augment.enabled = false;
    let without = prepare_data(&cfg).unwrap();
    let all = |e: &EvalImages| e.inputs(0, e.len());
    assert!(all(&with.val_inputs).equal(&all(&without.val_inputs)));
    assert!(all(&with.test_inputs).equal(&all(&without.test_inputs)));
    // ... and that is the deterministic resize + normalise of the raw images,
    let m = load_mnist(&cfg.data.dir).unwrap();
    let expect = eval_inputs(&unit_images(&m.train.images, &with.split.val), 32);
    assert!(all(&with.val_inputs).equal(&expect));
    assert_eq!(all(&with.val_inputs).size(), vec![200, 1, 32, 32]);
    // the same whichever batches the images come in (evaluation's, Grad-CAM's).
    let v = &with.val_inputs;
    let halves = Tensor::cat(&[v.inputs(0, 73), v.inputs(73, 127)], 0);
    assert!(halves.equal(&expect));
    let picked = v.select(&Tensor::from_slice(&[5i64, 150, 7]));
    assert!(picked.equal(&expect.index_select(0, &Tensor::from_slice(&[5i64, 150, 7]))));
}

#[test]
fn training_batches_vary_and_identity_is_the_eval_transform() {
    let cfg = tiny_config();
    let data = prepare_data(&cfg).unwrap();
    let batch = data.train_unit.narrow(0, 0, 64);
    let aug = Augmenter {
        rotation_deg: 15.0,
        translate: 0.1,
        size: 32,
    };
    let mut rng = StdRng::seed_from_u64(1);
    let a = aug.augment(&batch, &mut rng);
    let b = aug.augment(&batch, &mut rng);
    assert_eq!(a.size(), vec![64, 1, 32, 32]);
    let moved = (&a - &b)
        .abs()
        .amax([1i64, 2, 3], false)
        .gt(1e-3)
        .sum(Kind::Int64)
        .int64_value(&[]);
    assert!(
        moved >= 60,
        "only {moved}/64 images changed between two draws"
    );
    // A zero transform resamples exactly like the eval transform (MNIST's
    // border is black, so zero padding and edge clamping agree).
    let zero = vec![
        Affine {
            angle_deg: 0.0,
            dx: 0.0,
            dy: 0.0
        };
        64
    ];
    let same = aug.apply(&batch, &zero);
    let diff = (&same - eval_transform(&batch, 32))
        .abs()
        .max()
        .double_value(&[]);
    assert!(
        diff < 1e-4,
        "identity augmentation differs from eval by {diff}"
    );
}

/// `[B, 1, S, S]` network inputs (gray, in [0, 1]) as `[B, S, S]` intensities.
fn intensities(x: &Tensor) -> Tensor {
    x.select(1, 0)
}

#[test]
fn rotation_and_shift_stay_within_bounds() {
    let s = 64i64;
    // A horizontal bar through the centre, 20 × 2 pixels.
    let mut img = vec![0f32; 28 * 28];
    for y in 13..15 {
        for x in 4..24 {
            img[y * 28 + x] = 1.0;
        }
    }
    let n = 512;
    let batch = Tensor::from_slice(&img)
        .reshape([1, 1, 28, 28])
        .repeat([n, 1, 1, 1]);
    let max_deg = 15.0;
    let aug = Augmenter {
        rotation_deg: max_deg,
        translate: 0.0,
        size: s,
    };
    let out = intensities(&aug.augment(&batch, &mut StdRng::seed_from_u64(5)));
    // Orientation from second central moments.
    let ys = Tensor::arange(s, (Kind::Float, tch::Device::Cpu)).view([1, s, 1]);
    let xs = Tensor::arange(s, (Kind::Float, tch::Device::Cpu)).view([1, 1, s]);
    let m = out.sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Float);
    let cx = (&out * &xs).sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Float) / &m;
    let cy = (&out * &ys).sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Float) / &m;
    let dx = &xs - cx.view([-1, 1, 1]);
    let dy = &ys - cy.view([-1, 1, 1]);
    let mu20 = (&out * &dx * &dx).sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Float);
    let mu02 = (&out * &dy * &dy).sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Float);
    let mu11 = (&out * &dx * &dy).sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Float);
    let angle = (mu11 * 2.0).atan2(&(mu20 - mu02)) * (0.5 * 180.0 / std::f64::consts::PI);
    let angles = Vec::<f32>::try_from(&angle).unwrap();
    let max_seen = angles.iter().fold(0f32, |a, &b| a.max(b.abs()));
    assert!(
        max_seen <= max_deg as f32 + 1.0,
        "a bar tilted by {max_seen}° > {max_deg}°"
    );
    assert!(
        max_seen > 12.0,
        "rotations up to ±15° should show, saw at most {max_seen}°"
    );
    assert!(
        angles.iter().any(|&a| a > 5.0) && angles.iter().any(|&a| a < -5.0),
        "both directions"
    );
    // Rotation about the centre keeps the bar centred (no shift asked).
    let centre = (s as f64 - 1.0) / 2.0;
    let off = (cx - centre).abs().max().double_value(&[]);
    assert!(off < 1.0, "pure rotation moved the centroid by {off} px");

    // Shift only: the centroid moves at most translate × size.
    let aug = Augmenter {
        rotation_deg: 0.0,
        translate: 0.1,
        size: s,
    };
    let out = intensities(&aug.augment(&batch, &mut StdRng::seed_from_u64(6)));
    let m = out.sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Float);
    let cx = (&out * &xs).sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Float) / &m;
    let cy = (&out * &ys).sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Float) / &m;
    let limit = 0.1 * s as f64 + 0.5;
    let max_dx = (cx - centre).abs().max().double_value(&[]);
    let max_dy = (cy - centre).abs().max().double_value(&[]);
    assert!(
        max_dx <= limit && max_dy <= limit,
        "shifted by ({max_dx}, {max_dy}) > {limit} px"
    );
    assert!(
        max_dx > 0.7 * limit && max_dy > 0.7 * limit,
        "shifts should reach near the limit"
    );
}
