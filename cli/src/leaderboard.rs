//! `sweep leaderboard ID [--top K] [--format table|csv|json] [--db FILE]`: the sweep's
//! trials as the coordinator ranks them (validation metric; test never ranks).

use crate::client::{Coordinator, SweepClient};
use crate::error::CliError;
use crate::output;
use crate::render::leaderboard::Leaderboard;
use clap::Args;

pub use crate::format::Format;

#[derive(Debug, Args, PartialEq, Eq)]
pub struct LeaderboardArgs {
    /// The sweep's id.
    pub id: String,
    /// Only the best K trials (0 = all).
    #[arg(long, default_value_t = 0)]
    pub top: u32,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Read the coordinator's database file directly (read-only) instead of
    /// asking the coordinator.
    #[arg(long, value_name = "FILE")]
    pub db: Option<std::path::PathBuf>,
}

pub async fn run(to: &Coordinator, args: &LeaderboardArgs) -> Result<(), CliError> {
    let mut client = SweepClient::connect_to(to).await?;
    let response = client.trials(&args.id, args.top).await?;
    print(&response, args)
}

/// The leaderboard from `--db`'s file.
pub async fn run_local(args: &LeaderboardArgs) -> Result<(), CliError> {
    let db = args.db.as_deref().expect("run_local is for --db");
    let response = crate::local_db::trials(db, &args.id, args.top).await?;
    print(&response, args)
}

fn print(
    response: &sweep_proto::v1::ListTrialsResponse,
    args: &LeaderboardArgs,
) -> Result<(), CliError> {
    let board = Leaderboard::from_response(response);
    output::print(&match args.format {
        Format::Table => board.table(),
        Format::Csv => board.csv(),
        Format::Json => board.json(),
    })
}
