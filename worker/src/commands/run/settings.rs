//! `sweep-worker run`'s settings, layered like the coordinator's: defaults,
//! then a settings file (`--config FILE` or `SWEEP_WORKER_CONFIG`, TOML or
//! YAML), then the environment (`SWEEP_` + the key upper-cased:
//! `SWEEP_COORDINATOR`, `SWEEP_TOKEN_FILE`, `SWEEP_CA_CERT`, `SWEEP_SLOTS`,
//! `SWEEP_THREADS`, `SWEEP_BUNDLE`, `SWEEP_DATA_ROOTS` (`:`-separated; the older
//! `SWEEP_DATA_ROOT` too), `SWEEP_CACHE_DIR`, `SWEEP_DRAIN_TIMEOUT`, ...), then
//! the flags. Unknown keys are refused naming the file; values out of range
//! name the setting.
//!
//! `deploy/worker.toml` is a commented example with every key.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use sweep_runtime::layered_settings::{self, LayerError, Layers};
use sweep_runtime::logging::LogFormat;

/// The environment's prefix: `SWEEP_` + a key upper-cased.
pub const ENV_PREFIX: &str = "SWEEP";
/// The variable naming the settings file when `--config` is not given.
pub const CONFIG_ENV: &str = "SWEEP_WORKER_CONFIG";
/// The older name of `SWEEP_DATA_ROOTS`, still read.
const LEGACY_DATA_ROOT_ENV: &str = "SWEEP_DATA_ROOT";
/// Keys whose environment variable is a `:`-separated list.
const LIST_KEYS: &[&str] = &["data_roots"];
/// Most slots one daemon may run.
pub const MAX_SLOTS: u32 = 256;
/// Most trials a slot leases at once (the coordinator caps a bundle at 16).
pub const MAX_BUNDLE: u32 = 16;
/// Trials a slot leases at once unless told.
pub const DEFAULT_BUNDLE: u32 = 4;
/// Most intra-op threads per trial.
pub const MAX_THREADS: u32 = 1024;
/// The longest drain a stop signal may start, seconds (a week).
pub const MAX_DRAIN_SECS: u64 = 7 * 24 * 3600;

/// Every setting of `sweep-worker run`. Field names are the keys of a
/// settings file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSettings {
    /// The coordinator's URL (`host:port` means http, or https with `ca_cert`).
    pub coordinator: Option<String>,
    /// File holding this worker's token (one line).
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) that signed the coordinator's certificate; turns TLS on.
    pub ca_cert: Option<PathBuf>,
    /// This worker's client certificate (PEM), for mutual TLS; with `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// The key of `tls_cert` (PEM).
    pub tls_key: Option<PathBuf>,
    /// Trials run side by side; they split the cores between them.
    pub slots: u32,
    /// Intra-op threads per trial [default: max(1, cores / slots)].
    pub threads: Option<u32>,
    /// Most trials a slot leases at once and runs in lockstep (a process
    /// each, taking turns epoch by epoch): partners that see the same
    /// batches, whose shared work the worker's caches compute once; 1 leases
    /// one at a time.
    pub bundle: u32,
    /// Memory one slot's bundle may take, MiB: a bundle's trials run side by
    /// side, so a slot asks for at most this over the largest trial process
    /// seen so far (1 GiB until one is measured), never more than `bundle`
    /// [default: three quarters of the machine's memory over `slots`].
    pub memory_per_slot_mb: Option<u64>,
    /// The name to register under [default: the host name].
    pub name: Option<String>,
    /// Where reports wait until the coordinator acknowledges them.
    pub state_dir: Option<PathBuf>,
    /// Where trials keep what other trials can use instead of computing it
    /// (phase-1 snapshots, frozen-prefix outputs) [default: `state_dir/shared`];
    /// workers on one machine may share one.
    pub shared_dir: Option<PathBuf>,
    /// Folders a trial's `data.dir` and `backbone.weights` may lead into
    /// [default: the working directory]; `cache_dir` is always one.
    pub data_roots: Vec<PathBuf>,
    /// The cache of backbones and data [default: $XDG_CACHE_HOME/sweep, else
    /// ~/.cache/sweep]; always an allowed data root.
    pub cache_dir: Option<PathBuf>,
    /// After the first stop signal, seconds running trials get before they
    /// are handed back [default: wait for them].
    pub drain_timeout: Option<u64>,
    /// How log lines are written: `text` or `json`.
    pub log_format: LogFormat,
    /// Where to serve Prometheus metrics at `/metrics` (plain HTTP, no
    /// authentication) [default: off]; a loopback address unless
    /// `metrics_insecure`.
    pub metrics_listen: Option<SocketAddr>,
    /// Allow `metrics_listen` on a non-loopback address (anyone who can
    /// reach it reads the worker's counters).
    pub metrics_insecure: bool,
}

