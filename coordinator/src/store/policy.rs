//! The limits the store applies to workers and their reports: how many
//! hand-backs a trial gets before one counts as a failed attempt, after how
//! many environment failures in a row a worker is quarantined, and on how
//! many different workers a trial may fail for environment reasons before
//! it fails for good.

/// Hand-backs, quarantine and poison trials (see `config::Settings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerPolicy {
    /// Hand-backs a trial may have; each one beyond counts as a failed attempt.
    pub max_handbacks: u32,
    /// A worker whose latest this-many outcomes were environment failures,
    /// each on a different trial, is quarantined (leases nothing more).
    pub quarantine_after: u32,
    /// A trial that failed for environment reasons on this many different
    /// workers fails (it is likely what breaks them).
    pub poison_after: u32,
}

impl Default for WorkerPolicy {
    /// 10 hand-backs, quarantine after 3, a trial fails after 3 workers.
    fn default() -> Self {
        Self {
            max_handbacks: 10,
            quarantine_after: 3,
            poison_after: 3,
        }
    }
}
