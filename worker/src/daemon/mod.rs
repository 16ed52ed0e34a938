//! The worker daemon (`sweep-worker run`): registers with a coordinator,
//! leases trials, runs up to `slots` of them side by side, heartbeats, and
//! reports each outcome. Knows nothing of tensors: it runs whatever
//! [`TrialFn`] it is given ([`crate::pipeline::run_trial`], or
//! [`simulated::run_trial`] for scheduling tests).
//!
//! - [`client`]: the gRPC calls, registration, retry with backoff.
//! - [`slot`]: one trial's thread, its heartbeats, its report.
//! - [`outbox`]: reports spooled durably to disk until acknowledged.
//! - [`paths`]: the roots a trial's `data.dir` and `backbone.weights` must
//!   resolve under.
//! - [`cause`]: what a failure is blamed on (the trial, or this worker).
//! - [`shutdown`]: SIGINT/SIGTERM, in two steps (drain, then abort).
//! - [`simulated`]: tensor-free trials (test-only `--simulate`).
//!
//! Threads: each leased config's `threads` is overwritten with
//! [`DaemonConfig::threads_per_trial`] (whatever the sweep said), and the
//! pipeline applies it. libtorch's count is process-global and the slots
//! share one process, so they all get the same number.

pub mod cause;
pub mod client;
pub mod outbox;
pub mod paths;
pub mod shutdown;
pub mod simulated;
pub mod slot;

#[cfg(test)]
mod fake_coordinator;
#[cfg(test)]
mod tests;

use crate::pipeline::{TrialError, TrialObserver};
use client::{classify, Backoff, BadUrl, CoordinatorClient, Refusal};
use outbox::{Outbox, OutboxError};
use shutdown::{Level, Shutdown};
use slot::SlotContext;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use sweep_proto::trial::{TrialConfig, TrialResult};
use sweep_proto::v1::RegisterRequest;
use tokio::task::JoinSet;

/// What runs one trial: [`crate::pipeline::run_trial`] or [`simulated::run_trial`].
pub type TrialFn =
    fn(&TrialConfig, &mut dyn TrialObserver, &AtomicBool) -> Result<TrialResult, TrialError>;

/// Shortest and longest wait between two empty-handed lease calls, whatever
/// the coordinator's `retry_after_ms` says.
const LEASE_RETRY_MIN: Duration = Duration::from_millis(50);
const LEASE_RETRY_MAX: Duration = Duration::from_secs(10);

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Coordinator(#[from] BadUrl),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// How one daemon runs.
pub struct DaemonConfig {
    /// `http://host:port` of the coordinator.
    pub coordinator: String,
    /// Trials run side by side.
    pub slots: u32,
    /// Intra-op threads each trial gets (see the module doc).
    pub threads_per_trial: u32,
    /// The name this worker registers under (hostname by default).
    pub name: String,
    /// Cores of this machine, as registered.
    pub cores: u32,
    /// Build identity, as registered.
    pub version: String,
    /// Where finished reports are spooled until acknowledged.
    pub state_dir: PathBuf,
    pub trial_fn: TrialFn,
    /// The token and TLS every call carries (`--token-file`, `--ca-cert`, ...).
    pub credentials: sweep_runtime::credentials::Credentials,
    /// Where a trial's paths may lead (`--data-root`).
    pub data_roots: paths::DataRoots,
}

/// Runs the daemon until `shutdown` says stop and every running trial has
/// been reported (or handed back).
pub async fn run(config: DaemonConfig, shutdown: Shutdown) -> Result<(), DaemonError> {
    let outbox = Arc::new(Outbox::open(&config.state_dir)?);
    let coordinator = Arc::new(CoordinatorClient::with_credentials(
        &config.coordinator,
        RegisterRequest {
            hostname: config.name.clone(),
            cores: config.cores,
            slots: config.slots,
            version: config.version.clone(),
        },
        &config.credentials,
    )?);
    tracing::info!(
        "sweep-worker {} serving {} with {} slot(s), {} thread(s) per trial, state in {}, trials may read under {}",
        config.name,
        config.coordinator,
        config.slots,
        config.threads_per_trial,
        config.state_dir.display(),
        config
            .data_roots
            .roots()
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );

    resend_spooled(&coordinator, &outbox, &shutdown).await?;

    let ctx = Arc::new(SlotContext {
        coordinator: coordinator.clone(),
        outbox,
        shutdown: shutdown.clone(),
        trial_fn: config.trial_fn,
        threads: config.threads_per_trial,
        data_roots: config.data_roots,
    });
    let mut slots = JoinSet::new();
    lease_until_draining(&ctx, config.slots.max(1) as usize, &mut slots).await;

    if !slots.is_empty() {
        tracing::info!(
            "waiting for {} running trial(s) to finish and report",
            slots.len()
        );
    }
    while let Some(joined) = slots.join_next().await {
        if let Err(e) = joined {
            tracing::error!("a slot task died: {e}");
        }
    }
    tracing::info!("sweep-worker stopped");
    Ok(())
}

/// Sends the reports a previous run left in the outbox.
async fn resend_spooled(
    coordinator: &CoordinatorClient,
    outbox: &Outbox,
    shutdown: &Shutdown,
) -> Result<(), OutboxError> {
    for mut report in outbox.pending()?.reports {
        tracing::info!(
            "resending the spooled report of trial {} attempt {}",
            report.trial_id,
            report.attempt
        );
        let delivery = coordinator
            .deliver(&mut report, shutdown, Level::Draining)
            .await;
        slot::settle(outbox, &report, delivery);
        if shutdown.is_draining() {
            break;
        }
    }
    Ok(())
}

/// A fresh LeaseTrial request id: 128 random bits in hex.
fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Leases trials into free slots until the first shutdown signal.
async fn lease_until_draining(ctx: &Arc<SlotContext>, max_slots: usize, slots: &mut JoinSet<()>) {
    let mut shutdown = ctx.shutdown.clone();
    let mut backoff = Backoff::new();
    // The id of a LeaseTrial whose answer has not arrived: a retry sends the
    // same one, so a lease granted but lost on the way is handed back to us
    // instead of burning an attempt.
    let mut unanswered: Option<String> = None;
    loop {
        while let Some(joined) = slots.try_join_next() {
            if let Err(e) = joined {
                tracing::error!("a slot task died: {e}");
            }
        }
        if shutdown.is_draining() {
            return;
        }
        if slots.len() >= max_slots {
            tokio::select! {
                _ = slots.join_next() => continue,
                _ = shutdown.draining() => return,
            }
        }
        let Some(session) = ctx.coordinator.session(&shutdown, Level::Draining).await else {
            return;
        };
        let request_id = unanswered.get_or_insert_with(new_request_id).clone();
        let wait = match ctx.coordinator.lease(&session.worker_id, &request_id).await {
            Ok(answer) => {
                unanswered = None;
                backoff.reset();
                match answer.lease {
                    Some(lease) => {
                        slots.spawn(slot::run(ctx.clone(), session, lease));
                        continue;
                    }
                    None => Duration::from_millis(answer.retry_after_ms)
                        .clamp(LEASE_RETRY_MIN, LEASE_RETRY_MAX),
                }
            }
            Err(status) => match classify(&status) {
                Refusal::UnknownWorker => {
                    unanswered = None;
                    ctx.coordinator.forget(&session.worker_id).await;
                    continue;
                }
                _ => {
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        "cannot lease a trial ({}: {}); retrying in {delay:?}",
                        status.code(),
                        status.message()
                    );
                    delay
                }
            },
        };
        if !client::sleep_unless(wait, &shutdown, Level::Draining).await {
            return;
        }
    }
}
