//! Search that spends less, on the store alone (no gRPC, no processes):
//! ASHA and median stopping on a 27-point grid whose trials follow a known
//! response surface with noise (the simulated worker's), TPE against random
//! search over 10 seeds, TPE's sequence across a store reopened mid-sweep,
//! and STOPPED as a terminal state.

mod common;

use common::{open_store, worker};
use std::sync::Arc;
use sweep_coordinator::store::{
    CompletionReport, FailureReport, HeartbeatReport, LeaseGrant, ManualClock, Store, StoreError,
    TrialState,
};
use sweep_coordinator::sweepfile::{self, LoadLimits};
use sweep_proto::trial::{EpochMetrics, TrialConfig, TrialResult};

/// The simulated worker's surface (`worker/src/daemon/simulated.rs`): best
/// (0.985) at phase-2 `lr_head` 1e-3, `lr_backbone` 1e-4, no label smoothing.
fn final_acc(cfg: &TrialConfig) -> f64 {
    let off_head = (cfg.phase2.lr_head.log10() + 3.0).abs();
    let off_backbone = (cfg.phase2.lr_backbone.log10() + 4.0).abs();
    (0.985 - 0.04 * off_head - 0.02 * off_backbone - 0.05 * cfg.loss.label_smoothing)
        .clamp(0.1, 0.999)
}

