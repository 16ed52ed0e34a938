//! Who may call what: every `SweepService` method is for the *client* role,
//! every `WorkerService` method for the *worker* role. A caller proves its
//! role with a bearer token (`authorization: Bearer TOKEN` metadata) found in
//! that role's token file (`client_tokens_file`, `worker_tokens_file`).
//!
//! - [`token_set`]: a role's tokens, kept as SHA-256 digests and compared in
//!   constant time.
//! - [`gate`]: the [`Gate`] both services' interceptors share; re-reads the
//!   files on demand ([`Gate::reload`]), e.g. on SIGHUP ([`reload_on_hangup`]).
//!
//! No token at all, or one of no role: `UNAUTHENTICATED`. A token of the
//! other role: `PERMISSION_DENIED`. A gate without token files lets every
//! call through (the coordinator only allows that on loopback). Tokens are
//! never logged.

mod gate;
mod hangup;
mod token_set;

pub use gate::{Gate, RoleCheck};
pub use hangup::reload_on_hangup;
pub use sweep_runtime::credentials::CredentialsError as TokenFileError;

/// The two kinds of callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `SweepService`: submit, inspect, cancel, watch.
    Client,
    /// `WorkerService`: register, lease, heartbeat, report.
    Worker,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Worker => "worker",
        }
    }

    fn other(self) -> Role {
        match self {
            Role::Client => Role::Worker,
            Role::Worker => Role::Client,
        }
    }
}
