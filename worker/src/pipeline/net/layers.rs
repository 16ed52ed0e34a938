//! The layers both networks share — a bias-free conv (grouped for
//! MobileNetV2's depthwise ones), BatchNorm2d, the linear head — each with its
//! forward pass and a constructor that takes shapes only. The blocks are in
//! [`super::resnet`] and [`super::mobilenet`]; parameter names live in
//! [`super::names`], nowhere here.

use super::batch_norm;
use super::derived::Derived;
use crate::pipeline::rng::{stream, Stream};
use rand::Rng;
use std::cell::Cell;
use tch::{Device, Kind, Tensor};

const BN_MOMENTUM: f64 = 0.1;
const BN_EPS: f64 = 1e-5;
const CPU_F32: (Kind, Device) = (Kind::Float, Device::Cpu);
/// ImageNet's per-channel mean and standard deviation (the evaluation
/// transform's normalisation, folded into the first conv).
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// `[N, 1, H, W]` in [0, 1] → `[N, 3, H, W]` with ImageNet normalisation:
/// the seed's (and torchvision's) 3-channel input of a gray image.
pub fn normalize3(x: &Tensor) -> Tensor {
    let mean = Tensor::from_slice(&MEAN).reshape([1, 3, 1, 1]);
    let inv_std = Tensor::from_slice(&STD.map(|s| 1.0 / s)).reshape([1, 3, 1, 1]);
    (x - mean) * inv_std
}

/// How a new conv's weight starts out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// torchvision's: kaiming-normal (fan-out), drawn from tch's global generator.
    Kaiming,
    /// Zeros, to be overwritten (loading a state dict draws nothing).
    Zeros,
}

/// A bias-free 2-D convolution (every conv of both networks is one), padding
/// `k / 2`.
pub struct Conv2d {
    pub weight: Tensor,
    stride: i64,
    padding: i64,
    groups: i64,
    /// The small-map paths' matrices, built once while the weight is frozen.
    derived: Box<Derived>,
}

impl Conv2d {
    pub fn new(cin: i64, cout: i64, k: i64, stride: i64, init: Init) -> Self {
        Self::grouped(cin, cout, k, stride, 1, init)
    }

    /// A conv in `groups` groups (`groups == cin == cout`: depthwise).
    pub fn grouped(cin: i64, cout: i64, k: i64, stride: i64, groups: i64, init: Init) -> Self {
        let shape = [cout, cin / groups, k, k];
        let weight = match init {
            Init::Kaiming => {
                let fan_out = cout * k * k;
                Tensor::randn(shape, CPU_F32) * (2.0 / fan_out as f64).sqrt()
            }
            Init::Zeros => Tensor::zeros(shape, CPU_F32),
        };
        Self {
            weight,
            stride,
            padding: k / 2,
            groups,
            derived: Box::default(),
        }
    }

    /// The conv of `x`. A 3-channel conv fed a 1-channel `[N, 1, H, W]`
    /// image in [0, 1] runs [`Self::forward_gray`].
    pub fn forward(&self, x: &Tensor) -> Tensor {
        if self.groups == 1 && self.weight.size()[1] == 3 && x.size()[1] == 1 {
            return self.forward_gray(x);
        }
        self.conv(x, &self.weight)
    }

    fn conv(&self, x: &Tensor, weight: &Tensor) -> Tensor {
        if let Some(y) = self
            .one_pixel(x, weight)
            .or_else(|| self.tiny_map(x, weight))
        {
            return y;
        }
        x.conv2d(
            weight,
            None::<Tensor>,
            [self.stride, self.stride],
            [self.padding, self.padding],
            [1, 1],
            self.groups,
        )
    }

    /// How many outputs a `k`-tap kernel gives along an input side of `len`.
    fn output_len(&self, len: i64, k: i64) -> i64 {
        (len + 2 * self.padding - k) / self.stride + 1
    }

