//! `sweep-worker run`. Placeholder until its owner writes it.

/// Command-line arguments of `sweep-worker run`.
#[derive(clap::Args)]
pub struct Args {}

pub fn execute(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
