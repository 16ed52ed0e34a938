//! Temperature scaling (Guo et al., ICML 2017, "On calibration of modern
//! neural networks"): one scalar T > 0 divides every logit; it is fitted on
//! the validation split's logits (of the kept, best-val weights) by
//! minimising their mean negative log-likelihood, and applied to test. T
//! changes no prediction (argmax is scale-invariant), only the confidence,
//! so accuracy stays and the ECE / NLL show what calibration gained.
//!
//! The NLL of softmax(z / T) is convex in β = 1/T (−β·z_y + logsumexp(β·z)
//! is a log-sum-exp of linear functions of β), so a golden-section search
//! over β finds its minimum; the search is over [`BETA_RANGE`] in log space
//! (T from 0.01 to 100), deterministic and in plain f64.

/// Smallest and largest β = 1/T searched.
const BETA_RANGE: (f64, f64) = (0.01, 100.0);
/// Golden-section steps: each keeps 0.618 of the interval, so 80 of them
/// narrow the log-β interval of width ln(10⁴) ≈ 9.2 to below 1e-15.
const STEPS: usize = 80;

/// Logits of a split, row-major `[n, classes]`, with their labels.
#[derive(Debug, Clone, Copy)]
pub struct Logits<'a> {
    pub values: &'a [f32],
    pub labels: &'a [i64],
    pub classes: usize,
}

impl Logits<'_> {
    fn rows(&self) -> impl Iterator<Item = (&[f32], usize)> {
        self.values
            .chunks_exact(self.classes)
            .zip(self.labels.iter().map(|&l| l as usize))
    }

    /// Mean negative log-likelihood of softmax(β · z).
    pub fn nll(&self, beta: f64) -> f64 {
        let mut sum = 0.0;
        let mut n = 0usize;
        for (row, label) in self.rows() {
            let max = row
                .iter()
                .fold(f64::NEG_INFINITY, |m, &v| m.max(beta * v as f64));
            let lse = max
                + row
                    .iter()
                    .map(|&v| (beta * v as f64 - max).exp())
                    .sum::<f64>()
                    .ln();
            sum += lse - beta * row[label] as f64;
            n += 1;
        }
        sum / n.max(1) as f64
    }

    /// Top-class probability of softmax(β · z) for every row.
    pub fn confidence(&self, beta: f64) -> Vec<f64> {
        self.rows()
            .map(|(row, _)| {
                let max = row
                    .iter()
                    .fold(f64::NEG_INFINITY, |m, &v| m.max(beta * v as f64));
                // The top class has exp(0) = 1 in the numerator.
                1.0 / row
                    .iter()
                    .map(|&v| (beta * v as f64 - max).exp())
                    .sum::<f64>()
            })
            .collect()
    }

    /// Whether each row's argmax (the first of equal maxima) is its label.
    pub fn correct(&self) -> Vec<bool> {
        self.rows()
            .map(|(row, label)| {
                let arg = row
                    .iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                        if v > bv {
                            (i, v)
                        } else {
                            (bi, bv)
                        }
                    })
                    .0;
                arg == label
            })
            .collect()
    }
}

/// The temperature T minimising `val`'s mean NLL of softmax(z / T); 1 for an
/// empty split.
pub fn fit_temperature(val: &Logits<'_>) -> f64 {
    if val.labels.is_empty() {
        return 1.0;
    }
    let f = |log_beta: f64| val.nll(log_beta.exp());
    let inv_phi = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (BETA_RANGE.0.ln(), BETA_RANGE.1.ln());
    let mut c = b - inv_phi * (b - a);
    let mut d = a + inv_phi * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..STEPS {
        if fc <= fd {
            b = d;
            d = c;
            fd = fc;
            c = b - inv_phi * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + inv_phi * (b - a);
            fd = f(d);
        }
    }
    1.0 / ((a + b) / 2.0).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes, logits (s, 0) for label 0 in 3 of 4 rows and label 1 in
    /// the fourth: the NLL-optimal confidence is 3/4, so softmax(s/T) at the
    /// top class must be 3/4, i.e. s/T = ln 3.
    #[test]
    fn fits_the_temperature_that_makes_confidence_match_accuracy() {
        let s = 6.0f32;
        let values = [s, 0.0, s, 0.0, s, 0.0, s, 0.0];
        let labels = [0, 0, 0, 1];
        let logits = Logits {
            values: &values,
            labels: &labels,
            classes: 2,
        };
        let t = fit_temperature(&logits);
        assert!((t - s as f64 / 3f64.ln()).abs() < 1e-6, "T = {t}");
        let conf = logits.confidence(1.0 / t);
        assert!(conf.iter().all(|c| (c - 0.75).abs() < 1e-6), "{conf:?}");
        // The fitted T is better than no scaling and than its neighbours.
        let at = |t: f64| logits.nll(1.0 / t);
        assert!(at(t) < at(1.0));
        assert!(at(t) < at(t * 1.01) && at(t) < at(t * 0.99));
        assert_eq!(logits.correct(), [true, true, true, false]);
    }

    #[test]
    fn an_underconfident_model_gets_a_temperature_below_one() {
        // Always right with logit margin 0.5: sharpening (T < 1) lowers the NLL.
        let values = [0.5f32, 0.0, 0.0, 0.5];
        let labels = [0, 1];
        let logits = Logits {
            values: &values,
            labels: &labels,
            classes: 2,
        };
        let t = fit_temperature(&logits);
        assert!(t < 0.02, "T = {t}"); // the search's lower end: always right
        assert!(logits.nll(1.0 / t) < logits.nll(1.0));
    }
}
