//! Never the same trial twice, across sweeps: when a sweep is stored, each
//! of its points whose trial id (the hash of the resolved config) belongs to
//! a trial that finished `done` in an earlier sweep, on the same input
//! files, is stored `done` at once with a copy of that result and its
//! curve, marked `reused_from_sweep`, and never leased. It happens in the
//! transaction that stores the sweep: nothing is answered before it is stored.
//!
//! The same files: the submitter sends the SHA-256 of each input file it
//! could read (`SubmitSweepRequest.input_sha256`, stored with the sweep as
//! `inputs_json`). A trial is reused only when
//! - the new submission has a fingerprint of its `backbone.weights` and it
//!   equals the earlier result's `backbone.sha256` (the file the worker used);
//! - the new submission has a fingerprint of its `data.dir` and it equals
//!   the one stored with the earlier sweep (none stored: no reuse).
//!
//! Only `done` trials run in their own sweep are sources (a copy is never
//! copied again: its source is still there); failed, cancelled and stopped
//! ones (a stopped trial's result is partial) never are. The newest earlier
//! sweep that qualifies is the source. A reused trial has attempt 0, no
//! worker, the source's result, metric and epochs (stored under attempt
//! 0); its artifacts stay with the source trial. `execution: {reuse: off}`
//! turns it off; a TPE sweep's proposals are never reused (see
//! `proposals`).

use super::error::{StoreError, StoreResult};
use crate::sweepfile::{Execution, Point};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::collections::BTreeMap;

/// The submitter's fingerprints: path as a config writes it → SHA-256 hex.
pub type InputFingerprints = BTreeMap<String, String>;

/// What storing a sweep did about reuse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submitted {
    pub sweep_id: String,
    /// Trials stored done as copies of earlier results.
    pub reused: u64,
    /// Trials that finished done earlier but run again: the submission had
    /// no fingerprint of an input file they name.
    pub unverified: u64,
    /// Trials that finished done earlier but run again: their input files
    /// differ from the earlier run's (or the earlier sweep recorded none).
    pub inputs_differ: u64,
}

impl Submitted {
    /// One sentence about trials that could have been reused and were not;
    /// empty when there were none.
    pub fn reuse_note(&self) -> String {
        let mut parts = Vec::new();
        if self.unverified > 0 {
            parts.push(format!(
                "{} trial(s) that finished in an earlier sweep will run again: the submission \
                 carried no fingerprint of their input files (backbone weights, data folder), \
                 so they could not be checked to be the same (submit with `sweep` where the \
                 files are readable)",
                self.unverified
            ));
        }
        if self.inputs_differ > 0 {
            parts.push(format!(
                "{} trial(s) that finished in an earlier sweep will run again: their input \
                 files differ from the earlier run's (or that sweep recorded none)",
                self.inputs_differ
            ));
        }
        parts.join("; ")
    }
}

/// What became of one point.
pub(super) enum Outcome {
    /// Stored as the copy of an earlier sweep's trial.
    Reused,
    Unverified,
    InputsDiffer,
    /// No earlier done trial of this config: run it.
    New,
}

/// Looks for an earlier done trial of `point` that qualifies (see the
/// module's text) and, when one does, stores `point` in `sweep_id` as its
/// copy at `idx`. Stores nothing otherwise.
pub(super) fn try_reuse(
    tx: &Transaction,
    sweep_id: &str,
    idx: i64,
    point: &Point,
    inputs: &InputFingerprints,
) -> StoreResult<Outcome> {
    let config_json = point.config.canonical_json();
    let mut candidates = tx.prepare_cached(
        "SELECT t.sweep_id, t.attempt, t.result_json, s.inputs_json
         FROM trials t JOIN sweeps s ON s.id = t.sweep_id
         WHERE t.trial_id = ?1 AND t.state = 'done' AND t.sweep_id <> ?2
           AND t.config_json = ?3 AND t.result_json IS NOT NULL
           AND t.reused_from_sweep IS NULL
         ORDER BY s.seq DESC",
    )?;
    let rows: Vec<(String, u32, String, Option<String>)> = candidates
        .query_map(params![point.trial_id, sweep_id, config_json], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    if rows.is_empty() {
        return Ok(Outcome::New);
    }
    let fingerprint = |path: &std::path::Path| path.to_str().and_then(|p| inputs.get(p));
    let (Some(backbone), Some(data)) = (
        fingerprint(&point.config.backbone.weights),
        fingerprint(&point.config.data.dir),
    ) else {
        return Ok(Outcome::Unverified);
    };
    let data_dir = point.config.data.dir.to_str().unwrap_or_default();
    for (source, attempt, result_json, source_inputs) in rows {
        let used_backbone = serde_json::from_str::<serde_json::Value>(&result_json)
            .ok()
            .and_then(|v| v["backbone"]["sha256"].as_str().map(str::to_string));
        let source_data = match source_inputs {
            Some(json) => inputs_of(&json)?.remove(data_dir),
            None => None,
        };
        let same_backbone = used_backbone.is_some_and(|u| u.eq_ignore_ascii_case(backbone));
        let same_data = source_data.is_some_and(|d| d.eq_ignore_ascii_case(data));
        if same_backbone && same_data {
            copy(tx, sweep_id, idx, point, &source, attempt)?;
            return Ok(Outcome::Reused);
        }
    }
    Ok(Outcome::InputsDiffer)
}

/// Stores `point` in `sweep_id` as a done copy of its trial in `source`
/// (result, metrics, and the epochs of the source's latest attempt, under
/// attempt 0).
fn copy(
    tx: &Transaction,
    sweep_id: &str,
    idx: i64,
    point: &Point,
    source: &str,
    source_attempt: u32,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO trials (sweep_id, trial_id, idx, config_json, params_json, state,
                             total_epochs, result_json, metric, test_acc, best_epoch, wall_s,
                             last_error, epochs_done, last_val_acc, reused_from_sweep)
         SELECT ?1, trial_id, ?2, config_json, ?3, 'done', total_epochs, result_json, metric,
                test_acc, best_epoch, wall_s, last_error, epochs_done, last_val_acc, sweep_id
         FROM trials WHERE sweep_id = ?4 AND trial_id = ?5",
        params![sweep_id, idx, point.params_json(), source, point.trial_id],
    )?;
    tx.execute(
        "INSERT INTO epochs (sweep_id, trial_id, attempt, epoch, json)
         SELECT ?1, trial_id, 0, epoch, json FROM epochs
         WHERE sweep_id = ?2 AND trial_id = ?3 AND attempt = ?4",
        params![sweep_id, source, point.trial_id, source_attempt],
    )?;
    Ok(())
}

/// Reads a stored `inputs_json`.
fn inputs_of(json: &str) -> StoreResult<InputFingerprints> {
    serde_json::from_str(json).map_err(|source| StoreError::CorruptJson {
        column: "sweeps.inputs_json",
        source,
    })
}

/// The stored `execution:` of `sweep_id` (`NULL`: the defaults).
pub(super) fn execution_of(conn: &Connection, sweep_id: &str) -> StoreResult<Execution> {
    let json: Option<Option<String>> = conn
        .query_row(
            "SELECT execution_json FROM sweeps WHERE id = ?1",
            [sweep_id],
            |r| r.get(0),
        )
        .optional()?;
    match json.ok_or_else(|| StoreError::NoSweep(sweep_id.to_string()))? {
        None => Ok(Execution::default()),
        Some(text) => serde_json::from_str(&text).map_err(|source| StoreError::CorruptJson {
            column: "sweeps.execution_json",
            source,
        }),
    }
}
