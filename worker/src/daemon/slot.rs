//! One leased trial: runs it in a process of its own
//! ([`super::trial_process`]: a crash ends that trial only, and the daemon
//! never touches libtorch), heartbeats every `heartbeat_interval` and as
//! soon as an epoch finishes (carrying the epochs the coordinator has not
//! acknowledged yet), then reports the outcome.
//!
//! The process's supervisor talks to this task through channels only:
//! finished epochs come in on an mpsc channel, the outcome on a oneshot;
//! cancelling goes out through [`trial_process::TrialProcess::cancel`].
//!
//! - The trial process failed or crashed: `FailTrial` with its cause; a
//!   crash (a signal, an exit without an outcome) is the environment's
//!   fault, named by its signal ("trial process killed by SIGSEGV").
//! - Heartbeat says `stop` (sweep cancelled, or `stopped_early`: the sweep's
//!   early stopping stopped the trial, which the coordinator stored as
//!   STOPPED with the epochs it acknowledged) or FAILED_PRECONDITION (the
//!   lease went to someone else): cancel at once, report nothing.
//! - Second shutdown signal: cancel, hand the trial back
//!   (`FailTrial { handed_back: true }`), one try.
//! - A result: first the files the sweep keeps ([`super::artifacts`]: best
//!   weights, figures, left by the trial process in the attempt's folder)
//!   are uploaded while the lease is still held (a failed upload is logged,
//!   the result is reported all the same).
//! - Otherwise: `CompleteTrial` or `FailTrial`, spooled durably to the
//!   outbox first and retried until the coordinator answers. An outbox that
//!   cannot be written is an error line; the report then goes out from
//!   memory while the write is retried with backoff, and the slot takes no
//!   new work until the outbox can be written again.

use super::artifacts::AttemptArtifacts;
use super::cause::Cause;
use super::client::{
    classify, sleep_unless, Backoff, CoordinatorClient, Delivery, Refusal, Session,
};
use super::metrics::{TrialOutcome, WorkerMetrics};
use super::outbox::{Outbox, OutboxError, Outcome, Report};
use super::paths::DataRoots;
use super::shutdown::{Level, Shutdown};
use super::trial_process::{self, ChildOutcome, Extras, PeakRss, TrialProgram};
use super::turns::Turns;
use crate::error_chain::error_chain;
use std::sync::Arc;
use std::time::Duration;
use sweep_proto::trial::{EpochMetrics, TrialConfig};
use sweep_proto::v1::{HeartbeatRequest, Lease};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// Everything the slots of one daemon share.
pub struct SlotContext {
    /// Where each attempt's artifacts folder is made.
    pub attempts_root: std::path::PathBuf,
    pub coordinator: Arc<CoordinatorClient>,
    pub outbox: Arc<Outbox>,
    pub shutdown: Shutdown,
    /// What each attempt runs in.
    pub program: TrialProgram,
    /// Intra-op threads per trial, written into each config's `threads`
    /// (and applied by the trial's own process).
    pub threads: u32,
    /// Where a trial's `data.dir` and `backbone.weights` may lead.
    pub data_roots: DataRoots,
    /// The worker's folder of what trials compute alike (phase-1
    /// snapshots, frozen-prefix outputs), used by its trials unless their
    /// sweep said `execution: {sharing: off}`.
    pub shared_dir: std::path::PathBuf,
    /// What `/metrics` shows (counted whether or not it is served).
    pub metrics: Arc<WorkerMetrics>,
    /// The largest peak memory of this worker's trial processes so far.
    pub peak_rss: Arc<PeakRss>,
}

/// The most of a coordinator's stop reason a log line repeats.
const MAX_REASON_CHARS: usize = 300;

/// Why a trial stopped before its end.
#[derive(Debug, Clone, PartialEq)]
enum Stop {
    /// The coordinator does not want this attempt any more.
    Told(String),
    /// The daemon is aborting: hand the trial back.
    HandBack,
}

/// How a slot's attempt ended, for the lease loop's backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotEnd {
    /// A result was reported (diverged ones too).
    Completed,
    /// A failure was reported, blamed on `cause`.
    Failed { cause: Cause, error: String },
    /// Stopped by the coordinator or the shutdown: nothing to learn.
    Stopped,
}

