//! `sweep-worker trial-child` (hidden): one attempt in a process of its own,
//! started by the daemon for every trial it leases (see [`crate::child`]).
//! Not for people: its stdin and stdout are the daemon's pipe.

use crate::daemon::{simulated, TrialFn};
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
}

pub fn execute(args: Args) -> anyhow::Result<()> {
    logging::init(args.log_format);
    let trial_fn: TrialFn = if args.simulate {
        simulated::run_trial
    } else {
        crate::pipeline::run_trial
    };
    Ok(crate::child::run(trial_fn)?)
}
