//! Checks `execution:` into [`Execution`]: how the sweep's trials are run,
//! never what they compute (neither setting is part of a trial's config, so
//! neither changes a trial id).
//!
//! ```yaml
//! execution: {sharing: on, reuse: on}   # both default on
//! ```
//!
//! - `sharing: off`: every lease of the sweep's trials says `sharing_off`,
//!   and the worker runs each trial alone, from scratch.
//! - `reuse: off`: no trial is copied from an earlier sweep's finished trial
//!   of the same config (see `store::reuse`).
//!
//! Each takes `on`/`off` or `true`/`false` (a YAML 1.1 parser may hand `on`
//! over as a boolean, a 1.2 one as a string: both are read). Anything else,
//! and any other key, is refused by the parser with its path, line and column.

use super::spec::ExecutionSpec;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a sweep's trials are run. Stored with the sweep as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// Workers may share work between trials (a phase-1 snapshot).
    pub sharing: bool,
    /// Trials finished in an earlier sweep on the same inputs are copied, not run.
    pub reuse: bool,
}

impl Default for Execution {
    fn default() -> Self {
        Self {
            sharing: true,
            reuse: true,
        }
    }
}

impl Execution {
    /// Whether both settings are the defaults.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Checks `execution:` (absent: both on).
pub fn check(spec: Option<&ExecutionSpec>) -> Execution {
    let default = Execution::default();
    let Some(spec) = spec else {
        return default;
    };
    Execution {
        sharing: spec.sharing.map_or(default.sharing, |s| s.0),
        reuse: spec.reuse.map_or(default.reuse, |s| s.0),
    }
}

/// `on`/`off`/`true`/`false`, as a string or a boolean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch(pub bool);

impl<'de> Deserialize<'de> for Switch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OnOff;
        impl Visitor<'_> for OnOff {
            type Value = Switch;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`on`, `off`, `true` or `false`")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Switch, E> {
                Ok(Switch(v))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Switch, E> {
                match v {
                    "on" | "true" => Ok(Switch(true)),
                    "off" | "false" => Ok(Switch(false)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(OnOff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweepfile::{load, LoadLimits};

    fn file(execution: &str) -> String {
        format!("name: a\nmethod: grid\n{execution}parameters:\n  seed: {{values: [1]}}\n")
    }

    fn execution(text: &str) -> Execution {
        load(&file(text), "a.yaml", &LoadLimits::default())
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .execution
    }

    #[test]
    fn both_default_on_and_each_takes_on_off_true_false() {
        assert_eq!(execution(""), Execution::default());
        assert!(Execution::default().sharing && Execution::default().reuse);
        assert_eq!(execution("execution: {}\n"), Execution::default());
        for (text, sharing, reuse) in [
            ("execution: {sharing: off}\n", false, true),
            ("execution: {reuse: off}\n", true, false),
            ("execution: {sharing: on, reuse: off}\n", true, false),
            ("execution: {sharing: false, reuse: true}\n", false, true),
            (
                "execution: {sharing: \"off\", reuse: \"on\"}\n",
                false,
                true,
            ),
            ("execution:\n  sharing: true\n  reuse: false\n", true, false),
        ] {
            assert_eq!(execution(text), Execution { sharing, reuse }, "{text}");
        }
    }

    #[test]
    fn bad_values_and_unknown_keys_are_refused_naming_the_field_and_line() {
        for (text, names) in [
            ("execution: {sharing: maybe}\n", "execution.sharing"),
            ("execution:\n  reuse: 1\n", "execution.reuse"),
            ("execution: {reuse: [on]}\n", "execution.reuse"),
            ("execution: {sharing: on, cache: off}\n", "cache"),
            ("execution: off\n", "execution"),
        ] {
            let e = load(&file(text), "a.yaml", &LoadLimits::default()).unwrap_err();
            let message = e.to_string();
            assert!(message.contains(names), "{text}: {message}");
            assert!(
                e.location().is_some_and(|(line, _)| line >= 3),
                "{text}: {message}"
            );
        }
        let e = load(
            &file("execution: {sharing: maybe}\n"),
            "a.yaml",
            &LoadLimits::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("`on`, `off`"), "{e}");
    }
}
