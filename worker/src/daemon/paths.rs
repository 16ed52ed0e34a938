//! Which files a leased trial may make the worker read. `data.dir` and
//! `backbone.weights` come from whoever submitted the sweep, so the daemon
//! only lets a trial read paths that resolve — relative ones against the
//! worker's working directory, symlinks followed, `..` applied — under one
//! of its allowed roots (`--data-root`, repeatable, or `data_roots`; by
//! default the working directory; the worker's cache dir always). The trial then gets the
//! resolved path, so it opens what was checked.
//!
//! A path that does not exist yet is resolved through its deepest existing
//! ancestor (so `/etc/nope` is still outside), and passes if that lands
//! under a root: the trial then reports the file missing, as it would
//! anywhere.
//!
//! A refused path is a *trial* failure, not an environment one: it is a
//! property of the config (every worker with the same roots refuses it), so
//! it should count attempts and end the trial, not send it round the fleet
//! and push every worker towards quarantine.

use std::path::{Component, Path, PathBuf};

/// The roots a trial's paths must resolve under (each resolved itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRoots {
    roots: Vec<PathBuf>,
}

/// A config path that resolves outside every allowed root.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{field} {} resolves outside the allowed roots ({}){}; a worker reads only under its --data-root folders",
    .path.display(), list(.roots), resolved_note(.path, .resolved))]
pub struct PathRefused {
    /// The config field, e.g. `data.dir`.
    pub field: &'static str,
    /// The path as the config gave it.
    pub path: PathBuf,
    /// Where it leads.
    pub resolved: PathBuf,
    pub roots: Vec<PathBuf>,
}

fn list(roots: &[PathBuf]) -> String {
    roots
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn resolved_note(path: &Path, resolved: &Path) -> String {
    if path == resolved {
        String::new()
    } else {
        format!(" (it leads to {})", resolved.display())
    }
}

impl DataRoots {
    /// `roots`, each resolved against the working directory (a root that
    /// does not exist yet is kept as its absolute path).
    pub fn new(roots: impl IntoIterator<Item = PathBuf>) -> Self {
        let mut resolved: Vec<PathBuf> = Vec::new();
        for root in roots {
            let r = resolve(&root);
            if !resolved.contains(&r) {
                resolved.push(r);
            }
        }
        Self { roots: resolved }
    }

    /// The resolved roots.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// `path` (the config's `field`) resolved, if it lies under a root.
    pub fn check(&self, field: &'static str, path: &Path) -> Result<PathBuf, PathRefused> {
        let resolved = resolve(path);
        if self.roots.iter().any(|root| resolved.starts_with(root)) {
            Ok(resolved)
        } else {
            Err(PathRefused {
                field,
                path: path.to_path_buf(),
                resolved,
                roots: self.roots.clone(),
            })
        }
    }
}

/// Symlinks followed through dangling links before giving up (as the kernel's
/// own limit, `ELOOP`).
const MAX_LINKS: u32 = 40;

/// `path` made absolute, with symlinks followed and `.`/`..` applied: the
/// canonical form of its deepest existing ancestor, plus the rest (which
/// does not exist, so holds no symlinks) applied lexically. A dangling
/// symlink on the way is followed to where it points.
fn resolve(path: &Path) -> PathBuf {
    resolve_within(path, MAX_LINKS)
}

fn resolve_within(path: &Path, links_left: u32) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    let mut existing = absolute.as_path();
    let mut rest: Vec<Component> = Vec::new();
    loop {
        let base = match existing.canonicalize() {
            Ok(canonical) => Some(canonical),
            // A dangling symlink: resolve where it points instead.
            Err(_) if links_left > 0 && existing.is_symlink() => {
                std::fs::read_link(existing).ok().map(|target| {
                    let target = existing.parent().unwrap_or(Path::new("/")).join(target);
                    resolve_within(&target, links_left - 1)
                })
            }
            Err(_) => None,
        };
        if let Some(mut out) = base {
            for c in rest.iter().rev() {
                match c {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::Normal(n) => out.push(n),
                    _ => {}
                }
            }
            return out;
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(last)) => {
                rest.push(last);
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_a_root_pass_resolved() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("mnist")).unwrap();
        let roots = DataRoots::new([root.path().to_path_buf()]);
        let ok = roots
            .check("data.dir", &root.path().join("mnist/../mnist"))
            .unwrap();
        assert_eq!(ok, root.path().canonicalize().unwrap().join("mnist"));
        // Missing, but under the root: passes (the trial reports it missing).
        let missing = roots
            .check("backbone.weights", &root.path().join("none/w.safetensors"))
            .unwrap();
        assert!(missing.ends_with("none/w.safetensors"), "{missing:?}");
    }

    #[test]
    fn a_path_outside_the_roots_is_refused_naming_the_field() {
        let root = tempfile::tempdir().unwrap();
        let roots = DataRoots::new([root.path().to_path_buf()]);
        let err = roots.check("data.dir", Path::new("/etc")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("data.dir /etc resolves outside the allowed roots ("),
            "{msg}"
        );
        assert!(
            msg.contains(&root.path().canonicalize().unwrap().display().to_string()),
            "{msg}"
        );
        // `..` out of the root, and a missing path under /etc.
        let escape = root.path().join("../../etc/passwd");
        assert!(roots.check("backbone.weights", &escape).is_err());
        let err = roots
            .check("backbone.weights", Path::new("/etc/nope/w.safetensors"))
            .unwrap_err();
        assert!(err.to_string().starts_with("backbone.weights /etc/nope"));
    }

    #[test]
    fn a_symlink_inside_a_root_pointing_outside_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("w.safetensors"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
        let roots = DataRoots::new([root.path().to_path_buf()]);
        let err = roots
            .check("backbone.weights", &root.path().join("link/w.safetensors"))
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("backbone.weights "), "{msg}");
        assert!(
            msg.contains(&format!(
                "it leads to {}",
                outside.path().canonicalize().unwrap().display()
            )),
            "{msg}"
        );
        // A symlink to a missing target outside is refused too.
        std::os::unix::fs::symlink("/etc/nope", root.path().join("dangling")).unwrap();
        assert!(roots
            .check("data.dir", &root.path().join("dangling"))
            .is_err());
    }

    #[test]
    fn relative_paths_resolve_against_the_working_directory() {
        let roots = DataRoots::new([PathBuf::from(".")]);
        let cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
        assert_eq!(roots.roots(), std::slice::from_ref(&cwd));
        assert_eq!(
            roots.check("data.dir", Path::new("data/x")).unwrap(),
            cwd.join("data/x")
        );
        assert!(roots.check("data.dir", Path::new("..")).is_err());
    }
}
