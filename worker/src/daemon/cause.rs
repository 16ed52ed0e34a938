//! What a failed attempt is blamed on, as the daemon reports it
//! (`FailTrialRequest.cause`): the trial itself (bad values; counts as an
//! attempt) or this worker's environment (data or weights missing or
//! unreadable, out of memory, a crashed trial process; the trial is handed
//! back uncounted and this worker backs off before leasing again).

use serde::{Deserialize, Serialize};
use sweep_proto::v1::FailureCause;

/// Who is to blame for a failed attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// The trial failed by itself: another worker would fail it too.
    #[default]
    Trial,
    /// This worker could not run it: another worker might.
    Environment,
}

impl Cause {
    /// The wire's value.
    pub fn to_proto(self) -> FailureCause {
        match self {
            Cause::Trial => FailureCause::Trial,
            Cause::Environment => FailureCause::Environment,
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cause::Trial => "trial",
            Cause::Environment => "environment",
        })
    }
}
