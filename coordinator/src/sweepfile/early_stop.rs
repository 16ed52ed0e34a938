//! Checks `early_stop:` into a [`search::EarlyStop`](crate::search::EarlyStop):
//! a ranking metric (the sweep's by default; the sweep's goal when it is the
//! same metric, else the metric's natural one), the keys of its kind only,
//! and sane numbers. Defaults: ASHA `min_epochs: 1`, `reduction_factor: 3`,
//! `grace: 0`, `rejudge: false`; median `after_epochs: 1`, `min_trials: 3`;
//! both count every epoch (`epochs: all`) unless told `epochs: phase2`.

use super::error::Problem;
use super::limits::MAX_NAME_CHARS;
use super::spec::{EarlyStopKind, EarlyStopSpec, Goal};
use crate::search::asha::Asha;
use crate::search::median::Median;
use crate::search::EarlyStop;
use sweep_proto::trial::RANKING_METRICS;

/// The largest `reduction_factor`, `min_epochs`, `after_epochs`, `grace`
/// and `min_trials` accepted (more than any trial's epochs or any grid).
const MAX_SETTING: u32 = 100_000;

/// Checks `spec` for a sweep ranked by `metric_name`/`goal`.
pub fn check(spec: &EarlyStopSpec, metric_name: &str, goal: Goal) -> Result<EarlyStop, Problem> {
    let refuse = |field: &'static str, message: String| Problem::Field { field, message };
    let (metric, goal) = match &spec.metric {
        None => (metric_name.to_string(), goal),
        Some(m) if m == metric_name => (m.clone(), goal),
        Some(m) => {
            let written: String = m.chars().take(MAX_NAME_CHARS).collect();
            let Some((_, natural)) = RANKING_METRICS.iter().find(|(n, _)| *n == m) else {
                return Err(refuse(
                    "early_stop.metric",
                    format!(
                        "unknown metric `{written}`; expected one of {}",
                        RANKING_METRICS
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            };
            let goal = if *natural == "maximize" {
                Goal::Maximize
            } else {
                Goal::Minimize
            };
            (m.clone(), goal)
        }
    };
    let bounded = |field: &'static str, value: Option<u32>, default: u32, min: u32| {
        let v = value.unwrap_or(default);
        if !(min..=MAX_SETTING).contains(&v) {
            return Err(refuse(
                field,
                format!("must be within [{min}, {MAX_SETTING}], got {v}"),
            ));
        }
        Ok(v)
    };
    let foreign = |field: &'static str, given: bool, kind: &str| {
        if given {
            Err(refuse(field, format!("not a setting of `kind: {kind}`")))
        } else {
            Ok(())
        }
    };
    match spec.kind {
        EarlyStopKind::Asha => {
            foreign(
                "early_stop.after_epochs",
                spec.after_epochs.is_some(),
                "asha",
            )?;
            foreign("early_stop.min_trials", spec.min_trials.is_some(), "asha")?;
            Ok(EarlyStop::Asha(Asha {
                metric,
                goal,
                min_epochs: bounded("early_stop.min_epochs", spec.min_epochs, 1, 1)?,
                reduction_factor: bounded(
                    "early_stop.reduction_factor",
                    spec.reduction_factor,
                    3,
                    2,
                )?,
                grace: bounded("early_stop.grace", spec.grace, 0, 0)?,
                epochs: spec.epochs.unwrap_or_default(),
                rejudge: spec.rejudge.unwrap_or(false),
            }))
        }
        EarlyStopKind::Median => {
            foreign("early_stop.rejudge", spec.rejudge.is_some(), "median")?;
            foreign("early_stop.min_epochs", spec.min_epochs.is_some(), "median")?;
            foreign(
                "early_stop.reduction_factor",
                spec.reduction_factor.is_some(),
                "median",
            )?;
            foreign("early_stop.grace", spec.grace.is_some(), "median")?;
            Ok(EarlyStop::Median(Median {
                metric,
                goal,
                after_epochs: bounded("early_stop.after_epochs", spec.after_epochs, 1, 1)?,
                min_trials: bounded("early_stop.min_trials", spec.min_trials, 3, 1)?,
                epochs: spec.epochs.unwrap_or_default(),
            }))
        }
    }
}
