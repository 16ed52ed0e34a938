//! What the processes' logs say happened: from each worker's JSON log, the
//! attempts it leased, ran to a result, and the reports the coordinator
//! acknowledged to it; from the coordinator's logs, the results it stored.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `(sweep, trial, attempt)`.
pub type AttemptKey = (String, String, u32);

/// One acknowledgement a worker logged (`acknowledged: ...`).
#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    pub key: AttemptKey,
    pub worker: String,
    /// `result` or `failure`.
    pub outcome: String,
    /// The coordinator said it stored it now (not a repeat).
    pub stored: bool,
    /// The log it is in.
    pub log: String,
}

/// Everything the logs say.
#[derive(Debug, Default)]
pub struct Evidence {
    /// Attempts some worker logged leasing.
    pub leased: BTreeSet<AttemptKey>,
    /// Attempts that ran to a result, with the worker ids registered by
    /// the daemons of the log that says so.
    pub finished: BTreeMap<AttemptKey, BTreeSet<String>>,
    pub acks: Vec<Ack>,
    /// Per trial id, how many times a coordinator logged storing a result
    /// (`trial T attempt N done`, not a repeat), with the attempts.
    pub stored_by_coordinator: BTreeMap<String, Vec<u32>>,
}

impl Evidence {
    /// Reads worker logs (JSON lines) and coordinator logs (text).
    pub fn read(worker_logs: &[impl AsRef<Path>], coordinator_logs: &[impl AsRef<Path>]) -> Self {
        let mut e = Evidence::default();
        for log in worker_logs {
            e.read_worker_log(log.as_ref());
        }
        for log in coordinator_logs {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            for line in text.lines() {
                if let Some((trial, attempt)) = coordinator_stored(line) {
                    e.stored_by_coordinator
                        .entry(trial)
                        .or_default()
                        .push(attempt);
                }
            }
        }
        e
    }

    fn read_worker_log(&mut self, path: &Path) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let name = path.display().to_string();
        let mut ids = BTreeSet::new();
        // Per trial, the attempt this daemon leased last.
        let mut current: BTreeMap<String, (String, u32)> = BTreeMap::new();
        let mut finished = Vec::new();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let fields = &v["fields"];
            let msg = fields["message"].as_str().unwrap_or_default();
            let words: Vec<&str> = msg.split_whitespace().collect();
            if msg.starts_with("sweep-worker ") && msg.contains(" serving ") {
                current.clear(); // a new daemon on this log
            } else if let ["registered", "as", id, ..] = words[..] {
                ids.insert(id.to_string());
            } else if let ["leased", "trial", t, "attempt", n, "of", "sweep", s, ..] = words[..] {
                if let Ok(n) = n.parse() {
                    let key = (s.to_string(), t.to_string(), n);
                    current.insert(t.to_string(), (s.to_string(), n));
                    self.leased.insert(key);
                }
            } else if let ["trial", t, "finished:", ..] = words[..] {
                if let Some((s, n)) = current.get(t) {
                    finished.push((s.clone(), t.to_string(), *n));
                }
            } else if msg.starts_with("acknowledged:") {
                let text = |k: &str| fields[k].as_str().unwrap_or_default().to_string();
                self.acks.push(Ack {
                    key: (
                        text("sweep"),
                        text("trial"),
                        fields["attempt"].as_u64().unwrap_or(0) as u32,
                    ),
                    worker: text("worker"),
                    outcome: text("outcome"),
                    stored: fields["stored"].as_bool().unwrap_or(false),
                    log: name.clone(),
                });
            }
        }
        for key in finished {
            self.finished
                .entry(key)
                .or_default()
                .extend(ids.iter().cloned());
        }
    }
}

/// `(trial, attempt)` of a coordinator line `trial T attempt N done`
/// (a stored result; repeats say `(repeat, already stored)`).
fn coordinator_stored(line: &str) -> Option<(String, u32)> {
    let mut words: Vec<&str> = line.split_whitespace().collect();
    words.push("");
    words.windows(6).find_map(|w| match w {
        ["trial", t, "attempt", n, "done", next] if !next.starts_with("(repeat") => {
            Some((t.to_string(), n.parse().ok()?))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_result_is_read_from_a_coordinator_line_and_a_repeat_is_not() {
        let line =
            "2025-01-01T00:00:00Z  INFO sweep_coordinator::service: trial abc attempt 2 done";
        assert_eq!(coordinator_stored(line), Some(("abc".into(), 2)));
        let repeat = "INFO x: trial abc attempt 2 done (repeat, already stored)";
        assert_eq!(coordinator_stored(repeat), None);
    }
}
