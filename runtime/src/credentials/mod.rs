//! How a client of the coordinator (`sweep`, `sweep-worker`, tests, the lease
//! benchmark) proves who it is and checks whom it talks to: a bearer token
//! read from a token file ([`token_file`]), sent as `authorization: Bearer
//! TOKEN` on every call ([`Bearer`]), and TLS ([`ClientTls`]: the CA that
//! signed the coordinator's certificate, and optionally a client certificate
//! for mutual TLS). [`Credentials::endpoint`] puts them on a channel.
//!
//! Tokens never appear in `Debug` output or error messages.

mod bearer;
mod client_tls;
pub mod token_file;

pub use bearer::Bearer;
pub use client_tls::{read_pem, ClientTls};

use crate::error_chain::error_chain as chain;
use std::path::PathBuf;
use tonic::transport::Endpoint;

/// The environment variable that names a client's or worker's token file.
pub const TOKEN_FILE_ENV: &str = "SWEEP_TOKEN_FILE";

/// A file the credentials could not be read from, named with it.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("token file {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("token file {}: no token in it (one token per line; blank lines and # comments are ignored)", path.display())]
    Empty { path: PathBuf },
    #[error("token file {}, line {line}: a token is printable ASCII without spaces", path.display())]
    BadToken { path: PathBuf, line: usize },
    #[error("token file {}: holds {count} tokens; a client sends one", path.display())]
    SeveralTokens { path: PathBuf, count: usize },
    #[error("{what} {}: {source}", path.display())]
    UnreadablePem {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {}: not a PEM file (no `-----BEGIN {marker}` line)", path.display())]
    NotPem {
        what: &'static str,
        path: PathBuf,
        marker: &'static str,
    },
    #[error("--tls-cert and --tls-key go together, and with --ca-cert")]
    HalfIdentity,
    #[error("`{url}` is not a coordinator URL ({why})")]
    BadUrl { url: String, why: String },
    #[error("TLS set-up for {url}: {why}")]
    Tls { url: String, why: String },
}

/// What a client sends and checks: a token (or none) and TLS (or none).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub bearer: Bearer,
    pub tls: Option<ClientTls>,
}

impl Credentials {
    /// No token, no TLS: what a coordinator without token files accepts.
    pub fn none() -> Self {
        Self::default()
    }

    /// The token in `token_file` (if any) and TLS from `tls` (if any).
    pub fn load(
        token_file: Option<&std::path::Path>,
        tls: Option<ClientTls>,
    ) -> Result<Self, CredentialsError> {
        let bearer = match token_file {
            Some(path) => Bearer::new(&token_file::read_one(path)?),
            None => Bearer::none(),
        };
        Ok(Self { bearer, tls })
    }

    /// What a client's flags name: `--token-file`, `--ca-cert` (TLS on), and
    /// for mutual TLS `--tls-cert` with `--tls-key`.
    pub fn from_files(
        token_file: Option<&std::path::Path>,
        ca_cert: Option<&std::path::Path>,
        tls_cert: Option<&std::path::Path>,
        tls_key: Option<&std::path::Path>,
    ) -> Result<Self, CredentialsError> {
        let tls = match ca_cert {
            Some(ca) => Some(ClientTls::load(ca, tls_cert, tls_key)?),
            None if tls_cert.is_some() || tls_key.is_some() => {
                return Err(CredentialsError::HalfIdentity)
            }
            None => None,
        };
        Self::load(token_file, tls)
    }

    /// The endpoint for `url` (`host:port` alone means `http://`, or
    /// `https://` when TLS is set up); TLS is applied when set up. An
    /// explicit `http://` URL with TLS set up is refused, never downgraded.
    pub fn endpoint(&self, url: &str) -> Result<Endpoint, CredentialsError> {
        let url = self.url(url)?;
        let bad = |why: String| CredentialsError::BadUrl {
            url: url.clone(),
            why,
        };
        let endpoint = Endpoint::from_shared(url.clone()).map_err(|e| bad(e.to_string()))?;
        match &self.tls {
            None => Ok(endpoint),
            Some(tls) => {
                endpoint
                    .tls_config(tls.config().clone())
                    .map_err(|e| CredentialsError::Tls {
                        url: url.clone(),
                        why: chain(&e),
                    })
            }
        }
    }

    /// `url` with its scheme: `https://` for a bare address when TLS is set up.
    pub fn url(&self, url: &str) -> Result<String, CredentialsError> {
        let url = url.trim();
        match (&self.tls, url.split_once("://")) {
            (None, _) => Ok(crate::endpoint::normalize_url(url)),
            (Some(_), None) => Ok(format!("https://{url}")),
            (Some(_), Some(("https", _))) => Ok(url.to_string()),
            (Some(_), Some(_)) => Err(CredentialsError::BadUrl {
                url: url.to_string(),
                why: "TLS is set up (--ca-cert): use https://HOST:PORT".into(),
            }),
        }
    }
}
