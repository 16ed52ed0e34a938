//! The coordinator's clocks, the only ones leases are measured with: the
//! wall clock for the times people read (created, registered, leased at)
//! and a monotonic clock for lease deadlines, so that a step of the wall
//! clock (NTP, an operator) neither expires nor prolongs a lease. Tests swap
//! in a [`ManualClock`] to move either by hand.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Where time comes from.
pub trait Clock: Send + Sync + Debug {
    /// Milliseconds since the Unix epoch; may jump either way.
    fn wall_ms(&self) -> u64;
    /// Milliseconds since an origin fixed for this process; never goes back
    /// and ignores wall-clock steps. Means nothing across processes: lease
    /// deadlines are measured on it, and every store open renews them.
    fn monotonic_ms(&self) -> u64;
}

/// The system's clocks: `SystemTime` for the wall, `Instant` (since the
/// first use in this process) for deadlines.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn wall_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    fn monotonic_ms(&self) -> u64 {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        ORIGIN.get_or_init(Instant::now).elapsed().as_millis() as u64
    }
}

/// Clocks that move only when told to: [`advance_ms`](Self::advance_ms)
/// lets time pass (both clocks), [`step_wall_ms`](Self::step_wall_ms) steps
/// the wall clock alone, as NTP does.
#[derive(Debug, Default)]
pub struct ManualClock {
    wall: AtomicU64,
    monotonic: AtomicU64,
}

impl ManualClock {
    /// Wall clock at `start_ms`, monotonic clock at 0.
    pub fn new(start_ms: u64) -> Self {
        Self {
            wall: AtomicU64::new(start_ms),
            monotonic: AtomicU64::new(0),
        }
    }

    /// `ms` pass.
    pub fn advance_ms(&self, ms: u64) {
        self.wall.fetch_add(ms, Ordering::SeqCst);
        self.monotonic.fetch_add(ms, Ordering::SeqCst);
    }

    /// The wall clock is set `ms` forward (or back, when negative); no time passes.
    pub fn step_wall_ms(&self, ms: i64) {
        let _ = self
            .wall
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
                Some(w.saturating_add_signed(ms))
            });
    }
}

impl Clock for ManualClock {
    fn wall_ms(&self) -> u64 {
        self.wall.load(Ordering::SeqCst)
    }

    fn monotonic_ms(&self) -> u64 {
        self.monotonic.load(Ordering::SeqCst)
    }
}
