//! Applies a point's values to the sweep's `base` config: serialise the base
//! to JSON, set each dotted path, deserialise back (type errors name the
//! parameter and value) and validate (errors name the point and the field).

use super::domain::Domain;
use super::error::{shown, Problem};
use super::paths;
use serde_json::Value;
use sweep_proto::trial::TrialConfig;

/// The base config, serialised once.
pub struct Base {
    json: Value,
}

impl Base {
    pub fn new(base: &TrialConfig) -> Self {
        let mut json = serde_json::to_value(base).expect("a TrialConfig always serialises");
        // Fields the canonical JSON leaves out at their default are still
        // fields a parameter may set.
        let defaults = [
            ("/model", base.model.name()),
            (
                "/augment/mode",
                if base.augment.mode.is_fast() {
                    "fast"
                } else {
                    "exact"
                },
            ),
        ];
        for (pointer, value) in defaults {
            if json.pointer(pointer).is_none() {
                let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
                if let Some(Value::Object(m)) =
                    json.pointer_mut(if parent.is_empty() { "" } else { parent })
                {
                    m.insert(key.to_string(), Value::String(value.to_string()));
                }
            }
        }
        Self { json }
    }

    /// Refuses a parameter whose path the config does not have, listing the
    /// closest ones that exist.
    pub fn check_path(&self, name: &str) -> Result<(), Problem> {
        if paths::exists(&self.json, name) {
            return Ok(());
        }
        let close = paths::closest(&self.json, name, 3);
        Err(Problem::Parameter {
            name: name.to_string(),
            message: format!(
                "no such field in the trial config; closest: {}",
                close
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    /// Refuses a parameter whose values do not fit the field's type.
    pub fn check_values(&self, name: &str, domain: &Domain) -> Result<(), Problem> {
        for value in domain.probes() {
            self.deserialize(&[(name.to_string(), value)])?;
        }
        Ok(())
    }

    /// Every parameter's values were type-checked alone ([`Self::check_parameter`]),
    /// so a type error here is the first parameter that fails alone.
    pub fn resolve(&self, point: &[(String, Value)]) -> Result<TrialConfig, Problem> {
        let config = self.deserialize(point)?;
        config.validate().map_err(|source| Problem::InvalidPoint {
            point: describe(point),
            source,
        })?;
        Ok(config)
    }

    /// The base with `point` set, as a config; a type error names the
    /// parameter and value that caused it.
    fn deserialize(&self, point: &[(String, Value)]) -> Result<TrialConfig, Problem> {
        let mut json = self.json.clone();
        for (path, value) in point {
            paths::set(&mut json, path, value.clone()).map_err(|()| Problem::Parameter {
                name: path.clone(),
                message: "no such field in the trial config".into(),
            })?;
        }
        fill_model_placeholder(&mut json);
        serde_json::from_value(json).map_err(|source| {
            // Name the parameter: the first one that fails on its own.
            let culprit = point.iter().find(|(n, v)| {
                let mut alone = self.json.clone();
                paths::set(&mut alone, n, v.clone()).is_err()
                    || serde_json::from_value::<TrialConfig>(alone).is_err()
            });
            let (name, value) = culprit.or(point.first()).cloned().unwrap_or_default();
            Problem::ParameterType {
                name,
                value,
                source,
            }
        })
    }
}

/// `backbone.weights` may say `{model}`, replaced by the point's model
/// (`resnet18` when unset), so one file can sweep `model` over
/// `data/backbone/{model}-fashion-32.safetensors`. Stored trials hold the
/// resolved path.
fn fill_model_placeholder(json: &mut Value) {
    let model = json
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(sweep_proto::trial::Model::Resnet18.name())
        .to_string();
    if let Some(Value::String(w)) = json.pointer_mut("/backbone/weights") {
        if w.contains("{model}") {
            *w = w.replace("{model}", &model);
        }
    }
}

/// `point {phase2.lr_backbone: 0.001, loss.label_smoothing: 0.1}`, or
/// `base` for the point of a sweep without parameters.
pub fn describe(point: &[(String, Value)]) -> String {
    if point.is_empty() {
        return "base".into();
    }
    let parts: Vec<String> = point
        .iter()
        .map(|(n, v)| format!("{n}: {}", shown(v)))
        .collect();
    format!("point {{{}}}", parts.join(", "))
}
