//! The tokens of one `sweep run`: a fresh random token per role (32 bytes
//! from the OS RNG, hex) on every run, each written to a file only its owner
//! can read (`DIR/client.token`, `DIR/worker.token`, mode 0600). The embedded
//! coordinator takes them as its token files; the workers get
//! `--token-file DIR/worker.token`; `sweep run` itself sends the client token.

use crate::error::CliError;
use rand::rngs::OsRng;
use rand::TryRngCore;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The two token files of a run, and the client token.
pub struct RunTokens {
    pub client_file: PathBuf,
    pub worker_file: PathBuf,
    pub client: String,
}

impl std::fmt::Debug for RunTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunTokens")
            .field("client_file", &self.client_file)
            .field("worker_file", &self.worker_file)
            .finish_non_exhaustive()
    }
}

impl RunTokens {
    /// New tokens in `dir` (replacing an earlier run's).
    pub fn create(dir: &Path) -> Result<Self, CliError> {
        let client = random_token()?;
        let client_file = dir.join("client.token");
        write_private(&client_file, &client)?;
        let worker_file = dir.join("worker.token");
        write_private(&worker_file, &random_token()?)?;
        Ok(Self {
            client_file,
            worker_file,
            client,
        })
    }
}

/// 32 bytes from the OS RNG, as 64 hex digits.
fn random_token() -> Result<String, CliError> {
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| CliError::NoRandomness(e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// Writes `token` to `path`, readable and writable by the owner only (also
/// when the file was there before with a wider mode).
fn write_private(path: &Path, token: &str) -> Result<(), CliError> {
    let cannot = |source| CliError::CannotCreate {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(cannot)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(cannot)?;
    writeln!(file, "{token}").map_err(cannot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_private_tokens_on_every_run() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("client.token"), "old\n").unwrap();
        std::fs::set_permissions(
            dir.path().join("client.token"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let first = RunTokens::create(dir.path()).unwrap();
        for file in [&first.client_file, &first.worker_file] {
            let mode = std::fs::metadata(file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        }
        let read = sweep_runtime::credentials::token_file::read_one(&first.client_file).unwrap();
        assert_eq!((read.len(), read.as_str()), (64, first.client.as_str()));
        let worker = sweep_runtime::credentials::token_file::read_one(&first.worker_file).unwrap();
        assert_ne!(worker, first.client, "one token per role");
        let second = RunTokens::create(dir.path()).unwrap();
        assert_ne!(second.client, first.client);
        assert!(!format!("{second:?}").contains(&second.client));
    }
}
