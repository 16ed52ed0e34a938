//! `sweep report ID -o FILE [--db DB]`: one self-contained HTML file of a
//! sweep (charts, table and the best trial, with ECharts and every number
//! inlined; see `sweep_coordinator::dashboard::report`), asked of the
//! coordinator over gRPC ([`crate::remote_view`]), or with `--db` read from
//! its database file, read-only.

use crate::client::{Coordinator, SweepClient};
use crate::error::CliError;
use crate::local_db;
use clap::Args;
use std::path::PathBuf;
use sweep_coordinator::dashboard::{report, SweepView};

#[derive(Debug, Args, PartialEq, Eq)]
pub struct ReportArgs {
    /// The sweep's id.
    pub id: String,
    /// Where the HTML goes.
    #[arg(short, long, value_name = "FILE", default_value = "report.html")]
    pub output: PathBuf,
    /// Read the coordinator's database file directly (read-only) instead of
    /// asking the coordinator.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
}

/// The report from the coordinator's answers.
pub async fn run(to: &Coordinator, args: &ReportArgs) -> Result<(), CliError> {
    let mut client = SweepClient::connect_to(to).await?;
    let summary = client.sweep(&args.id).await?;
    let ranking = client.trials(&args.id, 0).await?;
    let (view, best) = crate::remote_view::view(summary, ranking);
    write(args, &report::render(&view, best, &now_text()))
}

/// The report from `--db`'s file.
pub async fn run_local(args: &ReportArgs) -> Result<(), CliError> {
    let db = args.db.as_deref().expect("run_local is for --db");
    let id = args.id.clone();
    let generated = now_text();
    let html = local_db::read(db, move |store| {
        let view = SweepView::read(store, &id)?;
        report::render_from_store(store, &view, &generated)
    })
    .await?;
    write(args, &html)
}

fn write(args: &ReportArgs, html: &str) -> Result<(), CliError> {
    std::fs::write(&args.output, html).map_err(|source| CliError::CannotCreate {
        path: args.output.clone(),
        source,
    })?;
    eprintln!("wrote {}", args.output.display());
    Ok(())
}

/// The time now, UTC, as `2026-11-30 01:40 UTC`.
fn now_text() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_become_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_787), (2026, 11, 30));
    }
}
