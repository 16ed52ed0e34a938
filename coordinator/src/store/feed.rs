//! Change notifications: the store's write paths bump a per-sweep counter
//! after each commit, and `WatchSweep` streams wait on it.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// One watch channel per sweep that someone is watching.
#[derive(Debug, Default)]
pub struct ChangeFeed {
    senders: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl ChangeFeed {
    /// A receiver that sees a change after every committed write to `sweep_id`.
    pub fn subscribe(&self, sweep_id: &str) -> watch::Receiver<u64> {
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        senders
            .entry(sweep_id.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Tells `sweep_id`'s watchers that it changed; forgets it once nobody watches.
    pub fn notify(&self, sweep_id: &str) {
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = senders.get(sweep_id) {
            if tx.receiver_count() == 0 {
                senders.remove(sweep_id);
            } else {
                tx.send_modify(|n| *n += 1);
            }
        }
    }
}
