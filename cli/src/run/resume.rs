//! `sweep run` on a folder an earlier run left behind: the sweep that the
//! same file started is picked up again (finished trials kept, the leases of
//! the earlier run's workers, which died with it, taken back without counting
//! an attempt), unless `--fresh` asks for a new one. Done on the database
//! before the embedded coordinator opens it, so nothing is leased meanwhile.

use crate::error::{error_chain, CliError};
use std::path::Path;
use sweep_coordinator::store::{Store, StoreOptions, SweepState, SweepSummary};

/// What an earlier run on the same folder left for this one.
#[derive(Debug)]
pub enum Earlier {
    /// No sweep from this file's text: submit it.
    Nothing,
    /// The sweep the file started, to continue; `released` leases of dead
    /// workers were taken back.
    Resume {
        summary: Box<SweepSummary>,
        released: usize,
    },
    /// `--fresh`: the earlier sweep (cancelled now); submit the file anew.
    Replaced { summary: Box<SweepSummary> },
}

/// Looks in `db` for the latest sweep submitted with exactly `yaml`.
pub fn prepare(db: &Path, yaml: &str, fresh: bool) -> Result<Earlier, CliError> {
    let failed = |e: &(dyn std::error::Error + 'static)| CliError::Database {
        path: db.to_path_buf(),
        detail: error_chain(e),
    };
    let store = Store::open(db, StoreOptions::default()).map_err(|e| failed(&e))?;
    let Some(id) = store.latest_sweep_from(yaml).map_err(|e| failed(&e))? else {
        return Ok(Earlier::Nothing);
    };
    if fresh {
        let summary = store.cancel_sweep(&id).map_err(|e| failed(&e))?;
        return Ok(Earlier::Replaced {
            summary: Box::new(summary),
        });
    }
    let released = store
        .release_running_trials(&id, "handed back: the `sweep run` that ran it stopped")
        .map_err(|e| failed(&e))?;
    let summary = store.sweep_summary(&id).map_err(|e| failed(&e))?;
    Ok(Earlier::Resume {
        summary: Box::new(summary),
        released,
    })
}

/// The line `sweep run` prints about what it found.
pub fn describe(earlier: &Earlier, file: &str) -> Option<String> {
    match earlier {
        Earlier::Nothing => None,
        Earlier::Resume {
            summary: s,
            released,
        } => {
            let done = s.counts.done + s.counts.failed + s.counts.stopped;
            let mut line = if s.state == SweepState::Finished {
                format!(
                    "{file} already ran to the end as {}: {done} of {} trials finished \
                     (--fresh runs it again)",
                    s.sweep_id, s.counts.total
                )
            } else {
                format!(
                    "resuming {} : {done} of {} done (--fresh starts over)",
                    s.sweep_id, s.counts.total
                )
            };
            if *released > 0 {
                line.push_str(&format!(
                    "; {released} trial(s) the earlier run left running are pending again"
                ));
            }
            Some(line)
        }
        Earlier::Replaced { summary: s } => Some(format!(
            "--fresh: cancelled {} ({} of {} trials had finished); submitting {file} anew",
            s.sweep_id,
            s.counts.done + s.counts.failed + s.counts.stopped,
            s.counts.total
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweep_coordinator::store::WorkerInfo;
    use sweep_coordinator::sweepfile::{self, LoadLimits};

    const FILE: &str = "name: r\nmethod: grid\nmetric: {name: val_acc, goal: maximize}\n\
                        parameters:\n  phase2.lr_head: {values: [0.001, 0.01]}\n";

    fn worker() -> WorkerInfo {
        WorkerInfo {
            hostname: "h".into(),
            cores: 1,
            slots: 1,
            version: "t".into(),
        }
    }

    /// `f` until it does not fail for the database's writer lock, for up to
    /// 5 s. Another test of this binary that starts a process (the worker
    /// pool's) forks: until the child execs, it holds a copy of every open
    /// descriptor, the lock file's among them, so a lock just released by
    /// dropping a store can look held for a moment.
    fn past_a_fork<T, E: std::fmt::Debug>(mut f: impl FnMut() -> Result<T, E>) -> T {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match f() {
                Ok(v) => return v,
                Err(e)
                    if std::time::Instant::now() < deadline
                        && format!("{e:?}").contains("lock") =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("{e:?}"),
            }
        }
    }

    fn open(db: &Path) -> Store {
        past_a_fork(|| Store::open(db, StoreOptions::default()))
    }

    fn store_with_a_sweep(db: &Path) -> (Store, String) {
        let store = open(db);
        let sweep = sweepfile::load(FILE, "r.yaml", &LoadLimits::default()).unwrap();
        let id = store.create_sweep(&sweep, FILE, "r.yaml").unwrap();
        (store, id)
    }

    #[test]
    fn the_same_text_resumes_its_sweep_and_takes_back_running_leases() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sweep.db");
        let (store, id) = store_with_a_sweep(&db);
        let gone = store.register_worker(&worker()).unwrap();
        let lease = store
            .lease(&gone.worker_id, "")
            .unwrap()
            .expect("a pending trial");
        assert_eq!(lease.attempt, 1);
        drop(store);

        let Earlier::Resume { summary, released } = past_a_fork(|| prepare(&db, FILE, false))
        else {
            panic!("expected a resume");
        };
        assert_eq!((summary.sweep_id.as_str(), released), (id.as_str(), 1));
        assert_eq!((summary.counts.pending, summary.counts.running), (2, 0));
        let line = describe(&Earlier::Resume { summary, released }, "r.yaml").unwrap();
        assert!(
            line.starts_with(&format!("resuming {id} : 0 of 2 done")),
            "{line}"
        );

        // The next lease is attempt 2 of a trial whose first attempt did not count.
        let store = open(&db);
        let new = store.register_worker(&worker()).unwrap();
        let again = store.lease(&new.worker_id, "").unwrap().unwrap();
        let other = store.lease(&new.worker_id, "").unwrap().unwrap();
        let retried = [again, other]
            .into_iter()
            .find(|l| l.trial_id == lease.trial_id)
            .unwrap();
        assert_eq!(retried.attempt, 2);
        let trials = store.list_trials(&id, 0).unwrap().trials;
        assert!(trials.iter().all(|t| t.counted_attempts == 0), "{trials:?}");
    }

    #[test]
    fn other_text_starts_anew_and_fresh_cancels_the_earlier_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sweep.db");
        let (store, id) = store_with_a_sweep(&db);
        drop(store);
        let edited = FILE.replace("0.01]", "0.02]");
        assert!(matches!(
            past_a_fork(|| prepare(&db, &edited, false)),
            Earlier::Nothing
        ));

        let Earlier::Replaced { summary } = past_a_fork(|| prepare(&db, FILE, true)) else {
            panic!("expected --fresh to replace the sweep");
        };
        assert_eq!(summary.sweep_id, id);
        assert_eq!(summary.state, SweepState::Cancelled);
        // A cancelled sweep is never resumed.
        assert!(matches!(
            past_a_fork(|| prepare(&db, FILE, false)),
            Earlier::Nothing
        ));
    }
}
