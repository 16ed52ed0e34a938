//! The coordinator's settings, layered with the `config` crate: defaults,
//! then an optional file (`--config FILE`, TOML or YAML), then the
//! `SWEEP_LISTEN` / `SWEEP_DB` / `SWEEP_LEASE_MS` / `SWEEP_MAX_GRID`
//! environment, then command-line flags. Unknown keys in the file, values of
//! the wrong type and out-of-range values are refused with one message
//! naming the file, variable or setting.

use crate::server::ServerConfig;
use crate::store::DEFAULT_LEASE;
use crate::sweepfile::DEFAULT_MAX_GRID;
use ::config::builder::DefaultState;
use ::config::{Config, ConfigBuilder, Environment, File, FileFormat, FileSourceFile, Map, Value};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Loopback only unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
pub const DEFAULT_DB: &str = "sweep.db";
/// The environment variables read, each naming one setting.
pub const ENV_VARS: [&str; 4] = [
    "SWEEP_LISTEN",
    "SWEEP_DB",
    "SWEEP_LEASE_MS",
    "SWEEP_MAX_GRID",
];

/// The resolved settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CoordinatorConfig {
    pub listen: SocketAddr,
    pub db: PathBuf,
    pub lease_ms: u64,
    pub max_grid: u64,
}

impl CoordinatorConfig {
    /// What [`crate::server::serve`] needs.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            db_path: self.db.clone(),
            lease: Duration::from_millis(self.lease_ms),
            max_grid: self.max_grid,
        }
    }
}

/// What the command line says (each `None` leaves the lower layers be).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub config_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub db: Option<PathBuf>,
    pub lease_ms: Option<u64>,
    pub max_grid: Option<u64>,
}

/// Every setting, as the layers give it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layered {
    listen: String,
    db: PathBuf,
    lease_ms: u64,
    max_grid: u64,
}

/// Resolves the settings from `flags` and the environment `env` (pass
/// `std::env::vars()`; only [`ENV_VARS`] are read).
pub fn load(
    flags: &Flags,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<CoordinatorConfig, String> {
    let mut builder = Config::builder()
        .set_default("listen", DEFAULT_LISTEN)
        .and_then(|b| b.set_default("db", DEFAULT_DB))
        .and_then(|b| b.set_default("lease_ms", DEFAULT_LEASE.as_millis() as u64))
        .and_then(|b| b.set_default("max_grid", DEFAULT_MAX_GRID))
        .map_err(|e| e.to_string())?;

    if let Some(path) = &flags.config_file {
        let file = config_file(path)?;
        // The file alone first, so that its unknown keys are named with it.
        Config::builder()
            .add_source(file.clone())
            .build()
            .and_then(|c| c.try_deserialize::<FileKeys>())
            .map_err(|e| format!("config file {}: {e}", path.display()))?;
        builder = builder.add_source(file);
    }

    let env: Map<String, String> = env
        .into_iter()
        .filter(|(k, v)| ENV_VARS.contains(&k.as_str()) && !v.is_empty())
        .collect();
    let env_names: Vec<String> = env.keys().cloned().collect();
    builder = builder.add_source(Environment::with_prefix("SWEEP").source(Some(env)));

    let set = |b: ConfigBuilder<DefaultState>, key: &str, v: Option<Value>| match v {
        Some(v) => b.set_override(key, v).map_err(|e| e.to_string()),
        None => Ok(b),
    };
    builder = set(builder, "listen", flags.listen.clone().map(Into::into))?;
    builder = set(
        builder,
        "db",
        flags.db.as_ref().map(|p| p.display().to_string().into()),
    )?;
    builder = set(builder, "lease_ms", flags.lease_ms.map(Into::into))?;
    builder = set(builder, "max_grid", flags.max_grid.map(Into::into))?;

    let layered: Layered = builder
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| {
            let from = if env_names.is_empty() {
                String::new()
            } else {
                format!(" (environment: {})", env_names.join(", "))
            };
            format!("settings{from}: {e}")
        })?;
    check(layered)
}

/// Only the keys a config file may hold; each optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FileKeys {
    listen: Option<String>,
    db: Option<PathBuf>,
    lease_ms: Option<u64>,
    max_grid: Option<u64>,
}

