//! One slot's bundle: the trials one lease call granted (issue 10; the
//! coordinator picks partners that see the same batch stream, see
//! `LeaseTrialRequest.max_trials`), run in lockstep in this slot: every
//! trial starts at once in a process of its own, and the processes take
//! turns ([`super::turns`]), one epoch each, so the bundle advances epoch by
//! epoch. The first trial to reach an epoch computes what the frozen stages
//! output and leaves it in the worker's shared folder; the others, in their
//! turns, read it there (phase-1 backbone features, phase 2's frozen prefix,
//! their validation features). Only the turn's holder computes, so the
//! slot's cores serve one trial at a time.
//!
//! Each trial stays a lease of its own: [`super::slot::run`] runs, heartbeats
//! and reports it exactly as a lone lease, with its own attempt and fencing.
//! A trial that ends (done, failed, crashed, stopped by the sweep's early
//! stopping) leaves the round; the others go on. A drain lets every trial of
//! the bundle finish, as it lets any running trial; a second signal hands
//! them all back.
//!
//! How many trials a slot asks for ([`bundle_size`]) comes from its memory
//! budget: a bundle's processes are all resident, so a slot asks for at most
//! its budget over the largest trial process this worker has measured, and
//! never more than the `bundle` setting.

use super::cause::Cause;
use super::client::Session;
use super::slot::{self, SlotContext, SlotEnd};
use super::turns::Turns;
use std::sync::Arc;
use sweep_proto::v1::Lease;
use tokio::task::JoinSet;

/// What a trial process is assumed to need before one has been measured.
pub const FIRST_TRIAL_GUESS: u64 = 1 << 30;

/// Runs `leases` in lockstep in one slot; the end that matters most for the
/// lease loop's backoff: an environment failure if any trial had one, else
/// a completion if any completed, else stopped.
pub async fn run(ctx: Arc<SlotContext>, session: Session, leases: Vec<Lease>) -> SlotEnd {
    if leases.len() <= 1 {
        return match leases.into_iter().next() {
            Some(lease) => slot::run(ctx, session, lease, None).await,
            None => SlotEnd::Stopped,
        };
    }
    tracing::info!(
        "bundle of {} trials in lockstep: {}",
        leases.len(),
        leases
            .iter()
            .map(|l| l.trial_id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let turns = Turns::new();
    let mut members = JoinSet::new();
    for lease in leases {
        members.spawn(slot::run(
            ctx.clone(),
            session.clone(),
            lease,
            Some(turns.clone()),
        ));
    }
    let mut ends = Vec::new();
    while let Some(joined) = members.join_next().await {
        match joined {
            Ok(end) => ends.push(end),
            Err(e) => tracing::error!("a bundle's trial task died: {e}"),
        }
    }
    weightiest(ends)
}

/// The end of a bundle for the backoff: an environment failure first, then
/// a completion, then any other failure, else stopped.
fn weightiest(ends: Vec<SlotEnd>) -> SlotEnd {
    let rank = |e: &SlotEnd| match e {
        SlotEnd::Failed {
            cause: Cause::Environment,
            ..
        } => 0,
        SlotEnd::Completed => 1,
        SlotEnd::Failed { .. } => 2,
        SlotEnd::Stopped => 3,
    };
    ends.into_iter()
        .min_by_key(rank)
        .unwrap_or(SlotEnd::Stopped)
}

/// How many trials a slot asks for: `budget` bytes over the largest trial
/// process measured (`peak`, else [`FIRST_TRIAL_GUESS`]), at least 1 and at
/// most `cap` (the `bundle` setting).
pub fn bundle_size(cap: u32, budget: u64, peak: Option<u64>) -> u32 {
    let per_trial = peak.unwrap_or(FIRST_TRIAL_GUESS).max(1);
    let fits = (budget / per_trial).min(u64::from(u32::MAX)) as u32;
    fits.clamp(1, cap.max(1))
}

/// A slot's memory budget when the settings give none: three quarters of
/// the machine's memory (`MemTotal`) over `slots`; 4 GiB if it cannot be
/// read.
pub fn default_memory_per_slot(slots: u32) -> u64 {
    match super::trial_process::proc_kib_field("/proc/meminfo", "MemTotal:") {
        Some(bytes) => bytes / 4 * 3 / u64::from(slots.max(1)),
        None => 4 << 30,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_asks_for_what_its_memory_holds_within_the_setting() {
        let gib = 1u64 << 30;
        // Nothing measured yet: 1 GiB a trial.
        assert_eq!(bundle_size(4, 9 * gib, None), 4);
        assert_eq!(bundle_size(4, 2 * gib, None), 2);
        // Measured: 3 GiB trials (224 px) leave room for 3 in 9 GiB.
        assert_eq!(bundle_size(16, 9 * gib, Some(3 * gib)), 3);
        assert_eq!(bundle_size(16, 9 * gib, Some(500 << 20)), 16);
        // Never less than one trial, never more than the setting.
        assert_eq!(bundle_size(4, gib / 2, Some(gib)), 1);
        assert_eq!(bundle_size(1, 100 * gib, Some(1)), 1);
        assert_eq!(bundle_size(0, 100 * gib, None), 1);
    }

    #[test]
    fn the_default_budget_splits_the_machine() {
        let one = default_memory_per_slot(1);
        let two = default_memory_per_slot(2);
        assert!(one > 0 && two > 0);
        assert!(two <= one / 2 + 1, "{one} {two}");
    }

    #[test]
    fn an_environment_failure_weighs_most() {
        let env = SlotEnd::Failed {
            cause: Cause::Environment,
            error: "x".into(),
        };
        let trial = SlotEnd::Failed {
            cause: Cause::Trial,
            error: "y".into(),
        };
        assert_eq!(
            weightiest(vec![SlotEnd::Completed, env.clone(), SlotEnd::Stopped]),
            env
        );
        assert_eq!(
            weightiest(vec![trial.clone(), SlotEnd::Completed]),
            SlotEnd::Completed
        );
        assert_eq!(weightiest(vec![SlotEnd::Stopped, trial.clone()]), trial);
        assert_eq!(weightiest(Vec::new()), SlotEnd::Stopped);
    }
}
