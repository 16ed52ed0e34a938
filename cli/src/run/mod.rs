//! `sweep run FILE --workers N`: a whole sweep on this machine in one command.
//!
//! Starts a coordinator in-process on a free loopback port (database
//! `DIR/sweep.db`, log `DIR/logs/coordinator.log`), submits the file (a
//! refused file stops here, before any worker starts), starts N
//! `sweep-worker run` processes (logs in `DIR/logs/worker-K.log`), shows live
//! progress, prints the leaderboard, then stops the workers and the
//! coordinator. Ctrl-C (or SIGTERM) stops everything, the running trials
//! handed back; a worker that dies is reported, and if all of them die the
//! run fails. Either way the sweep stays in DIR: the same command on the same
//! file resumes it ([`resume`]; finished trials are kept), `--fresh` cancels
//! it and starts over.
//!
//! The coordinator's settings go through the same loader as
//! `sweep-coordinator`'s (defaults, `--config FILE`, `SWEEP_*` environment,
//! `--lease-ms`/`--max-grid`); where it listens and stores is fixed here, and
//! so is who may call it: fresh tokens per run ([`run_tokens`], files of mode
//! 0600 in DIR), the worker's given to the workers with `--token-file`. It
//! listens on loopback only, without TLS.
//!
//! This file is the orchestration; [`embedded_coordinator`] is the
//! in-process server, [`worker_pool`] the worker processes and
//! [`worker_binary`] how their program is found.

mod embedded_coordinator;
mod resume;
mod run_tokens;
mod worker_binary;
mod worker_pool;

pub use embedded_coordinator::EmbeddedCoordinator;
pub use run_tokens::RunTokens;
pub use worker_binary::{locate, WORKER_BIN};
pub use worker_pool::{WorkerExit, WorkerPool, WorkerSpec};

use crate::client::{Coordinator, SweepClient};
use crate::error::CliError;
use crate::progress;
use crate::render::sweeps;
use crate::{output, source, watch};
use clap::Args;
use std::path::{Path, PathBuf};
use sweep_coordinator::config::{self, Flags, Settings, SharedFlags};
use sweep_proto::v1::SweepState;
use sweep_runtime::credentials::{Bearer, Credentials};
use sweep_runtime::logging::{self, LogFormat};
use sweep_runtime::{cores, signals::Signals};

/// Where the embedded coordinator listens: a free loopback port.
pub const EMBEDDED_LISTEN: &str = "127.0.0.1:0";

#[derive(Debug, Args, PartialEq, Eq)]
pub struct RunArgs {
    /// The sweep file (YAML).
    pub file: PathBuf,
    /// Worker processes to start.
    #[arg(long, short = 'n', default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub workers: u32,
    /// Folder for the database (DIR/sweep.db) and the logs (DIR/logs/).
    #[arg(long, default_value = ".sweep")]
    pub dir: PathBuf,
    /// Intra-op threads of each worker [default: max(1, cores / workers)].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads_per_worker: Option<u32>,
    /// The `sweep-worker` binary [default: next to `sweep`, else on PATH].
    #[arg(long, value_name = "PATH")]
    pub worker_bin: Option<PathBuf>,
    /// The embedded coordinator's settings, as `sweep-coordinator` takes them.
    #[command(flatten)]
    pub settings: SharedFlags,
    /// Leaderboard rows to print at the end (0 = all).
    #[arg(long, default_value_t = 10)]
    pub top: u32,
    /// Log lines of the coordinator (DIR/logs/coordinator.log) and the
    /// workers: text for people, json (one object per line) for log shippers.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Start the sweep over, even if an earlier run of the same file in DIR
    /// left it unfinished (that one is cancelled): every trial runs again,
    /// none is reused from an earlier sweep.
    #[arg(long)]
    pub fresh: bool,
    /// An extra argument for every worker (repeatable), e.g.
    /// `--worker-arg=--simulate` for scheduling tests without training.
    #[arg(long = "worker-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub worker_args: Vec<String>,
}

