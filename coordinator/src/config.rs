//! The coordinator's settings, declared once in [`Settings`] and layered with
//! the `config` crate: defaults ([`Settings::default`]), then an optional
//! file (`--config FILE`, TOML or YAML, the same keys), then the environment
//! (`SWEEP_` and the key upper-cased: `SWEEP_LISTEN`, `SWEEP_DB`,
//! `SWEEP_LEASE_MS`, `SWEEP_MAX_GRID`, `SWEEP_MAX_MESSAGE_BYTES`,
//! `SWEEP_MAX_SWEEP_FILE_BYTES`, `SWEEP_MAX_WATCHERS`, `SWEEP_CLIENT_TOKENS_FILE`, ...),
//! then command-line [`Flags`].
//!
//! Safe by default: a non-loopback `listen` is refused unless TLS
//! (`tls_cert`, `tls_key`) and tokens (`client_tokens_file`,
//! `worker_tokens_file`) are set up, or `insecure` is set.
//!
//! `sweep-coordinator` and `sweep run`'s embedded coordinator both go through
//! [`load`]; `sweep run` only sets `listen` and `db` as flags of its own.
//! Unknown keys in the file, values of the wrong type and out-of-range values
//! are refused with one message naming the file, variable or setting.

use crate::auth::Gate;
use crate::security::{self, Security, SecurityError};
use crate::server::ServerConfig;
use crate::service::{
    ServiceLimits, DEFAULT_MAX_ARTIFACT_BYTES, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_WATCHERS,
};
use crate::store::{WorkerPolicy, DEFAULT_LEASE};
use crate::sweepfile::{DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_GRID};
use serde::{Deserialize, Deserializer, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use sweep_runtime::layered_settings::{self, LayerError, Layers};

/// The prefix of the environment variables: `SWEEP_` + the key upper-cased.
pub const ENV_PREFIX: &str = "SWEEP";
/// The shortest lease accepted, in ms.
pub const MIN_LEASE_MS: u64 = 10;
/// The smallest message cap accepted: every fixed cap on a field fits below it.
pub const MIN_MESSAGE_BYTES: usize = 64 * 1024;

/// Every coordinator setting. Field names are the keys of a settings file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to serve on; port 0 picks a free one.
    #[serde(deserialize_with = "socket_address")]
    pub listen: SocketAddr,
    /// SQLite database file, created if missing.
    pub db: PathBuf,
    /// Address of the HTTP side (`/metrics`, the dashboard); off unless set.
    /// Behind the client tokens; a non-loopback one needs them (or `insecure`).
    #[serde(deserialize_with = "optional_socket_address")]
    pub http_listen: Option<SocketAddr>,
    /// How long a trial stays leased without a heartbeat, in ms.
    pub lease_ms: u64,
    /// Most trials one sweep may expand to.
    pub max_grid: u64,
    /// Largest gRPC message decoded or encoded, bytes (at least 64 KiB).
    pub max_message_bytes: usize,
    /// Largest sweep file accepted, bytes, checked before parsing (below
    /// `max_message_bytes`).
    pub max_sweep_file_bytes: usize,
    /// Most `WatchSweep` streams open at once.
    pub max_watchers: usize,
    /// Largest artifact (best weights, a figure) a worker may upload, bytes.
    pub max_artifact_bytes: u64,
    /// Tokens of the client role (`SweepService`), one per line; re-read on
    /// SIGHUP. With `worker_tokens_file` (both or neither; the same file may
    /// serve both roles). Neither: no tokens required (loopback only).
    pub client_tokens_file: Option<PathBuf>,
    /// Tokens of the worker role (`WorkerService`), one per line.
    pub worker_tokens_file: Option<PathBuf>,
    /// The coordinator's TLS certificate (PEM); with `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// The key of `tls_cert` (PEM).
    pub tls_key: Option<PathBuf>,
    /// CA certificate (PEM) that client certificates must be signed by
    /// (mutual TLS); needs `tls_cert`.
    pub client_ca: Option<PathBuf>,
    /// Allow a non-loopback `listen` without TLS and tokens.
    pub insecure: bool,
    /// Hand-backs a trial may have without counting an attempt; each one
    /// beyond counts as a failed attempt.
    pub max_handbacks: u32,
    /// A worker whose latest this-many trials failed for environment
    /// reasons (each a different trial) is quarantined: it leases nothing.
    pub quarantine_after: u32,
    /// A trial that failed for environment reasons on this many different
    /// workers fails.
    pub poison_after: u32,
}

