//! The artifact files on disk, beside the database:
//! `<db folder>/artifacts/<sweep>/<trial>/<attempt>/<name>`.
//!
//! An upload is written to a fresh file in `artifacts/.tmp/` (a name no
//! sweep id can take: ids start with a letter), fsynced, renamed into its
//! place and its folders fsynced; only then does the store write the row
//! that makes it visible ([`crate::store::Store::record_artifact`]). A
//! stream that ends early leaves a temp file only, removed at once, or, if
//! the coordinator was killed, at the next start ([`ArtifactFiles::open`]),
//! together with placed files no row names (a kill between the rename and
//! the row). Pruned rows are deleted before their files.
//!
//! - [`receive`]: one upload stream into a temp file, capped and checked
//!   against its header's size and SHA-256.

pub mod receive;

use crate::store::{ArtifactKey, ArtifactRow};
use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// The folder under the artifacts root where uploads are written.
const TEMP_DIR: &str = ".tmp";

/// The artifacts folder of a coordinator whose database is `db_path`.
pub fn dir_beside(db_path: &Path) -> PathBuf {
    match db_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join("artifacts"),
        _ => PathBuf::from("artifacts"),
    }
}

/// The artifacts folder of one coordinator.
#[derive(Debug, Clone)]
pub struct ArtifactFiles {
    root: PathBuf,
}

/// What [`ArtifactFiles::open`] cleaned up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Half-written uploads.
    pub temp_files: usize,
    /// Placed files without a row.
    pub orphans: usize,
}

impl ArtifactFiles {
    /// Makes `root` and its temp folder if missing, removes every temp file
    /// and every placed file for which `known` has no row (both left by a
    /// coordinator that was killed mid-upload).
    pub fn open(root: &Path, known: &HashSet<ArtifactKey>) -> io::Result<(ArtifactFiles, Swept)> {
        let files = ArtifactFiles {
            root: root.to_path_buf(),
        };
        fs::create_dir_all(files.temp_dir())?;
        let mut swept = Swept::default();
        for entry in fs::read_dir(files.temp_dir())? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                fs::remove_file(entry.path())?;
                swept.temp_files += 1;
            }
        }
        for (key, path) in files.placed()? {
            if !known.contains(&key) {
                fs::remove_file(path)?;
                swept.orphans += 1;
            }
        }
        Ok((files, swept))
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn temp_dir(&self) -> PathBuf {
        self.root.join(TEMP_DIR)
    }

    /// A new, empty temp file for an upload (exclusive, random name).
    pub fn temp_file(&self) -> io::Result<(PathBuf, File)> {
        loop {
            let path = self
                .temp_dir()
                .join(format!("upload-{:016x}", rand::random::<u64>()));
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => return Ok((path, f)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Where an artifact lies. The parts are ids the store keeps and a
    /// checked name (see `sweep_proto::artifacts::check_name`).
    pub fn path(&self, sweep_id: &str, trial_id: &str, attempt: u32, name: &str) -> PathBuf {
        self.root
            .join(sweep_id)
            .join(trial_id)
            .join(attempt.to_string())
            .join(name)
    }

    /// The file of a stored row.
    pub fn path_of(&self, row: &ArtifactRow) -> PathBuf {
        self.path(&row.sweep_id, &row.trial_id, row.attempt, &row.name)
    }

    /// Moves a complete, fsynced temp file to `dest`, then fsyncs the
    /// folders up to the root, so that the rename survives a crash.
    pub fn place(&self, temp: &Path, dest: &Path) -> io::Result<()> {
        let dir = dest.parent().expect("an artifact path has folders");
        fs::create_dir_all(dir)?;
        fs::rename(temp, dest)?;
        let mut d = dir;
        loop {
            File::open(d)?.sync_all()?;
            if d == self.root {
                break;
            }
            match d.parent() {
                Some(p) if p.starts_with(&self.root) => d = p,
                _ => break,
            }
        }
        Ok(())
    }

    /// Deletes a pruned row's file (and its folders once empty).
    pub fn remove(&self, row: &ArtifactRow) -> io::Result<()> {
        let path = self.path_of(row);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| *d != self.root && d.starts_with(&self.root)) {
            if fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    /// Every placed file: its key and path.
    fn placed(&self) -> io::Result<Vec<(ArtifactKey, PathBuf)>> {
        let mut out = Vec::new();
        for sweep in subdirs(&self.root)? {
            if sweep.0 == TEMP_DIR {
                continue;
            }
            for trial in subdirs(&sweep.1)? {
                for attempt in subdirs(&trial.1)? {
                    let Ok(n) = attempt.0.parse::<u32>() else {
                        continue;
                    };
                    for entry in fs::read_dir(&attempt.1)? {
                        let entry = entry?;
                        if entry.file_type()?.is_file() {
                            let name = entry.file_name().to_string_lossy().into_owned();
                            out.push(((sweep.0.clone(), trial.0.clone(), n, name), entry.path()));
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The folders in `dir`: (name, path).
fn subdirs(dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            out.push((
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_sweeps_temp_files_and_orphans_and_keeps_known_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("artifacts");
        let (files, swept) = ArtifactFiles::open(&root, &HashSet::new()).unwrap();
        assert_eq!(swept, Swept::default());
        let (temp, _) = files.temp_file().unwrap();
        let kept = files.path("sw-1", "t1", 1, "gradcam.png");
        let orphan = files.path("sw-1", "t1", 2, "gradcam.png");
        for p in [&kept, &orphan] {
            let (t, _) = files.temp_file().unwrap();
            fs::write(&t, b"png").unwrap();
            files.place(&t, p).unwrap();
        }
        let known: HashSet<_> = [("sw-1".into(), "t1".into(), 1, "gradcam.png".into())].into();
        let (_, swept) = ArtifactFiles::open(&root, &known).unwrap();
        assert_eq!(
            swept,
            Swept {
                temp_files: 1,
                orphans: 1
            }
        );
        assert!(!temp.exists() && !orphan.exists() && kept.exists());
        assert_eq!(
            dir_beside(Path::new("sweep.db")),
            PathBuf::from("artifacts")
        );
        assert_eq!(
            dir_beside(Path::new("/d/x.db")),
            PathBuf::from("/d/artifacts")
        );
    }
}
