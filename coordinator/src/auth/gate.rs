//! The [`Gate`]: the current tokens of both roles, shared by the two
//! services' interceptors ([`RoleCheck`], one per service), and re-read from
//! their files by [`Gate::reload`]. A reload that fails keeps the tokens in
//! force.

use super::token_set::TokenSet;
use super::{Role, TokenFileError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use sweep_runtime::credentials::token_file;
use tonic::metadata::MetadataMap;
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// The tokens in force, and the files they came from.
#[derive(Debug, Clone)]
pub struct Gate {
    /// `None`: no token files, every call goes through.
    keys: Option<Arc<RwLock<Keys>>>,
}

#[derive(Debug)]
struct Keys {
    client_file: PathBuf,
    worker_file: PathBuf,
    client: TokenSet,
    worker: TokenSet,
}

impl Keys {
    fn read(client_file: &Path, worker_file: &Path) -> Result<Self, TokenFileError> {
        Ok(Self {
            client: TokenSet::new(&token_file::read_all(client_file)?),
            worker: TokenSet::new(&token_file::read_all(worker_file)?),
            client_file: client_file.to_path_buf(),
            worker_file: worker_file.to_path_buf(),
        })
    }

    fn of(&self, role: Role) -> &TokenSet {
        match role {
            Role::Client => &self.client,
            Role::Worker => &self.worker,
        }
    }
}

impl Gate {
    /// No tokens required.
    pub fn open() -> Self {
        Self { keys: None }
    }

    /// The tokens of both files (the same file may serve both roles).
    pub fn from_files(client_file: &Path, worker_file: &Path) -> Result<Self, TokenFileError> {
        let keys = Keys::read(client_file, worker_file)?;
        Ok(Self {
            keys: Some(Arc::new(RwLock::new(keys))),
        })
    }

    /// Whether calls go through without a token.
    pub fn is_open(&self) -> bool {
        self.keys.is_none()
    }

    /// Re-reads both files; on success their tokens replace the ones in
    /// force and `(client, worker)` token counts are returned. An open gate
    /// stays open.
    pub fn reload(&self) -> Result<(usize, usize), TokenFileError> {
        let Some(keys) = &self.keys else {
            return Ok((0, 0));
        };
        let (client_file, worker_file) = {
            let k = keys.read().unwrap_or_else(|p| p.into_inner());
            (k.client_file.clone(), k.worker_file.clone())
        };
        let fresh = Keys::read(&client_file, &worker_file)?;
        let counts = (fresh.client.len(), fresh.worker.len());
        *keys.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(counts)
    }

    /// The interceptor of a service whose every method is for `role`.
    pub fn for_role(&self, role: Role) -> RoleCheck {
        RoleCheck {
            gate: self.clone(),
            role,
        }
    }

    /// Lets a call for `role` through, or says why not.
    pub fn check(&self, role: Role, metadata: &MetadataMap) -> Result<(), Status> {
        self.check_token(role, bearer_token(metadata))
    }

    /// Lets a caller holding `token` (if any) through for `role`, or says why
    /// not; for callers other than gRPC (the dashboard's cookie or header).
    pub fn check_token(&self, role: Role, token: Option<&str>) -> Result<(), Status> {
        let Some(keys) = &self.keys else {
            return Ok(());
        };
        let Some(token) = token else {
            return Err(Status::unauthenticated(
                "no credentials: send `authorization: Bearer TOKEN` (--token-file)",
            ));
        };
        let keys = keys.read().unwrap_or_else(|p| p.into_inner());
        if keys.of(role).contains(token) {
            return Ok(());
        }
        if keys.of(role.other()).contains(token) {
            return Err(Status::permission_denied(format!(
                "a {} token cannot call {} methods",
                role.other().name(),
                role.name()
            )));
        }
        Err(Status::unauthenticated("token not accepted"))
    }
}

/// The token after `Bearer ` (the scheme in any case), if any.
fn bearer_token(metadata: &MetadataMap) -> Option<&str> {
    let value = metadata.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// One service's interceptor: every call must carry a token of `role`.
#[derive(Debug, Clone)]
pub struct RoleCheck {
    gate: Gate,
    role: Role,
}

impl Interceptor for RoleCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        self.gate.check(self.role, request.metadata())?;
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn with(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[test]
    fn roles_tokens_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let (c, w) = (dir.path().join("client"), dir.path().join("worker"));
        std::fs::write(&c, "# clients\nclient-1\n").unwrap();
        std::fs::write(&w, "worker-1\n").unwrap();
        let gate = Gate::from_files(&c, &w).unwrap();
        let code = |role, m: &MetadataMap| gate.check(role, m).err().map(|s| s.code());

        assert_eq!(code(Role::Client, &with("Bearer client-1")), None);
        assert_eq!(code(Role::Worker, &with("bearer worker-1")), None);
        assert_eq!(
            code(Role::Client, &MetadataMap::new()),
            Some(Code::Unauthenticated)
        );
        assert_eq!(
            code(Role::Client, &with("client-1")),
            Some(Code::Unauthenticated)
        );
        assert_eq!(
            code(Role::Client, &with("Bearer nope")),
            Some(Code::Unauthenticated)
        );
        assert_eq!(
            code(Role::Client, &with("Bearer worker-1")),
            Some(Code::PermissionDenied)
        );
        assert_eq!(
            code(Role::Worker, &with("Bearer client-1")),
            Some(Code::PermissionDenied)
        );

        // Rotation: the new token works, the old one no longer does.
        std::fs::write(&c, "client-2\n").unwrap();
        assert_eq!(gate.reload().unwrap(), (1, 1));
        assert_eq!(code(Role::Client, &with("Bearer client-2")), None);
        assert_eq!(
            code(Role::Client, &with("Bearer client-1")),
            Some(Code::Unauthenticated)
        );

        // A broken file keeps the tokens in force.
        std::fs::write(&c, "\n").unwrap();
        let e = gate.reload().unwrap_err().to_string();
        assert!(e.contains(&c.display().to_string()), "{e}");
        assert_eq!(code(Role::Client, &with("Bearer client-2")), None);
    }

    #[test]
    fn an_open_gate_lets_everything_through() {
        let gate = Gate::open();
        assert!(gate.is_open());
        assert!(gate.check(Role::Worker, &MetadataMap::new()).is_ok());
    }
}
