//! `sweep run FILE --workers N`: a whole sweep on this machine in one command.
//!
//! Starts a coordinator in-process on a free loopback port (database
//! `DIR/sweep.db`, log `DIR/logs/coordinator.log`), submits the file (a
//! refused file stops here, before any worker starts), starts N
//! `sweep-worker run` processes (logs in `DIR/logs/worker-K.log`), shows live
//! progress, prints the leaderboard, then stops the workers and the
//! coordinator. Ctrl-C (or SIGTERM) cancels the sweep and stops everything; a
//! worker that dies is reported, and if all of them die the run fails.

use super::client::Coordinator;
use super::error::{CliError, EXIT_INTERRUPTED};
use super::progress::{self, ProgressView};
use super::render::{sweeps, values};
use super::workers::{self, WorkerExit, WorkerPool, WorkerSpec};
use super::{output, source, watch};
use crate::server::{serve, ServerConfig};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;
use sweep_proto::v1::SweepState;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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
    /// How long a trial's lease lasts without a heartbeat (a dead worker's
    /// trial goes back to the others after this).
    #[arg(long, default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(100..))]
    pub lease_ms: u64,
    /// Largest grid the sweep file may expand to.
    #[arg(long, default_value_t = 10_000)]
    pub max_grid: u64,
    /// Leaderboard rows to print at the end (0 = all).
    #[arg(long, default_value_t = 10)]
    pub top: u32,
    /// An extra argument for every worker (repeatable), e.g.
    /// `--worker-arg=--simulate` for scheduling tests without training.
    #[arg(long = "worker-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub worker_args: Vec<String>,
}

/// Threads per worker when not given: the cores shared out, at least one.
pub fn default_threads(cores: u32, workers: u32) -> u32 {
    (cores / workers.max(1)).max(1)
}

pub async fn run(args: &RunArgs) -> Result<(), CliError> {
    let file = source::read(&args.file)?;
    let worker_bin = workers::locate(args.worker_bin.as_deref())?;
    let logs = args.dir.join("logs");
    std::fs::create_dir_all(&logs)
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", logs.display())))?;
    let coordinator_log = logs.join("coordinator.log");
    log_coordinator_to(&coordinator_log)?;

    let mut signals = Signals::new()?;
    let config = ServerConfig {
        db_path: args.dir.join("sweep.db"),
        lease: Duration::from_millis(args.lease_ms),
        max_grid: args.max_grid,
    };
    let db_path = config.db_path.clone();
    let mut server = EmbeddedServer::start(config).await?;
    output::note(&format!(
        "coordinator on {} (database {}, log {})",
        server.url,
        db_path.display(),
        coordinator_log.display()
    ));

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let spec = WorkerSpec {
        bin: worker_bin,
        coordinator_url: server.url.clone(),
        threads: args
            .threads_per_worker
            .unwrap_or_else(|| default_threads(cores, args.workers)),
        extra_args: args.worker_args.clone(),
        dir: args.dir.clone(),
    };
    let outcome = drive(&mut server, &mut signals, &file, &spec, args).await;
    let stopped = server.stop().await;
    outcome.and(stopped)
}

