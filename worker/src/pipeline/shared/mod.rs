//! What trials of a sweep compute alike, computed once on a worker and kept
//! in a folder (the daemon's `<state dir>/shared/`, or `sweep-worker train
//! --shared-dir`) for the trials after it:
//!
//! - [`phase1`]: the whole of phase 1, for trials with the same phase-1
//!   config (they differ only in phase 2);
//! - [`prefix`]: each epoch's frozen-prefix outputs, for trials that feed
//!   the same batches through the same frozen stages (head settings differ
//!   in phase 1; `[layer4]` or `[layer3, layer4]` in phase 2).
//!
//! Both are exact: a trial that uses them reports the same numbers, bit for
//! bit, as when it runs alone at the same thread count. Neither can fail a
//! trial: an entry that cannot be read or written is logged and the trial
//! computes what it needs. A sweep opts out with `execution: {sharing: off}`.

pub mod phase1;
pub mod prefix;

use std::path::{Path, PathBuf};

/// The folder of phase-1 snapshots under `dir`.
pub fn phase1_dir(dir: &Path) -> PathBuf {
    dir.join("phase1")
}

/// The folder of frozen-prefix outputs under `dir`.
pub fn prefix_dir(dir: &Path) -> PathBuf {
    dir.join("prefix")
}

/// Marks `path` as just used (least-recently-used eviction reads it).
fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}
