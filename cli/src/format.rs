//! `--format table|csv|json`: how a listing command prints its records
//! (`leaderboard`, `workers`).

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// A header row, then one row per record.
    Csv,
    /// An array of objects, one per record.
    Json,
}
