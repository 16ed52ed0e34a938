//! What the store hands in and out: trial and sweep states, a lease, the
//! reports workers send, and the summaries and rankings clients read. Plain
//! Rust types; the gRPC mapping lives in `service`.

use crate::sweepfile::Goal;

/// Where a trial stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrialState {
    Pending,
    Running,
    Done,
    Failed,
    Cancelled,
    /// Stopped early by the sweep's `early_stop`: terminal, ranked by its
    /// best value so far.
    Stopped,
}

impl TrialState {
    pub fn as_str(self) -> &'static str {
        match self {
            TrialState::Pending => "pending",
            TrialState::Running => "running",
            TrialState::Done => "done",
            TrialState::Failed => "failed",
            TrialState::Cancelled => "cancelled",
            TrialState::Stopped => "stopped",
        }
    }

    /// Done, failed, cancelled or stopped: a trial in one of these never runs again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TrialState::Done | TrialState::Failed | TrialState::Cancelled | TrialState::Stopped
        )
    }

    /// Done or stopped: it has a place in the ranking.
    pub fn is_ranked(self) -> bool {
        matches!(self, TrialState::Done | TrialState::Stopped)
    }

    pub fn parse(s: &str) -> Option<TrialState> {
        Some(match s {
            "pending" => TrialState::Pending,
            "running" => TrialState::Running,
            "done" => TrialState::Done,
            "failed" => TrialState::Failed,
            "cancelled" => TrialState::Cancelled,
            "stopped" => TrialState::Stopped,
            _ => return None,
        })
    }
}

/// Where a sweep stands. `Finished` is derived: no trial pending or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepState {
    Running,
    Finished,
    Cancelled,
}

impl SweepState {
    /// Whether a watcher has seen the last of this sweep.
    pub fn is_over(self) -> bool {
        self != SweepState::Running
    }
}

/// A worker introducing itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerInfo {
    pub hostname: String,
    pub cores: u32,
    pub slots: u32,
    pub version: String,
}

/// What `Register` hands a new worker: its id and the secret that proves,
/// in every later call, that the caller is this worker (the store keeps only
/// its SHA-256).
#[derive(Clone, PartialEq, Eq)]
pub struct Registration {
    pub worker_id: String,
    pub secret: String,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("worker_id", &self.worker_id)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// Where a worker stands, as lists and summaries show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkerState {
    /// May lease.
    Active,
    /// Said it is shutting down: finishes what it holds, leases nothing new.
    Draining,
    /// Its latest outcomes were environment failures: leases nothing new.
    Quarantined,
    /// Not heard from for longer than two leases.
    Gone,
}

impl WorkerState {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Active => "active",
            WorkerState::Draining => "draining",
            WorkerState::Quarantined => "quarantined",
            WorkerState::Gone => "gone",
        }
    }
}

/// One worker as `ListWorkers` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerStatus {
    pub worker_id: String,
    pub hostname: String,
    pub cores: u32,
    pub slots: u32,
    pub version: String,
    pub registered_unix_ms: u64,
    pub last_seen_unix_ms: u64,
    pub state: WorkerState,
    /// Trials it completed.
    pub done: u64,
    /// Its failures that counted an attempt.
    pub failed: u64,
    /// Trials it gave back for environment reasons (no attempt counted).
    pub environment_failures: u64,
    /// Trials it runs now.
    pub running: u32,
    /// Why it is quarantined (empty unless it is).
    pub quarantine_reason: String,
}

/// How many known workers are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerCounts {
    pub active: u64,
    pub draining: u64,
    pub quarantined: u64,
    pub gone: u64,
}

impl WorkerCounts {
    pub fn known(&self) -> u64 {
        self.active + self.draining + self.quarantined + self.gone
    }
}

/// One trial handed to one worker.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseGrant {
    pub sweep_id: String,
    pub trial_id: String,
    /// 1 for the first lease of the trial, one more for each later one.
    pub attempt: u32,
    /// The resolved `TrialConfig`, canonical JSON.
    pub config_json: String,
    pub lease_ms: u64,
    /// The artifact kinds the sweep keeps (`best_weights`, `gradcam`,
    /// `confusion`), for the worker to make and upload.
    pub artifacts: Vec<String>,
    /// The sweep said `execution: {sharing: off}` (see `Lease.sharing_off`).
    pub sharing_off: bool,
}

/// A running trial's sign of life.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeartbeatReport {
    /// The lease's sweep; empty = find the trial by id alone (older workers).
    pub sweep_id: String,
    pub worker_id: String,
    pub trial_id: String,
    pub attempt: u32,
    /// `EpochMetrics` JSON, one per epoch finished since the last accepted heartbeat.
    pub epoch_json: Vec<String>,
    pub epochs_done: u32,
    pub total_epochs: u32,
}

