//! `sweep list`: every sweep the coordinator knows, one row each.

use crate::client::SweepClient;
use crate::error::CliError;
use crate::output;
use crate::render::sweeps;

pub async fn run(url: &str) -> Result<(), CliError> {
    let mut client = SweepClient::connect(url).await?;
    let all = client.sweeps().await?;
    if all.is_empty() {
        output::note(&format!("no sweeps at {}", client.url()));
        return Ok(());
    }
    output::print(&sweeps::list_table(&all))
}
