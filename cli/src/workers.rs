//! `sweep workers [--format table|csv|json]`: every worker the coordinator
//! knows, with its state (active, draining, quarantined, gone), when it was
//! last heard from and how its trials went.

use crate::client::{Coordinator, SweepClient};
use crate::error::CliError;
use crate::format::Format;
use crate::output;
use crate::render::{values, workers};
use clap::Args;

#[derive(Debug, Args, PartialEq, Eq)]
pub struct WorkersArgs {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(to: &Coordinator, args: &WorkersArgs) -> Result<(), CliError> {
    let mut client = SweepClient::connect_to(to).await?;
    let all = client.workers().await?;
    if all.is_empty() && args.format == Format::Table {
        output::note(&format!("no workers at {}", client.url()));
        return Ok(());
    }
    output::print(&match args.format {
        Format::Table => workers::table(&all, values::now_unix_ms()),
        Format::Csv => workers::csv(&all),
        Format::Json => workers::json(&all),
    })
}
