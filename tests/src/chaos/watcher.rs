//! A client watching the sweep from its start (`WatchSweep`), reconnecting
//! whenever the stream breaks (a coordinator restart), until it sees the
//! sweep end.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use sweep_proto::v1::sweep_service_client::SweepServiceClient;
use sweep_proto::v1::{SweepState, WatchSweepRequest};
use tokio::task::JoinHandle;
use tonic::transport::Endpoint;

/// What the watcher has seen.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Summaries received.
    pub updates: u64,
    /// Streams opened after the first.
    pub reconnects: u64,
    /// The last state received.
    pub last_state: i32,
    /// A summary said FINISHED.
    pub finished: bool,
}

/// A watch stream running in the background.
pub struct Watcher {
    seen: Arc<Mutex<Seen>>,
    task: JoinHandle<()>,
}

impl Watcher {
    /// Starts watching `sweep_id` at `url`.
    pub fn start(url: &str, sweep_id: &str) -> Watcher {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let task = tokio::spawn(watch(url.to_string(), sweep_id.to_string(), seen.clone()));
        Watcher { seen, task }
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn watch(url: String, sweep_id: String, seen: Arc<Mutex<Seen>>) {
    let endpoint = Endpoint::from_shared(url)
        .expect("a valid URL")
        .connect_timeout(Duration::from_secs(2));
    let mut opened = 0u64;
    loop {
        if let Ok(channel) = endpoint.connect().await {
            let request = WatchSweepRequest {
                sweep_id: sweep_id.clone(),
            };
            if let Ok(stream) = SweepServiceClient::new(channel).watch_sweep(request).await {
                opened += 1;
                let mut stream = stream.into_inner();
                while let Ok(Some(summary)) = stream.message().await {
                    let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                    s.updates += 1;
                    s.reconnects = opened - 1;
                    s.last_state = summary.state;
                    if summary.state == SweepState::Finished as i32 {
                        s.finished = true;
                        return;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
