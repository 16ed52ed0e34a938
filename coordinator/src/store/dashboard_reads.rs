//! Reads for the dashboard and reports that the gRPC service does not need:
//! every trial's learning curve at once (its latest attempt), one trial's
//! config and result documents, and the outcomes workers reported for it.

use super::error::{StoreError, StoreResult};
use super::Store;
use rusqlite::OptionalExtension;
use sweep_proto::trial::EpochMetrics;

/// One outcome a worker reported for a trial (`worker_outcomes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialOutcome {
    pub worker_id: String,
    /// `done`, `failed` or `environment`.
    pub kind: String,
    pub error: String,
}

impl Store {
    /// Each trial's epochs of its latest attempt, by trial then epoch:
    /// (trial id, epochs), trials without any left out.
    pub fn sweep_curves(&self, sweep_id: &str) -> StoreResult<Vec<(String, Vec<EpochMetrics>)>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT e.trial_id, e.json FROM epochs e
                 JOIN trials t ON t.sweep_id = e.sweep_id AND t.trial_id = e.trial_id
                                 AND t.attempt = e.attempt
                 WHERE e.sweep_id = ?1 ORDER BY e.trial_id, e.epoch",
            )?;
            let rows = stmt.query_map([sweep_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut curves: Vec<(String, Vec<EpochMetrics>)> = Vec::new();
            for row in rows {
                let (trial_id, json) = row?;
                let epoch = parse_epoch(&json)?;
                match curves.last_mut() {
                    Some((last, epochs)) if *last == trial_id => epochs.push(epoch),
                    _ => curves.push((trial_id, vec![epoch])),
                }
            }
            Ok(curves)
        })
    }

    /// A trial's resolved config and result JSON (empty until it is done),
    /// or `None` if the sweep has no such trial.
    pub fn trial_documents(
        &self,
        sweep_id: &str,
        trial_id: &str,
    ) -> StoreResult<Option<(String, String)>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT config_json, result_json FROM trials
                     WHERE sweep_id = ?1 AND trial_id = ?2",
                )?
                .query_row([sweep_id, trial_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    ))
                })
                .optional()?)
        })
    }

    /// What workers reported for the trial, oldest first.
    pub fn trial_outcomes(&self, sweep_id: &str, trial_id: &str) -> StoreResult<Vec<TrialOutcome>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT worker_id, kind, error FROM worker_outcomes
                 WHERE sweep_id = ?1 AND trial_id = ?2 ORDER BY seq",
            )?;
            let rows = stmt.query_map([sweep_id, trial_id], |r| {
                Ok(TrialOutcome {
                    worker_id: r.get(0)?,
                    kind: r.get(1)?,
                    error: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

fn parse_epoch(json: &str) -> StoreResult<EpochMetrics> {
    serde_json::from_str(json).map_err(|source| StoreError::CorruptJson {
        column: "epochs.json",
        source,
    })
}