impl Default for WorkerSettings {
    /// No coordinator (it must be given), one slot, everything else derived
    /// at start-up.
    fn default() -> Self {
        Self {
            coordinator: None,
            token_file: None,
            ca_cert: None,
            tls_cert: None,
            tls_key: None,
            slots: 1,
            threads: None,
            bundle: DEFAULT_BUNDLE,
            memory_per_slot_mb: None,
            name: None,
            state_dir: None,
            shared_dir: None,
            data_roots: Vec::new(),
            cache_dir: None,
            drain_timeout: None,
            log_format: LogFormat::Text,
            metrics_listen: None,
            metrics_insecure: false,
        }
    }
}

/// The settings flags of `sweep-worker run`; each `None` (or empty list)
/// leaves the lower layers be.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, clap::Args)]
pub struct Flags {
    /// The coordinator's URL, e.g. http://10.0.0.5:50051 (`host:port` means
    /// http) [key: coordinator, env: SWEEP_COORDINATOR].
    #[arg(long, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coordinator: Option<String>,
    /// Trials run side by side; they split the cores between them [default: 1].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_SLOTS as i64))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots: Option<u32>,
    /// Intra-op threads per trial [default: max(1, cores / slots)], applied
    /// by each trial's own process, whatever the trial's config says.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_THREADS as i64))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    /// Most trials a slot leases at once and runs in lockstep (a bundle:
    /// partners that see the same batches, so the worker's caches compute
    /// their shared work once); each keeps its own lease, heartbeats and
    /// report; 1 leases one at a time [default: 4].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_BUNDLE as i64))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<u32>,
    /// Memory one slot's bundle may take, MiB: it asks for at most this over
    /// the largest trial process seen so far (1 GiB until one is measured)
    /// [default: three quarters of the machine's memory over the slots].
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_per_slot_mb: Option<u64>,
    /// The name to register under [default: the host name].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where reports wait until the coordinator acknowledges them
    /// [default: $XDG_STATE_HOME/sweep-worker, else ~/.local/state/sweep-worker].
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    /// Where trials keep what other trials can use instead of computing it
    /// (phase-1 snapshots, frozen-prefix outputs; bounded, least recently
    /// used goes first); workers on one machine may share one folder
    /// [default: STATE_DIR/shared].
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_dir: Option<PathBuf>,
    /// A folder a trial's `data.dir` and `backbone.weights` may lead into
    /// (after symlinks and `..`); repeat for several. A trial naming a path
    /// elsewhere fails, naming the field [default: the working directory;
    /// the cache dir is always allowed; env SWEEP_DATA_ROOTS, `:`-separated].
    #[arg(long = "data-root", value_name = "DIR")]
    #[serde(rename = "data_roots", skip_serializing_if = "Vec::is_empty")]
    pub data_roots: Vec<PathBuf>,
    /// The cache of backbones and data, always an allowed data root
    /// [default: $XDG_CACHE_HOME/sweep, else ~/.cache/sweep].
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    /// After the first SIGINT/SIGTERM, how many seconds running trials get to
    /// finish before they are handed back as if a second signal came: set it
    /// below the supervisor's own stop timeout (systemd's TimeoutStopSec,
    /// Slurm's KillWait or --signal lead time, Kubernetes'
    /// terminationGracePeriodSeconds) so nothing is killed mid-trial
    /// [default: wait for them].
    #[arg(long, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(0..=MAX_DRAIN_SECS))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain_timeout: Option<u64>,
    /// How log lines are written: text for people, json (one object a line) for log shippers.
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// File holding this worker's token (one line), sent as `authorization:
    /// Bearer TOKEN`; needed when the coordinator has token files.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) the coordinator's TLS certificate is signed by;
    /// turns TLS on (`host:port` then means https://).
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// This worker's client certificate (PEM), for a coordinator with
    /// `client_ca` (mutual TLS); with --tls-key and --ca-cert.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// The key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Serve Prometheus metrics (trials, epochs, epoch time, images/s, busy
    /// slots) at http://ADDR/metrics, plain HTTP without authentication; a
    /// loopback address unless --metrics-insecure [default: off; key:
    /// metrics_listen, env: SWEEP_METRICS_LISTEN].
    #[arg(long, value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<SocketAddr>,
    /// Allow --metrics-listen on a non-loopback address.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub metrics_insecure: bool,
}

