//! Artifacts kept with the trial: the rows that make an uploaded file
//! visible, the fencing of an upload (like a heartbeat: the latest attempt,
//! its owner, a trial not failed, cancelled or stopped, and a file the
//! sweep's `artifacts:` keeps), the listings, and the pruning that keeps
//! best weights for the sweep's top `weights_top_k` trials only.
//!
//! The files themselves are [`crate::artifacts::ArtifactFiles`]'s: a file
//! is renamed into place and fsynced before its row is written here, and a
//! pruned row is deleted before its file, so a row always has its file.

use super::error::{StoreError, StoreResult};
use super::model::TrialState;
use super::reported_trial::{find, ReportedTrial};
use super::sweeps::{best_first, sweep_metric};
use super::worker_registry::touch_worker;
use super::Store;
use crate::sweepfile::ArtifactPolicy;
use rusqlite::{params, Connection, OptionalExtension};
use sweep_proto::artifacts::ArtifactKind;

/// The most rows one listing returns.
pub const MAX_LISTED_ARTIFACTS: usize = 10_000;

/// An artifact's key: (sweep, trial, attempt, name).
pub type ArtifactKey = (String, String, u32, String);

/// A stored artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRow {
    pub sweep_id: String,
    pub trial_id: String,
    pub attempt: u32,
    pub name: String,
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    pub created_ms: u64,
}

/// Who uploads what (the header of an upload).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactUpload {
    pub worker_id: String,
    pub sweep_id: String,
    pub trial_id: String,
    pub attempt: u32,
    pub name: String,
}

/// Where an accepted upload goes: the trial's stored ids (not the caller's
/// text) name its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTarget {
    pub sweep_id: String,
    pub trial_id: String,
    pub attempt: u32,
}

impl Store {
    /// Whether `upload` may start: see the module doc. Checked again by
    /// [`Store::record_artifact`] when the bytes are in.
    pub fn check_artifact_upload(&self, upload: &ArtifactUpload) -> StoreResult<UploadTarget> {
        self.write(|tx, now, _| {
            touch_worker(tx, &upload.worker_id, now)?;
            let t = find(tx, &upload.sweep_id, &upload.trial_id, &upload.worker_id)?;
            fence(tx, &t, upload)?;
            Ok(UploadTarget {
                sweep_id: t.sweep_id,
                trial_id: t.trial_id,
                attempt: t.attempt,
            })
        })
    }

    /// Makes an uploaded file visible (its file is already in place): fenced
    /// again, then one row (a repeat of the same attempt and name replaces it).
    pub fn record_artifact(
        &self,
        upload: &ArtifactUpload,
        size: u64,
        sha256: &str,
    ) -> StoreResult<ArtifactRow> {
        self.write(|tx, now, changed| {
            let t = find(tx, &upload.sweep_id, &upload.trial_id, &upload.worker_id)?;
            fence(tx, &t, upload)?;
            let row = ArtifactRow {
                sweep_id: t.sweep_id,
                trial_id: t.trial_id,
                attempt: t.attempt,
                name: upload.name.clone(),
                size,
                sha256: sha256.to_string(),
                created_ms: now.wall_ms,
            };
            tx.execute(
                "INSERT OR REPLACE INTO artifacts
                     (sweep_id, trial_id, attempt, name, size, sha256, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    row.sweep_id,
                    row.trial_id,
                    row.attempt,
                    row.name,
                    i64::try_from(size).unwrap_or(i64::MAX),
                    row.sha256,
                    now.wall_ms as i64
                ],
            )?;
            changed.push(row.sweep_id.clone());
            Ok(row)
        })
    }

    /// The sweep's artifacts (one trial's when `trial_id` is set), by trial,
    /// attempt and name; at most [`MAX_LISTED_ARTIFACTS`], and whether more
    /// were left out.
    pub fn list_artifacts(
        &self,
        sweep_id: &str,
        trial_id: Option<&str>,
    ) -> StoreResult<(Vec<ArtifactRow>, bool)> {
        self.read(|conn| {
            sweep_metric(conn, sweep_id)?;
            let mut stmt = conn.prepare_cached(
                "SELECT sweep_id, trial_id, attempt, name, size, sha256, created_ms
                 FROM artifacts WHERE sweep_id = ?1 AND (?2 IS NULL OR trial_id = ?2)
                 ORDER BY trial_id, attempt, name LIMIT ?3",
            )?;
            let mut rows: Vec<ArtifactRow> = stmt
                .query_map(
                    params![sweep_id, trial_id, MAX_LISTED_ARTIFACTS as i64 + 1],
                    row_of,
                )?
                .collect::<Result<_, _>>()?;
            let truncated = rows.len() > MAX_LISTED_ARTIFACTS;
            rows.truncate(MAX_LISTED_ARTIFACTS);
            Ok((rows, truncated))
        })
    }

