//! Never the same trial twice, across sweeps (issue 10), and `execution:`.
//!
//! On the store: a trial that finished done in an earlier sweep, on the
//! same input files (the submitter's fingerprints against the earlier
//! result's backbone SHA-256 and the earlier sweep's data fingerprint), is
//! stored done at submit as its copy and never leased; failed and stopped
//! trials are not sources; `reuse: off`, other files, or no fingerprints
//! mean no reuse (and the submit says why). Over gRPC on a real SQLite
//! file: the same, the marks survive a restart, a sweep whose every trial
//! is reused is finished at once, and `sharing: off` reaches every lease,
//! a replayed one included.

mod common;

use common::{complete, open_store, result, worker, LEASE_MS};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use sweep_coordinator::server::{serve, ServerConfig, ServerError};
use sweep_coordinator::store::{
    FailureReport, HeartbeatReport, InputFingerprints, LeaseGrant, ManualClock, Store, SweepState,
    TrialState,
};
use sweep_coordinator::sweepfile::{self, LoadLimits};
use sweep_proto::v1;
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::worker_service_client::WorkerServiceClient;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

const WEIGHTS: &str = "data/backbone/resnet18-fashion-32.safetensors";
const DATA: &str = "data/mnist";

fn sha(c: char) -> String {
    c.to_string().repeat(64)
}

/// The fingerprints a submitter sends: weights `w`, data `d` (hex digits).
fn inputs(w: char, d: char) -> InputFingerprints {
    BTreeMap::from([(WEIGHTS.to_string(), sha(w)), (DATA.to_string(), sha(d))])
}

/// A grid over `seed` (the default paths, 10 epochs).
fn grid(name: &str, seeds: &[u64], extra: &str) -> String {
    let seeds: Vec<String> = seeds.iter().map(u64::to_string).collect();
    format!(
        "name: {name}\nmethod: grid\n{extra}base:\n  input_size: 32\n  data: {{train: 500, val: 200, test: 200}}\nparameters:\n  seed: {{values: [{}]}}\n",
        seeds.join(", ")
    )
}

fn seed_of(config_json: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(config_json).unwrap()["seed"]
        .as_u64()
        .unwrap()
}

/// A result made with weights of SHA-256 `w`, with val_acc `acc`.
fn result_json(w: char, acc: f64) -> String {
    let mut r = result(acc, acc - 0.01);
    r.backbone.sha256 = sha(w);
    serde_json::to_string(&r).unwrap()
}

fn submit(
    store: &Store,
    yaml: &str,
    inputs: &InputFingerprints,
) -> sweep_coordinator::store::Submitted {
    let sweep = sweepfile::load(yaml, "t.yaml", &LoadLimits::default()).unwrap();
    store.submit_sweep(&sweep, yaml, "t.yaml", inputs).unwrap()
}

/// Leases everything of the running sweeps to `w`: (seed, lease) each.
fn lease_all(store: &Store, w: &str) -> Vec<(u64, LeaseGrant)> {
    std::iter::from_fn(|| store.lease(w, "").unwrap())
        .map(|l| (seed_of(&l.config_json), l))
        .collect()
}

/// (seed, state, reused_from_sweep) of every trial, by seed.
fn trials(store: &Store, sweep: &str) -> Vec<(u64, TrialState, String)> {
    let mut t: Vec<_> = store
        .list_trials(sweep, 0)
        .unwrap()
        .trials
        .into_iter()
        .map(|t| (seed_of(&t.config_json), t.state, t.reused_from_sweep))
        .collect();
    t.sort_by_key(|t| t.0);
    t
}

