//! Image tensors for the network: gray `[N, 1, size, size]` images in [0, 1].
//! The seed's transform goes on to replicate the gray channel three times and
//! normalise with ImageNet's mean/std; the network's first conv does both
//! itself ([`crate::pipeline::net::layers::Conv2d::forward_gray`]), so no
//! 3-channel copy of a batch is ever made. Val/test are kept as they come
//! ([`EvalImages`]: 1 channel, 28×28) and resized batch by batch; training
//! batches go through [`Augmenter`], which rotates, shifts and resizes a whole
//! batch with one affine grid and one `grid_sample`.

use super::idx::Images;
use rand::Rng;
use std::f64::consts::PI;
use tch::{Kind, Tensor};

use crate::pipeline::net::layers::normalize3;
/// Images per chunk when preparing a kept split (bounds peak memory).
const CHUNK: usize = 256;

/// The images at `indices` as a `[N, 1, rows, cols]` float tensor in [0, 1].
pub fn unit_images(images: &Images, indices: &[usize]) -> Tensor {
    let per = images.rows * images.cols;
    let mut bytes = Vec::with_capacity(indices.len() * per);
    for &i in indices {
        bytes.extend_from_slice(images.image(i));
    }
    Tensor::from_slice(&bytes)
        .reshape([
            indices.len() as i64,
            1,
            images.rows as i64,
            images.cols as i64,
        ])
        .to_kind(Kind::Float)
        / 255.0
}

/// Labels at `indices` as an int64 tensor.
pub fn label_tensor(labels: &[u8], indices: &[usize]) -> Tensor {
    let v: Vec<i64> = indices.iter().map(|&i| labels[i] as i64).collect();
    Tensor::from_slice(&v)
}

/// The evaluation transform of a `[N, 1, h, w]` unit batch: bilinear resize
/// to `size` (as torchvision's `Resize` when enlarging; none at the images'
/// own size), gray and in [0, 1] (the network normalises).
pub fn eval_transform(x: &Tensor, size: i64) -> Tensor {
    let (h, w) = (x.size()[2], x.size()[3]);
    network_input(if (h, w) == (size, size) {
        x.shallow_clone()
    } else {
        x.upsample_bilinear2d([size, size], false, None, None)
    })
}

/// Set to `off`, training and evaluation inputs are the seed's 3-channel
/// normalised images and the first conv runs on all three channels: the
/// path the fold replaces, kept for measuring one against the other.
pub const FOLD_ENV: &str = "SWEEP_FOLD";

/// Whether inputs stay gray for the folded first conv (see [`FOLD_ENV`]).
pub fn fold_first_conv() -> bool {
    static FOLD: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FOLD.get_or_init(|| std::env::var(FOLD_ENV).as_deref() != Ok("off"))
}

/// A resized (and augmented) gray batch as the network's input: itself, or
/// [`normalize3`] of it when the fold is off.
pub fn network_input(x: Tensor) -> Tensor {
    if fold_first_conv() {
        x
    } else {
        normalize3(&x)
    }
}

/// A kept evaluation split: its images as they come (`[N, 1, 28, 28]` in
/// [0, 1]), made into network inputs ([`eval_transform`]) a batch at a time
/// when used. Kept so, a split costs 28×28 floats an image instead of
/// 3×S×S (at 224 px, 2,000 images: 6 MB instead of 1.2 GB); the transform is
/// per image, so a batch's inputs are the same whichever batch they come in.
pub struct EvalImages {
    unit: Tensor,
    size: i64,
}

impl EvalImages {
    /// `unit` (`[N, 1, h, w]` in [0, 1]) for a network of `size` px.
    pub fn new(unit: Tensor, size: i64) -> Self {
        Self { unit, size }
    }

