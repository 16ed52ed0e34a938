//! `sweep status ID`: one sweep's counts and best trial, and what each of its
//! running trials is doing (attempt, worker, epoch x/y).

use super::client::Coordinator;
use super::error::CliError;
use super::output;
use super::render::{sweeps, values};

pub async fn run(url: &str, id: &str) -> Result<(), CliError> {
    let mut coordinator = Coordinator::connect(url).await?;
    let summary = coordinator.sweep(id).await?;
    output::print(&sweeps::status_report(&summary, values::now_unix_ms()))
}
