//! Sweeps: storing a checked sweep with all its trials (a TPE sweep with
//! its plan: its trials come later, see `proposals`), cancelling it,
//! summarising it (stopped trials and the epochs they saved) and ranking
//! its trials by the sweep's validation metric.

use super::error::{StoreError, StoreResult};
use super::model::{
    RunningTrial, SweepState, SweepSummary, TrialCounts, TrialRanking, TrialState, WorkerCounts,
};
use super::reuse::{self, InputFingerprints, Submitted};
use super::worker_health;
use super::{ids, Store};
use crate::sweepfile::{Goal, Sweep};
use rusqlite::{params, Connection, OptionalExtension};
use sweep_proto::trial::EpochMetrics;

impl Store {
    /// Stores `sweep` and all its trials (pending) in one transaction and
    /// returns the new sweep's id. `yaml` and `source_name` are kept as
    /// submitted. Without input fingerprints no trial is reused (see
    /// [`Store::submit_sweep`]).
    pub fn create_sweep(
        &self,
        sweep: &Sweep,
        yaml: &str,
        source_name: &str,
    ) -> StoreResult<String> {
        Ok(self
            .submit_sweep(sweep, yaml, source_name, &InputFingerprints::new())?
            .sweep_id)
    }

    /// Stores `sweep` and all its trials in one transaction, with the
    /// submitter's `inputs` fingerprints: a trial that finished done in an
    /// earlier sweep on the same inputs is stored done as its copy (unless
    /// the sweep says `execution: {reuse: off}`; see `reuse`), the others
    /// pending.
    pub fn submit_sweep(
        &self,
        sweep: &Sweep,
        yaml: &str,
        source_name: &str,
        inputs: &InputFingerprints,
    ) -> StoreResult<Submitted> {
        self.write(|tx, now, changed| {
            let id = ids::unused(tx, "sweeps", || ids::short_id("sw-", &sweep.name))?;
            tx.execute(
                "INSERT INTO sweeps (id, name, source_name, yaml, metric_name, goal, method,
                                     parallelism, max_attempts, state, created_ms, planned,
                                     early_stop_json, tpe_json, artifacts_json, execution_json,
                                     inputs_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'running', ?10, ?11, ?12, ?13, ?14,
                         ?15, ?16)",
                params![
                    id,
                    sweep.name,
                    source_name,
                    yaml,
                    sweep.metric_name,
                    sweep.goal.as_str(),
                    sweep.method.as_str(),
                    sweep.parallelism,
                    sweep.max_attempts,
                    now.wall_ms as i64,
                    i64::try_from(sweep.planned()).unwrap_or(i64::MAX),
                    sweep
                        .early_stop
                        .as_ref()
                        .map(|e| serde_json::to_string(e).expect("early_stop serialises")),
                    sweep
                        .tpe
                        .as_ref()
                        .map(|t| serde_json::to_string(t).expect("a TPE plan serialises")),
                    serde_json::to_string(&sweep.artifacts).expect("an artifact policy serialises"),
                    (!sweep.execution.is_default()).then(|| {
                        serde_json::to_string(&sweep.execution).expect("execution serialises")
                    }),
                    (!inputs.is_empty())
                        .then(|| serde_json::to_string(inputs).expect("fingerprints serialise")),
                ],
            )?;
            let mut submitted = Submitted {
                sweep_id: id.clone(),
                ..Submitted::default()
            };
            let mut insert = tx.prepare(
                "INSERT INTO trials (sweep_id, trial_id, idx, config_json, params_json, state, total_epochs)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6)",
            )?;
            for (idx, point) in sweep.points.iter().enumerate() {
                if sweep.execution.reuse {
                    match reuse::try_reuse(tx, &id, idx as i64, point, inputs)? {
                        reuse::Outcome::Reused => {
                            submitted.reused += 1;
                            continue;
                        }
                        reuse::Outcome::Unverified => submitted.unverified += 1,
                        reuse::Outcome::InputsDiffer => submitted.inputs_differ += 1,
                        reuse::Outcome::New => {}
                    }
                }
                insert.execute(params![
                    id,
                    point.trial_id,
                    idx as i64,
                    point.config.canonical_json(),
                    point.params_json(),
                    point.config.total_epochs(),
                ])?;
            }
            changed.push(id.clone());
            Ok(submitted)
        })
    }

    /// Cancels a running sweep: its pending trials become cancelled, nothing
    /// more is leased (or proposed), and running trials are told to stop at their next
    /// heartbeat. A finished or already cancelled sweep is left as it is.
    pub fn cancel_sweep(&self, sweep_id: &str) -> StoreResult<SweepSummary> {
        let gone_after_ms = self.gone_after_ms();
        self.write(|tx, now, changed| {
            let workers = worker_health::counts(tx, now.wall_ms, gone_after_ms)?;
            let before = summary(tx, sweep_id, workers)?;
            if before.state == SweepState::Running {
                tx.execute(
                    "UPDATE sweeps SET state = 'cancelled', proposals_closed = 1 WHERE id = ?1",
                    [sweep_id],
                )?;
                tx.execute(
                    "UPDATE trials SET state = 'cancelled', last_error = 'sweep cancelled'
                     WHERE sweep_id = ?1 AND state = 'pending'",
                    [sweep_id],
                )?;
                changed.push(sweep_id.to_string());
            }
            summary(tx, sweep_id, workers)
        })
    }

    /// The sweep at a glance.
    pub fn sweep_summary(&self, sweep_id: &str) -> StoreResult<SweepSummary> {
        self.read(|conn| {
            let workers = self.worker_counts(conn)?;
            summary(conn, sweep_id, workers)
        })
    }

    /// The known workers by state now.
    fn worker_counts(&self, conn: &Connection) -> StoreResult<WorkerCounts> {
        worker_health::counts(conn, self.clock.wall_ms(), self.gone_after_ms())
    }

    /// Every sweep, oldest first.
    pub fn list_sweeps(&self) -> StoreResult<Vec<SweepSummary>> {
        self.read(|conn| {
            let ids: Vec<String> = conn
                .prepare("SELECT id FROM sweeps ORDER BY seq")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let workers = self.worker_counts(conn)?;
            ids.iter().map(|id| summary(conn, id, workers)).collect()
        })
    }

    /// The sweep's trials: finished ones first, ranked by the sweep's metric
    /// (per its goal, ties by index; those without a metric — diverged or
    /// non-finite, stored as `NULL` — last, whatever the goal), then the
    /// others by index. `top` > 0 keeps only the first `top`.
    pub fn list_trials(&self, sweep_id: &str, top: u32) -> StoreResult<TrialRanking> {
        Ok(self.list_trials_page(sweep_id, top, 0, u64::MAX)?.ranking)
    }
}

