//! Short ids for sweeps (`sw-` + 8 hex) and workers (`w-` + 8 hex): a hash
//! of a name, the time and a process-wide counter. The store checks each
//! against the database and draws again on the (unlikely) clash.

use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `prefix` + the first 8 hex digits of sha256(name, time, counter, pid).
pub fn short_id(prefix: &str, name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0]);
    h.update(nanos.to_le_bytes());
    h.update(n.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    format!("{prefix}{}", hex::encode(&h.finalize()[..4]))
}
