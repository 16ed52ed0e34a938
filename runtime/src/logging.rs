//! `tracing` set-up for every binary: `RUST_LOG` filters (default `info`),
//! plain text for people or one JSON object per line for log shippers, to
//! stderr or to a file.

use std::path::Path;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Logs to stderr. ANSI colours only when stderr is a terminal. Does nothing
/// if a subscriber is already set (tests, or an embedded coordinator).
pub fn init(format: LogFormat) {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Logs to `path` (created, or appended to: a resumed run keeps the earlier
/// run's lines), without colours. Does nothing if a subscriber is already set.
pub fn init_to_file(path: &Path, format: LogFormat) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let file = std::sync::Mutex::new(file);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(file)
        .with_ansi(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    Ok(())
}