impl Store {
    /// The epochs recorded for a trial (from heartbeats and its result):
    /// (attempt, metrics), by attempt then epoch.
    pub fn trial_epochs(
        &self,
        sweep_id: &str,
        trial_id: &str,
    ) -> StoreResult<Vec<(u32, EpochMetrics)>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT attempt, json FROM epochs WHERE sweep_id = ?1 AND trial_id = ?2
                 ORDER BY attempt, epoch",
            )?;
            let rows = stmt.query_map([sweep_id, trial_id], |r| {
                Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?))
            })?;
            rows.map(|row| {
                let (attempt, json) = row?;
                let metrics =
                    serde_json::from_str(&json).map_err(|source| StoreError::CorruptJson {
                        column: "epochs.json",
                        source,
                    })?;
                Ok((attempt, metrics))
            })
            .collect()
        })
    }
}

/// Reads a trial state column.
pub(super) fn trial_state(s: &str) -> StoreResult<TrialState> {
    TrialState::parse(s).ok_or_else(|| StoreError::Corrupt(format!("trial state `{s}`")))
}

/// `{"a.b": 1}` → `[("a.b", "1")]`.
pub(super) fn params_text(json: &str) -> StoreResult<Vec<(String, String)>> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|source| StoreError::CorruptJson {
            column: "trials.params_json",
            source,
        })?;
    Ok(map.into_iter().map(|(k, v)| (k, v.to_string())).collect())
}

/// Reads a goal column.
fn parse_goal(s: &str) -> StoreResult<Goal> {
    Goal::parse(s).ok_or_else(|| StoreError::Corrupt(format!("goal `{s}`")))
}

/// The SQL sort order that puts the best metric first.
pub(super) fn best_first(goal: Goal) -> &'static str {
    match goal {
        Goal::Maximize => "DESC",
        Goal::Minimize => "ASC",
    }
}

