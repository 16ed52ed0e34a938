//! One slot's bundle: the trials one lease call granted (issue 10; the
//! coordinator picks partners that see the same batch stream, see
//! `LeaseTrialRequest.max_trials`), run one after the other in this slot, so
//! that the worker's shared caches serve every later trial what the first
//! computed (phase-1 snapshots, frozen-prefix outputs, evaluation features).
//!
//! Each trial stays a lease of its own: [`super::slot::run`] runs and reports
//! it exactly as a lone lease. While a trial waits its turn, a keep-alive
//! task heartbeats it (no epochs) every heartbeat interval, so its lease
//! does not expire; one the coordinator no longer wants (sweep cancelled,
//! attempt taken back) leaves the queue.
//!
//! - The first stop signal (drain) hands every waiting trial back at once
//!   (`FailTrial { handed_back: true }`), so other workers can take them;
//!   the running one finishes as the drain says.
//! - A trial that failed because of this worker's environment (data missing,
//!   a crashed process) ends the bundle: the waiting ones are handed back
//!   rather than failed the same way, and the slot's end carries the cause
//!   into the daemon's backoff.

use super::cause::Cause;
use super::client::{classify, Refusal, Session};
use super::slot::{self, SlotContext, SlotEnd};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use sweep_proto::trial::TrialConfig;
use sweep_proto::v1::{HeartbeatRequest, Lease};

/// A trial waiting its turn, with what its keep-alive heartbeats say.
#[derive(Clone)]
struct Waiting {
    lease: Lease,
    /// From its config, read once.
    total_epochs: u32,
}

impl Waiting {
    fn new(lease: Lease) -> Self {
        let total_epochs = serde_json::from_str::<TrialConfig>(&lease.config_json)
            .map(|c| c.total_epochs())
            .unwrap_or(0);
        Self {
            lease,
            total_epochs,
        }
    }
}

type Queue = Arc<Mutex<VecDeque<Waiting>>>;

/// Runs `leases` (in order) in one slot; the end of the last one run.
pub async fn run(ctx: Arc<SlotContext>, session: Session, leases: Vec<Lease>) -> SlotEnd {
    let mut leases = leases.into_iter();
    let Some(first) = leases.next() else {
        return SlotEnd::Stopped;
    };
    let rest: VecDeque<Waiting> = leases.map(Waiting::new).collect();
    if rest.is_empty() {
        return slot::run(ctx, session, first).await;
    }
    tracing::info!(
        "bundle of {} trials: {} first, then {}",
        1 + rest.len(),
        first.trial_id,
        rest.iter()
            .map(|w| w.lease.trial_id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let waiting: Queue = Arc::new(Mutex::new(rest));
    let keep_alive = tokio::spawn(keep_alive(ctx.clone(), session.clone(), waiting.clone()));
    let mut shutdown = ctx.shutdown.clone();
    let mut next = Some(first);
    let mut end = SlotEnd::Stopped;
    while let Some(lease) = next.take() {
        let trial = slot::run(ctx.clone(), session.clone(), lease);
        tokio::pin!(trial);
        end = tokio::select! {
            end = &mut trial => end,
            _ = shutdown.draining() => {
                hand_back_waiting(&ctx, &session, &waiting, "the worker is draining").await;
                trial.await
            }
        };
        if shutdown.is_draining() {
            break;
        }
        if let SlotEnd::Failed {
            cause: Cause::Environment,
            ..
        } = &end
        {
            hand_back_waiting(
                &ctx,
                &session,
                &waiting,
                "the trial before failed because of this worker's environment",
            )
            .await;
            break;
        }
        next = waiting
            .lock()
            .expect("queue lock")
            .pop_front()
            .map(|w| w.lease);
    }
    keep_alive.abort();
    // A drain that began as the trial ended (its end won the race above).
    hand_back_waiting(&ctx, &session, &waiting, "the worker is draining").await;
    end
}

/// Hands back every trial still waiting in `waiting`, saying `why` in the log.
async fn hand_back_waiting(ctx: &Arc<SlotContext>, session: &Session, waiting: &Queue, why: &str) {
    let queued: Vec<Waiting> = waiting.lock().expect("queue lock").drain(..).collect();
    for Waiting { lease, .. } in queued {
        tracing::info!(
            trial = %lease.trial_id,
            "handing back trial {} of this bundle, not started: {why}",
            lease.trial_id
        );
        slot::hand_back_unstarted(ctx, &session.worker_id, &lease).await;
    }
}

/// Heartbeats every waiting trial each heartbeat interval (no epochs, none
/// done); drops from the queue those the coordinator stopped or gave to
/// another attempt. Runs until aborted.
async fn keep_alive(ctx: Arc<SlotContext>, session: Session, waiting: Queue) {
    let period = session.heartbeat_interval;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let queued: Vec<Waiting> = waiting
            .lock()
            .expect("queue lock")
            .iter()
            .cloned()
            .collect();
        for Waiting {
            lease,
            total_epochs,
        } in queued
        {
            let req = HeartbeatRequest {
                sweep_id: lease.sweep_id.clone(),
                worker_id: session.worker_id.clone(),
                trial_id: lease.trial_id.clone(),
                attempt: lease.attempt,
                epochs_done: 0,
                total_epochs,
                ..Default::default()
            };
            let gone = match ctx.coordinator.heartbeat(req).await {
                Ok(answer) => answer.stop.then_some("the coordinator said stop"),
                Err(status) => match classify(&status) {
                    Refusal::Stale => Some("the attempt is no longer current"),
                    _ => {
                        tracing::warn!(
                            trial = %lease.trial_id,
                            "heartbeat for waiting trial {} failed ({}: {}); it keeps its place",
                            lease.trial_id,
                            status.code(),
                            status.message()
                        );
                        None
                    }
                },
            };
            if let Some(why) = gone {
                tracing::info!(
                    trial = %lease.trial_id,
                    "waiting trial {} attempt {} leaves the bundle: {why}",
                    lease.trial_id,
                    lease.attempt
                );
                waiting.lock().expect("queue lock").retain(|w| {
                    !(w.lease.trial_id == lease.trial_id && w.lease.attempt == lease.attempt)
                });
            }
        }
    }
}
