//! Sweep views kept between requests: a sweep read for display
//! ([`SweepView`]) is reused until the store's change feed (the one
//! `WatchSweep` waits on) says the sweep changed, so a page of a
//! 10,000-trial sweep does not re-read every trial per request. At most
//! [`MAX_CACHED_VIEWS`] sweeps are kept.

use crate::dashboard::SweepView;
use crate::store::{Store, StoreResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Most sweeps whose view is kept.
pub const MAX_CACHED_VIEWS: usize = 8;

#[derive(Debug)]
struct Entry {
    changes: watch::Receiver<u64>,
    view: Arc<SweepView>,
}

/// The cache (cheap to clone, shared).
#[derive(Debug, Clone, Default)]
pub struct ViewCache {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl ViewCache {
    /// The sweep's view, read again if it changed since (blocking).
    pub fn get(&self, store: &Store, sweep_id: &str) -> StoreResult<Arc<SweepView>> {
        {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = entries.get(sweep_id) {
                if matches!(entry.changes.has_changed(), Ok(false)) {
                    return Ok(entry.view.clone());
                }
            }
        }
        // Subscribed before reading: a write after this marks the entry stale.
        let mut changes = store.subscribe(sweep_id);
        changes.borrow_and_update();
        let view = Arc::new(SweepView::read(store, sweep_id)?);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_CACHED_VIEWS && !entries.contains_key(sweep_id) {
            if let Some(evicted) = entries.keys().next().cloned() {
                entries.remove(&evicted);
            }
        }
        entries.insert(
            sweep_id.to_string(),
            Entry {
                changes,
                view: view.clone(),
            },
        );
        Ok(view)
    }
}