#[test]
fn done_trials_on_the_same_inputs_are_reused_and_never_leased() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), &Arc::new(ManualClock::new(0)));
    let w = worker(&store, "a");
    // Sweep A: seeds 1 and 3 done, seed 2 failed (one attempt).
    let a = submit(
        &store,
        &grid("a", &[1, 2, 3], "max_attempts: 1\n"),
        &inputs('a', 'd'),
    );
    assert_eq!((a.reused, a.reuse_note()), (0, String::new()));
    for (seed, l) in lease_all(&store, &w) {
        if seed == 2 {
            store
                .fail(&FailureReport {
                    sweep_id: l.sweep_id.clone(),
                    worker_id: w.clone(),
                    trial_id: l.trial_id.clone(),
                    attempt: l.attempt,
                    error: "bad values".into(),
                    ..Default::default()
                })
                .unwrap();
        } else {
            complete(&store, &w, &l, result_json('a', 0.5 + seed as f64 / 10.0));
        }
    }
    let a_id = a.sweep_id.clone();
    let a_trials = store.list_trials(&a_id, 0).unwrap().trials;

    // Sweep B (another name, other settings, same points): 1 and 3 are
    // copies of A's, done at once; 2 (failed in A) and 4 (new) are leased.
    let b = submit(&store, &grid("b", &[1, 2, 3, 4], ""), &inputs('a', 'd'));
    assert_eq!((b.reused, b.unverified, b.inputs_differ), (2, 0, 0));
    assert_eq!(b.reuse_note(), "");
    let b_id = b.sweep_id.clone();
    assert_eq!(
        trials(&store, &b_id),
        [
            (1, TrialState::Done, a_id.clone()),
            (2, TrialState::Pending, String::new()),
            (3, TrialState::Done, a_id.clone()),
            (4, TrialState::Pending, String::new()),
        ]
    );
    let summary = store.sweep_summary(&b_id).unwrap();
    assert_eq!(
        (
            summary.counts.done,
            summary.counts.reused,
            summary.counts.pending
        ),
        (2, 2, 2)
    );
    assert_eq!(summary.counts.epochs_run, 0, "a copy ran no epoch here");
    for t in store.list_trials(&b_id, 0).unwrap().trials {
        if let Some(src) = a_trials
            .iter()
            .find(|s| s.trial_id == t.trial_id && !t.reused_from_sweep.is_empty())
        {
            assert_eq!(
                (&t.result_json, t.metric, t.test_acc),
                (&src.result_json, src.metric, src.test_acc)
            );
            assert_eq!((t.attempts, t.worker_id.as_str()), (0, ""));
            let curve = store.trial_epochs(&b_id, &t.trial_id).unwrap();
            assert_eq!(curve.len(), 1, "the source's curve, under attempt 0");
            assert_eq!(curve[0].0, 0);
        }
    }
    // The best of B is a reused trial (seed 3, 0.8): ranked like any done one.
    assert_eq!(summary.best.as_ref().map(|b| b.0), Some(0.8));
    let leased: Vec<u64> = lease_all(&store, &w).into_iter().map(|(s, _)| s).collect();
    assert_eq!(leased, [2, 4]);

    // A sweep of A's done points only is finished at once, ranked.
    let c = submit(&store, &grid("c", &[3, 1], ""), &inputs('a', 'd'));
    assert_eq!(c.reused, 2);
    let summary = store.sweep_summary(&c.sweep_id).unwrap();
    assert_eq!(summary.state, SweepState::Finished);
    let ranking = store.list_trials(&c.sweep_id, 0).unwrap().trials;
    let ranks: Vec<(u32, u64)> = ranking
        .iter()
        .map(|t| (t.rank, seed_of(&t.config_json)))
        .collect();
    assert_eq!(ranks, [(1, 3), (2, 1)]);
    // A copy is never a source: the next reuse names A, not C.
    let d = submit(&store, &grid("d", &[1], ""), &inputs('a', 'd'));
    assert_eq!(d.reused, 1);
    assert_eq!(trials(&store, &d.sweep_id)[0].2, a_id);

    // `reuse: off`: nothing reused, nothing said.
    let off = submit(
        &store,
        &grid("e", &[1, 3], "execution: {reuse: off}\n"),
        &inputs('a', 'd'),
    );
    assert_eq!((off.reused, off.reuse_note()), (0, String::new()));
    assert!(!store.sweep_summary(&off.sweep_id).unwrap().execution.reuse);
    store.cancel_sweep(&off.sweep_id).unwrap();
    // Other data, other weights: run again, and said so.
    for (w_sha, d_sha) in [('a', 'e'), ('b', 'd')] {
        let other = submit(&store, &grid("f", &[1, 3], ""), &inputs(w_sha, d_sha));
        assert_eq!((other.reused, other.inputs_differ), (0, 2));
        assert!(
            other.reuse_note().contains("input files differ"),
            "{}",
            other.reuse_note()
        );
        store.cancel_sweep(&other.sweep_id).unwrap();
    }
    // No fingerprints (the submitter could not read the files): run again.
    let blind = submit(
        &store,
        &grid("g", &[1, 3, 9], ""),
        &InputFingerprints::new(),
    );
    assert_eq!((blind.reused, blind.unverified), (0, 2));
    assert!(
        blind.reuse_note().starts_with("2 trial(s)"),
        "{}",
        blind.reuse_note()
    );
    assert!(
        blind.reuse_note().contains("no fingerprint"),
        "{}",
        blind.reuse_note()
    );
    // Only the weights' fingerprint: still unverified.
    let half: InputFingerprints = BTreeMap::from([(WEIGHTS.to_string(), sha('a'))]);
    let half = submit(&store, &grid("h", &[1], ""), &half);
    assert_eq!((half.reused, half.unverified), (0, 1));
}