/// A number in [-1, 1) fixed by `text` and `n`.
fn noise(text: &str, n: u32) -> f64 {
    let h = text
        .bytes()
        .chain(n.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    (h >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// Validation accuracy after `epoch` of `total`: the simulated worker's
/// rising curve, plus ±0.004 of noise per epoch.
fn acc_at(cfg: &TrialConfig, trial_id: &str, epoch: u32, total: u32) -> f64 {
    let p = f64::from(epoch) / f64::from(total);
    let f = final_acc(cfg);
    0.1 + (f - 0.1) * (1.0 - 0.5f64.powf(1.0 + 4.0 * p)) / (1.0 - 0.5f64.powi(5))
        + 0.004 * noise(trial_id, epoch)
}

fn metrics(epoch: u32, val_acc: f64) -> EpochMetrics {
    let mut e = common::epoch(epoch, val_acc);
    e.phase = 2;
    e
}

fn result_of(curve: &[EpochMetrics]) -> TrialResult {
    let best = curve
        .iter()
        .max_by(|a, b| a.val_acc.total_cmp(&b.val_acc))
        .unwrap();
    let mut r = common::result(best.val_acc, best.val_acc);
    r.epochs = curve.to_vec();
    r.best_epoch = best.epoch;
    r
}

fn config(l: &LeaseGrant) -> TrialConfig {
    serde_json::from_str(&l.config_json).unwrap()
}

const GRID: &str = "method: grid
base:
  input_size: 32
  data: {train: 500, val: 200, test: 200}
  phase1: {epochs: 1}
  phase2: {epochs: 8}
parameters:
  phase2.lr_head: {values: [1.0e-4, 1.0e-3, 1.0e-2]}
  phase2.lr_backbone: {values: [1.0e-5, 1.0e-4, 1.0e-3]}
  loss.label_smoothing: {values: [0.0, 0.1, 0.2]}
";

fn submit(store: &Store, yaml: &str) -> String {
    let sweep = sweepfile::load(yaml, "search.yaml", &LoadLimits::default()).unwrap();
    store.create_sweep(&sweep, yaml, "search.yaml").unwrap()
}

/// Runs every trial of the store's sweeps with `workers` trials at a time,
/// one epoch each in turn, heartbeating every epoch; a trial told to stop
/// ends there. Returns the epochs run.
fn run_all(store: &Store, workers: usize) -> u64 {
    let ids: Vec<String> = (0..workers)
        .map(|i| worker(store, &format!("w{i}")))
        .collect();
    let mut slots: Vec<Option<(LeaseGrant, TrialConfig, Vec<EpochMetrics>)>> = vec![None; workers];
    let mut run = 0u64;
    loop {
        for (i, slot) in slots.iter_mut().enumerate() {
            if slot.is_none() {
                *slot = store
                    .lease(&ids[i], "")
                    .unwrap()
                    .map(|l| (l.clone(), config(&l), Vec::new()));
            }
        }
        if slots.iter().all(Option::is_none) {
            return run;
        }
        for (i, slot) in slots.iter_mut().enumerate() {
            let Some((l, cfg, curve)) = slot else {
                continue;
            };
            let total = cfg.total_epochs();
            let epoch = curve.len() as u32 + 1;
            let m = metrics(epoch, acc_at(cfg, &l.trial_id, epoch, total));
            curve.push(m.clone());
            run += 1;
            let answer = store
                .heartbeat(&HeartbeatReport {
                    sweep_id: l.sweep_id.clone(),
                    worker_id: ids[i].clone(),
                    trial_id: l.trial_id.clone(),
                    attempt: l.attempt,
                    epoch_json: vec![serde_json::to_string(&m).unwrap()],
                    epochs_done: epoch,
                    total_epochs: total,
                })
                .unwrap();
            if answer.stop {
                assert!(answer.stopped_early.is_some());
                *slot = None;
            } else if epoch == total {
                let stored = store
                    .complete(&CompletionReport {
                        sweep_id: l.sweep_id.clone(),
                        worker_id: ids[i].clone(),
                        trial_id: l.trial_id.clone(),
                        attempt: l.attempt,
                        result_json: serde_json::to_string(&result_of(curve)).unwrap(),
                    })
                    .unwrap();
                assert!(stored);
                *slot = None;
            }
        }
    }
}

/// The grid's best point: lr_head 1e-3, lr_backbone 1e-4, no smoothing.
fn is_best(params: &[(String, String)]) -> bool {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).unwrap().1.clone();
    get("phase2.lr_head") == "0.001"
        && get("phase2.lr_backbone") == "0.0001"
        && get("loss.label_smoothing") == "0.0"
}

/// Runs the 27-point grid with `early_stop` (its YAML line) on 3 workers;
/// (epochs run, epochs saved, stopped trials). The best point must rank first, done.
fn grid_with(early_stop: &str, grid: &str) -> (u64, u64, u64) {
    grid_on(early_stop, grid, 3)
}

/// [`grid_with`] on `workers` workers.
fn grid_on(early_stop: &str, grid: &str, workers: usize) -> (u64, u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), &Arc::new(ManualClock::new(0)));
    let s = submit(&store, &format!("name: grid\n{early_stop}\n{grid}"));
    let run = run_all(&store, workers);
    let summary = store.sweep_summary(&s).unwrap();
    assert_eq!(summary.counts.total, 27);
    assert_eq!(summary.counts.done + summary.counts.stopped, 27);
    assert_eq!(summary.counts.epochs_run, run);
    assert_eq!(run + summary.counts.epochs_saved, 27 * 9);
    let ranking = store.list_trials(&s, 0).unwrap();
    let first = &ranking.trials[0];
    assert!(is_best(&first.params), "{:?}", first.params);
    assert_eq!(first.state, TrialState::Done);
    // Stopped trials rank among the done ones by their best so far.
    assert!(ranking.trials.iter().all(|t| t.rank > 0));
    (run, summary.counts.epochs_saved, summary.counts.stopped)
}

#[test]
fn asha_saves_more_than_half_the_epochs_of_a_27_point_grid_and_keeps_the_best() {
    let (full, saved, _) = grid_with("", GRID);
    assert_eq!((full, saved), (243, 0));
    let (run, saved, stopped) = grid_with(
        "early_stop: {kind: asha, metric: val_acc, min_epochs: 1, reduction_factor: 3}",
        GRID,
    );
    eprintln!(
        "ASHA on 27 trials × 9 epochs: {run} epochs run, {saved} saved ({:.0}%), {stopped} trials stopped",
        100.0 * saved as f64 / 243.0
    );
    assert!(saved * 2 >= 243, "only {saved} of 243 epochs saved");
}