/// Runs `lease` to its end and reports it, inside a span naming the sweep,
/// trial, attempt and worker (so a grep on a trial id finds its whole life in
/// the worker's log, as in the coordinator's). Never fails: every problem
/// ends up in a report or a log line. With `turns`, the trial is a member of
/// that lockstep bundle's round (see [`super::turns`]).
pub async fn run(
    ctx: Arc<SlotContext>,
    session: Session,
    lease: Lease,
    turns: Option<Arc<Turns>>,
) -> SlotEnd {
    let span = tracing::info_span!(
        "attempt",
        sweep = %lease.sweep_id,
        trial = %lease.trial_id,
        attempt = lease.attempt,
        worker = %session.worker_id,
    );
    let metrics = ctx.metrics.clone();
    metrics.trial_started();
    let end = run_attempt(ctx, session, lease, turns)
        .instrument(span)
        .await;
    metrics.trial_finished(match &end {
        SlotEnd::Completed => TrialOutcome::Completed,
        SlotEnd::Failed {
            cause: Cause::Trial,
            ..
        } => TrialOutcome::Failed,
        SlotEnd::Failed {
            cause: Cause::Environment,
            ..
        } => TrialOutcome::EnvironmentFailure,
        SlotEnd::Stopped => TrialOutcome::Stopped,
    });
    end
}

async fn run_attempt(
    ctx: Arc<SlotContext>,
    session: Session,
    lease: Lease,
    turns: Option<Arc<Turns>>,
) -> SlotEnd {
    let mut attempt = Attempt {
        ctx: ctx.clone(),
        sweep_id: lease.sweep_id.clone(),
        worker_id: session.worker_id,
        heartbeat_interval: session.heartbeat_interval,
        trial_id: lease.trial_id.clone(),
        number: lease.attempt,
    };
    let cfg = match leased_config(&ctx, &lease.config_json) {
        Ok(cfg) => cfg,
        Err(error) => {
            tracing::error!(trial = %attempt.trial_id, "{error}");
            return attempt.fail(error, Cause::Trial).await;
        }
    };
    tracing::info!(
        trial = %attempt.trial_id,
        "leased trial {} attempt {} of sweep {} ({} epochs, {} threads)",
        attempt.trial_id,
        attempt.number,
        lease.sweep_id,
        cfg.total_epochs(),
        cfg.threads
    );
    let artifacts = AttemptArtifacts::prepare(&ctx.attempts_root, &lease);
    let shared_dir = (!lease.sharing_off).then_some(ctx.shared_dir.as_path());
    let extras = Extras {
        artifacts: artifacts.as_ref(),
        shared_dir,
        turns: turns.as_ref().map(|t| t.join()),
        peak_rss: Some(ctx.peak_rss.clone()),
    };
    let (stop, outcome) = attempt.train(cfg, extras, turns).await;
    if let (None, ChildOutcome::Result(_), Some(a)) = (&stop, &outcome, &artifacts) {
        a.upload_all(&ctx.coordinator, &ctx.shutdown, &lease, &attempt.worker_id)
            .await;
    }
    drop(artifacts);
    match (stop, outcome) {
        (Some(Stop::Told(why)), _) => {
            tracing::info!(trial = %attempt.trial_id, "trial {} stopped: {why}; reporting nothing", attempt.trial_id);
            SlotEnd::Stopped
        }
        (Some(Stop::HandBack), ChildOutcome::Result(result))
        | (None, ChildOutcome::Result(result)) => {
            let result_json =
                serde_json::to_string(&result).expect("a TrialResult always serialises");
            match &result.diverged {
                Some(d) => tracing::warn!(
                    trial = %attempt.trial_id,
                    "trial {} {d} after {:.1} s: reported as done, ranked last",
                    attempt.trial_id,
                    result.wall_s
                ),
                None => tracing::info!(
                    trial = %attempt.trial_id,
                    "trial {} finished: best val_acc {:.4} at epoch {}, test acc {:.4}, {:.1} s",
                    attempt.trial_id,
                    result.best_val_acc,
                    result.best_epoch,
                    result.test.acc,
                    result.wall_s
                ),
            }
            attempt.report(Outcome::Completed { result_json }).await;
            SlotEnd::Completed
        }
        (Some(Stop::HandBack), _) => {
            attempt.hand_back().await;
            SlotEnd::Stopped
        }
        (None, ChildOutcome::Failed { error, cause }) => {
            tracing::warn!(trial = %attempt.trial_id, "trial {} failed ({cause}'s fault): {error}", attempt.trial_id);
            attempt.fail(error, cause).await
        }
        (None, ChildOutcome::Crashed(why)) => {
            tracing::error!(trial = %attempt.trial_id, "trial {} failed: {why}; the worker carries on", attempt.trial_id);
            attempt.fail(why, Cause::Environment).await
        }
        (None, ChildOutcome::Cancelled) => {
            let why = "the trial process stopped without being asked".to_string();
            tracing::error!(trial = %attempt.trial_id, "trial {}: {why}", attempt.trial_id);
            attempt.fail(why, Cause::Environment).await
        }
    }
}

