//! One role's tokens as SHA-256 digests. A presented token is hashed and
//! compared with every digest in constant time (`subtle`), so neither the
//! time taken nor an early exit tells how much of a token was right.

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// The digests of a role's tokens. `Debug` shows only how many.
#[derive(Clone, Default)]
pub struct TokenSet {
    digests: Vec<[u8; 32]>,
}

impl TokenSet {
    pub fn new<S: AsRef<str>>(tokens: &[S]) -> Self {
        Self {
            digests: tokens.iter().map(|t| digest(t.as_ref())).collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether `token` is one of the set; every digest is compared.
    pub fn contains(&self, token: &str) -> bool {
        let presented = digest(token);
        let found = self
            .digests
            .iter()
            .fold(Choice::from(0), |found, d| found | d.ct_eq(&presented));
        found.into()
    }
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSet({} token(s))", self.digests.len())
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_tokens_match() {
        let set = TokenSet::new(&["alpha-token", "beta-token"]);
        assert!(set.contains("alpha-token") && set.contains("beta-token"));
        assert!(!set.contains("alpha") && !set.contains("alpha-token ") && !set.contains(""));
        assert!(!TokenSet::default().contains(""));
        assert!(!format!("{set:?}").contains("alpha"));
    }
}
