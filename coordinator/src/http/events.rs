//! `GET /api/sweeps/{id}/events`: server-sent events from the change feed
//! that `WatchSweep` waits on. Each committed change to the sweep sends one
//! `change` event (at most one per [`MIN_GAP`]; the page then re-reads what
//! it shows); a comment every 15 s keeps proxies from closing the stream.
//! Streams end when the coordinator stops; at most `max_watchers` are open
//! at once (one more: 503), like `WatchSweep`.

use super::api::ApiError;
use super::HttpState;
use crate::service::MAX_ID_BYTES;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::time::Duration;

/// The shortest time between two events of one stream.
pub const MIN_GAP: Duration = Duration::from_millis(250);

pub(super) async fn events(State(state): State<HttpState>, Path(id): Path<String>) -> Response {
    if id.len() > MAX_ID_BYTES {
        return ApiError::LongId.into_response();
    }
    let Ok(permit) = state.event_streams.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many open event streams\n",
        )
            .into_response();
    };
    let store = state.store.clone();
    let known = {
        let (store, id) = (store.clone(), id.clone());
        tokio::task::spawn_blocking(move || store.sweep_summary(&id)).await
    };
    match known {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return ApiError::from(e).into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    }
    let mut changes = store.subscribe(&id);
    drop(store);
    let mut stop = state.stop.clone();
    let stream = async_stream(move |tx| async move {
        let _permit = permit;
        // The page reads everything once it is connected.
        if tx
            .send(Event::default().event("change").data("0"))
            .await
            .is_err()
        {
            return;
        }
        loop {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = stop.wait_for(|s| *s) => return,
                _ = tx.closed() => return,
            }
            let n = *changes.borrow_and_update();
            if tx
                .send(Event::default().event("change").data(n.to_string()))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(MIN_GAP).await;
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// A stream fed by `produce` through a one-slot channel.
fn async_stream<F, Fut>(
    produce: F,
) -> impl tokio_stream::Stream<Item = Result<Event, Infallible>> + Send + 'static
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(produce(tx));
    tokio_stream::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), Ok)
}
