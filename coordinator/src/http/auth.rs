//! The dashboard's gate: the client role's tokens (the gRPC [`Gate`]),
//! shown either as `Authorization: Bearer TOKEN` (scrapers, scripts, a
//! reverse proxy that adds it) or as the `sweep_token` cookie, which
//! `POST /login` sets (HttpOnly, SameSite=Strict) once the token given in its
//! form is accepted. A refused browser page is sent to `/login`; anything
//! else answers 401 (403 for a worker token) with a pointer to it.
//!
//! [`Gate`]: crate::auth::Gate

use super::HttpState;
use crate::auth::Role;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

/// The cookie that carries the token after `/login`.
pub const COOKIE: &str = "sweep_token";

/// The longest token read from a header, cookie or form.
const MAX_TOKEN_BYTES: usize = 1024;

/// The bearer token of the `Authorization` header, else the cookie's.
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    bearer(headers).or_else(|| cookie(headers))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= MAX_TOKEN_BYTES)
        .then_some(token)
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, token)| token)
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_BYTES)
}

/// Lets a request with a client-role token through; answers 401 (403 for a
/// worker token) otherwise.
pub(super) async fn require_client(
    State(state): State<HttpState>,
    request: Request,
    next: Next,
) -> Response {
    match state
        .gate
        .check_token(Role::Client, presented_token(request.headers()))
    {
        Ok(()) => next.run(request).await,
        Err(status) => {
            if wants_html(request.headers()) {
                return Redirect::to("/login").into_response();
            }
            let code = if status.code() == tonic::Code::PermissionDenied {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
            (
                code,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                format!(
                    "{}: send `Authorization: Bearer TOKEN` or sign in at /login\n",
                    status.message()
                ),
            )
                .into_response()
        }
    }
}

/// A browser asking for a page (sent to `/login` when refused).
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

pub(super) async fn login_form() -> Html<&'static str> {
    Html(LOGIN_PAGE)
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    token: String,
}

/// Checks the token once; if it is a client token, keeps it in the cookie
/// and sends the browser to the dashboard.
pub(super) async fn login(State(state): State<HttpState>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim();
    let usable = !token.is_empty()
        && token.len() <= MAX_TOKEN_BYTES
        && token
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b';' && b != b',');
    if !usable || state.gate.check_token(Role::Client, Some(token)).is_err() {
        return (StatusCode::UNAUTHORIZED, Html(LOGIN_REFUSED)).into_response();
    }
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

const LOGIN_PAGE: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>sweep: sign in</title><link rel="icon" href="data:,"></head>
<body><h1>sweep</h1><form method="post" action="/login"><label>Client token <input type="password" name="token" autofocus></label> <button type="submit">Sign in</button></form>
<p>A token from the coordinator's client_tokens_file; it is kept in an HttpOnly cookie.</p></body></html>"#;

const LOGIN_REFUSED: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>sweep: sign in</title><link rel="icon" href="data:,"></head>
<body><h1>sweep</h1><p>That token is not a client token.</p><p><a href="/login">Try again</a></p></body></html>"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_wins_over_the_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_token(&h), None);
        h.insert(
            header::COOKIE,
            "a=b; sweep_token=from-cookie".parse().unwrap(),
        );
        assert_eq!(presented_token(&h), Some("from-cookie"));
        h.insert(header::AUTHORIZATION, "Bearer from-header".parse().unwrap());
        assert_eq!(presented_token(&h), Some("from-header"));
    }
}
