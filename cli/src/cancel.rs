//! `sweep cancel ID`: stops handing out the sweep's trials; running ones stop
//! at their next heartbeat. Prints the sweep's state afterwards.

use super::client::Coordinator;
use super::error::CliError;
use super::output;
use super::render::{sweeps, values};

pub async fn run(url: &str, id: &str) -> Result<(), CliError> {
    let mut coordinator = Coordinator::connect(url).await?;
    let summary = coordinator.cancel(id).await?;
    output::println(&format!(
        "{} {}: {}",
        summary.sweep_id,
        values::sweep_state(summary.state),
        sweeps::counts(&summary)
    ))
}
