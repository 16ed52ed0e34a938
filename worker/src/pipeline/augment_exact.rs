//! The exact torchvision augmentation (`augment.mode: exact`), beside the
//! fast one in [`super::transform::Augmenter`]: what the seed's
//! `Resize(size)`, `RandomRotation(r)`, `RandomAffine(0, translate=(t, t))`
//! do to a PIL image, on a whole batch:
//!
//! 1. resize first (bilinear, as `Resize`), so rotation and shift act on the
//!    network-size image;
//! 2. rotate by an angle uniform in ±r about the image centre, **nearest**
//!    sampling (torchvision's default for both transforms), black fill;
//! 3. shift by **whole pixels**: `round(uniform(±t · size))` each way, as
//!    torchvision rounds its translation, black fill.
//!
//! The fast mode instead samples rotation and a continuous shift in one
//! bilinear pass straight from the 28 px image to the output size: one
//! resampling instead of three, smoother images, and cheaper at 224 px.
//! Both draw their randomness from the trial's augmentation stream.

use super::transform::{network_input, symmetric_uniform, thetas, Affine, Augmenter};
use rand::Rng;
use sweep_proto::trial::{AugmentConfig, AugmentMode};
use tch::{Kind, Tensor};

/// The training augmentation of a trial, in the mode its config names.
#[derive(Debug, Clone, Copy)]
pub enum TrainAugment {
    Fast(Augmenter),
    Exact(ExactAugmenter),
}

impl TrainAugment {
    /// `None` when augmentation is off.
    pub fn new(a: &AugmentConfig, size: i64) -> Option<Self> {
        a.enabled.then_some(match a.mode {
            AugmentMode::Fast => TrainAugment::Fast(Augmenter {
                rotation_deg: a.rotation_deg,
                translate: a.translate,
                size,
            }),
            AugmentMode::Exact => TrainAugment::Exact(ExactAugmenter {
                rotation_deg: a.rotation_deg,
                translate: a.translate,
                size,
            }),
        })
    }

    /// A `[B, 1, h, w]` unit batch → the augmented, normalised network input.
    pub fn augment(&self, unit: &Tensor, rng: &mut impl Rng) -> Tensor {
        match self {
            TrainAugment::Fast(a) => a.augment(unit, rng),
            TrainAugment::Exact(a) => a.augment(unit, rng),
        }
    }
}

/// `grid_sampler_2d` interpolation mode 1: nearest.
const NEAREST: i64 = 1;
/// `grid_sampler_2d` padding mode 0: zeros (black fill).
const ZEROS: i64 = 0;

/// One image's exact transform: a rotation and a whole-pixel shift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExactAffine {
    pub angle_deg: f64,
    /// Pixels right (x) and down (y) at the output size.
    pub shift_x: i64,
    pub shift_y: i64,
}

/// The exact augmentation of one trial (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct ExactAugmenter {
    pub rotation_deg: f64,
    pub translate: f64,
    pub size: i64,
}

impl ExactAugmenter {
    /// Draws one transform per image: angle, then x shift, then y shift.
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> Vec<ExactAffine> {
        let max_shift = self.translate * self.size as f64;
        (0..n)
            .map(|_| {
                let angle_deg = symmetric_uniform(rng, self.rotation_deg);
                let shift_x = symmetric_uniform(rng, max_shift).round() as i64;
                let shift_y = symmetric_uniform(rng, max_shift).round() as i64;
                ExactAffine {
                    angle_deg,
                    shift_x,
                    shift_y,
                }
            })
            .collect()
    }