/// The lease's config as this worker runs it: its paths checked against
/// the allowed roots (and replaced by what they resolve to), its threads
/// this slot's. An error is the failure to report (a trial failure: the
/// config is at fault, see [`super::paths`]).
fn leased_config(ctx: &SlotContext, config_json: &str) -> Result<TrialConfig, String> {
    let mut cfg = serde_json::from_str::<TrialConfig>(config_json)
        .map_err(|e| format!("the worker cannot read the trial's config_json: {e}"))?;
    cfg.data.dir = ctx
        .data_roots
        .check("data.dir", &cfg.data.dir)
        .map_err(|e| e.to_string())?;
    cfg.backbone.weights = ctx
        .data_roots
        .check("backbone.weights", &cfg.backbone.weights)
        .map_err(|e| e.to_string())?;
    cfg.threads = ctx.threads;
    Ok(cfg)
}

/// One attempt at one trial, as this slot handles it.
struct Attempt {
    ctx: Arc<SlotContext>,
    sweep_id: String,
    worker_id: String,
    heartbeat_interval: Duration,
    trial_id: String,
    /// The attempt's number (the coordinator's count for this trial).
    number: u32,
}

impl Attempt {
    /// Trains in a process of its own while heartbeating; returns why it
    /// was stopped early (if it was) and how the process ended. In a
    /// lockstep bundle (`bundle`), also heartbeats each time another
    /// member's epoch is acknowledged, and says when its own is.
    async fn train(
        &mut self,
        cfg: TrialConfig,
        extras: Extras<'_>,
        bundle: Option<Arc<Turns>>,
    ) -> (Option<Stop>, ChildOutcome) {
        let mut others_told = bundle.as_ref().map(|b| b.epochs_told());
        let (epoch_tx, mut epochs) = mpsc::unbounded_channel();
        let (done_tx, mut done) = oneshot::channel();
        let total_epochs = cfg.total_epochs();
        let train_images = cfg.data.train;
        let mut process =
            match trial_process::spawn(&self.ctx.program, &cfg, extras, epoch_tx, done_tx) {
                Ok(p) => p,
                Err(e) => {
                    return (
                        None,
                        ChildOutcome::Crashed(format!(
                            "cannot start the trial process {}: {e}",
                            self.ctx.program.exe.display()
                        )),
                    )
                }
            };
        tracing::debug!(trial = %self.trial_id, "trial process {:?} started", process.pid());

        let mut shutdown = self.ctx.shutdown.clone();
        let period = self.heartbeat_interval;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut unacked: Vec<String> = Vec::new();
        let mut epochs_done = 0u32;
        let mut stop: Option<Stop> = None;
        let outcome = loop {
            let beat_now = tokio::select! {
                biased;
                outcome = &mut done => {
                    break outcome.unwrap_or_else(|_| {
                        ChildOutcome::Crashed("the trial process's supervisor vanished".into())
                    });
                }
                _ = shutdown.aborting(), if stop.is_none() => {
                    process.cancel();
                    stop = Some(Stop::HandBack);
                    false
                }
                Some(m) = epochs.recv() => {
                    let m: EpochMetrics = m;
                    epochs_done = epochs_done.max(m.epoch);
                    self.ctx.metrics.epoch(m.wall_s, train_images);
                    tracing::info!(
                        trial = %self.trial_id,
                        "trial {} epoch {}/{} (phase {}): train loss {:.4}, val acc {:.4}, val loss {:.4}, {:.1} s",
                        self.trial_id, m.epoch, total_epochs, m.phase, m.train_loss, m.val_acc, m.val_loss, m.wall_s
                    );
                    unacked.push(serde_json::to_string(&m).expect("EpochMetrics always serialise"));
                    true
                }
                _ = ticker.tick() => true,
                () = changed(&mut others_told) => true,
            };
            if beat_now && stop.is_none() {
                let telling = !unacked.is_empty();
                let req = HeartbeatRequest {
                    sweep_id: self.sweep_id.clone(),
                    worker_id: self.worker_id.clone(),
                    trial_id: self.trial_id.clone(),
                    attempt: self.number,
                    epoch_json: unacked.clone(),
                    epochs_done,
                    total_epochs,
                    ..Default::default()
                };
                if let Some(s) = self.heartbeat(req, &mut unacked).await {
                    process.cancel();
                    stop = Some(s);
                } else if telling && unacked.is_empty() {
                    if let (Some(b), Some(rx)) = (&bundle, &mut others_told) {
                        b.told_epoch();
                        rx.borrow_and_update();
                    }
                }
            }
        };
        (stop, outcome)
    }

