//! [`ConfigError`]: why a trial config was refused, naming the dotted field
//! (`phase2.epochs`) or the line and column of the YAML at fault.

use crate::yaml::YamlError;

/// A refused trial configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The text is over [`MAX_TRIAL_YAML_BYTES`](super::MAX_TRIAL_YAML_BYTES); not parsed.
    #[error("the config is {size} bytes, more than the {max} bytes a trial config may have")]
    TooLarge { size: usize, max: usize },
    /// Syntax, unknown key, wrong type, duplicate key or a parser budget,
    /// with its path, line and column.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// A value out of range.
    #[error("`{field}`: {message}")]
    Field {
        /// Dotted path (`phase2.epochs`).
        field: String,
        message: String,
    },
}

impl ConfigError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Field {
            field: field.into(),
            message: message.into(),
        }
    }

    /// 1-based line and column in the source text, when known.
    pub fn location(&self) -> Option<(usize, usize)> {
        match self {
            Self::Yaml(e) => e.location,
            Self::TooLarge { .. } | Self::Field { .. } => None,
        }
    }
}
