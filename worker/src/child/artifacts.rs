//! What a trial process leaves in its attempt's private folder after a
//! successful trial, for the daemon to upload (the lease names the kinds
//! the sweep keeps): `best.safetensors` (written by the pipeline itself,
//! `TrialOptions::save_best`), `gradcam.png` (Grad-CAM of those weights on
//! the test split, [`crate::commands::gradcam::render`]) and
//! `confusion.png` (the test split's confusion matrix,
//! [`crate::figures::confusion`]). A trial that diverged leaves nothing.
//! A figure that cannot be made is a warning: the trial's result stands.
//!
//! A simulated trial (`--simulate`, tests only) has no weights: it leaves
//! small stand-ins for them and for Grad-CAM, and the real confusion
//! figure of its simulated matrix.

use std::path::{Path, PathBuf};
use sweep_proto::artifacts::ArtifactKind;
use sweep_proto::trial::{TrialConfig, TrialResult};

/// Test images on the Grad-CAM figure.
const GRADCAM_IMAGES: usize = 24;

/// Which files to leave, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub dir: PathBuf,
    pub kinds: Vec<ArtifactKind>,
}

impl Request {
    /// Where the pipeline writes the best weights: needed for the weights
    /// themselves and for Grad-CAM.
    pub fn weights_path(&self) -> Option<PathBuf> {
        (self.wants(ArtifactKind::BestWeights) || self.wants(ArtifactKind::Gradcam))
            .then(|| self.path(ArtifactKind::BestWeights))
    }

    fn wants(&self, kind: ArtifactKind) -> bool {
        self.kinds.contains(&kind)
    }

    fn path(&self, kind: ArtifactKind) -> PathBuf {
        self.dir.join(kind.file_name())
    }

    /// Leaves the requested files for `result` (see the module doc).
    pub fn make(&self, cfg: &TrialConfig, result: &TrialResult, simulated: bool) {
        if result.diverged.is_some() {
            return;
        }
        if self.wants(ArtifactKind::Confusion) {
            let png = crate::figures::confusion::render(&result.test.confusion);
            write(&self.path(ArtifactKind::Confusion), &png);
        }
        let weights = self.path(ArtifactKind::BestWeights);
        if simulated {
            let stand_in = format!("simulated weights of seed {}\n", cfg.seed);
            if self.weights_path().is_some() {
                write(&weights, stand_in.as_bytes());
            }
            if self.wants(ArtifactKind::Gradcam) {
                let png = crate::figures::confusion::render(&[vec![cfg.seed]]);
                write(&self.path(ArtifactKind::Gradcam), &png);
            }
        } else if self.wants(ArtifactKind::Gradcam) {
            match crate::commands::gradcam::render(cfg, &weights, GRADCAM_IMAGES) {
                Ok((_, png)) => write(&self.path(ArtifactKind::Gradcam), &png),
                Err(e) => tracing::warn!("no Grad-CAM figure: {e:#}"),
            }
        }
        if !self.wants(ArtifactKind::BestWeights) {
            let _ = std::fs::remove_file(&weights);
        }
    }
}

/// Writes `bytes` to `path`; a failure is a warning.
fn write(path: &Path, bytes: &[u8]) {
    if let Err(e) = std::fs::write(path, bytes) {
        tracing::warn!("cannot write {}: {e}", path.display());
    }
}
