//! Signal handling for the daemon, in two steps (like mini-redis's `Shutdown`,
//! with one more level).
//!
//! The first SIGINT/SIGTERM starts a *drain*: no more leases, running trials
//! finish and report, then the daemon exits 0. The second one *aborts*:
//! running trials are cancelled at their next batch and handed back to the
//! coordinator (`FailTrial` with `handed_back = true`), reports still waiting
//! for a coordinator stay spooled on disk, and the daemon exits.
//!
//! With a drain timeout, the second step also comes by itself that long after
//! the first, so a supervisor that sends one signal and then kills at its own
//! deadline (systemd, Slurm, Kubernetes) still gets the trials handed back.
//!
//! [`Shutdown`] is a cheap clone every task holds; it only reads the level.

use std::time::Duration;
use sweep_runtime::signals::Signals;
use tokio::sync::watch;
use tokio::time::Instant;

/// How far shutdown has gone. Only ever increases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// No signal yet.
    Running,
    /// One signal: lease nothing more, let running trials finish and report.
    Draining,
    /// Two signals: cancel running trials and hand them back now.
    Aborting,
}

/// A task's view of the shutdown level.
#[derive(Debug, Clone)]
pub struct Shutdown {
    level: watch::Receiver<Level>,
}

/// Sets the shutdown level; held by whatever turns signals into levels
/// (the signal task, or a test).
#[derive(Debug)]
pub struct Trigger {
    level: watch::Sender<Level>,
}

/// A new trigger and the [`Shutdown`] it drives.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(Level::Running);
    (Trigger { level: tx }, Shutdown { level: rx })
}

impl Trigger {
    /// Moves to the next level (a second call aborts; later calls change nothing).
    pub fn escalate(&self) -> Level {
        let mut now = Level::Running;
        self.level.send_modify(|l| {
            *l = match *l {
                Level::Running => Level::Draining,
                Level::Draining | Level::Aborting => Level::Aborting,
            };
            now = *l;
        });
        now
    }
}

impl Shutdown {
    /// The level now.
    pub fn level(&self) -> Level {
        *self.level.borrow()
    }

    /// True once the first signal came.
    pub fn is_draining(&self) -> bool {
        self.level() >= Level::Draining
    }

    /// True once the second signal came.
    pub fn is_aborting(&self) -> bool {
        self.level() >= Level::Aborting
    }

    /// Resolves once the first signal came (at once if it already did).
    pub async fn draining(&mut self) {
        self.reached(Level::Draining).await
    }

    /// Resolves once the second signal came (at once if it already did).
    pub async fn aborting(&mut self) {
        self.reached(Level::Aborting).await
    }

    /// Resolves once the level is at least `level` (at once if it already is).
    pub async fn reached(&mut self, level: Level) {
        if self.level.wait_for(|l| *l >= level).await.is_err() {
            // The trigger is gone, so the level can never rise: never resolve.
            std::future::pending::<()>().await
        }
    }
}

/// Spawns a task that escalates `trigger` on every SIGINT or SIGTERM, and
/// `drain_timeout` after the first one if no second came; logs each step.
/// Must be called inside a tokio runtime.
pub fn listen_for_signals(
    trigger: Trigger,
    drain_timeout: Option<Duration>,
) -> std::io::Result<()> {
    let mut signals = Signals::new()?;
    tokio::spawn(async move {
        let mut deadline: Option<Instant> = None;
        loop {
            let cause = tokio::select! {
                signal = signals.next() => signal.name().to_string(),
                () = sleep_until_some(deadline) => {
                    format!("drain timeout ({}s)", drain_timeout.unwrap_or_default().as_secs())
                }
            };
            match trigger.escalate() {
                Level::Draining => {
                    deadline = drain_timeout.map(|t| Instant::now() + t);
                    let then = match drain_timeout {
                        Some(t) => {
                            format!("hands them back in {}s, or at the next signal", t.as_secs())
                        }
                        None => "signal again to hand them back now".to_string(),
                    };
                    tracing::info!(
                        "{cause}: leasing nothing more; running trials finish and report ({then})"
                    )
                }
                _ => {
                    deadline = None;
                    tracing::warn!("{cause}: cancelling running trials and handing them back")
                }
            }
        }
    });
    Ok(())
}

/// Resolves at `deadline`; never without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn levels_rise_one_signal_at_a_time() {
        let (trigger, mut shutdown) = channel();
        assert_eq!(shutdown.level(), Level::Running);
        assert_eq!(trigger.escalate(), Level::Draining);
        shutdown.draining().await;
        assert!(shutdown.is_draining() && !shutdown.is_aborting());
        assert_eq!(trigger.escalate(), Level::Aborting);
        assert_eq!(trigger.escalate(), Level::Aborting);
        shutdown.aborting().await;
        assert!(shutdown.is_aborting());
    }

    #[tokio::test]
    async fn waiting_without_a_signal_does_not_resolve() {
        let (_trigger, mut shutdown) = channel();
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(30), shutdown.draining()).await;
        assert!(waited.is_err());
    }
}
