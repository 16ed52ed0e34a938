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
use sweep_proto::trial::TrialConfig;

/// What both caches' keys hold of how this worker computes `cfg`'s trial: the
/// pipeline build ([`crate::pipeline::BUILD`]), the activation layout and
/// whether the first conv folds its input, so a worker that computes
/// otherwise never reads what this one wrote.
fn numerics(cfg: &TrialConfig) -> serde_json::Value {
    serde_json::json!({
        "build": crate::pipeline::BUILD,
        "layout": crate::pipeline::net::Layout::for_input_size(i64::from(cfg.input_size)).name(),
        "fold": crate::pipeline::transform::fold_first_conv(),
    })
}

/// The folder of phase-1 snapshots under `dir`.
pub fn phase1_dir(dir: &Path) -> PathBuf {
    dir.join("phase1")
}

/// The folder of frozen-prefix outputs under `dir`.
pub fn prefix_dir(dir: &Path) -> PathBuf {
    dir.join("prefix")
}

/// Temporary files and folders of a writer that died are this old (a live
/// writer's are seconds old).
const STALE_TMP_S: u64 = 3600;

/// Deletes the entries (folders) of `dir`, least recently used first (the
/// newest modification time of their files, which [`touch`] moves), until
/// it holds at most `budget` bytes; stale temporary files and folders
/// (`.tmp-*`, in `dir` or in an entry) go too.
fn trim(dir: &Path, budget: u64) {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    let stale_tmp = |e: &std::fs::DirEntry, m: &std::fs::Metadata| {
        e.file_name().to_string_lossy().starts_with(".tmp-")
            && m.modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > STALE_TMP_S)
    };
    let mut entries = Vec::new();
    for e in listing.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if e.file_name().to_string_lossy().starts_with(".tmp-") {
            if stale_tmp(&e, &m) {
                let _ = std::fs::remove_dir_all(e.path());
                let _ = std::fs::remove_file(e.path());
            }
            continue;
        }
        let Ok(files) = std::fs::read_dir(e.path()) else {
            continue;
        };
        let (mut bytes, mut used) = (0u64, std::time::SystemTime::UNIX_EPOCH);
        for f in files.flatten() {
            let Ok(fm) = f.metadata() else { continue };
            if stale_tmp(&f, &fm) {
                let _ = std::fs::remove_file(f.path());
                continue;
            }
            bytes += fm.len();
            used = used.max(fm.modified().unwrap_or(used));
        }
        entries.push((used, bytes, e.path()));
    }
    entries.sort_by_key(|(used, _, _)| std::cmp::Reverse(*used));
    let mut total = 0u64;
    for (_, bytes, path) in entries {
        total += bytes;
        if total > budget {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Marks `path` as just used (least-recently-used eviction reads it).
fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}
