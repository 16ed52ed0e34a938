//! Bundles: one lease call grants several trials (`max_trials`); one slot
//! runs them one after the other, each reported as a lease of its own,
//! while the waiting ones are kept alive with heartbeats; a drain hands the
//! waiting ones back at once, and an environment failure hands back the rest.

use super::{lease, script, start_bundled};
use std::time::Duration;
use sweep_worker::daemon::simulated::ABORTING_SEED;

#[tokio::test]
async fn a_bundle_runs_in_order_in_one_slot_and_keeps_the_waiting_alive() {
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
    let order: Vec<&str> = seen.stored.iter().map(|c| c.trial_id.as_str()).collect();
    assert_eq!(order, ["t1", "t2", "t3"], "run in the bundle's order");
    // One slot: no epoch of t2 is reported before t1's result, nor of t3
    // before t2's.
    for (before, after) in [("t1", "t2"), ("t2", "t3")] {
        let first_epoch = seen
            .heartbeats
            .iter()
            .position(|h| h.trial_id == after && !h.epoch_json.is_empty())
            .unwrap();
        // `before`'s last epoch comes before `after`'s first.
        let last_before = seen
            .heartbeats
            .iter()
            .rposition(|h| h.trial_id == before && !h.epoch_json.is_empty())
            .unwrap();
        assert!(last_before < first_epoch, "{before} then {after}");
    }
    // t3 waited through two trials: it was heartbeaten, with nothing done,
    // before its first epoch.
    let waiting_beats = seen
        .heartbeats
        .iter()
        .take_while(|h| h.trial_id != "t3" || h.epoch_json.is_empty())
        .filter(|h| h.trial_id == "t3")
        .collect::<Vec<_>>();
    assert!(!waiting_beats.is_empty(), "the waiting trial is kept alive");
    assert!(waiting_beats
        .iter()
        .all(|h| h.epochs_done == 0 && h.epoch_json.is_empty() && h.total_epochs == 4));
    assert!(seen.fails.is_empty(), "{:?}", seen.fails);
    d.stop(1).await;
}

#[tokio::test]
async fn a_drain_hands_the_waiting_back_at_once() {
    let d = start_bundled(
        script(vec![
            lease("t1", 1, (1, 99)),
            lease("t2", 2, (1, 0)),
            lease("t3", 3, (1, 0)),
        ]),
        3,
    )
    .await;
    d.until("t1 running", |s| {
        s.heartbeats
            .iter()
            .any(|h| h.trial_id == "t1" && !h.epoch_json.is_empty())
    })
    .await;
    d.trigger.escalate();
    let seen = d.until("two hand-backs", |s| s.fails.len() == 2).await;
    let mut back: Vec<&str> = seen.fails.iter().map(|f| f.trial_id.as_str()).collect();
    back.sort();
    assert_eq!(back, ["t2", "t3"]);
    assert!(seen.fails.iter().all(|f| f.handed_back));
    assert!(seen.completes.is_empty(), "t1 still runs while draining");
    // The second signal hands t1 back too.
    let (seen, _) = d.stop(1).await;
    assert_eq!(seen.fails.len(), 3);
    assert!(seen.fails[2].trial_id == "t1" && seen.fails[2].handed_back);
}

#[tokio::test]
async fn an_environment_failure_hands_the_rest_back() {
    let d = start_bundled(
        script(vec![
            lease("t1", ABORTING_SEED, (1, 3)),
            lease("t2", 2, (1, 3)),
            lease("t3", 3, (1, 3)),
        ]),
        3,
    )
    .await;
    let seen = d.until("three reports", |s| s.fails.len() == 3).await;
    assert_eq!(seen.fails[0].trial_id, "t1");
    assert!(!seen.fails[0].handed_back, "{:?}", seen.fails[0]);
    assert!(
        seen.fails[1..].iter().all(|f| f.handed_back),
        "{:?}",
        seen.fails
    );
    assert!(seen.completes.is_empty());
    tokio::time::sleep(Duration::from_millis(20)).await;
    d.stop(1).await;
}
