//! Finding the `sweep-worker` binary `sweep run` starts: `--worker-bin`,
//! else next to the running `sweep`, else on PATH.

use crate::error::CliError;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The worker binary's file name.
pub const WORKER_BIN: &str = "sweep-worker";

/// Finds the worker binary: `explicit` (`--worker-bin`), else next to the
/// running `sweep`, else on PATH.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, CliError> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    locate_in(explicit, exe_dir.as_deref(), std::env::var_os("PATH"))
}

/// [`locate`] with its surroundings passed in (testable).
pub fn locate_in(
    explicit: Option<&Path>,
    exe_dir: Option<&Path>,
    path_var: Option<OsString>,
) -> Result<PathBuf, CliError> {
    if let Some(path) = explicit {
        return if is_executable(path) {
            Ok(path.to_path_buf())
        } else {
            Err(CliError::WorkerBinNotExecutable {
                path: path.to_path_buf(),
            })
        };
    }
    let beside = exe_dir.map(|d| d.join(WORKER_BIN));
    let on_path = path_var
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(WORKER_BIN));
    beside
        .into_iter()
        .chain(on_path)
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            let looked = exe_dir
                .map(|d| format!("in {} and on PATH", d.display()))
                .unwrap_or_else(|| "on PATH".to_string());
            CliError::WorkerBinNotFound {
                name: WORKER_BIN,
                looked,
            }
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// An executable shell script `dir/name` running `body`.
    pub(crate) fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn locate_prefers_explicit_then_beside_then_path() {
        let dir = tempfile::tempdir().unwrap();
        let beside = dir.path().join("bin");
        let on_path = dir.path().join("path");
        std::fs::create_dir_all(&beside).unwrap();
        std::fs::create_dir_all(&on_path).unwrap();
        let path_var = Some(OsString::from(on_path.as_os_str()));

        let err = locate_in(None, Some(&beside), path_var.clone()).unwrap_err();
        assert!(
            err.to_string()
                .contains("cargo build --release -p sweep-worker"),
            "{err}"
        );

        let p = script(&on_path, WORKER_BIN, "exit 0");
        assert_eq!(locate_in(None, Some(&beside), path_var.clone()).unwrap(), p);
        let b = script(&beside, WORKER_BIN, "exit 0");
        assert_eq!(locate_in(None, Some(&beside), path_var.clone()).unwrap(), b);
        let x = script(dir.path(), "my-worker", "exit 0");
        assert_eq!(
            locate_in(Some(&x), Some(&beside), path_var.clone()).unwrap(),
            x
        );

        let missing = dir.path().join("nope");
        let err = locate_in(Some(&missing), Some(&beside), path_var).unwrap_err();
        assert!(err.to_string().starts_with("--worker-bin "), "{err}");
    }

    #[test]
    fn a_file_without_exec_bit_is_not_a_worker() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join(WORKER_BIN);
        std::fs::write(&plain, "not a program").unwrap();
        assert!(locate_in(None, Some(dir.path()), None).is_err());
    }
}
