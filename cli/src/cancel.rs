//! `sweep cancel ID`: stops handing out the sweep's trials; running ones stop
//! at their next heartbeat. Prints the sweep's state afterwards.

use crate::client::SweepClient;
use crate::error::CliError;
use crate::output;
use crate::render::{sweeps, values};

pub async fn run(url: &str, id: &str) -> Result<(), CliError> {
    let mut client = SweepClient::connect(url).await?;
    let summary = client.cancel(id).await?;
    output::println(&format!(
        "{} {}: {}",
        summary.sweep_id,
        values::sweep_state(summary.state),
        sweeps::counts(&summary)
    ))
}
