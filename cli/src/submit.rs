//! `sweep submit FILE [--watch]`: sends a sweep file to the coordinator. The
//! new sweep's id is the only thing on stdout (`ID=$(sweep submit f.yaml)`);
//! the trial count goes to stderr. `--watch` then follows it like `sweep watch`.

use crate::client::{Coordinator, SweepClient};
use crate::error::CliError;
use crate::sanitize::clean;
use crate::{output, source, watch};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args, PartialEq, Eq)]
pub struct SubmitArgs {
    /// The sweep file (YAML).
    pub file: PathBuf,
    /// Follow the sweep's progress until it ends, then print its leaderboard.
    #[arg(long)]
    pub watch: bool,
    /// With --watch: leaderboard rows to print at the end (0 = all).
    #[arg(long, default_value_t = 10, requires = "watch")]
    pub top: u32,
}

pub async fn run(to: &Coordinator, args: &SubmitArgs) -> Result<(), CliError> {
    // Read first: a missing file is reported without touching the network.
    let file = source::read(&args.file)?;
    let mut client = SweepClient::connect_to(to).await?;
    let submitted = client.submit(file.text, file.source_name).await?;
    output::println(&clean(&submitted.sweep_id))?;
    output::note(&format!(
        "submitted {} as {}: {} trials",
        args.file.display(),
        clean(&submitted.sweep_id),
        submitted.trial_count
    ));
    if args.watch {
        watch::follow(&mut client, &submitted.sweep_id, args.top).await?;
    }
    Ok(())
}
