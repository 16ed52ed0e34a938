//! The `sweep` binary against a fake `SweepService` with canned answers: what
//! each command prints on stdout/stderr and how it exits, independent of the
//! real coordinator's store.

use std::pin::Pin;
use std::process::{Command, Output};
use sweep_proto::v1::sweep_service_server::{SweepService, SweepServiceServer};
use sweep_proto::v1::{
    CancelSweepRequest, GetSweepRequest, ListSweepsRequest, ListSweepsResponse, ListTrialsRequest,
    ListTrialsResponse, RunningTrial, SubmitSweepRequest, SubmitSweepResponse, SweepState,
    SweepSummary, TrialInfo, TrialState, WatchSweepRequest,
};
use tonic::{Request, Response, Status};

const ID: &str = "sw-fake0001";

struct Fake;

fn summary(state: SweepState, done: u64, running: Vec<RunningTrial>) -> SweepSummary {
    SweepSummary {
        sweep_id: ID.into(),
        name: "quick".into(),
        state: state as i32,
        metric_name: "val_acc".into(),
        metric_goal: "maximize".into(),
        created_unix_ms: 1,
        total: 2,
        pending: 2 - done - running.len() as u64,
        running: running.len() as u64,
        done,
        best_metric: (done > 0).then_some(0.975),
        best_trial_id: if done > 0 {
            "aaaa000011112222".into()
        } else {
            String::new()
        },
        running_trials: running,
        ..Default::default()
    }
}

fn running_trial(epochs_done: u32) -> RunningTrial {
    RunningTrial {
        trial_id: "bbbb000011112222".into(),
        attempt: 1,
        worker_id: "worker-1".into(),
        epochs_done,
        total_epochs: 2,
        last_val_acc: (epochs_done > 0).then_some(0.9),
    }
}

fn trial(rank: u32, id: &str, unfreeze: &str, metric: f64) -> TrialInfo {
    TrialInfo {
        rank,
        trial_id: id.into(),
        state: TrialState::Done as i32,
        params: [
            ("phase2.lr_backbone".to_string(), "1e-5".to_string()),
            ("phase2.unfreeze".to_string(), unfreeze.to_string()),
        ]
        .into_iter()
        .collect(),
        metric: Some(metric),
        test_acc: Some(0.98),
        best_epoch: 2,
        wall_s: 12.5,
        worker_id: "worker-1".into(),
        attempts: 1,
        ..Default::default()
    }
}

fn known(id: &str) -> Result<(), Status> {
    if id == ID {
        Ok(())
    } else {
        Err(Status::not_found(format!("no sweep {id}")))
    }
}

type SummaryStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<SweepSummary, Status>> + Send>>;

#[tonic::async_trait]
impl SweepService for Fake {
    async fn submit_sweep(
        &self,
        request: Request<SubmitSweepRequest>,
    ) -> Result<Response<SubmitSweepResponse>, Status> {
        let r = request.into_inner();
        if r.sweep_yaml.contains("bad") {
            return Err(Status::invalid_argument(format!(
                "{}: line 2, column 3: unknown field `bad`",
                r.source_name
            )));
        }
        Ok(Response::new(SubmitSweepResponse {
            sweep_id: ID.into(),
            trial_count: 2,
            ..Default::default()
        }))
    }

    async fn get_sweep(
        &self,
        request: Request<GetSweepRequest>,
    ) -> Result<Response<SweepSummary>, Status> {
        known(&request.get_ref().sweep_id)?;
        Ok(Response::new(summary(
            SweepState::Running,
            1,
            vec![running_trial(1)],
        )))
    }

    async fn list_sweeps(
        &self,
        _: Request<ListSweepsRequest>,
    ) -> Result<Response<ListSweepsResponse>, Status> {
        Ok(Response::new(ListSweepsResponse {
            sweeps: vec![summary(SweepState::Running, 1, vec![running_trial(1)])],
        }))
    }

    async fn cancel_sweep(
        &self,
        request: Request<CancelSweepRequest>,
    ) -> Result<Response<SweepSummary>, Status> {
        known(&request.get_ref().sweep_id)?;
        let mut s = summary(SweepState::Cancelled, 1, vec![]);
        s.pending = 0;
        s.cancelled = 1;
        Ok(Response::new(s))
    }

    async fn list_trials(
        &self,
        request: Request<ListTrialsRequest>,
    ) -> Result<Response<ListTrialsResponse>, Status> {
        known(&request.get_ref().sweep_id)?;
        let mut trials = vec![
            trial(1, "aaaa000011112222", "[\"all\"]", 0.975),
            trial(2, "bbbb000011112222", "[\"layer3\",\"layer4\"]", 0.95),
        ];
        let top = request.get_ref().top as usize;
        if top > 0 {
            trials.truncate(top);
        }
        Ok(Response::new(ListTrialsResponse {
            metric_name: "val_acc".into(),
            metric_goal: "maximize".into(),
            trials,
            ..Default::default()
        }))
    }

    async fn list_workers(
        &self,
        _request: Request<sweep_proto::v1::ListWorkersRequest>,
    ) -> Result<Response<sweep_proto::v1::ListWorkersResponse>, Status> {
        Ok(Response::new(Default::default()))
    }

    async fn list_artifacts(
        &self,
        _request: Request<sweep_proto::v1::ListArtifactsRequest>,
    ) -> Result<Response<sweep_proto::v1::ListArtifactsResponse>, Status> {
        Ok(Response::new(Default::default()))
    }

    type GetArtifactStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<sweep_proto::v1::ArtifactData, Status>> + Send>,
    >;

