//! SIGHUP re-reads the token files, so a token is added, rotated or revoked
//! by editing its file and sending `kill -HUP` (`systemctl reload`).

use super::Gate;
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinHandle;

/// Listens for SIGHUP from now on and reloads `gate` on each; a file that
/// cannot be used is logged and the tokens in force stay. Does nothing for
/// an open gate.
pub fn reload_on_hangup(gate: Gate) -> std::io::Result<Option<JoinHandle<()>>> {
    if gate.is_open() {
        return Ok(None);
    }
    let mut hangups = signal(SignalKind::hangup())?;
    Ok(Some(tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match gate.reload() {
                Ok((clients, workers)) => tracing::info!(
                    "SIGHUP: token files re-read ({clients} client, {workers} worker token(s))"
                ),
                Err(e) => tracing::error!("SIGHUP: {e}; the tokens in force stay"),
            }
        }
    })))
}
