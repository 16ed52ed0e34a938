//! `sweep status ID [--db FILE]`: one sweep's counts and best trial, and what each of its
//! running trials is doing (attempt, worker, epoch x/y).

use crate::client::{Coordinator, SweepClient};
use crate::error::CliError;
use crate::output;
use crate::render::{sweeps, values};

pub async fn run(to: &Coordinator, id: &str) -> Result<(), CliError> {
    let mut client = SweepClient::connect_to(to).await?;
    let summary = client.sweep(id).await?;
    output::print(&sweeps::status_report(&summary, values::now_unix_ms()))
}

/// The same report from `--db`'s file (read-only).
pub async fn run_local(db: &std::path::Path, id: &str) -> Result<(), CliError> {
    let summary = crate::local_db::sweep(db, id).await?;
    output::print(&sweeps::status_report(&summary, values::now_unix_ms()))
}
