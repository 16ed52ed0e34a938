//! Store types to `sweep.v1` messages.

use crate::store::{self, SweepState, TrialState, WorkerState};
use sweep_proto::v1;

pub fn sweep_state(s: SweepState) -> v1::SweepState {
    match s {
        SweepState::Running => v1::SweepState::Running,
        SweepState::Finished => v1::SweepState::Finished,
        SweepState::Cancelled => v1::SweepState::Cancelled,
    }
}

pub fn trial_state(s: TrialState) -> v1::TrialState {
    match s {
        TrialState::Pending => v1::TrialState::Pending,
        TrialState::Running => v1::TrialState::Running,
        TrialState::Done => v1::TrialState::Done,
        TrialState::Failed => v1::TrialState::Failed,
        TrialState::Cancelled => v1::TrialState::Cancelled,
        TrialState::Stopped => v1::TrialState::Stopped,
    }
}

pub fn summary(s: store::SweepSummary) -> v1::SweepSummary {
    let (best_metric, best_trial_id) = match s.best {
        Some((m, id)) => (Some(m), id),
        None => (None, String::new()),
    };
    v1::SweepSummary {
        sweep_id: s.sweep_id,
        name: s.name,
        state: sweep_state(s.state) as i32,
        metric_name: s.metric_name,
        metric_goal: s.goal.as_str().to_string(),
        created_unix_ms: s.created_unix_ms,
        total: s.counts.total,
        pending: s.counts.pending,
        running: s.counts.running,
        done: s.counts.done,
        failed: s.counts.failed,
        cancelled: s.counts.cancelled,
        best_metric,
        best_trial_id,
        running_trials: s
            .running
            .into_iter()
            .map(|r| v1::RunningTrial {
                trial_id: r.trial_id,
                attempt: r.attempt,
                worker_id: r.worker_id,
                epochs_done: r.epochs_done,
                total_epochs: r.total_epochs,
                last_val_acc: r.last_val_acc,
            })
            .collect(),
        workers_active: s.workers.active,
        workers_quarantined: s.workers.quarantined,
        stalled_reason: s.stalled_reason,
        stopped: s.counts.stopped,
        epochs_run: s.counts.epochs_run,
        epochs_saved: s.counts.epochs_saved,
        reused: s.counts.reused,
        sharing_off: !s.execution.sharing,
        reuse_off: !s.execution.reuse,
    }
}

pub fn worker_state(s: WorkerState) -> v1::WorkerState {
    match s {
        WorkerState::Active => v1::WorkerState::Active,
        WorkerState::Draining => v1::WorkerState::Draining,
        WorkerState::Quarantined => v1::WorkerState::Quarantined,
        WorkerState::Gone => v1::WorkerState::Gone,
    }
}

pub fn worker(w: store::WorkerStatus) -> v1::WorkerInfo {
    v1::WorkerInfo {
        worker_id: w.worker_id,
        hostname: w.hostname,
        slots: w.slots,
        cores: w.cores,
        version: w.version,
        registered_unix_ms: w.registered_unix_ms,
        last_seen_unix_ms: w.last_seen_unix_ms,
        state: worker_state(w.state) as i32,
        done: w.done,
        failed: w.failed,
        environment_failures: w.environment_failures,
        running: w.running,
        quarantine_reason: w.quarantine_reason,
    }
}

pub fn failure_cause(cause: i32) -> store::FailureCause {
    match v1::FailureCause::try_from(cause) {
        Ok(v1::FailureCause::Environment) => store::FailureCause::Environment,
        // Unspecified and unknown values are treated as the trial's fault.
        _ => store::FailureCause::Trial,
    }
}

pub fn ranking(r: store::TrialRanking) -> v1::ListTrialsResponse {
    v1::ListTrialsResponse {
        metric_name: r.metric_name,
        metric_goal: r.goal.as_str().to_string(),
        trials: r
            .trials
            .into_iter()
            .map(|t| v1::TrialInfo {
                rank: t.rank,
                trial_id: t.trial_id,
                state: trial_state(t.state) as i32,
                params: t.params.into_iter().collect(),
                metric: t.metric,
                test_acc: t.test_acc,
                best_epoch: t.best_epoch,
                wall_s: t.wall_s,
                worker_id: t.worker_id,
                attempts: t.attempts,
                last_error: t.last_error,
                result_json: t.result_json,
                config_json: t.config_json,
                epochs_done: t.epochs_done,
                total_epochs: t.total_epochs,
                reused_from_sweep: t.reused_from_sweep,
            })
            .collect(),
        ..Default::default()
    }
}

pub fn lease(l: store::LeaseGrant) -> v1::Lease {
    v1::Lease {
        sweep_id: l.sweep_id,
        trial_id: l.trial_id,
        attempt: l.attempt,
        config_json: l.config_json,
        lease_ms: l.lease_ms,
        artifacts: l.artifacts,
        sharing_off: l.sharing_off,
    }
}

pub fn artifact(a: store::ArtifactRow) -> v1::ArtifactInfo {
    v1::ArtifactInfo {
        sweep_id: a.sweep_id,
        trial_id: a.trial_id,
        attempt: a.attempt,
        name: a.name,
        size: a.size,
        sha256: a.sha256,
        created_unix_ms: a.created_ms,
    }
}
