//! `sweep status ID`: one sweep's counts and best trial, and what each of its
//! running trials is doing (attempt, worker, epoch x/y).

use crate::client::SweepClient;
use crate::error::CliError;
use crate::output;
use crate::render::{sweeps, values};

pub async fn run(url: &str, id: &str) -> Result<(), CliError> {
    let mut client = SweepClient::connect(url).await?;
    let summary = client.sweep(id).await?;
    output::print(&sweeps::status_report(&summary, values::now_unix_ms()))
}
