//! The coordinator `sweep run` serves in-process: started on the address and
//! database its [`Settings`] name, behind the token files they name, watched
//! in case it stops by itself, and stopped at the end.

use crate::error::{error_chain, one_line, CliError};
use std::time::Duration;
use sweep_coordinator::config::Settings;
use sweep_coordinator::server::{serve_secured, ServerError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long the coordinator gets to shut down.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// The in-process coordinator.
pub struct EmbeddedCoordinator {
    /// `http://127.0.0.1:PORT`, for the client and the workers.
    pub url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl EmbeddedCoordinator {
    /// Binds `settings.listen` and starts serving in a task of its own.
    pub async fn start(settings: &Settings) -> Result<Self, CliError> {
        let security = settings.security()?;
        let cannot_listen = |source| CliError::Listen {
            address: settings.listen.to_string(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(cannot_listen)?;
        let addr = listener.local_addr().map_err(cannot_listen)?;
        let (tx, rx) = oneshot::channel::<()>();
        let config = settings.server_config();
        let task = tokio::spawn(serve_secured(config, security, listener, async move {
            let _ = rx.await;
        }));
        Ok(Self {
            url: format!("http://{addr}"),
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Resolves (with its error) only if the coordinator stops by itself.
    pub async fn died(&mut self) -> CliError {
        let Some(task) = self.task.as_mut() else {
            return std::future::pending().await;
        };
        let result = task.await;
        self.task = None;
        CliError::CoordinatorStopped(describe(result))
    }

    /// An RPC failed: if that is because the coordinator died, say why it died.
    pub async fn explain(&mut self, err: CliError) -> CliError {
        match tokio::time::timeout(Duration::from_secs(1), self.died()).await {
            Ok(died) => died,
            Err(_) => err,
        }
    }

    /// Shuts the coordinator down and waits (up to [`STOP_WAIT`]) until its
    /// database is closed.
    pub async fn stop(&mut self) -> Result<(), CliError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(STOP_WAIT, task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(result) => Err(CliError::CoordinatorFailedToStop(describe(result))),
            Err(_) => Err(CliError::CoordinatorStopTimedOut {
                secs: STOP_WAIT.as_secs(),
            }),
        }
    }
}

/// How the coordinator's task ended, as one line.
fn describe(result: Result<Result<(), ServerError>, tokio::task::JoinError>) -> String {
    match result {
        Ok(Ok(())) => "it returned early".to_string(),
        Ok(Err(e)) => one_line(&error_chain(&e)),
        Err(e) => format!("it panicked ({e})"),
    }
}
