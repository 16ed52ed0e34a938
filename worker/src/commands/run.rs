//! `sweep-worker run`: the daemon that serves a coordinator (see
//! [`crate::daemon`]). This file turns the command line into a
//! [`DaemonConfig`] (the cores split between slots), sets up logging, and drives the daemon on a
//! single-threaded tokio runtime (the trials train in processes of their own).

use crate::daemon::paths::DataRoots;
use crate::daemon::trial_process::TrialProgram;
use crate::daemon::{self, shutdown, DaemonConfig};
use anyhow::Context;
use std::path::PathBuf;
use sweep_runtime::cores;
use sweep_runtime::credentials::Credentials;
use sweep_runtime::logging::{self, LogFormat};

/// Command-line arguments of `sweep-worker run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The coordinator's URL, e.g. http://10.0.0.5:50051 (`host:port` means http).
    #[arg(long, env = "SWEEP_COORDINATOR", value_name = "URL")]
    pub coordinator: String,
    /// Trials run side by side; they split the cores between them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub slots: u32,
    /// Intra-op threads per trial [default: max(1, cores / slots)], applied
    /// by each trial's own process, whatever the trial's config says.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
    /// The name to register under [default: the host name].
    #[arg(long)]
    pub name: Option<String>,
    /// Where reports wait until the coordinator acknowledges them
    /// [default: $XDG_STATE_HOME/sweep-worker, else ~/.local/state/sweep-worker].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// A folder a trial's `data.dir` and `backbone.weights` may lead into
    /// (after symlinks and `..`); repeat for several. A trial naming a path
    /// elsewhere fails, naming the field [default: the working directory
    /// and ~/.cache/sweep]. SWEEP_DATA_ROOT may list several, `:`-separated.
    #[arg(
        long = "data-root",
        env = "SWEEP_DATA_ROOT",
        value_delimiter = ':',
        value_name = "DIR"
    )]
    pub data_roots: Vec<PathBuf>,
    /// Test-only: run simulated trials (no tensors; SWEEP_SIM_EPOCH_MS per epoch;
    /// seed 13013 always fails) instead of the real pipeline.
    #[arg(long, hide = true)]
    pub simulate: bool,
    /// After the first SIGINT/SIGTERM, how many seconds running trials get to
    /// finish before they are handed back as if a second signal came: set it
    /// below the supervisor's own stop timeout (systemd's TimeoutStopSec,
    /// Slurm's --signal lead time, Kubernetes' terminationGracePeriodSeconds)
    /// so nothing is killed mid-trial [default: wait for them].
    #[arg(long, env = "SWEEP_DRAIN_TIMEOUT", value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(0..=7 * 24 * 3600))]
    pub drain_timeout: Option<u64>,
    /// How log lines are written: text for people, json (one object a line) for log shippers.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// File holding this worker's token (one line), sent as `authorization:
    /// Bearer TOKEN`; needed when the coordinator has token files.
    #[arg(long, env = "SWEEP_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) the coordinator's TLS certificate is signed by;
    /// turns TLS on (`host:port` then means https://).
    #[arg(long, env = "SWEEP_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// This worker's client certificate (PEM), for a coordinator with
    /// `client_ca` (mutual TLS); with --tls-key.
    #[arg(long, value_name = "FILE", requires_all = ["ca_cert", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// The key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// The token and TLS the flags name; a file that cannot be used is named.
fn credentials(args: &Args) -> anyhow::Result<Credentials> {
    Ok(Credentials::from_files(
        args.token_file.as_deref(),
        args.ca_cert.as_deref(),
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
    )?)
}

pub fn execute(args: Args) -> anyhow::Result<()> {
    logging::init(args.log_format);

    let cores = cores::available();
    let threads_per_trial = args.threads.unwrap_or(cores::share(cores, args.slots));
    let program = TrialProgram {
        exe: std::env::current_exe().context("cannot find this program's own path")?,
        simulate: args.simulate,
        log_format: args.log_format,
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
    let credentials = credentials(&args)?;
    let config = DaemonConfig {
        coordinator: credentials.url(&args.coordinator)?,
        slots: args.slots,
        threads_per_trial,
        name: args.name.unwrap_or_else(crate::host::hostname),
        cores,
        version,
        state_dir: args.state_dir.unwrap_or_else(default_state_dir),
        program,
        credentials,
        data_roots: if args.data_roots.is_empty() {
            DataRoots::defaults()
        } else {
            DataRoots::new(args.data_roots)
        },
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let (trigger, shutdown) = shutdown::channel();
        shutdown::listen_for_signals(
            trigger,
            args.drain_timeout.map(std::time::Duration::from_secs),
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
