//! Bundles: one lease call grants several trials (`max_trials`); one slot
//! runs them in lockstep, each in a process of its own that takes its turn
//! epoch by epoch, each reported as a lease of its own; a drain lets them
//! all finish, a second signal hands them all back, and a trial whose
//! process dies ends alone.

use super::{lease, script, start_bundled};
use sweep_proto::trial::TrialResult;
use sweep_proto::v1::HeartbeatRequest;
use sweep_worker::daemon::simulated::ABORTING_SEED;

/// Where in the heartbeats `trial` first reported `epoch`.
fn first_report(beats: &[HeartbeatRequest], trial: &str, epoch: u32) -> usize {
    beats
        .iter()
        .position(|h| h.trial_id == trial && h.epochs_done >= epoch && !h.epoch_json.is_empty())
        .unwrap_or_else(|| panic!("{trial} never reported epoch {epoch}"))
}

#[tokio::test]
async fn a_bundle_runs_in_lockstep_in_one_slot() {
    let d = start_bundled(
        script(vec![
            lease("t1", 1, (1, 3)),
            lease("t2", 2, (1, 3)),
            lease("t3", 3, (1, 3)),
        ]),
        3,
    )
    .await;
    let seen = d.until("three results", |s| s.stored.len() == 3).await;
    assert!(seen.fails.is_empty(), "{:?}", seen.fails);
    let mut done: Vec<&str> = seen.stored.iter().map(|c| c.trial_id.as_str()).collect();
    done.sort();
    assert_eq!(done, ["t1", "t2", "t3"]);
    // Each waited for the others' epochs, and its result says how long.
    for c in &seen.stored {
        let r: TrialResult = serde_json::from_str(&c.result_json).unwrap();
        assert!(
            r.turn_wait_s > 0.0 && r.turn_wait_s < r.wall_s,
            "{}: waited {} of {} s",
            c.trial_id,
            r.turn_wait_s,
            r.wall_s
        );
    }
    // Turns go round epoch by epoch: before t1 reports its third epoch, t2
    // and t3 have taken their second turns, so both have reported their
    // first epoch at least (one turn of slack for the heartbeat's way). One
    // after the other, neither would have reported anything yet.
    let beats = &seen.heartbeats;
    let t1_third = first_report(beats, "t1", 3);
    for other in ["t2", "t3"] {
        assert!(
            first_report(beats, other, 1) < t1_third,
            "{other} had a turn before t1's third epoch"
        );
    }
    d.stop(1).await;
}

#[tokio::test]
async fn a_drain_lets_the_whole_bundle_finish_and_a_second_signal_hands_it_back() {
    let d = start_bundled(
        script(vec![
            lease("t1", 1, (1, 99)),
            lease("t2", 2, (1, 99)),
            lease("t3", 3, (1, 99)),
        ]),
        3,
    )
    .await;
    d.until("every trial running", |s| {
        ["t1", "t2", "t3"].iter().all(|t| {
            s.heartbeats
                .iter()
                .any(|h| h.trial_id == *t && !h.epoch_json.is_empty())
        })
    })
    .await;
    d.trigger.escalate();
    // Draining: the three keep taking turns, nobody is handed back.
    let before = d.fake.seen().heartbeats.len();
    let seen = d
        .until("more epochs while draining", |s| {
            s.heartbeats.len() >= before + 6
        })
        .await;
    assert!(seen.fails.is_empty(), "{:?}", seen.fails);
    let (seen, _) = d.stop(1).await;
    let mut back: Vec<&str> = seen.fails.iter().map(|f| f.trial_id.as_str()).collect();
    back.sort();
    assert_eq!(back, ["t1", "t2", "t3"]);
    assert!(seen.fails.iter().all(|f| f.handed_back));
}

#[tokio::test]
async fn a_trial_process_that_dies_ends_alone_and_the_turn_passes_on() {
    let d = start_bundled(
        script(vec![
            lease("t1", ABORTING_SEED, (1, 3)),
            lease("t2", 2, (1, 3)),
            lease("t3", 3, (1, 3)),
        ]),
        3,
    )
    .await;
    let seen = d
        .until("one failure, two results", |s| {
            s.fails.len() == 1 && s.stored.len() == 2
        })
        .await;
    assert_eq!(seen.fails[0].trial_id, "t1");
    assert!(!seen.fails[0].handed_back, "{:?}", seen.fails[0]);
    assert!(
        seen.fails[0].error.contains("SIGABRT"),
        "{}",
        seen.fails[0].error
    );
    let mut done: Vec<&str> = seen.stored.iter().map(|c| c.trial_id.as_str()).collect();
    done.sort();
    assert_eq!(done, ["t2", "t3"]);
    d.stop(1).await;
}

#[tokio::test]
async fn a_member_heartbeats_when_a_partner_s_epoch_is_acknowledged() {
    // Heartbeats on a timer only every minute: any heartbeat without an
    // epoch comes from a partner's acknowledged epoch (the coordinator may
    // judge the member again before its next turn).
    let mut s = script(vec![lease("t1", 1, (1, 2)), lease("t2", 2, (1, 2))]);
    s.heartbeat_interval_ms = 60_000;
    let d = start_bundled(s, 2).await;
    let seen = d.until("two results", |s| s.stored.len() == 2).await;
    assert!(seen.fails.is_empty(), "{:?}", seen.fails);
    let beats = &seen.heartbeats;
    let t2_first = first_report(beats, "t2", 1);
    let told = beats
        .iter()
        .skip(t2_first + 1)
        .any(|h| h.trial_id == "t1" && h.epoch_json.is_empty());
    assert!(
        told,
        "t1 heartbeats without an epoch after t2's first: {:?}",
        beats
            .iter()
            .map(|h| (h.trial_id.as_str(), h.epochs_done, h.epoch_json.len()))
            .collect::<Vec<_>>()
    );
    d.stop(1).await;
}