#[test]
fn a_stopped_trial_is_not_reused_and_an_earlier_sweep_without_fingerprints_is_no_source() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), &Arc::new(ManualClock::new(0)));
    let (w1, w2) = (worker(&store, "a"), worker(&store, "b"));
    let a = submit(
        &store,
        &grid(
            "a",
            &[1, 2],
            "early_stop: {kind: asha, reduction_factor: 2}\n",
        ),
        &inputs('a', 'd'),
    );
    let l1 = store.lease(&w1, "").unwrap().unwrap();
    let l2 = store.lease(&w2, "").unwrap().unwrap();
    let beat = |w: &str, l: &LeaseGrant, v: f64| {
        store
            .heartbeat(&HeartbeatReport {
                sweep_id: l.sweep_id.clone(),
                worker_id: w.into(),
                trial_id: l.trial_id.clone(),
                attempt: l.attempt,
                epoch_json: vec![serde_json::to_string(&common::epoch(1, v)).unwrap()],
                epochs_done: 1,
                total_epochs: 10,
            })
            .unwrap()
    };
    assert!(!beat(&w1, &l1, 0.8).stop);
    assert!(beat(&w2, &l2, 0.5).stopped_early.is_some());
    complete(&store, &w1, &l1, result_json('a', 0.8));
    let states: Vec<TrialState> = trials(&store, &a.sweep_id)
        .into_iter()
        .map(|t| t.1)
        .collect();
    assert!(states.contains(&TrialState::Stopped) && states.contains(&TrialState::Done));

    let b = submit(&store, &grid("b", &[1, 2], ""), &inputs('a', 'd'));
    assert_eq!(b.reused, 1);
    let reused: Vec<u64> = trials(&store, &b.sweep_id)
        .into_iter()
        .filter(|t| !t.2.is_empty())
        .map(|t| t.0)
        .collect();
    assert_eq!(reused, [seed_of(&l1.config_json)]);

    // A sweep stored without fingerprints records no data fingerprint: its
    // done trials are never a source.
    let blind = submit(&store, &grid("c", &[7], ""), &InputFingerprints::new());
    let l = store
        .lease(&w1, "")
        .unwrap()
        .into_iter()
        .chain(std::iter::from_fn(|| store.lease(&w1, "").unwrap()))
        .find(|l| l.sweep_id == blind.sweep_id)
        .unwrap();
    complete(&store, &w1, &l, result_json('a', 0.7));
    let after = submit(&store, &grid("d", &[7], ""), &inputs('a', 'd'));
    assert_eq!((after.reused, after.inputs_differ), (0, 1));
}

// ---------------------------------------------------------------- over gRPC

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ServerError>>,
}

async fn start_on(db: PathBuf) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = ServerConfig {
        db_path: db,
        lease: Duration::from_millis(LEASE_MS),
        max_grid: 100,
        policy: Default::default(),
        limits: Default::default(),
    };
    let task = tokio::spawn(serve(config, listener, async {
        let _ = stopped.await;
    }));
    Running { addr, stop, task }
}

async fn stop(server: Running) {
    server.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("shutdown within 10 s")
        .unwrap()
        .unwrap();
}

async fn clients(addr: SocketAddr) -> (SweepServiceClient<Channel>, WorkerServiceClient<Channel>) {
    let ch = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (
        SweepServiceClient::new(ch.clone()),
        WorkerServiceClient::new(ch),
    )
}

