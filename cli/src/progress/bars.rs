//! Progress as indicatif bars on a terminal: one bar for the whole sweep
//! (finished / total, with the done / running / pending / failed counts and
//! the best metric), and one bar per running trial (epoch x / y, attempt,
//! worker, last validation accuracy). Bars of trials that stopped running go
//! away; notes (and why the sweep is stalled) print above the bars; at the end the bars give way to one
//! plain line with the final counts.

use super::ProgressView;
use crate::render::{sweeps, values};
use crate::sanitize::clean;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use sweep_proto::v1::{RunningTrial, SweepSummary};

const OVERALL_TEMPLATE: &str = "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} {msg}";
const TRIAL_TEMPLATE: &str = "  {prefix} [{bar:20.green/white}] epoch {pos}/{len} {msg}";

/// Terminal bars (drawn on stderr).
pub struct Bars {
    multi: MultiProgress,
    /// Added at the first summary (an empty bar would draw as full).
    overall: Option<ProgressBar>,
    trials: HashMap<String, ProgressBar>,
    /// The overall bar's text, left on screen as a plain line at the end.
    last_line: Option<String>,
    /// The latest workers note (stalled, quarantined), printed once.
    last_workers: Option<String>,
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

impl Bars {
    pub fn new() -> Self {
        Self {
            multi: MultiProgress::new(),
            overall: None,
            trials: HashMap::new(),
            last_line: None,
            last_workers: None,
        }
    }

    fn trial_bar(&mut self, t: &RunningTrial) -> &ProgressBar {
        let multi = &self.multi;
        self.trials.entry(t.trial_id.clone()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(t.total_epochs as u64));
            bar.set_style(style(TRIAL_TEMPLATE));
            bar
        })
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("the progress templates are valid")
        .progress_chars("=> ")
}

impl ProgressView for Bars {
    fn update(&mut self, s: &SweepSummary) {
        let multi = &self.multi;
        let overall = self.overall.get_or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(s.total));
            bar.set_style(style(OVERALL_TEMPLATE));
            bar
        });
        overall.set_prefix(format!("{} {}", clean(&s.sweep_id), clean(&s.name)));
        overall.set_length(s.total);
        overall.set_position(s.done + s.failed + s.cancelled + s.stopped);
        let mut msg = sweeps::counts(s);
        if s.best_metric.is_some() {
            msg.push_str(&format!(" · best {}", sweeps::best(s)));
        }
        self.last_line = Some(format!(
            "{} {}: {}/{} · {msg}",
            clean(&s.sweep_id),
            clean(&s.name),
            s.done + s.failed + s.cancelled + s.stopped,
            s.total
        ));
        overall.set_message(msg);
        let workers = sweeps::workers_note(s);
        if workers != self.last_workers {
            if let Some(note) = &workers {
                let _ = self.multi.println(note);
            }
            self.last_workers = workers;
        }

        for t in &s.running_trials {
            let bar = self.trial_bar(t);
            bar.set_prefix(format!("{} a{}", clean(&t.trial_id), t.attempt));
            bar.set_length(t.total_epochs as u64);
            bar.set_position(t.epochs_done as u64);
            let mut msg = format!("on {}", clean(&t.worker_id));
            if let Some(acc) = t.last_val_acc {
                msg.push_str(&format!(" · val_acc {}", values::metric(acc)));
            }
            bar.set_message(msg);
        }
        let gone: Vec<String> = self
            .trials
            .keys()
            .filter(|id| !s.running_trials.iter().any(|t| &t.trial_id == *id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(bar) = self.trials.remove(&id) {
                bar.finish_and_clear();
                self.multi.remove(&bar);
            }
        }
    }

    fn note(&mut self, line: &str) {
        // println fails only when stderr is gone; progress is best effort.
        let _ = self.multi.println(line);
    }

    fn finish(&mut self) {
        for (_, bar) in self.trials.drain() {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        // Clear the bars and leave their last state as an ordinary line, so
        // whatever follows starts on a line of its own.
        if let Some(overall) = self.overall.take() {
            overall.finish_and_clear();
        }
        let _ = self.multi.clear();
        if let Some(line) = self.last_line.take() {
            eprintln!("{line}");
        }
    }
}
