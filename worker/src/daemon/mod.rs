//! The worker daemon (`sweep-worker run`): registers with a coordinator,
//! leases trials, runs up to `slots` of them side by side, heartbeats, and
//! reports each outcome. Knows nothing of tensors and never touches
//! libtorch: each attempt runs in a process of its own ([`trial_process`],
//! `sweep-worker trial-child`, see [`crate::child`]), which runs the real
//! pipeline or, for scheduling tests, [`simulated::run_trial`]. A crashed
//! trial process fails that one attempt (an environment failure); the
//! other slots carry on.
//!
//! After an environment failure the lease loop pauses before leasing again
//! ([`env_backoff`]); on shutdown it tells the coordinator it is draining
//! (`Drain`, once).
//!
//! - [`client`]: the gRPC calls, registration, retry with backoff.
//! - [`slot`]: one trial's thread, its heartbeats, its report.
//! - [`bundle`]: a slot's trials from one lease call, run in lockstep
//!   ([`turns`]: the baton they pass round), sized by the slot's memory.
//! - [`outbox`]: reports spooled durably to disk until acknowledged.
//! - [`artifacts`]: an attempt's private folder, and the upload of what its
//!   trial left there (best weights, figures) before its result.
//! - [`paths`]: the roots a trial's `data.dir` and `backbone.weights` must
//!   resolve under.
//! - [`cause`]: what a failure is blamed on (the trial, or this worker).
//! - [`shutdown`]: SIGINT/SIGTERM, in two steps (drain, then abort).
//! - [`simulated`]: tensor-free trials (test-only `--simulate`).
//! - [`trial_process`]: one attempt's process; [`protocol`]: its pipe.
//! - [`env_backoff`]: the pause after environment failures.
//! - [`metrics`]: Prometheus metrics at `/metrics` on `metrics_listen`.
//!
//! Threads: each leased config's `threads` is overwritten with
//! [`DaemonConfig::threads_per_trial`] (whatever the sweep said), and the
//! trial's own process applies it: libtorch's count is process-global, and
//! each trial now has a process to itself.

pub mod artifacts;
pub mod bundle;
pub mod cause;
pub mod client;
pub mod env_backoff;
pub mod metrics;
pub mod outbox;
pub mod paths;
pub mod protocol;
pub mod shutdown;
pub mod simulated;
pub mod slot;
pub mod trial_process;
pub mod turns;

use crate::pipeline::{TrialError, TrialObserver};
use client::{classify, Backoff, BadUrl, CoordinatorClient, Refusal};
use env_backoff::EnvBackoff;
use outbox::{Outbox, OutboxError};
use shutdown::{Level, Shutdown};
use slot::{SlotContext, SlotEnd};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use sweep_proto::trial::{TrialConfig, TrialResult};
use sweep_proto::v1::RegisterRequest;
use tokio::task::JoinSet;
use trial_process::TrialProgram;

/// What runs one trial inside a trial process: [`crate::pipeline::run_trial`]
/// or [`simulated::run_trial`].
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
    #[error(transparent)]
    Metrics(#[from] metrics::serve::ListenError),
}

