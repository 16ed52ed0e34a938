//! Settings in layers, the same way for every daemon: a type's defaults, then
//! an optional file (TOML or YAML, told by its extension), then the
//! environment (a prefix + the key upper-cased), then command-line flags,
//! through the `config` crate. The caller's settings type decides the keys
//! (`#[serde(deny_unknown_fields)]` refuses any other, naming it), and runs
//! its own range checks on the result.
//!
//! `sweep-coordinator` (and `sweep run`'s embedded coordinator) and
//! `sweep-worker run` both load through [`load`].

use ::config::{Config, ConfigError, Environment, File, FileFormat, FileSourceFile, Map, Source};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A layer that could not be read, named with where it came from.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("config file {}: name it *.toml or *.yaml so its format is known", path.display())]
    UnknownFileFormat { path: PathBuf },
    #[error("config file {}: {source}", path.display())]
    UnreadableFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {}: {source}", path.display())]
    BadFile {
        path: PathBuf,
        source: Box<ConfigError>,
    },
    /// `from` names the environment variables that took part, if any.
    #[error("settings{from}: {source}")]
    BadValue {
        from: String,
        source: Box<ConfigError>,
    },
}

/// Where the layers above the defaults come from.
pub struct Layers<'a, F: Serialize> {
    /// The settings file, if one was named.
    pub file: Option<&'a Path>,
    /// The environment's prefix: `SWEEP` reads `SWEEP_` + a key upper-cased.
    pub env_prefix: &'a str,
    /// The process environment (pass `std::env::vars()`); only variables
    /// that name a key are read, empty ones are left out.
    pub env: Vec<(String, String)>,
    /// Keys whose environment variable is a `:`-separated list (empty items
    /// dropped).
    pub list_keys: &'a [&'a str],
    /// The flags, serialised with `None` left out so lower layers stand.
    pub flags: &'a F,
}

/// Resolves `S` from its defaults and `layers`, without range checks.
pub fn load<S, F>(layers: Layers<'_, F>) -> Result<S, LayerError>
where
    S: Serialize + DeserializeOwned + Default,
    F: Serialize,
{
    let no_source = |source| LayerError::BadValue {
        from: String::new(),
        source: Box::new(source),
    };
    let mut builder =
        Config::builder().add_source(Config::try_from(&S::default()).map_err(no_source)?);
    if let Some(path) = layers.file {
        builder = builder.add_source(checked_file::<S>(path)?);
    }
    let env = variables_naming_keys::<S>(layers.env_prefix, layers.list_keys, layers.env);
    let from = if env.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = env.keys().map(String::as_str).collect();
        format!(" (environment: {})", names.join(", "))
    };
    let (lists, scalars): (Map<String, String>, Map<String, String>) =
        env.into_iter().partition(|(name, _)| {
            layers
                .list_keys
                .iter()
                .any(|key| *name == variable(layers.env_prefix, key))
        });
    // A list variable is split on `:` here (config's own list parsing would
    // also turn every other value that looks like a number into one).
    let mut list_layer = Config::builder();
    for key in layers.list_keys {
        if let Some(text) = lists.get(&variable(layers.env_prefix, key)) {
            let items: Vec<String> = text
                .split(':')
                .filter(|item| !item.is_empty())
                .map(str::to_string)
                .collect();
            list_layer =
                list_layer
                    .set_override(*key, items)
                    .map_err(|source| LayerError::BadValue {
                        from: from.clone(),
                        source: Box::new(source),
                    })?;
        }
    }
    let list_layer = list_layer.build().map_err(|source| LayerError::BadValue {
        from: from.clone(),
        source: Box::new(source),
    })?;
    builder
        .add_source(Environment::with_prefix(layers.env_prefix).source(Some(scalars)))
        .add_source(list_layer)
        .add_source(Config::try_from(layers.flags).map_err(no_source)?)
        .build()
        .and_then(Config::try_deserialize::<S>)
        .map_err(|source| LayerError::BadValue {
            from,
            source: Box::new(source),
        })
}

/// The keys a file or the environment may set: the top-level field names of
/// `S`'s defaults (but for lists empty by default, which the caller names in
/// [`Layers::list_keys`]).
pub fn keys<S: Serialize + Default>() -> Vec<String> {
    Config::try_from(&S::default())
        .and_then(|c| Source::collect(&c))
        .map(|table| table.into_keys().collect())
        .unwrap_or_default()
}

/// The environment variables that name a key of `S` or one of `list_keys`,
/// the empty ones left out.
fn variables_naming_keys<S: Serialize + Default>(
    prefix: &str,
    list_keys: &[&str],
    env: Vec<(String, String)>,
) -> Map<String, String> {
    let mut keys = keys::<S>();
    keys.extend(list_keys.iter().map(|k| k.to_string()));
    let names: Vec<String> = keys.iter().map(|key| variable(prefix, key)).collect();
    env.into_iter()
        .filter(|(k, v)| names.contains(k) && !v.is_empty())
        .collect()
}

/// The environment variable of `key`: the prefix, `_`, the key upper-cased.
fn variable(prefix: &str, key: &str) -> String {
    format!("{prefix}_{}", key.to_uppercase())
}

/// The file source for `path`, its format from the extension, checked alone
/// first so that its unknown keys are named with it.
fn checked_file<S: DeserializeOwned>(
    path: &Path,
) -> Result<File<FileSourceFile, FileFormat>, LayerError> {
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => FileFormat::Toml,
        Some("yaml" | "yml") => FileFormat::Yaml,
        _ => {
            return Err(LayerError::UnknownFileFormat {
                path: path.to_path_buf(),
            })
        }
    };
    std::fs::metadata(path).map_err(|source| LayerError::UnreadableFile {
        path: path.to_path_buf(),
        source,
    })?;
    let file = File::from(path).format(format).required(true);
    Config::builder()
        .add_source(file.clone())
        .build()
        .and_then(Config::try_deserialize::<S>)
        .map_err(|source| LayerError::BadFile {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
    Ok(file)
}