#[test]
fn asha_judging_passed_rungs_again_saves_more_and_keeps_the_best() {
    let once = "early_stop: {kind: asha, metric: val_acc, min_epochs: 1, reduction_factor: 3}";
    let again =
        "early_stop: {kind: asha, metric: val_acc, min_epochs: 1, reduction_factor: 3, rejudge: true}";
    // 27 workers: every trial runs at once, one epoch each in turn, so the
    // first trials at a rung are let through on few values.
    let (run_once, _, _) = grid_on(once, GRID, 27);
    let (run_again, saved, stopped) = grid_on(again, GRID, 27);
    eprintln!(
        "ASHA judging passed rungs again, 27 trials × 9 epochs at once: {run_again} epochs run \
         (judged once: {run_once}), {saved} saved, {stopped} trials stopped"
    );
    assert!(run_again < run_once, "{run_again} against {run_once}");
}

#[test]
fn with_rejudge_a_trial_let_through_early_stops_when_later_ones_push_it_out() {
    for rejudge in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path(), &Arc::new(ManualClock::new(0)));
        let yaml = format!(
            "name: two\nearly_stop: {{kind: asha, reduction_factor: 2, rejudge: {rejudge}}}\n{}",
            GRID.replace("[1.0e-4, 1.0e-3, 1.0e-2]", "[1.0e-3, 1.0e-2]")
                .replace("[1.0e-5, 1.0e-4, 1.0e-3]", "[1.0e-4]")
                .replace("[0.0, 0.1, 0.2]", "[0.0]")
        );
        submit(&store, &yaml);
        let (a, b) = (worker(&store, "a"), worker(&store, "b"));
        let la = store.lease(&a, "").unwrap().unwrap();
        let lb = store.lease(&b, "").unwrap().unwrap();
        let beat = |w: &str, l: &LeaseGrant, e: u32, new: Option<f64>| {
            store.heartbeat(&HeartbeatReport {
                sweep_id: l.sweep_id.clone(),
                worker_id: w.into(),
                trial_id: l.trial_id.clone(),
                attempt: l.attempt,
                epoch_json: new
                    .map(|v| serde_json::to_string(&metrics(e, v)).unwrap())
                    .into_iter()
                    .collect(),
                epochs_done: e,
                total_epochs: 9,
            })
        };
        // a is first at rung 1 and continues; b, better, continues too.
        assert!(!beat(&a, &la, 1, Some(0.5)).unwrap().stop);
        assert!(!beat(&b, &lb, 1, Some(0.8)).unwrap().stop);
        // a's next heartbeat brings no epoch: judged again, it is no longer
        // in the best half of rung 1.
        let answer = beat(&a, &la, 1, None).unwrap();
        assert_eq!(answer.stop, rejudge, "rejudge {rejudge}");
        if rejudge {
            let reason = answer.stopped_early.unwrap();
            assert!(
                reason.contains("rung 1") && reason.contains("top 1 of 2"),
                "{reason}"
            );
        } else {
            // Judged once: a runs on past rung 1.
            assert!(!beat(&a, &la, 2, Some(0.6)).unwrap().stop);
        }
    }
}

#[test]
fn median_stopping_saves_epochs_and_keeps_the_best() {
    // Median stopping compares a trial's best so far with the others'
    // running averages, which lag a rising curve: on the grid above (final
    // values within 13% of each other) it stops nothing. With the values a
    // decade further apart, and the promising ones first, it stops the
    // later, worse trials.
    let promising_first = GRID
        .replace("[1.0e-4, 1.0e-3, 1.0e-2]", "[1.0e-3, 1.0e-1, 1.0e-5]")
        .replace("[1.0e-5, 1.0e-4, 1.0e-3]", "[1.0e-4, 1.0e-2, 1.0e-6]");
    let (run, saved, stopped) = grid_with(
        "early_stop: {kind: median, after_epochs: 2}",
        &promising_first,
    );
    eprintln!(
        "median stopping on 27 trials × 9 epochs: {run} epochs run, {saved} saved ({:.0}%), {stopped} trials stopped",
        100.0 * saved as f64 / 243.0
    );
    assert!(stopped > 0 && saved > 0);
}

