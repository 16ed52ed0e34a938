//! Classification metrics: accuracy, mean cross-entropy, expected calibration
//! error (15 equal-width confidence bins), per-class accuracy and the
//! confusion matrix; and the evaluation pass that produces them (keeping the
//! logits for temperature scaling).

use super::calibration::Logits;
use super::net::Net;
use super::transform::EvalImages;
use sweep_proto::trial::{ReliabilityBin, SplitMetrics};
use tch::{Kind, Reduction, Tensor};

/// Confidence bins of the ECE.
pub const ECE_BINS: usize = 15;

/// Predictions gathered over a split.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Predictions {
    pub labels: Vec<i64>,
    pub predicted: Vec<i64>,
    /// Softmax probability of the predicted class.
    pub confidence: Vec<f64>,
    pub loss_sum: f64,
    /// The logits, row-major `[n, classes]` (temperature scaling fits on them).
    pub logits: Vec<f32>,
}

impl Predictions {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn accuracy(&self) -> f64 {
        let right = self
            .labels
            .iter()
            .zip(&self.predicted)
            .filter(|(a, b)| a == b)
            .count();
        right as f64 / self.len().max(1) as f64
    }

    /// Mean cross-entropy (no label smoothing).
    pub fn loss(&self) -> f64 {
        self.loss_sum / self.len().max(1) as f64
    }

    pub fn ece(&self) -> f64 {
        expected_calibration_error(&self.confidence, &self.correct(), ECE_BINS)
    }

    /// The reliability diagram behind [`Predictions::ece`] (its non-empty bins).
    pub fn reliability(&self) -> Vec<ReliabilityBin> {
        reliability_bins(&self.confidence, &self.correct(), ECE_BINS)
    }

    fn correct(&self) -> Vec<bool> {
        self.labels
            .iter()
            .zip(&self.predicted)
            .map(|(a, b)| a == b)
            .collect()
    }

    /// `confusion[true][predicted]` over `classes` classes.
    pub fn confusion(&self, classes: usize) -> Vec<Vec<u64>> {
        let mut m = vec![vec![0u64; classes]; classes];
        for (&t, &p) in self.labels.iter().zip(&self.predicted) {
            m[t as usize][p as usize] += 1;
        }
        m
    }

    /// Every measure of the split, as a result reports it.
    pub fn split_metrics(&self, classes: usize) -> SplitMetrics {
        SplitMetrics {
            acc: self.accuracy(),
            loss: self.loss(),
            ece: self.ece(),
            per_class_acc: self.per_class_accuracy(classes),
            confusion: self.confusion(classes),
            reliability: self.reliability(),
        }
    }

    /// The logits with their labels, for [`super::calibration`].
    pub fn logits(&self, classes: usize) -> Logits<'_> {
        Logits {
            values: &self.logits,
            labels: &self.labels,
            classes,
        }
    }

    /// Accuracy of each true class (0 for a class with no images).
    pub fn per_class_accuracy(&self, classes: usize) -> Vec<f64> {
        self.confusion(classes)
            .iter()
            .enumerate()
            .map(|(c, row)| {
                let n: u64 = row.iter().sum();
                if n == 0 {
                    0.0
                } else {
                    row[c] as f64 / n as f64
                }
            })
            .collect()
    }
}

/// ECE: Σ over bins (0,1/B], (1/B,2/B], … of |bin|/n · |accuracy − mean confidence|.
pub fn expected_calibration_error(confidence: &[f64], correct: &[bool], bins: usize) -> f64 {
    let n = confidence.len();
    if n == 0 {
        return 0.0;
    }
    reliability_bins(confidence, correct, bins)
        .iter()
        .map(|b| (b.count as f64 / n as f64) * (b.accuracy - b.confidence).abs())
        .sum()
}

/// The non-empty bins (0,1/B], (1/B,2/B], … of the predictions' confidence,
/// each with its count, mean confidence and accuracy (confidence 0 goes to
/// the first bin).
pub fn reliability_bins(confidence: &[f64], correct: &[bool], bins: usize) -> Vec<ReliabilityBin> {
    let mut count = vec![0usize; bins];
    let mut conf_sum = vec![0.0; bins];
    let mut right = vec![0usize; bins];
    for (&c, &ok) in confidence.iter().zip(correct) {
        let b = ((c * bins as f64).ceil() as usize).clamp(1, bins) - 1;
        count[b] += 1;
        conf_sum[b] += c;
        right[b] += ok as usize;
    }
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| {
            let k = count[b] as f64;
            ReliabilityBin {
                lower: b as f64 / bins as f64,
                upper: (b + 1) as f64 / bins as f64,
                count: count[b] as u64,
                confidence: conf_sum[b] / k,
                accuracy: right[b] as f64 / k,
            }
        })
        .collect()
}

