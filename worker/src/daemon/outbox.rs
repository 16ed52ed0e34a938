//! Finished attempts' reports, spooled durably to disk until the coordinator
//! acknowledges them: one JSON file per (sweep, trial, attempt) under
//! `STATE_DIR/outbox/`. A report is spooled before it is first sent and
//! removed once the coordinator has answered it for good, so a result
//! survives a coordinator that is away and a worker that is restarted or
//! loses power (the daemon resends what it finds here when it starts).
//!
//! Durability: a report counts as spooled only once [`Outbox::put`] returns
//! `Ok`: it is written to a temporary name, fsynced, renamed to its key's
//! name and the folder fsynced, so a crash leaves either the whole report or
//! none under its name. A damaged file (empty or torn, e.g. from a version
//! that did not fsync) is not skipped quietly: [`Outbox::pending`] logs it
//! as an error and moves it to `outbox/damaged/` for a person to look at. A
//! temporary file whose rename never happened is recovered if it is whole.
//!
//! Several workers sharing one state dir may resend each other's reports;
//! that is harmless, as the coordinator stores a repeated report once.

use super::cause::Cause;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a worker tells the coordinator about one attempt of one trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The lease's sweep.
    #[serde(default)]
    pub sweep_id: String,
    pub trial_id: String,
    pub attempt: u32,
    /// The worker id the attempt was leased to.
    pub worker_id: String,
    /// That worker id's secret (from `Register`), so a restarted daemon can
    /// still prove the report is its own; the spool file is mode 0600.
    /// Empty in reports spooled before secrets existed.
    #[serde(default)]
    pub worker_secret: String,
    pub outcome: Outcome,
}

/// How the attempt ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// A `TrialResult` as JSON, for `CompleteTrial`.
    Completed { result_json: String },
    /// An error, for `FailTrial`, and what it is blamed on (reports spooled
    /// before causes existed read as [`Cause::Trial`]).
    Failed {
        error: String,
        handed_back: bool,
        #[serde(default)]
        cause: Cause,
    },
}

impl Outcome {
    /// `result` or `failure`, as log lines name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Completed { .. } => "result",
            Outcome::Failed { .. } => "failure",
        }
    }
}

/// A file-system step of the outbox failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {} in the worker's outbox", .path.display())]
pub struct OutboxError {
    /// What was being done: `create`, `read`, `write`, `sync`, `rename`, `move`.
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// What [`Outbox::pending`] found.
#[derive(Debug, Default)]
pub struct Spooled {
    /// Whole reports, one per key, in name order.
    pub reports: Vec<Report>,
    /// Damaged files, each already logged as an error and moved to
    /// `outbox/damaged/` (their new paths).
    pub damaged: Vec<PathBuf>,
}

/// The spool folder.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
}

const REPORT_EXT: &str = "json";
const TEMP_EXT: &str = "tmp";
/// A probe's temporary file (never read back).
const PROBE_EXT: &str = "probe";
const DAMAGED: &str = "damaged";

/// Makes each temporary name of this process unique.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> OutboxError {
    let path = path.to_path_buf();
    move |source| OutboxError {
        action,
        path,
        source,
    }
}

/// `bytes` in a new file at `path`, on disk before this returns.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), OutboxError> {
    use std::os::unix::fs::OpenOptionsExt;
    // 0600: a report carries its worker's secret.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error("write", path))?;
    file.write_all(bytes).map_err(io_error("write", path))?;
    file.sync_all().map_err(io_error("sync", path))
}

/// Makes renames and removals in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), OutboxError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("sync", dir))
}

/// `text` with every byte but ASCII letters, digits and `-` written as
/// `_xx` (hex): a file-name part that never holds `.` or `/`, and different
/// texts never give the same part.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// The file name of `report`'s key: `SWEEP.TRIAL.ATTEMPT.json`.
fn file_name(report: &Report) -> String {
    format!(
        "{}.{}.{}.{REPORT_EXT}",
        escape(&report.sweep_id),
        escape(&report.trial_id),
        report.attempt
    )
}

