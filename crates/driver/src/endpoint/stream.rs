//! SIP over TCP and TLS for the endpoint driver, so that nothing a remote party does on a connection can stall
//! the endpoint task:
//! - every connection runs in its own task, which reads into the endpoint's channel and writes from a queue the
//!   endpoint task fills without waiting: a queue over [`StreamLimits::max_queued_bytes`], or one message not
//!   written within [`StreamLimits::write_timeout`], drops the connection (a slow peer);
//! - outgoing connections are opened (TCP connect, TLS handshake) in that task too, within
//!   [`StreamLimits::connect_timeout`]; the messages wait in the queue meanwhile;
//! - the accept loops refuse connections beyond [`StreamLimits::max_connections_per_ip`] per source address and
//!   [`StreamLimits::max_connections`] in total (closed at once, counted), and back off on accept errors such as
//!   EMFILE instead of spinning.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dtlsrtp::TransportKind;
use openssl::ssl::{Ssl, SslAcceptor, SslConnector};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_openssl::SslStream;

use super::{Input, TlsConfig};

/// The bounds of SIP stream connections, part of [`DriverOptions`](super::DriverOptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamLimits {
    /// Time to open an outgoing connection: TCP connect plus, for TLS, the handshake (default 10 s). Also the
    /// bound of an incoming TLS handshake. Past it the connection fails (`transport_failed`).
    pub connect_timeout: Duration,
    /// Time one queued message may take to be written (default 5 s). Past it the peer is slow: dropped.
    pub write_timeout: Duration,
    /// Bytes queued for one connection and not yet written (default 256 KiB). A message that would exceed it
    /// drops the peer.
    pub max_queued_bytes: usize,
    /// Connections at once, incoming and outgoing (default 256). Incoming ones beyond it are refused.
    pub max_connections: usize,
    /// Incoming connections at once from one IP address (default 32).
    pub max_connections_per_ip: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(5),
            max_queued_bytes: 256 * 1024,
            max_connections: 256,
            max_connections_per_ip: 32,
        }
    }
}

/// What the driver's transports dropped, refused or failed, from [`EndpointHandle::transport_stats`](
/// super::EndpointHandle::transport_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportStats {
    /// Incoming connections refused by the per-IP or total cap.
    pub refused_connections: u64,
    /// Connections dropped because the peer did not read (queue over its bound, or a write past its deadline).
    pub slow_peers_dropped: u64,
    /// Outgoing connections that could not be opened (refused, unreachable, TLS failure, past the deadline).
    pub connect_failures: u64,
    /// `accept` errors (EMFILE, ENFILE, ENOBUFS...); the accept loop backed off after each.
    pub accept_errors: u64,
    /// Media sockets that could not be bound (EMFILE...); the pool is topped up again later.
    pub media_bind_errors: u64,
    /// UDP datagrams the OS refused to send (EACCES, ENOBUFS, unreachable...): dropped, never fatal.
    pub udp_send_errors: u64,
}

/// Shared counters and connection slots (the accept loops, the connection tasks and the endpoint task).
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) limits: StreamLimits,
    slots: Mutex<Slots>,
    next_id: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) slow: AtomicU64,
    pub(super) connect_failures: AtomicU64,
    pub(super) accept_errors: AtomicU64,
    pub(super) media_bind_errors: AtomicU64,
    pub(super) udp_send_errors: AtomicU64,
}

#[derive(Debug, Default)]
struct Slots {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One connection's place under the caps; released when the connection's task ends.
#[derive(Debug)]
pub(super) struct Slot {
    shared: Arc<Shared>,
    ip: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Ok(mut s) = self.shared.slots.lock() else {
            return;
        };
        s.total = s.total.saturating_sub(1);
        if let Some(ip) = self.ip {
            if let Some(n) = s.per_ip.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    s.per_ip.remove(&ip);
                }
            }
        }
    }
}

