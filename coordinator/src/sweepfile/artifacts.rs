//! Checks `artifacts:` into an [`ArtifactPolicy`]: which files the sweep's
//! workers make and upload after a successful trial, and for how many of
//! the best trials the weights are kept (disk stays bounded: figures are
//! small, weights are ~45 MB each). Unknown kinds are refused by the parser
//! with their line and column. Without the key: both figures, and the best
//! weights of the top [`DEFAULT_WEIGHTS_TOP_K`] trials.
//!
//! ```yaml
//! artifacts: {kinds: [gradcam, confusion, best_weights], weights_top_k: 3}
//! ```

use super::error::Problem;
use super::spec::ArtifactsSpec;
use serde::{Deserialize, Serialize};
use sweep_proto::artifacts::ArtifactKind;

/// Trials whose best weights are kept when `weights_top_k` is not given.
pub const DEFAULT_WEIGHTS_TOP_K: u32 = 3;
/// The largest `weights_top_k` accepted.
pub const MAX_WEIGHTS_TOP_K: u32 = 1_000;

/// What a sweep keeps of its trials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactPolicy {
    /// The kinds its workers make, each once, in [`ArtifactKind::ALL`]'s order.
    pub kinds: Vec<ArtifactKind>,
    /// Best weights are kept for this many of the sweep's best trials (by
    /// its ranking metric); those of trials that fall out are deleted.
    pub weights_top_k: u32,
}

impl Default for ArtifactPolicy {
    fn default() -> Self {
        Self {
            kinds: ArtifactKind::ALL.to_vec(),
            weights_top_k: DEFAULT_WEIGHTS_TOP_K,
        }
    }
}

impl ArtifactPolicy {
    /// Whether the sweep keeps `kind`.
    pub fn keeps(&self, kind: ArtifactKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// The kinds as the lease names them.
    pub fn kind_names(&self) -> Vec<String> {
        self.kinds.iter().map(|k| k.as_str().to_string()).collect()
    }
}

/// Checks `artifacts:` (absent: the default policy).
pub fn check(spec: Option<&ArtifactsSpec>) -> Result<ArtifactPolicy, Problem> {
    let Some(spec) = spec else {
        return Ok(ArtifactPolicy::default());
    };
    let mut kinds = Vec::new();
    for k in ArtifactKind::ALL {
        if spec.kinds.contains(&k) {
            kinds.push(k);
        }
    }
    if kinds.len() != spec.kinds.len() {
        return Err(Problem::Field {
            field: "artifacts.kinds",
            message: "a kind is listed twice".into(),
        });
    }
    let weights_top_k = spec.weights_top_k.unwrap_or(DEFAULT_WEIGHTS_TOP_K);
    if kinds.contains(&ArtifactKind::BestWeights)
        && !(1..=MAX_WEIGHTS_TOP_K).contains(&weights_top_k)
    {
        return Err(Problem::Field {
            field: "artifacts.weights_top_k",
            message: format!(
                "must be within [1, {MAX_WEIGHTS_TOP_K}] when best_weights are kept, got {weights_top_k} (leave best_weights out to keep none)"
            ),
        });
    }
    if spec.weights_top_k.is_some() && !kinds.contains(&ArtifactKind::BestWeights) {
        return Err(Problem::Field {
            field: "artifacts.weights_top_k",
            message: "only with `best_weights` in `kinds`".into(),
        });
    }
    Ok(ArtifactPolicy {
        kinds,
        weights_top_k,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweepfile::{load, LoadLimits};

    fn file(artifacts: &str) -> String {
        format!("name: a\nmethod: grid\n{artifacts}parameters:\n  seed: {{values: [1]}}\n")
    }

    #[test]
    fn default_figures_and_top_3_weights() {
        let s = load(&file(""), "a.yaml", &LoadLimits::default()).unwrap();
        assert_eq!(s.artifacts, ArtifactPolicy::default());
        assert_eq!(
            s.artifacts.kind_names(),
            ["best_weights", "gradcam", "confusion"]
        );
        let s = load(
            &file("artifacts: {kinds: [confusion, gradcam]}\n"),
            "a.yaml",
            &LoadLimits::default(),
        )
        .unwrap();
        assert_eq!(
            s.artifacts.kinds,
            [ArtifactKind::Gradcam, ArtifactKind::Confusion]
        );
        assert!(!s.artifacts.keeps(ArtifactKind::BestWeights));
        let s = load(
            &file("artifacts: {kinds: []}\n"),
            "a.yaml",
            &LoadLimits::default(),
        )
        .unwrap();
        assert!(s.artifacts.kinds.is_empty());
    }

    #[test]
    fn unknown_kinds_and_bad_counts_are_refused() {
        let e = load(
            &file("artifacts:\n  kinds: [gradcam, weights]\n"),
            "a.yaml",
            &LoadLimits::default(),
        )
        .unwrap_err();
        assert_eq!(e.location().map(|(line, _)| line), Some(4), "{e}");
        assert!(e.to_string().contains("weights"), "{e}");
        for (text, field) in [
            (
                "artifacts: {kinds: [gradcam, gradcam]}\n",
                "artifacts.kinds",
            ),
            (
                "artifacts: {kinds: [best_weights], weights_top_k: 0}\n",
                "artifacts.weights_top_k",
            ),
            (
                "artifacts: {kinds: [gradcam], weights_top_k: 2}\n",
                "artifacts.weights_top_k",
            ),
        ] {
            let e = load(&file(text), "a.yaml", &LoadLimits::default()).unwrap_err();
            assert!(e.to_string().contains(field), "{text}: {e}");
        }
        let e = load(
            &file("artifacts: {kinds: [gradcam], keep: 1}\n"),
            "a.yaml",
            &LoadLimits::default(),
        )
        .unwrap_err();
        assert!(e.location().is_some(), "{e}");
    }
}