/// The embedded coordinator's settings: `sweep-coordinator`'s layers, from
/// `env` (pass `std::env::vars()`), with a free loopback port and
/// `DIR/sweep.db`; without TLS (loopback) and without token files (see
/// [`with_tokens`]).
pub fn coordinator_settings(
    args: &RunArgs,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, CliError> {
    let flags = Flags {
        shared: args.settings.clone(),
        listen: Some(EMBEDDED_LISTEN.to_string()),
        db: Some(args.dir.join("sweep.db")),
        ..Flags::default()
    };
    let settings = config::load(&flags, env)?;
    Ok(Settings {
        client_tokens_file: None,
        worker_tokens_file: None,
        tls_cert: None,
        tls_key: None,
        client_ca: None,
        ..settings
    })
}

/// `settings` requiring the run's tokens.
pub fn with_tokens(settings: Settings, tokens: &RunTokens) -> Settings {
    Settings {
        client_tokens_file: Some(tokens.client_file.clone()),
        worker_tokens_file: Some(tokens.worker_file.clone()),
        ..settings
    }
}

/// Threads per worker: as given, else the cores shared out, at least one.
fn threads_per_worker(given: Option<u32>, cores: u32, workers: u32) -> u32 {
    given.unwrap_or_else(|| cores::share(cores, workers))
}

pub async fn run(args: &RunArgs) -> Result<(), CliError> {
    let settings = coordinator_settings(args, std::env::vars())?;
    let file = source::read(&args.file)?;
    let worker_bin = locate(args.worker_bin.as_deref())?;
    let logs = args.dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|source| CliError::CannotCreate {
        path: logs.clone(),
        source,
    })?;
    let coordinator_log = logs.join("coordinator.log");
    // Fails to take over only if a subscriber is already set (then that one logs).
    logging::init_to_file(&coordinator_log, args.log_format).map_err(|source| {
        CliError::CannotCreate {
            path: coordinator_log.clone(),
            source,
        }
    })?;

    let earlier = resume::prepare(&settings.db, &file.text, args.fresh)?;
    if let Some(line) = resume::describe(&earlier, &file.source_name) {
        output::note(&line);
    }
    let tokens = RunTokens::create(&args.dir)?;
    let settings = with_tokens(settings, &tokens);
    let mut signals = Signals::new().map_err(CliError::Signals)?;
    let mut server = EmbeddedCoordinator::start(&settings).await?;
    output::note(&format!(
        "coordinator on {} (database {}, log {})",
        server.url,
        settings.db.display(),
        coordinator_log.display()
    ));

    let spec = WorkerSpec {
        bin: worker_bin,
        coordinator_url: server.url.clone(),
        threads: threads_per_worker(args.threads_per_worker, cores::available(), args.workers),
        extra_args: args.worker_args.clone(),
        token_file: Some(tokens.worker_file.clone()),
        dir: args.dir.clone(),
        log_format: args.log_format,
    };
    let me = Coordinator {
        url: server.url.clone(),
        credentials: Credentials {
            bearer: Bearer::new(&tokens.client),
            tls: None,
        },
    };
    let outcome = drive(&mut server, &me, &mut signals, &file, &spec, args, &earlier).await;
    let stopped = server.stop().await;
    outcome.and(stopped)
}

