//! The `sweep list` table (one row per sweep) and the `sweep status` report
//! (one sweep's counts, trials reused from earlier sweeps and `execution:`
//! settings off their default when there are any, workers, why it is stalled
//! if it is, best trial and running trials).

use super::table::{Align, Table};
use super::values;
use crate::sanitize::clean;
use sweep_proto::v1::{RunningTrial, SweepSummary};

/// One row per sweep: id, name, state, trial counts, best metric.
pub fn list_table(sweeps: &[SweepSummary]) -> String {
    let mut table = Table::new()
        .column("id", Align::Left)
        .column("name", Align::Left)
        .column("state", Align::Left)
        .column("done", Align::Right)
        .column("running", Align::Right)
        .column("pending", Align::Right)
        .column("failed", Align::Right)
        .column("total", Align::Right)
        .column("best", Align::Left);
    for s in sweeps {
        table.row(vec![
            s.sweep_id.clone(),
            s.name.clone(),
            values::sweep_state(s.state).to_string(),
            s.done.to_string(),
            s.running.to_string(),
            s.pending.to_string(),
            s.failed.to_string(),
            s.total.to_string(),
            best(s),
        ]);
    }
    table.render()
}

/// `val_acc 0.9785`, or `-` before any trial finished.
pub fn best(s: &SweepSummary) -> String {
    match s.best_metric {
        Some(m) => format!("{} {}", clean(&s.metric_name), values::metric(m)),
        None => "-".to_string(),
    }
}

/// `done 3 · running 2 · pending 3 · failed 0` (plus cancelled and stopped
/// when any).
pub fn counts(s: &SweepSummary) -> String {
    let mut text = format!(
        "done {} · running {} · pending {} · failed {}",
        s.done, s.running, s.pending, s.failed
    );
    if s.cancelled > 0 {
        text.push_str(&format!(" · cancelled {}", s.cancelled));
    }
    if s.stopped > 0 {
        text.push_str(&format!(" · stopped {}", s.stopped));
    }
    text
}

/// `epochs   41 run · 202 saved by early stopping (83%)`, when a trial was
/// stopped early; `None` otherwise.
pub fn epochs_saved(s: &SweepSummary) -> Option<String> {
    if s.stopped == 0 && s.epochs_saved == 0 {
        return None;
    }
    let all = s.epochs_run + s.epochs_saved;
    let share = if all == 0 {
        0.0
    } else {
        100.0 * s.epochs_saved as f64 / all as f64
    };
    Some(format!(
        "{} run · {} saved by early stopping ({share:.0}%)",
        s.epochs_run, s.epochs_saved
    ))
}

/// The sweep file's `execution:` settings that differ from the default
/// (`sharing off · reuse off`); `None` when both are on.
pub fn execution(s: &SweepSummary) -> Option<String> {
    let off: Vec<&str> = [(s.sharing_off, "sharing off"), (s.reuse_off, "reuse off")]
        .into_iter()
        .filter_map(|(off, text)| off.then_some(text))
        .collect();
    (!off.is_empty()).then(|| off.join(" · "))
}

/// `2 active · 1 quarantined`.
pub fn workers(s: &SweepSummary) -> String {
    format!(
        "{} active · {} quarantined",
        s.workers_active, s.workers_quarantined
    )
}

/// What `watch` says about workers when it matters: why the sweep is stalled,
/// or how many workers are quarantined; `None` while all is well.
pub fn workers_note(s: &SweepSummary) -> Option<String> {
    if !s.stalled_reason.is_empty() {
        Some(format!("stalled: {}", clean(&s.stalled_reason)))
    } else if s.workers_quarantined > 0 {
        Some(format!("workers: {}", workers(s)))
    } else {
        None
    }
}

/// `epoch 2/10`.
pub fn epochs(t: &RunningTrial) -> String {
    format!("epoch {}/{}", t.epochs_done, t.total_epochs)
}

