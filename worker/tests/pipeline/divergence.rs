//! A tiny real trial whose head learning rate is absurd (`lr_head: 1e8` in
//! both phases) diverges: it stops at once, in its first epoch or soon after,
//! with a result marked diverged (its curve so far, a non-finite loss, no test
//! pass), not an error, and its JSON carries the non-finite values.

use super::common::tiny_config;
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use sweep_proto::trial::{DivergedLoss, EpochMetrics, TrialResult};
use sweep_worker::pipeline::{run_trial, TrialObserver};

#[derive(Default)]
struct Recorder {
    batches: usize,
    epochs: Vec<EpochMetrics>,
}

impl TrialObserver for Recorder {
    fn on_batch(&mut self, _: u32, _: u32, _: usize, _: usize) {
        self.batches += 1;
    }
    fn on_epoch(&mut self, m: &EpochMetrics) {
        self.epochs.push(m.clone());
    }
}

#[test]
fn a_huge_learning_rate_diverges_and_stops_at_once() {
    let mut cfg = tiny_config();
    cfg.phase1.lr_head = 1e8;
    cfg.phase2.lr_head = 1e8;
    cfg.phase2.epochs = 3;
    let batches_per_epoch = (cfg.data.train as usize).div_ceil(cfg.batch_size as usize);
    let mut seen = Recorder::default();
    let started = Instant::now();
    let r = run_trial(&cfg, &mut seen, &AtomicBool::new(false)).expect("a result, not an error");
    let took = started.elapsed();

    let d = r.diverged.clone().expect("marked diverged");
    eprintln!("{d} after {took:?}, {} batches", seen.batches);
    assert_eq!(d.phase, 1, "{d}: phase 1 already trains the head at 1e8");
    assert!(!d.value.is_finite(), "{d}");
    assert_eq!(
        r.epochs.len() as u32,
        d.epoch,
        "the curve ends where it diverged"
    );
    assert!(
        seen.batches < 2 * batches_per_epoch,
        "stopped at once: {} batches seen",
        seen.batches
    );
    let last = r.epochs.last().unwrap();
    match d.loss {
        DivergedLoss::Train => {
            assert!(d.batch >= 1);
            assert_eq!(last.train_loss.to_bits(), d.value.to_bits());
            assert!(last.val_loss.is_nan() && last.val_acc.is_nan());
        }
        DivergedLoss::Val => assert!(!last.val_loss.is_finite()),
    }
    assert_eq!(
        seen.epochs.len(),
        r.epochs.len(),
        "every epoch was observed"
    );
    assert!(
        r.test.acc.is_nan() && r.test.confusion.is_empty(),
        "no test pass"
    );
    assert!(r.best_epoch < d.epoch);
    assert_eq!(
        r.ranked_metric("val_acc"),
        Some(None),
        "it never ranks among finite ones"
    );

    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains(r#""diverged":{"#), "{json}");
    let back: TrialResult = serde_json::from_str(&json).unwrap();
    assert_eq!(format!("{back:?}"), format!("{r:?}"));
}
