//! The nemesis: while the sweep runs it kills a random worker every few
//! seconds (kill -9) and starts another, half the time on the dead one's
//! state dir (its outbox resends what it spooled) and half the time fresh;
//! and, as the sweep progresses, kills the coordinator (kill -9, restarted
//! on the same database and port after a random downtime), stops a worker
//! (SIGSTOP past its lease, then SIGCONT) and partitions the proxy (longer
//! than a lease).

use super::fleet::Fleet;
use super::plan::Plan;
use super::proxy::Proxy;
use super::rng::Rng;
use crate::Cluster;
use std::time::{Duration, Instant};
use sweep_proto::v1::{GetSweepRequest, SweepState, SweepSummary};

/// The faults a run made.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    pub worker_kills: u32,
    /// Of the replacements, those that reused the killed worker's state dir.
    pub reused_state_dirs: u32,
    pub coordinator_kills: u32,
    pub stops: u32,
    pub partitions: u32,
    /// The sweep was seen FINISHED before the plan's deadline.
    pub finished: bool,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Coordinator,
    Stop,
    Partition,
}

/// Runs faults until the sweep is finished or the deadline passes.
pub async fn run(
    plan: &Plan,
    cluster: &mut Cluster,
    fleet: &mut Fleet,
    proxy: &Proxy,
    sweep_id: &str,
) -> Faults {
    let mut rng = Rng::new(plan.seed);
    let mut faults = Faults::default();
    let mut schedule = schedule(plan);
    let started = Instant::now();
    let mut next_kill = started + plan.worker_kill_every;
    while started.elapsed() < plan.deadline {
        let Some(s) = try_summary(cluster.url(), sweep_id).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if s.state == SweepState::Finished as i32 {
            faults.finished = true;
            break;
        }
        let progress = (s.done + s.failed) as f64 / s.total.max(1) as f64;
        if Instant::now() >= next_kill && !fleet.is_empty() {
            let victim = fleet.kill(rng.below(fleet.len() as u64) as usize);
            faults.worker_kills += 1;
            if rng.coin() {
                fleet.start(&victim);
                faults.reused_state_dirs += 1;
            } else {
                fleet.start_new();
            }
            next_kill += plan.worker_kill_every;
        } else if schedule.last().is_some_and(|(at, _)| *at <= progress) {
            let (_, kind) = schedule.pop().expect("a scheduled fault");
            match kind {
                Kind::Coordinator => {
                    cluster.kill_coordinator();
                    faults.coordinator_kills += 1;
                    let down = 200 + rng.below(plan.lease_ms + 500);
                    tokio::time::sleep(Duration::from_millis(down)).await;
                    cluster.restart_coordinator();
                }
                Kind::Stop => {
                    let victim = fleet.get(rng.below(fleet.len() as u64) as usize);
                    victim.signal(libc::SIGSTOP);
                    faults.stops += 1;
                    tokio::time::sleep(plan.outage()).await;
                    victim.signal(libc::SIGCONT);
                }
                Kind::Partition => {
                    faults.partitions += 1;
                    proxy.partition(plan.outage()).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    faults
}

/// Each progress-triggered fault with the share of finished trials it
/// waits for, the first due last (so `pop` takes it); all before 85 %.
fn schedule(plan: &Plan) -> Vec<(f64, Kind)> {
    let mut events = Vec::new();
    for (n, offset, kind) in [
        (plan.coordinator_kills, 0.0, Kind::Coordinator),
        (plan.stops, 0.3, Kind::Stop),
        (plan.partitions, 0.6, Kind::Partition),
    ] {
        for i in 0..n {
            let at = (f64::from(i) + 1.0 - offset) / (f64::from(n) + 1.0) * 0.85;
            events.push((at, kind));
        }
    }
    events.sort_by(|a, b| b.0.total_cmp(&a.0));
    events
}

/// The sweep's summary, or `None` while the coordinator is away.
pub async fn try_summary(url: &str, sweep_id: &str) -> Option<SweepSummary> {
    let call = async {
        crate::rpc::sweeps(url)
            .get_sweep(GetSweepRequest {
                sweep_id: sweep_id.into(),
            })
            .await
    };
    match tokio::time::timeout(Duration::from_secs(2), call).await {
        Ok(Ok(answer)) => Some(answer.into_inner()),
        _ => None,
    }
}