    /// A conv whose output is a single pixel (ResNet18's layer4 at 32 px: 2 × 2
    /// and 1 × 1 maps), as one matrix product of the input with the kernel
    /// taps that fall on it; the other taps meet only the zero padding. Equal
    /// to the conv up to float rounding, with the same gradients (zero for the
    /// taps that see only padding), and about 4× faster forward and backward:
    /// libtorch's convolution backward spends 5–6× its forward on such maps
    /// (README, "Cheaper tensors"). `None` for any other conv.
    fn one_pixel(&self, x: &Tensor, weight: &Tensor) -> Option<Tensor> {
        let &[n, c, h, w] = x.size().as_slice() else {
            return None;
        };
        let (out, k) = (weight.size()[0], weight.size()[2]);
        if self.groups != 1 || self.output_len(h, k) != 1 || self.output_len(w, k) != 1 {
            return None;
        }
        // The one output's window covers input rows (and columns)
        // −padding ..= k − 1 − padding; those inside the image are 0..seen.
        let (seen_h, seen_w) = (h.min(k - self.padding), w.min(k - self.padding));
        let inputs = c * seen_h * seen_w;
        let x = x
            .narrow(2, 0, seen_h)
            .narrow(3, 0, seen_w)
            .reshape([n, inputs]);
        let padding = self.padding;
        let weight = self.derived.get(weight, [0, h, w], || {
            let taps: Vec<i64> = (0..seen_h)
                .flat_map(|r| (0..seen_w).map(move |col| (r + padding) * k + col + padding))
                .collect();
            weight
                .reshape([out, c, k * k])
                .index_select(2, &Tensor::from_slice(&taps))
                .reshape([out, inputs])
        });
        Some(x.linear(&weight, None::<Tensor>).reshape([n, out, 1, 1]))
    }

    /// A conv over a map of at most 2 × 2 pixels (ResNet18's layer3 at 32 px)
    /// as one matrix product: the conv is a linear map from the `[pixel,
    /// channel]` input to the `[pixel, channel]` output whose `(out pixel, in
    /// pixel)` block is the kernel tap joining them (zero where none does).
    /// Equal to the conv up to float rounding, with the same gradients, and
    /// about 2× faster forward and backward at 32 px. `None` for any other
    /// conv.
    fn tiny_map(&self, x: &Tensor, weight: &Tensor) -> Option<Tensor> {
        let &[n, c, h, w] = x.size().as_slice() else {
            return None;
        };
        if self.groups != 1 || h * w > 4 {
            return None;
        }
        let (out, k) = (weight.size()[0], weight.size()[2]);
        let (oh, ow) = (self.output_len(h, k), self.output_len(w, k));
        let (pixels_out, pixels_in) = (oh * ow, h * w);
        let (stride, padding) = (self.stride, self.padding);
        let map = self.derived.get(weight, [1, h, w], || {
            let tap = |o: i64, i: i64| i - o * stride + padding;
            let mut blocks = Vec::with_capacity((oh * ow * h * w) as usize);
            for (oy, ox) in (0..oh).flat_map(|oy| (0..ow).map(move |ox| (oy, ox))) {
                for (iy, ix) in (0..h).flat_map(|iy| (0..w).map(move |ix| (iy, ix))) {
                    let (ky, kx) = (tap(oy, iy), tap(ox, ix));
                    let inside = (0..k).contains(&ky) && (0..k).contains(&kx);
                    blocks.push(if inside { ky * k + kx } else { k * k });
                }
            }
            let taps = Tensor::cat(
                &[
                    weight.permute([2, 3, 0, 1]).reshape([k * k, out, c]),
                    Tensor::zeros([1, out, c], (weight.kind(), weight.device())),
                ],
                0,
            );
            taps.index_select(0, &Tensor::from_slice(&blocks))
                .reshape([pixels_out, pixels_in, out, c])
                .permute([0, 2, 1, 3])
                .reshape([pixels_out * out, pixels_in * c])
        });
        let x = x.permute([0, 2, 3, 1]).reshape([n, pixels_in * c]);
        let y = x.linear(&map, None::<Tensor>).reshape([n, oh, ow, out]);
        Some(y.permute([0, 3, 1, 2]).contiguous())
    }