    async fn get_artifact(
        &self,
        _request: Request<sweep_proto::v1::GetArtifactRequest>,
    ) -> Result<Response<Self::GetArtifactStream>, Status> {
        Err(Status::not_found("no artifacts here"))
    }

    type WatchSweepStream = SummaryStream;

    async fn watch_sweep(
        &self,
        request: Request<WatchSweepRequest>,
    ) -> Result<Response<SummaryStream>, Status> {
        known(&request.get_ref().sweep_id)?;
        let updates = vec![
            Ok(summary(SweepState::Running, 0, vec![running_trial(0)])),
            Ok(summary(SweepState::Running, 0, vec![running_trial(1)])),
            Ok(summary(SweepState::Running, 1, vec![])),
            Ok(summary(SweepState::Finished, 2, vec![])),
        ];
        Ok(Response::new(Box::pin(tokio_stream::iter(updates))))
    }
}

/// Serves the fake on a loopback port for the rest of the test process.
fn fake_coordinator() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            tonic::transport::Server::builder()
                .add_service(SweepServiceServer::new(Fake))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
    });
    url
}

fn sweep(url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_sweep"))
        .arg("--coordinator")
        .arg(url)
        .args(args)
        .output()
        .expect("the sweep binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn submit_prints_the_id_alone_on_stdout() {
    let url = fake_coordinator();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quick.yaml");
    std::fs::write(&file, "name: quick\n").unwrap();
    let (code, out, err) = sweep(&url, &["submit", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, format!("{ID}\n"));
    assert!(err.contains("2 trials"), "{err}");
}

#[test]
fn a_refused_file_is_the_server_message_on_one_line() {
    let url = fake_coordinator();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "bad: 1\n").unwrap();
    let (code, out, err) = sweep(&url, &["submit", file.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
    assert_eq!(
        err,
        format!(
            "sweep: {}: line 2, column 3: unknown field `bad`\n",
            file.display()
        )
    );
}

#[test]
fn an_unknown_id_is_named() {
    let url = fake_coordinator();
    for cmd in ["status", "cancel", "watch", "leaderboard"] {
        let (code, out, err) = sweep(&url, &[cmd, "sw-nope"]);
        assert_eq!(code, Some(1), "{cmd}: {err}");
        assert!(out.is_empty(), "{cmd}: {out}");
        assert_eq!(
            err,
            format!("sweep: unknown sweep id `sw-nope` at {url}\n"),
            "{cmd}"
        );
    }
}

#[test]
fn list_status_and_cancel_print_tables() {
    let url = fake_coordinator();
    let (code, out, _) = sweep(&url, &["list"]);
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("id") && lines[0].contains("pending"),
        "{out}"
    );
    assert!(
        lines[1].starts_with(ID) && lines[1].ends_with("val_acc 0.9750"),
        "{out}"
    );

    let (code, out, _) = sweep(&url, &["status", ID]);
    assert_eq!(code, Some(0));
    assert!(out.contains("running trials:"), "{out}");
    let row = out.lines().find(|l| l.starts_with("bbbb")).unwrap();
    assert!(
        row.contains("worker-1") && row.contains("1/2") && row.ends_with("0.9000"),
        "{out}"
    );

    let (code, out, _) = sweep(&url, &["cancel", ID]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with(&format!("{ID} cancelled: ")), "{out}");
}

#[test]
fn leaderboard_in_three_formats() {
    let url = fake_coordinator();
    let (code, csv, _) = sweep(&url, &["leaderboard", ID, "--format", "csv"]);
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        [
            "rank,trial,state,phase2.lr_backbone,phase2.unfreeze,val_acc,test_acc,best_epoch,wall_s,worker,attempts,error,reused_from_sweep",
            "1,aaaa000011112222,done,1e-5,[all],0.975,0.98,2,12.5,worker-1,1,,",
            "2,bbbb000011112222,done,1e-5,\"[layer3,layer4]\",0.95,0.98,2,12.5,worker-1,1,,",
        ]
    );

    let (code, json, _) = sweep(&url, &["leaderboard", ID, "--format", "json", "--top", "1"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(
        v[0]["params"]["phase2.unfreeze"],
        serde_json::json!(["all"])
    );

    let (code, table, _) = sweep(&url, &["leaderboard", ID]);
    assert_eq!(code, Some(0));
    assert_eq!(table.lines().count(), 3);
    assert!(table.lines().nth(1).unwrap().contains("[all]"), "{table}");
}

#[test]
fn watch_prints_one_line_per_change_then_the_leaderboard() {
    let url = fake_coordinator();
    let (code, out, err) = sweep(&url, &["watch", ID]);
    assert_eq!(code, Some(0), "{err}");
    // Not a terminal: plain lines on stderr, the leaderboard on stdout.
    let progress: Vec<&str> = err.lines().collect();
    assert!(
        progress
            .iter()
            .any(|l| l.ends_with("trial bbbb000011112222 attempt 1 on worker-1: epoch 0/2")),
        "{err}"
    );
    assert!(
        progress
            .iter()
            .any(|l| l.ends_with("epoch 1/2 · val_acc 0.9000")),
        "{err}"
    );
    assert!(progress.iter().any(|l| l.contains("finished 2/2")), "{err}");
    assert!(
        err.ends_with(
            "sweep: sweep sw-fake0001 finished: done 2 · running 0 · pending 0 · failed 0\n"
        ),
        "{err}"
    );
    assert!(
        out.contains("leaderboard of sw-fake0001 by val_acc (maximize), top 2 of 2:")
            || out.contains("leaderboard of sw-fake0001 by val_acc (maximize), all 2:"),
        "{out}"
    );
    assert!(out.lines().any(|l| l.contains("aaaa000011112222")), "{out}");
}
