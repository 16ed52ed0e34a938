//! Reading a sweep file from disk for `submit` and `run`. The coordinator
//! parses and validates it; here a missing or unreadable file becomes one
//! line naming the path.

use crate::error::CliError;
use std::path::Path;

/// A sweep file as read from disk: its text, unparsed, and the name errors
/// will call it by (parsing is the coordinator's job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepFileText {
    pub text: String,
    /// The path as given on the command line.
    pub source_name: String,
}

pub fn read(path: &Path) -> Result<SweepFileText, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => e.to_string(),
        };
        CliError::UnreadableSweepFile {
            path: path.to_path_buf(),
            why,
        }
    })?;
    Ok(SweepFileText {
        text,
        source_name: path.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_named() {
        let err = read(Path::new("/no/such/dir/grid.yaml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read sweep file /no/such/dir/grid.yaml: no such file"
        );
    }

    #[test]
    fn a_file_keeps_its_path_as_source_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quick.yaml");
        std::fs::write(&path, "name: q\n").unwrap();
        let f = read(&path).unwrap();
        assert_eq!(f.text, "name: q\n");
        assert_eq!(f.source_name, path.display().to_string());
    }
}
