//! The `sweep` command line: a gRPC client of the coordinator (`submit`,
//! `list`, `status`, `leaderboard`, `cancel`, `watch`, `workers`, `artifacts`, `health`), `report` (and
//! `status`/`leaderboard --db`), which read a coordinator's database file
//! read-only ([`local_db`]), plus `run`, which does
//! a whole sweep on this machine with an in-process coordinator and local
//! worker processes.
//!
//! This file holds the clap definitions and the dispatch; failures are
//! [`CliError`]s, each one line on stderr and an exit code (see [`error`]).
//! Each client command lives in a file of its own, `run` in [`run`];
//! [`render`] and [`progress`] turn answers into text.

mod artifacts;
mod cancel;
mod client;
mod error;
mod fingerprints;
mod format;
mod health;
mod leaderboard;
mod list;
mod local_db;
mod output;
pub mod progress;
mod remote_view;
pub mod render;
mod report;
pub mod run;
pub mod sanitize;
mod source;
mod status;
mod submit;
mod watch;
mod workers;

pub use client::{Coordinator, SweepClient};
pub use error::{CliError, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_UNREACHABLE, EXIT_USAGE};

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use sweep_runtime::credentials::Credentials;

/// The coordinator address used when neither --coordinator nor SWEEP_COORDINATOR is set.
pub const DEFAULT_COORDINATOR: &str = "http://127.0.0.1:50051";

/// Hyperparameter sweeps over a cluster of `sweep-worker`s.
#[derive(Debug, Parser, PartialEq, Eq)]
#[command(name = "sweep", version, about, propagate_version = true)]
pub struct Cli {
    /// The coordinator's URL (not used by `run`, which starts its own).
    #[arg(long, global = true, env = "SWEEP_COORDINATOR", value_name = "URL",
          default_value = DEFAULT_COORDINATOR)]
    pub coordinator: String,
    /// File holding this client's token (one line), sent as `authorization:
    /// Bearer TOKEN`; needed when the coordinator has token files.
    #[arg(long, global = true, env = "SWEEP_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) the coordinator's TLS certificate is signed by;
    /// turns TLS on (`host:port` then means https://).
    #[arg(long, global = true, env = "SWEEP_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) for a coordinator that wants one (mutual TLS), with --tls-key.
    #[arg(long, global = true, value_name = "FILE", requires_all = ["ca_cert", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// The key of --tls-cert (PEM).
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Submit a sweep file; prints the new sweep's id on stdout.
    Submit(submit::SubmitArgs),
    /// Every sweep: state, trial counts, best metric.
    List,
    /// One sweep's summary and its running trials.
    Status {
        /// The sweep's id.
        id: String,
        /// Read the coordinator's database file directly (read-only) instead
        /// of asking the coordinator.
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
    },
    /// A sweep's trials ranked by its validation metric.
    Leaderboard(leaderboard::LeaderboardArgs),
    /// One self-contained HTML report of a sweep (charts, table, best trial).
    Report(report::ReportArgs),
    /// Stop a sweep: nothing more is leased, running trials stop.
    Cancel {
        /// The sweep's id.
        id: String,
    },
    /// Live progress of a sweep until it ends, then the top of its leaderboard.
    Watch(watch::WatchArgs),
    /// Every worker: host, slots, last seen, state, done/failed/environment failures.
    Workers(workers::WorkersArgs),
    /// A sweep's kept artifacts (weights, Grad-CAM, confusion), or one downloaded (--get NAME -o FILE).
    Artifacts(artifacts::ArtifactsArgs),
    /// Run a whole sweep here: in-process coordinator + N local worker processes.
    Run(run::RunArgs),
    /// Ask the coordinator's gRPC health service; prints SERVING (exit 0) or fails.
    Health(health::HealthArgs),
}

/// Runs one parsed command line.
pub async fn execute(cli: Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Run(args) => return run::run(args).await,
        // Local reads: no coordinator, no credentials.
        Command::Report(args) if args.db.is_some() => return report::run_local(args).await,
        Command::Status { id, db: Some(db) } => return status::run_local(db, id).await,
        Command::Leaderboard(args) if args.db.is_some() => {
            return leaderboard::run_local(args).await
        }
        _ => {}
    }
    let url = &Coordinator {
        url: cli.coordinator.clone(),
        credentials: credentials(&cli)?,
    };
    match &cli.command {
        Command::Submit(args) => submit::run(url, args).await,
        Command::List => list::run(url).await,
        Command::Status { id, .. } => status::run(url, id).await,
        Command::Leaderboard(args) => leaderboard::run(url, args).await,
        Command::Cancel { id } => cancel::run(url, id).await,
        Command::Watch(args) => watch::run(url, args).await,
        Command::Workers(args) => workers::run(url, args).await,
        Command::Artifacts(args) => artifacts::run(url, args).await,
        Command::Health(args) => health::run(url, args).await,
        Command::Report(args) => report::run(url, args).await,
        Command::Run(_) => unreachable!("handled above"),
    }
}

