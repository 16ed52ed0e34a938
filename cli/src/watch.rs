//! `sweep watch ID`: live progress of one sweep until it ends, then the top of
//! its leaderboard. [`follow`] is shared with `submit --watch`;
//! [`stream_next`], [`check_end`] and [`print_top`] with `sweep run`.

use crate::client::{Coordinator, SummaryStream, SweepClient};
use crate::error::CliError;
use crate::output;
use crate::progress::{self, ProgressView};
use crate::render::leaderboard::Leaderboard;
use crate::render::sweeps;
use crate::render::values;
use crate::sanitize::clean;
use clap::Args;
use sweep_proto::v1::{SweepState, SweepSummary};

#[derive(Debug, Args, PartialEq, Eq)]
pub struct WatchArgs {
    /// The sweep's id (as `sweep submit` or `sweep list` print it).
    pub id: String,
    /// How many leaderboard rows to print when the sweep ends (0 = all).
    #[arg(long, default_value_t = 10)]
    pub top: u32,
}

pub async fn run(to: &Coordinator, args: &WatchArgs) -> Result<(), CliError> {
    let mut client = SweepClient::connect_to(to).await?;
    follow(&mut client, &args.id, args.top).await
}

/// Shows progress until the sweep ends, then prints its leaderboard's top.
pub async fn follow(client: &mut SweepClient, id: &str, top: u32) -> Result<(), CliError> {
    let mut stream = client.watch(id).await?;
    let mut view = progress::for_this_terminal();
    let mut last = None;
    while stream_next(&mut stream, view.as_mut(), &mut last).await? {}
    view.finish();
    let last = check_end(id, last)?;
    print_top(client, &last, top).await
}

/// Reads one summary from the stream and shows it; `false` once the stream
/// ends. `last` keeps the latest summary. Cancel-safe.
pub async fn stream_next(
    stream: &mut SummaryStream,
    view: &mut dyn ProgressView,
    last: &mut Option<SweepSummary>,
) -> Result<bool, CliError> {
    match stream.next().await? {
        Some(summary) => {
            view.update(&summary);
            *last = Some(summary);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Whether a summary says the sweep is over.
pub fn has_ended(summary: &SweepSummary) -> bool {
    summary.state == SweepState::Finished as i32 || summary.state == SweepState::Cancelled as i32
}

/// The stream ended: it must have ended with the sweep.
pub fn check_end(id: &str, last: Option<SweepSummary>) -> Result<SweepSummary, CliError> {
    match last {
        None => Err(CliError::WatchEndedWithoutState { id: id.to_string() }),
        Some(s) if !has_ended(&s) => Err(CliError::WatchEndedEarly {
            id: id.to_string(),
            state: values::sweep_state(s.state),
            counts: sweeps::counts(&s),
        }),
        Some(s) => Ok(s),
    }
}

/// The ended sweep's outcome line (stderr), then its leaderboard's top
/// (stdout). Fails when the sweep finished with no trial done.
pub async fn print_top(
    client: &mut SweepClient,
    summary: &SweepSummary,
    top: u32,
) -> Result<(), CliError> {
    let id = &summary.sweep_id;
    output::note(&format!(
        "sweep {} {}: {}",
        clean(id),
        values::sweep_state(summary.state),
        sweeps::counts(summary)
    ));
    let response = client.trials(id, top).await?;
    let board = Leaderboard::from_response(&response);
    let shown = if top == 0 || top as u64 >= summary.total {
        format!("all {}", summary.total)
    } else {
        format!("top {top} of {}", summary.total)
    };
    output::print(&format!(
        "\nleaderboard of {} by {}, {shown}:\n{}",
        clean(id),
        clean(&board.metric_label()),
        board.table()
    ))?;
    nothing_done_is_an_error(summary)
}

/// A finished sweep where not one trial succeeded is a failure of the run.
pub fn nothing_done_is_an_error(summary: &SweepSummary) -> Result<(), CliError> {
    if summary.state == SweepState::Finished as i32 && summary.total > 0 && summary.done == 0 {
        return Err(CliError::NothingSucceeded {
            id: summary.sweep_id.clone(),
            failed: summary.failed,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(state: SweepState, done: u64, failed: u64) -> SweepSummary {
        SweepSummary {
            sweep_id: "sw-1".into(),
            state: state as i32,
            total: done + failed,
            done,
            failed,
            ..Default::default()
        }
    }

    #[test]
    fn a_stream_must_end_with_the_sweep() {
        assert!(check_end("sw-1", None)
            .unwrap_err()
            .to_string()
            .contains("`sw-1`"));
        let err = check_end("sw-1", Some(summary(SweepState::Running, 1, 0))).unwrap_err();
        assert!(err.to_string().contains("still running"), "{err}");
        assert!(check_end("sw-1", Some(summary(SweepState::Finished, 1, 0))).is_ok());
        assert!(check_end("sw-1", Some(summary(SweepState::Cancelled, 0, 0))).is_ok());
    }

    #[test]
    fn a_sweep_with_no_success_is_an_error() {
        assert!(nothing_done_is_an_error(&summary(SweepState::Finished, 0, 3)).is_err());
        assert!(nothing_done_is_an_error(&summary(SweepState::Finished, 1, 3)).is_ok());
        assert!(nothing_done_is_an_error(&summary(SweepState::Cancelled, 0, 0)).is_ok());
    }
}
