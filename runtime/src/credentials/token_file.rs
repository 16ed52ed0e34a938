//! Token files: one token per line, blank lines and `#` comments ignored.
//! The coordinator reads every token of its files ([`read_all`]); a client
//! or worker sends the one token of its file ([`read_one`]). Refusals name
//! the file (and the line), never the token.

use super::CredentialsError;
use std::path::{Path, PathBuf};

/// Every token in `path`; a file with none is refused.
pub fn read_all(path: &Path) -> Result<Vec<String>, CredentialsError> {
    let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Unreadable {
        path: PathBuf::from(path),
        source,
    })?;
    let tokens = parse(&text).map_err(|line| CredentialsError::BadToken {
        path: PathBuf::from(path),
        line,
    })?;
    if tokens.is_empty() {
        return Err(CredentialsError::Empty {
            path: PathBuf::from(path),
        });
    }
    Ok(tokens)
}

/// The one token in `path`.
pub fn read_one(path: &Path) -> Result<String, CredentialsError> {
    let mut tokens = read_all(path)?;
    if tokens.len() > 1 {
        return Err(CredentialsError::SeveralTokens {
            path: PathBuf::from(path),
            count: tokens.len(),
        });
    }
    Ok(tokens.remove(0))
}

/// The tokens of a file's text, or the (1-based) number of a line that is
/// not one.
pub fn parse(text: &str) -> Result<Vec<String>, usize> {
    let mut tokens = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !line.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(i + 1);
        }
        tokens.push(line.to_string());
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let text = "# lab tokens\n\n  abc123  \n# revoked: old\nDEF-456\n";
        assert_eq!(parse(text).unwrap(), ["abc123", "DEF-456"]);
        assert_eq!(parse("ok\nnot ok\n"), Err(2));
    }

    #[test]
    fn refusals_name_the_file_not_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.tokens");
        std::fs::write(&empty, "# nothing yet\n\n").unwrap();
        let e = read_all(&empty).unwrap_err().to_string();
        assert!(e.contains("empty.tokens") && e.contains("no token"), "{e}");

        let missing = dir.path().join("missing.tokens");
        let e = read_one(&missing).unwrap_err().to_string();
        assert!(e.contains("missing.tokens"), "{e}");

        let two = dir.path().join("two.tokens");
        std::fs::write(&two, "first-secret\nsecond-secret\n").unwrap();
        let e = read_one(&two).unwrap_err().to_string();
        assert!(e.contains("two.tokens") && !e.contains("secret"), "{e}");
        assert_eq!(read_all(&two).unwrap().len(), 2);

        let spaced = dir.path().join("spaced.tokens");
        std::fs::write(&spaced, "a secret with spaces\n").unwrap();
        let e = read_one(&spaced).unwrap_err().to_string();
        assert!(e.contains("line 1") && !e.contains("secret with"), "{e}");
    }
}