async fn submit_rpc(
    sweeps: &mut SweepServiceClient<Channel>,
    yaml: String,
    w: char,
) -> v1::SubmitSweepResponse {
    sweeps
        .submit_sweep(v1::SubmitSweepRequest {
            sweep_yaml: yaml,
            source_name: "t.yaml".into(),
            input_sha256: inputs(w, 'd').into_iter().collect(),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn list(sweeps: &mut SweepServiceClient<Channel>, id: &str) -> Vec<v1::TrialInfo> {
    sweeps
        .list_trials(v1::ListTrialsRequest {
            sweep_id: id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .trials
}

async fn summary(sweeps: &mut SweepServiceClient<Channel>, id: &str) -> v1::SweepSummary {
    sweeps
        .get_sweep(v1::GetSweepRequest {
            sweep_id: id.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_grpc_reuse_marks_survive_a_restart_and_sharing_off_reaches_every_lease() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sweep.db");
    let server = start_on(db.clone()).await;
    let (mut sweeps, mut workers) = clients(server.addr).await;
    let reg = workers
        .register(v1::RegisterRequest {
            hostname: "h".into(),
            cores: 1,
            slots: 1,
            version: "t".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let lease = |request_id: &str| v1::LeaseTrialRequest {
        worker_id: reg.worker_id.clone(),
        request_id: request_id.into(),
        worker_secret: reg.worker_secret.clone(),
        max_trials: 1,
    };

    // A: sharing off; every lease says so, and so does its replay.
    let a = submit_rpc(
        &mut sweeps,
        grid("a", &[1, 2], "execution: {sharing: off}\n"),
        'a',
    )
    .await;
    assert_eq!((a.trial_count, a.reused), (2, 0));
    let s = summary(&mut sweeps, &a.sweep_id).await;
    assert!(s.sharing_off && !s.reuse_off);
    for n in 0..2 {
        let id = format!("req-{n}");
        let first = workers
            .lease_trial(lease(&id))
            .await
            .unwrap()
            .into_inner()
            .lease
            .unwrap();
        assert!(first.sharing_off);
        let replay = workers
            .lease_trial(lease(&id))
            .await
            .unwrap()
            .into_inner()
            .lease
            .unwrap();
        assert_eq!(replay, first);
        workers
            .complete_trial(v1::CompleteTrialRequest {
                worker_id: reg.worker_id.clone(),
                trial_id: first.trial_id.clone(),
                attempt: first.attempt,
                result_json: result_json('a', 0.5 + seed_of(&first.config_json) as f64 / 10.0),
                sweep_id: first.sweep_id.clone(),
                worker_secret: reg.worker_secret.clone(),
            })
            .await
            .unwrap();
    }

    // B: seeds 1 and 2 reused from A, 3 leased (sharing on: the default).
    let b = submit_rpc(&mut sweeps, grid("b", &[1, 2, 3], ""), 'a').await;
    assert_eq!((b.trial_count, b.reused, b.reuse_note.as_str()), (3, 2, ""));
    let next = workers
        .lease_trial(lease("req-b"))
        .await
        .unwrap()
        .into_inner()
        .lease
        .unwrap();
    assert_eq!(
        (next.sweep_id.as_str(), seed_of(&next.config_json)),
        (b.sweep_id.as_str(), 3)
    );
    assert!(!next.sharing_off);
    assert!(workers
        .lease_trial(lease("req-none"))
        .await
        .unwrap()
        .into_inner()
        .lease
        .is_none());
    // Other weights: nothing reused, and the answer says why.
    let other = submit_rpc(&mut sweeps, grid("c", &[1], ""), 'b').await;
    assert_eq!(other.reused, 0);
    assert!(
        other.reuse_note.contains("input files differ"),
        "{}",
        other.reuse_note
    );
    // Every trial reused: finished at once.
    let all = submit_rpc(&mut sweeps, grid("d", &[2, 1], ""), 'a').await;
    assert_eq!(all.reused, 2);
    assert_eq!(
        summary(&mut sweeps, &all.sweep_id).await.state,
        v1::SweepState::Finished as i32
    );

    let marks = |trials: &[v1::TrialInfo]| {
        let mut m: Vec<(u64, String)> = trials
            .iter()
            .map(|t| (seed_of(&t.config_json), t.reused_from_sweep.clone()))
            .collect();
        m.sort();
        m
    };
    let before = marks(&list(&mut sweeps, &b.sweep_id).await);
    assert_eq!(
        before,
        [
            (1, a.sweep_id.clone()),
            (2, a.sweep_id.clone()),
            (3, String::new())
        ]
    );
    stop(server).await;

    // The marks, counts and settings are stored: a restart keeps them.
    let server = start_on(db).await;
    let (mut sweeps, mut workers) = clients(server.addr).await;
    assert_eq!(marks(&list(&mut sweeps, &b.sweep_id).await), before);
    let s = summary(&mut sweeps, &b.sweep_id).await;
    assert_eq!((s.reused, s.done, s.running), (2, 2, 1));
    assert!(summary(&mut sweeps, &a.sweep_id).await.sharing_off);
    // The replay of A's first lease after the restart still says sharing off.
    let replay = workers
        .lease_trial(lease("req-0"))
        .await
        .unwrap()
        .into_inner()
        .lease
        .unwrap();
    assert!(replay.sharing_off);
    stop(server).await;
}
