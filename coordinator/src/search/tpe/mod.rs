//! The tree-structured Parzen estimator (Bergstra et al., NeurIPS 2011) as
//! Optuna's `TPESampler` runs it by default: independent per parameter,
//! `n_startup_trials` random proposals first, `gamma(n) = min(⌈n/10⌉, 25)`,
//! Optuna's default weights (flat for the newest 25, a ramp before),
//! 24 candidates drawn from l(x), the one with the largest l(x)/g(x) kept,
//! and the constant liar: trials still running count as bad ones.
//!
//! The split into good and bad puts finished trials first, best first; then
//! trials stopped early, those that got further first, then by their value
//! at their last rung (as Optuna ranks pruned trials); running ones are always
//! bad. Every proposal draws from its own generator, seeded by the sweep's
//! `random_seed` and the proposal's number, so a proposal depends only on
//! the seed, its number and the trials before it: a restarted coordinator
//! (which stored every earlier proposal) continues the same sequence.

mod normal;
mod parzen;

use crate::sweepfile::{Domain, Goal};
use parzen::Parzen;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;

/// Candidates drawn from l(x) per parameter (Optuna's `n_ei_candidates`).
pub const CANDIDATES: usize = 24;

/// Optuna's default `n_startup_trials`.
pub const DEFAULT_STARTUP_TRIALS: u32 = 10;

/// A TPE sweep's settings, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TpeSettings {
    /// Trials to propose in all.
    pub count: u64,
    pub seed: u64,
    /// Random proposals until this many trials finished (done or stopped).
    pub startup_trials: u32,
}

/// How an earlier trial fared, its value in the sweep's metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Done; a non-finite value (diverged) is the worst.
    Complete(f64),
    /// Stopped early, judged last at `step` with `value`.
    Stopped { step: u32, value: f64 },
    /// Pending or running: no value yet (the constant liar).
    Running,
}

/// One earlier trial: its number (order of proposal), its values per
/// domain (in the domains' order; `None` when missing) and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub number: u64,
    pub values: Vec<Option<Value>>,
    pub outcome: Outcome,
}

/// The generator of proposal `number` of a sweep seeded `seed`.
pub fn generator(seed: u64, number: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(number);
    rng
}

/// One point: random while fewer than `startup_trials` trials finished,
/// else TPE over `history`. Draw again from the same `rng` for another.
pub fn propose(
    domains: &[(String, Domain)],
    history: &[Observation],
    goal: Goal,
    startup_trials: u32,
    rng: &mut impl Rng,
) -> Vec<(String, Value)> {
    let finished = history
        .iter()
        .filter(|o| o.outcome != Outcome::Running)
        .count();
    if finished < startup_trials as usize || finished == 0 {
        return domains
            .iter()
            .map(|(name, d)| (name.clone(), d.sample(rng)))
            .collect();
    }
    let (below, above) = split(history, goal);
    domains
        .iter()
        .enumerate()
        .map(|(i, (name, domain))| {
            let value = propose_one(domain, i, &below, &above, rng);
            (name.clone(), value)
        })
        .collect()
}

/// The good trials (by number) and the bad ones, as Optuna splits them.
fn split(history: &[Observation], goal: Goal) -> (Vec<&Observation>, Vec<&Observation>) {
    let n_below = history.len().div_ceil(10).min(25);
    let lower_better = |v: f64| match (v.is_finite(), goal) {
        (false, _) => f64::INFINITY,
        (true, Goal::Minimize) => v,
        (true, Goal::Maximize) => -v,
    };
    let mut complete: Vec<(&Observation, f64)> = Vec::new();
    let mut stopped: Vec<(&Observation, u32, f64)> = Vec::new();
    let mut running: Vec<&Observation> = Vec::new();
    for o in history {
        match o.outcome {
            Outcome::Complete(v) => complete.push((o, lower_better(v))),
            Outcome::Stopped { step, value } => stopped.push((o, step, lower_better(value))),
            Outcome::Running => running.push(o),
        }
    }
    complete.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.number.cmp(&b.0.number)));
    stopped.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then(a.2.total_cmp(&b.2))
            .then(a.0.number.cmp(&b.0.number))
    });
    let ranked: Vec<&Observation> = complete
        .iter()
        .map(|c| c.0)
        .chain(stopped.iter().map(|s| s.0))
        .collect();
    let cut = n_below.min(ranked.len());
    let mut below: Vec<&Observation> = ranked[..cut].to_vec();
    let mut above: Vec<&Observation> = ranked[cut..].to_vec();
    above.extend(running);
    below.sort_by_key(|o| o.number);
    above.sort_by_key(|o| o.number);
    (below, above)
}

/// Optuna's `default_weights`: 1 for the newest 25, a ramp from 1/n before.
fn weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let mut w: Vec<f64> = (0..ramp)
        .map(|i| {
            let start = 1.0 / n as f64;
            if ramp == 1 {
                start
            } else {
                start + (1.0 - start) * i as f64 / (ramp - 1) as f64
            }
        })
        .collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

/// The sampler's view of one domain.
enum View<'a> {
    Numeric {
        low: f64,
        high: f64,
        integer: bool,
        log: bool,
    },
    Choices(&'a [Value]),
}

