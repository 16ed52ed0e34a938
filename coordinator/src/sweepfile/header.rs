//! Checks of a sweep file's top-level keys: `name`, `metric`, `max_attempts`
//! and the keys that belong to one `method` only (`count`, `random_seed`,
//! `startup_trials`).

use super::error::Problem;
use super::limits::{DEFAULT_MAX_ATTEMPTS, MAX_ATTEMPTS, MAX_NAME_CHARS};
use super::spec::{Goal, Method, MetricSpec, SweepFile};
use sweep_proto::trial::RANKING_METRICS;

/// The checked top-level settings.
pub struct Header {
    pub metric_name: String,
    pub goal: Goal,
    pub max_attempts: u32,
}

/// Checks everything but `base` and `parameters`.
pub fn check(file: &SweepFile) -> Result<Header, Problem> {
    let field = |field: &'static str, message: String| Problem::Field { field, message };
    if file.name.trim().is_empty() {
        return Err(field("name", "must not be empty".into()));
    }
    let chars = file.name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(field(
            "name",
            format!("{chars} characters, more than {MAX_NAME_CHARS}"),
        ));
    }
    let (metric_name, goal) = check_metric(&file.metric)?;
    let max_attempts = file.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
        return Err(field(
            "max_attempts",
            format!("must be within [1, {MAX_ATTEMPTS}], got {max_attempts}"),
        ));
    }
    let method_error = match (file.method, file.count, file.random_seed) {
        (Method::Grid, Some(_), _) => Some((
            "count",
            "only for `method: random` or `tpe` (a grid runs every combination)",
        )),
        (Method::Grid, None, Some(_)) => {
            Some(("random_seed", "only for `method: random` or `tpe`"))
        }
        (Method::Random, None, _) => Some(("count", "required for `method: random`")),
        (Method::Tpe, None, _) => Some(("count", "required for `method: tpe`")),
        (Method::Random | Method::Tpe, Some(0), _) => Some(("count", "must be at least 1")),
        _ => None,
    }
    .or_else(|| {
        (file.method != Method::Tpe && file.startup_trials.is_some())
            .then_some(("startup_trials", "only for `method: tpe`"))
    });
    if let Some((name, message)) = method_error {
        return Err(field(name, message.into()));
    }
    Ok(Header {
        metric_name,
        goal,
        max_attempts,
    })
}

/// The ranking metric and its goal; `val_acc`/maximize when the file names none.
fn check_metric(metric: &Option<MetricSpec>) -> Result<(String, Goal), Problem> {
    let Some(m) = metric else {
        return Ok(("val_acc".into(), Goal::Maximize));
    };
    let refuse = |message: String| {
        Err(Problem::Field {
            field: "metric.name",
            message,
        })
    };
    let names = || {
        RANKING_METRICS
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Never echo more than a name's worth of what the file wrote.
    let written: String = m.name.chars().take(MAX_NAME_CHARS).collect();
    if m.name.starts_with("test") {
        return refuse(format!(
            "`{written}` is a test metric, and test never ranks (it would leak the test set into the choice); use one of {}",
            names()
        ));
    }
    let Some((_, natural)) = RANKING_METRICS.iter().find(|(n, _)| *n == m.name) else {
        return refuse(format!(
            "unknown metric `{written}`; expected one of {}",
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
