//! `sweep-worker train`. Placeholder until its owner writes it.

/// Command-line arguments of `sweep-worker train`.
#[derive(clap::Args)]
pub struct Args {}

pub fn execute(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
