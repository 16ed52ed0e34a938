//! The `sweep artifacts` listing in three formats: a table for people
//! (trial, attempt, name, size, sha256, created), CSV and JSON with every
//! field. Ids and names go through [`crate::sanitize`] in the table.

use super::table::{Align, Table};
use crate::sanitize::cleaned;
use serde::Serialize;
use sweep_proto::v1::ArtifactInfo;

/// A size for people: bytes, KiB or MiB with one decimal.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// One row per artifact; the digest cut to 16 hex digits.
pub fn table(artifacts: &[ArtifactInfo], now_unix_ms: u64) -> String {
    let mut table = Table::new()
        .column("trial", Align::Left)
        .column("attempt", Align::Right)
        .column("name", Align::Left)
        .column("size", Align::Right)
        .column("sha256", Align::Left)
        .column("created", Align::Left);
    for a in artifacts {
        table.row(vec![
            cleaned(&a.trial_id),
            a.attempt.to_string(),
            cleaned(&a.name),
            size(a.size),
            cleaned(&a.sha256.chars().take(16).collect::<String>()),
            super::values::ago(a.created_unix_ms, now_unix_ms),
        ]);
    }
    let mut out = table.render();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[derive(Debug, Serialize)]
struct Row<'a> {
    sweep_id: &'a str,
    trial_id: &'a str,
    attempt: u32,
    name: &'a str,
    size: u64,
    sha256: &'a str,
    created_unix_ms: u64,
}

fn rows(artifacts: &[ArtifactInfo]) -> Vec<Row<'_>> {
    artifacts
        .iter()
        .map(|a| Row {
            sweep_id: &a.sweep_id,
            trial_id: &a.trial_id,
            attempt: a.attempt,
            name: &a.name,
            size: a.size,
            sha256: &a.sha256,
            created_unix_ms: a.created_unix_ms,
        })
        .collect()
}

/// A header row, then one row per artifact (the whole digest).
pub fn csv(artifacts: &[ArtifactInfo]) -> String {
    let headers: Vec<String> = [
        "sweep_id",
        "trial_id",
        "attempt",
        "name",
        "size",
        "sha256",
        "created_unix_ms",
    ]
    .iter()
    .map(|h| h.to_string())
    .collect();
    let rows: Vec<Vec<String>> = rows(artifacts)
        .into_iter()
        .map(|r| {
            vec![
                r.sweep_id.to_string(),
                r.trial_id.to_string(),
                r.attempt.to_string(),
                r.name.to_string(),
                r.size.to_string(),
                r.sha256.to_string(),
                r.created_unix_ms.to_string(),
            ]
        })
        .collect();
    super::csv::document(&headers, &rows)
}

/// A JSON array with one object per artifact, pretty-printed.
pub fn json(artifacts: &[ArtifactInfo]) -> String {
    let mut text =
        serde_json::to_string_pretty(&rows(artifacts)).expect("artifact rows always serialise");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_formats() {
        let a = vec![ArtifactInfo {
            sweep_id: "sw-1".into(),
            trial_id: "t\u{1b}[31m1".into(),
            attempt: 2,
            name: "best.safetensors".into(),
            size: 45 * 1024 * 1024,
            sha256: "ab".repeat(32),
            created_unix_ms: 1_000,
        }];
        let t = table(&a, 61_000);
        assert!(
            t.contains("45.0 MiB") && t.contains("abababababababab ") && !t.contains('\u{1b}'),
            "{t}"
        );
        assert!(csv(&a).starts_with("sweep_id,trial_id,attempt,name,size,sha256,created_unix_ms\n"));
        let j: serde_json::Value = serde_json::from_str(&json(&a)).unwrap();
        assert_eq!(j[0]["size"], 45 * 1024 * 1024);
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(2048), "2.0 KiB");
    }
}