#[test]
fn a_stopped_trial_is_terminal_and_keeps_its_partial_curve() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), &Arc::new(ManualClock::new(0)));
    let yaml = format!(
        "name: two\nearly_stop: {{kind: asha, reduction_factor: 2}}\n{}",
        GRID.replace("[1.0e-4, 1.0e-3, 1.0e-2]", "[1.0e-3, 1.0e-2]")
            .replace("[1.0e-5, 1.0e-4, 1.0e-3]", "[1.0e-4]")
            .replace("[0.0, 0.1, 0.2]", "[0.0]")
    );
    let s = submit(&store, &yaml);
    let (a, b) = (worker(&store, "a"), worker(&store, "b"));
    let la = store.lease(&a, "").unwrap().unwrap();
    let lb = store.lease(&b, "").unwrap().unwrap();
    let beat = |w: &str, l: &LeaseGrant, e: u32, v: f64| {
        store.heartbeat(&HeartbeatReport {
            sweep_id: l.sweep_id.clone(),
            worker_id: w.into(),
            trial_id: l.trial_id.clone(),
            attempt: l.attempt,
            epoch_json: vec![serde_json::to_string(&metrics(e, v)).unwrap()],
            epochs_done: e,
            total_epochs: 9,
        })
    };
    // The first at rung 1 continues; the second, worse, stops there.
    assert!(!beat(&a, &la, 1, 0.8).unwrap().stop);
    let answer = beat(&b, &lb, 1, 0.5).unwrap();
    assert!(answer.stop);
    let reason = answer.stopped_early.unwrap();
    assert!(reason.contains("ASHA at rung 1"), "{reason}");
    // Terminal: a heartbeat and a hand-back are refused, a late result is
    // acknowledged and not stored.
    assert!(beat(&b, &lb, 2, 0.9).is_err());
    let hand_back = store.fail(&FailureReport {
        sweep_id: s.clone(),
        worker_id: b.clone(),
        trial_id: lb.trial_id.clone(),
        attempt: 1,
        handed_back: true,
        ..Default::default()
    });
    assert!(
        matches!(hand_back, Err(StoreError::TrialOver { .. }) | Ok(false)),
        "{hand_back:?}"
    );
    let late = store
        .complete(&CompletionReport {
            sweep_id: s.clone(),
            worker_id: b.clone(),
            trial_id: lb.trial_id.clone(),
            attempt: 1,
            result_json: serde_json::to_string(&result_of(&[metrics(1, 0.99)])).unwrap(),
        })
        .unwrap();
    assert!(!late);
    let ranking = store.list_trials(&s, 0).unwrap();
    let stopped = ranking
        .trials
        .iter()
        .find(|t| t.trial_id == lb.trial_id)
        .unwrap();
    assert_eq!(stopped.state, TrialState::Stopped);
    assert_eq!((stopped.metric, stopped.best_epoch), (Some(0.5), 1));
    assert_eq!((stopped.epochs_done, stopped.total_epochs), (1, 9));
    assert_eq!(store.trial_epochs(&s, &lb.trial_id).unwrap().len(), 1);
    let summary = store.sweep_summary(&s).unwrap();
    assert_eq!(
        (summary.counts.stopped, summary.counts.epochs_saved),
        (1, 8)
    );
    // At an equal metric a done trial ranks before a stopped one.
    for e in 2..=9 {
        assert!(
            !beat(&a, &la, e, if e == 9 { 0.5 } else { 0.4 })
                .unwrap()
                .stop
        );
    }
    let curve: Vec<EpochMetrics> = (1..=9)
        .map(|e| metrics(e, if e == 1 { 0.5 } else { 0.4 }))
        .collect();
    store
        .complete(&CompletionReport {
            sweep_id: s.clone(),
            worker_id: a.clone(),
            trial_id: la.trial_id.clone(),
            attempt: 1,
            result_json: serde_json::to_string(&result_of(&curve)).unwrap(),
        })
        .unwrap();
    let ranking = store.list_trials(&s, 0).unwrap();
    let states: Vec<TrialState> = ranking.trials.iter().map(|t| t.state).collect();
    assert_eq!(states, [TrialState::Done, TrialState::Stopped]);
    assert_eq!(
        ranking.trials.iter().map(|t| t.rank).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn asha_on_phase_two_epochs_judges_each_trial_where_its_own_phase_two_starts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), &Arc::new(ManualClock::new(0)));
    // Two trials whose phase 1 lasts 3 and 1 epochs; rungs at phase-2 epochs
    // 1 and 2 (min_epochs 1, reduction_factor 2), 4 phase-2 epochs each.
    let yaml = "name: p2
