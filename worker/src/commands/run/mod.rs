//! `sweep-worker run`: the daemon that serves a coordinator (see
//! [`crate::daemon`]). This file turns the command line into a
//! [`DaemonConfig`] (settings layered by [`settings`]; the cores split between slots), sets up logging, and drives the daemon on a
//! single-threaded tokio runtime (the trials train in processes of their own).

use crate::daemon::paths::DataRoots;
use crate::daemon::trial_process::TrialProgram;
use crate::daemon::{self, shutdown, DaemonConfig};
use anyhow::Context;
use settings::{Flags, WorkerSettings};
use std::path::PathBuf;
use sweep_runtime::cores;
use sweep_runtime::credentials::Credentials;
use sweep_runtime::logging;

pub mod settings;

/// Command-line arguments of `sweep-worker run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Settings file (*.toml or *.yaml) with keys coordinator, slots,
    /// threads, token_file, ca_cert, data_roots, cache_dir, drain_timeout, ...
    /// (deploy/worker.toml); the environment and the flags override it.
    #[arg(long = "config", env = settings::CONFIG_ENV, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    #[command(flatten)]
    pub flags: Flags,
    /// Test-only: run simulated trials (no tensors; SWEEP_SIM_EPOCH_MS per epoch;
    /// seed 13013 always fails) instead of the real pipeline.
    #[arg(long, hide = true)]
    pub simulate: bool,
}

/// The token and TLS the settings name; a file that cannot be used is named.
fn credentials(settings: &WorkerSettings) -> anyhow::Result<Credentials> {
    Ok(Credentials::from_files(
        settings.token_file.as_deref(),
        settings.ca_cert.as_deref(),
        settings.tls_cert.as_deref(),
        settings.tls_key.as_deref(),
    )?)
}

pub fn execute(args: Args) -> anyhow::Result<()> {
    let settings = settings::load(args.config_file.as_deref(), &args.flags, std::env::vars())?;
    logging::init(settings.log_format);

    let cores = cores::available();
    let threads_per_trial = settings
        .threads
        .unwrap_or(cores::share(cores, settings.slots));
    let program = TrialProgram {
        exe: std::env::current_exe().context("cannot find this program's own path")?,
        simulate: args.simulate,
        log_format: settings.log_format,
    };
    let version = format!(
        "sweep-worker {}{}",
        env!("CARGO_PKG_VERSION"),
        if args.simulate {
            " (simulated trials)"
        } else {
            ""
        }
    );
    let credentials = credentials(&settings)?;
    let coordinator = settings.coordinator.as_deref().unwrap_or_default();
    let config = DaemonConfig {
        coordinator: credentials.url(coordinator)?,
        slots: settings.slots,
        bundle: settings.bundle,
        memory_per_slot: settings
            .memory_per_slot_mb
            .map(|mib| mib.saturating_mul(1 << 20)),
        threads_per_trial,
        name: settings.name.clone().unwrap_or_else(crate::host::hostname),
        cores,
        version,
        state_dir: settings.state_dir.clone().unwrap_or_else(default_state_dir),
        shared_dir: settings.shared_dir.clone(),
        program,
        credentials,
        data_roots: DataRoots::new(settings.data_roots()),
        metrics_listen: settings.metrics_listen,
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let (trigger, shutdown) = shutdown::channel();
        shutdown::listen_for_signals(
            trigger,
            settings.drain_timeout.map(std::time::Duration::from_secs),
        )
        .context("cannot listen for SIGINT/SIGTERM")?;
        Ok(daemon::run(config, shutdown).await?)
    })
}

/// `$XDG_STATE_HOME/sweep-worker`, else `~/.local/state/sweep-worker`, else
/// a folder in the temp dir.
fn default_state_dir() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })
        .unwrap_or_else(std::env::temp_dir);
    base.join("sweep-worker")
}
