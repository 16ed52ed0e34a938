//! Grad-CAM (Selvaraju et al., ICCV 2017) on the last convolutional stage:
//! for a class c, the weights α_k = mean over positions of ∂y_c/∂A_k (the
//! gradient of the class logit with respect to feature map k), and the map
//! ReLU(Σ_k α_k A_k), upsampled to the input size and scaled to [0, 1] per
//! image. It shows where the features that raise class c's score are.
//!
//! [`grad_cam`] is the method on any (features → logits) function;
//! [`Net::grad_cam`] applies it to the last stage of the network in eval mode
//! (or the deepest with more than one position, [`grad_cam_stage`]).

use super::net::Net;
use sweep_proto::trial::Stage;
use tch::{Kind, Tensor};

/// Heat-maps `[B, size, size]` in [0, 1] of `head`'s logit for `classes[i]`
/// over the feature maps `features` (`[B, K, h, w]`, no graph needed): the
/// features are made a leaf that requires grad, `head` maps them to
/// `[B, classes]` logits, and the sum of each image's chosen logit is
/// differentiated once (images do not interact in eval mode). An image whose
/// map is flat (no feature raises the class, or the features are 1 × 1)
/// stays zero.
pub fn grad_cam(
    features: &Tensor,
    head: impl Fn(&Tensor) -> Tensor,
    classes: &[i64],
    size: i64,
) -> Tensor {
    let b = features.size()[0];
    assert_eq!(b as usize, classes.len(), "one class per image");
    let a = features.detach().set_requires_grad(true);
    let logits = head(&a);
    let picked = logits
        .gather(1, &Tensor::from_slice(classes).reshape([b, 1]), false)
        .sum(Kind::Float);
    let grads = Tensor::run_backward(&[picked], &[&a], false, false);
    tch::no_grad(|| {
        let alpha = grads[0].mean_dim(&[2i64, 3][..], true, Kind::Float);
        let cam = (alpha * a.detach())
            .sum_dim_intlist(&[1i64][..], true, Kind::Float)
            .relu();
        let cam = cam.upsample_bilinear2d([size, size], false, None, None);
        let flat = cam.reshape([b, -1]);
        let min = flat.min_dim(1, true).0;
        let max = flat.max_dim(1, true).0;
        let spread = &max - &min;
        let scaled = (flat - &min) / spread.clamp_min(1e-12);
        // A flat map (all zero, or one position: at 32 px the last block is
        // 1 × 1) carries no place; it stays zero rather than becoming the
        // upsampling's rounding noise stretched to [0, 1].
        let flat_map = spread.le_tensor(&(max.abs() * 1e-4 + 1e-12));
        scaled
            .masked_fill(&flat_map.expand_as(&scaled), 0.0)
            .reshape([b, size, size])
    })
}

impl Net {
    /// Grad-CAM maps of `x` (network inputs) for `classes` (e.g.
    /// the predicted ones), at the input's size, on the stage
    /// [`grad_cam_stage`] picks; returns that stage too.
    pub fn grad_cam(&self, x: &Tensor, classes: &[i64]) -> (Stage, Tensor) {
        let outputs = self.stage_outputs(x);
        let (stage, features) = grad_cam_stage(&outputs);
        let maps = grad_cam(
            features,
            |a| self.logits_after(stage, a),
            classes,
            x.size()[2],
        );
        (stage, maps)
    }
}

/// The last stage (`layer4`, `features.18`), or, where its maps are a single
/// position (inputs under 64 px: at 32 px both networks end at 1 × 1, which
/// has no place to show), the deepest stage whose maps are larger.
pub fn grad_cam_stage(outputs: &[(Stage, Tensor)]) -> (Stage, &Tensor) {
    let spatial = |t: &Tensor| t.size()[2] * t.size()[3] > 1;
    let (stage, t) = outputs
        .iter()
        .rev()
        .find(|(_, t)| spatial(t))
        .unwrap_or_else(|| outputs.last().expect("a network has stages"));
    (*stage, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A known case: features are the image itself (one channel), the head
    /// averages them and weights the average +1 for class 1, −1 for class 0.
    /// Class 1's logit grows with the bright square's pixels only, so its map
    /// must be the square; class 0's logit falls with them, so its map is
    /// empty.
    #[test]
    fn lights_up_the_region_the_logit_depends_on() {
        let img = Tensor::zeros([1, 1, 8, 8], (Kind::Float, tch::Device::Cpu));
        let _ = img.narrow(2, 1, 3).narrow(3, 4, 3).fill_(1.0);
        let w = Tensor::from_slice(&[-1.0f32, 1.0]).reshape([2, 1]);
        let head = |a: &Tensor| a.adaptive_avg_pool2d([1, 1]).flatten(1, -1).matmul(&w.tr());
        let cam = grad_cam(&img, head, &[1], 8);
        let diff = (&cam - img.reshape([1, 8, 8]))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-6, "class 1's map is not the square: {diff}");
        let cam0 = grad_cam(&img, head, &[0], 8);
        assert_eq!(cam0.abs().max().double_value(&[]), 0.0);
    }

    /// At 32 px the last block's maps are 1 × 1: the map has no place, and
    /// it must come out zero, not as upsampling noise scaled up to 1.
    #[test]
    fn a_one_position_map_stays_zero() {
        let features = Tensor::from_slice(&[0.7f32, 1.3, 0.2]).reshape([1, 3, 1, 1]);
        let w = Tensor::from_slice(&[1.0f32, 2.0, -1.0, 0.5, 0.5, 0.5]).reshape([2, 3]);
        let head = |a: &Tensor| a.flatten(1, -1).matmul(&w.tr());
        let cam = grad_cam(&features, head, &[0], 32);
        assert_eq!(cam.size(), vec![1, 32, 32]);
        assert_eq!(cam.abs().max().double_value(&[]), 0.0);
    }
}
