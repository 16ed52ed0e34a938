//! Bundles (issue 10): a worker may ask for several trials at once
//! (`LeaseTrialRequest.max_trials`) and gets, with the trial a lease picks,
//! pending partners of the same sweep that see the same batch stream
//! ([`Keys::bundle`]), those of the first trial's share group first, then in
//! lease order. Running them in lockstep in one worker slot (taking turns,
//! epoch by epoch) lets its shared caches serve every partner what the first
//! to reach an epoch computed (phase-1 features, frozen-prefix outputs,
//! evaluation features), with no other worker racing it for the same group.
//!
//! A trial whose share group is none (it shares nothing with partners,
//! [`Keys::group`]) is leased alone and is nobody's partner.
//!
//! A bundle is an execution detail only: each partner is a lease of its own
//! (attempt, deadline, heartbeats, report, fencing), so expiry, handing back,
//! stale attempts and terminal states work on it exactly as on a lone lease.
//!
//! How many partners: at most what was asked (capped at [`MAX_BUNDLE`]),
//! room left under the sweep's `parallelism`, and half the worker's fair
//! share of the sweep's pending work: one worker asking first does not take
//! the others' work, and bundles shrink as the sweep nears its end, so its
//! last trials spread over every slot instead of waiting in one bundle while
//! other slots idle. The share is counted in trials (pending over twice the
//! slots of live workers, rounded up) and in work: the bundle's expected
//! cost ([`TrialConfig::relative_cost`]) stays under that share of the
//! pending trials' cost plus one average trial. When every trial costs the
//! same the two agree; when they differ (a grid over unfreeze depths), the
//! dear trials at a sweep's end go out one or two at a time, not three in
//! one slot's lockstep while the other slots finish cheap ones and idle.
//!
//! [`TrialConfig::relative_cost`]: sweep_proto::trial::TrialConfig::relative_cost

use super::error::StoreResult;
use super::share_groups::{keys, Keys};
use super::Now;
use rusqlite::{params, Transaction};

/// The most trials one lease hands out.
pub const MAX_BUNDLE: u32 = 16;

/// A bundle takes at most 1/`TAIL_SPLIT` of a slot's share of the pending
/// trials.
const TAIL_SPLIT: i64 = 2;

/// How many pending trials, in lease order, a bundle looks through for
/// partners (bounds the configs parsed per lease).
const PARTNER_LOOKAHEAD: i64 = 256;

/// Up to `wanted` pending trials of `sweep_id` to lease to `worker_id` with
/// `first` (not yet leased itself), in the order to run them.
pub(super) fn partners(
    tx: &Transaction,
    sweep_id: &str,
    first: &str,
    worker_id: &str,
    wanted: u32,
    now: Now,
    lease_ms: u64,
) -> StoreResult<Vec<String>> {
    let room = room_for(tx, sweep_id, now, lease_ms)?;
    let wanted = (wanted as i64).min(room.trials - 1);
    if wanted <= 0 {
        return Ok(Vec::new());
    }
    let first_config: String = tx.query_row(
        "SELECT config_json FROM trials WHERE sweep_id = ?1 AND trial_id = ?2",
        params![sweep_id, first],
        |r| r.get(0),
    )?;
    // A trial without a share group shares nothing with partners: alone.
    let Some(Keys {
        bundle,
        group: Some(group),
        cost: first_cost,
    }) = keys(&first_config)
    else {
        return Ok(Vec::new());
    };
    // `first` is still pending here: it is granted after its partners are chosen.
    let candidates = super::leases::pending_for(tx, sweep_id, worker_id, PARTNER_LOOKAHEAD + 1)?
        .into_iter()
        .filter(|(id, _)| id != first);
    let mut same_group = Vec::new();
    let mut others = Vec::new();
    let (mut costs_seen, mut seen) = (first_cost, 1.0);
    for (trial_id, config) in candidates {
        let Some(k) = keys(&config) else { continue };
        (costs_seen, seen) = (costs_seen + k.cost, seen + 1.0);
        if k.bundle != bundle {
            continue;
        }
        match k.group {
            Some(g) if g == group => same_group.push((trial_id, k.cost)),
            Some(_) => others.push((trial_id, k.cost)),
            None => {}
        }
    }
    same_group.extend(others);
    // The pending trials' cost, estimated from those looked at (all of them
    // unless more than the lookahead are pending).
    let mean_cost = costs_seen / seen;
    let limit = room.work_share(mean_cost);
    let mut bundle_cost = first_cost;
    let mut chosen = Vec::new();
    for (trial_id, cost) in same_group.into_iter().take(wanted as usize) {
        bundle_cost += cost;
        if bundle_cost >= limit {
            break;
        }
        chosen.push(trial_id);
    }
    Ok(chosen)
}

/// How much one lease may hand out (see the module doc).
struct Room {
    /// Trials, the first included.
    trials: i64,
    /// Pending trials of the sweep.
    pending: i64,
    /// What the pending work is split into: twice the live slots.
    shares: i64,
}

impl Room {
    /// The expected cost a bundle stays under, when the pending trials cost
    /// `mean_cost` on average: a share of the pending work plus one average
    /// trial, less a rounding margin (so `n` trials of equal cost fit exactly
    /// when `n` is at most the share in trials, rounded up).
    fn work_share(&self, mean_cost: f64) -> f64 {
        let share = mean_cost * self.pending as f64 / self.shares as f64;
        (share + mean_cost) * (1.0 - 1e-9)
    }
}

/// How many trials of `sweep_id` one lease may hand out, the first
/// included: its room under `parallelism` (when set) and half the fair
/// share of its pending trials among the slots of live workers.
fn room_for(tx: &Transaction, sweep_id: &str, now: Now, lease_ms: u64) -> StoreResult<Room> {
    let (parallelism, running, pending): (i64, i64, i64) = tx.query_row(
        "SELECT s.parallelism,
                (SELECT count(*) FROM trials r WHERE r.sweep_id = s.id AND r.state = 'running'),
                (SELECT count(*) FROM trials p WHERE p.sweep_id = s.id AND p.state = 'pending')
         FROM sweeps s WHERE s.id = ?1",
        params![sweep_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    // Alive: seen within two lease times, neither draining nor quarantined.
    let seen_since = now.wall_ms.saturating_sub(2 * lease_ms) as i64;
    let slots: i64 = tx.query_row(
        "SELECT coalesce(sum(max(slots, 1)), 0) FROM workers
         WHERE last_seen_ms >= ?1 AND draining = 0 AND quarantine_reason = ''",
        params![seen_since],
        |r| r.get(0),
    )?;
    let shares = TAIL_SPLIT * slots.max(1);
    let fair = (pending + shares - 1) / shares;
    let mut room = fair.max(1);
    if parallelism > 0 {
        room = room.min(parallelism - running);
    }
    Ok(Room {
        trials: room,
        pending,
        shares,
    })
}
