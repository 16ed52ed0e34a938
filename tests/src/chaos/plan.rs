//! How hard a chaos run pushes: the sweep's size, the lease, the workers,
//! and how many of each fault. [`Plan::from_env`] picks the short run CI
//! makes, or the long one with `SWEEP_CHAOS=long`.

use std::time::Duration;

/// Environment variable choosing the run: `long` for the long one.
pub const MODE_ENV: &str = "SWEEP_CHAOS";
/// Environment variable fixing the random seed (for replaying a run).
pub const SEED_ENV: &str = "SWEEP_CHAOS_SEED";

/// One chaos run's parameters.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `short` or `long`, for the table.
    pub name: &'static str,
    /// Trials in the sweep (seeds 1..=trials; one phase-1 and one phase-2 epoch each).
    pub trials: u64,
    pub max_attempts: u32,
    /// Simulated epoch length.
    pub epoch_ms: u64,
    /// The coordinator's lease.
    pub lease_ms: u64,
    /// Worker daemons alive at any time (one slot each).
    pub workers: usize,
    /// A worker is killed (kill -9) and replaced this often.
    pub worker_kill_every: Duration,
    /// Coordinator kills (kill -9, restarted on the same database and port).
    pub coordinator_kills: u32,
    /// Workers stopped (SIGSTOP) for longer than a lease, then continued.
    pub stops: u32,
    /// Partitions of the proxy, each longer than a lease.
    pub partitions: u32,
    /// The whole run must finish within this.
    pub deadline: Duration,
    /// The random seed of the fault schedule.
    pub seed: u64,
}

impl Plan {
    /// The short run, CI's (well under 3 minutes on 2 busy cores).
    pub fn short() -> Plan {
        Plan {
            name: "short",
            trials: 60,
            max_attempts: 3,
            epoch_ms: 150,
            lease_ms: 1500,
            workers: 3,
            worker_kill_every: Duration::from_secs(3),
            coordinator_kills: 3,
            stops: 2,
            partitions: 2,
            deadline: Duration::from_secs(150),
            seed: seed(),
        }
    }

    /// The long run: 500 trials, a worker kill every 5 s, 10 coordinator
    /// kills, 3 partitions and 3 stops, each longer than the lease.
    pub fn long() -> Plan {
        Plan {
            name: "long",
            trials: 500,
            max_attempts: 3,
            epoch_ms: 150,
            lease_ms: 2000,
            workers: 4,
            worker_kill_every: Duration::from_secs(5),
            coordinator_kills: 10,
            stops: 3,
            partitions: 3,
            deadline: Duration::from_secs(1200),
            seed: seed(),
        }
    }

    /// [`Plan::long`] when `SWEEP_CHAOS=long`, else [`Plan::short`].
    pub fn from_env() -> Plan {
        match std::env::var(MODE_ENV).as_deref() {
            Ok("long") => Plan::long(),
            _ => Plan::short(),
        }
    }

    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }

    /// How long a stop or a partition lasts: well past a lease.
    pub fn outage(&self) -> Duration {
        self.lease() * 2 + Duration::from_millis(500)
    }
}

/// `SWEEP_CHAOS_SEED`, else the clock.
fn seed() -> u64 {
    std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}
