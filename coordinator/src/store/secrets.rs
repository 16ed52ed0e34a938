//! Worker secrets: `Register` draws one from the operating system's RNG
//! (256 bits, hex), hands it to the worker once and stores only its SHA-256.
//! A presented secret is hashed and compared with the stored digest in
//! constant time (`subtle`), as the gate does for tokens.

use rand::rngs::OsRng;
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A fresh secret: 32 bytes from the OS RNG as 64 hex digits.
pub(super) fn draw() -> Result<String, rand::rand_core::OsError> {
    let mut bytes = [0u8; 32];
    OsRng.try_fill_bytes(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// What the store keeps of a secret.
pub(super) fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `presented` is the secret whose digest is `stored`; an empty
/// secret never matches.
pub(super) fn matches(stored: &[u8], presented: &str) -> bool {
    !presented.is_empty() && bool::from(digest(presented).as_slice().ct_eq(stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_distinct_and_only_match_themselves() {
        let a = draw().unwrap();
        let b = draw().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let stored = digest(&a);
        assert!(matches(&stored, &a));
        assert!(!matches(&stored, &b));
        assert!(!matches(&stored, &a[..63]));
        assert!(!matches(&stored, ""));
        assert!(!matches(&digest(""), ""));
    }
}