    /// One heartbeat; `Some(stop)` when the coordinator wants the trial stopped.
    async fn heartbeat(
        &mut self,
        req: HeartbeatRequest,
        unacked: &mut Vec<String>,
    ) -> Option<Stop> {
        let sent = req.epoch_json.len();
        match self.ctx.coordinator.heartbeat(req).await {
            Ok(answer) => {
                unacked.drain(..sent);
                if answer.stopped_early {
                    // The coordinator stored the trial as stopped already,
                    // with the epochs it acknowledged: nothing to report.
                    let reason: String =
                        answer.stop_reason.chars().take(MAX_REASON_CHARS).collect();
                    return Some(Stop::Told(format!(
                        "stopped early by the coordinator ({reason}); the coordinator keeps its curve"
                    )));
                }
                answer
                    .stop
                    .then(|| Stop::Told("the coordinator said stop (sweep cancelled)".into()))
            }
            Err(status) => match classify(&status) {
                Refusal::Stale => Some(Stop::Told(format!(
                    "attempt {} is no longer current ({})",
                    self.number,
                    status.message()
                ))),
                Refusal::UnknownWorker => {
                    self.ctx.coordinator.forget(&self.worker_id).await;
                    if let Some(s) = self
                        .ctx
                        .coordinator
                        .session(&self.ctx.shutdown, Level::Aborting)
                        .await
                    {
                        self.worker_id = s.worker_id;
                    }
                    None
                }
                Refusal::Transient | Refusal::Rejected => {
                    tracing::warn!(
                        trial = %self.trial_id,
                        "heartbeat for trial {} failed ({}: {}); the trial keeps running",
                        self.trial_id,
                        status.code(),
                        status.message()
                    );
                    None
                }
            },
        }
    }

    /// Reports a failure blamed on `cause`.
    async fn fail(&self, error: String, cause: Cause) -> SlotEnd {
        self.report(Outcome::Failed {
            error: error.clone(),
            handed_back: false,
            cause,
        })
        .await;
        SlotEnd::Failed { cause, error }
    }

    /// This attempt's report of `outcome`.
    fn report_of(&self, outcome: Outcome) -> Report {
        Report {
            sweep_id: self.sweep_id.clone(),
            trial_id: self.trial_id.clone(),
            attempt: self.number,
            worker_id: self.worker_id.clone(),
            worker_secret: self.ctx.coordinator.secret(&self.worker_id),
            outcome,
        }
    }

    /// Spools `outcome`, then delivers it until the coordinator answers (or
    /// the daemon aborts, leaving it spooled for the next start). When the
    /// outbox cannot be written, the report goes out from memory while the
    /// write is retried, and this slot takes no new work until the outbox
    /// can be written again.
    async fn report(&self, outcome: Outcome) {
        let mut report = self.report_of(outcome);
        let (outbox, coordinator, shutdown) =
            (&self.ctx.outbox, &self.ctx.coordinator, &self.ctx.shutdown);
        let mut spooled = self.spool(&report);
        let delivery = if spooled {
            coordinator
                .deliver(&mut report, shutdown, Level::Aborting)
                .await
        } else {
            let copy = report.clone();
            let retry = self.retry_write(|| outbox.put(&copy), Level::Aborting);
            let deliver = coordinator.deliver(&mut report, shutdown, Level::Aborting);
            tokio::pin!(retry, deliver);
            tokio::select! {
                delivery = &mut deliver => delivery,
                written = &mut retry => {
                    spooled = written;
                    deliver.await
                }
            }
        };
        if !spooled && delivery == Delivery::Abandoned {
            tracing::error!(
                trial = %self.trial_id,
                "LOST: the report of trial {} attempt {} of sweep {}: the outbox could not be written and the coordinator did not answer before shutdown",
                self.trial_id,
                self.number,
                self.sweep_id
            );
            return;
        }
        settle(outbox, &report, delivery);
        if !spooled {
            self.retry_write(|| outbox.probe(), Level::Draining).await;
        }
    }

