//! A heartbeat's or a result's epoch numbers against the trial's own
//! length: its stored config's `phase1.epochs + phase2.epochs`, never what
//! the request says. `epochs_done` may not exceed it and every reported epoch
//! (and a result's `best_epoch`) is numbered from 1 to it; the
//! `total_epochs` a worker sends is not used (the store keeps the config's).

use super::error::{StoreError, StoreResult};
use super::model::HeartbeatReport;
use super::reported_trial::ReportedTrial;
use rusqlite::{params, Transaction};
use sweep_proto::trial::{EpochMetrics, TrialResult};

/// Refuses a result whose epochs (or best epoch) do not fit the trial `t`.
pub(super) fn check_result(
    tx: &Transaction,
    t: &ReportedTrial,
    result: &TrialResult,
) -> StoreResult<()> {
    let total = total_epochs(tx, t)?;
    let out_of_range = |field: String, got: u32| StoreError::EpochOutOfRange {
        trial_id: t.trial_id.clone(),
        field,
        got,
        total,
    };
    for (i, e) in result.epochs.iter().enumerate() {
        if e.epoch == 0 || e.epoch > total {
            return Err(out_of_range(format!("result.epochs[{i}].epoch"), e.epoch));
        }
    }
    if result.best_epoch > total {
        return Err(out_of_range("result.best_epoch".into(), result.best_epoch));
    }
    Ok(())
}

/// The trial's number of epochs: the column its stored config's
/// `total_epochs()` was written to at submit (read instead of parsing the
/// config on every report; heartbeats only ever write that same value back).
fn total_epochs(tx: &Transaction, t: &ReportedTrial) -> StoreResult<u32> {
    Ok(tx
        .prepare_cached("SELECT total_epochs FROM trials WHERE sweep_id = ?1 AND trial_id = ?2")?
        .query_row(params![t.sweep_id, t.trial_id], |r| r.get(0))?)
}

/// Refuses a heartbeat whose epochs do not fit the trial `t`; else the
/// trial's number of epochs.
pub(super) fn check(
    tx: &Transaction,
    t: &ReportedTrial,
    report: &HeartbeatReport,
    epochs: &[(EpochMetrics, String)],
) -> StoreResult<u32> {
    let total = total_epochs(tx, t)?;
    let out_of_range = |field: String, got: u32| StoreError::EpochOutOfRange {
        trial_id: t.trial_id.clone(),
        field,
        got,
        total,
    };
    if report.epochs_done > total {
        return Err(out_of_range("epochs_done".into(), report.epochs_done));
    }
    for (i, (e, _)) in epochs.iter().enumerate() {
        if e.epoch == 0 || e.epoch > total {
            return Err(out_of_range(format!("epoch_json[{i}].epoch"), e.epoch));
        }
    }
    Ok(total)
}