/// How one daemon runs.
pub struct DaemonConfig {
    /// `http://host:port` of the coordinator.
    pub coordinator: String,
    /// Trials run side by side.
    pub slots: u32,
    /// Most trials a slot leases at once and runs in lockstep (a bundle of
    /// trials that see the same batches, see [`bundle`]); 1: one at a time.
    pub bundle: u32,
    /// Memory a slot's bundle may take, bytes (see [`bundle::bundle_size`]);
    /// `None`: [`bundle::default_memory_per_slot`].
    pub memory_per_slot: Option<u64>,
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
    /// Where trials share what they compute alike (`pipeline::shared`);
    /// `None`: `state_dir/shared`.
    pub shared_dir: Option<PathBuf>,
    /// What each attempt runs in (this binary's `trial-child`).
    pub program: TrialProgram,
    /// The token and TLS every call carries (`--token-file`, `--ca-cert`, ...).
    pub credentials: sweep_runtime::credentials::Credentials,
    /// Where a trial's paths may lead (`--data-root`).
    pub data_roots: paths::DataRoots,
    /// Where to serve `/metrics` (`--metrics-listen`); `None`: nowhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Runs the daemon until `shutdown` says stop and every running trial has
/// been reported (or handed back).
pub async fn run(config: DaemonConfig, shutdown: Shutdown) -> Result<(), DaemonError> {
    let outbox = Arc::new(Outbox::open(&config.state_dir)?);
    let metrics = Arc::new(metrics::WorkerMetrics::new());
    if let Some(addr) = config.metrics_listen {
        let bound = metrics::serve::spawn(addr, metrics.clone()).await?;
        tracing::info!("metrics at http://{bound}/metrics");
    }
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

    let attempts_root = artifacts::attempts_root(&config.state_dir);
    artifacts::clear_leftovers(&attempts_root);
    let ctx = Arc::new(SlotContext {
        attempts_root,
        coordinator: coordinator.clone(),
        outbox,
        shutdown: shutdown.clone(),
        program: config.program,
        threads: config.threads_per_trial,
        data_roots: config.data_roots,
        shared_dir: config
            .shared_dir
            .clone()
            .unwrap_or_else(|| config.state_dir.join("shared")),
        metrics,
        peak_rss: Arc::default(),
    });
    let bundles = Bundles {
        cap: config.bundle.max(1),
        memory_per_slot: config
            .memory_per_slot
            .unwrap_or_else(|| bundle::default_memory_per_slot(config.slots)),
    };
    let mut slots = JoinSet::new();
    lease_until_draining(&ctx, config.slots.max(1) as usize, bundles, &mut slots).await;
    let drain = tokio::spawn(drain(coordinator.clone()));

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
    let _ = drain.await;
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

/// Tells the coordinator this worker is draining (once, and only if it is
/// registered); a coordinator without `Drain` is fine.
async fn drain(coordinator: Arc<CoordinatorClient>) {
    match coordinator.drain().await {
        Ok(true) => tracing::info!("told the coordinator this worker is draining"),
        Ok(false) => {}
        Err(status) if status.code() == tonic::Code::Unimplemented => {
            tracing::debug!("the coordinator has no Drain ({})", status.message())
        }
        Err(status) => tracing::warn!(
            "could not tell the coordinator this worker is draining ({}: {})",
            status.code(),
            status.message()
        ),
    }
}

/// Feeds a finished slot's end into the environment backoff.
fn note_slot_end(joined: Result<SlotEnd, tokio::task::JoinError>, env: &mut EnvBackoff) {
    match joined {
        Ok(SlotEnd::Completed) => env.succeeded(),
        Ok(SlotEnd::Failed {
            cause: cause::Cause::Environment,
            error,
        }) => {
            let pause = env.failed();
            tracing::warn!(
                "pausing {pause:?} before leasing again: the last trial failed because of this worker's environment ({error})"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::error!("a slot task died: {e}"),
    }
}

/// A fresh LeaseTrial request id: 128 random bits in hex.
fn new_request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// How many trials a slot asks for at once.
#[derive(Debug, Clone, Copy)]
struct Bundles {
    /// The `bundle` setting.
    cap: u32,
    /// A slot's memory budget, bytes.
    memory_per_slot: u64,
}

/// Leases trials into free slots until the first shutdown signal.
async fn lease_until_draining(
    ctx: &Arc<SlotContext>,
    max_slots: usize,
    bundles: Bundles,
    slots: &mut JoinSet<SlotEnd>,
) {
    let mut shutdown = ctx.shutdown.clone();
    let mut backoff = Backoff::new();
    let mut env = EnvBackoff::new();
    // The id of a LeaseTrial whose answer has not arrived: a retry sends the
    // same one, so a lease granted but lost on the way is handed back to us
    // instead of burning an attempt.
    let mut unanswered: Option<String> = None;
    loop {
        while let Some(joined) = slots.try_join_next() {
            note_slot_end(joined, &mut env);
        }
        if shutdown.is_draining() {
            return;
        }
        if slots.len() >= max_slots {
            tokio::select! {
                Some(joined) = slots.join_next() => {
                    note_slot_end(joined, &mut env);
                    continue;
                }
                _ = shutdown.draining() => return,
            }
        }
        let pause = env.remaining();
        if !pause.is_zero() {
            // Wait out the pause, noting slots that finish meanwhile.
            tokio::select! {
                Some(joined) = slots.join_next() => note_slot_end(joined, &mut env),
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.draining() => return,
            }
            continue;
        }
        let Some(session) = ctx.coordinator.session(&shutdown, Level::Draining).await else {
            return;
        };
        let request_id = unanswered.get_or_insert_with(new_request_id).clone();
        let bundle_size =
            bundle::bundle_size(bundles.cap, bundles.memory_per_slot, ctx.peak_rss.get());
        let wait = match ctx
            .coordinator
            .lease(&session.worker_id, &request_id, bundle_size)
            .await
        {
            Ok(answer) => {
                unanswered = None;
                backoff.reset();
                match answer.lease {
                    Some(lease) => {
                        let leases = std::iter::once(lease).chain(answer.bundle).collect();
                        slots.spawn(bundle::run(ctx.clone(), session, leases));
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
