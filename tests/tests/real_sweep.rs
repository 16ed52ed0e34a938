//! A small real sweep end to end: a coordinator and two real `sweep-worker
//! run` processes train two trials (200/100/100 images, 32 px, one epoch per
//! phase, the stand-in Fashion-MNIST backbone) and the leaderboard comes out
//! right, over gRPC and as `sweep leaderboard --format csv`.

use std::time::Duration;
use sweep_proto::trial::TrialResult;
use sweep_proto::v1::{SweepState, TrialState};
use sweep_tests::fixtures::{real_sweep, require_real_data};
use sweep_tests::rpc::{self, is};
use sweep_tests::Cluster;

#[tokio::test]
async fn a_real_sweep_runs_to_the_end_on_two_workers() {
    require_real_data();
    let c = Cluster::start(30_000);
    let id = c.submit("real.yaml", &real_sweep("real-e2e")).await;
    // The data and backbone live under the repository's data/ (whose
    // folders may be symlinks to a shared checkout): the workers must be
    // allowed to read where they lead.
    let mut args = vec!["--threads".to_string(), "1".to_string()];
    args.extend(sweep_tests::fixtures::real_data_roots());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _w1 = c.worker("real-1", &args, &[]);
    let _w2 = c.worker("real-2", &args, &[]);

    let s = rpc::wait_state(c.url(), &id, SweepState::Finished, Duration::from_secs(150)).await;
    assert_eq!((s.total, s.done, s.failed), (2, 2, 0), "{s:#?}");

    let trials = rpc::trials(c.url(), &id).await;
    assert_eq!(trials.len(), 2);
    for (i, t) in trials.iter().enumerate() {
        assert!(is(t, TrialState::Done), "{t:#?}");
        assert_eq!(t.rank as usize, i + 1);
        assert!(
            !t.worker_id.is_empty(),
            "trial {} has no worker",
            t.trial_id
        );
        let r: TrialResult = serde_json::from_str(&t.result_json).expect("a TrialResult");
        assert_eq!(t.metric, Some(r.best_val_acc));
        assert_eq!(t.test_acc, Some(r.test.acc));
        assert_eq!(t.best_epoch, r.best_epoch);
        assert_eq!(r.epochs.len(), 2);
        assert!((0.0..=1.0).contains(&r.best_val_acc) && (0.0..=1.0).contains(&r.test.acc));
        let tested: u64 = r.test.confusion.iter().flatten().sum();
        assert_eq!(tested, 100, "the test split has 100 images");
        assert_eq!(r.threads, 1);
    }
    let (best, second) = (trials[0].metric.unwrap(), trials[1].metric.unwrap());
    assert!(
        best >= second,
        "ranked by val_acc descending: {best} then {second}"
    );
    assert_eq!(s.best_metric, Some(best));
    assert_eq!(s.best_trial_id, trials[0].trial_id);

    let csv = c.cli(&["leaderboard", &id, "--format", "csv"]).await;
    assert!(csv.success(), "sweep leaderboard: {csv:?}");
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two rows: {:?}", csv.stdout);
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(
        header[..6],
        [
            "rank",
            "trial",
            "state",
            "phase2.lr_head",
            "val_acc",
            "test_acc"
        ]
    );
    for (row, t) in lines[1..].iter().zip(&trials) {
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(
            cells[..3],
            [t.rank.to_string().as_str(), t.trial_id.as_str(), "done"]
        );
        assert_eq!(cells[4].parse::<f64>().ok(), t.metric, "{row}");
        assert_eq!(cells[5].parse::<f64>().ok(), t.test_acc, "{row}");
    }
}