/// Everything between "the coordinator is up" and "stop the coordinator".
async fn drive(
    server: &mut EmbeddedServer,
    signals: &mut Signals,
    file: &source::SweepFile,
    spec: &WorkerSpec,
    args: &RunArgs,
) -> Result<(), CliError> {
    let mut coordinator = match Coordinator::connect(&server.url).await {
        Ok(c) => c,
        Err(e) => return Err(server.explain(e).await),
    };
    if let Err(e) = cancel_leftovers(&mut coordinator, &args.dir).await {
        return Err(server.explain(e).await);
    }
    let submitted = match coordinator
        .submit(file.text.clone(), file.source_name.clone())
        .await
    {
        Ok(s) => s,
        Err(e) => return Err(server.explain(e).await),
    };
    let id = submitted.sweep_id;
    output::note(&format!(
        "submitted {} as {id}: {} trials",
        file.source_name, submitted.trial_count
    ));

    let mut stream = coordinator.watch(&id).await?;
    let mut pool = match WorkerPool::spawn(spec, args.workers as usize) {
        Ok(pool) => pool,
        Err(e) => {
            // Leave no runnable sweep behind in the database.
            let _ = coordinator.cancel(&id).await;
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
                Ok(summary) => watch::print_top(&mut coordinator, &summary, args.top).await,
                Err(e) => Err(e),
            };
            (result, false)
        }
        Event::WorkerDied(exit) => {
            view.note(&format!("sweep: {}", died_line(&exit)));
            cancel_quietly(&mut coordinator, &id, view.as_mut()).await;
            view.finish();
            let e = CliError::failed(format!(
                "all {} worker(s) died before sweep {id} finished (it is cancelled); see {}",
                args.workers,
                log_pattern(&spec.dir, args.workers)
            ));
            (Err(e), true)
        }
        Event::Interrupted => {
            view.note(&format!(
                "sweep: interrupted: cancelling sweep {id} and stopping the workers"
            ));
            cancel_quietly(&mut coordinator, &id, view.as_mut()).await;
            view.finish();
            let e = CliError::with_code(
                format!("interrupted; sweep {id} cancelled, workers stopped"),
                EXIT_INTERRUPTED,
            );
            (Err(e), true)
        }
        Event::Failed(e) => {
            cancel_quietly(&mut coordinator, &id, view.as_mut()).await;
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

/// Cancels sweeps an earlier `sweep run` on the same database left running
/// (it was killed): their trials would otherwise be leased before ours.
async fn cancel_leftovers(coordinator: &mut Coordinator, dir: &Path) -> Result<(), CliError> {
    for sweep in coordinator.sweeps().await? {
        if sweep.state == SweepState::Running as i32 {
            let after = coordinator.cancel(&sweep.sweep_id).await?;
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

async fn cancel_quietly(coordinator: &mut Coordinator, id: &str, view: &mut dyn ProgressView) {
    match coordinator.cancel(id).await {
        Ok(s) => view.note(&format!(
            "sweep: sweep {id} {}: {}",
            values::sweep_state(s.state),
            sweeps::counts(&s)
        )),
        Err(e) => view.note(&format!("sweep: could not cancel sweep {id}: {e}")),
    }
}

/// The coordinator's `tracing` output goes to its log file.
fn log_coordinator_to(path: &Path) -> Result<(), CliError> {
    let file = std::fs::File::create(path)
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", path.display())))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Fails only if a subscriber is already set (then that one logs).
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
    Ok(())
}

/// SIGINT and SIGTERM, as one stream of "stop" requests.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn new() -> Result<Self, CliError> {
        let listen = |kind| {
            signal(kind).map_err(|e| CliError::failed(format!("cannot listen for signals: {e}")))
        };
        Ok(Self {
            interrupt: listen(SignalKind::interrupt())?,
            terminate: listen(SignalKind::terminate())?,
        })
    }

    /// The next SIGINT or SIGTERM. Cancel-safe.
    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {},
            _ = self.terminate.recv() => {},
        }
    }
}

/// The in-process coordinator.
struct EmbeddedServer {
    url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// How long the coordinator gets to shut down.
const SERVER_STOP_WAIT: Duration = Duration::from_secs(10);

impl EmbeddedServer {
    async fn start(config: ServerConfig) -> Result<Self, CliError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| CliError::failed(format!("cannot listen on 127.0.0.1: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::failed(format!("cannot listen on 127.0.0.1: {e}")))?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(config, listener, async move {
            let _ = rx.await;
        }));
        Ok(Self {
            url: format!("http://{addr}"),
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Resolves (with its error) only if the coordinator stops by itself.
    async fn died(&mut self) -> CliError {
        let Some(task) = self.task.as_mut() else {
            return std::future::pending().await;
        };
        let result = task.await;
        self.task = None;
        CliError::failed(format!(
            "the embedded coordinator stopped: {}",
            describe(result)
        ))
    }

    /// An RPC failed: if that is because the coordinator died, say why it died.
    async fn explain(&mut self, err: CliError) -> CliError {
        match tokio::time::timeout(Duration::from_secs(1), self.died()).await {
            Ok(died) => died,
            Err(_) => err,
        }
    }

    async fn stop(&mut self) -> Result<(), CliError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(SERVER_STOP_WAIT, task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(result) => Err(CliError::failed(format!(
                "the embedded coordinator failed while stopping: {}",
                describe(result)
            ))),
            Err(_) => Err(CliError::failed(format!(
                "the embedded coordinator did not stop within {}s",
                SERVER_STOP_WAIT.as_secs()
            ))),
        }
    }
}

fn describe(result: Result<anyhow::Result<()>, tokio::task::JoinError>) -> String {
    match result {
        Ok(Ok(())) => "it returned early".to_string(),
        Ok(Err(e)) => format!("{e:#}"),
        Err(e) => format!("it panicked ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_share_the_cores() {
        assert_eq!(default_threads(16, 4), 4);
        assert_eq!(default_threads(2, 2), 1);
        assert_eq!(default_threads(2, 8), 1);
        assert_eq!(default_threads(2, 1), 2);
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
