//! Finished trials' reports, spooled to disk until the coordinator
//! acknowledges them: one JSON file per (trial, attempt) under
//! `STATE_DIR/outbox/`. A report is written before it is first sent and
//! removed once the coordinator has answered it for good, so a result
//! survives a coordinator that is away and a worker that is restarted (the
//! daemon resends what it finds here when it starts).
//!
//! Several workers sharing one state dir may resend each other's reports;
//! that is harmless, as the coordinator stores a repeated report once.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a worker tells the coordinator about one attempt of one trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The lease's sweep.
    #[serde(default)]
    pub sweep_id: String,
    pub trial_id: String,
    pub attempt: u32,
    /// The worker id the attempt was leased to.
    pub worker_id: String,
    pub outcome: Outcome,
}

/// How the attempt ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// A `TrialResult` as JSON, for `CompleteTrial`.
    Completed { result_json: String },
    /// An error, for `FailTrial`.
    Failed { error: String, handed_back: bool },
}

/// The outbox folder cannot be made or read, or a report cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} the worker's outbox at {}", .path.display())]
pub struct OutboxError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The spool folder.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    /// Opens (creating it if needed) `state_dir/outbox`.
    pub fn open(state_dir: &Path) -> Result<Self, OutboxError> {
        let dir = state_dir.join("outbox");
        std::fs::create_dir_all(&dir).map_err(|source| OutboxError {
            action: "create",
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
    }

    /// Writes `report` (atomically: a temp file renamed into place).
    pub fn put(&self, report: &Report) -> Result<(), OutboxError> {
        let path = self.path_of(report);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(report).expect("a report always serialises");
        let failed = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OutboxError {
                action: "write",
                path,
                source,
            }
        };
        std::fs::write(&tmp, text).map_err(failed(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(failed(&path))
    }

    /// Forgets `report` (nothing happens if it is not there).
    pub fn remove(&self, report: &Report) {
        let path = self.path_of(report);
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot remove {}: {e}", path.display());
            }
        }
    }

    /// Every spooled report, oldest name first. Unreadable files are logged
    /// and skipped (left in place for a person to look at).
    pub fn pending(&self) -> Result<Vec<Report>, OutboxError> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(|source| OutboxError {
                action: "read",
                path: self.dir.clone(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        let mut reports = Vec::with_capacity(paths.len());
        for path in paths {
            match std::fs::read(&path) {
                Ok(bytes) => match serde_json::from_slice::<Report>(&bytes) {
                    Ok(r) => reports.push(r),
                    Err(e) => {
                        tracing::warn!("skipping unreadable spooled report {}: {e}", path.display())
                    }
                },
                Err(e) => {
                    tracing::warn!("skipping unreadable spooled report {}: {e}", path.display())
                }
            }
        }
        Ok(reports)
    }

    fn path_of(&self, report: &Report) -> PathBuf {
        let safe: String = report
            .trial_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{safe}-{}.json", report.attempt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(trial: &str, attempt: u32) -> Report {
        Report {
            sweep_id: "s1".into(),
            trial_id: trial.into(),
            attempt,
            worker_id: "w1".into(),
            outcome: Outcome::Completed {
                result_json: "{\"x\":1}".into(),
            },
        }
    }

    #[test]
    fn reports_survive_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let a = report("abc", 1);
        let b = Report {
            outcome: Outcome::Failed {
                error: "boom".into(),
                handed_back: false,
            },
            ..report("../evil", 2)
        };
        outbox.put(&a).unwrap();
        outbox.put(&b).unwrap();
        std::fs::write(dir.path().join("outbox/garbage.json"), "not json").unwrap();
        let again = Outbox::open(dir.path()).unwrap();
        let mut found = again.pending().unwrap();
        found.sort_by(|x, y| x.trial_id.cmp(&y.trial_id));
        assert_eq!(found, vec![b.clone(), a.clone()]);
        again.remove(&a);
        again.remove(&a);
        assert_eq!(again.pending().unwrap(), vec![b]);
    }
}
