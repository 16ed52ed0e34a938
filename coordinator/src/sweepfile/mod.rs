//! Sweep files: a YAML description of a hyperparameter sweep, checked and
//! expanded into the trial configs it stands for.
//!
//! [`load`] is the whole story: parse the text ([`spec`]), turn each
//! parameter into a [`Domain`], expand the points (every combination for
//! `grid`, seeded draws for `random`), apply each point to the `base`
//! [`TrialConfig`] by dotted path ([`paths`]), validate every resolved config
//! and drop repeats by content id. Any refusal is one [`SweepFileError`]
//! naming the source and the line/column, parameter or field at fault;
//! nothing is expanded past a grid that is too large.

mod apply;
mod domain;
mod error;
mod expand;
mod paths;
mod spec;

pub use domain::Domain;
pub use error::SweepFileError;
pub use spec::{Goal, Method};

use serde_json::Value;
use sweep_proto::trial::{TrialConfig, RANKING_METRICS};

/// The default cap on the number of points a sweep may expand to.
pub const DEFAULT_MAX_GRID: u64 = 10_000;
/// Attempts per trial when the sweep file does not say.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// A checked, expanded sweep file.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub name: String,
    /// A name from [`RANKING_METRICS`] (never a test metric).
    pub metric_name: String,
    pub goal: Goal,
    pub method: Method,
    /// Cap on trials running at once; 0 = no cap.
    pub parallelism: u32,
    /// Attempts a trial gets before it is failed for good (≥ 1).
    pub max_attempts: u32,
    /// The unique points, in expansion order.
    pub points: Vec<Point>,
}

/// One point of a sweep: its swept values and the config they resolve to.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// [`TrialConfig::content_id`] of `config`.
    pub trial_id: String,
    pub config: TrialConfig,
    /// The swept values, in the file's parameter order: dotted path → value.
    pub params: Vec<(String, Value)>,
}

impl Point {
    /// The swept values as one JSON object (dotted path → value).
    pub fn params_json(&self) -> String {
        let map: serde_json::Map<String, Value> = self.params.iter().cloned().collect();
        Value::Object(map).to_string()
    }
}

/// Parses, checks and expands a sweep file. `source_name` ("grid.yaml")
/// prefixes every error; a grid (or random `count`) over `max_grid` points
/// is refused before anything is expanded.
pub fn load(text: &str, source_name: &str, max_grid: u64) -> Result<Sweep, SweepFileError> {
    let source = if source_name.trim().is_empty() {
        "<sweep file>"
    } else {
        source_name
    };
    let at = |message: String| SweepFileError::new(source, None, message);
    let file = spec::parse(text).map_err(|e| SweepFileError::from_yaml(source, e))?;

    if file.name.trim().is_empty() {
        return Err(at("`name`: must not be empty".into()));
    }
    let (metric_name, goal) = check_metric(&file.metric).map_err(at)?;
    let max_attempts = file.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if max_attempts == 0 {
        return Err(at("`max_attempts`: must be at least 1".into()));
    }
    let method_error = match (file.method, file.count, file.random_seed) {
        (Method::Grid, Some(_), _) => {
            Some("`count`: only for `method: random` (a grid runs every combination)")
        }
        (Method::Grid, None, Some(_)) => Some("`random_seed`: only for `method: random`"),
        (Method::Random, None, _) => Some("`count`: required for `method: random`"),
        (Method::Random, Some(0), _) => Some("`count`: must be at least 1"),
        _ => None,
    };
    if let Some(m) = method_error {
        return Err(at(m.into()));
    }

    let base = apply::Base::new(&file.base);
    let mut domains = Vec::with_capacity(file.parameters.0.len());
    for (name, param) in &file.parameters.0 {
        let domain = Domain::from_spec(name, param, file.method).map_err(at)?;
        base.check_parameter(name, &domain).map_err(at)?;
        domains.push((name.clone(), domain));
    }
    paths::check_no_overlap(domains.iter().map(|(n, _)| n.as_str())).map_err(at)?;

    let points = match file.method {
        Method::Grid => expand::grid(&base, &domains, max_grid),
        Method::Random => expand::random(
            &base,
            &domains,
            file.count.unwrap_or_default(),
            file.random_seed.unwrap_or(0),
            max_grid,
        ),
    }
    .map_err(at)?;

    Ok(Sweep {
        name: file.name,
        metric_name,
        goal,
        method: file.method,
        parallelism: file.parallelism.unwrap_or(0),
        max_attempts,
        points,
    })
}

/// The ranking metric and its goal; `val_acc`/maximize when the file names none.
fn check_metric(metric: &Option<spec::MetricSpec>) -> Result<(String, Goal), String> {
    let Some(m) = metric else {
        return Ok(("val_acc".into(), Goal::Maximize));
    };
    let names = || {
        RANKING_METRICS
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if m.name.starts_with("test") {
        return Err(format!(
            "`metric.name`: `{}` is a test metric, and test never ranks (it would leak the test set into the choice); use one of {}",
            m.name,
            names()
        ));
    }
    let Some((_, natural)) = RANKING_METRICS.iter().find(|(n, _)| *n == m.name) else {
        return Err(format!(
            "`metric.name`: unknown metric `{}`; expected one of {}",
            m.name,
            names()
        ));
    };
    let goal = match m.goal {
        Some(g) => g,
        None if *natural == "maximize" => Goal::Maximize,
        None => Goal::Minimize,
    };
    Ok((m.name.clone(), goal))
}