/// A worker setting that cannot be used, named with where it came from.
#[derive(Debug, thiserror::Error)]
pub enum WorkerSettingsError {
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error("{setting}: {problem}")]
    Invalid {
        setting: &'static str,
        problem: String,
    },
}

/// Resolves the settings: defaults, `file`, the environment `env` (pass
/// `std::env::vars()`), then `flags`; then checks them.
pub fn load(
    file: Option<&Path>,
    flags: &Flags,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<WorkerSettings, WorkerSettingsError> {
    let settings: WorkerSettings = layered_settings::load(Layers {
        file,
        env_prefix: ENV_PREFIX,
        env: with_legacy_names(env),
        list_keys: LIST_KEYS,
        flags,
    })?;
    settings.validate()
}

/// `SWEEP_DATA_ROOT` read as `SWEEP_DATA_ROOTS` when the latter is not set.
fn with_legacy_names(env: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = env.into_iter().collect();
    let new_name = format!("{ENV_PREFIX}_DATA_ROOTS");
    if !env.iter().any(|(k, _)| *k == new_name) {
        for (k, _) in env.iter_mut() {
            if k == LEGACY_DATA_ROOT_ENV {
                *k = new_name.clone();
            }
        }
    }
    env
}

impl WorkerSettings {
    /// The range checks the types alone do not make.
    fn validate(self) -> Result<Self, WorkerSettingsError> {
        let invalid = |setting, problem: &str| WorkerSettingsError::Invalid {
            setting,
            problem: problem.to_string(),
        };
        match self.coordinator.as_deref().map(str::trim) {
            None | Some("") => {
                return Err(invalid(
                    "coordinator",
                    "not set: give --coordinator URL, SWEEP_COORDINATOR, or `coordinator` in the settings file",
                ))
            }
            Some(_) => {}
        }
        if !(1..=MAX_SLOTS).contains(&self.slots) {
            return Err(WorkerSettingsError::Invalid {
                setting: "slots",
                problem: format!("{} is not in 1..={MAX_SLOTS}", self.slots),
            });
        }
        if !(1..=MAX_BUNDLE).contains(&self.bundle) {
            return Err(WorkerSettingsError::Invalid {
                setting: "bundle",
                problem: format!("{} is not in 1..={MAX_BUNDLE}", self.bundle),
            });
        }
        if self.memory_per_slot_mb == Some(0) {
            return Err(invalid(
                "memory_per_slot_mb",
                "0 MiB leaves no room for a trial",
            ));
        }
        if let Some(t) = self.threads.filter(|t| !(1..=MAX_THREADS).contains(t)) {
            return Err(WorkerSettingsError::Invalid {
                setting: "threads",
                problem: format!("{t} is not in 1..={MAX_THREADS}"),
            });
        }
        if let Some(d) = self.drain_timeout.filter(|d| *d > MAX_DRAIN_SECS) {
            return Err(WorkerSettingsError::Invalid {
                setting: "drain_timeout",
                problem: format!("{d} s is longer than a week ({MAX_DRAIN_SECS} s)"),
            });
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(invalid("tls_cert", "goes with tls_key: give both"));
        }
        if self.tls_cert.is_some() && self.ca_cert.is_none() {
            return Err(invalid(
                "tls_cert",
                "needs ca_cert (a client certificate is only sent over TLS)",
            ));
        }
        if self.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(invalid("name", "empty"));
        }
        if let Some(addr) = self.metrics_listen {
            if !addr.ip().is_loopback() && !self.metrics_insecure {
                return Err(WorkerSettingsError::Invalid {
                    setting: "metrics_listen",
                    problem: format!(
                        "{addr} is not a loopback address and /metrics has no authentication: \
                         set metrics_insecure (--metrics-insecure) to serve it there anyway"
                    ),
                });
            }
        }
        Ok(self)
    }

    /// The cache folder: `cache_dir`, else `$XDG_CACHE_HOME/sweep`, else
    /// `~/.cache/sweep`, else `sweep-cache` in the temp dir.
    pub fn cache_dir(&self) -> PathBuf {
        if let Some(dir) = &self.cache_dir {
            return dir.clone();
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".cache"))
            });
        match base {
            Some(base) => base.join("sweep"),
            None => std::env::temp_dir().join("sweep-cache"),
        }
    }

    /// The folders a trial may read: `data_roots` (the working directory if
    /// none) and the cache.
    pub fn data_roots(&self) -> Vec<PathBuf> {
        let mut roots = if self.data_roots.is_empty() {
            vec![PathBuf::from(".")]
        } else {
            self.data_roots.clone()
        };
        roots.push(self.cache_dir());
        roots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn url() -> Flags {
        Flags {
            coordinator: Some("http://127.0.0.1:1".into()),
            ..Flags::default()
        }
    }

    #[test]
    fn every_key_is_a_field() {
        // data_roots, empty by default, is named to the loader as a list key.
        let mut keys = layered_settings::keys::<WorkerSettings>();
        keys.extend(LIST_KEYS.iter().map(|k| k.to_string()));
        keys.sort();
        assert_eq!(
            keys,
            [
                "bundle",
                "ca_cert",
                "cache_dir",
                "coordinator",
                "data_roots",
                "drain_timeout",
                "log_format",
                "memory_per_slot_mb",
                "metrics_insecure",
                "metrics_listen",
                "name",
                "shared_dir",
                "slots",
                "state_dir",
                "threads",
                "tls_cert",
                "tls_key",
                "token_file"
            ]
        );
    }

    #[test]
    fn a_coordinator_must_be_named() {
        let e = load(None, &Flags::default(), env(&[])).unwrap_err();
        assert!(e.to_string().starts_with("coordinator: not set"), "{e}");
        let s = load(
            None,
            &Flags::default(),
            env(&[("SWEEP_COORDINATOR", "h:1")]),
        )
        .unwrap();
        assert_eq!(s.coordinator.as_deref(), Some("h:1"));
    }

    #[test]
    fn file_then_environment_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("worker.toml");
        std::fs::write(
            &file,
            "coordinator = \"https://coord.lab:50051\"\nslots = 2\nthreads = 3\n\
             data_roots = [\"/srv/a\", \"/srv/b\"]\ncache_dir = \"/srv/cache\"\n\
             drain_timeout = 90\nlog_format = \"json\"\ntoken_file = \"/etc/sweep/w.token\"\n",
        )
        .unwrap();
        let s = load(Some(&file), &Flags::default(), env(&[])).unwrap();
        assert_eq!(s.coordinator.as_deref(), Some("https://coord.lab:50051"));
        assert_eq!(
            (s.slots, s.threads, s.drain_timeout),
            (2, Some(3), Some(90))
        );
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(
            s.data_roots(),
            [
                PathBuf::from("/srv/a"),
                PathBuf::from("/srv/b"),
                PathBuf::from("/srv/cache")
            ]
        );

        let s = load(
            Some(&file),
            &Flags::default(),
            env(&[("SWEEP_SLOTS", "4"), ("SWEEP_DATA_ROOTS", "/x:/y")]),
        )
        .unwrap();
        assert_eq!(s.slots, 4);
        assert_eq!(s.data_roots, [PathBuf::from("/x"), PathBuf::from("/y")]);

        let flags = Flags {
            slots: Some(5),
            data_roots: vec![PathBuf::from("/z")],
            ..Flags::default()
        };
        let s = load(Some(&file), &flags, env(&[("SWEEP_SLOTS", "4")])).unwrap();
        assert_eq!(s.slots, 5);
        assert_eq!(s.data_roots, [PathBuf::from("/z")]);
        assert_eq!(s.threads, Some(3), "the file's value stands");
    }

    #[test]
    fn metrics_are_off_by_default_and_loopback_unless_insecure() {
        assert_eq!(load(None, &url(), env(&[])).unwrap().metrics_listen, None);
        let s = load(
            None,
            &url(),
            env(&[("SWEEP_METRICS_LISTEN", "127.0.0.1:9101")]),
        )
        .unwrap();
        assert_eq!(s.metrics_listen, Some("127.0.0.1:9101".parse().unwrap()));
        let public = Flags {
            metrics_listen: Some("0.0.0.0:9101".parse().unwrap()),
            ..url()
        };
        let e = load(None, &public, env(&[])).unwrap_err();
        assert!(
            e.to_string().starts_with("metrics_listen: 0.0.0.0:9101"),
            "{e}"
        );
        let allowed = Flags {
            metrics_insecure: true,
            ..public
        };
        assert!(load(None, &allowed, env(&[])).is_ok());
    }

    #[test]
    fn the_older_data_root_variable_is_read() {
        let s = load(None, &url(), env(&[("SWEEP_DATA_ROOT", "/a:/b")])).unwrap();
        assert_eq!(s.data_roots, [PathBuf::from("/a"), PathBuf::from("/b")]);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("worker.yaml");
        std::fs::write(&file, "coordinator: h:1\nslot: 2\n").unwrap();
        let e = load(Some(&file), &Flags::default(), env(&[])).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("worker.yaml") && text.contains("slot"),
            "{text}"
        );

        std::fs::write(&file, "coordinator: h:1\nslots: 0\n").unwrap();
        let e = load(Some(&file), &Flags::default(), env(&[])).unwrap_err();
        assert_eq!(e.to_string(), "slots: 0 is not in 1..=256");

        let e = load(None, &url(), env(&[("SWEEP_BUNDLE", "17")])).unwrap_err();
        assert_eq!(e.to_string(), "bundle: 17 is not in 1..=16");

        let e = load(None, &url(), env(&[("SWEEP_THREADS", "many")])).unwrap_err();
        assert!(e.to_string().contains("SWEEP_THREADS"), "{e}");

        let e = load(None, &url(), env(&[("SWEEP_DRAIN_TIMEOUT", "999999999")])).unwrap_err();
        assert!(e.to_string().starts_with("drain_timeout:"), "{e}");

        let flags = Flags {
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            ..url()
        };
        let e = load(None, &flags, env(&[])).unwrap_err();
        assert!(e.to_string().contains("needs ca_cert"), "{e}");

        let other = dir.path().join("worker.ini");
        std::fs::write(&other, "").unwrap();
        let e = load(Some(&other), &url(), env(&[])).unwrap_err();
        assert!(e.to_string().contains("*.toml or *.yaml"), "{e}");
    }
}
