//! One writer per database: an exclusive advisory lock (`flock`) on a lock
//! file beside it (`sweep.db` → `sweep.db.lock`), held for the store's
//! lifetime. SQLite itself runs in WAL mode with normal locking, so
//! read-only readers (`--db`) work while a coordinator runs; this lock is
//! what refuses a second coordinator on the same file instead of letting
//! two of them lease the same trials. The lock file is never deleted
//! (deleting it would let two openers lock two different files); the
//! kernel drops the lock when the process ends, however it ends.

use super::error::OpenError;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// The held lock; released when dropped.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

/// The lock file of the database at `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl WriterLock {
    /// Takes the lock of `db` without waiting, or says who holds it.
    pub fn acquire(db: &Path) -> Result<WriterLock, OpenError> {
        let path = lock_path(db);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| OpenError::LockFile {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(WriterLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(OpenError::InUse { lock: path }),
            Err(TryLockError::Error(source)) => Err(OpenError::LockFile { path, source }),
        }
    }
}
