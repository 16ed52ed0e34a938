//! `sweep submit FILE [--watch]`: sends a sweep file to the coordinator. The
//! new sweep's id is the only thing on stdout (`ID=$(sweep submit f.yaml)`);
//! the trial count goes to stderr. `--watch` then follows it like `sweep watch`.
//! The file goes with the fingerprints of the input files its trials name
//! ([`fingerprints`](crate::fingerprints)), so that trials finished in an
//! earlier sweep on the same files are reused, not run again; how many
//! were (and why others could not be) goes to stderr too.

use crate::client::{Coordinator, SweepClient};
use crate::error::CliError;
use crate::fingerprints::Fingerprints;
use crate::sanitize::clean;
use crate::{output, source, watch};
use clap::Args;
use std::path::PathBuf;
use sweep_proto::v1::SubmitSweepResponse;

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
    let inputs = fingerprints(&file).await;
    let mut client = SweepClient::connect_to(to).await?;
    let submitted = client
        .submit(file.text, file.source_name, inputs.sha256.clone())
        .await?;
    output::println(&clean(&submitted.sweep_id))?;
    for line in describe(&args.file.display().to_string(), &submitted, &inputs) {
        output::note(&line);
    }
    if args.watch {
        watch::follow(&mut client, &submitted.sweep_id, args.top).await?;
    }
    Ok(())
}

/// The fingerprints of the inputs `file` names, read on a blocking thread
/// (a backbone is tens of megabytes).
pub async fn fingerprints(file: &source::SweepFileText) -> Fingerprints {
    let (text, name) = (file.text.clone(), file.source_name.clone());
    tokio::task::spawn_blocking(move || crate::fingerprints::of_sweep_file(&text, &name))
        .await
        .unwrap_or_default()
}

/// What `submit` and `run` say of a stored sweep: its trials and how many
/// were reused, then the coordinator's note on trials that could have been
/// reused and were not (with the files unreadable here, if any).
pub fn describe(source: &str, r: &SubmitSweepResponse, inputs: &Fingerprints) -> Vec<String> {
    let mut first = format!(
        "submitted {} as {}: {} trials",
        clean(source),
        clean(&r.sweep_id),
        r.trial_count
    );
    if r.reused > 0 {
        first.push_str(&format!(
            ", {} of them reused from earlier sweeps (done, not run again)",
            r.reused
        ));
    }
    let mut lines = vec![first];
    if !r.reuse_note.is_empty() {
        let mut note = clean(&r.reuse_note).into_owned();
        if !inputs.unreadable.is_empty() {
            let names: Vec<String> = inputs
                .unreadable
                .iter()
                .map(|p| clean(p).into_owned())
                .collect();
            note.push_str(&format!(" (unreadable here: {})", names.join(", ")));
        }
        lines.push(note);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_says_how_many_were_reused_and_why_others_were_not() {
        let mut r = SubmitSweepResponse {
            sweep_id: "sw-a".into(),
            trial_count: 4,
            ..Default::default()
        };
        let none = Fingerprints::default();
        assert_eq!(
            describe("g.yaml", &r, &none),
            ["submitted g.yaml as sw-a: 4 trials"]
        );
        r.reused = 3;
        r.reuse_note = "1 trial(s) that finished in an earlier sweep will run again".into();
        let inputs = Fingerprints {
            unreadable: vec!["data/mnist".into()],
            ..Default::default()
        };
        assert_eq!(
            describe("g.yaml", &r, &inputs),
            [
                "submitted g.yaml as sw-a: 4 trials, 3 of them reused from earlier sweeps (done, not run again)",
                "1 trial(s) that finished in an earlier sweep will run again (unreadable here: data/mnist)",
            ]
        );
    }
}
