//! `sweep-worker trial-child` (hidden): one attempt in a process of its own,
//! started by the daemon for every trial it leases (see [`crate::child`]).
//! Not for people: its stdin and stdout are the daemon's pipe.

use crate::child::artifacts::Request;
use crate::child::ChildTrialFn;
use crate::daemon::simulated;
use std::path::PathBuf;
use sweep_proto::artifacts::ArtifactKind;
use sweep_runtime::logging::{self, LogFormat};

/// Command-line arguments of `sweep-worker trial-child`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run the simulated trial (the daemon's `--simulate`, tests only).
    #[arg(long)]
    pub simulate: bool,
    /// How log lines (to stderr, the daemon's log) are written.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The attempt's private folder, where a successful trial leaves the
    /// files `--artifacts` names for the daemon to upload.
    #[arg(long, requires = "artifacts")]
    pub artifacts_dir: Option<PathBuf>,
    /// Comma-separated kinds: best_weights, gradcam, confusion.
    #[arg(long, value_delimiter = ',', value_parser = parse_kind)]
    pub artifacts: Vec<ArtifactKind>,
    /// The worker's folder of what trials compute alike: use what earlier
    /// trials left there, or leave it (see `pipeline::shared`). Absent: the
    /// trial computes everything itself and leaves nothing.
    #[arg(long)]
    pub shared_dir: Option<PathBuf>,
    /// A member of a lockstep bundle: wait for the daemon's `go` before
    /// starting and after giving the turn up between epochs.
    #[arg(long)]
    pub turns: bool,
}

fn parse_kind(s: &str) -> Result<ArtifactKind, String> {
    ArtifactKind::parse(s).ok_or_else(|| format!("unknown artifact kind `{s}`"))
}

pub fn execute(args: Args) -> anyhow::Result<()> {
    logging::init(args.log_format);
    let trial_fn: ChildTrialFn = if args.simulate {
        |cfg, observer, cancel, _| simulated::run_trial(cfg, observer, cancel)
    } else {
        crate::pipeline::run_trial_with_options
    };
    let artifacts = args.artifacts_dir.map(|dir| Request {
        dir,
        kinds: args.artifacts,
    });
    Ok(crate::child::run(
        trial_fn,
        artifacts,
        args.shared_dir,
        args.simulate,
        args.turns,
    )?)
}
