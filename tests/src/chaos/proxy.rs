//! A loopback TCP proxy between the workers and the coordinator: it
//! forwards bytes both ways, and during a partition it cuts every
//! connection it holds and, for the connections made meanwhile, forwards
//! the workers' requests but holds the coordinator's replies until the
//! partition heals (replies lost or late, longer than a lease). Its port
//! never changes, so the coordinator behind it can be restarted.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What every connection watches.
#[derive(Debug, Clone, Copy, Default)]
struct Phase {
    /// Bumped when a partition starts: connections from before are cut.
    partitions: u64,
    /// Replies are held while true.
    partitioned: bool,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    phase: watch::Sender<Phase>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (phase, _) = watch::channel(Phase::default());
        let rx = phase.subscribe();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, target, rx.clone()));
            }
        });
        Proxy {
            addr,
            phase,
            accept,
        }
    }

    /// `http://127.0.0.1:PORT`, for workers.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts every connection and holds replies for `length`, then heals.
    pub async fn partition(&self, length: Duration) {
        self.phase.send_modify(|p| {
            p.partitions += 1;
            p.partitioned = true;
        });
        tokio::time::sleep(length).await;
        self.phase.send_modify(|p| p.partitioned = false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Forwards one connection until either side closes it or a partition cuts it.
async fn forward(client: TcpStream, target: SocketAddr, mut phase: watch::Receiver<Phase>) {
    let born = phase.borrow().partitions;
    let Ok(upstream) = TcpStream::connect(target).await else {
        return; // The coordinator is down: the client sees a closed connection.
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_upstream, mut to_upstream) = upstream.into_split();
    let mut held = phase.clone();
    let requests = async {
        let _ = tokio::io::copy(&mut from_client, &mut to_upstream).await;
        let _ = to_upstream.shutdown().await;
    };
    let replies = async {
        // Replies wait while partitioned (the kernel buffers, then the
        // coordinator's writes block): the worker hears nothing.
        let _ = held.wait_for(|p| !p.partitioned).await;
        let _ = tokio::io::copy(&mut from_upstream, &mut to_client).await;
        let _ = to_client.shutdown().await;
    };
    tokio::select! {
        _ = async { tokio::join!(requests, replies) } => {}
        _ = phase.wait_for(|p| p.partitions != born) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.into_split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn bytes_go_through_and_a_partition_cuts_and_holds() {
        let proxy = Proxy::start(echo_server().await).await;
        let mut c = TcpStream::connect(proxy.addr).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");

        let partition = proxy.partition(Duration::from_millis(400));
        let check = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            // The old connection was cut.
            assert_eq!(c.read(&mut buf).await.unwrap_or(0), 0);
            // A new one gets no reply until the partition heals.
            let mut d = TcpStream::connect(proxy.addr).await.unwrap();
            d.write_all(b"pong").await.unwrap();
            let started = std::time::Instant::now();
            d.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"pong");
            assert!(started.elapsed() >= Duration::from_millis(250));
        };
        tokio::join!(partition, check);
    }
}
