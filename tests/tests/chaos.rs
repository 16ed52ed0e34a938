//! The chaos suite (issue 9): a sweep of many short simulated trials on
//! real coordinator and worker processes while workers are killed and
//! replaced, the coordinator is killed and restarted, a worker is stopped
//! past its lease and the network between them is partitioned; then the
//! checker holds the database and the logs to exactly-once.
//!
//! CI runs the short version. The long one (500 trials, a worker kill
//! every 5 s, 10 coordinator kills, 3 partitions and 3 stops longer than
//! the lease):
//!
//! ```text
//! cargo build --bins && SWEEP_CHAOS=long cargo test -p sweep-tests --test chaos -- --nocapture
//! ```
//!
//! `SWEEP_CHAOS_SEED=N` replays a run's fault schedule (the table prints
//! the seed).

use sweep_tests::chaos::{self, table, Plan};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_or_duplicated_under_kills_stops_and_partitions() {
    let plan = Plan::from_env();
    let outcome = chaos::run(&plan).await;
    println!("{}", table::render(&outcome));
    let violations = outcome.violations();
    assert!(
        violations.is_empty(),
        "{} broken promise(s) (logs and database kept in {:?}):\n{}\n\n{}",
        violations.len(),
        outcome.kept,
        violations.join("\n"),
        table::render(&outcome)
    );
}
