//! Progress as plain lines, for logs and pipes: one line whenever the sweep's
//! counts change, and one whenever a running trial starts, moves to another
//! attempt or worker, or finishes an epoch; and one when the sweep stalls
//! (every worker quarantined or gone) or workers get quarantined.
//!
//! ```text
//! [   0.0s] sw-0011aabb lr-unfreeze-grid: running 0/4 · done 0 · running 2 · pending 2 · failed 0
//! [   3.1s]   trial bbbb000011112222 attempt 1 on w-1: epoch 1/2 · val_acc 0.9100
//! ```

use super::ProgressView;
use crate::render::{sweeps, values};
use crate::sanitize::clean;
use std::collections::HashMap;
use std::io::Write;
use std::time::Instant;
use sweep_proto::v1::{RunningTrial, SweepSummary};

/// What a line was last printed for, per running trial.
#[derive(Debug, Clone, PartialEq)]
struct TrialMark {
    attempt: u32,
    worker: String,
    epochs_done: u32,
}

/// Plain-line progress into any writer.
pub struct Lines<W: Write + Send> {
    out: W,
    started: Instant,
    elapsed_prefix: bool,
    last_counts: Option<String>,
    /// The latest workers note (stalled, quarantined), if any.
    last_workers: Option<String>,
    trials: HashMap<String, TrialMark>,
}

impl<W: Write + Send> Lines<W> {
    /// `elapsed_prefix` starts each line with the time since watching began.
    pub fn new(out: W, elapsed_prefix: bool) -> Self {
        Self {
            out,
            started: Instant::now(),
            elapsed_prefix,
            last_counts: None,
            last_workers: None,
            trials: HashMap::new(),
        }
    }

    /// The writer, back (tests read what was written).
    pub fn into_inner(self) -> W {
        self.out
    }

    fn line(&mut self, text: &str) {
        let prefix = if self.elapsed_prefix {
            format!("[{:>7.1}s] ", self.started.elapsed().as_secs_f64())
        } else {
            String::new()
        };
        // Progress is best effort: a closed stderr must not stop the sweep.
        let _ = writeln!(self.out, "{prefix}{text}");
        let _ = self.out.flush();
    }
}

/// The overall line, without the trial lines.
fn counts_line(s: &SweepSummary) -> String {
    let finished = s.done + s.failed + s.cancelled + s.stopped;
    let mut text = format!(
        "{} {}: {} {}/{} · {}",
        clean(&s.sweep_id),
        clean(&s.name),
        values::sweep_state(s.state),
        finished,
        s.total,
        sweeps::counts(s)
    );
    if s.best_metric.is_some() {
        text.push_str(&format!(" · best {}", sweeps::best(s)));
    }
    text
}

fn trial_line(t: &RunningTrial) -> String {
    let mut text = format!(
        "  trial {} attempt {} on {}: {}",
        clean(&t.trial_id),
        t.attempt,
        clean(&t.worker_id),
        sweeps::epochs(t)
    );
    if let Some(acc) = t.last_val_acc {
        text.push_str(&format!(" · val_acc {}", values::metric(acc)));
    }
    text
}

impl<W: Write + Send> ProgressView for Lines<W> {
    fn update(&mut self, s: &SweepSummary) {
        let counts = counts_line(s);
        if self.last_counts.as_deref() != Some(counts.as_str()) {
            self.line(&counts);
            self.last_counts = Some(counts);
        }
        let workers = sweeps::workers_note(s);
        if workers != self.last_workers {
            match &workers {
                Some(note) => self.line(&format!("  {note}")),
                None => self.line(&format!("  workers: {}", sweeps::workers(s))),
            }
            self.last_workers = workers;
        }
        let mut seen = HashMap::new();
        for t in &s.running_trials {
            let mark = TrialMark {
                attempt: t.attempt,
                worker: t.worker_id.clone(),
                epochs_done: t.epochs_done,
            };
            if self.trials.get(&t.trial_id) != Some(&mark) {
                self.line(&trial_line(t));
            }
            seen.insert(t.trial_id.clone(), mark);
        }
        self.trials = seen;
    }

    fn note(&mut self, line: &str) {
        self.line(line);
    }

