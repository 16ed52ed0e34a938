//! An attempt's artifacts on the daemon's side: the private folder its
//! trial process leaves them in (`<state dir>/attempts/<id>/`, made before
//! the process starts, removed when the attempt ends, and every leftover
//! removed at start), and their upload (`UploadArtifact`) after a
//! successful trial and before its `CompleteTrial`, while this worker
//! still holds the lease. Each file is streamed from disk; transient
//! failures are retried with the client's backoff ([`MAX_TRIES`] tries); an
//! upload that still fails, or is refused, is logged and the trial is
//! reported all the same. The daemon only moves files: it never opens one
//! as anything but bytes.

use super::client::{classify, sleep_unless, Backoff, CoordinatorClient, Refusal, UploadError};
use super::shutdown::{Level, Shutdown};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use sweep_proto::artifacts::ArtifactKind;
use sweep_proto::v1::{ArtifactHeader, Lease};
use tonic::Code;

/// Tries per file before it is given up (about 11 s of backoff in all).
pub const MAX_TRIES: u32 = 8;

/// The folder of every attempt's artifacts under `state_dir`.
pub fn attempts_root(state_dir: &Path) -> PathBuf {
    state_dir.join("attempts")
}

/// Removes what attempts of an earlier run left (a daemon killed mid-trial).
pub fn clear_leftovers(root: &Path) {
    match std::fs::remove_dir_all(root) {
        Ok(()) => tracing::info!(
            "removed the artifacts earlier attempts left in {}",
            root.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("cannot clear {}: {e}", root.display()),
    }
}

/// One attempt's folder and the kinds its sweep keeps; removed on drop.
#[derive(Debug)]
pub struct AttemptArtifacts {
    pub dir: PathBuf,
    pub kinds: Vec<ArtifactKind>,
}

impl AttemptArtifacts {
    /// The folder of `lease` under `root`, made empty, or `None` when the
    /// sweep keeps nothing (or the folder cannot be made: a warning, and
    /// the trial runs without artifacts).
    pub fn prepare(root: &Path, lease: &Lease) -> Option<AttemptArtifacts> {
        let mut kinds = Vec::new();
        for name in &lease.artifacts {
            match ArtifactKind::parse(name) {
                Some(k) if !kinds.contains(&k) => kinds.push(k),
                Some(_) => {}
                None => {
                    tracing::warn!("the lease asks for an unknown artifact kind {name:?}; skipped")
                }
            }
        }
        if kinds.is_empty() {
            return None;
        }
        let key = format!("{}\0{}\0{}", lease.sweep_id, lease.trial_id, lease.attempt);
        let id = hex::encode(&Sha256::digest(key.as_bytes())[..12]);
        let dir = root.join(id);
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!(
                "cannot make {} ({e}): no artifacts for this attempt",
                dir.display()
            );
            return None;
        }
        Some(AttemptArtifacts { dir, kinds })
    }

    /// The kinds as `trial-child --artifacts` takes them.
    pub fn kinds_arg(&self) -> String {
        self.kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Uploads every file the trial process left, in order; returns how
    /// many arrived. Gives up early once `shutdown` aborts.
    pub async fn upload_all(
        &self,
        coordinator: &CoordinatorClient,
        shutdown: &Shutdown,
        lease: &Lease,
        worker_id: &str,
    ) -> usize {
        let mut arrived = 0;
        for kind in &self.kinds {
            let path = self.dir.join(kind.file_name());
            if !path.is_file() {
                tracing::warn!(trial = %lease.trial_id, "the trial left no {}; nothing to upload", kind.file_name());
                continue;
            }
            let header = ArtifactHeader {
                worker_id: worker_id.to_string(),
                sweep_id: lease.sweep_id.clone(),
                trial_id: lease.trial_id.clone(),
                attempt: lease.attempt,
                name: kind.file_name().to_string(),
                ..Default::default()
            };
            if upload_one(coordinator, shutdown, header, &path).await {
                arrived += 1;
            }
        }
        arrived
    }
}

impl Drop for AttemptArtifacts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One file, retried while the failure is transient; true once stored.
async fn upload_one(
    coordinator: &CoordinatorClient,
    shutdown: &Shutdown,
    header: ArtifactHeader,
    path: &Path,
) -> bool {
    let (trial, name) = (header.trial_id.clone(), header.name.clone());
    let mut backoff = Backoff::new();
    for tries in 1..=MAX_TRIES {
        let started = std::time::Instant::now();
        let error = match coordinator.upload_artifact(header.clone(), path).await {
            Ok(info) => {
                tracing::info!(
                    trial = %trial,
                    "uploaded {name} of trial {trial} attempt {} ({} bytes in {:.2} s)",
                    info.attempt,
                    info.size,
                    started.elapsed().as_secs_f64()
                );
                return true;
            }
            Err(e) => e,
        };
        let again = match &error {
            UploadError::Local(_) => false,
            UploadError::Rpc(status) => {
                status.code() != Code::ResourceExhausted && classify(status) == Refusal::Transient
            }
        };
        if !again || tries == MAX_TRIES {
            tracing::error!(
                trial = %trial,
                "could not upload {name} of trial {trial} ({}, try {tries}); the trial is reported without it",
                sweep_runtime::error_chain::error_chain(&error)
            );
            return false;
        }
        let delay = backoff.next_delay();
        tracing::warn!(trial = %trial, "uploading {name} of trial {trial} failed ({error}); retrying in {delay:?}");
        if !sleep_unless(delay, shutdown, Level::Aborting).await {
            return false;
        }
    }
    false
}
