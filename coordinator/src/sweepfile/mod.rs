//! Sweep files: a YAML description of a hyperparameter sweep, checked and
//! expanded into the trial configs it stands for (or, for `method: tpe`, the
//! space proposals are drawn from later), with its `early_stop:`, `artifacts:` and
//! `execution:` checked. Sweep files come from
//! untrusted users: everything [`load`] spends is bounded by [`LoadLimits`].
//!
//! [`load`] is the whole story: refuse a file over the size cap unread, parse
//! the text within the parser's budgets ([`spec`]), check the top-level keys
//! ([`header`]), turn each parameter into a [`Domain`], check the grid's size
//! before anything is expanded, expand the points (every combination for
//! `grid`, seeded draws for `random`), apply each point to the `base`
//! [`TrialConfig`] by dotted path ([`paths`]), validate every resolved config
//! and drop repeats by content id. Any refusal is one [`SweepFileError`]
//! naming the source and the line/column, parameter or field at fault.

mod apply;
mod artifacts;
mod domain;
mod early_stop;
mod error;
mod execution;
mod expand;
mod header;
mod limits;
mod paths;
mod space;
mod spec;

pub use artifacts::{ArtifactPolicy, DEFAULT_WEIGHTS_TOP_K, MAX_WEIGHTS_TOP_K};
pub use domain::Domain;
pub use error::{Problem, SweepFileError};
pub use execution::Execution;
pub use limits::{
    LoadLimits, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_GRID, MAX_ATTEMPTS,
    MAX_NAME_CHARS, MAX_PARAMETER_NAME_CHARS,
};
pub use space::Space;
pub use spec::{Goal, Method};
pub use sweep_proto::yaml::YamlBudget;

use crate::search::tpe::{TpeSettings, DEFAULT_STARTUP_TRIALS};
use crate::search::EarlyStop;

/// The generator stream that orders a grid with early stopping (TPE's
/// proposals use streams 0, 1, 2, … of the same seed).
const GRID_ORDER_STREAM: u64 = u64::MAX;
use serde_json::Value;
use sweep_proto::trial::TrialConfig;

/// A checked, expanded sweep file.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub name: String,
    /// A name from [`RANKING_METRICS`](sweep_proto::trial::RANKING_METRICS) (never a test metric).
    pub metric_name: String,
    pub goal: Goal,
    pub method: Method,
    /// Cap on trials running at once; 0 = no cap.
    pub parallelism: u32,
    /// Attempts a trial gets before it is failed for good (≥ 1).
    pub max_attempts: u32,
    /// The unique points, in expansion order — in a seeded random order
    /// for a grid with ASHA — (none for TPE: its points are proposed one at
    /// a time, see [`Sweep::tpe`]).
    pub points: Vec<Point>,
    /// `early_stop:`, checked.
    pub early_stop: Option<EarlyStop>,
    /// `method: tpe`: its settings and the space it proposes from.
    pub tpe: Option<TpePlan>,
    /// `artifacts:`, checked (the default policy when absent).
    pub artifacts: ArtifactPolicy,
    /// `execution:` (both settings on when absent).
    pub execution: Execution,
}

/// What a TPE sweep needs to propose its points later.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TpePlan {
    pub settings: TpeSettings,
    pub space: Space,
}

