//! Early stopping inside a heartbeat's transaction: after the heartbeat's
//! epochs are stored, the sweep's `early_stop` (if any) judges the epochs
//! it brought against every other trial of the sweep (their latest
//! attempts' curves, any state). A trial it stops becomes `stopped` in the
//! same transaction, before the heartbeat is answered (so the decision is
//! durable and a coordinator restart never runs it further): with its
//! partial curve (the stored epochs), its best value so far as its metric,
//! the deciding epoch and value (`stop_epoch`, `stop_value`, what TPE learns
//! from), and the reason as its last error. For the worker, a stopped trial
//! is an outcome like done.

use super::error::{StoreError, StoreResult};
use super::reported_trial::ReportedTrial;
use super::worker_health::{self, Outcome};
use super::Changed;
use crate::search::epoch_count::Point;
use crate::search::metric::{self, Curve};
use crate::search::{Decision, EarlyStop, EpochCount};
use crate::sweepfile::Goal;
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::BTreeMap;
use sweep_proto::trial::EpochMetrics;

/// The sweep's early stopping, if it has one.
pub(super) fn rule(tx: &Transaction, sweep_id: &str) -> StoreResult<Option<EarlyStop>> {
    let json: Option<String> = tx
        .prepare_cached("SELECT early_stop_json FROM sweeps WHERE id = ?1")?
        .query_row([sweep_id], |r| r.get(0))
        .optional()?
        .flatten();
    json.map(|j| {
        serde_json::from_str(&j).map_err(|source| StoreError::CorruptJson {
            column: "sweeps.early_stop_json",
            source,
        })
    })
    .transpose()
}

/// The epochs of `t`'s latest attempt, by epoch.
fn own_epochs(tx: &Transaction, t: &ReportedTrial) -> StoreResult<Vec<EpochMetrics>> {
    let mut stmt = tx.prepare_cached(
        "SELECT json FROM epochs WHERE sweep_id = ?1 AND trial_id = ?2 AND attempt = ?3
         ORDER BY epoch",
    )?;
    let rows = stmt.query_map(params![t.sweep_id, t.trial_id, t.attempt], |r| {
        r.get::<_, String>(0)
    })?;
    rows.map(|json| parse(&json?)).collect()
}

fn parse(json: &str) -> StoreResult<EpochMetrics> {
    serde_json::from_str(json).map_err(|source| StoreError::CorruptJson {
        column: "epochs.json",
        source,
    })
}

