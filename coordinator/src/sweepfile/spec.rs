//! The sweep file as written: serde types that deny unknown keys everywhere,
//! so the parser reports every typo with its path, line and column.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use sweep_proto::trial::TrialConfig;
use sweep_proto::yaml::{self, YamlBudget, YamlError};

/// The top level of a sweep file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    pub name: String,
    #[serde(default)]
    pub metric: Option<MetricSpec>,
    pub method: Method,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub random_seed: Option<u64>,
    #[serde(default)]
    pub parallelism: Option<u32>,
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// `method: tpe` only: random proposals before the model takes over.
    #[serde(default)]
    pub startup_trials: Option<u32>,
    /// `{kind: asha, ...}` or `{kind: median, ...}`.
    #[serde(default)]
    pub early_stop: Option<EarlyStopSpec>,
    /// `{kinds: [gradcam, confusion, best_weights], weights_top_k: 3}`.
    #[serde(default)]
    pub artifacts: Option<ArtifactsSpec>,
    /// `{sharing: on, reuse: on}`.
    #[serde(default)]
    pub execution: Option<ExecutionSpec>,
    #[serde(default)]
    pub base: TrialConfig,
    #[serde(default)]
    pub parameters: Parameters,
}

/// `metric: {name: val_acc, goal: maximize}`; `goal` defaults to the metric's natural one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    pub name: String,
    #[serde(default)]
    pub goal: Option<Goal>,
}

/// Which way the ranking metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    Maximize,
    Minimize,
}

impl Goal {
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Maximize => "maximize",
            Goal::Minimize => "minimize",
        }
    }

    pub fn parse(s: &str) -> Option<Goal> {
        match s {
            "maximize" => Some(Goal::Maximize),
            "minimize" => Some(Goal::Minimize),
            _ => None,
        }
    }
}

/// How points are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Every combination of the parameters' `values`.
    Grid,
    /// `count` seeded draws.
    Random,
    /// `count` proposals of the tree-structured Parzen estimator, made one
    /// at a time when a worker asks for work.
    Tpe,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Grid => "grid",
            Method::Random => "random",
            Method::Tpe => "tpe",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "grid" => Some(Method::Grid),
            "random" => Some(Method::Random),
            "tpe" => Some(Method::Tpe),
            _ => None,
        }
    }
}

/// Which early stopping rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EarlyStopKind {
    Asha,
    Median,
}

/// `early_stop:` as written; which keys belong to which kind is checked
/// in `early_stop.rs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopSpec {
    pub kind: EarlyStopKind,
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub min_epochs: Option<u32>,
    #[serde(default)]
    pub reduction_factor: Option<u32>,
    #[serde(default)]
    pub grace: Option<u32>,
    #[serde(default)]
    pub rejudge: Option<bool>,
    #[serde(default)]
    pub after_epochs: Option<u32>,
    #[serde(default)]
    pub min_trials: Option<u32>,
    /// Which epochs `min_epochs`/`after_epochs` count: `all` or `phase2`.
    #[serde(default)]
    pub epochs: Option<crate::search::EpochCount>,
}

/// `artifacts:` as written; checked in `artifacts.rs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactsSpec {
    pub kinds: Vec<sweep_proto::artifacts::ArtifactKind>,
    #[serde(default)]
    pub weights_top_k: Option<u32>,
}

/// `execution:` as written; read into `Execution` in `execution.rs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionSpec {
    #[serde(default)]
    pub sharing: Option<super::execution::Switch>,
    #[serde(default)]
    pub reuse: Option<super::execution::Switch>,
}

/// One parameter's domain as written: exactly one of the four keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    #[serde(default)]
    pub values: Option<Vec<Value>>,
    #[serde(default)]
    pub uniform: Option<[f64; 2]>,
    #[serde(default)]
    pub log_uniform: Option<[f64; 2]>,
    #[serde(default)]
    pub int_uniform: Option<[i64; 2]>,
}

/// `parameters:`, in the order the file lists them (grid order follows it).
#[derive(Debug, Default)]
pub struct Parameters(pub Vec<(String, ParamSpec)>);

impl<'de> Deserialize<'de> for Parameters {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Parameters;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map from dotted parameter path to its domain")
            }

            fn visit_unit<E: de::Error>(self) -> Result<Parameters, E> {
                Ok(Parameters::default())
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parameters, A::Error> {
                let mut out: Vec<(String, ParamSpec)> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    if out.iter().any(|(n, _)| *n == name) {
                        return Err(de::Error::custom(format!(
                            "parameter `{name}` is listed twice"
                        )));
                    }
                    let spec = map.next_value::<ParamSpec>()?;
                    out.push((name, spec));
                }
                Ok(Parameters(out))
            }
        }
        d.deserialize_any(InOrder)
    }
}

/// Parses the text of a sweep file (syntax, keys and types only) within `budget`.
pub fn parse(text: &str, budget: &YamlBudget) -> Result<SweepFile, YamlError> {
    yaml::from_str(text, budget)
}