impl Shared {
    pub(super) fn new(limits: StreamLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            ..Self::default()
        })
    }

    /// A slot for an incoming connection from `ip`, or `None` (refused, counted) beyond the caps.
    fn acquire_incoming(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let Ok(mut s) = self.slots.lock() else {
            return None;
        };
        let from_ip = s.per_ip.get(&ip).copied().unwrap_or(0);
        if s.total >= self.limits.max_connections || from_ip >= self.limits.max_connections_per_ip {
            drop(s);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        s.total += 1;
        *s.per_ip.entry(ip).or_insert(0) += 1;
        Some(Slot {
            shared: self.clone(),
            ip: Some(ip),
        })
    }

    /// A slot for an outgoing connection (counted in the total only), or `None` beyond the total cap.
    fn acquire_outgoing(self: &Arc<Self>) -> Option<Slot> {
        let Ok(mut s) = self.slots.lock() else {
            return None;
        };
        if s.total >= self.limits.max_connections {
            return None;
        }
        s.total += 1;
        Some(Slot {
            shared: self.clone(),
            ip: None,
        })
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn stats(&self) -> TransportStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TransportStats {
            refused_connections: get(&self.refused),
            slow_peers_dropped: get(&self.slow),
            connect_failures: get(&self.connect_failures),
            accept_errors: get(&self.accept_errors),
            media_bind_errors: get(&self.media_bind_errors),
            udp_send_errors: get(&self.udp_send_errors),
        }
    }
}

/// The endpoint task's side of one connection: a queue it fills without waiting. Dropping it closes the
/// connection (the task sees its close signal and ends).
#[derive(Debug)]
pub(super) struct Conn {
    /// Tells this connection from a later one to the same peer.
    pub(super) id: u64,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    _close: oneshot::Sender<()>,
}

/// Why a message could not be queued: drop the connection.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum NotQueued {
    /// The peer does not keep up: the bytes waiting would exceed [`StreamLimits::max_queued_bytes`].
    Slow,
    /// The connection's task has ended.
    Gone,
}

impl Conn {
    /// Queues one message without waiting.
    pub(super) fn send(&self, limits: &StreamLimits, bytes: Vec<u8>) -> Result<(), NotQueued> {
        let len = bytes.len();
        let before = self.queued.fetch_add(len, Ordering::AcqRel);
        if before.saturating_add(len) > limits.max_queued_bytes {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            return Err(NotQueued::Slow);
        }
        self.tx.send(bytes).map_err(|_| NotQueued::Gone)
    }
}

/// The connection task's side.
struct Task {
    kind: TransportKind,
    remote: SocketAddr,
    id: u64,
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    close: oneshot::Receiver<()>,
    inputs: mpsc::Sender<Input>,
    shared: Arc<Shared>,
}

fn pair(
    kind: TransportKind,
    remote: SocketAddr,
    inputs: mpsc::Sender<Input>,
    shared: &Arc<Shared>,
) -> (Conn, Task) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (close_tx, close) = oneshot::channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let id = shared.id();
    let conn = Conn {
        id,
        tx,
        queued: queued.clone(),
        _close: close_tx,
    };
    let task = Task {
        kind,
        remote,
        id,
        rx,
        queued,
        close,
        inputs,
        shared: shared.clone(),
    };
    (conn, task)
}

impl Task {
    /// Reads and writes until the peer closes, a write fails or passes its deadline, or the endpoint task
    /// drops the [`Conn`]; then tells the endpoint task (`Input::Closed`, ignored if it dropped the connection
    /// itself).
    async fn run<S: AsyncRead + AsyncWrite + Send + 'static>(self, stream: S) {
        let Self {
            kind,
            remote,
            id,
            mut rx,
            queued,
            close,
            inputs,
            shared,
        } = self;
        let (mut rd, mut wr) = tokio::io::split(stream);
        let reading = async {
            let mut buf = vec![0u8; 16_384];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let bytes = buf.get(..n).unwrap_or_default().to_vec();
                        let input = Input::Stream {
                            transport: kind,
                            remote,
                            bytes,
                        };
                        if inputs.send(input).await.is_err() {
                            return;
                        }
                    }
                }
            }
        };
        let write_timeout = shared.limits.write_timeout;
        let writing = async {
            while let Some(bytes) = rx.recv().await {
                let write = async {
                    wr.write_all(&bytes).await?;
                    wr.flush().await
                };
                match tokio::time::timeout(write_timeout, write).await {
                    Ok(Ok(())) => {
                        queued.fetch_sub(bytes.len(), Ordering::AcqRel);
                    }
                    Ok(Err(_)) => return,
                    Err(_) => {
                        tracing::info!(
                            "SIP {kind:?} peer {remote} too slow (write deadline): dropped"
                        );
                        shared.slow.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        };
        tokio::select! {
            _ = close => return,
            () = reading => {}
            () = writing => {}
        }
        let _ = inputs.send(Input::Closed(kind, remote, id)).await;
    }
}

/// Accepts SIP stream connections on `l` (TLS when `acceptor` is set) under the caps of `shared.limits`.
pub(super) fn spawn_accept(
    l: TcpListener,
    kind: TransportKind,
    inputs: mpsc::Sender<Input>,
    acceptor: Option<Arc<SslAcceptor>>,
    shared: Arc<Shared>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (s, remote) = match l.accept().await {
                Ok(x) => x,
                Err(e) => {
                    if accept_error_needs_backoff(&e) {
                        // EMFILE and friends: the socket stays readable; back off instead of spinning.
                        shared.accept_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!("SIP {kind:?} accept: {e}; retrying in 100 ms");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            };
            let Some(slot) = shared.acquire_incoming(remote.ip()) else {
                tracing::debug!("SIP {kind:?} connection from {remote} refused (connection cap)");
                continue; // dropping `s` closes it
            };
            let _ = s.set_nodelay(true);
            let (conn, task) = pair(kind, remote, inputs.clone(), &shared);
            match &acceptor {
                None => {
                    if inputs
                        .send(Input::Accepted(kind, remote, conn))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    tokio::spawn(async move {
                        let _slot = slot;
                        task.run(s).await;
                    });
                }
                Some(acc) => {
                    // The handshake runs in the connection's task: a slow or silent client cannot stall accepting.
                    let (acc, inputs, deadline) =
                        (acc.clone(), inputs.clone(), shared.limits.connect_timeout);
                    tokio::spawn(async move {
                        let _slot = slot;
                        let hs = tokio::time::timeout(deadline, tls_accept(&acc, s));
                        if let Ok(Some(st)) = hs.await {
                            if inputs
                                .send(Input::Accepted(kind, remote, conn))
                                .await
                                .is_ok()
                            {
                                task.run(st).await;
                            }
                        }
                    });
                }
            }
        }
    })
}