/// The curves (metric `name`, epochs up to `until`) of the sweep's trials
/// other than `t`, each from its latest attempt with epochs, on `count`,
/// by trial id.
fn other_curves(
    tx: &Transaction,
    t: &ReportedTrial,
    name: &str,
    until: u32,
    count: EpochCount,
) -> StoreResult<BTreeMap<String, Curve>> {
    let mut stmt = tx.prepare_cached(
        "SELECT trial_id, attempt, epoch, json FROM epochs
         WHERE sweep_id = ?1 AND trial_id <> ?2 AND epoch <= ?3
         ORDER BY trial_id, attempt, epoch",
    )?;
    let rows = stmt.query_map(params![t.sweep_id, t.trial_id, until], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, u32>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut points: BTreeMap<String, (u32, Vec<Point>)> = BTreeMap::new();
    for row in rows {
        let (trial, attempt, epoch, json) = row?;
        let e = parse(&json)?;
        let entry = points.entry(trial).or_insert((attempt, Vec::new()));
        if attempt > entry.0 {
            *entry = (attempt, Vec::new());
        }
        entry.1.push((epoch, e.phase, metric::value(&e, name)));
    }
    Ok(points
        .into_iter()
        .map(|(trial, (_, p))| (trial, count.count(&p).curve))
        .collect())
}

/// The curves among `curves` of the sweep's other trials that are still
/// open (pending or running; empty for those without epochs).
fn open_curves(
    tx: &Transaction,
    t: &ReportedTrial,
    curves: &BTreeMap<String, Curve>,
) -> StoreResult<Vec<Curve>> {
    let mut stmt = tx.prepare_cached(
        "SELECT trial_id FROM trials
         WHERE sweep_id = ?1 AND trial_id <> ?2 AND state IN ('pending', 'running')",
    )?;
    let ids = stmt.query_map(params![t.sweep_id, t.trial_id], |r| r.get::<_, String>(0))?;
    ids.map(|id| Ok(curves.get(&id?).cloned().unwrap_or_default()))
        .collect()
}

/// Judges the heartbeat's `new` epochs of `t` (a trial of `total_epochs`)
/// under `rule` (with `rejudge`, also the rungs it passed before, even when
/// `new` is empty); a trial it stops is stored as `stopped` (see the module
/// doc) and the decision returned.
#[allow(clippy::too_many_arguments)]
pub(super) fn judge(
    tx: &Transaction,
    t: &ReportedTrial,
    rule: &EarlyStop,
    new: &[u32],
    total_epochs: u32,
    goal: Goal,
    quarantine_after: u32,
    changed: &mut Changed,
) -> StoreResult<Option<Decision>> {
    if new.is_empty() && !rule.rejudges() {
        return Ok(None);
    }
    let epochs = own_epochs(tx, t)?;
    // With `rejudge`, a heartbeat without new epochs judges the passed rungs
    // again: up to the trial's latest epoch.
    let latest = epochs.iter().map(|e| e.epoch).max();
    let Some(until) = new.iter().copied().max().max(latest) else {
        return Ok(None);
    };
    // Everything on the rule's count: with `phase2`, each trial's phase-2
    // epochs from 1 (others' phase 1 may be longer, so their curves are
    // read whole), and the decision mapped back to this trial's epoch.
    let count = rule.epochs();
    let own_points: Vec<Point> = epochs
        .iter()
        .map(|e| (e.epoch, e.phase, metric::value(e, rule.metric())))
        .collect();
    let own = count.count(&own_points);
    let counted_new: Vec<u32> = new
        .iter()
        .filter(|e| **e > own.offset)
        .map(|e| e - own.offset)
        .collect();
    let others_until = match count {
        EpochCount::All => until,
        EpochCount::Phase2 => u32::MAX,
    };
    let curves = other_curves(tx, t, rule.metric(), others_until, count)?;
    let open = if rule.rejudges() {
        open_curves(tx, t, &curves)?
    } else {
        Vec::new()
    };
    let others: Vec<Curve> = curves.into_values().collect();
    let counted_total = total_epochs.saturating_sub(own.offset);
    let Some(mut decision) = rule.decide(&counted_new, &own.curve, &others, &open, counted_total)
    else {
        return Ok(None);
    };
    let stop_value = metric::at(&own.curve, decision.epoch).filter(|v| v.is_finite());
    decision.epoch += own.offset;
    // Its best so far in the sweep's ranking metric.
    let ranking: Curve = epochs
        .iter()
        .map(|e| (e.epoch, metric::value(e, &t.metric_name)))
        .collect();
    let epochs_done = epochs.iter().map(|e| e.epoch).max().unwrap_or(0);
    let best = metric::best_until(&ranking, goal, epochs_done).filter(|(_, v)| v.is_finite());
    let wall_s: f64 = epochs
        .iter()
        .map(|e| e.wall_s)
        .filter(|w| w.is_finite())
        .sum();
    tx.execute(
        "UPDATE trials
         SET state = 'stopped', lease_deadline_ms = NULL, reported_attempt = attempt,
             metric = ?3, best_epoch = ?4, wall_s = ?5, last_error = ?6, epochs_done = ?7,
             stop_epoch = ?8, stop_value = ?9
         WHERE sweep_id = ?1 AND trial_id = ?2",
        params![
            t.sweep_id,
            t.trial_id,
            best.map(|b| b.1),
            best.map_or(0, |b| b.0),
            wall_s,
            decision.reason,
            epochs_done,
            decision.epoch,
            stop_value,
        ],
    )?;
    worker_health::record(
        tx,
        &t.worker_id,
        (&t.sweep_id, &t.trial_id),
        Outcome::Done,
        "",
        quarantine_after,
        changed,
    )?;
    tracing::info!(
        trial = %t.trial_id,
        "trial {} of sweep {}: {}; {} of {total_epochs} epochs run",
        t.trial_id,
        t.sweep_id,
        decision.reason,
        epochs_done
    );
    Ok(Some(decision))
}
