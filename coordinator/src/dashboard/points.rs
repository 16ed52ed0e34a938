//! The points of the parallel-coordinates and slice plots: one per finished
//! trial with a metric (the best [`MAX_POINTS`] when there are more), each
//! swept parameter's value and the metric; every axis says whether it is
//! numeric (and log-scaled when its values span three decades or more) or
//! categorical (with its categories).

use super::SweepView;
use serde::Serialize;

/// Most trials plotted.
pub const MAX_POINTS: usize = 2000;

/// One parameter's axis.
#[derive(Debug, Serialize)]
pub struct Axis {
    pub name: String,
    /// `value` or `category`.
    pub kind: &'static str,
    /// Numeric values spanning ≥ 1000× (all positive): plot on a log scale.
    pub log: bool,
    /// A categorical axis's values, as text, in order.
    pub categories: Vec<String>,
}

/// The plots' data.
#[derive(Debug, Serialize)]
pub struct Points {
    pub axes: Vec<Axis>,
    pub metric_name: String,
    /// Per trial: each axis's value (a number, or a category's index) then
    /// the metric.
    pub rows: Vec<Vec<f64>>,
    pub trial_ids: Vec<String>,
    /// Finished trials with a metric, and how many are plotted.
    pub total: usize,
}

/// The points of `view`'s finished trials.
pub fn points(view: &SweepView) -> Points {
    let scored: Vec<_> = view
        .rows
        .iter()
        .filter(|r| r.rank > 0 && r.metric.is_some())
        .collect();
    let plotted = &scored[..scored.len().min(MAX_POINTS)];
    let axes: Vec<Axis> = view
        .param_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let values: Vec<&serde_json::Value> = plotted
                .iter()
                .map(|r| r.params.get(i).unwrap_or(&serde_json::Value::Null))
                .collect();
            let numbers: Option<Vec<f64>> = values.iter().map(|v| v.as_f64()).collect();
            match numbers {
                Some(numbers) if !numbers.is_empty() => {
                    let min = numbers.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    Axis {
                        name: name.clone(),
                        kind: "value",
                        log: min > 0.0 && max / min >= 1000.0,
                        categories: Vec::new(),
                    }
                }
                _ => {
                    let mut categories: Vec<String> = values.iter().map(|v| text(v)).collect();
                    categories.sort();
                    categories.dedup();
                    Axis {
                        name: name.clone(),
                        kind: "category",
                        log: false,
                        categories,
                    }
                }
            }
        })
        .collect();
    let rows = plotted
        .iter()
        .map(|r| {
            let mut row: Vec<f64> = axes
                .iter()
                .enumerate()
                .map(|(i, axis)| {
                    let v = r.params.get(i).unwrap_or(&serde_json::Value::Null);
                    match axis.kind {
                        "value" => v.as_f64().unwrap_or(f64::NAN),
                        _ => axis
                            .categories
                            .binary_search(&text(v))
                            .map(|k| k as f64)
                            .unwrap_or(f64::NAN),
                    }
                })
                .collect();
            row.push(r.metric.unwrap_or(f64::NAN));
            row
        })
        .collect();
    Points {
        axes,
        metric_name: view.summary.metric_name.clone(),
        rows,
        trial_ids: plotted.iter().map(|r| r.trial_id.clone()).collect(),
        total: scored.len(),
    }
}

/// A value as a category label (strings without their quotes).
fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