early_stop: {kind: asha, epochs: phase2, min_epochs: 1, reduction_factor: 2}
method: grid
base:
  input_size: 32
  data: {train: 500, val: 200, test: 200}
  phase2: {epochs: 4}
parameters:
  phase1.epochs: {values: [3, 1]}
";
    let s = submit(&store, yaml);
    let (a, b) = (worker(&store, "a"), worker(&store, "b"));
    let mut leases = [
        (a.clone(), store.lease(&a, "").unwrap().unwrap()),
        (b.clone(), store.lease(&b, "").unwrap().unwrap()),
    ];
    leases.sort_by_key(|(_, l)| std::cmp::Reverse(config(l).phase1.epochs));
    let [(wl, long), (ws, short)] = &leases;
    let beat = |w: &str, l: &LeaseGrant, e: u32, phase: u32, v: f64| {
        let mut m = common::epoch(e, v);
        m.phase = phase;
        store.heartbeat(&HeartbeatReport {
            sweep_id: l.sweep_id.clone(),
            worker_id: w.into(),
            trial_id: l.trial_id.clone(),
            attempt: l.attempt,
            epoch_json: vec![serde_json::to_string(&m).unwrap()],
            epochs_done: e,
            total_epochs: config(l).total_epochs(),
        })
    };
    // The long trial's phase 1 is never judged, however poor; its first
    // phase-2 epoch (epoch 4) is the first at rung 1 and continues.
    for e in 1..=3 {
        assert!(!beat(wl, long, e, 1, 0.1).unwrap().stop);
    }
    assert!(!beat(wl, long, 4, 2, 0.9).unwrap().stop);
    // The short trial: a phase-1 epoch better than anything is not a rung;
    // its epoch 2 is its phase-2 epoch 1, judged against the long trial's
    // epoch 4, and worse: stopped there.
    assert!(!beat(ws, short, 1, 1, 0.99).unwrap().stop);
    let answer = beat(ws, short, 2, 2, 0.5).unwrap();
    assert!(answer.stop);
    let reason = answer.stopped_early.unwrap();
    assert!(reason.contains("ASHA at rung 1 of phase 2"), "{reason}");
    assert!(reason.contains("top 1 of 2"), "{reason}");
    let ranking = store.list_trials(&s, 0).unwrap();
    let stopped = ranking
        .trials
        .iter()
        .find(|t| t.trial_id == short.trial_id)
        .unwrap();
    assert_eq!(stopped.state, TrialState::Stopped);
    assert_eq!((stopped.epochs_done, stopped.total_epochs), (2, 5));
    // Its best so far counts phase 1 too (0.99 at epoch 1): ranking is not
    // early stopping's count.
    assert_eq!((stopped.metric, stopped.best_epoch), (Some(0.99), 1));
    // Without `epochs:`, rungs count every epoch.
    let all = sweepfile::load(
        &yaml.replace("epochs: phase2, ", ""),
        "all.yaml",
        &LoadLimits::default(),
    )
    .unwrap()
    .early_stop
    .unwrap();
    assert_eq!(all.epochs(), sweep_coordinator::search::EpochCount::All);
}

const SPACE: &str = "base:
  input_size: 32
  data: {train: 500, val: 200, test: 200}
  phase1: {epochs: 1}
  phase2: {epochs: 1}
parameters:
  phase2.lr_head: {log_uniform: [1.0e-4, 1.0e-2]}
  phase2.lr_backbone: {log_uniform: [1.0e-5, 1.0e-3]}
  loss.label_smoothing: {uniform: [0.0, 0.2]}
";

/// Completes the lease with the surface's value (plus noise by trial id).
fn finish(store: &Store, w: &str, l: &LeaseGrant) -> f64 {
    let cfg = config(l);
    let v = final_acc(&cfg) + 0.002 * noise(&l.trial_id, 0);
    store
        .complete(&CompletionReport {
            sweep_id: l.sweep_id.clone(),
            worker_id: w.into(),
            trial_id: l.trial_id.clone(),
            attempt: l.attempt,
            result_json: common::result_json(v, v),
        })
        .unwrap();
    final_acc(&cfg)
}

