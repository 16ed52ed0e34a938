//! Applies a point's values to the sweep's `base` config: serialise the base
//! to JSON, set each dotted path, deserialise back (type errors name the
//! parameter and value) and validate (errors name the point and the field).

use super::domain::Domain;
use super::paths;
use serde_json::Value;
use sweep_proto::trial::TrialConfig;

/// The base config, serialised once.
pub struct Base {
    json: Value,
}

impl Base {
    pub fn new(base: &TrialConfig) -> Self {
        Self {
            json: serde_json::to_value(base).expect("a TrialConfig always serialises"),
        }
    }

    /// Refuses a parameter whose path the config does not have (listing the
    /// closest ones that exist), or whose values do not fit the field's type.
    pub fn check_parameter(&self, name: &str, domain: &Domain) -> Result<(), String> {
        if !paths::exists(&self.json, name) {
            let close = paths::closest(&self.json, name, 3);
            return Err(format!(
                "parameter `{name}`: no such field in the trial config; closest: {}",
                close
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for value in domain.probes() {
            self.deserialize(&[(name.to_string(), value.clone())])
                .map_err(|e| format!("parameter `{name}` = {value}: {e}"))?;
        }
        Ok(())
    }

    /// The config at `point`, validated.
    pub fn resolve(&self, point: &[(String, Value)]) -> Result<TrialConfig, String> {
        let config = self.deserialize(point).map_err(|e| {
            // Name the parameter: the first one that fails on its own.
            let culprit = point
                .iter()
                .find(|(n, v)| self.deserialize(&[(n.clone(), v.clone())]).is_err());
            match culprit {
                Some((n, v)) => format!("parameter `{n}` = {v}: {e}"),
                None => format!("{}: {e}", describe(point)),
            }
        })?;
        config
            .validate()
            .map_err(|e| format!("{}: {e}", describe(point)))?;
        Ok(config)
    }

    fn deserialize(&self, point: &[(String, Value)]) -> Result<TrialConfig, String> {
        let mut json = self.json.clone();
        for (path, value) in point {
            paths::set(&mut json, path, value.clone())
                .map_err(|()| format!("no field `{path}` in the trial config"))?;
        }
        serde_json::from_value(json).map_err(|e| e.to_string())
    }
}

/// `point {phase2.lr_backbone: 0.001, loss.label_smoothing: 0.1}`, or
/// `base` for the point of a sweep without parameters.
pub fn describe(point: &[(String, Value)]) -> String {
    if point.is_empty() {
        return "base".into();
    }
    let parts: Vec<String> = point.iter().map(|(n, v)| format!("{n}: {v}")).collect();
    format!("point {{{}}}", parts.join(", "))
}
