//! `sweep-worker pretrain`. Placeholder until its owner writes it.

/// Command-line arguments of `sweep-worker pretrain`.
#[derive(clap::Args)]
pub struct Args {}

pub fn execute(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
