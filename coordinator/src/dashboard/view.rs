//! A sweep read once for display: its summary, its swept parameters, one
//! compact row per trial (the result JSON parsed once for test metrics) and
//! every trial's learning curve.

use crate::store::{Store, StoreResult, SweepSummary, TrialInfo};
use serde::Serialize;
use sweep_proto::trial::{EpochMetrics, TrialResult};

/// The longest error text a row keeps (the trial page shows all of it).
const MAX_ROW_ERROR_CHARS: usize = 200;

/// One trial as the table shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TrialRow {
    /// 1-based among finished trials; 0 for the others.
    pub rank: u32,
    pub trial_id: String,
    pub index: u64,
    pub state: &'static str,
    /// The swept values, in the order of [`SweepView::param_names`]
    /// (`null` where a trial lacks one).
    pub params: Vec<serde_json::Value>,
    pub metric: Option<f64>,
    pub test_acc: Option<f64>,
    pub test_ece: Option<f64>,
    pub best_epoch: u32,
    pub wall_s: f64,
    pub worker_id: String,
    pub attempts: u32,
    pub diverged: bool,
    pub error: String,
}

/// A sweep ready for display.
#[derive(Debug, Clone)]
pub struct SweepView {
    pub summary: SweepSummary,
    /// The swept parameters' dotted paths, sorted.
    pub param_names: Vec<String>,
    /// Every trial, in ranking order (finished by metric first).
    pub rows: Vec<TrialRow>,
    /// (trial id, epochs of its latest attempt).
    pub curves: Vec<(String, Vec<EpochMetrics>)>,
}

impl SweepView {
    /// Reads the sweep from `store` (blocking: three reads).
    pub fn read(store: &Store, sweep_id: &str) -> StoreResult<SweepView> {
        let summary = store.sweep_summary(sweep_id)?;
        let ranking = store.list_trials(sweep_id, 0)?;
        let curves = store.sweep_curves(sweep_id)?;
        Ok(Self::from_parts(summary, ranking.trials, curves))
    }

    /// Builds the view from what the store (or a client) read.
    pub fn from_parts(
        summary: SweepSummary,
        trials: Vec<TrialInfo>,
        curves: Vec<(String, Vec<EpochMetrics>)>,
    ) -> SweepView {
        let mut param_names: Vec<String> = trials
            .iter()
            .flat_map(|t| t.params.iter().map(|(name, _)| name.clone()))
            .collect();
        param_names.sort();
        param_names.dedup();
        let rows = trials.into_iter().map(|t| row(t, &param_names)).collect();
        SweepView {
            summary,
            param_names,
            rows,
            curves,
        }
    }

    /// The best finished trial's row, if any.
    pub fn best(&self) -> Option<&TrialRow> {
        self.rows.iter().find(|r| r.rank == 1)
    }
}

fn row(t: TrialInfo, param_names: &[String]) -> TrialRow {
    let result: Option<TrialResult> = (!t.result_json.is_empty())
        .then(|| serde_json::from_str(&t.result_json).ok())
        .flatten();
    let params = param_names
        .iter()
        .map(|name| {
            t.params
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, text)| serde_json::from_str(text).ok())
                .unwrap_or(serde_json::Value::Null)
        })
        .collect();
    let mut error = t.last_error;
    if let Some((cut, _)) = error.char_indices().nth(MAX_ROW_ERROR_CHARS) {
        error.truncate(cut);
        error.push('…');
    }
    TrialRow {
        rank: t.rank,
        trial_id: t.trial_id,
        index: t.index,
        state: t.state.as_str(),
        params,
        metric: t.metric.filter(|m| m.is_finite()),
        test_acc: t.test_acc.filter(|m| m.is_finite()),
        test_ece: result
            .as_ref()
            .map(|r| r.test.ece)
            .filter(|m| m.is_finite()),
        best_epoch: t.best_epoch,
        wall_s: t.wall_s,
        worker_id: t.worker_id,
        attempts: t.attempts,
        diverged: result.as_ref().is_some_and(|r| r.diverged.is_some()),
        error,
    }
}