impl<'a> View<'a> {
    fn of(domain: &'a Domain) -> Self {
        match domain {
            Domain::Uniform(a, b) => View::Numeric {
                low: *a,
                high: *b,
                integer: false,
                log: false,
            },
            Domain::LogUniform(a, b) => View::Numeric {
                low: a.ln(),
                high: b.ln(),
                integer: false,
                log: true,
            },
            Domain::IntUniform(a, b) => View::Numeric {
                low: *a as f64 - 0.5,
                high: *b as f64 + 0.5,
                integer: true,
                log: false,
            },
            Domain::Values(v) => View::Choices(v),
        }
    }

    /// A stored value in the sampler's space; `None` if it does not fit.
    fn to_space(&self, v: &Value) -> Option<f64> {
        match self {
            View::Numeric { log: true, .. } => v.as_f64().filter(|x| *x > 0.0).map(f64::ln),
            View::Numeric { .. } => v.as_f64(),
            View::Choices(choices) => choices.iter().position(|c| c == v).map(|i| i as f64),
        }
    }
}

/// The best of [`CANDIDATES`] draws from l(x) for domain number `i`.
fn propose_one(
    domain: &Domain,
    i: usize,
    below: &[&Observation],
    above: &[&Observation],
    rng: &mut impl Rng,
) -> Value {
    let view = View::of(domain);
    let fit = |group: &[&Observation]| {
        let xs: Vec<f64> = group
            .iter()
            .filter_map(|o| o.values.get(i)?.as_ref().and_then(|v| view.to_space(v)))
            .collect();
        let w = weights(xs.len());
        match &view {
            View::Numeric {
                low, high, integer, ..
            } => Parzen::numeric(&xs, &w, *low, *high, *integer),
            View::Choices(choices) => {
                let idx: Vec<usize> = xs.iter().map(|x| *x as usize).collect();
                Parzen::categorical(&idx, &w, choices.len())
            }
        }
    };
    let (l, g) = (fit(below), fit(above));
    let mut best: Option<(f64, f64)> = None;
    for _ in 0..CANDIDATES {
        let x = l.sample(rng);
        let score = l.log_pdf(x) - g.log_pdf(x);
        let better = match best {
            None => true,
            Some((_, s)) => score.partial_cmp(&s) == Some(Ordering::Greater),
        };
        if better {
            best = Some((x, score));
        }
    }
    let x = best.map_or(0.0, |b| b.0);
    match (&view, domain) {
        (View::Choices(choices), _) => choices[(x as usize).min(choices.len() - 1)].clone(),
        (_, Domain::Uniform(a, b)) => Value::from(x.clamp(*a, *b)),
        (_, Domain::LogUniform(a, b)) => Value::from(x.exp().clamp(*a, *b)),
        (_, Domain::IntUniform(a, b)) => Value::from((x.round() as i64).clamp(*a, *b)),
        (_, Domain::Values(_)) => unreachable!("a values domain is viewed as choices"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bowl with its bottom at x = 0.3 (uniform) and y = 1e-3 (log).
    fn objective(p: &[(String, Value)]) -> f64 {
        let x = p[0].1.as_f64().unwrap();
        let y = p[1].1.as_f64().unwrap();
        (x - 0.3).powi(2) + (y.log10() + 3.0).powi(2) / 16.0
    }

    fn run(seed: u64, tpe: bool, n: u64) -> f64 {
        let domains = vec![
            ("x".to_string(), Domain::Uniform(0.0, 1.0)),
            ("y".to_string(), Domain::LogUniform(1e-6, 1e-1)),
        ];
        let mut history = Vec::new();
        let mut best = f64::INFINITY;
        for number in 0..n {
            let mut rng = generator(seed, number);
            let startup = if tpe { 5 } else { u32::MAX };
            let p = propose(&domains, &history, Goal::Minimize, startup, &mut rng);
            let v = objective(&p);
            best = best.min(v);
            history.push(Observation {
                number,
                values: p.into_iter().map(|(_, v)| Some(v)).collect(),
                outcome: Outcome::Complete(v),
            });
        }
        best
    }

    #[test]
    fn tpe_beats_random_on_a_bowl() {
        let mut tpe: Vec<f64> = (0..10).map(|s| run(s, true, 40)).collect();
        let mut random: Vec<f64> = (0..10).map(|s| run(s, false, 40)).collect();
        tpe.sort_by(f64::total_cmp);
        random.sort_by(f64::total_cmp);
        assert!(tpe[5] < random[5], "tpe {tpe:?} random {random:?}");
    }

    #[test]
    fn the_same_seed_and_history_give_the_same_point() {
        assert_eq!(run(7, true, 20), run(7, true, 20));
        let w = weights(30);
        assert_eq!(w.len(), 30);
        assert!((w[0] - 1.0 / 30.0).abs() < 1e-12 && w[4] == 1.0 && w[29] == 1.0);
    }

    #[test]
    fn running_trials_count_as_bad_and_stopped_after_complete() {
        let o = |number, outcome| Observation {
            number,
            values: vec![],
            outcome,
        };
        let history: Vec<Observation> = (0..11)
            .map(|i| o(i, Outcome::Complete(i as f64)))
            .chain([
                o(
                    11,
                    Outcome::Stopped {
                        step: 3,
                        value: 100.0,
                    },
                ),
                o(12, Outcome::Running),
            ])
            .collect();
        let (below, above) = split(&history, Goal::Maximize);
        // 13 trials: 2 good, the two best finished ones.
        assert_eq!(below.iter().map(|o| o.number).collect::<Vec<_>>(), [9, 10]);
        assert!(above.iter().any(|o| o.number == 12));
    }
}
