//! One parameter's Parzen estimator, as in Optuna's `TPESampler` (univariate,
//! `consider_prior`, `prior_weight` 1, `consider_magic_clip`, no endpoints):
//! a mixture with one component per observation plus a prior component.
//!
//! - Numeric (in the sampler's transformed space: `ln` for `log_uniform`,
//!   `[a - ½, b + ½]` for `int_uniform`): truncated normals on `[low, high]`;
//!   each observation's bandwidth is the larger gap to its neighbours (the
//!   domain's ends count as neighbours, except for the outermost points,
//!   which take their inner gap); the prior sits at the middle with the
//!   domain's width; bandwidths clipped to `[width / min(100, 1 + n), width]`.
//!   An integer's probability is the mass of `[x - ½, x + ½]`.
//! - Categorical: each observation puts weight 1 on its choice plus
//!   `prior_weight / (n + 1)` on every choice; the prior is that alone.

use super::normal;
use rand::Rng;

/// A fitted estimator.
#[derive(Debug, Clone)]
pub struct Parzen {
    /// Mixture weights (summing to 1), the prior last.
    weights: Vec<f64>,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Numeric {
        mus: Vec<f64>,
        sigmas: Vec<f64>,
        low: f64,
        high: f64,
        /// Values are integers: probabilities are masses of unit cells.
        integer: bool,
    },
    Categorical {
        /// One distribution over the choices per component.
        probs: Vec<Vec<f64>>,
    },
}

const PRIOR_WEIGHT: f64 = 1.0;

/// Observation weights plus the prior's, normalised.
fn mixture_weights(obs_weights: &[f64]) -> Vec<f64> {
    let mut w: Vec<f64> = obs_weights.to_vec();
    w.push(PRIOR_WEIGHT);
    let sum: f64 = w.iter().sum();
    w.iter().map(|x| x / sum).collect()
}

impl Parzen {
    /// A numeric estimator on `[low, high]` (transformed space; for
    /// integers, the cells' outer edges) from observations `xs`.
    pub fn numeric(xs: &[f64], obs_weights: &[f64], low: f64, high: f64, integer: bool) -> Self {
        let width = high - low;
        let mut mus: Vec<f64> = xs.to_vec();
        mus.push(0.5 * (low + high));
        let n = mus.len();
        // Bandwidths from the sorted observations (prior included, as Optuna's).
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|a, b| mus[*a].total_cmp(&mus[*b]));
        let sorted: Vec<f64> = order.iter().map(|i| mus[*i]).collect();
        let mut with_ends = Vec::with_capacity(n + 2);
        with_ends.push(low);
        with_ends.extend(&sorted);
        with_ends.push(high);
        let mut sorted_sigmas: Vec<f64> = (1..=n)
            .map(|i| (with_ends[i] - with_ends[i - 1]).max(with_ends[i + 1] - with_ends[i]))
            .collect();
        if n >= 2 {
            sorted_sigmas[0] = with_ends[2] - with_ends[1];
            sorted_sigmas[n - 1] = with_ends[n] - with_ends[n - 1];
        }
        let mut sigmas = vec![0.0; n];
        for (k, i) in order.iter().enumerate() {
            sigmas[*i] = sorted_sigmas[k];
        }
        sigmas[n - 1] = width;
        let min_sigma = width / (1.0 + n as f64).min(100.0);
        for s in &mut sigmas {
            *s = s.clamp(min_sigma, width);
        }
        Parzen {
            weights: mixture_weights(obs_weights),
            kind: Kind::Numeric {
                mus,
                sigmas,
                low,
                high,
                integer,
            },
        }
    }

    /// A categorical estimator over `choices` choices from observed indices.
    pub fn categorical(observed: &[usize], obs_weights: &[f64], choices: usize) -> Self {
        let components = observed.len() + 1;
        let base = PRIOR_WEIGHT / components as f64;
        let mut probs: Vec<Vec<f64>> = observed
            .iter()
            .map(|&c| {
                let mut row = vec![base; choices];
                row[c] += 1.0;
                row
            })
            .collect();
        probs.push(vec![base; choices]);
        for row in &mut probs {
            let sum: f64 = row.iter().sum();
            row.iter_mut().for_each(|p| *p /= sum);
        }
        Parzen {
            weights: mixture_weights(obs_weights),
            kind: Kind::Categorical { probs },
        }
    }

    /// One draw: a value in the transformed space (an integer's value
    /// rounded; a choice's index as a float).
    pub fn sample(&self, rng: &mut impl Rng) -> f64 {
        let component = pick(&self.weights, rng);
        match &self.kind {
            Kind::Numeric {
                mus,
                sigmas,
                low,
                high,
                integer,
            } => {
                let x = normal::truncated(rng, mus[component], sigmas[component], *low, *high);
                if *integer {
                    x.round().clamp(low + 0.5, high - 0.5)
                } else {
                    x
                }
            }
            Kind::Categorical { probs } => pick(&probs[component], rng) as f64,
        }
    }

    /// The log probability (density, or mass for integers and choices) of `x`.
    pub fn log_pdf(&self, x: f64) -> f64 {
        let terms: Vec<f64> = match &self.kind {
            Kind::Numeric {
                mus,
                sigmas,
                low,
                high,
                integer,
            } => mus
                .iter()
                .zip(sigmas)
                .zip(&self.weights)
                .map(|((mu, s), w)| {
                    let z = normal::mass(*low, *high, *mu, *s).ln();
                    let p = if *integer {
                        normal::mass(x - 0.5, x + 0.5, *mu, *s).ln()
                    } else {
                        normal::log_pdf(x, *mu, *s)
                    };
                    w.ln() + p - z
                })
                .collect(),
            Kind::Categorical { probs } => probs
                .iter()
                .zip(&self.weights)
                .map(|(row, w)| w.ln() + row[x as usize].max(f64::MIN_POSITIVE).ln())
                .collect(),
        };
        log_sum_exp(&terms)
    }
}

/// An index drawn with probability proportional to `weights`.
fn pick(weights: &[f64], rng: &mut impl Rng) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

fn log_sum_exp(terms: &[f64]) -> f64 {
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mass_sits_near_the_observations() {
        let p = Parzen::numeric(&[0.2, 0.21, 0.19], &[1.0; 3], 0.0, 1.0, false);
        assert!(p.log_pdf(0.2) > p.log_pdf(0.8));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let near = (0..1000)
            .filter(|_| (p.sample(&mut rng) - 0.2).abs() < 0.15)
            .count();
        assert!(near > 500, "{near}");
        // The density integrates to about 1.
        let integral: f64 = (0..10_000)
            .map(|i| p.log_pdf((i as f64 + 0.5) / 10_000.0).exp() / 10_000.0)
            .sum();
        assert!((integral - 1.0).abs() < 0.01, "{integral}");
    }

    #[test]
    fn integers_and_choices_are_distributions() {
        let p = Parzen::numeric(&[3.0], &[1.0], 0.5, 5.5, true);
        let total: f64 = (1..=5).map(|x| p.log_pdf(x as f64).exp()).sum();
        assert!((total - 1.0).abs() < 1e-6, "{total}");
        let c = Parzen::categorical(&[1, 1], &[1.0, 1.0], 3);
        let total: f64 = (0..3).map(|x| c.log_pdf(x as f64).exp()).sum();
        assert!((total - 1.0).abs() < 1e-9);
        assert!(c.log_pdf(1.0) > c.log_pdf(0.0));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..100 {
            let x = p.sample(&mut rng);
            assert!((1.0..=5.0).contains(&x) && x.fract() == 0.0);
        }
    }
}