/// The coordinator's answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    /// The sweep was cancelled, or the trial stopped early: stop, report
    /// nothing more.
    pub stop: bool,
    pub lease_ms: u64,
    /// Set when the trial was stopped early (it is `stopped` now): why.
    pub stopped_early: Option<String>,
}

/// A finished trial's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompletionReport {
    /// The lease's sweep; empty = find the trial by id alone (older workers).
    pub sweep_id: String,
    pub worker_id: String,
    pub trial_id: String,
    pub attempt: u32,
    /// `TrialResult` JSON.
    pub result_json: String,
}

/// A trial that did not finish.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailureReport {
    /// The lease's sweep; empty = find the trial by id alone (older workers).
    pub sweep_id: String,
    pub worker_id: String,
    pub trial_id: String,
    pub attempt: u32,
    pub error: String,
    /// Given back unfinished (worker shutting down): pending again, not
    /// counted, up to the policy's `max_handbacks`.
    pub handed_back: bool,
    /// Whose fault it is: an environment failure is given back without
    /// counting an attempt and counts against the worker.
    pub cause: FailureCause,
}

/// Whose fault a failure is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FailureCause {
    /// The trial failed by itself (bad values): counts an attempt.
    #[default]
    Trial,
    /// The worker's environment (data or weights missing, out of memory, a
    /// crashed trial process): no attempt counted; counts against the worker.
    Environment,
}

/// How many trials of a sweep are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrialCounts {
    pub total: u64,
    pub pending: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Stopped early by the sweep's `early_stop`.
    pub stopped: u64,
    /// Epochs trials ran (done, stopped and running ones, latest attempts).
    pub epochs_run: u64,
    /// Epochs stopped trials did not run.
    pub epochs_saved: u64,
    /// Done trials copied from an earlier sweep (counted in `done` too).
    pub reused: u64,
}

/// One running trial in a summary.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningTrial {
    pub trial_id: String,
    pub attempt: u32,
    pub worker_id: String,
    pub epochs_done: u32,
    pub total_epochs: u32,
    pub last_val_acc: Option<f64>,
}

/// A sweep at a glance.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSummary {
    pub sweep_id: String,
    pub name: String,
    pub state: SweepState,
    pub metric_name: String,
    pub goal: Goal,
    pub created_unix_ms: u64,
    pub counts: TrialCounts,
    /// The best finished trial: (metric, trial id).
    pub best: Option<(f64, String)>,
    pub running: Vec<RunningTrial>,
    /// The known workers by state (the same for every sweep).
    pub workers: WorkerCounts,
    /// Set while pending trials cannot go anywhere (every known worker
    /// quarantined, gone or draining): one sentence saying so.
    pub stalled_reason: String,
    /// The sweep file's `execution:` settings.
    pub execution: crate::sweepfile::Execution,
}

/// One trial in a ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialInfo {
    /// 1-based among done and stopped trials; 0 for the others.
    pub rank: u32,
    pub trial_id: String,
    /// Position in the sweep's expansion.
    pub index: u64,
    pub state: TrialState,
    /// The swept values: dotted path → JSON value text.
    pub params: Vec<(String, String)>,
    /// The ranking metric; `None` until done, and for a result that diverged
    /// or whose metric is not finite (those rank after every finite one).
    pub metric: Option<f64>,
    pub test_acc: Option<f64>,
    pub best_epoch: u32,
    pub wall_s: f64,
    pub worker_id: String,
    /// Leases so far (hand-backs included).
    pub attempts: u32,
    /// Attempts that count toward the sweep's `max_attempts` (never more).
    pub counted_attempts: u32,
    /// Why the trial failed, where a done trial diverged
    /// (`diverged at epoch 3 (train loss NaN, batch 2)`), or why it was
    /// stopped early; empty otherwise.
    pub last_error: String,
    /// Epochs its latest attempt ran, of `total_epochs`.
    pub epochs_done: u32,
    pub total_epochs: u32,
    /// The `TrialResult` JSON, for finished trials (empty otherwise).
    pub result_json: String,
    pub config_json: String,
    /// The earlier sweep whose trial of the same id this one's result was
    /// copied from (it never ran here); empty for a trial run here.
    pub reused_from_sweep: String,
}

/// A sweep's trials, finished ones ranked by the sweep's metric.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialRanking {
    pub metric_name: String,
    pub goal: Goal,
    pub trials: Vec<TrialInfo>,
}