/// The file source for `path`, its format from the extension.
fn config_file(path: &Path) -> Result<File<FileSourceFile, FileFormat>, String> {
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => FileFormat::Toml,
        Some("yaml" | "yml") => FileFormat::Yaml,
        _ => {
            return Err(format!(
                "config file {}: name it *.toml or *.yaml so its format is known",
                path.display()
            ))
        }
    };
    if let Err(e) = std::fs::metadata(path) {
        return Err(format!("config file {}: {e}", path.display()));
    }
    Ok(File::from(path).format(format).required(true))
}

/// Range checks on the resolved values.
fn check(l: Layered) -> Result<CoordinatorConfig, String> {
    let listen: SocketAddr = l.listen.parse().map_err(|e| {
        format!(
            "listen: `{}` is not an address like 127.0.0.1:50051 ({e})",
            l.listen
        )
    })?;
    if l.db.as_os_str().is_empty() {
        return Err("db: empty path".into());
    }
    if l.lease_ms < 10 {
        return Err(format!(
            "lease_ms: {} is too short (at least 10 ms)",
            l.lease_ms
        ));
    }
    if l.max_grid == 0 {
        return Err("max_grid: must be at least 1".into());
    }
    Ok(CoordinatorConfig {
        listen,
        db: l.db,
        lease_ms: l.lease_ms,
        max_grid: l.max_grid,
    })
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

    #[test]
    fn defaults_are_loopback_and_sweep_db() {
        let c = load(
            &Flags::default(),
            env(&[("SWEEP_OTHER", "x"), ("PATH", "/bin")]),
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.db, PathBuf::from("sweep.db"));
        assert_eq!((c.lease_ms, c.max_grid), (30_000, 10_000));
    }

    #[test]
    fn file_then_environment_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("c.toml");
        std::fs::write(
            &toml,
            "listen = \"0.0.0.0:7000\"\ndb = \"from-file.db\"\nlease_ms = 1000\nmax_grid = 5\n",
        )
        .unwrap();
        let flags = Flags {
            config_file: Some(toml.clone()),
            ..Flags::default()
        };
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

        let flags = Flags {
            config_file: Some(toml),
            lease_ms: Some(3000),
            listen: Some("127.0.0.1:0".into()),
            ..Flags::default()
        };
        let c = load(
            &flags,
            env(&[("SWEEP_LEASE_MS", "2000"), ("SWEEP_MAX_GRID", "9")]),
        )
        .unwrap();
        assert_eq!((c.listen.port(), c.lease_ms, c.max_grid), (0, 3000, 9));

        let yaml = dir.path().join("c.yaml");
        std::fs::write(&yaml, "max_grid: 77\n").unwrap();
        let c = load(
            &Flags {
                config_file: Some(yaml),
                ..Flags::default()
            },
            env(&[]),
        )
        .unwrap();
        assert_eq!(c.max_grid, 77);
    }

    #[test]
    fn refusals_name_the_file_variable_or_setting() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "lisen = \"0.0.0.0:1\"\n").unwrap();
        let e = load(
            &Flags {
                config_file: Some(bad.clone()),
                ..Flags::default()
            },
            env(&[]),
        )
        .unwrap_err();
        assert!(e.contains("bad.toml") && e.contains("lisen"), "{e}");

        let missing = dir.path().join("missing.toml");
        let e = load(
            &Flags {
                config_file: Some(missing),
                ..Flags::default()
            },
            env(&[]),
        )
        .unwrap_err();
        assert!(e.contains("missing.toml"), "{e}");

        let odd = dir.path().join("settings.ini");
        let e = load(
            &Flags {
                config_file: Some(odd),
                ..Flags::default()
            },
            env(&[]),
        )
        .unwrap_err();
        assert!(e.contains("settings.ini"), "{e}");

        let e = load(&Flags::default(), env(&[("SWEEP_LEASE_MS", "soon")])).unwrap_err();
        assert!(
            e.contains("SWEEP_LEASE_MS") && e.contains("lease_ms"),
            "{e}"
        );

        let e = load(
            &Flags {
                listen: Some("localhost".into()),
                ..Flags::default()
            },
            env(&[]),
        )
        .unwrap_err();
        assert!(e.contains("listen"), "{e}");
        let e = load(
            &Flags {
                max_grid: Some(0),
                ..Flags::default()
            },
            env(&[]),
        )
        .unwrap_err();
        assert!(e.contains("max_grid"), "{e}");
        let e = load(
            &Flags {
                lease_ms: Some(1),
                ..Flags::default()
            },
            env(&[]),
        )
        .unwrap_err();
        assert!(e.contains("lease_ms"), "{e}");
    }
}