impl Default for Settings {
    /// Loopback only, `sweep.db` in the working directory, 30 s leases,
    /// grids up to 10,000 trials, 10 hand-backs per trial, quarantine after
    /// 3 environment failures, a trial fails after 3 workers, 4 MiB messages,
    /// 1 MiB sweep files, 256 watchers.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            db: PathBuf::from("sweep.db"),
            http_listen: None,
            lease_ms: DEFAULT_LEASE.as_millis() as u64,
            max_grid: DEFAULT_MAX_GRID,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_sweep_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_watchers: DEFAULT_MAX_WATCHERS,
            max_artifact_bytes: DEFAULT_MAX_ARTIFACT_BYTES,
            client_tokens_file: None,
            worker_tokens_file: None,
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            insecure: false,
            max_handbacks: WorkerPolicy::default().max_handbacks,
            quarantine_after: WorkerPolicy::default().quarantine_after,
            poison_after: WorkerPolicy::default().poison_after,
        }
    }
}

impl Settings {
    /// What [`crate::server::serve`] needs.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            db_path: self.db.clone(),
            lease: Duration::from_millis(self.lease_ms),
            max_grid: self.max_grid,
            policy: WorkerPolicy {
                max_handbacks: self.max_handbacks,
                quarantine_after: self.quarantine_after,
                poison_after: self.poison_after,
            },
            limits: ServiceLimits {
                max_message_bytes: self.max_message_bytes,
                max_sweep_file_bytes: self.max_sweep_file_bytes,
                max_watchers: self.max_watchers,
                max_artifact_bytes: self.max_artifact_bytes,
            },
        }
    }

    /// Reads the token files and the TLS files the settings name.
    pub fn security(&self) -> Result<Security, SecurityError> {
        let gate = match (&self.client_tokens_file, &self.worker_tokens_file) {
            (Some(client), Some(worker)) => Gate::from_files(client, worker)?,
            _ => Gate::open(),
        };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                Some(security::server_tls(cert, key, self.client_ca.as_deref())?)
            }
            _ => None,
        };
        Ok(Security { gate, tls })
    }

    /// The range checks the types alone do not make.
    fn validate(self) -> Result<Self, SettingsError> {
        let invalid = |setting, problem: String| SettingsError::Invalid { setting, problem };
        if self.client_tokens_file.is_some() != self.worker_tokens_file.is_some() {
            return Err(invalid(
                "client_tokens_file",
                "goes with worker_tokens_file: give both (the same file may serve both roles)"
                    .into(),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(invalid("tls_cert", "goes with tls_key: give both".into()));
        }
        if self.client_ca.is_some() && self.tls_cert.is_none() {
            return Err(invalid(
                "client_ca",
                "needs TLS (tls_cert and tls_key)".into(),
            ));
        }
        if let Some(missing) = self.exposed_without() {
            return Err(invalid(
                "listen",
                format!(
                    "{} is reachable from other machines, and without {missing} anyone there \
                     could submit, forge results and requeue trials; set {missing} up \
                     (deploy/README.md), or pass --insecure",
                    self.listen
                ),
            ));
        }
        if let Some(http) = self.http_exposed_without_tokens() {
            return Err(invalid(
                "http_listen",
                format!(
                    "{http} is reachable from other machines, and without tokens \
                     (client_tokens_file, worker_tokens_file) anyone there could read every \
                     sweep; set them up (deploy/README.md), or pass --insecure"
                ),
            ));
        }
        if self.db.as_os_str().is_empty() {
            return Err(invalid("db", "empty path".into()));
        }
        if self.lease_ms < MIN_LEASE_MS {
            return Err(invalid(
                "lease_ms",
                format!(
                    "{} is too short (at least {MIN_LEASE_MS} ms)",
                    self.lease_ms
                ),
            ));
        }
        if self.max_grid == 0 {
            return Err(invalid("max_grid", "must be at least 1".into()));
        }
        if self.quarantine_after == 0 {
            return Err(invalid("quarantine_after", "must be at least 1".into()));
        }
        if self.poison_after == 0 {
            return Err(invalid("poison_after", "must be at least 1".into()));
        }
        if self.max_message_bytes < MIN_MESSAGE_BYTES {
            return Err(invalid(
                "max_message_bytes",
                format!(
                    "{} is too small (at least {MIN_MESSAGE_BYTES})",
                    self.max_message_bytes
                ),
            ));
        }
        if self.max_sweep_file_bytes == 0 || self.max_sweep_file_bytes >= self.max_message_bytes {
            return Err(invalid(
                "max_sweep_file_bytes",
                format!(
                    "{} must be at least 1 and below max_message_bytes ({}), which carries the file",
                    self.max_sweep_file_bytes, self.max_message_bytes
                ),
            ));
        }
        if self.max_artifact_bytes == 0 {
            return Err(invalid("max_artifact_bytes", "must be at least 1".into()));
        }
        if self.max_watchers == 0 {
            return Err(invalid("max_watchers", "must be at least 1".into()));
        }
        Ok(self)
    }

    /// What a non-loopback `listen` lacks ("TLS", "tokens" or both), unless
    /// `insecure`.
    fn exposed_without(&self) -> Option<&'static str> {
        if self.insecure || self.listen.ip().is_loopback() {
            return None;
        }
        match (self.tls_cert.is_some(), self.client_tokens_file.is_some()) {
            (true, true) => None,
            (true, false) => Some("tokens (client_tokens_file, worker_tokens_file)"),
            (false, true) => Some("TLS (tls_cert, tls_key)"),
            (false, false) => {
                Some("TLS (tls_cert, tls_key) and tokens (client_tokens_file, worker_tokens_file)")
            }
        }
    }

    /// A non-loopback `http_listen` without tokens, unless `insecure`.
    fn http_exposed_without_tokens(&self) -> Option<SocketAddr> {
        let http = self.http_listen?;
        let guarded = self.insecure || http.ip().is_loopback() || self.client_tokens_file.is_some();
        (!guarded).then_some(http)
    }

    /// The keys a file or the environment may set (the field names).
    #[cfg(test)]
    fn keys() -> Vec<String> {
        layered_settings::keys::<Settings>()
    }
}