/// Runs `model` in eval mode over kept `inputs` / `labels` in batches.
pub fn evaluate(model: &Net, images: &EvalImages, labels: &Tensor, batch: usize) -> Predictions {
    evaluate_with(labels, batch, |start, len| {
        model.forward_eval(&images.inputs(start, len))
    })
}

/// [`evaluate`] with the logits of each batch (`start`, `len`, in steps of
/// `batch` over `labels`) from `logits_of`.
pub fn evaluate_with(
    labels: &Tensor,
    batch: usize,
    mut logits_of: impl FnMut(i64, i64) -> Tensor,
) -> Predictions {
    let n = labels.size()[0];
    let mut out = Predictions::default();
    tch::no_grad(|| {
        let mut start = 0;
        while start < n {
            let len = (batch as i64).min(n - start);
            let y = labels.narrow(0, start, len);
            let logits = logits_of(start, len);
            out.loss_sum += logits
                .cross_entropy_loss(&y, None::<Tensor>, Reduction::Sum, -100, 0.0)
                .double_value(&[]);
            let (conf, pred) = logits.softmax(-1, Kind::Float).max_dim(1, false);
            out.confidence.extend(
                Vec::<f32>::try_from(&conf)
                    .unwrap()
                    .into_iter()
                    .map(f64::from),
            );
            out.predicted.extend(Vec::<i64>::try_from(&pred).unwrap());
            out.labels.extend(Vec::<i64>::try_from(&y).unwrap());
            out.logits
                .extend(Vec::<f32>::try_from(logits.flatten(0, -1)).unwrap());
            start += len;
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ece_of_a_calibrated_and_an_overconfident_model() {
        // 10 predictions at 0.8 confidence, 8 right: calibrated.
        let conf = vec![0.8; 10];
        let ok: Vec<bool> = (0..10).map(|i| i < 8).collect();
        assert!(expected_calibration_error(&conf, &ok, 15) < 1e-12);
        // Always 1.0 confident, half right: ECE 0.5.
        let conf = vec![1.0; 4];
        let ok = vec![true, false, true, false];
        assert!((expected_calibration_error(&conf, &ok, 15) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn reliability_bins_hold_what_the_ece_sums() {
        // 0.09375 (right), 0.125 (wrong) share bin (1/15, 2/15]; 0.95 twice, one right; 0 goes to the first bin.
        let conf = [0.09375, 0.125, 0.95, 0.95, 0.0];
        let ok = [true, false, true, false, false];
        let bins = reliability_bins(&conf, &ok, 15);
        let summary: Vec<(u64, f64, f64)> = bins
            .iter()
            .map(|b| (b.count, b.confidence, b.accuracy))
            .collect();
        assert_eq!(summary, [(1, 0.0, 0.0), (2, 0.109375, 0.5), (2, 0.95, 0.5)]);
        assert_eq!((bins[1].lower, bins[1].upper), (1.0 / 15.0, 2.0 / 15.0));
        assert_eq!((bins[2].lower, bins[2].upper), (14.0 / 15.0, 1.0));
        let ece: f64 = bins
            .iter()
            .map(|b| b.count as f64 / 5.0 * (b.accuracy - b.confidence).abs())
            .sum();
        assert_eq!(ece, expected_calibration_error(&conf, &ok, 15));
    }

    #[test]
    fn confusion_and_per_class() {
        let p = Predictions {
            labels: vec![0, 0, 1, 1],
            predicted: vec![0, 1, 1, 1],
            confidence: vec![0.9; 4],
            loss_sum: 2.0,
            logits: Vec::new(),
        };
        assert_eq!(p.confusion(2), vec![vec![1, 1], vec![0, 2]]);
        assert_eq!(p.per_class_accuracy(2), vec![0.5, 1.0]);
        assert_eq!(p.accuracy(), 0.75);
        assert_eq!(p.loss(), 0.5);
    }
}
