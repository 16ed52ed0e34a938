//! Which swept parameter mattered: a first-order (main-effect) variance
//! decomposition of the metric over the finished trials, the quantity
//! fANOVA reports for single parameters, estimated here directly from the
//! trials instead of from a fitted random forest.
//!
//! For each parameter the trials are grouped by its value (a numeric
//! parameter with more than [`MAX_GROUPS`] distinct values is cut into that
//! many equal-count bins), and its importance is the share of the metric's
//! variance that the group means explain: η² = Σ nᵍ (ȳᵍ − ȳ)² / Σ (y − ȳ)².
//! On a full grid of independent parameters these shares are the main
//! effects; what is left of 1 after summing them is interactions and noise.

use super::TrialRow;
use serde::Serialize;
use std::collections::BTreeMap;

/// The method's name, as the page shows it.
pub const METHOD: &str = "first-order variance decomposition (fANOVA-style main effects, η²): \
     the share of the metric's variance explained by each parameter's group means \
     (numeric parameters with many values in 10 equal-count bins)";

/// Most groups one parameter is cut into.
pub const MAX_GROUPS: usize = 10;

/// Fewest finished trials with a metric before importance is computed.
pub const MIN_TRIALS: usize = 4;

/// One parameter's share of the metric's variance, in `0..=1`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Importance {
    pub param: String,
    pub share: f64,
}

/// Every parameter's importance, most important first; empty with fewer
/// than [`MIN_TRIALS`] finished trials or a metric that never varies.
pub fn importance(param_names: &[String], rows: &[TrialRow]) -> Vec<Importance> {
    let scored: Vec<(&TrialRow, f64)> = rows
        .iter()
        .filter_map(|r| r.metric.filter(|m| m.is_finite()).map(|m| (r, m)))
        .collect();
    if scored.len() < MIN_TRIALS {
        return Vec::new();
    }
    let n = scored.len() as f64;
    let mean = scored.iter().map(|(_, m)| m).sum::<f64>() / n;
    let total: f64 = scored.iter().map(|(_, m)| (m - mean).powi(2)).sum();
    if total <= f64::EPSILON * n {
        return Vec::new();
    }
    let mut shares: Vec<Importance> = param_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let groups = group_of_each(&scored, i);
            let mut sums: BTreeMap<usize, (f64, f64)> = BTreeMap::new();
            for (group, (_, m)) in groups.iter().zip(&scored) {
                let e = sums.entry(*group).or_default();
                e.0 += m;
                e.1 += 1.0;
            }
            let explained: f64 = sums
                .values()
                .map(|(sum, count)| count * (sum / count - mean).powi(2))
                .sum();
            Importance {
                param: name.clone(),
                share: (explained / total).clamp(0.0, 1.0),
            }
        })
        .collect();
    shares.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.param.cmp(&b.param)));
    shares
}

/// The group of each scored trial for parameter `i`: its value's, or for a
/// numeric parameter with many values, its equal-count bin's.
fn group_of_each(scored: &[(&TrialRow, f64)], i: usize) -> Vec<usize> {
    let values: Vec<&serde_json::Value> = scored
        .iter()
        .map(|(r, _)| r.params.get(i).unwrap_or(&serde_json::Value::Null))
        .collect();
    let numbers: Option<Vec<f64>> = values.iter().map(|v| v.as_f64()).collect();
    let mut distinct: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    distinct.sort();
    distinct.dedup();
    match numbers {
        Some(numbers) if distinct.len() > MAX_GROUPS => {
            let mut order: Vec<usize> = (0..numbers.len()).collect();
            order.sort_by(|&a, &b| numbers[a].total_cmp(&numbers[b]));
            let mut groups = vec![0; numbers.len()];
            for (position, &trial) in order.iter().enumerate() {
                groups[trial] = position * MAX_GROUPS / numbers.len();
            }
            groups
        }
        _ => values
            .iter()
            .map(|v| distinct.binary_search(&v.to_string()).unwrap_or(0))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(params: Vec<serde_json::Value>, metric: f64) -> TrialRow {
        TrialRow {
            rank: 1,
            trial_id: String::new(),
            index: 0,
            state: "done",
            params,
            metric: Some(metric),
            test_acc: None,
            test_ece: None,
            best_epoch: 0,
            wall_s: 0.0,
            worker_id: String::new(),
            attempts: 1,
            diverged: false,
            error: String::new(),
        }
    }

    #[test]
    fn the_parameter_that_moves_the_metric_explains_its_variance() {
        // metric = 0.5 + 0.4·[lr = 0.01]; seed does nothing.
        let mut rows = Vec::new();
        for lr in [0.001, 0.01] {
            for seed in 0..4 {
                let m = if lr == 0.01 { 0.9 } else { 0.5 };
                rows.push(row(vec![json!(lr), json!(seed)], m));
            }
        }
        let names = vec!["lr".to_string(), "seed".to_string()];
        let shares = importance(&names, &rows);
        assert_eq!(shares[0].param, "lr");
        assert!((shares[0].share - 1.0).abs() < 1e-9, "{shares:?}");
        assert!(shares[1].share.abs() < 1e-9, "{shares:?}");
    }

    #[test]
    fn many_numeric_values_are_binned_and_too_few_trials_give_nothing() {
        let rows: Vec<TrialRow> = (0..100)
            .map(|i| row(vec![json!(i as f64 / 100.0)], i as f64))
            .collect();
        let shares = importance(&["x".to_string()], &rows);
        assert!(
            shares[0].share > 0.95 && shares[0].share < 1.0,
            "{shares:?}"
        );
        assert!(importance(&["x".to_string()], &rows[..3]).is_empty());
        let flat: Vec<TrialRow> = (0..10).map(|i| row(vec![json!(i)], 0.5)).collect();
        assert!(importance(&["x".to_string()], &flat).is_empty());
    }
}