/// `listen` as text, so a bad address is refused with an example of a good one.
fn socket_address<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|e| {
        serde::de::Error::custom(format!(
            "`{text}` is not an address like 127.0.0.1:50051 ({e})"
        ))
    })
}

/// `http_listen` as text (absent or empty: off).
fn optional_socket_address<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let text = Option::<String>::deserialize(d)?.unwrap_or_default();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{text}` is not an address like 127.0.0.1:8080 ({e})"
        ))
    })
}

/// The settings flags `sweep-coordinator` and `sweep run` both take (each
/// `None` leaves the lower layers be).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, clap::Args)]
pub struct SharedFlags {
    /// Settings file (*.toml or *.yaml) with keys listen, db, lease_ms, max_grid, ...
    #[arg(long = "config", value_name = "FILE")]
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
    /// How long a trial stays leased without a heartbeat, ms (a dead worker's
    /// trial goes back to the others after this) [default: 30000].
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
    /// Most trials one sweep may expand to [default: 10000].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_grid: Option<u64>,
    /// Largest gRPC message, either way, bytes [default: 4194304].
    #[arg(long, value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_message_bytes: Option<usize>,
    /// Largest sweep file accepted, bytes, checked before parsing [default: 1048576].
    #[arg(long, value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_sweep_file_bytes: Option<usize>,
    /// Most WatchSweep streams open at once [default: 256].
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_watchers: Option<usize>,
    /// Largest artifact a worker may upload, bytes [default: 268435456].
    #[arg(long, value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_artifact_bytes: Option<u64>,
}

/// Every settings flag: the shared ones, and where to serve and store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, clap::Args)]
pub struct Flags {
    #[command(flatten)]
    #[serde(flatten)]
    pub shared: SharedFlags,
    /// Address to serve on [default: 127.0.0.1:50051; port 0 picks a free one].
    #[arg(long, value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// SQLite database file, created if missing [default: sweep.db].
    #[arg(long, value_name = "PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<PathBuf>,
    /// Serve /metrics (and the dashboard) over HTTP on this address [default: off].
    #[arg(long = "http", value_name = "ADDR")]
    #[serde(rename = "http_listen", skip_serializing_if = "Option::is_none")]
    pub http_listen: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub security: SecurityFlags,
}

/// Who may call (token files) and how the port is guarded (TLS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, clap::Args)]
pub struct SecurityFlags {
    /// Client-role tokens, one per line (`#` comments); re-read on SIGHUP.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_tokens_file: Option<PathBuf>,
    /// Worker-role tokens, one per line (`#` comments); re-read on SIGHUP.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_tokens_file: Option<PathBuf>,
    /// TLS certificate (PEM), with --tls-key.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// CA certificate (PEM) that client certificates must be signed by (mutual TLS).
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
    /// Serve on a non-loopback address without TLS and tokens.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
}

