//! The one error a refused sweep file produces: which file, where (line and
//! column for YAML errors) and what is wrong (naming the parameter, the
//! point's values or the field).

use std::fmt;

/// A refused sweep file.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepFileError {
    /// Where the text came from ("grid.yaml").
    pub source_name: String,
    /// 1-based line and column, for syntax, key and type errors.
    pub location: Option<(usize, usize)>,
    pub message: String,
}

impl SweepFileError {
    pub fn new(source: &str, location: Option<(usize, usize)>, message: String) -> Self {
        Self {
            source_name: source.to_string(),
            location,
            message,
        }
    }

    /// A serde_yaml error, its message ending with "at line L column C".
    pub fn from_yaml(source: &str, err: serde_yaml::Error) -> Self {
        let location = err.location().map(|l| (l.line(), l.column()));
        let mut message = err.to_string();
        if let Some((line, column)) = location {
            if !message.contains(" at line ") {
                message = format!("{message} at line {line} column {column}");
            }
        }
        Self::new(source, location, message)
    }
}

impl fmt::Display for SweepFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source_name, self.message)
    }
}

impl std::error::Error for SweepFileError {}