/// The sweep's metric and goal.
pub(super) fn sweep_metric(conn: &Connection, sweep_id: &str) -> StoreResult<(String, Goal)> {
    let row: Option<(String, String)> = conn
        .query_row(
            "SELECT metric_name, goal FROM sweeps WHERE id = ?1",
            [sweep_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (metric, goal) = row.ok_or_else(|| StoreError::NoSweep(sweep_id.to_string()))?;
    Ok((metric, parse_goal(&goal)?))
}

/// The summary of one sweep, read on `conn` (inside or outside a
/// transaction), with the known `workers` by state.
pub(super) fn summary(
    conn: &Connection,
    sweep_id: &str,
    workers: WorkerCounts,
) -> StoreResult<SweepSummary> {
    let row: Option<(String, String, String, String, i64, i64, bool)> = conn
        .query_row(
            "SELECT name, metric_name, goal, state, created_ms, planned, proposals_closed
             FROM sweeps WHERE id = ?1",
            [sweep_id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .optional()?;
    let (name, metric_name, goal, stored_state, created_ms, planned, closed) =
        row.ok_or_else(|| StoreError::NoSweep(sweep_id.to_string()))?;
    let goal = parse_goal(&goal)?;

    let mut counts = TrialCounts::default();
    // A reused trial ran no epoch here.
    let mut stmt = conn.prepare_cached(
        "SELECT state, count(*),
                sum(CASE WHEN reused_from_sweep IS NULL THEN epochs_done ELSE 0 END),
                sum(total_epochs - epochs_done), count(reused_from_sweep)
         FROM trials WHERE sweep_id = ?1 GROUP BY state",
    )?;
    for row in stmt.query_map([sweep_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })? {
        let (state, n, run, left, reused) = row?;
        let n = n as u64;
        counts.reused += reused.max(0) as u64;
        counts.total += n;
        let state = trial_state(&state)?;
        if matches!(
            state,
            TrialState::Done | TrialState::Stopped | TrialState::Running
        ) {
            counts.epochs_run += run.max(0) as u64;
        }
        match state {
            TrialState::Pending => counts.pending = n,
            TrialState::Running => counts.running = n,
            TrialState::Done => counts.done = n,
            TrialState::Failed => counts.failed = n,
            TrialState::Cancelled => counts.cancelled = n,
            TrialState::Stopped => {
                counts.stopped = n;
                counts.epochs_saved = left.max(0) as u64;
            }
        }
    }
    // A TPE sweep's trials not proposed yet count as pending.
    if stored_state == "running" && !closed {
        let unproposed = (planned.max(0) as u64).saturating_sub(counts.total);
        counts.pending += unproposed;
        counts.total += unproposed;
    }

    let order = best_first(goal);
    let best = conn
        .query_row(
            &format!(
                "SELECT metric, trial_id FROM trials
                 WHERE sweep_id = ?1 AND state IN ('done', 'stopped') AND metric IS NOT NULL
                 ORDER BY metric {order}, state = 'stopped', idx LIMIT 1"
            ),
            [sweep_id],
            |r| Ok((r.get::<_, f64>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()?;

    let mut stmt = conn.prepare_cached(
        "SELECT trial_id, attempt, worker_id, epochs_done, total_epochs, last_val_acc
         FROM trials WHERE sweep_id = ?1 AND state = 'running' ORDER BY idx",
    )?;
    let running = stmt
        .query_map([sweep_id], |r| {
            Ok(RunningTrial {
                trial_id: r.get(0)?,
                attempt: r.get(1)?,
                worker_id: r.get(2)?,
                epochs_done: r.get(3)?,
                total_epochs: r.get(4)?,
                last_val_acc: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;

    let state = match stored_state.as_str() {
        "cancelled" => SweepState::Cancelled,
        "running" if counts.pending + counts.running == 0 => SweepState::Finished,
        "running" => SweepState::Running,
        other => return Err(StoreError::Corrupt(format!("sweep state `{other}`"))),
    };
    Ok(SweepSummary {
        execution: reuse::execution_of(conn, sweep_id)?,
        sweep_id: sweep_id.to_string(),
        name,
        state,
        metric_name,
        goal,
        created_unix_ms: created_ms as u64,
        counts,
        best,
        running,
        workers,
        stalled_reason: if state == SweepState::Running {
            worker_health::stalled_reason(counts.pending, &workers)
        } else {
            String::new()
        },
    })
}
