//! A TPE sweep's search space, kept with the sweep (as JSON) so that the
//! store can resolve proposals long after the file was loaded: the `base`
//! config and the checked domains, with the same resolution (dotted paths,
//! types, `TrialConfig::validate`) every grid or random point goes through.

use super::apply::Base;
use super::domain::Domain;
use super::error::Problem;
use super::Point;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sweep_proto::trial::TrialConfig;

/// The base config and the parameters' domains, in the file's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Space {
    pub base: TrialConfig,
    pub domains: Vec<(String, Domain)>,
}

impl Space {
    /// The point these values resolve to, validated; refused like a grid
    /// point would be.
    pub fn point(&self, params: Vec<(String, Value)>) -> Result<Point, Problem> {
        let config = Base::new(&self.base).resolve(&params)?;
        Ok(Point {
            trial_id: config.content_id(),
            config,
            params,
        })
    }
}
