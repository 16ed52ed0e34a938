//! The JSON documents the sweep and trial pages read, built once here for both the
//! live dashboard (`/api/sweeps/{id}...`) and the self-contained report.

use super::summary::SweepJson;
use super::table::{self, TableQuery};
use super::{curves, importance, points, SweepView};
use crate::store::{Store, StoreResult, TrialOutcome};
use serde_json::{json, Value};
use sweep_proto::trial::EpochMetrics;

fn value(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The sweep: summary, swept parameters, compute time, importance.
pub fn sweep(view: &SweepView) -> Value {
    let compute_s: f64 = view
        .rows
        .iter()
        .map(|r| r.wall_s)
        .filter(|w| w.is_finite())
        .sum();
    json!({
        "summary": SweepJson::from(&view.summary),
        "param_names": view.param_names,
        "compute_s": compute_s,
        "importance": {
            "method": importance::METHOD,
            "shares": importance::importance(&view.param_names, &view.rows),
        },
    })
}

/// One page of the trials table.
pub fn trials(view: &SweepView, query: &TableQuery) -> Value {
    json!({
        "param_names": view.param_names,
        "metric_name": view.summary.metric_name,
        "page": table::page(&view.rows, &view.param_names, query),
    })
}

/// The learning curves.
pub fn curves(view: &SweepView) -> Value {
    value(curves::curves(view))
}

/// The parallel-coordinates and slice plots' points.
pub fn points(view: &SweepView) -> Value {
    value(points::points(view))
}

/// One trial: its row, resolved config, result, the epochs of its latest
/// attempt and what workers reported; `None` if the sweep has no such trial.
pub fn trial(store: &Store, view: &SweepView, trial_id: &str) -> StoreResult<Option<Value>> {
    if !view.rows.iter().any(|r| r.trial_id == trial_id) {
        return Ok(None);
    }
    let sweep_id = &view.summary.sweep_id;
    let (config, result) = store
        .trial_documents(sweep_id, trial_id)?
        .unwrap_or_default();
    let epochs = store.trial_epochs(sweep_id, trial_id)?;
    let latest = epochs.iter().map(|(a, _)| *a).max().unwrap_or(0);
    let epochs: Vec<EpochMetrics> = epochs
        .into_iter()
        .filter(|(a, _)| *a == latest)
        .map(|(_, e)| e)
        .collect();
    let outcomes = store.trial_outcomes(sweep_id, trial_id)?;
    Ok(trial_from_parts(
        view,
        trial_id,
        TrialParts {
            config_json: &config,
            result_json: &result,
            attempt: latest,
            epochs: &epochs,
            outcomes: &outcomes,
        },
    ))
}

/// What a trial page shows beyond the trial's row.
#[derive(Debug, Clone, Copy)]
pub struct TrialParts<'a> {
    pub config_json: &'a str,
    /// Empty until the trial is done.
    pub result_json: &'a str,
    /// The latest attempt, whose `epochs` these are.
    pub attempt: u32,
    pub epochs: &'a [EpochMetrics],
    pub outcomes: &'a [TrialOutcome],
}

/// The trial page's document from its parts (read from a store, or from
/// what `ListTrials` answers); `None` if the sweep has no such trial.
pub fn trial_from_parts(view: &SweepView, trial_id: &str, parts: TrialParts<'_>) -> Option<Value> {
    let row = view.rows.iter().find(|r| r.trial_id == trial_id)?;
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    let outcomes: Vec<Value> = parts
        .outcomes
        .iter()
        .map(|o| json!({ "worker_id": o.worker_id, "kind": o.kind, "error": o.error }))
        .collect();
    Some(json!({
        "sweep": SweepJson::from(&view.summary),
        "param_names": view.param_names,
        "row": row,
        "config": parse(parts.config_json),
        "result": if parts.result_json.is_empty() { Value::Null } else { parse(parts.result_json) },
        "attempt": parts.attempt,
        "epochs": parts.epochs,
        "outcomes": outcomes,
    }))
}
