//! A client's TLS: the CA certificate the coordinator's certificate must be
//! signed by (`--ca-cert`), and for mutual TLS the client's own certificate
//! and key (`--tls-cert`, `--tls-key`). PEM files, checked when read so that
//! a wrong file is named at once.

use super::CredentialsError;
use std::path::{Path, PathBuf};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// A checked client TLS configuration.
#[derive(Debug, Clone)]
pub struct ClientTls(ClientTlsConfig);

impl ClientTls {
    /// Reads the CA certificate and, if both are given, the client
    /// certificate and key. One of the pair alone is refused.
    pub fn load(
        ca_cert: &Path,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<Self, CredentialsError> {
        let ca = read_pem("CA certificate", ca_cert, "CERTIFICATE")?;
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
        match (cert, key) {
            (None, None) => {}
            (Some(cert), Some(key)) => {
                let cert = read_pem("TLS certificate", cert, "CERTIFICATE")?;
                let key = read_pem("TLS key", key, "")?;
                config = config.identity(Identity::from_pem(cert, key));
            }
            _ => return Err(CredentialsError::HalfIdentity),
        }
        Ok(Self(config))
    }

    /// From a configuration made elsewhere (tests).
    pub fn from_config(config: ClientTlsConfig) -> Self {
        Self(config)
    }

    /// The tonic configuration.
    pub fn config(&self) -> &ClientTlsConfig {
        &self.0
    }
}

/// The file's bytes, if it holds a PEM block whose label starts with `marker`
/// (`""`: any label, e.g. `PRIVATE KEY`, `RSA PRIVATE KEY`).
pub fn read_pem(
    what: &'static str,
    path: &Path,
    marker: &'static str,
) -> Result<Vec<u8>, CredentialsError> {
    let bytes = std::fs::read(path).map_err(|source| CredentialsError::UnreadablePem {
        what,
        path: PathBuf::from(path),
        source,
    })?;
    let begin = format!("-----BEGIN {marker}");
    if !String::from_utf8_lossy(&bytes).contains(&begin) {
        return Err(CredentialsError::NotPem {
            what,
            path: PathBuf::from(path),
            marker,
        });
    }
    Ok(bytes)
}
