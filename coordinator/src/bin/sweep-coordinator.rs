//! `sweep-coordinator`: the long-running coordinator of a sweep cluster.
//!
//! Settings come from `--config FILE` (TOML or YAML), then the `SWEEP_LISTEN`,
//! `SWEEP_DB`, `SWEEP_LEASE_MS` and `SWEEP_MAX_GRID` environment, then the
//! flags below. The first line on stdout is the address it serves on
//! (`sweep-coordinator listening on http://127.0.0.1:50051`); logs go to
//! stderr (`RUST_LOG`). SIGINT or SIGTERM shuts it down gracefully. A bad
//! setting or an unusable database is one line on stderr and exit status 2
//! or 1.

use clap::Parser;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use sweep_coordinator::config::{self, Flags};
use sweep_coordinator::server::Coordinator;

/// The sweep coordinator: stores sweeps, leases trials to workers, ranks results.
#[derive(Debug, Parser)]
#[command(name = "sweep-coordinator", version)]
struct Args {
    /// Settings file (*.toml or *.yaml) with keys listen, db, lease_ms, max_grid.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to serve on [default: 127.0.0.1:50051; port 0 picks a free one].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// SQLite database file, created if missing [default: sweep.db].
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// How long a trial stays leased without a heartbeat, ms [default: 30000].
    #[arg(long, value_name = "MS")]
    lease_ms: Option<u64>,
    /// Most trials one sweep may expand to [default: 10000].
    #[arg(long, value_name = "N")]
    max_grid: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let flags = Flags {
        config_file: args.config,
        listen: args.listen,
        db: args.db,
        lease_ms: args.lease_ms,
        max_grid: args.max_grid,
    };
    let settings = match config::load(&flags, std::env::vars()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sweep-coordinator: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sweep-coordinator: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sweep-coordinator: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(settings: config::CoordinatorConfig) -> anyhow::Result<()> {
    let coordinator = Coordinator::open(settings.server_config())?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
    let addr = listener.local_addr()?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "sweep-coordinator listening on http://{addr}")?;
    stdout.flush()?;
    coordinator.run(listener, shutdown_signal()).await
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot watch SIGTERM ({e}); SIGINT only");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
