//! Artifacts: the files a trial leaves with the coordinator (its best
//! weights, its Grad-CAM and confusion figures). What kinds there are, the
//! file name each one has, which names an artifact may have at all, and
//! the chunk size on the wire — shared by the worker that uploads, the
//! coordinator that stores and the CLI that downloads.

use serde::{Deserialize, Serialize};

/// The most bytes one `ArtifactChunk`/`ArtifactData` message carries.
pub const CHUNK_BYTES: usize = 1 << 20;

/// The longest artifact name.
pub const MAX_NAME_BYTES: usize = 64;

/// What a sweep may keep of each trial (`artifacts: {kinds: [...]}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    /// The best-validation weights (safetensors, torchvision names, ~45 MB).
    BestWeights,
    /// Grad-CAM on `layer4` of the best weights, on test images (PNG).
    Gradcam,
    /// The test split's confusion matrix as a heat-map (PNG).
    Confusion,
}

impl ArtifactKind {
    /// Every kind, in the order a worker makes them.
    pub const ALL: [ArtifactKind; 3] = [
        ArtifactKind::BestWeights,
        ArtifactKind::Gradcam,
        ArtifactKind::Confusion,
    ];

    /// The name sweep files and the lease use.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::BestWeights => "best_weights",
            ArtifactKind::Gradcam => "gradcam",
            ArtifactKind::Confusion => "confusion",
        }
    }

    /// Parses [`ArtifactKind::as_str`]'s names.
    pub fn parse(s: &str) -> Option<ArtifactKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The artifact's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            ArtifactKind::BestWeights => "best.safetensors",
            ArtifactKind::Gradcam => "gradcam.png",
            ArtifactKind::Confusion => "confusion.png",
        }
    }
}

/// Why an artifact name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the artifact name is empty")]
    Empty,
    #[error("the artifact name is longer than {MAX_NAME_BYTES} bytes")]
    TooLong,
    #[error("the artifact name must start with a letter or digit")]
    BadStart,
    #[error(
        "the artifact name may hold only letters, digits, '.', '_' and '-' (no path components)"
    )]
    BadCharacter,
    #[error("the artifact name may not contain \"..\"")]
    DotDot,
}

/// Checks that `name` is a plain file name: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`
/// without `..`. So no `/`, no leading dot, nothing a path could climb with.
pub fn check_name(name: &str) -> Result<(), NameError> {
    let bytes = name.as_bytes();
    let Some(first) = bytes.first() else {
        return Err(NameError::Empty);
    };
    if bytes.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong);
    }
    if !first.is_ascii_alphanumeric() {
        return Err(NameError::BadStart);
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(NameError::BadCharacter);
    }
    if name.contains("..") {
        return Err(NameError::DotDot);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_file_names() {
        for ok in [
            "best.safetensors",
            "gradcam.png",
            "a",
            "A-1_b.c",
            &"x".repeat(64),
        ] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name(&"x".repeat(65)), Err(NameError::TooLong));
        assert_eq!(check_name(".hidden"), Err(NameError::BadStart));
        assert_eq!(check_name("-rf"), Err(NameError::BadStart));
        assert_eq!(check_name("a/b"), Err(NameError::BadCharacter));
        assert_eq!(check_name("a\\b"), Err(NameError::BadCharacter));
        assert_eq!(check_name("a b"), Err(NameError::BadCharacter));
        assert_eq!(check_name("é.png"), Err(NameError::BadStart));
        assert_eq!(check_name("a..b"), Err(NameError::DotDot));
        assert_eq!(check_name("a\0"), Err(NameError::BadCharacter));
    }

    #[test]
    fn kinds_round_trip_and_name_their_files() {
        for k in ArtifactKind::ALL {
            assert_eq!(ArtifactKind::parse(k.as_str()), Some(k));
            assert_eq!(check_name(k.file_name()), Ok(()));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert_eq!(ArtifactKind::parse("weights"), None);
    }
}
