//! The `authorization: Bearer TOKEN` header on every call of a client, as a
//! tonic interceptor. Its `Debug` output never shows the token.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// The metadata key tokens travel in.
pub const AUTHORIZATION: &str = "authorization";

/// Adds the token (if any) to every request.
#[derive(Clone, Default)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    /// Sends nothing.
    pub fn none() -> Self {
        Self(None)
    }

    /// Sends `token`. A token that cannot be a header value (only a
    /// token-file check lets tokens through, and it refuses those) is sent
    /// as nothing, which the coordinator refuses.
    pub fn new(token: &str) -> Self {
        Self(format!("Bearer {token}").parse().ok())
    }

    /// Whether a token is sent.
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.is_set() { "<token>" } else { "<none>" };
        f.debug_tuple("Bearer").field(&shown).finish()
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert(AUTHORIZATION, value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_carries_the_token_and_debug_hides_it() {
        let mut bearer = Bearer::new("s3cret");
        let request = bearer.call(Request::new(())).unwrap();
        assert_eq!(
            request.metadata().get(AUTHORIZATION).unwrap(),
            "Bearer s3cret"
        );
        assert!(!format!("{bearer:?}").contains("s3cret"));
        let request = Bearer::none().call(Request::new(())).unwrap();
        assert!(request.metadata().get(AUTHORIZATION).is_none());
    }
}