/// Trials a sweep (`method` with `extra` lines) runs, one at a time, until
/// one is within 1% of the optimum (0.985); `count + 1` if none is.
fn trials_to_optimum(method: &str, seed: u64, count: u64) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), &Arc::new(ManualClock::new(0)));
    let extra = if method == "tpe" {
        "startup_trials: 10\n"
    } else {
        ""
    };
    submit(
        &store,
        &format!(
            "name: {method}-{seed}\nmethod: {method}\ncount: {count}\nrandom_seed: {seed}\n{extra}{SPACE}"
        ),
    );
    let w = worker(&store, "w");
    for n in 1..=count {
        let l = store.lease(&w, "").unwrap().unwrap();
        if finish(&store, &w, &l) >= 0.99 * 0.985 {
            return n;
        }
    }
    count + 1
}

fn median(mut v: Vec<u64>) -> f64 {
    v.sort_unstable();
    (v[v.len() / 2 - 1] + v[v.len() / 2]) as f64 / 2.0
}

#[test]
fn tpe_finds_a_point_within_one_percent_of_the_optimum_sooner_than_random_search() {
    let tpe: Vec<u64> = (0..10).map(|s| trials_to_optimum("tpe", s, 150)).collect();
    let random: Vec<u64> = (0..10)
        .map(|s| trials_to_optimum("random", s, 150))
        .collect();
    let (t, r) = (median(tpe.clone()), median(random.clone()));
    eprintln!("trials to within 1% of the optimum, 10 seeds: TPE {tpe:?} (median {t}), random {random:?} (median {r})");
    assert!(t < r, "TPE median {t}, random median {r}");
}

/// The params of every trial of the sweep, in proposal order.
fn sequence(store: &Store, s: &str) -> Vec<String> {
    let mut trials = store.list_trials(s, 0).unwrap().trials;
    trials.sort_by_key(|t| t.index);
    trials.iter().map(|t| format!("{:?}", t.params)).collect()
}

#[test]
fn a_reopened_store_continues_the_same_tpe_sequence() {
    let yaml =
        format!("name: tpe\nmethod: tpe\ncount: 16\nrandom_seed: 5\nstartup_trials: 4\n{SPACE}");
    let clock = Arc::new(ManualClock::new(0));
    let straight = tempfile::tempdir().unwrap();
    let (s1, expected) = {
        let store = open_store(straight.path(), &clock);
        let s = submit(&store, &yaml);
        let w = worker(&store, "w");
        while let Some(l) = store.lease(&w, "").unwrap() {
            finish(&store, &w, &l);
        }
        let summary = store.sweep_summary(&s).unwrap();
        assert_eq!((summary.counts.total, summary.counts.done), (16, 16));
        let seq = sequence(&store, &s);
        (s, seq)
    };
    assert!(!s1.is_empty());
    let broken = tempfile::tempdir().unwrap();
    let (s, w, l) = {
        let store = open_store(broken.path(), &clock);
        let s = submit(&store, &yaml);
        let w = worker(&store, "w");
        for _ in 0..7 {
            let l = store.lease(&w, "").unwrap().unwrap();
            finish(&store, &w, &l);
        }
        // The 8th is proposed and leased when the coordinator stops.
        let l = store.lease(&w, "req-8").unwrap().unwrap();
        let summary = store.sweep_summary(&s).unwrap();
        assert_eq!(
            (
                summary.counts.total,
                summary.counts.pending,
                summary.counts.running
            ),
            (16, 8, 1)
        );
        (s, w, l)
    };
    let store = open_store(broken.path(), &clock);
    // The retried lease request gets the same proposal back.
    assert_eq!(store.lease(&w, "req-8").unwrap().unwrap(), l);
    finish(&store, &w, &l);
    while let Some(l) = store.lease(&w, "").unwrap() {
        finish(&store, &w, &l);
    }
    assert_eq!(sequence(&store, &s), expected);
}

#[test]
fn tpe_with_asha_learns_from_stopped_trials() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), &Arc::new(ManualClock::new(0)));
    let yaml = format!(
        "name: both\nmethod: tpe\ncount: 30\nrandom_seed: 3\nstartup_trials: 5\nearly_stop: {{kind: asha}}\n{}",
        SPACE.replace("phase2: {epochs: 1}", "phase2: {epochs: 8}")
    );
    let s = submit(&store, &yaml);
    run_all(&store, 2);
    let summary = store.sweep_summary(&s).unwrap();
    assert_eq!(summary.counts.done + summary.counts.stopped, 30);
    assert!(summary.counts.stopped > 0 && summary.counts.epochs_saved > 0);
    let ranking = store.list_trials(&s, 0).unwrap();
    assert_eq!(ranking.trials[0].state, TrialState::Done);
}

