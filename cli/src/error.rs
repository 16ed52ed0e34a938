//! What can go wrong in a `sweep` command, as one line for the user and an
//! exit code: 2 when the coordinator cannot be reached, 1 for everything else
//! (refused file, unknown sweep id, ...), 130 after a Ctrl-C.
//!
//! gRPC statuses are mapped here, so no command ever prints a debug dump.

use std::fmt;

/// Exit code when the coordinator cannot be reached.
pub const EXIT_UNREACHABLE: u8 = 2;
/// Exit code for any other failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code after an interrupted (Ctrl-C) `sweep run`, as shells use for SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;

/// One failed command: the line printed after `sweep: ` and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    message: String,
    code: u8,
}

impl CliError {
    /// A failure with exit code 1. Newlines are folded so it prints as one line.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::with_code(message, EXIT_FAILURE)
    }

    pub fn with_code(message: impl Into<String>, code: u8) -> Self {
        Self {
            message: one_line(&message.into()),
            code,
        }
    }

    /// The coordinator at `url` did not answer (connect error, UNAVAILABLE).
    pub fn unreachable(url: &str, detail: impl fmt::Display) -> Self {
        Self::with_code(
            format!("cannot reach coordinator at {url}: {detail}"),
            EXIT_UNREACHABLE,
        )
    }

    /// Maps a gRPC status from the coordinator at `url`. `sweep_id` is the id
    /// the call was about, if any, so NOT_FOUND can name it.
    pub fn from_status(status: &tonic::Status, url: &str, sweep_id: Option<&str>) -> Self {
        use tonic::Code;
        let message = status.message().trim();
        match status.code() {
            Code::Unavailable => Self::unreachable(url, or_code(message, status.code())),
            Code::NotFound => match sweep_id {
                Some(id) => Self::failed(format!("unknown sweep id `{id}` at {url}")),
                None => Self::failed(format!("not found: {}", or_code(message, status.code()))),
            },
            // The coordinator's own words: they name the file's line/column or field.
            Code::InvalidArgument | Code::FailedPrecondition | Code::AlreadyExists => {
                Self::failed(or_code(message, status.code()))
            }
            Code::DeadlineExceeded => {
                Self::failed(format!("coordinator at {url} did not answer in time"))
            }
            code => Self::failed(format!(
                "coordinator at {url} answered `{}`: {}",
                code.description(),
                or_code(message, code)
            )),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

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

fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::{Code, Status};

    const URL: &str = "http://127.0.0.1:1";

    #[test]
    fn unavailable_is_unreachable_with_exit_2() {
        let e = CliError::from_status(&Status::unavailable("tcp connect error"), URL, None);
        assert_eq!(e.exit_code(), EXIT_UNREACHABLE);
        assert_eq!(
            e.message(),
            "cannot reach coordinator at http://127.0.0.1:1: tcp connect error"
        );
    }

    #[test]
    fn not_found_names_the_sweep_id() {
        let e = CliError::from_status(&Status::not_found("no such sweep"), URL, Some("sw-1234"));
        assert_eq!(e.exit_code(), EXIT_FAILURE);
        assert!(e.message().contains("`sw-1234`"), "{e}");
    }

    #[test]
    fn refusals_pass_the_server_message_through_on_one_line() {
        let status = Status::invalid_argument("grid.yaml: line 3, column 5:\n  unknown field `lr`");
        let e = CliError::from_status(&status, URL, None);
        assert_eq!(
            e.message(),
            "grid.yaml: line 3, column 5: unknown field `lr`"
        );
        assert_eq!(e.exit_code(), EXIT_FAILURE);
    }

    #[test]
    fn other_codes_name_the_code_not_a_debug_dump() {
        let e = CliError::from_status(&Status::new(Code::Internal, "disk full"), URL, None);
        assert!(e.message().contains("disk full"), "{e}");
        assert!(!e.message().contains("metadata"), "{e}");
        assert!(!e.message().contains('\n'));
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
