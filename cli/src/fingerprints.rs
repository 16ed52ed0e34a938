//! The input fingerprints `sweep submit` and `sweep run` send with a sweep
//! file (`SubmitSweepRequest.input_sha256`): the SHA-256 of each backbone
//! weights file and of each data folder's MNIST IDX files that the sweep's
//! trials name, as this machine reads them. The coordinator reuses an earlier
//! sweep's result for a trial of the same config only when these match the
//! files that result was made from; a file this machine cannot read gets no
//! fingerprint, and its trials are run again.
//!
//! The file is expanded here with the coordinator's own loader (default
//! limits) only to learn the paths; the coordinator checks it again. A file
//! the loader refuses, and a TPE sweep (its points come later, and are
//! never reused), send none. Relative paths are read from the working
//! directory, as `sweep run`'s workers read them.

use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::Path;
use sweep_coordinator::sweepfile::{self, LoadLimits};

/// The IDX files a worker reads in `data.dir`, in the order they are hashed;
/// each is read plain, or else as `NAME.gz` (as the worker's reader does).
pub const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// What was fingerprinted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fingerprints {
    /// Path as the config writes it → lowercase hex SHA-256.
    pub sha256: HashMap<String, String>,
    /// Paths the sweep names that could not be read here.
    pub unreadable: Vec<String>,
}

/// The fingerprints of the inputs named by the sweep file `text`.
pub fn of_sweep_file(text: &str, source_name: &str) -> Fingerprints {
    let Ok(sweep) = sweepfile::load(text, source_name, &LoadLimits::default()) else {
        return Fingerprints::default();
    };
    let mut weights = BTreeSet::new();
    let mut data = BTreeSet::new();
    for point in &sweep.points {
        weights.insert(point.config.backbone.weights.clone());
        data.insert(point.config.data.dir.clone());
    }
    let mut out = Fingerprints::default();
    let named = weights
        .iter()
        .map(|p| (p, file_sha256(p)))
        .chain(data.iter().map(|p| (p, data_dir_sha256(p))));
    for (path, sha) in named {
        let Some(key) = path.to_str() else { continue };
        match sha {
            Some(sha) => {
                out.sha256.insert(key.to_string(), sha);
            }
            None => out.unreadable.push(key.to_string()),
        }
    }
    out
}

/// The SHA-256 of a file's bytes; `None` when it cannot be read.
pub fn file_sha256(path: &Path) -> Option<String> {
    let mut file = File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Some(hex::encode(hasher.finalize()))
}

/// A data folder's fingerprint: the SHA-256 of the lines
/// `NAME\0SHA256\n`, one per file of [`IDX_FILES`] (the name read: plain,
/// or else `.gz`); `None` when one of them is missing or unreadable.
pub fn data_dir_sha256(dir: &Path) -> Option<String> {
    let mut hasher = Sha256::new();
    for name in IDX_FILES {
        let gz = format!("{name}.gz");
        let (read, sha) = [name, gz.as_str()]
            .into_iter()
            .find(|n| dir.join(n).is_file())
            .and_then(|n| Some((n, file_sha256(&dir.join(n))?)))?;
        hasher.update(format!("{read}\0{sha}\n").as_bytes());
    }
    Some(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha_of(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn write_mnist(dir: &Path, gz_labels: bool) {
        std::fs::create_dir_all(dir).unwrap();
        for name in IDX_FILES {
            let name = if gz_labels && name.contains("labels") {
                format!("{name}.gz")
            } else {
                name.to_string()
            };
            std::fs::write(dir.join(&name), name.as_bytes()).unwrap();
        }
    }

    #[test]
    fn a_grid_sends_its_weights_and_data_fingerprints_and_names_what_it_cannot_read() {
        let tmp = tempfile::tempdir().unwrap();
        let weights = tmp.path().join("w.safetensors");
        std::fs::write(&weights, b"weights bytes").unwrap();
        let data = tmp.path().join("mnist");
        write_mnist(&data, true);
        let missing = tmp.path().join("other");
        let yaml = format!(
            "name: f\nmethod: grid\nbase:\n  backbone: {{weights: {}}}\n\
             parameters:\n  data.dir: {{values: [{}, {}]}}\n  seed: {{values: [1, 2]}}\n",
            weights.display(),
            data.display(),
            missing.display()
        );
        let f = of_sweep_file(&yaml, "f.yaml");
        assert_eq!(
            f.sha256.get(weights.to_str().unwrap()),
            Some(&sha_of(b"weights bytes"))
        );
        let mut lines = String::new();
        for name in IDX_FILES {
            let read = if name.contains("labels") {
                format!("{name}.gz")
            } else {
                name.to_string()
            };
            lines.push_str(&format!("{read}\0{}\n", sha_of(read.as_bytes())));
        }
        assert_eq!(
            f.sha256.get(data.to_str().unwrap()),
            Some(&sha_of(lines.as_bytes()))
        );
        assert_eq!(f.sha256.len(), 2, "{f:?}");
        assert_eq!(f.unreadable, [missing.to_str().unwrap()]);

        // Another byte in one IDX file: another fingerprint.
        std::fs::write(data.join("t10k-images-idx3-ubyte"), b"changed").unwrap();
        let g = of_sweep_file(&yaml, "f.yaml");
        assert_ne!(
            g.sha256.get(data.to_str().unwrap()),
            f.sha256.get(data.to_str().unwrap())
        );
        // A folder missing one file has none.
        std::fs::remove_file(data.join("t10k-images-idx3-ubyte")).unwrap();
        assert_eq!(data_dir_sha256(&data), None);
    }

    #[test]
    fn a_refused_file_or_a_tpe_sweep_sends_none() {
        assert_eq!(of_sweep_file("name: [", "x.yaml"), Fingerprints::default());
        let tpe = "name: t\nmethod: tpe\ncount: 3\nparameters:\n  seed: {int_uniform: [1, 9]}\n";
        assert_eq!(of_sweep_file(tpe, "t.yaml"), Fingerprints::default());
    }
}
