//! Expansion of the parameter domains into unique, validated points: every
//! combination for a grid (its size checked before anything is built), or
//! `count` seeded draws for a random sweep (repeats redrawn, a bounded number
//! of times).

use super::apply::{describe, Base};
use super::domain::Domain;
use super::error::Problem;
use super::Point;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::collections::HashSet;

/// Refuses a grid of more than `max_grid` points, before anything is built
/// (the size in `u128` with overflow checks).
pub fn check_grid_size(domains: &[(String, Domain)], max_grid: u64) -> Result<(), Problem> {
    let lens = value_counts(domains);
    let size = grid_size(domains, &lens);
    match size {
        Some(n) if n <= u128::from(max_grid) => Ok(()),
        _ => Err(Problem::GridTooLarge {
            size: size.map_or_else(|| "more than 2^128".to_string(), |n| n.to_string()),
            factors: domains
                .iter()
                .zip(&lens)
                .map(|((name, _), n)| format!("{name}: {n}"))
                .collect::<Vec<_>>()
                .join(" × "),
            max_grid,
        }),
    }
}

/// How many values each (grid) domain lists.
fn value_counts(domains: &[(String, Domain)]) -> Vec<usize> {
    domains
        .iter()
        .map(|(_, d)| match d {
            Domain::Values(v) => v.len(),
            _ => unreachable!("grid domains are checked to be `values`"),
        })
        .collect()
}

/// Every combination of the domains (all `values`), first parameter slowest.
pub fn grid(
    base: &Base,
    domains: &[(String, Domain)],
    max_grid: u64,
) -> Result<Vec<Point>, Problem> {
    check_grid_size(domains, max_grid)?;
    let lens = value_counts(domains);

    let mut points = Vec::new();
    let mut seen = HashSet::new();
    let mut digits = vec![0usize; domains.len()];
    loop {
        let point: Vec<(String, Value)> = domains
            .iter()
            .zip(&digits)
            .map(|((name, d), &i)| match d {
                Domain::Values(v) => (name.clone(), v[i].clone()),
                _ => unreachable!(),
            })
            .collect();
        push_unique(base, point, &mut seen, &mut points)?;
        // Mixed-radix increment, last parameter fastest.
        let mut k = digits.len();
        loop {
            if k == 0 {
                return Ok(points);
            }
            k -= 1;
            digits[k] += 1;
            if digits[k] < lens[k] {
                break;
            }
            digits[k] = 0;
        }
    }
}

/// The product of the value counts, `None` past `u128`.
fn grid_size(domains: &[(String, Domain)], lens: &[usize]) -> Option<u128> {
    debug_assert_eq!(domains.len(), lens.len());
    lens.iter()
        .try_fold(1u128, |acc, &n| acc.checked_mul(n as u128))
}

/// Refuses a `count` over `max_grid`, or over the distinct combinations the
/// domains have (products in `u128` with overflow checks).
pub fn check_count(domains: &[(String, Domain)], count: u64, max_grid: u64) -> Result<(), Problem> {
    let count_error = |message: String| {
        Err(Problem::Field {
            field: "count",
            message,
        })
    };
    if count > max_grid {
        return count_error(format!("{count} is more than max_grid = {max_grid}"));
    }
    let distinct = domains.iter().try_fold(1u128, |acc, (_, d)| {
        d.distinct().and_then(|n| acc.checked_mul(n))
    });
    match distinct {
        Some(n) if n < u128::from(count) => count_error(format!(
            "{count} unique points asked for, but the parameters only have {n} distinct combinations (use `method: grid` to run them all)"
        )),
        _ => Ok(()),
    }
}

/// `count` unique points drawn with a generator seeded by `seed`.
pub fn random(
    base: &Base,
    domains: &[(String, Domain)],
    count: u64,
    seed: u64,
    max_grid: u64,
) -> Result<Vec<Point>, Problem> {
    check_count(domains, count, max_grid)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let max_draws = count.saturating_mul(10).saturating_add(1000);
    let mut points = Vec::with_capacity(count as usize);
    let mut seen = HashSet::new();
    let mut draws = 0u64;
    while (points.len() as u64) < count {
        if draws == max_draws {
            return Err(Problem::Field {
                field: "count",
                message: format!(
                    "only {} unique points found in {draws} draws, {count} asked for; fewer unique points exist than asked",
                    points.len()
                ),
            });
        }
        draws += 1;
        let point: Vec<(String, Value)> = domains
            .iter()
            .map(|(name, d)| (name.clone(), d.sample(&mut rng)))
            .collect();
        push_unique(base, point, &mut seen, &mut points)?;
    }
    Ok(points)
}

/// Resolves `point` and keeps it unless its config was already seen.
fn push_unique(
    base: &Base,
    params: Vec<(String, Value)>,
    seen: &mut HashSet<String>,
    points: &mut Vec<Point>,
) -> Result<(), Problem> {
    let config = base.resolve(&params)?;
    let trial_id = config.content_id();
    if seen.insert(trial_id.clone()) {
        points.push(Point {
            trial_id,
            config,
            params,
        });
    } else {
        tracing::debug!("{} repeats an earlier point; kept once", describe(&params));
    }
    Ok(())
}
