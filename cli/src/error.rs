//! What can go wrong in a `sweep` command, as one line for the user and an
//! exit code: 2 when the coordinator cannot be reached (or `sweep run` is
//! given a setting it cannot use), 1 for everything else (refused file,
//! unknown sweep id, ...), 130 after a Ctrl-C.
//!
//! gRPC statuses are mapped here, so no command ever prints a debug dump.

use std::path::PathBuf;
use sweep_coordinator::config::SettingsError;

/// Exit code when the coordinator cannot be reached.
pub const EXIT_UNREACHABLE: u8 = 2;
/// Exit code for a setting `sweep run` cannot use (as for any usage error).
pub const EXIT_USAGE: u8 = 2;
/// Exit code for any other failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code after an interrupted (Ctrl-C) `sweep run`, as shells use for SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;

/// One failed command: printed after `sweep: ` as one line, with the exit
/// code [`CliError::exit_code`] gives it. Text that comes from elsewhere (the
/// coordinator's messages) is folded onto one line when the error is made.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    // What the coordinator answered.
    /// The coordinator did not answer (connect error, UNAVAILABLE).
    #[error("cannot reach coordinator at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("unknown sweep id `{id}` at {url}")]
    UnknownSweep { id: String, url: String },
    #[error("not found: {0}")]
    NotFound(String),
    /// The coordinator's own words: they name the file's line/column or field.
    #[error("{0}")]
    Refused(String),
    #[error("coordinator at {url} did not answer in time")]
    NoAnswerInTime { url: String },
    #[error("coordinator at {url} answered `{code}`: {message}")]
    CoordinatorFailed {
        url: String,
        code: &'static str,
        message: String,
    },
    #[error("the coordinator ended the watch of sweep `{id}` without sending its state")]
    WatchEndedWithoutState { id: String },
    #[error("the coordinator ended the watch of sweep `{id}` while it was still {state} ({counts}); is it shutting down?")]
    WatchEndedEarly {
        id: String,
        state: &'static str,
        counts: String,
    },
    #[error("no trial of sweep {id} succeeded ({failed} failed); see the error column above")]
    NothingSucceeded { id: String, failed: u64 },

    // This machine.
    #[error("cannot read sweep file {}: {why}", path.display())]
    UnreadableSweepFile { path: PathBuf, why: String },
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
    #[error("cannot create {}: {source}", path.display())]
    CannotCreate {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
    #[error("no randomness from the OS for the run's tokens: {0}")]
    NoRandomness(String),
    /// The embedded coordinator's token or TLS files (named in the text).
    #[error(transparent)]
    Security(#[from] sweep_coordinator::security::SecurityError),
    /// A token, CA or certificate file that cannot be used (named in the text).
    #[error(transparent)]
    Credentials(#[from] sweep_runtime::credentials::CredentialsError),

    // `sweep run`.
    /// Boxed: the largest error, and the rarest.
    #[error(transparent)]
    Settings(Box<SettingsError>),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("--worker-bin {}: no executable file there", path.display())]
    WorkerBinNotExecutable { path: PathBuf },
    #[error("cannot find the worker binary `{name}` (looked {looked}); build it with `cargo build --release -p sweep-worker`, or pass --worker-bin PATH")]
    WorkerBinNotFound { name: &'static str, looked: String },
    #[error("cannot open {} twice: {source}", path.display())]
    LogNotReopened {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start {}: {source}", bin.display())]
    WorkerNotStarted {
        bin: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "all {workers} worker(s) died before sweep {id} finished (it is kept: the same `sweep run` resumes it); see {logs}"
    )]
    AllWorkersDied {
        workers: u32,
        id: String,
        logs: String,
    },
    #[error("the embedded coordinator stopped: {0}")]
    CoordinatorStopped(String),
    #[error("the embedded coordinator failed while stopping: {0}")]
    CoordinatorFailedToStop(String),
    #[error("the embedded coordinator did not stop within {secs}s")]
    CoordinatorStopTimedOut { secs: u64 },
    #[error("interrupted; workers stopped; sweep {id} is kept: the same `sweep run` resumes it (--fresh starts over)")]
    Interrupted { id: String },
    #[error("cannot use the database {}: {detail}", path.display())]
    Database { path: PathBuf, detail: String },
}

impl From<SettingsError> for CliError {
    fn from(e: SettingsError) -> Self {
        Self::Settings(Box::new(e))
    }
}

impl CliError {
    /// The coordinator at `url` did not answer (connect error, UNAVAILABLE).
    pub fn unreachable(url: &str, detail: impl std::fmt::Display) -> Self {
        Self::Unreachable {
            url: url.to_string(),
            detail: one_line(&detail.to_string()),
        }
    }

    /// Maps a gRPC status from the coordinator at `url`. `sweep_id` is the id
    /// the call was about, if any, so NOT_FOUND can name it.
    pub fn from_status(status: &tonic::Status, url: &str, sweep_id: Option<&str>) -> Self {
        use tonic::Code;
        let message = one_line(&or_code(status.message().trim(), status.code()));
        let message = crate::sanitize::cleaned(&message);
        match status.code() {
            Code::Unavailable => Self::unreachable(url, message),
            Code::NotFound => match sweep_id {
                Some(id) => Self::UnknownSweep {
                    id: id.to_string(),
                    url: url.to_string(),
                },
                None => Self::NotFound(message),
            },
            Code::InvalidArgument | Code::FailedPrecondition | Code::AlreadyExists => {
                Self::Refused(message)
            }
            Code::DeadlineExceeded => Self::NoAnswerInTime {
                url: url.to_string(),
            },
            code => Self::CoordinatorFailed {
                url: url.to_string(),
                code: code.description(),
                message,
            },
        }
    }

    /// The process exit status this failure ends `sweep` with.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Unreachable { .. } => EXIT_UNREACHABLE,
            Self::Settings(_) | Self::Credentials(_) | Self::Security(_) => EXIT_USAGE,
            Self::Interrupted { .. } => EXIT_INTERRUPTED,
            _ => EXIT_FAILURE,
        }
    }
}