    /// What [`Self::forward`] gives the 3-channel ImageNet-normalised image
    /// `(x − mean_c) / std_c` of a gray `x` (the evaluation transform), from
    /// `x` itself. A frozen conv folds the channels into one kernel
    /// `Σ_c W_c / std_c`, and the mean into `Σ_c W_c · mean_c / std_c`
    /// convolved with the image's own extent (ones inside, the zero padding
    /// outside: the border term depends on the position), subtracted: equal up
    /// to float rounding, a third of the multiply-adds, no 3-channel copy of
    /// the batch. A conv that trains makes the 3-channel image and convolves
    /// it: measured (README, "Cheaper tensors"), libtorch's 1-channel conv and
    /// its weight gradient are no faster than the 3-channel ones, and the
    /// fold's own backward costs more than the copy it saves.
    pub fn forward_gray(&self, x: &Tensor) -> Tensor {
        if self.weight.requires_grad() {
            return self.conv(&normalize3(x), &self.weight);
        }
        let std = Tensor::from_slice(&STD).reshape([1, 3, 1, 1]);
        let mean = Tensor::from_slice(&MEAN).reshape([1, 3, 1, 1]);
        tch::no_grad(|| {
            let scaled = self
                .weight
                .divide(&std)
                .sum_dim_intlist(1, true, Kind::Float);
            let shifted = (&self.weight * (mean / &std)).sum_dim_intlist(1, true, Kind::Float);
            let size = x.size();
            let extent = Tensor::ones([1, 1, size[2], size[3]], CPU_F32);
            self.conv(x, &scaled) - self.conv(&extent, &shifted)
        })
    }
}

/// BatchNorm2d with torchvision's defaults (momentum 0.1, eps 1e-5).
pub struct BatchNorm2d {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    /// torch's `num_batches_tracked` (kept for a faithful state dict).
    pub num_batches_tracked: Cell<i64>,
}

impl BatchNorm2d {
    /// torch's initial state: weight 1, bias 0, mean 0, var 1, no batches.
    pub fn new(channels: i64) -> Self {
        Self {
            weight: Tensor::ones([channels], CPU_F32),
            bias: Tensor::zeros([channels], CPU_F32),
            running_mean: Tensor::zeros([channels], CPU_F32),
            running_var: Tensor::ones([channels], CPU_F32),
            num_batches_tracked: Cell::new(0),
        }
    }

    /// `update_stats`: train mode (batch statistics, running stats updated in
    /// place); otherwise eval mode (running statistics). Train mode of a
    /// frozen BatchNorm fed an input that needs no gradient goes through
    /// [`batch_norm::frozen_train`] (libtorch's numbers, faster statistics).
    pub fn forward(&self, x: &Tensor, update_stats: bool) -> Tensor {
        if update_stats {
            self.num_batches_tracked
                .set(self.num_batches_tracked.get() + 1);
            if let Some(y) = batch_norm::frozen_train(
                x,
                &self.weight,
                &self.bias,
                &self.running_mean,
                &self.running_var,
                BN_MOMENTUM,
                BN_EPS,
            ) {
                return y;
            }
        }
        x.batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            update_stats,
            BN_MOMENTUM,
            BN_EPS,
            false,
        )
    }
}

