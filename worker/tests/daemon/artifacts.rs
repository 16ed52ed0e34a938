//! Artifacts: a successful trial's files (here the simulated trial's: a
//! stand-in for the weights and Grad-CAM, the real confusion figure) reach
//! the coordinator before its result, each checked against its header; a
//! coordinator that is away is retried, a refusal is logged and the result
//! still goes; the attempt's folder is gone afterwards.

use super::*;
use tonic::Code;

fn with_artifacts(mut l: Lease, kinds: &[&str]) -> Lease {
    l.artifacts = kinds.iter().map(|k| k.to_string()).collect();
    l
}

#[tokio::test]
async fn a_trials_files_arrive_before_its_result() {
    let mut s = script(vec![
        with_artifacts(
            lease("t1", 1, (1, 1)),
            &["best_weights", "gradcam", "confusion"],
        ),
        with_artifacts(lease("t2", 2, (1, 0)), &[]),
    ]);
    s.upload_errors = [Code::Unavailable, Code::Unavailable].into();
    let d = start(s).await;
    d.until("both results", |s| s.stored.len() == 2).await;
    let (seen, state) = d.stop(1).await;

    let names: Vec<&str> = seen.uploads.iter().map(|(h, _)| h.name.as_str()).collect();
    assert_eq!(names, ["best.safetensors", "gradcam.png", "confusion.png"]);
    assert_eq!(seen.upload_calls, 5, "two transient failures retried");
    assert_eq!(
        seen.uploads_at_complete,
        [3, 3],
        "uploaded before CompleteTrial"
    );
    for (h, bytes) in &seen.uploads {
        assert_eq!(
            (
                h.sweep_id.as_str(),
                h.trial_id.as_str(),
                h.attempt,
                h.worker_id.as_str()
            ),
            ("s1", "t1", 1, "w1")
        );
        if h.name.ends_with(".png") {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", h.name);
        }
    }
    let attempts = state.path().join("attempts");
    let left: Vec<_> = std::fs::read_dir(&attempts)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "attempt folders left: {left:?}");
}

#[tokio::test]
async fn a_refused_upload_does_not_fail_the_trial() {
    let mut s = script(vec![with_artifacts(lease("t1", 1, (1, 0)), &["confusion"])]);
    s.upload_errors = [Code::InvalidArgument].into();
    let d = start(s).await;
    d.until("the result", |s| !s.stored.is_empty()).await;
    let (seen, _) = d.stop(1).await;
    assert_eq!(seen.upload_calls, 1, "refused for good: not retried");
    assert!(seen.uploads.is_empty());
    assert!(seen.fails.is_empty());
    assert_eq!(seen.stored.len(), 1);
}
