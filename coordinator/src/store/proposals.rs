//! A TPE sweep's next trial, proposed when a worker asks for work and
//! stored (a `pending` row, numbered by its `idx`) in the lease's own
//! transaction, before the lease is handed out. The proposal reads the
//! sweep's trials as TPE's history — done ones with their metric, stopped
//! ones with the value at the epoch that stopped them, pending and running
//! ones as the constant liar's bad evidence; failed and cancelled ones are
//! left out, as Optuna leaves out failed trials — and draws from the
//! generator of its own number, so a restarted coordinator, which kept
//! every earlier proposal, proposes the same next one.
//!
//! A proposal that repeats an earlier point of the sweep (or that the
//! config refuses) is drawn again, up to [`REDRAWS`] times, then replaced by
//! random draws; when none of those is new either, the space has no new
//! point left and the sweep proposes nothing more (`proposals_closed`).
//!
//! A proposal is never reused from an earlier sweep (`reuse`), even when an
//! earlier sweep finished the same config: it is made in a lease's
//! transaction to be leased, and the model chose it knowing only this
//! sweep's history; a copied result would have to be proposed past (the
//! lease would need another proposal) and would feed the model evidence of
//! another sweep. TPE sweeps rarely repeat a continuous point anyway.

use super::error::{StoreError, StoreResult};
use super::sweeps::sweep_metric;
use crate::search::tpe::{self, Observation, Outcome};
use crate::sweepfile::TpePlan;
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::Value;

/// TPE draws before falling back to random ones.
const REDRAWS: usize = 100;
/// Random draws before the space counts as exhausted.
const RANDOM_DRAWS: usize = 1000;

/// Proposes, stores and returns the id of the sweep's next trial (pending);
/// `None` when the space has no new point (the sweep then proposes no more).
pub(super) fn propose(tx: &Transaction, sweep_id: &str) -> StoreResult<Option<String>> {
    let json: String = tx.query_row(
        "SELECT tpe_json FROM sweeps WHERE id = ?1",
        [sweep_id],
        |r| r.get(0),
    )?;
    let plan: TpePlan = serde_json::from_str(&json).map_err(|source| StoreError::CorruptJson {
        column: "sweeps.tpe_json",
        source,
    })?;
    let (_, goal) = sweep_metric(tx, sweep_id)?;
    let (history, number) = history(tx, sweep_id, &plan)?;
    let mut rng = tpe::generator(plan.settings.seed, number);
    let domains = &plan.space.domains;
    for draw in 0..REDRAWS + RANDOM_DRAWS {
        let params = if draw < REDRAWS {
            tpe::propose(
                domains,
                &history,
                goal,
                plan.settings.startup_trials,
                &mut rng,
            )
        } else {
            domains
                .iter()
                .map(|(n, d)| (n.clone(), d.sample(&mut rng)))
                .collect()
        };
        let point = match plan.space.point(params) {
            Ok(point) => point,
            Err(problem) => {
                tracing::debug!("sweep {sweep_id}: proposal {number} refused: {problem}");
                continue;
            }
        };
        let exists: Option<i64> = tx
            .prepare_cached("SELECT 1 FROM trials WHERE sweep_id = ?1 AND trial_id = ?2")?
            .query_row(params![sweep_id, point.trial_id], |r| r.get(0))
            .optional()?;
        if exists.is_some() {
            continue;
        }
        tx.execute(
            "INSERT INTO trials (sweep_id, trial_id, idx, config_json, params_json, state, total_epochs)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6)",
            params![
                sweep_id,
                point.trial_id,
                number as i64,
                point.config.canonical_json(),
                point.params_json(),
                point.config.total_epochs(),
            ],
        )?;
        tracing::info!(
            "sweep {sweep_id}: proposal {number} is trial {} {}",
            point.trial_id,
            point.params_json()
        );
        return Ok(Some(point.trial_id));
    }
    tracing::warn!(
        "sweep {sweep_id}: no new point in {} draws after {number} proposals; it proposes no more",
        REDRAWS + RANDOM_DRAWS
    );
    tx.execute(
        "UPDATE sweeps SET proposals_closed = 1 WHERE id = ?1",
        [sweep_id],
    )?;
    Ok(None)
}

/// The sweep's trials as TPE's history, and the next proposal's number.
fn history(
    tx: &Transaction,
    sweep_id: &str,
    plan: &TpePlan,
) -> StoreResult<(Vec<Observation>, u64)> {
    let mut stmt = tx.prepare_cached(
        "SELECT idx, params_json, state, metric, stop_epoch, stop_value
         FROM trials WHERE sweep_id = ?1 ORDER BY idx",
    )?;
    let rows = stmt.query_map([sweep_id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<f64>>(3)?,
            r.get::<_, Option<u32>>(4)?,
            r.get::<_, Option<f64>>(5)?,
        ))
    })?;
    let mut history = Vec::new();
    let mut number = 0u64;
    for row in rows {
        let (idx, params_json, state, metric, stop_epoch, stop_value) = row?;
        number = number.max(idx as u64 + 1);
        let outcome = match state.as_str() {
            "done" => Outcome::Complete(metric.unwrap_or(f64::NAN)),
            "stopped" => Outcome::Stopped {
                step: stop_epoch.unwrap_or(0),
                value: stop_value.unwrap_or(f64::NAN),
            },
            "pending" | "running" => Outcome::Running,
            _ => continue,
        };
        let map: serde_json::Map<String, Value> =
            serde_json::from_str(&params_json).map_err(|source| StoreError::CorruptJson {
                column: "trials.params_json",
                source,
            })?;
        history.push(Observation {
            number: idx as u64,
            values: plan
                .space
                .domains
                .iter()
                .map(|(name, _)| map.get(name).cloned())
                .collect(),
            outcome,
        });
    }
    Ok((history, number))
}