/// Accept errors after which the listening socket stays readable (resource exhaustion): back off.
fn accept_error_needs_backoff(e: &io::Error) -> bool {
    !matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Opens a connection to `remote` in its own task (connect and TLS handshake within the deadline); the
/// returned [`Conn`] queues messages meanwhile. `None` when the total cap is reached.
pub(super) fn connect(
    kind: TransportKind,
    remote: SocketAddr,
    tls: Option<&TlsConfig>,
    inputs: mpsc::Sender<Input>,
    shared: &Arc<Shared>,
) -> Option<Conn> {
    let slot = shared.acquire_outgoing()?;
    let connector = match kind {
        TransportKind::Tls => {
            let t = tls?;
            Some((t.connector.clone(), t.server_name.clone()))
        }
        _ => None,
    };
    let (conn, task) = pair(kind, remote, inputs.clone(), shared);
    let deadline = shared.limits.connect_timeout;
    let shared = shared.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let id = task.id;
        let opened = tokio::time::timeout(deadline, async {
            let s = TcpStream::connect(remote).await.ok()?;
            let _ = s.set_nodelay(true);
            Some(match &connector {
                Some((c, name)) => Opened::Tls(tls_connect(c, name.as_deref(), s).await?),
                None => Opened::Tcp(s),
            })
        })
        .await;
        match opened {
            Ok(Some(Opened::Tcp(s))) => task.run(s).await,
            Ok(Some(Opened::Tls(s))) => task.run(s).await,
            Ok(None) | Err(_) => {
                shared.connect_failures.fetch_add(1, Ordering::Relaxed);
                tracing::info!("SIP {kind:?} connection to {remote} failed or timed out");
                let _ = inputs.send(Input::ConnectFailed(kind, remote, id)).await;
            }
        }
    });
    Some(conn)
}

enum Opened {
    Tcp(TcpStream),
    Tls(SslStream<TcpStream>),
}

/// Server side of a TLS connection: the handshake.
async fn tls_accept(acceptor: &SslAcceptor, s: TcpStream) -> Option<SslStream<TcpStream>> {
    let ssl = Ssl::new(acceptor.context()).ok()?;
    let mut st = SslStream::new(ssl, s).ok()?;
    Pin::new(&mut st).accept().await.ok()?;
    Some(st)
}

/// Client side of a TLS connection: chain verification by the connector and, with `name`, the certificate must
/// name that host (DNS name or IP address; SNI for a DNS name).
async fn tls_connect(
    connector: &SslConnector,
    name: Option<&str>,
    s: TcpStream,
) -> Option<SslStream<TcpStream>> {
    let ssl = connector
        .configure()
        .ok()?
        .use_server_name_indication(name.is_some())
        .verify_hostname(name.is_some())
        .into_ssl(name.unwrap_or(""))
        .ok()?;
    let mut st = SslStream::new(ssl, s).ok()?;
    Pin::new(&mut st).connect().await.ok()?;
    Some(st)
}
