//! Live progress of one sweep, fed by the `WatchSweep` stream: indicatif bars
//! on a terminal ([`bars`]), plain lines, one per change, otherwise ([`lines`]).
//! `sweep watch`, `sweep submit --watch` and `sweep run` all use it.

pub mod bars;
pub mod lines;

use std::io::IsTerminal;
use sweep_proto::v1::SweepSummary;

/// Something that shows a sweep's progress.
pub trait ProgressView: Send {
    /// A new summary arrived.
    fn update(&mut self, summary: &SweepSummary);
    /// A message that is not progress (a worker died, ...), printed so that it
    /// does not garble the bars.
    fn note(&mut self, line: &str);
    /// The sweep ended (or watching stopped): leave the final state on screen.
    fn finish(&mut self);
}

/// Bars when both stdout and stderr are terminals, plain lines on stderr otherwise.
pub fn for_this_terminal() -> Box<dyn ProgressView> {
    if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
        Box::new(bars::Bars::new())
    } else {
        Box::new(lines::Lines::new(std::io::stderr(), true))
    }
}
