//! `WatchSweep`: a summary at once, then one after every change of the
//! sweep (fed by the store's change notifications), until the sweep is
//! finished or cancelled, the client goes away, or the server shuts down.
//! Each stream holds a permit of the service's watcher cap until it ends.
//! An unknown sweep is NOT_FOUND naming only the id asked for, and leaves
//! nothing behind (no change feed is kept for it).

use super::{convert, on_store};
use crate::store::{Store, SweepSummary};
use std::sync::Arc;
use sweep_proto::v1;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

pub type SummaryStream = ReceiverStream<Result<v1::SweepSummary, Status>>;

/// Starts watching `sweep_id`; NOT_FOUND at once for an unknown sweep.
pub async fn watch_sweep(
    store: Arc<Store>,
    sweep_id: String,
    mut shutdown: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
) -> Result<SummaryStream, Status> {
    // Known before subscribing, so an unknown id leaves no feed behind.
    let id = sweep_id.clone();
    on_store(&store, move |s| s.sweep_summary(&id)).await?;
    // Subscribe before the first read, so no change falls between the two.
    let mut changes = store.subscribe(&sweep_id);
    let id = sweep_id.clone();
    let first = on_store(&store, move |s| s.sweep_summary(&id)).await?;
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let _permit = permit;
        let mut last: SweepSummary = first;
        if tx.send(Ok(convert::summary(last.clone()))).await.is_err() {
            return;
        }
        while !last.state.is_over() {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = shutdown.wait_for(|stop| *stop) => return,
                _ = tx.closed() => return,
            }
            let id = sweep_id.clone();
            let now = match on_store(&store, move |s| s.sweep_summary(&id)).await {
                Ok(s) => s,
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            };
            if now != last {
                if tx.send(Ok(convert::summary(now.clone()))).await.is_err() {
                    return;
                }
                last = now;
            }
        }
    });
    Ok(ReceiverStream::new(rx))
}
