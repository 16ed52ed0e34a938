//! `sweep report`: one self-contained HTML file of a sweep — the sweep page
//! (summary, trials table, learning curves, parallel coordinates,
//! importance, slice plots) and the best trial's page — with ECharts, the
//! dashboard's script and style sheet and every number inlined, so it opens
//! from disk, offline, and can be attached to a paper or a message.
//!
//! The data travel as one JSON document in a `<script type="application/json">`
//! element (every `<` escaped, so no text from the store can close it); the
//! dashboard's script reads it instead of `/api` and sorts and pages the
//! table itself.

use super::{json, SweepView};
use crate::http::assets::{DASHBOARD_CSS, DASHBOARD_JS, ECHARTS_JS};
use crate::store::{Store, StoreResult};
use serde_json::{json, Value};

/// Most trial rows a report carries (the best first).
pub const MAX_REPORT_ROWS: usize = 10_000;

/// The report of `view`, the best trial's details read from `store`.
pub fn render_from_store(store: &Store, view: &SweepView, generated: &str) -> StoreResult<String> {
    let best = match view.best() {
        Some(row) => json::trial(store, view, &row.trial_id)?,
        None => None,
    };
    Ok(render(view, best, generated))
}

/// The report of `view` with `best`, the best trial's page document (see
/// [`json::trial_from_parts`]), if there is a best trial.
pub fn render(view: &SweepView, best: Option<Value>, generated: &str) -> String {
    let id = &view.summary.sweep_id;
    let base = format!("/api/sweeps/{id}");
    let best_id = view
        .best()
        .filter(|_| best.is_some())
        .map(|r| r.trial_id.clone());
    let mut docs = serde_json::Map::new();
    docs.insert(base.clone(), json::sweep(view));
    docs.insert(format!("{base}/curves"), json::curves(view));
    docs.insert(format!("{base}/points"), json::points(view));
    if let (Some(trial_id), Some(doc)) = (&best_id, best) {
        docs.insert(format!("{base}/trials/{trial_id}"), doc);
    }
    let rows: Vec<&_> = view.rows.iter().take(MAX_REPORT_ROWS).collect();
    let data = json!({
        "sweep_id": id,
        "generated": generated,
        "best": best_id,
        "docs": docs,
        "table": {
            "param_names": view.param_names,
            "metric_name": view.summary.metric_name,
            "rows": rows,
            "total": view.rows.len(),
        },
    });
    page(&data, id)
}

/// JSON safe inside a `<script>` element: no `<` (so no `</script>`), and
/// no U+2028/U+2029.
fn script_safe(value: &Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Text safe inside HTML text and attributes.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A script safe inside a `<script>` element.
fn inline_script(code: &str) -> String {
    code.replace("</script", "<\\/script")
}

fn page(data: &Value, sweep_id: &str) -> String {
    let echarts = String::from_utf8_lossy(ECHARTS_JS);
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>sweep report: {title}</title><style>{css}</style></head>
<body data-page="sweep" data-sweep="{title}">
<header><span class="brand">sweep report</span><nav></nav><span id="live"></span></header>
<main id="main"><p class="muted">Loading…</p></main>
<script type="application/json" id="sweep-data">{data}</script>
<script>{echarts}</script>
<script>{js}</script>
</body></html>
"#,
        title = html_escape(sweep_id),
        css = DASHBOARD_CSS.replace("</style", "<\\/style"),
        data = script_safe(data),
        echarts = inline_script(&echarts),
        js = inline_script(DASHBOARD_JS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_from_the_store_closes_a_script_element() {
        let hostile = json!({"name": "</script><script>alert(1)</script>\u{2028}"});
        let text = script_safe(&hostile);
        assert!(!text.contains('<') && !text.contains('\u{2028}'), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, hostile);
        assert_eq!(
            html_escape("<a href=\"x\">"),
            "&lt;a href=&quot;x&quot;&gt;"
        );
    }
}