/// One sweep's summary, then a table of its running trials.
pub fn status_report(s: &SweepSummary, now_unix_ms: u64) -> String {
    let mut out = format!(
        "sweep    {} ({})\nstate    {}\nmetric   {} ({})\ncreated  {}\ntrials   {} total · {}\n",
        clean(&s.sweep_id),
        clean(&s.name),
        values::sweep_state(s.state),
        clean(&s.metric_name),
        clean(&s.metric_goal),
        values::ago(s.created_unix_ms, now_unix_ms),
        s.total,
        counts(s),
    );
    if let Some(saved) = epochs_saved(s) {
        out.push_str(&format!("epochs   {saved}\n"));
    }
    if s.reused > 0 {
        out.push_str(&format!(
            "reused   {} of the done trials are copies of earlier sweeps' results (not run here)\n",
            s.reused
        ));
    }
    if let Some(settings) = execution(s) {
        out.push_str(&format!("options  execution: {settings}\n"));
    }
    out.push_str(&format!("workers  {}\n", workers(s)));
    if !s.stalled_reason.is_empty() {
        out.push_str(&format!("stalled  {}\n", clean(&s.stalled_reason)));
    }
    match s.best_metric {
        Some(m) => out.push_str(&format!(
            "best     {} {} (trial {})\n",
            clean(&s.metric_name),
            values::metric(m),
            clean(&s.best_trial_id)
        )),
        None => out.push_str("best     - (no trial finished yet)\n"),
    }
    if s.running_trials.is_empty() {
        out.push_str("\nno trial running\n");
        return out;
    }
    let mut table = Table::new()
        .column("trial", Align::Left)
        .column("attempt", Align::Right)
        .column("worker", Align::Left)
        .column("epoch", Align::Right)
        .column("val_acc", Align::Right);
    for t in &s.running_trials {
        table.row(vec![
            t.trial_id.clone(),
            t.attempt.to_string(),
            t.worker_id.clone(),
            format!("{}/{}", t.epochs_done, t.total_epochs),
            values::or_dash(t.last_val_acc.map(values::metric)),
        ]);
    }
    out.push_str("\nrunning trials:\n");
    out.push_str(&table.render());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweep_proto::v1::SweepState;

    fn summary() -> SweepSummary {
        SweepSummary {
            sweep_id: "sw-0011aabb".into(),
            name: "lr-unfreeze-grid".into(),
            state: SweepState::Running as i32,
            metric_name: "val_acc".into(),
            metric_goal: "maximize".into(),
            created_unix_ms: 1_000,
            total: 8,
            pending: 3,
            running: 2,
            done: 3,
            failed: 0,
            cancelled: 0,
            best_metric: Some(0.97854),
            best_trial_id: "aaaa000011112222".into(),
            running_trials: vec![
                RunningTrial {
                    trial_id: "bbbb000011112222".into(),
                    attempt: 1,
                    worker_id: "w-1".into(),
                    epochs_done: 2,
                    total_epochs: 10,
                    last_val_acc: Some(0.91),
                },
                RunningTrial {
                    trial_id: "cccc000011112222".into(),
                    attempt: 2,
                    worker_id: "w-2".into(),
                    epochs_done: 0,
                    total_epochs: 10,
                    last_val_acc: None,
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn list_has_counts_and_best() {
        let mut other = summary();
        other.sweep_id = "sw-ffff0000".into();
        other.name = "seed".into();
        other.state = SweepState::Finished as i32;
        other.best_metric = None;
        let text = list_table(&[summary(), other]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("id "));
        assert!(
            lines[1].starts_with("sw-0011aabb  lr-unfreeze-grid  running"),
            "{}",
            lines[1]
        );
        assert!(lines[1].ends_with("val_acc 0.9785"));
        assert!(lines[2].contains("finished") && lines[2].ends_with('-'));
    }

    #[test]
    fn status_shows_running_trials() {
        let text = status_report(&summary(), 61_000);
        assert!(text.contains("created  1m00s ago"));
        assert!(text.contains("done 3 · running 2 · pending 3 · failed 0"));
        assert!(text.contains("best     val_acc 0.9785 (trial aaaa000011112222)"));
        let row = text.lines().find(|l| l.starts_with("bbbb")).unwrap();
        assert!(
            row.contains("w-1") && row.contains("2/10") && row.ends_with("0.9100"),
            "{row}"
        );
        let row = text.lines().find(|l| l.starts_with("cccc")).unwrap();
        assert!(row.ends_with('-'), "{row}");
    }

    #[test]
    fn status_shows_reused_trials_and_execution_settings_only_off_their_default() {
        let text = status_report(&summary(), 61_000);
        assert!(
            !text.contains("reused") && !text.contains("execution"),
            "{text}"
        );
        let mut s = summary();
        s.reused = 2;
        s.sharing_off = true;
        let text = status_report(&s, 61_000);
        assert!(
            text.contains("reused   2 of the done trials are copies of earlier sweeps"),
            "{text}"
        );
        assert!(text.contains("options  execution: sharing off\n"), "{text}");
        s.reuse_off = true;
        let text = status_report(&s, 61_000);
        assert!(
            text.contains("options  execution: sharing off · reuse off\n"),
            "{text}"
        );
    }

    #[test]
    fn status_shows_workers_and_why_the_sweep_is_stalled() {
        let mut s = summary();
        s.workers_active = 2;
        s.workers_quarantined = 1;
        let text = status_report(&s, 1_000);
        assert!(
            text.contains("workers  2 active · 1 quarantined\n"),
            "{text}"
        );
        assert!(!text.contains("stalled"));
        assert_eq!(
            workers_note(&s).unwrap(),
            "workers: 2 active · 1 quarantined"
        );
        s.workers_active = 0;
        s.stalled_reason = "3 trials are pending but no worker can take them".into();
        let text = status_report(&s, 1_000);
        assert!(
            text.contains("stalled  3 trials are pending but no worker can take them\n"),
            "{text}"
        );
        assert!(workers_note(&s).unwrap().starts_with("stalled: 3 trials"));
        s.stalled_reason.clear();
        s.workers_quarantined = 0;
        assert_eq!(workers_note(&s), None);
    }

    #[test]
    fn terminal_escapes_from_the_network_never_reach_the_output() {
        let evil = "x\x1b[2J\x1b]0;pwned\x07\ry";
        let mut s = summary();
        s.name = evil.into();
        s.sweep_id = evil.into();
        s.metric_name = evil.into();
        s.best_trial_id = evil.into();
        s.running_trials[0].trial_id = evil.into();
        s.running_trials[0].worker_id = format!("{evil}\u{9b}31m\u{202e}");
        for text in [
            status_report(&s, 1_000),
            list_table(std::slice::from_ref(&s)),
        ] {
            assert!(
                !text.contains(['\x1b', '\x07', '\r', '\u{9b}', '\u{202e}']),
                "{text:?}"
            );
            assert!(text.contains("xy"), "{text}");
        }
    }

    #[test]
    fn status_without_running_trials_says_so() {
        let mut s = summary();
        s.running_trials.clear();
        s.best_metric = None;
        let text = status_report(&s, 1_000);
        assert!(text.contains("no trial running"));
        assert!(text.contains("no trial finished yet"));
    }
}
