//! SIGINT and SIGTERM as one stream of stop requests: the one place a sweep
//! binary listens for signals. A server stops at the first
//! ([`Signals::first`]); the worker daemon and `sweep run` escalate on each
//! ([`Signals::next`]).

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Which signal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Interrupt,
    Terminate,
}

impl StopSignal {
    /// `SIGINT` or `SIGTERM`, for log lines.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }
}

/// Listens for SIGINT and SIGTERM from the moment it is made.
pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    /// Starts listening. Must be called inside a tokio runtime.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The next SIGINT or SIGTERM. Cancel-safe.
    pub async fn next(&mut self) -> StopSignal {
        tokio::select! {
            _ = self.interrupt.recv() => StopSignal::Interrupt,
            _ = self.terminate.recv() => StopSignal::Terminate,
        }
    }

    /// Resolves on the first SIGINT or SIGTERM (a server's shutdown future).
    pub async fn first(mut self) -> StopSignal {
        self.next().await
    }
}
