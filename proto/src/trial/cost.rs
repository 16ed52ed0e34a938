//! A trial's expected cost, relative to other trials: enough to order a
//! sweep's trials longest first (a grid whose early stopping judges passed
//! rungs again leases its dearest trials first, so its last leases are
//! cheap ones and no worker idles while another finishes a long trial).
//! Not a time estimate: only ratios between trials of one sweep mean
//! anything.
//!
//! An epoch pushes every training image forward through the whole network
//! and backward from the output down to the first stage the phase trains
//! (its input gradients), weighing about twice the forward there; every
//! backbone stage weighs the same (ResNet18's stages hold about equal
//! multiply-adds, MobileNetV2's blocks roughly so). Validation adds one
//! forward of the validation split. Pixels scale all of it.

use super::config::{PhaseConfig, TrialConfig};

impl TrialConfig {
    /// The trial's expected cost in forward passes of one pixel through the
    /// whole network (see the module doc).
    pub fn relative_cost(&self) -> f64 {
        let pixels = f64::from(self.input_size) * f64::from(self.input_size);
        let phase = |p: &PhaseConfig| {
            let stages = self.model.stages();
            let trained = p.unfrozen_stages(self.model);
            // The share of the backbone the backward pass runs through.
            let reach = match trained.first() {
                Some(first) => {
                    let from = stages.iter().position(|s| s == first).unwrap_or(0);
                    (stages.len() - from) as f64 / stages.len() as f64
                }
                None => 0.0,
            };
            let train = f64::from(self.data.train) * (1.0 + 2.0 * reach);
            f64::from(p.epochs) * (train + f64::from(self.data.val))
        };
        pixels * (phase(&self.phase1) + phase(&self.phase2))
    }
}

#[cfg(test)]
mod tests {
    use crate::trial::parse_trial_yaml;

    fn cost(yaml: &str) -> f64 {
        parse_trial_yaml(yaml).unwrap().relative_cost()
    }

    #[test]
    fn deeper_unfreezing_more_epochs_and_pixels_cost_more() {
        let layer4 = cost("phase2: {unfreeze: [layer4]}");
        let layer34 = cost("phase2: {unfreeze: [layer3, layer4]}");
        let all = cost("phase2: {unfreeze: [all]}");
        let stem = cost("phase2: {unfreeze: [stem]}");
        assert!(
            layer4 < layer34 && layer34 < all,
            "{layer4} {layer34} {all}"
        );
        // The backward pass reaches the stem either way.
        assert_eq!(stem, all);
        assert!(cost("phase2: {unfreeze: [layer4], epochs: 9}") > layer4);
        assert!(
            cost("input_size: 64\nphase2: {unfreeze: [layer4]}")
                > cost("input_size: 32\nphase2: {unfreeze: [layer4]}")
        );
        assert!(cost("data: {train: 20000}\nphase2: {unfreeze: [layer4]}") > layer4);
        // MobileNetV2's blocks order the same way.
        let late = cost("model: mobilenet_v2\nphase2: {unfreeze: [features.18]}");
        let early = cost("model: mobilenet_v2\nphase2: {unfreeze: [features.3]}");
        assert!(late < early);
    }
}
