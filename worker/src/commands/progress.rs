//! Progress on stderr for the long-running subcommands: an indicatif bar when
//! stderr is a terminal, plain lines (a few per epoch) when it is not, and
//! one line per finished epoch either way.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Where progress goes.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Plain mode: last quarter-epoch mark printed.
    last_mark: usize,
}

impl Progress {
    /// A bar over `total` batches on a terminal, plain lines otherwise.
    pub fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} batches  {msg}",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            bar
        });
        Self { bar, last_mark: 0 }
    }

    /// After a batch: `label` says where we are (epoch, phase, loss).
    pub fn batch(&mut self, batch: usize, batches: usize, label: &str) {
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(label.to_string());
            }
            None => {
                let mark = batch * 4 / batches.max(1);
                if batch == 1 {
                    self.last_mark = 0;
                }
                if mark > self.last_mark && batch < batches {
                    self.last_mark = mark;
                    eprintln!("  {label}: batch {batch}/{batches}");
                }
            }
        }
    }

    /// A line that stays (an epoch summary).
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