#[test]
fn early_stop_and_tpe_keys_are_checked_naming_the_field() {
    let refused = |yaml: &str| {
        sweepfile::load(yaml, "bad.yaml", &LoadLimits::default())
            .unwrap_err()
            .to_string()
    };
    let grid = format!("name: g\n{GRID}");
    let e = refused(&format!(
        "early_stop: {{kind: asha, reduction_factor: 1}}\n{grid}"
    ));
    assert!(
        e.contains("`early_stop.reduction_factor`: must be within [2, "),
        "{e}"
    );
    let e = refused(&format!(
        "early_stop: {{kind: median, min_epochs: 2}}\n{grid}"
    ));
    assert!(
        e.contains("`early_stop.min_epochs`: not a setting of `kind: median`"),
        "{e}"
    );
    let e = refused(&format!(
        "early_stop: {{kind: asha, metric: test_acc}}\n{grid}"
    ));
    assert!(
        e.contains("`early_stop.metric`: unknown metric `test_acc`"),
        "{e}"
    );
    let e = refused(&format!(
        "early_stop: {{kind: asha, epochs: phase3}}\n{grid}"
    ));
    assert!(e.contains("phase3") && e.contains("phase2"), "{e}");
    let e = refused(&format!("early_stop: {{kind: hyperband}}\n{grid}"));
    assert!(e.contains("hyperband"), "{e}");
    let e = refused(&format!("startup_trials: 3\n{grid}"));
    assert!(
        e.contains("`startup_trials`: only for `method: tpe`"),
        "{e}"
    );
    let e = refused(&format!("name: t\nmethod: tpe\n{SPACE}"));
    assert!(e.contains("`count`: required for `method: tpe`"), "{e}");
    // A grid of values under TPE is fine; a count over the distinct points is not.
    let e = refused(&format!(
        "name: t\nmethod: tpe\ncount: 28\n{}",
        GRID.trim_start_matches("method: grid\n")
    ));
    assert!(e.contains("only have 27 distinct combinations"), "{e}");
    // Judging again needs every trial known from the start.
    let e = refused(&format!(
        "name: t\nmethod: tpe\ncount: 5\nearly_stop: {{kind: asha, rejudge: true}}\n{SPACE}"
    ));
    assert!(
        e.contains("`early_stop.rejudge`: needs every trial of the sweep known"),
        "{e}"
    );
    let e = refused(&format!(
        "early_stop: {{kind: median, rejudge: true}}\n{grid}"
    ));
    assert!(
        e.contains("`early_stop.rejudge`: not a setting of `kind: median`"),
        "{e}"
    );
    // Epochs are checked against the metric's goal: val_loss minimizes.
    let ok = sweepfile::load(
        &format!("early_stop: {{kind: median, metric: val_loss}}\n{grid}"),
        "ok.yaml",
        &LoadLimits::default(),
    )
    .unwrap();
    let rule = ok.early_stop.unwrap();
    assert_eq!(rule.goal(), sweepfile::Goal::Minimize);
}

#[test]
fn a_tpe_sweep_over_values_stops_proposing_when_every_point_ran() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), &Arc::new(ManualClock::new(0)));
    // 27 distinct points, all asked for: the last proposals are found by
    // random draws, and the sweep finishes with every point run once.
    let s = submit(
        &store,
        &format!(
            "name: t\nmethod: tpe\ncount: 27\nstartup_trials: 3\n{}",
            GRID.trim_start_matches("method: grid\n")
        ),
    );
    let w = worker(&store, "w");
    while let Some(l) = store.lease(&w, "").unwrap() {
        finish(&store, &w, &l);
    }
    let summary = store.sweep_summary(&s).unwrap();
    assert_eq!((summary.counts.total, summary.counts.done), (27, 27));
    assert_eq!(
        summary.state,
        sweep_coordinator::store::SweepState::Finished
    );
}