/// Everything between "the coordinator is up" and "stop the coordinator".
async fn drive(
    server: &mut EmbeddedCoordinator,
    me: &Coordinator,
    signals: &mut Signals,
    file: &source::SweepFileText,
    spec: &WorkerSpec,
    args: &RunArgs,
    earlier: &resume::Earlier,
) -> Result<(), CliError> {
    let mut client = match SweepClient::connect_to(me).await {
        Ok(c) => c,
        Err(e) => return Err(server.explain(e).await),
    };
    let resumed = match earlier {
        resume::Earlier::Resume { summary, .. } => Some(summary.sweep_id.clone()),
        _ => None,
    };
    if let Err(e) = cancel_leftovers(&mut client, &args.dir, resumed.as_deref()).await {
        return Err(server.explain(e).await);
    }
    let id = match resumed {
        Some(id) => id,
        None => {
            // --fresh runs every trial again: no fingerprints, so nothing is
            // copied from an earlier sweep (the coordinator reuses only
            // trials whose input files it can verify).
            let inputs = if args.fresh {
                Default::default()
            } else {
                crate::submit::fingerprints(file).await
            };
            let submitted = match client
                .submit(
                    file.text.clone(),
                    file.source_name.clone(),
                    inputs.sha256.clone(),
                )
                .await
            {
                Ok(s) => s,
                Err(e) => return Err(server.explain(e).await),
            };
            let lines = crate::submit::describe(&file.source_name, &submitted, &inputs);
            // Under --fresh the note on trials not reused is the point, not news.
            let shown = if args.fresh { 1 } else { lines.len() };
            for line in lines.into_iter().take(shown) {
                output::note(&line);
            }
            submitted.sweep_id
        }
    };

    if let resume::Earlier::Resume { summary, .. } = earlier {
        if summary.state == sweep_coordinator::store::SweepState::Finished {
            // Nothing left to run: no workers, just the results again.
            let finished = client.sweep(&id).await?;
            return watch::print_top(&mut client, &finished, args.top).await;
        }
    }
    let mut stream = client.watch(&id).await?;
    let mut pool = match WorkerPool::spawn(spec, args.workers as usize) {
        Ok(pool) => pool,
        Err(e) => {
            // The sweep stays for a later run to resume.
            return Err(e);
        }
    };
    output::note(&format!(
        "started {} worker(s) with {} thread(s) each; their output goes to {}",
        args.workers,
        spec.threads,
        log_pattern(&spec.dir, args.workers)
    ));

    let mut view = progress::for_this_terminal();
    let mut last = None;
    let event = loop {
        let event = tokio::select! {
            more = watch::stream_next(&mut stream, view.as_mut(), &mut last) => match more {
                Ok(true) => continue,
                Ok(false) => Event::Ended,
                Err(e) => Event::Failed(e),
            },
            Some(exit) = pool.next_exit() => Event::WorkerDied(exit),
            _ = signals.next() => Event::Interrupted,
            e = server.died() => Event::Failed(e),
        };
        match event {
            Event::WorkerDied(exit) if pool.alive() > 0 => {
                view.note(&format!(
                    "sweep: {}; {} worker(s) left",
                    died_line(&exit),
                    pool.alive()
                ));
            }
            event => break event,
        }
    };

    // The workers get the patient stop only when the sweep ended by itself.
    let (result, hurry) = match event {
        Event::Ended => {
            view.finish();
            let result = match watch::check_end(&id, last) {
                Ok(summary) => watch::print_top(&mut client, &summary, args.top).await,
                Err(e) => Err(e),
            };
            (result, false)
        }
        Event::WorkerDied(exit) => {
            view.note(&format!("sweep: {}", died_line(&exit)));
            view.finish();
            let e = CliError::AllWorkersDied {
                workers: args.workers,
                id: id.clone(),
                logs: log_pattern(&spec.dir, args.workers),
            };
            (Err(e), true)
        }
        Event::Interrupted => {
            view.note(&format!(
                "sweep: interrupted: stopping the workers (their trials are handed back); \
                 sweep {id} stays in {}",
                spec.dir.join("sweep.db").display()
            ));
            view.finish();
            let e = CliError::Interrupted { id: id.clone() };
            (Err(e), true)
        }
        Event::Failed(e) => {
            view.finish();
            (Err(e), true)
        }
    };
    stop_workers(&mut pool, hurry, signals).await;
    if !hurry {
        output::note(&format!(
            "results stay in {db}; to look again: `sweep-coordinator --db {db}`, then \
             `sweep leaderboard {id}`",
            db = spec.dir.join("sweep.db").display()
        ));
    }
    result
}

enum Event {
    Ended,
    WorkerDied(WorkerExit),
    Interrupted,
    Failed(CliError),
}

fn died_line(exit: &WorkerExit) -> String {
    format!(
        "worker {} (pid {}) exited unexpectedly ({}); see {}",
        exit.index,
        exit.pid,
        exit.status,
        exit.log.display()
    )
}

/// `DIR/logs/worker-1.log` or `DIR/logs/worker-{1..N}.log`.
fn log_pattern(dir: &Path, workers: u32) -> String {
    let logs = dir.join("logs");
    if workers == 1 {
        logs.join("worker-1.log").display().to_string()
    } else {
        logs.join(format!("worker-{{1..{workers}}}.log"))
            .display()
            .to_string()
    }
}

