//! The metrics read from the store at scrape time: every sweep's trials by
//! state, the known workers by state, and how many of them are connected.

use crate::store::{Store, StoreResult, WorkerState};

/// The store's counts, as gauge values.
#[derive(Debug, Default)]
pub(super) struct StoreGauges {
    /// (sweep id, trial state, trials).
    pub trials: Vec<(String, &'static str, i64)>,
    /// (worker state, workers).
    pub workers: Vec<(&'static str, i64)>,
    /// Workers not gone.
    pub connected_workers: i64,
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Reads the counts (two short reads of the store).
pub(super) fn read(store: &Store) -> StoreResult<StoreGauges> {
    let mut gauges = StoreGauges::default();
    for sweep in store.list_sweeps()? {
        let c = sweep.counts;
        for (state, n) in [
            ("pending", c.pending),
            ("running", c.running),
            ("done", c.done),
            ("failed", c.failed),
            ("cancelled", c.cancelled),
        ] {
            gauges
                .trials
                .push((sweep.sweep_id.clone(), state, gauge(n)));
        }
    }
    let workers = store.list_workers()?;
    for state in [
        WorkerState::Active,
        WorkerState::Draining,
        WorkerState::Quarantined,
        WorkerState::Gone,
    ] {
        let n = workers.iter().filter(|w| w.state == state).count() as u64;
        gauges.workers.push((state.as_str(), gauge(n)));
    }
    gauges.connected_workers = gauge(
        workers
            .iter()
            .filter(|w| w.state != WorkerState::Gone)
            .count() as u64,
    );
    Ok(gauges)
}