/// A setting that cannot be used, named with where it came from.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A file, variable or flag that could not be read as a setting.
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error("{setting}: {problem}")]
    Invalid {
        setting: &'static str,
        problem: String,
    },
}

/// Resolves the settings: defaults, `flags.shared.config_file`, the
/// environment `env` (pass `std::env::vars()`; only `SWEEP_` + a key is
/// read), then `flags`; then validates them.
pub fn load(
    flags: &Flags,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, SettingsError> {
    let settings: Settings = layered_settings::load(Layers {
        file: flags.shared.config_file.as_deref(),
        env_prefix: ENV_PREFIX,
        env: env.into_iter().collect(),
        list_keys: &[],
        flags,
    })?;
    settings.validate()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn with_file(path: &Path) -> Flags {
        Flags {
            shared: SharedFlags {
                config_file: Some(path.to_path_buf()),
                ..SharedFlags::default()
            },
            ..Flags::default()
        }
    }

    #[test]
    fn defaults_are_loopback_and_sweep_db() {
        let c = load(
            &Flags::default(),
            env(&[("SWEEP_OTHER", "x"), ("PATH", "/bin")]),
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:50051");
        assert_eq!(c.db, PathBuf::from("sweep.db"));
        assert_eq!((c.lease_ms, c.max_grid), (30_000, 10_000));
        assert_eq!(c, Settings::default());
    }

    #[test]
    fn the_environment_names_every_setting() {
        let mut keys = Settings::keys();
        keys.sort();
        assert_eq!(
            keys,
            [
                "client_ca",
                "client_tokens_file",
                "db",
                "http_listen",
                "insecure",
                "lease_ms",
                "listen",
                "max_artifact_bytes",
                "max_grid",
                "max_handbacks",
                "max_message_bytes",
                "max_sweep_file_bytes",
                "max_watchers",
                "poison_after",
                "quarantine_after",
                "tls_cert",
                "tls_key",
                "worker_tokens_file"
            ]
        );
    }

    #[test]
    fn file_then_environment_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("c.toml");
        std::fs::write(
            &toml,
            "listen = \"0.0.0.0:7000\"\ninsecure = true\ndb = \"from-file.db\"\nlease_ms = 1000\nmax_grid = 5\n",
        )
        .unwrap();
        let flags = with_file(&toml);
        let c = load(&flags, env(&[])).unwrap();
        assert_eq!(
            (
                c.listen.port(),
                c.db.to_str().unwrap(),
                c.lease_ms,
                c.max_grid
            ),
            (7000, "from-file.db", 1000, 5)
        );

        let c = load(
            &flags,
            env(&[("SWEEP_DB", "from-env.db"), ("SWEEP_LEASE_MS", "2000")]),
        )
        .unwrap();
        assert_eq!(
            (c.db.to_str().unwrap(), c.lease_ms, c.max_grid),
            ("from-env.db", 2000, 5)
        );

        let mut flags = with_file(&toml);
        flags.shared.lease_ms = Some(3000);
        flags.listen = Some("127.0.0.1:0".into());
        let c = load(
            &flags,
            env(&[("SWEEP_LEASE_MS", "2000"), ("SWEEP_MAX_GRID", "9")]),
        )
        .unwrap();
        assert_eq!((c.listen.port(), c.lease_ms, c.max_grid), (0, 3000, 9));

        let yaml = dir.path().join("c.yaml");
        std::fs::write(&yaml, "max_grid: 77\n").unwrap();
        let c = load(&with_file(&yaml), env(&[])).unwrap();
        assert_eq!(c.max_grid, 77);
    }

    #[test]
    fn refusals_name_the_file_variable_or_setting() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "lisen = \"0.0.0.0:1\"\n").unwrap();
        let e = load(&with_file(&bad), env(&[])).unwrap_err().to_string();
        assert!(e.contains("bad.toml") && e.contains("lisen"), "{e}");

        let missing = dir.path().join("missing.toml");
        let e = load(&with_file(&missing), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.toml"), "{e}");

        let odd = dir.path().join("settings.ini");
        let e = load(&with_file(&odd), env(&[])).unwrap_err().to_string();
        assert!(e.contains("settings.ini"), "{e}");

        let e = load(&Flags::default(), env(&[("SWEEP_LEASE_MS", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("SWEEP_LEASE_MS") && e.contains("lease_ms"),
            "{e}"
        );

        let refused = |flags: Flags| load(&flags, env(&[])).unwrap_err().to_string();
        let e = refused(Flags {
            listen: Some("localhost".into()),
            ..Flags::default()
        });
        assert!(e.contains("listen") && e.contains("127.0.0.1:50051"), "{e}");
        let e = refused(Flags {
            shared: SharedFlags {
                max_grid: Some(0),
                ..SharedFlags::default()
            },
            ..Flags::default()
        });
        assert!(e.contains("max_grid"), "{e}");
        let e = refused(Flags {
            shared: SharedFlags {
                lease_ms: Some(1),
                ..SharedFlags::default()
            },
            ..Flags::default()
        });
        assert!(e.contains("lease_ms"), "{e}");
    }

    #[test]
    fn limits_are_layered_and_checked() {
        let c = load(&Flags::default(), env(&[])).unwrap();
        assert_eq!(c.server_config().limits, ServiceLimits::default());
        assert_eq!(
            (c.max_message_bytes, c.max_sweep_file_bytes, c.max_watchers),
            (4 << 20, 1 << 20, 256)
        );
        let flags = Flags {
            shared: SharedFlags {
                max_watchers: Some(3),
                ..SharedFlags::default()
            },
            ..Flags::default()
        };
        let c = load(
            &flags,
            env(&[
                ("SWEEP_MAX_MESSAGE_BYTES", "200000"),
                ("SWEEP_MAX_SWEEP_FILE_BYTES", "1000"),
                ("SWEEP_MAX_WATCHERS", "9"),
            ]),
        )
        .unwrap();
        let limits = c.server_config().limits;
        assert_eq!(
            (
                limits.max_message_bytes,
                limits.max_sweep_file_bytes,
                limits.max_watchers
            ),
            (200_000, 1000, 3)
        );
        let refused =
            |pairs: &[(&str, &str)]| load(&Flags::default(), env(pairs)).unwrap_err().to_string();
        let e = refused(&[("SWEEP_MAX_MESSAGE_BYTES", "1000")]);
        assert!(e.starts_with("max_message_bytes: "), "{e}");
        let e = refused(&[("SWEEP_MAX_SWEEP_FILE_BYTES", "4194304")]);
        assert!(e.starts_with("max_sweep_file_bytes: "), "{e}");
        let e = refused(&[("SWEEP_MAX_SWEEP_FILE_BYTES", "0")]);
        assert!(e.starts_with("max_sweep_file_bytes: "), "{e}");
        let e = refused(&[("SWEEP_MAX_WATCHERS", "0")]);
        assert!(e.starts_with("max_watchers: "), "{e}");
    }

    #[test]
    fn the_http_side_is_off_unless_set_and_needs_tokens_off_loopback() {
        assert_eq!(load(&Flags::default(), env(&[])).unwrap().http_listen, None);
        let c = load(
            &Flags::default(),
            env(&[("SWEEP_HTTP_LISTEN", "127.0.0.1:8080")]),
        )
        .unwrap();
        assert_eq!(c.http_listen, Some("127.0.0.1:8080".parse().unwrap()));
        let open = Flags {
            http_listen: Some("0.0.0.0:8080".into()),
            ..Flags::default()
        };
        let e = load(&open, env(&[])).unwrap_err().to_string();
        assert!(e.contains("http_listen") && e.contains("tokens"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::write(&tokens, "t-0123456789\n").unwrap();
        let guarded = Flags {
            security: SecurityFlags {
                client_tokens_file: Some(tokens.clone()),
                worker_tokens_file: Some(tokens),
                ..SecurityFlags::default()
            },
            ..open.clone()
        };
        assert!(load(&guarded, env(&[])).is_ok());
        let e = load(
            &Flags {
                http_listen: Some("localhost".into()),
                ..Flags::default()
            },
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("127.0.0.1:8080"), "{e}");
    }

    #[test]
    fn a_non_loopback_address_needs_tls_and_tokens_or_insecure() {
        let exposed = |security: SecurityFlags| {
            load(
                &Flags {
                    listen: Some("0.0.0.0:50051".into()),
                    security,
                    ..Flags::default()
                },
                env(&[]),
            )
        };
        let e = exposed(SecurityFlags::default()).unwrap_err().to_string();
        assert!(
            e.starts_with("listen: 0.0.0.0:50051")
                && e.contains("TLS (tls_cert, tls_key) and tokens")
                && e.contains("--insecure")
                && !e.contains('\n'),
            "{e}"
        );
        let tokens = SecurityFlags {
            client_tokens_file: Some("c.tokens".into()),
            worker_tokens_file: Some("w.tokens".into()),
            ..SecurityFlags::default()
        };
        let e = exposed(tokens.clone()).unwrap_err().to_string();
        assert!(e.contains("without TLS (tls_cert, tls_key) anyone"), "{e}");
        let both = SecurityFlags {
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            ..tokens
        };
        assert!(exposed(both).is_ok());
        let insecure = SecurityFlags {
            insecure: true,
            ..SecurityFlags::default()
        };
        assert!(exposed(insecure).unwrap().insecure);
        // Loopback stays open without anything.
        assert!(load(&Flags::default(), env(&[])).is_ok());
        // The environment names them too.
        let c = load(
            &Flags::default(),
            env(&[
                ("SWEEP_CLIENT_TOKENS_FILE", "/etc/sweep/c"),
                ("SWEEP_WORKER_TOKENS_FILE", "/etc/sweep/w"),
            ]),
        )
        .unwrap();
        assert_eq!(c.client_tokens_file, Some(PathBuf::from("/etc/sweep/c")));
    }

    #[test]
    fn security_settings_come_in_pairs() {
        let refused = |security: SecurityFlags| {
            load(
                &Flags {
                    security,
                    ..Flags::default()
                },
                env(&[]),
            )
            .unwrap_err()
            .to_string()
        };
        let e = refused(SecurityFlags {
            client_tokens_file: Some("c".into()),
            ..SecurityFlags::default()
        });
        assert!(e.starts_with("client_tokens_file: "), "{e}");
        let e = refused(SecurityFlags {
            tls_key: Some("k".into()),
            ..SecurityFlags::default()
        });
        assert!(e.starts_with("tls_cert: "), "{e}");
        let e = refused(SecurityFlags {
            client_ca: Some("ca".into()),
            ..SecurityFlags::default()
        });
        assert!(e.starts_with("client_ca: "), "{e}");
    }

    #[test]
    fn unusable_security_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::write(&tokens, "# none yet\n").unwrap();
        let not_pem = dir.path().join("cert.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let settings = Settings {
            client_tokens_file: Some(tokens.clone()),
            worker_tokens_file: Some(tokens.clone()),
            ..Settings::default()
        };
        let e = settings.security().unwrap_err().to_string();
        assert!(
            e.contains(&tokens.display().to_string()) && e.contains("no token"),
            "{e}"
        );
        let settings = Settings {
            tls_cert: Some(not_pem.clone()),
            tls_key: Some(not_pem.clone()),
            ..Settings::default()
        };
        let e = settings.security().unwrap_err().to_string();
        assert!(
            e.contains("TLS certificate") && e.contains("cert.pem"),
            "{e}"
        );
        let bad_key = dir.path().join("key.pem");
        std::fs::write(
            &not_pem,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        std::fs::write(
            &bad_key,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let settings = Settings {
            tls_cert: Some(not_pem),
            tls_key: Some(bad_key),
            ..Settings::default()
        };
        let e = settings.security().unwrap_err().to_string();
        assert!(e.contains("cert.pem") && e.contains("key.pem"), "{e}");
    }
}