/// Stops the workers, reporting any that had to be killed or exited badly.
/// A second Ctrl-C kills them at once.
async fn stop_workers(pool: &mut WorkerPool, hurry: bool, signals: &mut Signals) {
    if pool.alive() == 0 {
        return;
    }
    let (exits, killed) = tokio::select! {
        done = pool.stop(hurry) => done,
        _ = signals.next() => {
            output::note("interrupted again: killing the workers now");
            pool.kill_now();
            pool.stop(true).await
        }
    };
    for exit in exits.iter().filter(|e| !e.success) {
        output::note(&format!(
            "worker {} ended with {} while stopping; see {}",
            exit.index,
            exit.status,
            exit.log.display()
        ));
    }
    if killed > 0 {
        output::note(&format!(
            "{killed} worker(s) did not stop in time and were killed"
        ));
    }
}

/// Cancels sweeps of other files an earlier `sweep run` on the same database
/// left unfinished: their trials would otherwise be leased before ours.
async fn cancel_leftovers(
    client: &mut SweepClient,
    dir: &Path,
    keep: Option<&str>,
) -> Result<(), CliError> {
    for sweep in client.sweeps().await? {
        if sweep.state == SweepState::Running as i32 && Some(sweep.sweep_id.as_str()) != keep {
            let after = client.cancel(&sweep.sweep_id).await?;
            output::note(&format!(
                "cancelled sweep {} ({}) left unfinished in {} by an earlier run: {}",
                after.sweep_id,
                after.name,
                dir.join("sweep.db").display(),
                sweeps::counts(&after)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_share_the_cores() {
        assert_eq!(threads_per_worker(None, 16, 4), 4);
        assert_eq!(threads_per_worker(None, 2, 2), 1);
        assert_eq!(threads_per_worker(None, 2, 8), 1);
        assert_eq!(threads_per_worker(None, 2, 1), 2);
        assert_eq!(threads_per_worker(Some(3), 2, 1), 3);
    }

    fn args(settings: SharedFlags) -> RunArgs {
        RunArgs {
            file: PathBuf::from("g.yaml"),
            workers: 1,
            dir: PathBuf::from("/tmp/s"),
            threads_per_worker: None,
            worker_bin: None,
            settings,
            top: 10,
            fresh: false,
            log_format: LogFormat::Text,
            worker_args: Vec::new(),
        }
    }

    #[test]
    fn the_embedded_coordinator_has_the_coordinators_settings() {
        let s = coordinator_settings(&args(SharedFlags::default()), Vec::new()).unwrap();
        assert_eq!(s.listen.to_string(), EMBEDDED_LISTEN);
        assert_eq!(s.db, PathBuf::from("/tmp/s/sweep.db"));
        let defaults = Settings::default();
        assert_eq!(
            (s.lease_ms, s.max_grid),
            (defaults.lease_ms, defaults.max_grid)
        );

        let env = vec![
            ("SWEEP_MAX_GRID".to_string(), "7".to_string()),
            ("SWEEP_LISTEN".to_string(), "0.0.0.0:1".to_string()),
            ("SWEEP_DB".to_string(), "other.db".to_string()),
        ];
        let flags = SharedFlags {
            lease_ms: Some(1500),
            ..SharedFlags::default()
        };
        let s = coordinator_settings(&args(flags), env).unwrap();
        assert_eq!((s.lease_ms, s.max_grid), (1500, 7));
        assert_eq!(s.listen.to_string(), EMBEDDED_LISTEN);
        assert_eq!(s.db, PathBuf::from("/tmp/s/sweep.db"));
    }

    #[test]
    fn the_coordinators_limits_apply() {
        let refused = |flags| coordinator_settings(&args(flags), Vec::new()).unwrap_err();
        let e = refused(SharedFlags {
            lease_ms: Some(5),
            ..SharedFlags::default()
        });
        assert!(e.to_string().starts_with("lease_ms: "), "{e}");
        assert_eq!(e.exit_code(), crate::EXIT_USAGE);
        let e = refused(SharedFlags {
            max_grid: Some(0),
            ..SharedFlags::default()
        });
        assert!(e.to_string().starts_with("max_grid: "), "{e}");
    }

    #[test]
    fn log_pattern_names_every_worker_log() {
        assert_eq!(
            log_pattern(Path::new(".sweep"), 1),
            ".sweep/logs/worker-1.log"
        );
        assert_eq!(
            log_pattern(Path::new(".sweep"), 3),
            ".sweep/logs/worker-{1..3}.log"
        );
    }
}
