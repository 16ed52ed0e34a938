//! The dashboard's pages: one HTML shell per page kind, with no data in it
//! (the script reads the ids from the address and the data from `/api`, so
//! nothing from the store is ever spliced into HTML), and the headers every
//! page carries: a content security policy that allows only this origin's
//! scripts, no framing, no referrer.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The policy: scripts and data from here only (ECharts sets inline styles).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The headers of every page and asset.
pub(super) fn guarded(content_type: &'static str, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

fn shell(page: &'static str) -> Response {
    guarded(
        "text/html; charset=utf-8",
        format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>sweep</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/dashboard.css"></head>
<body data-page="{page}">
<header><a class="brand" href="/">sweep</a><nav><a href="/">Sweeps</a><a href="/workers">Workers</a></nav><span id="live"></span></header>
<main id="main"><p class="muted">Loading…</p></main>
<script src="{echarts}"></script><script src="/assets/dashboard.js"></script>
</body></html>"#,
            echarts = super::assets::ECHARTS_PATH,
        ),
    )
}

pub(super) async fn sweeps_page() -> Response {
    shell("sweeps")
}

pub(super) async fn sweep_page() -> Response {
    shell("sweep")
}

pub(super) async fn trial_page() -> Response {
    shell("trial")
}

pub(super) async fn workers_page() -> Response {
    shell("workers")
}
