//! Short ids for sweeps (`sw-` + 8 hex) and workers (their name + `-` + 4 hex,
//! so tables say which machine ran a trial): a hash
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

/// Draws ids from `draw` until one is not yet an `id` of `table` (a clash is
/// unlikely, but an id is a primary key).
pub fn unused(
    tx: &rusqlite::Transaction,
    table: &'static str,
    draw: impl Fn() -> String,
) -> rusqlite::Result<String> {
    let sql = format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = ?1)");
    loop {
        let candidate = draw();
        if !tx.query_row(&sql, [&candidate], |r| r.get::<_, bool>(0))? {
            return Ok(candidate);
        }
    }
}

/// A worker's id: its registered name (host name or `--name`), cut to 24
/// characters of `[A-Za-z0-9._-]`, then `-` and 4 hex digits.
pub fn worker_id(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(24)
        .collect();
    let base = if clean.is_empty() {
        "w".to_string()
    } else {
        clean
    };
    let hash = short_id("", name);
    format!("{base}-{}", &hash[..4])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids_start_with_the_cleaned_name() {
        let id = worker_id("lab pc/7");
        assert!(
            id.starts_with("labpc7-") && id.len() == "labpc7-".len() + 4,
            "{id}"
        );
        assert!(worker_id("").starts_with("w-"));
        assert_ne!(worker_id("a"), worker_id("a"));
    }
}
