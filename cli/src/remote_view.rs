//! A sweep's [`SweepView`] rebuilt from what the coordinator answers over
//! gRPC (`GetSweep`, every page of `ListTrials`), for `sweep report` without
//! `--db`: the trials' rows as the store would give them, each finished
//! trial's learning curve from its result, and the best trial's page from
//! its config and result (the epochs of a trial still running and the
//! workers' outcome history are not on the wire, so the report leaves them
//! out).

use serde_json::Value;
use sweep_coordinator::dashboard::json::{self, TrialParts};
use sweep_coordinator::dashboard::SweepView;
use sweep_coordinator::store::{
    RunningTrial, SweepState, SweepSummary, TrialCounts, TrialInfo, TrialState, WorkerCounts,
};
use sweep_coordinator::sweepfile::{Execution, Goal};
use sweep_proto::trial::{EpochMetrics, TrialResult};
use sweep_proto::v1;

/// The view of `summary`'s sweep with the trials of `ranking`, and the best
/// trial's page document.
pub fn view(
    summary: v1::SweepSummary,
    ranking: v1::ListTrialsResponse,
) -> (SweepView, Option<Value>) {
    let trials: Vec<TrialInfo> = ranking
        .trials
        .into_iter()
        .enumerate()
        .map(|(index, t)| trial(index as u64, t))
        .collect();
    let curves: Vec<(String, Vec<EpochMetrics>)> = trials
        .iter()
        .filter_map(|t| {
            let result: TrialResult = serde_json::from_str(&t.result_json).ok()?;
            Some((t.trial_id.clone(), result.epochs))
        })
        .collect();
    let documents: Vec<(String, String, String)> = trials
        .iter()
        .map(|t| {
            (
                t.trial_id.clone(),
                t.config_json.clone(),
                t.result_json.clone(),
            )
        })
        .collect();
    let view = SweepView::from_parts(sweep(summary), trials, curves);
    let best = view.best().and_then(|row| {
        let (_, config, result) = documents.iter().find(|(id, _, _)| *id == row.trial_id)?;
        let epochs = serde_json::from_str::<TrialResult>(result)
            .map(|r| r.epochs)
            .unwrap_or_default();
        json::trial_from_parts(
            &view,
            &row.trial_id,
            TrialParts {
                config_json: config,
                result_json: result,
                attempt: row.attempts,
                epochs: &epochs,
                outcomes: &[],
            },
        )
    });
    (view, best)
}

fn sweep(s: v1::SweepSummary) -> SweepSummary {
    let state = match v1::SweepState::try_from(s.state) {
        Ok(v1::SweepState::Finished) => SweepState::Finished,
        Ok(v1::SweepState::Cancelled) => SweepState::Cancelled,
        _ => SweepState::Running,
    };
    SweepSummary {
        best: s.best_metric.map(|m| (m, s.best_trial_id.clone())),
        sweep_id: s.sweep_id,
        name: s.name,
        state,
        metric_name: s.metric_name,
        goal: Goal::parse(&s.metric_goal).unwrap_or(Goal::Maximize),
        created_unix_ms: s.created_unix_ms,
        counts: TrialCounts {
            total: s.total,
            pending: s.pending,
            running: s.running,
            done: s.done,
            failed: s.failed,
            cancelled: s.cancelled,
            stopped: s.stopped,
            epochs_run: s.epochs_run,
            epochs_saved: s.epochs_saved,
            reused: s.reused,
        },
        running: s
            .running_trials
            .into_iter()
            .map(|r| RunningTrial {
                trial_id: r.trial_id,
                attempt: r.attempt,
                worker_id: r.worker_id,
                epochs_done: r.epochs_done,
                total_epochs: r.total_epochs,
                last_val_acc: r.last_val_acc,
            })
            .collect(),
        workers: WorkerCounts::default(),
        stalled_reason: s.stalled_reason,
        execution: Execution {
            sharing: !s.sharing_off,
            reuse: !s.reuse_off,
        },
    }
}

fn trial(index: u64, t: v1::TrialInfo) -> TrialInfo {
    let state = match v1::TrialState::try_from(t.state) {
        Ok(v1::TrialState::Running) => TrialState::Running,
        Ok(v1::TrialState::Done) => TrialState::Done,
        Ok(v1::TrialState::Failed) => TrialState::Failed,
        Ok(v1::TrialState::Cancelled) => TrialState::Cancelled,
        Ok(v1::TrialState::Stopped) => TrialState::Stopped,
        _ => TrialState::Pending,
    };
    let mut params: Vec<(String, String)> = t.params.into_iter().collect();
    params.sort();
    TrialInfo {
        rank: t.rank,
        trial_id: t.trial_id,
        index,
        state,
        params,
        metric: t.metric,
        test_acc: t.test_acc,
        best_epoch: t.best_epoch,
        wall_s: t.wall_s,
        worker_id: t.worker_id,
        attempts: t.attempts,
        counted_attempts: t.attempts,
        last_error: t.last_error,
        result_json: t.result_json,
        config_json: t.config_json,
        epochs_done: t.epochs_done,
        total_epochs: t.total_epochs,
        reused_from_sweep: t.reused_from_sweep,
    }
}
