//! The `sweep workers` listing in three formats: a table for people (id,
//! host, slots, last seen, state, done, failed, environment failures; then
//! why each quarantined worker is), CSV and JSON with every field. Text that
//! came from workers (host names, errors) goes through [`crate::sanitize`]
//! before the table and the quarantine lines print it; CSV and JSON keep it
//! as sent (escaped by their own rules), as every other listing does.

use super::table::{Align, Table};
use super::values;
use crate::sanitize::cleaned;
use serde::Serialize;
use sweep_proto::v1::{WorkerInfo, WorkerState};

/// `active`, `draining`, `quarantined`, `gone`.
pub fn state(state: i32) -> &'static str {
    match WorkerState::try_from(state) {
        Ok(WorkerState::Active) => "active",
        Ok(WorkerState::Draining) => "draining",
        Ok(WorkerState::Quarantined) => "quarantined",
        Ok(WorkerState::Gone) => "gone",
        Ok(WorkerState::Unspecified) | Err(_) => "unknown",
    }
}

/// One row per worker, then one line per quarantined worker saying why.
pub fn table(workers: &[WorkerInfo], now_unix_ms: u64) -> String {
    let mut table = Table::new()
        .column("id", Align::Left)
        .column("host", Align::Left)
        .column("slots", Align::Right)
        .column("last seen", Align::Left)
        .column("state", Align::Left)
        .column("running", Align::Right)
        .column("done", Align::Right)
        .column("failed", Align::Right)
        .column("env failures", Align::Right);
    for w in workers {
        table.row(vec![
            w.worker_id.clone(),
            w.hostname.clone(),
            w.slots.to_string(),
            values::ago(w.last_seen_unix_ms, now_unix_ms),
            state(w.state).to_string(),
            w.running.to_string(),
            w.done.to_string(),
            w.failed.to_string(),
            w.environment_failures.to_string(),
        ]);
    }
    let mut out = table.render();
    for w in workers.iter().filter(|w| !w.quarantine_reason.is_empty()) {
        out.push_str(&format!(
            "\n{} quarantined: {}",
            cleaned(&w.worker_id),
            cleaned(&w.quarantine_reason)
        ));
    }
    if out.ends_with(|c| c != '\n') {
        out.push('\n');
    }
    out
}

/// One worker with every field, for CSV and JSON.
#[derive(Debug, Clone, Serialize)]
struct Row {
    worker_id: String,
    hostname: String,
    slots: u32,
    cores: u32,
    version: String,
    state: &'static str,
    registered_unix_ms: u64,
    last_seen_unix_ms: u64,
    running: u32,
    done: u64,
    failed: u64,
    environment_failures: u64,
    quarantine_reason: String,
}

impl Row {
    fn of(w: &WorkerInfo) -> Self {
        Self {
            worker_id: w.worker_id.clone(),
            hostname: w.hostname.clone(),
            slots: w.slots,
            cores: w.cores,
            version: w.version.clone(),
            state: state(w.state),
            registered_unix_ms: w.registered_unix_ms,
            last_seen_unix_ms: w.last_seen_unix_ms,
            running: w.running,
            done: w.done,
            failed: w.failed,
            environment_failures: w.environment_failures,
            quarantine_reason: w.quarantine_reason.clone(),
        }
    }
}

const CSV_HEADERS: [&str; 13] = [
    "worker_id",
    "hostname",
    "slots",
    "cores",
    "version",
    "state",
    "registered_unix_ms",
    "last_seen_unix_ms",
    "running",
    "done",
    "failed",
    "environment_failures",
    "quarantine_reason",
];

/// A header row, then one row per worker (times as Unix milliseconds).
pub fn csv(workers: &[WorkerInfo]) -> String {
    let headers: Vec<String> = CSV_HEADERS.iter().map(|h| h.to_string()).collect();
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(Row::of)
        .map(|r| {
            vec![
                r.worker_id,
                r.hostname,
                r.slots.to_string(),
                r.cores.to_string(),
                r.version,
                r.state.to_string(),
                r.registered_unix_ms.to_string(),
                r.last_seen_unix_ms.to_string(),
                r.running.to_string(),
                r.done.to_string(),
                r.failed.to_string(),
                r.environment_failures.to_string(),
                r.quarantine_reason,
            ]
        })
        .collect();
    super::csv::document(&headers, &rows)
}

/// A JSON array with one object per worker, pretty-printed.
pub fn json(workers: &[WorkerInfo]) -> String {
    let rows: Vec<Row> = workers.iter().map(Row::of).collect();
    let mut text = serde_json::to_string_pretty(&rows).expect("worker rows always serialise");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workers() -> Vec<WorkerInfo> {
        vec![
            WorkerInfo {
                worker_id: "lab-1-ab12".into(),
                hostname: "lab-1".into(),
                slots: 2,
                cores: 8,
                last_seen_unix_ms: 58_000,
                state: WorkerState::Active as i32,
                done: 12,
                failed: 1,
                running: 2,
                ..Default::default()
            },
            WorkerInfo {
                worker_id: "lab-2-cd34".into(),
                hostname: "lab-2\u{1b}[31m".into(),
                slots: 1,
                last_seen_unix_ms: 1_000,
                state: WorkerState::Quarantined as i32,
                environment_failures: 3,
                quarantine_reason:
                    "its last 3 trials failed for environment reasons (last: no data)".into(),
                ..Default::default()
            },
        ]
    }

    #[test]
    fn the_table_says_when_each_was_seen_and_why_one_is_quarantined() {
        let text = table(&workers(), 61_000);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("id ") && lines[0].ends_with("env failures"));
        assert!(lines[1].starts_with("lab-1-ab12  lab-1 "), "{}", lines[1]);
        assert!(lines[1].contains("3.0s ago") && lines[1].contains("active"));
        assert!(lines[2].contains("1m00s ago") && lines[2].contains("quarantined"));
        assert!(lines[2].ends_with(" 3"), "{}", lines[2]);
        assert!(!text.contains('\u{1b}'), "control characters are dropped");
        assert!(!text.contains("[31m"), "whole escape sequences are: {text}");
        assert_eq!(
            lines[4],
            "lab-2-cd34 quarantined: its last 3 trials failed for environment reasons (last: no data)"
        );
    }

    #[test]
    fn csv_and_json_carry_every_field() {
        let text = csv(&workers());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADERS.join(","));
        assert_eq!(lines[1], "lab-1-ab12,lab-1,2,8,,active,0,58000,2,12,1,0,");
        let json_text = super::json(&workers());
        // JSON keeps the data as sent, escaped: no raw control byte is printed.
        assert!(!json_text.contains('\u{1b}'), "{json_text}");
        let json: serde_json::Value = serde_json::from_str(&json_text).unwrap();
        assert_eq!(json[1]["state"], "quarantined");
        assert_eq!(json[1]["environment_failures"], 3);
        assert_eq!(json[1]["hostname"], "lab-2\u{1b}[31m");
    }
}
