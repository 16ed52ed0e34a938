//! The pause a worker takes before leasing again after its environment
//! failed a trial (data or weights missing, out of memory, a crashed trial
//! process): 1 s, doubling to a minute, reset by a completed trial. A
//! misconfigured worker then burns through a sweep at a trickle instead of
//! failing every trial in milliseconds.

use std::time::Duration;
use tokio::time::Instant;

/// The exponential pause after environment failures.
#[derive(Debug)]
pub struct EnvBackoff {
    /// The pause the next environment failure sets.
    next: Duration,
    /// No lease before this.
    until: Option<Instant>,
}

impl EnvBackoff {
    pub const FIRST: Duration = Duration::from_secs(1);
    pub const CAP: Duration = Duration::from_secs(60);

    pub fn new() -> Self {
        Self {
            next: Self::FIRST,
            until: None,
        }
    }

    /// An environment failure: the pause it sets (each doubles the next).
    pub fn failed(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(Self::CAP);
        self.until = Some(Instant::now() + pause);
        pause
    }

    /// A completed trial: no pause, and the next failure starts at 1 s.
    pub fn succeeded(&mut self) {
        self.next = Self::FIRST;
        self.until = None;
    }

    /// How long to wait before the next lease (zero when none).
    pub fn remaining(&self) -> Duration {
        self.until.map_or(Duration::ZERO, |u| {
            u.saturating_duration_since(Instant::now())
        })
    }
}

impl Default for EnvBackoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pauses_double_to_a_minute_and_a_success_resets_them() {
        let mut b = EnvBackoff::new();
        assert_eq!(b.remaining(), Duration::ZERO);
        let pauses: Vec<u64> = (0..8).map(|_| b.failed().as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 60, 60]);
        let left = b.remaining();
        assert!(left > Duration::from_secs(59) && left <= Duration::from_secs(60));
        b.succeeded();
        assert_eq!(b.remaining(), Duration::ZERO);
        assert_eq!(b.failed(), Duration::from_secs(1));
    }
}