/// The token and TLS the flags name.
fn credentials(cli: &Cli) -> Result<Credentials, CliError> {
    Ok(Credentials::from_files(
        cli.token_file.as_deref(),
        cli.ca_cert.as_deref(),
        cli.tls_cert.as_deref(),
        cli.tls_key.as_deref(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sweep").chain(args.iter().copied()))
    }

    #[tokio::test]
    async fn an_unusable_token_or_ca_file_is_named_with_exit_2() {
        let cli = parse(&["--token-file", "/nonexistent/my.token", "list"]).unwrap();
        let e = execute(cli).await.unwrap_err();
        assert_eq!(e.exit_code(), EXIT_USAGE);
        assert!(e.to_string().contains("/nonexistent/my.token"), "{e}");
        let cli = parse(&["--ca-cert", "/nonexistent/ca.pem", "list"]).unwrap();
        let e = execute(cli).await.unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn the_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn coordinator_is_global_with_a_default() {
        // SWEEP_COORDINATOR is not set in the test environment.
        if std::env::var_os("SWEEP_COORDINATOR").is_none() {
            assert_eq!(parse(&["list"]).unwrap().coordinator, DEFAULT_COORDINATOR);
        }
        let before = parse(&["--coordinator", "http://h:1", "list"]).unwrap();
        let after = parse(&["status", "sw-1", "--coordinator", "http://h:1"]).unwrap();
        assert_eq!(before.coordinator, "http://h:1");
        assert_eq!(after.coordinator, "http://h:1");
        assert_eq!(
            after.command,
            Command::Status {
                id: "sw-1".into(),
                db: None
            }
        );
    }

    #[test]
    fn submit_takes_a_file_and_watch() {
        let cli = parse(&["submit", "sweeps/quick.yaml", "--watch"]).unwrap();
        assert_eq!(
            cli.command,
            Command::Submit(submit::SubmitArgs {
                file: PathBuf::from("sweeps/quick.yaml"),
                watch: true,
                top: 10,
            })
        );
        assert!(parse(&["submit"]).is_err());
        // --top only makes sense with --watch.
        assert!(parse(&["submit", "f.yaml", "--top", "3"]).is_err());
    }

    #[test]
    fn leaderboard_formats_and_top() {
        let cli = parse(&["leaderboard", "sw-1", "--top", "5", "--format", "csv"]).unwrap();
        assert_eq!(
            cli.command,
            Command::Leaderboard(leaderboard::LeaderboardArgs {
                id: "sw-1".into(),
                top: 5,
                format: leaderboard::Format::Csv,
                db: None,
            })
        );
        let cli = parse(&["leaderboard", "sw-1"]).unwrap();
        let Command::Leaderboard(args) = cli.command else {
            panic!()
        };
        assert_eq!((args.top, args.format), (0, leaderboard::Format::Table));
        assert!(parse(&["leaderboard", "sw-1", "--format", "xml"]).is_err());
        assert!(parse(&["leaderboard", "sw-1", "--top", "-1"]).is_err());
    }

    #[test]
    fn run_defaults_and_limits() {
        let cli = parse(&["run", "sweeps/quick.yaml", "--workers", "2"]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.file, PathBuf::from("sweeps/quick.yaml"));
        assert_eq!(args.workers, 2);
        assert_eq!(args.dir, PathBuf::from(".sweep"));
        assert_eq!(args.threads_per_worker, None);
        assert_eq!(args.worker_bin, None);
        // The coordinator's own defaults apply (see `run::tests`).
        assert_eq!(args.settings, Default::default());
        assert!(args.worker_args.is_empty());

        let cli = parse(&[
            "run",
            "g.yaml",
            "-n",
            "3",
            "--dir",
            "/tmp/s",
            "--threads-per-worker",
            "2",
            "--worker-bin",
            "/opt/sweep-worker",
            "--lease-ms",
            "1500",
            "--max-grid",
            "50",
            "--config",
            "/etc/sweep/coordinator.toml",
            "--worker-arg=--simulate",
            "--worker-arg",
            "--slots=2",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!()
        };
        assert_eq!(
            (
                args.workers,
                args.threads_per_worker,
                args.settings.lease_ms
            ),
            (3, Some(2), Some(1500))
        );
        assert_eq!(args.settings.max_grid, Some(50));
        assert_eq!(
            args.settings.config_file,
            Some(PathBuf::from("/etc/sweep/coordinator.toml"))
        );
        assert_eq!(args.dir, PathBuf::from("/tmp/s"));
        assert_eq!(args.worker_bin, Some(PathBuf::from("/opt/sweep-worker")));
        assert_eq!(args.worker_args, ["--simulate", "--slots=2"]);

        assert!(parse(&["run", "g.yaml", "--workers", "0"]).is_err());
        assert!(parse(&["run", "g.yaml", "--threads-per-worker", "0"]).is_err());
        assert!(parse(&["run", "g.yaml", "--lease-ms", "soon"]).is_err());
        // Where the embedded coordinator listens and stores is not a flag.
        assert!(parse(&["run", "g.yaml", "--listen", "0.0.0.0:1"]).is_err());
        assert!(parse(&["run", "g.yaml", "--db", "x.db"]).is_err());
    }

    #[test]
    fn ids_are_required() {
        for cmd in ["status", "cancel", "watch", "leaderboard"] {
            assert!(parse(&[cmd]).is_err(), "{cmd} without an id");
        }
    }
}
