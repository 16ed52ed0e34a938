//! One process per trial: a trial process that aborts fails its own trial
//! only (an environment failure named by its signal) while the other slot's
//! trial completes; the worker pauses before leasing again; a trial process
//! that cannot start and real data that is missing are environment
//! failures too.

use super::*;
use sweep_proto::trial::TrialResult;
use sweep_proto::v1::FailureCause;

const ENVIRONMENT: i32 = FailureCause::Environment as i32;

#[tokio::test]
async fn an_aborting_trial_process_fails_alone_and_the_other_slot_completes() {
    // The long trial is leased first, so it is running when the other aborts.
    let s = script(vec![
        lease("t-ok", 1, (1, 199)),
        lease("t-abort", simulated::ABORTING_SEED, (1, 5)),
    ]);
    let d = start_with(s, tempfile::tempdir().unwrap(), 2, program()).await;
    let seen = d.until("the abort", |s| !s.fails.is_empty()).await;
    let f = &seen.fails[0];
    assert_eq!(f.trial_id, "t-abort");
    assert!(
        f.error.starts_with("trial process killed by SIGABRT"),
        "the failure names the signal: {f:?}"
    );
    assert_eq!(f.cause, ENVIRONMENT, "a crash is the environment's fault");
    assert!(!f.handed_back);
    assert!(
        seen.stored.is_empty(),
        "the other trial is still running: {seen:#?}"
    );

    let seen = d.until("the other result", |s| !s.stored.is_empty()).await;
    let c = &seen.stored[0];
    assert_eq!(c.trial_id, "t-ok");
    let result: TrialResult = serde_json::from_str(&c.result_json).unwrap();
    assert_eq!(result.epochs.len(), 200, "it ran to its end");
    assert_eq!(result.threads, 3, "the slot's threads reach the process");
    // Both trials heartbeated from their own processes.
    assert!(seen.heartbeats.iter().any(|h| h.trial_id == "t-abort"));

    // Nothing was leased in the second after the crash (the pause).
    let failed_at = seen.fail_times[0];
    let next_lease = seen.lease_times.iter().find(|t| **t > failed_at).copied();
    if let Some(t) = next_lease {
        assert!(
            t.duration_since(failed_at) >= Duration::from_millis(900),
            "leased again {:?} after an environment failure",
            t.duration_since(failed_at)
        );
    }
    let (seen, _) = d.stop(1).await;
    assert_eq!(seen.fails.len(), 1, "{:?}", seen.fails);
}

#[tokio::test]
async fn the_worker_pauses_after_an_environment_failure_and_a_success_resets_it() {
    let s = script(vec![
        lease("t-abort", simulated::ABORTING_SEED, (1, 0)),
        lease("t-ok", 1, (1, 0)),
    ]);
    let d = start(s).await;
    let seen = d.until("the second result", |s| !s.stored.is_empty()).await;
    let failed_at = seen.fail_times[0];
    let next = seen
        .lease_times
        .iter()
        .find(|t| **t > failed_at)
        .expect("leased again after the pause");
    let gap = next.duration_since(failed_at);
    assert!(
        gap >= Duration::from_millis(900) && gap < Duration::from_secs(5),
        "pause after the first environment failure: {gap:?}"
    );
    // After the success, lease calls come as often as the coordinator asks
    // (every 20 ms with nothing to lease).
    let done_at = Instant::now();
    d.until("quick lease calls", |s| {
        s.lease_times.iter().filter(|t| **t > done_at).count() >= 3
    })
    .await;
    assert!(done_at.elapsed() < Duration::from_secs(1));
    d.stop(1).await;
}

#[tokio::test]
async fn a_trial_process_that_cannot_start_is_an_environment_failure() {
    let mut missing = program();
    missing.exe = "/nonexistent/sweep-worker".into();
    let s = script(vec![lease("t1", 1, (1, 0))]);
    let d = start_with(s, tempfile::tempdir().unwrap(), 1, missing).await;
    let seen = d.until("the failure", |s| !s.fails.is_empty()).await;
    let f = &seen.fails[0];
    assert!(
        f.error
            .starts_with("cannot start the trial process /nonexistent/sweep-worker"),
        "{f:?}"
    );
    assert_eq!(f.cause, ENVIRONMENT);
    d.stop(1).await;
}

#[tokio::test]
async fn missing_weights_in_a_real_trial_process_are_an_environment_failure() {
    let mut l = lease("t1", 1, (1, 0));
    let mut cfg: TrialConfig = serde_json::from_str(&l.config_json).unwrap();
    // Under the working directory (a default root), but not there.
    cfg.backbone.weights = "no-such-dir/w.safetensors".into();
    l.config_json = cfg.canonical_json();
    let mut real = program();
    real.simulate = false;
    let d = start_with(script(vec![l]), tempfile::tempdir().unwrap(), 1, real).await;
    let seen = d.until("the failure", |s| !s.fails.is_empty()).await;
    let f = &seen.fails[0];
    assert!(
        f.error.contains("no-such-dir/w.safetensors") && f.error.contains("not found"),
        "{f:?}"
    );
    assert_eq!(
        f.cause, ENVIRONMENT,
        "missing weights are the worker's fault"
    );
    d.stop(1).await;
}

/// The pids of this process's children running `trial-child`.
fn trial_processes() -> Vec<i32> {
    let me = std::process::id().to_string();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid ...
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1));
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if ppid == Some(me.as_str()) && String::from_utf8_lossy(&cmdline).contains("trial-child") {
            pids.push(pid);
        }
    }
    pids
}

#[tokio::test]
async fn a_sigint_or_sigterm_to_the_trial_process_leaves_the_trial_to_the_daemon() {
    // A terminal's Ctrl-C or systemd's stop signals the whole group; the
    // trial must carry on until the daemon says otherwise.
    let d = start(script(vec![lease("t1", 1, (1, 199))])).await;
    d.until("a heartbeat", |s| !s.heartbeats.is_empty()).await;
    let started = Instant::now();
    loop {
        // Its heartbeats start before the process does: wait for it.
        if !trial_processes().is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no trial process"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Other tests of this binary run trial processes of this process too, and
    // short ones may be gone by now: signal every one there is (they all
    // ignore it), and at least this test's long trial must be reached.
    let mut delivered = 0;
    for pid in trial_processes() {
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: signalling our own children.
            if unsafe { libc::kill(pid, sig) } == 0 {
                delivered += 1;
            }
        }
    }
    assert!(delivered >= 2, "no trial process got the signals");
    let seen = d
        .until("the result", |s| {
            !s.stored.is_empty() || !s.fails.is_empty()
        })
        .await;
    assert!(seen.fails.is_empty(), "{:?}", seen.fails);
    let result: TrialResult = serde_json::from_str(&seen.stored[0].result_json).unwrap();
    assert_eq!(result.epochs.len(), 200);
    d.stop(1).await;
}
