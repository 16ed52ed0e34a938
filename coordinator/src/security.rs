//! What guards a coordinator's port: the [`Gate`] (bearer tokens per role)
//! and TLS (certificate and key, and for mutual TLS the CA that signs the
//! workers' client certificates). Read from the files the settings name
//! ([`crate::config::Settings::security`]); every refusal names its file.

use crate::auth::{Gate, TokenFileError};
use std::path::{Path, PathBuf};
use sweep_runtime::credentials::read_pem;
use sweep_runtime::error_chain::error_chain as chain;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

/// The gate and TLS a coordinator serves with.
#[derive(Debug, Clone)]
pub struct Security {
    pub gate: Gate,
    pub tls: Option<ServerTlsConfig>,
}

impl Security {
    /// No tokens, no TLS.
    pub fn open() -> Self {
        Self {
            gate: Gate::open(),
            tls: None,
        }
    }
}

/// A token, certificate or key file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error(transparent)]
    File(#[from] TokenFileError),
    #[error("TLS certificate {} / key {}: {why}", cert.display(), key.display())]
    Tls {
        cert: PathBuf,
        key: PathBuf,
        why: String,
    },
}

/// The server TLS of `cert` + `key` (PEM), requiring client certificates
/// signed by `client_ca` if given. Checked now (a key that does not parse,
/// a certificate that is not one) rather than at the first connection.
pub fn server_tls(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<ServerTlsConfig, SecurityError> {
    let identity = Identity::from_pem(
        read_pem("TLS certificate", cert, "CERTIFICATE")?,
        read_pem("TLS key", key, "")?,
    );
    let mut tls = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = client_ca {
        tls = tls.client_ca_root(Certificate::from_pem(read_pem(
            "client CA certificate",
            ca,
            "CERTIFICATE",
        )?));
    }
    Server::builder()
        .tls_config(tls.clone())
        .map_err(|e| SecurityError::Tls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            why: chain(&e),
        })?;
    Ok(tls)
}
