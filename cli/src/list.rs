//! `sweep list`: every sweep the coordinator knows, one row each.

use crate::client::{Coordinator, SweepClient};
use crate::error::CliError;
use crate::output;
use crate::render::sweeps;

pub async fn run(to: &Coordinator) -> Result<(), CliError> {
    let mut client = SweepClient::connect_to(to).await?;
    let all = client.sweeps().await?;
    if all.is_empty() {
        output::note(&format!("no sweeps at {}", client.url()));
        return Ok(());
    }
    output::print(&sweeps::list_table(&all))
}
