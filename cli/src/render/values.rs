//! The text of one cell: state names, metrics, swept values, durations.

use serde_json::Value;
use sweep_proto::v1::{SweepState, TrialState};

/// `running`, `finished`, `cancelled` (lowercase, as users type them).
pub fn sweep_state(state: i32) -> &'static str {
    match SweepState::try_from(state) {
        Ok(SweepState::Running) => "running",
        Ok(SweepState::Finished) => "finished",
        Ok(SweepState::Cancelled) => "cancelled",
        Ok(SweepState::Unspecified) | Err(_) => "unknown",
    }
}

/// `pending`, `running`, `done`, `failed`, `cancelled`.
pub fn trial_state(state: i32) -> &'static str {
    match TrialState::try_from(state) {
        Ok(TrialState::Pending) => "pending",
        Ok(TrialState::Running) => "running",
        Ok(TrialState::Done) => "done",
        Ok(TrialState::Failed) => "failed",
        Ok(TrialState::Cancelled) => "cancelled",
        Ok(TrialState::Stopped) => "stopped",
        Ok(TrialState::Unspecified) | Err(_) => "unknown",
    }
}

/// A metric or accuracy for people: four decimals.
pub fn metric(value: f64) -> String {
    format!("{value:.4}")
}

/// `-` for a missing value.
pub fn or_dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "-".to_string())
}

/// A swept value (JSON text from the coordinator) as a short cell: strings
/// bare, lists as `[a,b]`, numbers as written. Text that is not JSON is kept.
pub fn swept_value(json_text: &str) -> String {
    match serde_json::from_str::<Value>(json_text) {
        Ok(v) => value(&v),
        Err(_) => json_text.to_string(),
    }
}

/// A parsed swept value as a short cell (see [`swept_value`]).
pub fn value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(value).collect();
            format!("[{}]", inner.join(","))
        }
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => number(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// A float the way people write learning rates: `1e-5`, `0.001`, `0.1`.
pub fn number(f: f64) -> String {
    if f != 0.0 && f.is_finite() && (f.abs() < 1e-3 || f.abs() >= 1e6) {
        format!("{f:e}")
    } else {
        f.to_string()
    }
}

/// A swept value for a table read by people: numbers that are not whole cut
/// to 4 significant digits (`0.1622`, `2.974e-5`); everything else as
/// [`value`]. CSV and JSON keep the exact value.
pub fn value_for_table(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if !v.is_i64() && !v.is_u64() => number(significant(f, 4)),
        _ => value(v),
    }
}

/// `f` rounded to `digits` significant digits.
fn significant(f: f64, digits: i32) -> f64 {
    if f == 0.0 || !f.is_finite() {
        return f;
    }
    let scale = 10f64.powi(digits - 1 - f.abs().log10().floor() as i32);
    let rounded = (f * scale).round() / scale;
    // Parse back the shortest text of the rounded value (drops float noise).
    format!("{rounded:.*e}", (digits - 1) as usize)
        .parse()
        .unwrap_or(rounded)
}

/// A wall time: `12.3s`, `4m05s`, `1h02m`, `3d04h`.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "-".to_string();
    }
    if s < 60.0 {
        return format!("{s:.1}s");
    }
    let total = s.round() as u64;
    if total < 3600 {
        format!("{}m{:02}s", total / 60, total % 60)
    } else if total < 86_400 {
        format!("{}h{:02}m", total / 3600, (total % 3600) / 60)
    } else {
        format!("{}d{:02}h", total / 86_400, (total % 86_400) / 3600)
    }
}

/// How long ago `then_ms` was, at `now_ms` (both Unix milliseconds).
pub fn ago(then_ms: u64, now_ms: u64) -> String {
    format!(
        "{} ago",
        seconds(now_ms.saturating_sub(then_ms) as f64 / 1000.0)
    )
}

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swept_values_are_short() {
        assert_eq!(swept_value("\"cosine\""), "cosine");
        assert_eq!(swept_value("[\"layer3\",\"layer4\"]"), "[layer3,layer4]");
        assert_eq!(swept_value("1e-5"), "1e-5");
        assert_eq!(swept_value("0.001"), "0.001");
        assert_eq!(swept_value("0.1"), "0.1");
        assert_eq!(swept_value("true"), "true");
        assert_eq!(swept_value("3"), "3");
        assert_eq!(swept_value("2.5e-4"), "2.5e-4");
        assert_eq!(swept_value("1e7"), "1e7");
        assert_eq!(swept_value("not json"), "not json");
    }

    #[test]
    fn durations_pick_a_unit() {
        assert_eq!(seconds(3.04), "3.0s");
        assert_eq!(seconds(245.0), "4m05s");
        assert_eq!(seconds(3720.0), "1h02m");
        assert_eq!(seconds(3.0 * 86_400.0 + 4.0 * 3600.0), "3d04h");
        assert_eq!(seconds(f64::NAN), "-");
        assert_eq!(ago(1_000, 61_000), "1m00s ago");
    }

    #[test]
    fn state_names() {
        assert_eq!(sweep_state(SweepState::Finished as i32), "finished");
        assert_eq!(trial_state(TrialState::Done as i32), "done");
        assert_eq!(trial_state(99), "unknown");
        assert_eq!(metric(0.97854), "0.9785");
    }

    #[test]
    fn table_values_keep_four_significant_digits() {
        let v = |t: &str| value_for_table(&serde_json::from_str(t).unwrap());
        assert_eq!(v("0.16218869865877827"), "0.1622");
        assert_eq!(v("0.001058726943878967"), "0.001059");
        assert_eq!(v("0.00002974324106808173"), "2.974e-5");
        assert_eq!(v("1e-5"), "1e-5");
        assert_eq!(v("0.1"), "0.1");
        assert_eq!(v("704"), "704");
        assert_eq!(v("\"cosine\""), "cosine");
    }
}