    /// The artifact `name` of a trial: its latest attempt's that has one.
    pub fn find_artifact(
        &self,
        sweep_id: &str,
        trial_id: &str,
        name: &str,
    ) -> StoreResult<Option<ArtifactRow>> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT sweep_id, trial_id, attempt, name, size, sha256, created_ms
                     FROM artifacts WHERE sweep_id = ?1 AND trial_id = ?2 AND name = ?3
                     ORDER BY attempt DESC LIMIT 1",
                    params![sweep_id, trial_id, name],
                    row_of,
                )
                .optional()?)
        })
    }

    /// Deletes the rows of best weights the sweep no longer keeps and
    /// returns them (the caller deletes their files): kept are the latest
    /// attempt's of a trial still running or pending (its result is on its
    /// way), and those of the `weights_top_k` best done trials (by the
    /// sweep's metric, as the leaderboard ranks them); every other is
    /// deleted, older attempts' included.
    pub fn prune_weights(&self, sweep_id: &str) -> StoreResult<Vec<ArtifactRow>> {
        self.write(|tx, _, _| {
            let policy = policy_of(tx, sweep_id)?;
            let (_, goal) = sweep_metric(tx, sweep_id)?;
            let order = best_first(goal);
            let rows: Vec<(ArtifactRow, i64)> = tx
                .prepare(&format!(
                    "SELECT a.sweep_id, a.trial_id, a.attempt, a.name, a.size, a.sha256, a.created_ms,
                            CASE WHEN t.state IN ('running', 'pending') AND a.attempt = t.attempt THEN 0
                                 WHEN t.state = 'done' AND a.attempt = t.reported_attempt THEN 1
                                 ELSE 2 END AS class
                     FROM artifacts a JOIN trials t ON t.sweep_id = a.sweep_id AND t.trial_id = a.trial_id
                     WHERE a.sweep_id = ?1 AND a.name = ?2
                     ORDER BY class, t.metric IS NULL, t.metric {order}, t.idx"
                ))?
                .query_map(
                    params![sweep_id, ArtifactKind::BestWeights.file_name()],
                    |r| Ok((row_of(r)?, r.get(7)?)),
                )?
                .collect::<Result<_, _>>()?;
            let keep_done = if policy.keeps(ArtifactKind::BestWeights) {
                policy.weights_top_k as usize
            } else {
                0
            };
            let mut done_kept = 0;
            let mut pruned = Vec::new();
            for (row, class) in rows {
                let keep = match class {
                    0 => true,
                    1 if done_kept < keep_done => {
                        done_kept += 1;
                        true
                    }
                    _ => false,
                };
                if !keep {
                    tx.execute(
                        "DELETE FROM artifacts
                         WHERE sweep_id = ?1 AND trial_id = ?2 AND attempt = ?3 AND name = ?4",
                        params![row.sweep_id, row.trial_id, row.attempt, row.name],
                    )?;
                    pruned.push(row);
                }
            }
            Ok(pruned)
        })
    }

    /// The sweep's `artifacts:` policy.
    pub fn artifact_policy(&self, sweep_id: &str) -> StoreResult<ArtifactPolicy> {
        self.read(|conn| policy_of(conn, sweep_id))
    }
}

/// Refuses an upload the trial's state does not allow (see the module doc).
fn fence(conn: &Connection, t: &ReportedTrial, upload: &ArtifactUpload) -> StoreResult<()> {
    t.check_attempt(upload.attempt)?;
    t.check_owner(&upload.worker_id)?;
    if matches!(
        t.state,
        TrialState::Failed | TrialState::Cancelled | TrialState::Stopped
    ) || (t.state == TrialState::Done && t.reported_attempt != t.attempt)
    {
        return Err(StoreError::TrialOver {
            trial_id: t.trial_id.clone(),
            state: t.state,
        });
    }
    let policy = policy_of(conn, &t.sweep_id)?;
    if !policy.kinds.iter().any(|k| k.file_name() == upload.name) {
        return Err(StoreError::NotKept {
            sweep_id: t.sweep_id.clone(),
            name: upload.name.clone(),
            kept: policy
                .kinds
                .iter()
                .map(|k| k.file_name())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(())
}

/// The stored policy of `sweep_id` (`NULL`: the default).
pub(super) fn policy_of(conn: &Connection, sweep_id: &str) -> StoreResult<ArtifactPolicy> {
    let json: Option<Option<String>> = conn
        .query_row(
            "SELECT artifacts_json FROM sweeps WHERE id = ?1",
            [sweep_id],
            |r| r.get(0),
        )
        .optional()?;
    match json.ok_or_else(|| StoreError::NoSweep(sweep_id.to_string()))? {
        None => Ok(ArtifactPolicy::default()),
        Some(text) => serde_json::from_str(&text).map_err(|source| StoreError::CorruptJson {
            column: "sweeps.artifacts_json",
            source,
        }),
    }
}

fn row_of(r: &rusqlite::Row) -> rusqlite::Result<ArtifactRow> {
    Ok(ArtifactRow {
        sweep_id: r.get(0)?,
        trial_id: r.get(1)?,
        attempt: r.get(2)?,
        name: r.get(3)?,
        size: r.get::<_, i64>(4)? as u64,
        sha256: r.get(5)?,
        created_ms: r.get::<_, i64>(6)? as u64,
    })
}

impl Store {
    /// The key of every stored artifact: (sweep, trial, attempt, name), for
    /// the sweep of files without a row at start.
    pub fn artifact_keys(&self) -> StoreResult<std::collections::HashSet<ArtifactKey>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare("SELECT sweep_id, trial_id, attempt, name FROM artifacts")?;
            let keys = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<_, _>>()?;
            Ok(keys)
        })
    }

    /// Whether a row names this attempt's `name`.
    pub fn has_artifact(
        &self,
        sweep_id: &str,
        trial_id: &str,
        attempt: u32,
        name: &str,
    ) -> StoreResult<bool> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT 1 FROM artifacts WHERE sweep_id = ?1 AND trial_id = ?2 AND attempt = ?3 AND name = ?4",
                    params![sweep_id, trial_id, attempt, name],
                    |_| Ok(()),
                )
                .optional()?
                .is_some())
        })
    }
}
