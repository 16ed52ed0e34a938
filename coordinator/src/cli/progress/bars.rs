//! Progress as indicatif bars on a terminal: one bar for the whole sweep
//! (finished / total, with the done / running / pending / failed counts and
//! the best metric), and one bar per running trial (epoch x / y, attempt,
//! worker, last validation accuracy). Bars of trials that stopped running go
//! away; notes print above the bars.

use super::ProgressView;
use crate::cli::render::{sweeps, values};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use sweep_proto::v1::{RunningTrial, SweepSummary};

const OVERALL_TEMPLATE: &str = "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} {msg}";
const TRIAL_TEMPLATE: &str = "  {prefix} [{bar:20.green/white}] epoch {pos}/{len} {msg}";

/// Terminal bars (drawn on stderr).
pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    trials: HashMap<String, ProgressBar>,
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

impl Bars {
    pub fn new() -> Self {
        let multi = MultiProgress::new();
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(style(OVERALL_TEMPLATE));
        Self {
            multi,
            overall,
            trials: HashMap::new(),
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
        self.overall
            .set_prefix(format!("{} {}", s.sweep_id, s.name));
        self.overall.set_length(s.total);
        self.overall.set_position(s.done + s.failed + s.cancelled);
        let mut msg = sweeps::counts(s);
        if s.best_metric.is_some() {
            msg.push_str(&format!(" · best {}", sweeps::best(s)));
        }
        self.overall.set_message(msg);

        for t in &s.running_trials {
            let bar = self.trial_bar(t);
            bar.set_prefix(format!("{} a{}", t.trial_id, t.attempt));
            bar.set_length(t.total_epochs as u64);
            bar.set_position(t.epochs_done as u64);
            let mut msg = format!("on {}", t.worker_id);
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
        self.overall.finish();
    }
}