/// The classifier head.
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    /// A head of `features` inputs initialised like torch's `nn.Linear`:
    /// weight and bias uniform in ±1/√fan_in, drawn from the seed's head-init
    /// stream.
    pub fn fresh(classes: i64, features: i64, seed: u64) -> Self {
        let mut rng = stream(seed, Stream::HeadInit);
        let bound = 1.0 / (features as f32).sqrt();
        let mut draw =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
        let w = draw((classes * features) as usize);
        let b = draw(classes as usize);
        Self {
            weight: Tensor::from_slice(&w).reshape([classes, features]),
            bias: Tensor::from_slice(&b),
        }
    }

    /// A head of `classes` outputs, all zeros (to be overwritten).
    pub fn zeros(classes: i64, features: i64) -> Self {
        Self {
            weight: Tensor::zeros([classes, features], CPU_F32),
            bias: Tensor::zeros([classes], CPU_F32),
        }
    }

    /// Global average pool, flatten, dropout (`keep`: each feature's kept
    /// and rescaled share, from [`dropout_mask`]), linear.
    pub fn forward(&self, features: &Tensor, keep: Option<&Tensor>) -> Tensor {
        let pooled = features.adaptive_avg_pool2d([1, 1]).flatten(1, -1);
        let h = match keep {
            Some(keep) => &pooled * keep,
            None => pooled,
        };
        h.linear(&self.weight, Some(&self.bias))
    }
}