    /// How many images.
    pub fn len(&self) -> i64 {
        self.unit.size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The network inputs of images `start .. start + len`.
    pub fn inputs(&self, start: i64, len: i64) -> Tensor {
        tch::no_grad(|| eval_transform(&self.unit.narrow(0, start, len), self.size))
    }

    /// The network inputs of the images at `indices` (an int64 tensor).
    pub fn select(&self, indices: &Tensor) -> Tensor {
        tch::no_grad(|| eval_transform(&self.unit.index_select(0, indices), self.size))
    }
}

/// The evaluation inputs of a whole split at once (in chunks).
pub fn eval_inputs(unit: &Tensor, size: i64) -> Tensor {
    tch::no_grad(|| {
        let n = unit.size()[0];
        let parts: Vec<Tensor> = (0..n)
            .step_by(CHUNK)
            .map(|s| eval_transform(&unit.narrow(0, s, (CHUNK as i64).min(n - s)), size))
            .collect();
        Tensor::cat(&parts, 0)
    })
}

/// A draw uniform in [−half, half]; 0 (and no draw) when `half` is 0.
pub fn symmetric_uniform(rng: &mut impl Rng, half: f64) -> f64 {
    if half > 0.0 {
        rng.random_range(-half..=half)
    } else {
        0.0
    }
}

/// One image's random transform: rotation in degrees and shift as a fraction
/// of width (`dx`) and height (`dy`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub angle_deg: f64,
    pub dx: f64,
    pub dy: f64,
}

/// Train-only augmentation as torchvision's `RandomRotation(rotation_deg)` then
/// `RandomAffine(0, translate=(translate, translate))`: angle uniform in
/// ±rotation_deg, shift uniform in ±translate × size (continuous, bilinear),
/// zero (black) fill, sampled straight at the output size.
#[derive(Debug, Clone, Copy)]
pub struct Augmenter {
    pub rotation_deg: f64,
    pub translate: f64,
    pub size: i64,
}

impl Augmenter {
    /// Draws one transform per image.
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> Vec<Affine> {
        let r = self.rotation_deg;
        let t = self.translate;
        (0..n)
            .map(|_| {
                let angle_deg = symmetric_uniform(rng, r);
                let dx = symmetric_uniform(rng, t);
                let dy = symmetric_uniform(rng, t);
                Affine { angle_deg, dx, dy }
            })
            .collect()
    }

    /// Augments and resizes a `[B, 1, h, w]` unit batch into a
    /// `[B, 1, size, size]` network input: one affine grid, one grid sample.
    pub fn apply(&self, unit: &Tensor, transforms: &[Affine]) -> Tensor {
        tch::no_grad(|| {
            let b = unit.size()[0];
            assert_eq!(b as usize, transforms.len(), "one transform per image");
            let theta = Tensor::from_slice(&thetas(transforms)).reshape([b, 2, 3]);
            let grid = Tensor::affine_grid_generator(&theta, [b, 1, self.size, self.size], false);
            // interpolation 0 = bilinear, padding 0 = zeros (black fill).
            network_input(unit.grid_sampler_2d(&grid, 0, 0, false))
        })
    }

    /// Draws transforms from `rng` and applies them.
    pub fn augment(&self, unit: &Tensor, rng: &mut impl Rng) -> Tensor {
        let t = self.sample(unit.size()[0] as usize, rng);
        self.apply(unit, &t)
    }
}

/// The `[B, 2, 3]` matrices mapping output to input coordinates (normalised,
/// −1..1) for "rotate by angle about the centre, then shift by (dx, dy)".
pub fn thetas(transforms: &[Affine]) -> Vec<f32> {
    let mut out = Vec::with_capacity(transforms.len() * 6);
    for t in transforms {
        let a = t.angle_deg * PI / 180.0;
        let (c, s) = (a.cos(), a.sin());
        // out = R(a)·in + d  ⇒  in = R(−a)·(out − d); a shift of dx of the
        // width is 2·dx in normalised units.
        let (sx, sy) = (2.0 * t.dx, 2.0 * t.dy);
        let (r00, r01, r10, r11) = (c, s, -s, c);
        let bx = -(r00 * sx + r01 * sy);
        let by = -(r10 * sx + r11 * sy);
        out.extend([r00, r01, bx, r10, r11, by].map(|v| v as f32));
    }
    out
}
