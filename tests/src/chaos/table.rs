//! The one table a chaos run prints (Markdown, so it can go in the README
//! as it is), and a line of detail under it.

use super::Outcome;

/// The table and its detail line.
pub fn render(o: &Outcome) -> String {
    let (f, v, w) = (&o.faults, &o.verdict, &o.watch);
    format!(
        "| run | trials | worker kills | coordinator kills | stops | partitions | lost | duplicated | retried | wall time |\n\
         |-----|-------:|-------------:|------------------:|------:|-----------:|-----:|-----------:|--------:|----------:|\n\
         | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s |\n\
         \n\
         {} done, {} failed; {} hand-backs, {} environment failures (not counted as attempts); \
         {} of {} replacement workers reused the killed one's state dir; \
         watch: {} updates over {} reconnects, saw FINISHED: {}; \
         evidence: {} attempts logged finished, {} results acknowledged; seed {}",
        o.plan.name,
        v.trials,
        f.worker_kills,
        f.coordinator_kills,
        f.stops,
        f.partitions,
        v.lost,
        v.duplicated,
        v.retried,
        o.wall.as_secs_f64(),
        v.done,
        v.failed,
        v.handbacks,
        v.environment_failures,
        f.reused_state_dirs,
        f.worker_kills,
        w.updates,
        w.reconnects,
        w.finished,
        v.finished_attempts,
        v.acked_results,
        o.plan.seed,
    )
}
