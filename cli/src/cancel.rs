//! `sweep cancel ID`: stops handing out the sweep's trials; running ones stop
//! at their next heartbeat. Prints the sweep's state afterwards.

use crate::client::{Coordinator, SweepClient};
use crate::error::CliError;
use crate::output;
use crate::render::{sweeps, values};
use crate::sanitize::clean;

pub async fn run(to: &Coordinator, id: &str) -> Result<(), CliError> {
    let mut client = SweepClient::connect_to(to).await?;
    let summary = client.cancel(id).await?;
    output::println(&format!(
        "{} {}: {}",
        clean(&summary.sweep_id),
        values::sweep_state(summary.state),
        sweeps::counts(&summary)
    ))
}
