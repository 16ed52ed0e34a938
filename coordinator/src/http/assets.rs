//! The dashboard's static files, compiled into the binary (the lab may be
//! offline: no CDN): Apache ECharts (pinned, from the npm registry, Apache
//! 2.0, its LICENSE and NOTICE beside it in `coordinator/assets/`), the
//! dashboard's script and style sheet. ECharts' path names its version, so
//! browsers may keep it for a year.

use super::pages::guarded;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The pinned ECharts release.
pub const ECHARTS_VERSION: &str = "6.1.0";
/// Where pages load it from.
pub const ECHARTS_PATH: &str = "/assets/echarts-6.1.0.min.js";

/// `echarts/dist/echarts.min.js` of the npm package `echarts@6.1.0`.
pub const ECHARTS_JS: &[u8] = include_bytes!("../../assets/echarts.min.js");
/// The dashboard's script: pages, tables, charts, live updates.
pub const DASHBOARD_JS: &str = include_str!("../../assets/dashboard.js");
/// The dashboard's style sheet.
pub const DASHBOARD_CSS: &str = include_str!("../../assets/dashboard.css");

const JS: &str = "text/javascript; charset=utf-8";

pub(super) async fn echarts() -> Response {
    let mut r = guarded(JS, ECHARTS_JS);
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    r
}

pub(super) async fn dashboard_js() -> Response {
    no_cache(guarded(JS, DASHBOARD_JS))
}

pub(super) async fn dashboard_css() -> Response {
    no_cache(guarded("text/css; charset=utf-8", DASHBOARD_CSS))
}

fn no_cache(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    r.into_response()
}