/// `err` and all its sources, joined with `: `, skipping a source whose text
/// its parent already ends with (transport errors repeat themselves).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !part.is_empty() && !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

fn or_code(message: &str, code: tonic::Code) -> String {
    if message.is_empty() {
        code.description().to_string()
    } else {
        message.to_string()
    }
}

pub(crate) fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;
    use tonic::{Code, Status};

    const URL: &str = "http://127.0.0.1:1";

    #[test]
    fn unavailable_is_unreachable_with_exit_2() {
        let e = CliError::from_status(&Status::unavailable("tcp connect error"), URL, None);
        assert_eq!(e.exit_code(), EXIT_UNREACHABLE);
        assert_eq!(
            e.to_string(),
            "cannot reach coordinator at http://127.0.0.1:1: tcp connect error"
        );
    }

    #[test]
    fn not_found_names_the_sweep_id() {
        let e = CliError::from_status(&Status::not_found("no such sweep"), URL, Some("sw-1234"));
        assert_eq!(e.exit_code(), EXIT_FAILURE);
        assert!(e.to_string().contains("`sw-1234`"), "{e}");
    }

    #[test]
    fn refusals_pass_the_server_message_through_on_one_line() {
        let status = Status::invalid_argument("grid.yaml: line 3, column 5:\n  unknown field `lr`");
        let e = CliError::from_status(&status, URL, None);
        assert_eq!(
            e.to_string(),
            "grid.yaml: line 3, column 5: unknown field `lr`"
        );
        assert_eq!(e.exit_code(), EXIT_FAILURE);
    }

    #[test]
    fn other_codes_name_the_code_not_a_debug_dump() {
        let e = CliError::from_status(&Status::new(Code::Internal, "disk full"), URL, None);
        assert!(e.to_string().contains("disk full"), "{e}");
        assert!(!e.to_string().contains("metadata"), "{e}");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn settings_are_a_usage_error_and_an_interrupt_is_130() {
        let e = CliError::from(SettingsError::Invalid {
            setting: "lease_ms",
            problem: "5 is too short (at least 10 ms)".into(),
        });
        assert_eq!(e.exit_code(), EXIT_USAGE);
        assert_eq!(e.to_string(), "lease_ms: 5 is too short (at least 10 ms)");
        let e = CliError::Interrupted { id: "sw-1".into() };
        assert_eq!(e.exit_code(), EXIT_INTERRUPTED);
    }

    #[test]
    fn error_chain_skips_repeats() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("transport error")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        assert_eq!(error_chain(&e), "transport error: refused");
    }
}