    /// Spools `report` once; false (and an error line) when the outbox
    /// cannot be written.
    fn spool(&self, report: &Report) -> bool {
        match self.ctx.outbox.put(report) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(
                    trial = %self.trial_id,
                    "cannot spool the report of trial {} attempt {}: {}; sending it from memory, and this slot takes no new work until the outbox can be written",
                    self.trial_id,
                    self.number,
                    error_chain(&e)
                );
                false
            }
        }
    }

    /// Retries `write` with backoff until it succeeds (true) or shutdown
    /// reaches `give_up_at` (false). Every failure is an error line.
    async fn retry_write(
        &self,
        write: impl Fn() -> Result<(), OutboxError>,
        give_up_at: Level,
    ) -> bool {
        let mut backoff = Backoff::new();
        loop {
            let delay = backoff.next_delay();
            if !sleep_unless(delay, &self.ctx.shutdown, give_up_at).await {
                return false;
            }
            match write() {
                Ok(()) => {
                    tracing::info!(trial = %self.trial_id, "the outbox can be written again");
                    return true;
                }
                Err(e) => tracing::error!(
                    trial = %self.trial_id,
                    "the outbox still cannot be written: {}; retrying",
                    error_chain(&e)
                ),
            }
        }
    }

    /// Gives the trial back unfinished: one try, not spooled (if it does not
    /// arrive, the lease expires and the trial is leased again anyway).
    async fn hand_back(&self) {
        let report = self.report_of(Outcome::Failed {
            error: "handed back: the worker is shutting down".into(),
            handed_back: true,
            cause: Cause::Environment,
        });
        match self.ctx.coordinator.send_report(&report).await {
            Ok(_) => {
                tracing::info!(trial = %self.trial_id, "handed trial {} attempt {} back", self.trial_id, self.number)
            }
            Err(status) => tracing::warn!(
                trial = %self.trial_id,
                "could not hand trial {} back ({}: {}); its lease will expire",
                self.trial_id,
                status.code(),
                status.message()
            ),
        }
    }
}

/// Logs how a report ended up, and unspools it unless it still has to go.
pub fn settle(outbox: &Outbox, report: &Report, delivery: Delivery) {
    let what = match report.outcome {
        Outcome::Completed { .. } => "result",
        Outcome::Failed { .. } => "failure",
    };
    let (t, a) = (&report.trial_id, report.attempt);
    match delivery {
        Delivery::Acknowledged { stored: true } => {
            tracing::info!(trial = %t, "reported the {what} of trial {t} attempt {a}: stored")
        }
        Delivery::Acknowledged { stored: false } => {
            tracing::info!(trial = %t, "reported the {what} of trial {t} attempt {a}: already stored")
        }
        Delivery::Stale(why) => {
            tracing::warn!(trial = %t, "dropped the {what} of trial {t} attempt {a}: stale attempt ({why})")
        }
        Delivery::Refused(why) => {
            tracing::error!(trial = %t, "dropped the {what} of trial {t} attempt {a}: refused ({why})")
        }
        Delivery::Abandoned => {
            tracing::warn!(trial = %t, "the {what} of trial {t} attempt {a} stays spooled for the next start");
            return;
        }
    }
    outbox.remove(report);
}

/// Ready when `told` changes (another bundle member's epoch was
/// acknowledged); never without a bundle or once the bundle is gone.
async fn changed(told: &mut Option<tokio::sync::watch::Receiver<u64>>) {
    if let Some(rx) = told {
        if rx.changed().await.is_ok() {
            return;
        }
    }
    std::future::pending().await
}
