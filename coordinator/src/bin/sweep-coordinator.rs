//! `sweep-coordinator`: the long-running coordinator of a sweep cluster.
//!
//! Settings come from `--config FILE` (TOML or YAML), then the `SWEEP_LISTEN`,
//! `SWEEP_DB`, `SWEEP_LEASE_MS`, `SWEEP_MAX_GRID`, `SWEEP_MAX_MESSAGE_BYTES`,
//! `SWEEP_MAX_SWEEP_FILE_BYTES`, `SWEEP_MAX_WATCHERS`, ... environment, then the
//! flags below (see `sweep_coordinator::config`). The first line on stdout is
//! the address it serves on (`sweep-coordinator listening on
//! http://127.0.0.1:50051`), the second, with `--http ADDR`, the HTTP side's
//! (`sweep-coordinator dashboard on http://127.0.0.1:8080`: `/metrics`); logs go to stderr (`RUST_LOG`, `--log-format
//! text|json`). SIGINT or
//! SIGTERM shuts it down gracefully; SIGHUP re-reads the token files. A bad
//! setting (a non-loopback address without TLS and tokens and without
//! `--insecure`, an unreadable or empty token file, a bad certificate) is one
//! line on stderr and exit status 2; an unusable database, exit status 1.

use anyhow::Context;
use clap::Parser;
use std::io::Write;
use std::process::ExitCode;
use sweep_coordinator::auth;
use sweep_coordinator::config::{self, Flags, Settings};
use sweep_coordinator::security::Security;
use sweep_coordinator::server::CoordinatorServer;
use sweep_runtime::logging::{self, LogFormat};
use sweep_runtime::signals::Signals;

/// The sweep coordinator: stores sweeps, leases trials to workers, ranks results.
#[derive(Debug, Parser)]
#[command(name = "sweep-coordinator", version)]
struct Args {
    #[command(flatten)]
    settings: Flags,
    /// Log lines on stderr: text for people, json (one object per line) for
    /// log shippers.
    #[arg(long, value_enum, env = "SWEEP_LOG_FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

fn main() -> ExitCode {
    let args = Args::parse();
    logging::init(args.log_format);
    let settings = match config::load(&args.settings, std::env::vars()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sweep-coordinator: {e}");
            return ExitCode::from(2);
        }
    };
    let security = match settings.security() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sweep-coordinator: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(run(settings, security)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sweep-coordinator: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(settings: Settings, security: Security) -> anyhow::Result<()> {
    let signals = Signals::new().context("cannot listen for signals")?;
    let reloads =
        auth::reload_on_hangup(security.gate.clone()).context("cannot listen for SIGHUP")?;
    let scheme = if security.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let mut server = CoordinatorServer::open(settings.server_config())?.with_security(security);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let http = match settings.http_listen {
        Some(http) => Some(
            tokio::net::TcpListener::bind(http)
                .await
                .with_context(|| format!("cannot listen on {http} (http_listen)"))?,
        ),
        None => None,
    };
    let mut stdout = std::io::stdout();
    writeln!(stdout, "sweep-coordinator listening on {scheme}://{addr}")?;
    if let Some(http) = http {
        writeln!(
            stdout,
            "sweep-coordinator dashboard on http://{}",
            http.local_addr()?
        )?;
        server = server.with_http(http);
    }
    stdout.flush()?;
    let shutdown = async move {
        let signal = signals.first().await;
        tracing::info!("{} received", signal.name());
    };
    let served = server.run(listener, shutdown).await;
    if let Some(reloads) = reloads {
        reloads.abort();
    }
    Ok(served?)
}