/// A dropout mask of `[rows, cols]` with drop probability `p`: 0 where
/// dropped, 1/(1-p) where kept (torch's inverted dropout), drawn from
/// `rng` (the trial's own stream, never libtorch's process-wide generator,
/// so trials sharing a process or a snapshot draw exactly what they draw
/// alone).
pub fn dropout_mask(rng: &mut impl Rng, rows: i64, cols: i64, p: f64) -> Tensor {
    let scale = (1.0 / (1.0 - p)) as f32;
    let values: Vec<f32> = (0..rows * cols)
        .map(|_| if rng.random::<f64>() < p { 0.0 } else { scale })
        .collect();
    Tensor::from_slice(&values).reshape([rows, cols])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's 3-channel input of a gray `[N, 1, H, W]` unit batch.
    fn normalized3(x: &Tensor) -> Tensor {
        let mean = Tensor::from_slice(&MEAN).reshape([1, 3, 1, 1]);
        let std = Tensor::from_slice(&STD).reshape([1, 3, 1, 1]);
        (x.repeat([1, 3, 1, 1]) - mean) / std
    }

    /// The largest |folded − 3-channel| of `conv` on gray images of `side` px,
    /// relative to the output's scale.
    fn fold_error(conv: &Conv2d, side: i64) -> f64 {
        let x = Tensor::rand([3, 1, side, side], CPU_F32);
        let folded = conv.forward(&x);
        let plain = conv.forward(&normalized3(&x));
        assert_eq!(folded.size(), plain.size());
        let scale = plain.abs().max().double_value(&[]).max(1.0);
        (folded - plain).abs().max().double_value(&[]) / scale
    }

    #[test]
    fn the_folded_first_conv_equals_the_three_channel_one() {
        tch::manual_seed(11);
        // ResNet18's conv1 (7×7, stride 2, padding 3) and MobileNetV2's
        // features.0 (3×3, stride 2, padding 1), at MNIST's own size, the
        // stand-ins' and the seed's: every border position is checked.
        for (k, side) in [(7, 28), (7, 32), (7, 224), (3, 28), (3, 32), (3, 224)] {
            let conv = Conv2d::new(3, 16, k, 2, Init::Kaiming);
            let err = fold_error(&conv, side);
            assert!(err < 1e-5, "{k}×{k} at {side} px: relative error {err}");
        }
    }

    #[test]
    fn a_trainable_first_conv_convolves_the_three_channel_image() {
        tch::manual_seed(12);
        let conv = Conv2d::new(3, 8, 7, 2, Init::Kaiming);
        let _ = conv.weight.set_requires_grad(true);
        let x = Tensor::rand([2, 1, 32, 32], CPU_F32);
        let target = Tensor::randn([2, 8, 16, 16], CPU_F32);
        let grad = |input: &Tensor| {
            let loss = (conv.forward(input) * &target).sum(Kind::Float);
            Tensor::run_backward(&[loss], &[&conv.weight], false, false).remove(0)
        };
        let plain = grad(&normalized3(&x));
        let gray = grad(&x);
        let scale = plain.abs().max().double_value(&[]);
        let err = (gray - &plain).abs().max().double_value(&[]) / scale;
        assert!(scale > 0.0 && err < 1e-6, "relative gradient error {err}");
    }

    #[test]
    fn convs_of_small_maps_equal_libtorchs_forward_and_backward() {
        tch::manual_seed(14);
        // (in, out, kernel, stride, side): layer4's first conv, its
        // downsample and its 1 × 1 convs at 32 px, a 3 × 3 and a 4 × 4 map
        // whose one-pixel output sees only part of it (one pixel), layer3's
        // 2 × 2 convs at 32 px and a 1 × 1 kernel on a 2 × 2 map (tiny
        // maps).
        for (cin, cout, k, stride, side) in [
            (16, 32, 3, 2, 2),
            (16, 32, 1, 2, 2),
            (32, 32, 3, 1, 1),
            (8, 8, 3, 3, 3),
            (8, 8, 3, 4, 4),
            (16, 16, 3, 1, 2),
            (16, 8, 1, 1, 2),
        ] {
            let conv = Conv2d::new(cin, cout, k, stride, Init::Kaiming);
            let _ = conv.weight.set_requires_grad(true);
            let x = Tensor::randn([5, cin, side, side], CPU_F32).set_requires_grad(true);
            let pad = k / 2;
            let plain = x.conv2d(
                &conv.weight,
                None::<Tensor>,
                [stride, stride],
                [pad, pad],
                [1, 1],
                1,
            );
            let fast = conv.forward(&x);
            assert_eq!(fast.size(), plain.size(), "{k}×{k} /{stride} at {side} px");
            let target = Tensor::randn(plain.size(), CPU_F32);
            let grads = |y: &Tensor| {
                let loss = (y * &target).sum(Kind::Float);
                Tensor::run_backward(&[loss], &[&conv.weight, &x], false, false)
            };
            let (want, got) = (grads(&plain), grads(&fast));
            for (name, a, b) in [
                ("output", &plain, &fast),
                ("weight gradient", &want[0], &got[0]),
                ("input gradient", &want[1], &got[1]),
            ] {
                let scale = a.abs().max().double_value(&[]).max(1e-3);
                let err = (b - a).abs().max().double_value(&[]) / scale;
                assert!(
                    err < 1e-5,
                    "{k}×{k} /{stride} at {side} px, {name}: relative error {err}"
                );
            }
            // The taps that meet only padding get exactly no gradient.
            let untouched = want[0].eq(0.0).logical_and(&got[0].ne(0.0));
            assert_eq!(untouched.sum(Kind::Int64).int64_value(&[]), 0);
        }
    }

    #[test]
    fn a_frozen_small_map_conv_reuses_its_matrix_until_the_weight_changes() {
        tch::manual_seed(15);
        // layer4's first conv (one pixel) and layer3's 2 × 2 conv (tiny map).
        for (cin, cout, k, stride, side) in [(16, 32, 3, 2, 2), (16, 16, 3, 1, 2)] {
            let conv = Conv2d::new(cin, cout, k, stride, Init::Kaiming);
            let x = Tensor::randn([5, cin, side, side], CPU_F32);
            let rebuilt = |w: &Tensor| conv.conv(&x, &w.copy());
            let first = conv.forward(&x);
            let again = conv.forward(&x);
            assert!(first.equal(&again) && first.equal(&rebuilt(&conv.weight)));
            // A snapshot copied into the weight: the next forward sees it.
            tch::no_grad(|| {
                let _ = conv.weight.shallow_clone().g_mul_scalar_(-0.5);
            });
            let after = conv.forward(&x);
            assert!(after.equal(&rebuilt(&conv.weight)), "{k}×{k} /{stride}");
            assert!(!after.equal(&first));
        }
    }

    #[test]
    fn three_channel_inputs_take_the_plain_conv() {
        tch::manual_seed(13);
        let conv = Conv2d::new(3, 4, 3, 1, Init::Kaiming);
        let x = Tensor::randn([1, 3, 8, 8], CPU_F32);
        let plain = x.conv2d(&conv.weight, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1);
        assert!(conv.forward(&x).equal(&plain));
    }
}