    /// A `[B, 1, h, w]` unit batch → the `[B, 1, size, size]` input.
    pub fn apply(&self, unit: &Tensor, transforms: &[ExactAffine]) -> Tensor {
        tch::no_grad(|| {
            let b = unit.size()[0];
            assert_eq!(b as usize, transforms.len(), "one transform per image");
            let resized = self.resize(unit);
            let rotations: Vec<Affine> = transforms
                .iter()
                .map(|t| Affine {
                    angle_deg: t.angle_deg,
                    dx: 0.0,
                    dy: 0.0,
                })
                .collect();
            let rotated = self.sample_nearest(&resized, &thetas(&rotations));
            // A shift of k whole pixels is 2k/size in normalised units; with
            // align_corners = false every sample lands on a pixel centre.
            let s = self.size as f32;
            let shifts: Vec<f32> = transforms
                .iter()
                .flat_map(|t| {
                    let (x, y) = (2.0 * t.shift_x as f32 / s, 2.0 * t.shift_y as f32 / s);
                    [1.0, 0.0, -x, 0.0, 1.0, -y]
                })
                .collect();
            network_input(self.sample_nearest(&rotated, &shifts))
        })
    }

    /// Draws transforms from `rng` and applies them.
    pub fn augment(&self, unit: &Tensor, rng: &mut impl Rng) -> Tensor {
        let t = self.sample(unit.size()[0] as usize, rng);
        self.apply(unit, &t)
    }

    /// Bilinear resize to the output size (a no-op at that size).
    pub fn resize(&self, unit: &Tensor) -> Tensor {
        let (h, w) = (unit.size()[2], unit.size()[3]);
        if (h, w) == (self.size, self.size) {
            unit.shallow_clone()
        } else {
            unit.upsample_bilinear2d([self.size, self.size], false, None, None)
        }
    }

    fn sample_nearest(&self, x: &Tensor, thetas: &[f32]) -> Tensor {
        let b = x.size()[0];
        let theta = Tensor::from_slice(thetas)
            .reshape([b, 2, 3])
            .to_kind(Kind::Float);
        let grid = Tensor::affine_grid_generator(&theta, [b, 1, self.size, self.size], false);
        x.grid_sampler_2d(&grid, NEAREST, ZEROS, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn digits(b: i64, side: i64) -> Tensor {
        Tensor::rand([b, 1, side, side], (Kind::Float, tch::Device::Cpu))
    }

    fn augmenter(rotation_deg: f64) -> ExactAugmenter {
        ExactAugmenter {
            rotation_deg,
            translate: 0.1,
            size: 32,
        }
    }

    #[test]
    fn a_pure_shift_moves_whole_pixels_with_black_fill() {
        tch::manual_seed(1);
        let a = augmenter(0.0);
        let x = digits(1, 28);
        let resized = a.resize(&x);
        let out = a.apply(
            &x,
            &[ExactAffine {
                angle_deg: 0.0,
                shift_x: 2,
                shift_y: -1,
            }],
        );
        // out[y][x] = resized[y + 1][x − 2], zero where that falls outside.
        let expected = Tensor::zeros([1, 1, 32, 32], (Kind::Float, tch::Device::Cpu));
        expected
            .narrow(2, 0, 31)
            .narrow(3, 2, 30)
            .copy_(&resized.narrow(2, 1, 31).narrow(3, 0, 30));
        let diff = (&out - &expected).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "max difference {diff}");
    }

    #[test]
    fn rotation_samples_existing_pixels_only() {
        tch::manual_seed(2);
        let a = augmenter(15.0);
        let x = digits(4, 28);
        let resized = Vec::<f32>::try_from(a.resize(&x).flatten(0, -1)).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let t = a.sample(4, &mut rng);
        assert!(t
            .iter()
            .all(|t| t.angle_deg.abs() <= 15.0 && t.shift_x.abs() <= 3 && t.shift_y.abs() <= 3));
        let out = Vec::<f32>::try_from(a.apply(&x, &t).flatten(0, -1)).unwrap();
        // Nearest sampling: every value is black fill or some resized pixel.
        for v in out {
            assert!(
                v.abs() < 1e-5 || resized.iter().any(|r| (r - v).abs() < 1e-5),
                "{v} is an interpolated value"
            );
        }
    }
}
