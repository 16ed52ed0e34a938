//! The one error a refused sweep file produces: which file, where (line and
//! column for YAML errors) and what is wrong (naming the parameter, the
//! point's values or the field). [`Problem`] is the "what" without the file.

use serde_json::Value;
use sweep_proto::trial::ConfigError;
use sweep_proto::yaml::YamlError;

/// A refused sweep file. Its text is `"{source_name}: {what is wrong}"`.
#[derive(Debug, thiserror::Error)]
pub enum SweepFileError {
    /// Over [`LoadLimits::max_file_bytes`](super::LoadLimits::max_file_bytes); not parsed.
    #[error(
        "{source_name}: the file is {size} bytes, more than the {max} bytes a sweep file may have"
    )]
    TooLarge {
        source_name: String,
        size: usize,
        max: usize,
    },
    /// Syntax, unknown key, wrong type, duplicate key, or a parser budget.
    #[error("{source_name}: {error}")]
    Yaml {
        source_name: String,
        #[source]
        error: YamlError,
    },
    /// Well-formed, but the content is refused.
    #[error("{source_name}: {problem}")]
    Refused {
        source_name: String,
        #[source]
        problem: Problem,
    },
}

impl SweepFileError {
    /// Where the text came from ("grid.yaml").
    pub fn source_name(&self) -> &str {
        match self {
            Self::TooLarge { source_name, .. }
            | Self::Yaml { source_name, .. }
            | Self::Refused { source_name, .. } => source_name,
        }
    }

    /// 1-based line and column, for syntax, key and type errors.
    pub fn location(&self) -> Option<(usize, usize)> {
        match self {
            Self::Yaml { error, .. } => error.location,
            Self::TooLarge { .. } | Self::Refused { .. } => None,
        }
    }

    /// What is wrong, without the source name.
    pub fn message(&self) -> String {
        let whole = self.to_string();
        whole
            .strip_prefix(self.source_name())
            .and_then(|rest| rest.strip_prefix(": "))
            .map_or_else(|| whole.clone(), str::to_string)
    }
}

/// What is wrong with a well-formed sweep file.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// A top-level key (`name`, `metric.name`, `count`, ...).
    #[error("`{field}`: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
    /// A parameter's name, domain or path.
    #[error("parameter `{name}`: {message}")]
    Parameter { name: String, message: String },
    /// A parameter value that does not fit the field's type.
    #[error("parameter `{name}` = {}: {source}", shown(value))]
    ParameterType {
        name: String,
        value: Value,
        source: serde_json::Error,
    },
    /// A parameter nested inside another (`data` and `data.train`).
    #[error("parameter `{inner}` lies inside parameter `{outer}`; sweep one or the other")]
    Overlap { inner: String, outer: String },
    /// A grid with more points than `max_grid`.
    #[error("the grid has {size} points ({factors}), more than max_grid = {max_grid}")]
    GridTooLarge {
        /// The exact size, or "more than 2^128".
        size: String,
        /// `name: n × name: n ...`
        factors: String,
        max_grid: u64,
    },
    /// A resolved point that the trial config's checks refuse.
    #[error("{point}: {source}")]
    InvalidPoint { point: String, source: ConfigError },
}

/// Longest rendering of a value in a message; longer ones are cut.
const SHOWN_CHARS: usize = 80;

/// `value` as JSON, cut to [`SHOWN_CHARS`] (a hostile file's values can be huge).
pub fn shown(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