impl Sweep {
    /// How many trials the sweep will have in all: its points, or TPE's `count`.
    pub fn planned(&self) -> u64 {
        match &self.tpe {
            Some(plan) => plan.settings.count,
            None => self.points.len() as u64,
        }
    }
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
/// prefixes every error. A file over `limits.max_file_bytes` is refused
/// unread; a grid (or random `count`) over `limits.max_grid` points is
/// refused before anything is expanded. Stores nothing.
pub fn load(text: &str, source_name: &str, limits: &LoadLimits) -> Result<Sweep, SweepFileError> {
    let source_name = if source_name.trim().is_empty() {
        "<sweep file>"
    } else {
        source_name
    }
    .to_string();
    if text.len() > limits.max_file_bytes {
        return Err(SweepFileError::TooLarge {
            source_name,
            size: text.len(),
            max: limits.max_file_bytes,
        });
    }
    let file = match spec::parse(text, &limits.yaml) {
        Ok(file) => file,
        Err(error) => return Err(SweepFileError::Yaml { source_name, error }),
    };
    check(file, limits.max_grid).map_err(|problem| SweepFileError::Refused {
        source_name,
        problem,
    })
}

/// Checks a parsed file and expands its points, cheapest checks first: the
/// top-level keys, each parameter's name, domain and path, the grid's size,
/// then each parameter's values against the field's type, then every point.
fn check(file: spec::SweepFile, max_grid: u64) -> Result<Sweep, Problem> {
    let header = header::check(&file)?;
    let base = apply::Base::new(&file.base);
    let mut domains = Vec::with_capacity(file.parameters.0.len());
    for (name, param) in &file.parameters.0 {
        let chars = name.chars().count();
        if chars > MAX_PARAMETER_NAME_CHARS {
            return Err(Problem::Parameter {
                name: name.chars().take(40).chain("…".chars()).collect(),
                message: format!(
                    "a name of {chars} characters, more than {MAX_PARAMETER_NAME_CHARS}"
                ),
            });
        }
        let domain = Domain::from_spec(name, param, file.method, max_grid)?;
        base.check_path(name)?;
        domains.push((name.clone(), domain));
    }
    paths::check_no_overlap(domains.iter().map(|(n, _)| n.as_str()))?;
    let count = file.count.unwrap_or_default();
    match file.method {
        Method::Grid => expand::check_grid_size(&domains, max_grid)?,
        Method::Random | Method::Tpe => expand::check_count(&domains, count, max_grid)?,
    }
    for (name, domain) in &domains {
        base.check_values(name, domain)?;
    }

    let early_stop = file
        .early_stop
        .as_ref()
        .map(|spec| early_stop::check(spec, &header.metric_name, header.goal))
        .transpose()?;
    if file.method == Method::Tpe && early_stop.as_ref().is_some_and(EarlyStop::rejudges) {
        return Err(Problem::Field {
            field: "early_stop.rejudge",
            message:
                "needs every trial of the sweep known from the start (method grid or random); \
                      TPE proposes its trials one at a time"
                    .into(),
        });
    }
    let artifacts = artifacts::check(file.artifacts.as_ref())?;
    let execution = execution::check(file.execution.as_ref());
    let seed = file.random_seed.unwrap_or(0);
    let (points, tpe) = match file.method {
        Method::Grid => {
            let mut points = expand::grid(&base, &domains, max_grid)?;
            if matches!(early_stop, Some(EarlyStop::Asha(_))) {
                // Trials are leased in point order, and ASHA lets the first
                // trials at a rung continue and judges each later one against
                // those before it: in expansion order (the first parameter
                // slowest) each rung would see one corner of the grid first
                // (measured: on the design grid, lr_backbone ascending, it
                // stopped nothing). Seeded random order instead, as Optuna's
                // GridSampler draws grid points; the same file gives the same
                // order. (Median stopping keeps the file's order.)
                use rand::seq::SliceRandom;
                points.shuffle(&mut crate::search::tpe::generator(seed, GRID_ORDER_STREAM));
            }
            if early_stop.as_ref().is_some_and(EarlyStop::rejudges) {
                // Judged again, the trials let through by a rung's first
                // values are cut back towards synchronous successive
                // halving's survivors, and those that reach a rung late meet
                // its rule already on arrival (the best third of nearly
                // all): coming first no longer buys a trial much, so the
                // order may serve the clock. Dearest first (stable: seeded
                // random among equals), so the sweep's last leases are its
                // cheapest trials and no worker idles while another
                // finishes a long one (longest processing time first).
                let mut costed: Vec<(f64, Point)> = points
                    .into_iter()
                    .map(|p| (p.config.relative_cost(), p))
                    .collect();
                costed.sort_by(|a, b| b.0.total_cmp(&a.0));
                points = costed.into_iter().map(|(_, p)| p).collect();
            }
            (points, None)
        }
        Method::Random => (
            expand::random(&base, &domains, count, seed, max_grid)?,
            None,
        ),
        Method::Tpe => {
            let space = Space {
                base: file.base.clone(),
                domains: domains.clone(),
            };
            // The first proposal's values, resolved: a space whose points
            // the config refuses is refused now, not at the first lease.
            let mut rng = crate::search::tpe::generator(seed, 0);
            let first: Vec<(String, Value)> = domains
                .iter()
                .map(|(n, d)| (n.clone(), d.sample(&mut rng)))
                .collect();
            space.point(first)?;
            let settings = TpeSettings {
                count,
                seed,
                startup_trials: file.startup_trials.unwrap_or(DEFAULT_STARTUP_TRIALS),
            };
            (Vec::new(), Some(TpePlan { settings, space }))
        }
    };

    Ok(Sweep {
        name: file.name,
        metric_name: header.metric_name,
        goal: header.goal,
        method: file.method,
        parallelism: file.parallelism.unwrap_or(0),
        max_attempts: header.max_attempts,
        points,
        early_stop,
        tpe,
        artifacts,
        execution,
    })
}