    fn finish(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweep_proto::v1::SweepState;

    fn summary(done: u64, running: Vec<RunningTrial>) -> SweepSummary {
        SweepSummary {
            sweep_id: "sw-1".into(),
            name: "quick".into(),
            state: if done == 2 {
                SweepState::Finished
            } else {
                SweepState::Running
            } as i32,
            metric_name: "val_acc".into(),
            metric_goal: "maximize".into(),
            total: 2,
            running: running.len() as u64,
            pending: 2 - done - running.len() as u64,
            done,
            best_metric: (done > 0).then_some(0.9),
            running_trials: running,
            ..Default::default()
        }
    }

    fn running(id: &str, epochs_done: u32, acc: Option<f64>) -> RunningTrial {
        RunningTrial {
            trial_id: id.into(),
            attempt: 1,
            worker_id: "w-1".into(),
            epochs_done,
            total_epochs: 2,
            last_val_acc: acc,
        }
    }

    #[test]
    fn one_line_per_change_and_none_for_repeats() {
        let mut view = Lines::new(Vec::new(), false);
        view.update(&summary(0, vec![]));
        view.update(&summary(0, vec![])); // no change: no line
        view.update(&summary(0, vec![running("t-a", 0, None)]));
        view.update(&summary(0, vec![running("t-a", 1, Some(0.8))]));
        view.update(&summary(0, vec![running("t-a", 1, Some(0.8))])); // no change
        view.note("worker 2 exited");
        view.update(&summary(1, vec![]));
        view.update(&summary(2, vec![]));
        view.finish();
        let text = String::from_utf8(view.into_inner()).unwrap();
        let expected = "\
sw-1 quick: running 0/2 · done 0 · running 0 · pending 2 · failed 0
sw-1 quick: running 0/2 · done 0 · running 1 · pending 1 · failed 0
  trial t-a attempt 1 on w-1: epoch 0/2
  trial t-a attempt 1 on w-1: epoch 1/2 · val_acc 0.8000
worker 2 exited
sw-1 quick: running 1/2 · done 1 · running 0 · pending 1 · failed 0 · best val_acc 0.9000
sw-1 quick: finished 2/2 · done 2 · running 0 · pending 0 · failed 0 · best val_acc 0.9000
";
        assert_eq!(text, expected);
    }

    #[test]
    fn a_new_attempt_is_a_change() {
        let mut view = Lines::new(Vec::new(), false);
        view.update(&summary(0, vec![running("t-a", 1, None)]));
        let mut again = running("t-a", 1, None);
        again.attempt = 2;
        again.worker_id = "w-2".into();
        view.update(&summary(0, vec![again]));
        let text = String::from_utf8(view.into_inner()).unwrap();
        assert!(
            text.ends_with("  trial t-a attempt 2 on w-2: epoch 1/2\n"),
            "{text}"
        );
    }

    #[test]
    fn a_stall_is_said_once_and_so_is_its_end() {
        let mut view = Lines::new(Vec::new(), false);
        let mut s = summary(0, vec![]);
        s.workers_active = 1;
        view.update(&s);
        s.workers_active = 0;
        s.workers_quarantined = 1;
        s.stalled_reason = "2 trials are pending but no worker can take them".into();
        view.update(&s);
        view.update(&s); // no change: no line
        s.workers_active = 1;
        s.stalled_reason.clear();
        view.update(&s);
        s.workers_quarantined = 0;
        view.update(&s);
        let text = String::from_utf8(view.into_inner()).unwrap();
        let notes: Vec<&str> = text.lines().filter(|l| l.starts_with("  ")).collect();
        assert_eq!(
            notes,
            [
                "  stalled: 2 trials are pending but no worker can take them",
                "  workers: 1 active · 1 quarantined",
                "  workers: 1 active · 0 quarantined",
            ]
        );
    }

    #[test]
    fn elapsed_prefix_is_there_when_asked() {
        let mut view = Lines::new(Vec::new(), true);
        view.note("hello");
        let text = String::from_utf8(view.into_inner()).unwrap();
        assert!(
            text.starts_with('[') && text.ends_with("s] hello\n"),
            "{text}"
        );
    }
}
