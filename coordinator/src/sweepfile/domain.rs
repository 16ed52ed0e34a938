//! A parameter's domain: a list of values (grid and random) or a
//! distribution to draw from (random and TPE only), checked when it is built.

use super::error::Problem;
use super::spec::{Method, ParamSpec};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where one parameter's values come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    /// `{values: [...]}`: these, in order (grid), or one of them (random).
    Values(Vec<Value>),
    /// `{uniform: [a, b]}`: a float in `[a, b)`.
    Uniform(f64, f64),
    /// `{log_uniform: [a, b]}`: a float whose log is uniform in `[ln a, ln b)`.
    LogUniform(f64, f64),
    /// `{int_uniform: [a, b]}`: an integer in `[a, b]`, both ends included.
    IntUniform(i64, i64),
}

impl Domain {
    /// Checks a parameter's spec: exactly one kind, sensible bounds, and
    /// distributions only under `method: random` or `tpe`.
    /// A `values` list longer than `max_values` is refused (it could never run in full).
    pub fn from_spec(
        name: &str,
        spec: &ParamSpec,
        method: Method,
        max_values: u64,
    ) -> Result<Domain, Problem> {
        let bad = |message: String| {
            Err(Problem::Parameter {
                name: name.to_string(),
                message,
            })
        };
        let given = [
            spec.values.is_some(),
            spec.uniform.is_some(),
            spec.log_uniform.is_some(),
            spec.int_uniform.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given != 1 {
            return bad(format!(
                "give exactly one of `values`, `uniform`, `log_uniform`, `int_uniform` (got {given})"
            ));
        }
        let domain = if let Some(values) = &spec.values {
            if values.is_empty() {
                return bad("`values` is empty".into());
            }
            if values.len() as u64 > max_values {
                return bad(format!(
                    "`values` lists {} values, more than max_grid = {max_values}",
                    values.len()
                ));
            }
            Domain::Values(values.clone())
        } else if let Some([a, b]) = spec.uniform {
            // b - a finite too: the sampler scales by it.
            if !(a.is_finite() && b.is_finite() && a < b && (b - a).is_finite()) {
                return bad(format!(
                    "`uniform: [{a:?}, {b:?}]` needs finite bounds with a < b (and b - a finite)"
                ));
            }
            Domain::Uniform(a, b)
        } else if let Some([a, b]) = spec.log_uniform {
            if !(a.is_finite() && b.is_finite() && a > 0.0 && a < b) {
                return bad(format!(
                    "`log_uniform: [{a:?}, {b:?}]` needs finite bounds with 0 < a < b"
                ));
            }
            Domain::LogUniform(a, b)
        } else if let Some([a, b]) = spec.int_uniform {
            // Compared, never subtracted: no overflow at the ends of i64.
            if a > b {
                return bad(format!("`int_uniform: [{a}, {b}]` needs a ≤ b"));
            }
            Domain::IntUniform(a, b)
        } else {
            unreachable!("exactly one kind was counted above")
        };
        if method == Method::Grid && !matches!(domain, Domain::Values(_)) {
            return bad(format!(
                "`{}` draws random values, so it needs `method: random` or `tpe` (a grid takes `values` only)",
                domain.kind()
            ));
        }
        Ok(domain)
    }

    /// The key this domain was written with.
    pub fn kind(&self) -> &'static str {
        match self {
            Domain::Values(_) => "values",
            Domain::Uniform(..) => "uniform",
            Domain::LogUniform(..) => "log_uniform",
            Domain::IntUniform(..) => "int_uniform",
        }
    }

    /// How many distinct values it can give; `None` for a continuous one.
    pub fn distinct(&self) -> Option<u128> {
        match self {
            Domain::Values(v) => Some(v.len() as u128),
            // In i128: b - a + 1 ≤ 2^64 for any i64 pair with a ≤ b.
            Domain::IntUniform(a, b) => Some((i128::from(*b) - i128::from(*a) + 1) as u128),
            Domain::Uniform(..) | Domain::LogUniform(..) => None,
        }
    }

    /// Values worth type-checking against the config before expanding:
    /// every listed value, or both ends of a range.
    pub fn probes(&self) -> Vec<Value> {
        match self {
            Domain::Values(v) => v.clone(),
            Domain::Uniform(a, b) | Domain::LogUniform(a, b) => {
                vec![Value::from(*a), Value::from(*b)]
            }
            Domain::IntUniform(a, b) => vec![Value::from(*a), Value::from(*b)],
        }
    }

    /// One random value.
    pub fn sample(&self, rng: &mut impl Rng) -> Value {
        match self {
            Domain::Values(v) => v[rng.random_range(0..v.len())].clone(),
            Domain::Uniform(a, b) => Value::from(rng.random_range(*a..*b)),
            Domain::LogUniform(a, b) => {
                Value::from(rng.random_range(a.ln()..b.ln()).exp().clamp(*a, *b))
            }
            Domain::IntUniform(a, b) => Value::from(rng.random_range(*a..=*b)),
        }
    }
}
