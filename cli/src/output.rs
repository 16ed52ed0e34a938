//! Writing results to stdout: a closed pipe (`sweep list | head -1`) ends
//! the output quietly instead of panicking like `println!` would.

use crate::error::CliError;
use std::io::{ErrorKind, Write};

/// Writes `text` to stdout as is and flushes it.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::Stdout(e)),
    }
}

/// Writes `line` and a newline to stdout.
pub fn println(line: &str) -> Result<(), CliError> {
    print(&format!("{line}\n"))
}

/// A human note on stderr (never part of the scriptable output).
pub fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "sweep: {line}");
}
