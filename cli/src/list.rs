//! `sweep list`: every sweep the coordinator knows, one row each.

use super::client::Coordinator;
use super::error::CliError;
use super::output;
use super::render::sweeps;

pub async fn run(url: &str) -> Result<(), CliError> {
    let mut coordinator = Coordinator::connect(url).await?;
    let all = coordinator.sweeps().await?;
    if all.is_empty() {
        output::note(&format!("no sweeps at {}", coordinator.url()));
        return Ok(());
    }
    output::print(&sweeps::list_table(&all))
}