/// Why a spooled file holds no report.
#[derive(Debug, thiserror::Error)]
enum Damage {
    #[error("empty file")]
    Empty,
    #[error("unreadable")]
    Unreadable(#[source] std::io::Error),
    #[error("not a whole report ({len} bytes)")]
    Torn {
        len: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// The report a spooled file holds.
fn read_report(path: &Path) -> Result<Report, Damage> {
    let bytes = std::fs::read(path).map_err(Damage::Unreadable)?;
    if bytes.is_empty() {
        return Err(Damage::Empty);
    }
    serde_json::from_slice(&bytes).map_err(|source| Damage::Torn {
        len: bytes.len(),
        source,
    })
}

impl Outbox {
    /// Opens (creating it if needed) `state_dir/outbox`.
    pub fn open(state_dir: &Path) -> Result<Self, OutboxError> {
        let dir = state_dir.join("outbox");
        std::fs::create_dir_all(&dir).map_err(io_error("create", &dir))?;
        Ok(Self { dir })
    }

    /// Spools `report` durably under its (sweep, trial, attempt) key,
    /// replacing an earlier report of the same key. Once this returns `Ok`
    /// the report survives a crash or a power cut.
    pub fn put(&self, report: &Report) -> Result<(), OutboxError> {
        let name = file_name(report);
        let text = serde_json::to_vec_pretty(report).expect("a report always serialises");
        self.write_durably(&name, &text)
    }

    /// Writes and removes a file, durably: `Ok` once the outbox can spool again.
    pub fn probe(&self) -> Result<(), OutboxError> {
        let tmp = self.temp_path("probe", PROBE_EXT);
        write_synced(&tmp, b"probe")?;
        std::fs::remove_file(&tmp).map_err(io_error("write", &tmp))
    }

    /// Forgets `report` (nothing happens if it is not there).
    pub fn remove(&self, report: &Report) {
        let path = self.dir.join(file_name(report));
        match std::fs::remove_file(&path) {
            Ok(()) => {
                // A removal that does not reach the disk only means the
                // report is resent after a crash, which is harmless.
                if let Err(e) = sync_dir(&self.dir) {
                    tracing::warn!("{e}: {}", e.source);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
        }
    }

    /// Every spooled report (in name order), and the damaged files found (logged as errors
    /// and moved aside). A whole temporary file is spooled under its name; a
    /// file under an older naming scheme is renamed to its key's name.
    pub fn pending(&self) -> Result<Spooled, OutboxError> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(io_error("read", &self.dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == REPORT_EXT || x == TEMP_EXT)
            })
            .collect();
        paths.sort();
        let mut found = Spooled::default();
        let mut keys = std::collections::HashSet::new();
        for path in paths {
            match read_report(&path) {
                Ok(report) => {
                    self.adopt(&path, &report)?;
                    if keys.insert(file_name(&report)) {
                        found.reports.push(report);
                    }
                }
                Err(damage) => found.damaged.push(self.set_aside(&path, &damage)?),
            }
        }
        Ok(found)
    }

    /// Makes a whole report found at `path` spooled under its key's name.
    fn adopt(&self, path: &Path, report: &Report) -> Result<(), OutboxError> {
        let name = file_name(report);
        if path.file_name().is_some_and(|n| n == name.as_str()) {
            return Ok(());
        }
        let is_temp = path.extension().is_some_and(|x| x == TEMP_EXT);
        if is_temp {
            tracing::warn!(
                "recovered the report of trial {} attempt {} from {}, written whole before a crash",
                report.trial_id,
                report.attempt,
                path.display()
            );
        }
        self.put(report)?;
        std::fs::remove_file(path).map_err(io_error("remove", path))?;
        sync_dir(&self.dir)
    }

    /// Moves a damaged file to `outbox/damaged/` and says so loudly.
    fn set_aside(&self, path: &Path, damage: &Damage) -> Result<PathBuf, OutboxError> {
        let aside_dir = self.dir.join(DAMAGED);
        std::fs::create_dir_all(&aside_dir).map_err(io_error("create", &aside_dir))?;
        let aside = aside_dir.join(path.file_name().expect("a file in the outbox"));
        std::fs::rename(path, &aside).map_err(io_error("move", path))?;
        sync_dir(&self.dir)?;
        tracing::error!(
            "damaged spooled report {} ({}): a result was probably lost in a crash before it reached the disk; moved to {}",
            path.display(),
            crate::error_chain::error_chain(damage),
            aside.display()
        );
        Ok(aside)
    }

    /// A name no other write of any process uses at the same time.
    fn temp_path(&self, name: &str, ext: &str) -> PathBuf {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join(format!("{name}.{}-{n}.{ext}", std::process::id()))
    }

    /// `bytes` under `name`: temp file, fsync, rename, fsync of the folder.
    fn write_durably(&self, name: &str, bytes: &[u8]) -> Result<(), OutboxError> {
        let tmp = self.temp_path(name, TEMP_EXT);
        let path = self.dir.join(name);
        let written = write_synced(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path).map_err(io_error("rename", &tmp)))
            .and_then(|()| sync_dir(&self.dir));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(sweep: &str, trial: &str, attempt: u32) -> Report {
        Report {
            sweep_id: sweep.into(),
            trial_id: trial.into(),
            attempt,
            worker_id: "w1".into(),
            worker_secret: "s3cret".into(),
            outcome: Outcome::Completed {
                result_json: format!("{{\"sweep\":\"{sweep}\"}}"),
            },
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn reports_survive_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let a = report("s1", "abc", 1);
        let b = Report {
            outcome: Outcome::Failed {
                error: "boom".into(),
                handed_back: false,
                cause: Cause::Environment,
            },
            ..report("s1", "../evil", 2)
        };
        outbox.put(&a).unwrap();
        outbox.put(&b).unwrap();
        let again = Outbox::open(dir.path()).unwrap();
        let mut found = again.pending().unwrap().reports;
        found.sort_by(|x, y| x.trial_id.cmp(&y.trial_id));
        assert_eq!(found, vec![b.clone(), a.clone()]);
        again.remove(&a);
        again.remove(&a);
        assert_eq!(again.pending().unwrap().reports, vec![b]);
        assert!(
            files(&dir.path().join("outbox"))
                .iter()
                .all(|f| f.ends_with(".json")),
            "no temporary file is left behind"
        );
    }

    #[test]
    fn the_same_trial_in_two_sweeps_is_two_reports() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let first = report("sweep-a", "t1", 1);
        let second = report("sweep-b", "t1", 1);
        outbox.put(&first).unwrap();
        outbox.put(&second).unwrap();
        assert_eq!(
            outbox.pending().unwrap().reports,
            vec![first.clone(), second.clone()]
        );
        // Acknowledging one sweep's result leaves the other's spooled.
        outbox.remove(&first);
        assert_eq!(outbox.pending().unwrap().reports, vec![second]);
    }

    #[test]
    fn keys_that_differ_never_share_a_file() {
        let pairs = [
            (report("a_b", "t", 1), report("a/b", "t", 1)),
            (report("a.b", "c", 1), report("a", "b.c", 1)),
            (report("s", "t", 1), report("s", "t", 11)),
        ];
        for (x, y) in pairs {
            assert_ne!(file_name(&x), file_name(&y), "{x:?} / {y:?}");
            assert!(!file_name(&x).contains('/'));
        }
    }

    #[test]
    fn an_empty_or_torn_file_is_reported_and_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let good = report("s1", "good", 1);
        outbox.put(&good).unwrap();
        let spool = dir.path().join("outbox");
        std::fs::write(spool.join("s1.empty.1.json"), "").unwrap();
        std::fs::write(spool.join("s1.torn.1.json"), "{\"sweep_id\": \"s1\", \"tri").unwrap();
        let found = outbox.pending().unwrap();
        assert_eq!(found.reports, vec![good]);
        let damaged: Vec<String> = found
            .damaged
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(damaged, ["s1.empty.1.json", "s1.torn.1.json"]);
        assert!(found
            .damaged
            .iter()
            .all(|p| p.starts_with(spool.join("damaged")) && p.is_file()));
        // Set aside once, not reported again at every start.
        assert!(outbox.pending().unwrap().damaged.is_empty());
    }

    #[test]
    fn a_whole_temporary_file_is_recovered_and_an_old_name_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let spool = dir.path().join("outbox");
        let crashed = report("s1", "t1", 1);
        let old_style = report("s1", "t2", 3);
        let text = |r: &Report| serde_json::to_vec(r).unwrap();
        std::fs::write(spool.join("s1.t1.1.json.99-0.tmp"), text(&crashed)).unwrap();
        std::fs::write(spool.join("t2-3.json"), text(&old_style)).unwrap();
        let found = outbox.pending().unwrap();
        assert_eq!(found.reports, vec![crashed.clone(), old_style.clone()]);
        assert_eq!(files(&spool), ["s1.t1.1.json", "s1.t2.3.json"]);
        outbox.remove(&old_style);
        assert_eq!(outbox.pending().unwrap().reports, vec![crashed]);
    }

    #[test]
    fn an_unwritable_outbox_fails_loudly_until_it_is_writable_again() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let spool = dir.path().join("outbox");
        // A file where the folder was: no write can succeed, even as root
        // (who ignores a read-only mode).
        std::fs::remove_dir(&spool).unwrap();
        std::fs::write(&spool, "").unwrap();
        let r = report("s1", "t1", 1);
        let err = outbox.put(&r).unwrap_err();
        assert_eq!(err.action, "write");
        assert!(err.to_string().contains("outbox"), "{err}");
        assert!(outbox.probe().is_err());
        std::fs::remove_file(&spool).unwrap();
        std::fs::create_dir(&spool).unwrap();
        outbox.probe().unwrap();
        outbox.put(&r).unwrap();
        assert_eq!(outbox.pending().unwrap().reports, vec![r]);
        assert_eq!(files(&spool), ["s1.t1.1.json"], "the probe leaves nothing");
    }

    #[cfg(unix)]
    #[test]
    fn a_read_only_outbox_refuses_writes_unless_root() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let spool = dir.path().join("outbox");
        std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o555)).unwrap();
        let put = outbox.put(&report("s1", "t1", 1));
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        assert_eq!(put.is_err(), !root, "{put:?}");
        std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn spooled_reports_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        outbox.put(&report("s", "t", 1)).unwrap();
        let spooled: Vec<_> = std::fs::read_dir(outbox.dir.clone())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(spooled.len(), 1, "{spooled:?}");
        let mode = std::fs::metadata(&spooled[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&spooled[0]).unwrap();
        assert!(
            text.contains("s3cret"),
            "the secret is spooled with the report"
        );
    }
}
