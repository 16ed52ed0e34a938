//! Grad-CAM (Selvaraju et al., ICCV 2017) on the last convolutional stage:
//! for a class c, the weights α_k = mean over positions of ∂y_c/∂A_k (the
//! gradient of the class logit with respect to feature map k), and the map
//! ReLU(Σ_k α_k A_k), upsampled to the input size and scaled to [0, 1] per
//! image. It shows where the features that raise class c's score are.
//!
//! [`grad_cam`] is the method on any (features → logits) function;
//! [`Net::grad_cam`] applies it to the last stage of the network in eval mode.

use super::net::Net;
use tch::{Kind, Tensor};

/// Heat-maps `[B, size, size]` in [0, 1] of `head`'s logit for `classes[i]`
/// over the feature maps `features` (`[B, K, h, w]`, no graph needed): the
/// features are made a leaf that requires grad, `head` maps them to
/// `[B, classes]` logits, and the sum of each image's chosen logit is
/// differentiated once (images do not interact in eval mode). An image whose
/// map is zero everywhere (no feature raises the class) stays zero.
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
        let range = (&max - &min).clamp_min(1e-12);
        let scaled = (flat - &min) / range;
        // A map that is flat (all zero) stays zero rather than becoming noise.
        let flat_map = max.le(1e-12);
        scaled
            .masked_fill(&flat_map.expand_as(&scaled), 0.0)
            .reshape([b, size, size])
    })
}

impl Net {
    /// Grad-CAM maps of `x` (normalised network inputs) on the last stage
    /// (`layer4`, `features.18`) for `classes` (e.g. the predicted ones), at
    /// the input's size.
    pub fn grad_cam(&self, x: &Tensor, classes: &[i64]) -> Tensor {
        let features = self.last_features(x);
        grad_cam(
            &features,
            |a| self.head_forward(a, false),
            classes,
            x.size()[2],
        )
    }
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
}
