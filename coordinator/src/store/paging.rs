//! A sweep's ranking a page at a time: the trials at positions
//! `offset..offset + limit` of the one order [`Store::list_trials`] uses
//! (done and stopped first by metric, a stopped trial after a done one at
//! an equal metric, ties and the rest by index), with their rank
//! counted from the start of the whole ranking, and how many there are.
//! Positions are stable while no trial changes state.

use super::error::StoreResult;
use super::model::{TrialInfo, TrialRanking, TrialState};
use super::sweeps::{best_first, params_text, sweep_metric, trial_state};
use super::Store;
use rusqlite::{params, Connection};

/// One page of a ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialPage {
    /// The page's trials (and the sweep's metric and goal).
    pub ranking: TrialRanking,
    /// Trials in the whole ranking (at most `top`, when `top` > 0).
    pub total: u64,
}

impl Store {
    /// The trials at positions `offset..offset + limit` of the sweep's
    /// ranking cut to its first `top` (0: all); `total` counts the cut ranking.
    pub fn list_trials_page(
        &self,
        sweep_id: &str,
        top: u32,
        offset: u64,
        limit: u64,
    ) -> StoreResult<TrialPage> {
        self.read(|conn| {
            let count: i64 = conn.query_row(
                "SELECT count(*) FROM trials WHERE sweep_id = ?1",
                [sweep_id],
                |r| r.get(0),
            )?;
            let count = count as u64;
            let total = if top == 0 {
                count
            } else {
                count.min(u64::from(top))
            };
            let limit = limit.min(total.saturating_sub(offset));
            let ranking = ranked(conn, sweep_id, offset, limit)?;
            Ok(TrialPage { ranking, total })
        })
    }
}

/// The trials at positions `offset..offset + limit` of the ranking.
pub(super) fn ranked(
    conn: &Connection,
    sweep_id: &str,
    offset: u64,
    limit: u64,
) -> StoreResult<TrialRanking> {
    let (metric_name, goal) = sweep_metric(conn, sweep_id)?;
    let order = best_first(goal);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT trial_id, idx, state, params_json, metric, test_acc, best_epoch, wall_s,
                worker_id, attempt, last_error, result_json, config_json, attempts_counted,
                epochs_done, total_epochs, reused_from_sweep
         FROM trials WHERE sweep_id = ?1
         ORDER BY state NOT IN ('done', 'stopped'), metric IS NULL, metric {order},
                  state = 'stopped', idx
         LIMIT ?2 OFFSET ?3"
    ))?;
    let as_sql = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![sweep_id, as_sql(limit), as_sql(offset)], |r| {
        Ok((
            TrialInfo {
                rank: 0,
                trial_id: r.get(0)?,
                index: r.get::<_, i64>(1)? as u64,
                state: TrialState::Pending,
                params: Vec::new(),
                metric: r.get(4)?,
                test_acc: r.get(5)?,
                best_epoch: r.get(6)?,
                wall_s: r.get(7)?,
                worker_id: r.get(8)?,
                attempts: r.get(9)?,
                last_error: r.get(10)?,
                result_json: r.get::<_, Option<String>>(11)?.unwrap_or_default(),
                config_json: r.get(12)?,
                counted_attempts: r.get(13)?,
                epochs_done: r.get(14)?,
                total_epochs: r.get(15)?,
                reused_from_sweep: r.get::<_, Option<String>>(16)?.unwrap_or_default(),
            },
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut trials = Vec::new();
    for (position, row) in (offset..).zip(rows) {
        let (mut info, state, params_json) = row?;
        info.state = trial_state(&state)?;
        info.params = params_text(&params_json)?;
        // Finished trials come first: a finished trial's rank is its position.
        if info.state.is_ranked() {
            info.rank = u32::try_from(position + 1).unwrap_or(u32::MAX);
        }
        trials.push(info);
    }
    Ok(TrialRanking {
        metric_name,
        goal,
        trials,
    })
}
