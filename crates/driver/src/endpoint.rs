//! Runs a sans-IO [`dtlsrtp::Endpoint`] (SIP user agent + DTLS-SRTP calls) on tokio: the SIP UDP socket, a TCP
//! listener and its connections (SIP framed by Content-Length, done by the UA), and the media sockets, which
//! the driver binds on demand to keep the endpoint's pool at [`DriverOptions::media_pool`] and closes when the
//! endpoint releases them (a fresh port per call and per renewed association, T-5.1a).
//!
//! One task owns the endpoint by value (STYLE rule 10); small reader tasks forward datagrams and stream bytes
//! to it over a channel. The loop is ARCHITECTURE §3: wait for an input, a command or the deadline; make one
//! `handle_*` call; drain transmits and events; read the deadline again.
//!
//! Nothing a remote party does can stall that loop (R-2): each SIP connection has its own task with a bounded
//! write queue, write and connect deadlines, and caps per source address and in total ([`StreamLimits`]); a
//! media socket that cannot be bound (EMFILE) is retried later, and a UDP send error drops the datagram. What
//! was dropped or refused is counted in [`EndpointHandle::transport_stats`].
//!
//! ```no_run
//! use dtlsrtp::{CallOptions, Event};
//! use dtlsrtp_dtls::{Certificate, KeyType};
//! use dtlsrtp_tokio::endpoint::{DriverOptions, EndpointHandle};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let cert = Certificate::generate(KeyType::EcdsaP256, "alice", 30)?;
//! let opts = DriverOptions::new("127.0.0.1:5060".parse()?);
//! let mut h = EndpointHandle::start(opts, |sip, seed| {
//!     dtlsrtp::Config::new("alice", "127.0.0.1", sip, cert, seed)
//! })
//! .await?;
//! let call = h.dial("sip:bob@127.0.0.1:5070", CallOptions::default()).await?;
//! while let Some(ev) = h.next_event().await {
//!     match ev {
//!         Event::Established { .. } => h.send_audio(call, 0, 0, vec![0xff; 160]).await?,
//!         Event::Rtp { payload, .. } => println!("{} octets", payload.len()),
//!         Event::Terminated { .. } => break,
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtlsrtp::{CallId, CallOptions, CallStats, Datagram, Endpoint, Event, FetchId, TransportKind};
use dtlsrtp_sip::identity::ResolveError;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::DriverError;

pub mod identity_io;
mod stream;
mod tls;

use stream::{Conn, NotQueued, Shared};
pub use stream::{StreamLimits, TransportStats};
pub use tls::{TlsConfig, TlsConfigError};

/// After a media socket could not be bound, the pool is topped up again this much later.
const TOP_UP_RETRY: Duration = Duration::from_secs(1);

/// Largest datagram read.
const RECV_BUF: usize = 65_536;

/// Where the driver listens and how many media sockets it keeps ready.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DriverOptions {
    /// SIP over UDP (port 0: any).
    pub sip_udp: SocketAddr,
    /// SIP over TCP, if wanted (port 0: any).
    pub sip_tcp: Option<SocketAddr>,
    /// SIP over TLS (SIPS), if wanted: where to listen, and the OpenSSL acceptor/connector to use.
    pub sip_tls: Option<(SocketAddr, TlsConfig)>,
    /// The IP media sockets bind to (default: `sip_udp`'s).
    pub media_ip: IpAddr,
    /// Free media sockets kept bound (default 4).
    pub media_pool: usize,
    /// Bounds of SIP over TCP and TLS: deadlines, queue size, connection caps (R-2).
    pub streams: StreamLimits,
    /// Sees (and may rewrite, hold or drop) every outgoing UDP datagram ([`crate::interpose`]).
    pub interpose: Option<crate::interpose::Interpose>,
}

impl DriverOptions {
    /// SIP over UDP at `sip_udp`, media on the same IP, a pool of 4.
    pub fn new(sip_udp: SocketAddr) -> Self {
        Self {
            sip_udp,
            sip_tcp: None,
            sip_tls: None,
            media_ip: sip_udp.ip(),
            media_pool: 4,
            streams: StreamLimits::default(),
            interpose: None,
        }
    }
}

/// Inputs from the reader and connection tasks.
enum Input {
    Datagram {
        local: SocketAddr,
        remote: SocketAddr,
        bytes: Vec<u8>,
    },
    Stream {
        transport: TransportKind,
        remote: SocketAddr,
        bytes: Vec<u8>,
    },
    /// An incoming connection (under the caps), with its queue.
    Accepted(TransportKind, SocketAddr, Conn),
    /// The connection with this id ended (peer closed, write failed or past its deadline).
    Closed(TransportKind, SocketAddr, u64),
    /// The outgoing connection with this id could not be opened within the deadline.
    ConnectFailed(TransportKind, SocketAddr, u64),
    /// An Identity certificate fetch finished (or timed out).
    Fetched(FetchId, Result<Vec<u8>, ResolveError>),
}

type Reply<T> = oneshot::Sender<T>;

enum Command {
    Dial(String, CallOptions, Reply<Result<CallId, dtlsrtp::Error>>),
    Ring(CallId, Reply<Result<(), dtlsrtp::Error>>),
    EarlyMedia(CallId, Reply<Result<(), dtlsrtp::Error>>),
    Answer(CallId, Reply<Result<(), dtlsrtp::Error>>),
    Reject(CallId, u16, Reply<Result<(), dtlsrtp::Error>>),
    Hangup(CallId, Reply<Result<(), dtlsrtp::Error>>),
    Reinvite(CallId, Reply<Result<(), dtlsrtp::Error>>),
    Rekey(CallId, Reply<Result<(), dtlsrtp::Error>>),
    Update(CallId, Reply<Result<(), dtlsrtp::Error>>),
    Hold(CallId, bool, Reply<Result<(), dtlsrtp::Error>>),
    SendDtmf(CallId, String, Reply<Result<(), dtlsrtp::Error>>),
    Register(
        Box<dtlsrtp_sip::ua::RegisterConfig>,
        Reply<Result<dtlsrtp::RegId, dtlsrtp::Error>>,
    ),
    SendAudio {
        call: CallId,
        pt: u8,
        ts: u32,
        payload: Vec<u8>,
    },
    SendRtp {
        call: CallId,
        pt: u8,
        marker: bool,
        ts: u32,
        payload: Vec<u8>,
        reply: Reply<Result<(), dtlsrtp::Error>>,
    },
    Stats(CallId, Reply<Option<CallStats>>),
    Shutdown,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

/// The handle of a running [`Endpoint`]: commands in, [`Event`]s out.
#[derive(Debug)]
pub struct EndpointHandle {
    cmds: mpsc::Sender<Command>,
    events: mpsc::Receiver<Event>,
    sip: Vec<(TransportKind, SocketAddr)>,
    task: JoinHandle<io::Result<()>>,
    shared: Arc<Shared>,
}

impl EndpointHandle {
    /// Binds the SIP sockets, builds the endpoint with `configure(sip_addresses, os_seed)` (bound addresses, so
    /// port 0 works) and starts the driver task on the current tokio runtime.
    pub async fn start(
        opts: DriverOptions,
        configure: impl FnOnce(SocketAddr, [u8; 32]) -> dtlsrtp::Config,
    ) -> Result<Self, DriverError> {
        let udp = Arc::new(UdpSocket::bind(opts.sip_udp).await?);
        let udp_local = udp.local_addr()?;
        let mut sip = vec![(TransportKind::Udp, udp_local)];
        let listener = match opts.sip_tcp {
            Some(a) => {
                let l = TcpListener::bind(a).await?;
                sip.push((TransportKind::Tcp, l.local_addr()?));
                Some(l)
            }
            None => None,
        };
        let tls_listener = match &opts.sip_tls {
            Some((a, _)) => {
                let l = TcpListener::bind(a).await?;
                sip.push((TransportKind::Tls, l.local_addr()?));
                Some(l)
            }
            None => None,
        };
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| DriverError::Seed)?;
        let mut cfg = configure(udp_local, seed);
        cfg.sip.clone_from(&sip);
        if cfg.wall_clock.is_none() {
            // RFC 3550 §6.4.1: SR NTP timestamps are wall-clock time (the driver is allowed the clock).
            let since_unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            cfg.wall_clock = Some((Instant::now(), since_unix));
        }
        identity_io::preload(&mut cfg).await;
        let ep = Endpoint::new(cfg)?;
        let (in_tx, in_rx) = mpsc::channel(4096);
        let (cmd_tx, cmd_rx) = mpsc::channel(1024);
        let (ev_tx, ev_rx) = mpsc::channel(8192);
        let shared = Shared::new(opts.streams);
        let mut readers = Vec::new();
        readers.push(spawn_udp_reader(udp.clone(), in_tx.clone()));
        if let Some(l) = listener {
            let tx = in_tx.clone();
            readers.push(stream::spawn_accept(
                l,
                TransportKind::Tcp,
                tx,
                None,
                shared.clone(),
            ));
        }
        let tls = opts.sip_tls.map(|(_, t)| t);
        if let (Some(l), Some(t)) = (tls_listener, &tls) {
            let (tx, acc) = (in_tx.clone(), Some(t.acceptor.clone()));
            readers.push(stream::spawn_accept(
                l,
                TransportKind::Tls,
                tx,
                acc,
                shared.clone(),
            ));
        }
        let state = Driver {
            ep,
            udp: HashMap::from([(udp_local, (udp, None))]),
            streams: HashMap::new(),
            tls,
            media_ip: opts.media_ip,
            pool: opts.media_pool.max(1),
            top_up_at: None,
            in_tx,
            readers,
            shared: shared.clone(),
            interpose: opts.interpose,
            peer_keys: identity_io::PeerKeyStore::new(),
        };
        let task = tokio::spawn(state.run(in_rx, cmd_rx, ev_tx));
        Ok(Self {
            cmds: cmd_tx,
            events: ev_rx,
            sip,
            task,
            shared,
        })
    }

    /// What the transports dropped, refused or failed so far (R-2): refused and slow connections, failed
    /// connects, accept and media-socket errors, UDP send errors.
    pub fn transport_stats(&self) -> TransportStats {
        self.shared.stats()
    }

    /// The SIP listening addresses (UDP first).
    pub fn sip_addrs(&self) -> &[(TransportKind, SocketAddr)] {
        &self.sip
    }

    /// The SIP UDP address.
    pub fn sip_udp(&self) -> SocketAddr {
        self.sip
            .first()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |s| s.1)
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, DriverError> {
        let (tx, rx) = oneshot::channel();
        self.cmds
            .send(make(tx))
            .await
            .map_err(|_| DriverError::Stopped)?;
        rx.await.map_err(|_| DriverError::Stopped)
    }

    /// [`Endpoint::dial`].
    pub async fn dial(&self, target: &str, opts: CallOptions) -> Result<CallId, DriverError> {
        Ok(self
            .ask(|r| Command::Dial(target.to_owned(), opts, r))
            .await??)
    }
    /// [`Endpoint::ring`].
    pub async fn ring(&self, call: CallId) -> Result<(), DriverError> {
        Ok(self.ask(|r| Command::Ring(call, r)).await??)
    }
    /// [`Endpoint::early_media`].
    pub async fn early_media(&self, call: CallId) -> Result<(), DriverError> {
        Ok(self.ask(|r| Command::EarlyMedia(call, r)).await??)
    }
    /// [`Endpoint::answer`].
    pub async fn answer(&self, call: CallId) -> Result<(), DriverError> {
        Ok(self.ask(|r| Command::Answer(call, r)).await??)
    }
    /// [`Endpoint::reject`].
    pub async fn reject(&self, call: CallId, status: u16) -> Result<(), DriverError> {
        Ok(self.ask(|r| Command::Reject(call, status, r)).await??)
    }
    /// [`Endpoint::hangup`].
    pub async fn hangup(&self, call: CallId) -> Result<(), DriverError> {
        Ok(self.ask(|r| Command::Hangup(call, r)).await??)
    }
    /// [`Endpoint::reinvite`].
    pub async fn reinvite(&self, call: CallId) -> Result<(), DriverError> {
        Ok(self.ask(|r| Command::Reinvite(call, r)).await??)
    }
    /// [`Endpoint::rekey`].
    pub async fn rekey(&self, call: CallId) -> Result<(), DriverError> {
        Ok(self.ask(|r| Command::Rekey(call, r)).await??)
    }
    /// [`Endpoint::update`].
    pub async fn update(&self, call: CallId) -> Result<(), DriverError> {
        Ok(self.ask(|r| Command::Update(call, r)).await??)
    }
    /// [`Endpoint::hold`].
    pub async fn hold(&self, call: CallId, on: bool) -> Result<(), DriverError> {
        Ok(self.ask(|r| Command::Hold(call, on, r)).await??)
    }
    /// [`Endpoint::send_dtmf`]: RFC 4733 telephone-events on the call (W-3).
    pub async fn send_dtmf(&self, call: CallId, digits: &str) -> Result<(), DriverError> {
        Ok(self
            .ask(|r| Command::SendDtmf(call, digits.to_owned(), r))
            .await??)
    }
    /// [`Endpoint::register`].
    pub async fn register(
        &self,
        cfg: dtlsrtp_sip::ua::RegisterConfig,
    ) -> Result<dtlsrtp::RegId, DriverError> {
        Ok(self.ask(|r| Command::Register(Box::new(cfg), r)).await??)
    }
    /// [`Endpoint::send_audio`], fire and forget (refused frames — no keys yet — are dropped, never sent in
    /// the clear).
    pub async fn send_audio(
        &self,
        call: CallId,
        pt: u8,
        ts: u32,
        payload: Vec<u8>,
    ) -> Result<(), DriverError> {
        self.cmds
            .send(Command::SendAudio {
                call,
                pt,
                ts,
                payload,
            })
            .await
            .map_err(|_| DriverError::Stopped)
    }
    /// [`Endpoint::send_rtp`], with its result: `Err` when the frame was refused (no verified keys yet, on
    /// hold, unknown call), so the caller can count what really left.
    pub async fn send_rtp(
        &self,
        call: CallId,
        pt: u8,
        marker: bool,
        ts: u32,
        payload: Vec<u8>,
    ) -> Result<(), DriverError> {
        Ok(self
            .ask(|reply| Command::SendRtp {
                call,
                pt,
                marker,
                ts,
                payload,
                reply,
            })
            .await??)
    }
    /// [`Endpoint::stats`].
    pub async fn stats(&self, call: CallId) -> Result<Option<CallStats>, DriverError> {
        self.ask(|r| Command::Stats(call, r)).await
    }

    /// The next event; `None` once the driver stopped.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The event channel, for `select!`.
    pub fn events(&mut self) -> &mut mpsc::Receiver<Event> {
        &mut self.events
    }

    /// Stops the driver (closing every socket) and waits for it.
    pub async fn shutdown(self) -> Result<(), DriverError> {
        let _ = self.cmds.send(Command::Shutdown).await;
        drop(self.events);
        match self.task.await {
            Ok(r) => Ok(r?),
            Err(_) => Err(DriverError::Stopped),
        }
    }
}

fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

fn spawn_udp_reader(sock: Arc<UdpSocket>, tx: mpsc::Sender<Input>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(local) = sock.local_addr() else { return };
        let mut buf = vec![0u8; RECV_BUF];
        loop {
            match sock.recv_from(&mut buf).await {
                Ok((n, remote)) => {
                    let bytes = buf.get(..n).unwrap_or_default().to_vec();
                    if tx
                        .send(Input::Datagram {
                            local,
                            remote,
                            bytes,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) if transient(&e) => {}
                Err(_) => return,
            }
        }
    })
}

struct Driver {
    ep: Endpoint,
    /// Local address → socket and its reader (None for the SIP socket, whose reader is in `readers`).
    udp: HashMap<SocketAddr, (Arc<UdpSocket>, Option<JoinHandle<()>>)>,
    /// SIP connections by peer; dropping one closes it.
    streams: HashMap<(TransportKind, SocketAddr), Conn>,
    tls: Option<TlsConfig>,
    media_ip: IpAddr,
    pool: usize,
    /// A media socket could not be bound: the next attempt is not before this.
    top_up_at: Option<Instant>,
    in_tx: mpsc::Sender<Input>,
    readers: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    interpose: Option<crate::interpose::Interpose>,
    /// Writes the peer-key cache off the loop (identity_io.rs).
    peer_keys: identity_io::PeerKeyStore,
}

impl Drop for Driver {
    fn drop(&mut self) {
        for r in &self.readers {
            r.abort();
        }
        for (_, r) in self.udp.values() {
            if let Some(r) = r {
                r.abort();
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

impl Driver {
    /// Keeps the endpoint's pool of media sockets full. A bind error (EMFILE...) is not fatal: logged, counted
    /// and retried after [`TOP_UP_RETRY`] (meanwhile a call that finds no socket is refused by the endpoint).
    async fn top_up(&mut self) {
        let now = Instant::now();
        if self.top_up_at.is_some_and(|t| now < t) {
            return;
        }
        self.top_up_at = None;
        while self.ep.free_media_sockets() < self.pool {
            let bound = match UdpSocket::bind(SocketAddr::new(self.media_ip, 0)).await {
                Ok(s) => s.local_addr().map(|a| (s, a)),
                Err(e) => Err(e),
            };
            match bound {
                Ok((s, local)) => {
                    let s = Arc::new(s);
                    let reader = spawn_udp_reader(s.clone(), self.in_tx.clone());
                    self.udp.insert(local, (s, Some(reader)));
                    self.ep.add_media_socket(local);
                }
                Err(e) => {
                    self.shared
                        .media_bind_errors
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("media socket on {}: {e}; retrying later", self.media_ip);
                    self.top_up_at = Some(now + TOP_UP_RETRY);
                    return;
                }
            }
        }
    }

    /// Queues a message on the connection to `remote`, opening it (in its own task) when absent. Never waits:
    /// a peer whose queue is full is dropped (R-2).
    fn send_stream(&mut self, kind: TransportKind, remote: SocketAddr, bytes: Vec<u8>) {
        let key = (kind, remote);
        if !self.streams.contains_key(&key) {
            let tx = self.in_tx.clone();
            match stream::connect(kind, remote, self.tls.as_ref(), tx, &self.shared) {
                Some(c) => {
                    self.streams.insert(key, c);
                }
                None => {
                    self.shared.connect_failures.fetch_add(1, Ordering::Relaxed);
                    self.ep.transport_failed(Instant::now(), kind, remote);
                    return;
                }
            }
        }
        let Some(c) = self.streams.get(&key) else {
            return;
        };
        if let Err(why) = c.send(&self.shared.limits, bytes) {
            if why == NotQueued::Slow {
                self.shared.slow.fetch_add(1, Ordering::Relaxed);
                tracing::info!("SIP {kind:?} peer {remote} too slow (queue full): dropped");
            }
            self.streams.remove(&key);
            self.ep.connection_closed(Instant::now(), kind, remote);
        }
    }

    async fn flush(&mut self, evs: &mpsc::Sender<Event>) -> io::Result<bool> {
        while let Some(mut t) = self.ep.poll_transmit() {
            match t.transport {
                TransportKind::Udp => {
                    if let Some((s, _)) = self.udp.get(&t.local) {
                        if self
                            .interpose
                            .as_ref()
                            .is_some_and(|i| !i.outgoing(&mut t, s))
                        {
                            continue;
                        }
                        // Never fatal: the remote chooses the address (EACCES for a broadcast one, ...).
                        if let Err(e) = s.send_to(&t.bytes, t.remote).await {
                            if !transient(&e) {
                                self.shared.udp_send_errors.fetch_add(1, Ordering::Relaxed);
                                tracing::debug!("UDP send to {}: {e}", t.remote);
                            }
                        }
                    }
                }
                kind => self.send_stream(kind, t.remote, t.bytes),
            }
        }
        while let Some(e) = self.ep.poll_event() {
            match &e {
                Event::MediaSocketReleased { local } => {
                    if let Some((_, Some(r))) = self.udp.remove(local) {
                        r.abort();
                    }
                }
                Event::CloseConnection { transport, remote } => {
                    self.streams.remove(&(*transport, *remote));
                }
                Event::FetchCertificate {
                    fetch,
                    url,
                    deadline,
                } => self.fetch_certificate(*fetch, url.clone(), *deadline),
                Event::StorePeerKeys { path, cache } => {
                    self.peer_keys.store(path.clone(), cache.clone());
                }
                _ => {}
            }
            if evs.send(e).await.is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn input(&mut self, i: Input) {
        let now = Instant::now();
        match i {
            Input::Datagram {
                local,
                remote,
                bytes,
            } => self.ep.handle_datagram(
                now,
                Datagram {
                    local,
                    remote,
                    bytes: &bytes,
                },
            ),
            Input::Stream {
                transport,
                remote,
                bytes,
            } => self.ep.handle_stream(now, transport, remote, &bytes),
            Input::Accepted(kind, remote, conn) => {
                // A newer connection from the same address replaces (closes) the older one.
                self.streams.insert((kind, remote), conn);
            }
            Input::Closed(t, remote, id) => {
                if self.streams.get(&(t, remote)).is_some_and(|c| c.id == id) {
                    self.streams.remove(&(t, remote));
                    self.ep.connection_closed(now, t, remote);
                }
            }
            Input::ConnectFailed(t, remote, id) => {
                if self.streams.get(&(t, remote)).is_some_and(|c| c.id == id) {
                    self.streams.remove(&(t, remote));
                    self.ep.transport_failed(now, t, remote);
                }
            }
            Input::Fetched(fetch, result) => self.ep.certificate_fetched(now, fetch, result),
        }
    }

    /// Issue 12 item 7: the certificate at an Identity `info` URL is fetched off the loop (the configured
    /// resolver may block: it runs on the blocking pool), with the endpoint's deadline; the result comes
    /// back as an input. A fetch that never answers costs one blocking thread until the resolver's own
    /// timeouts, never the loop.
    fn fetch_certificate(&self, fetch: FetchId, url: String, deadline: Instant) {
        let resolver = self
            .ep
            .config()
            .identity
            .as_ref()
            .and_then(|i| i.resolver.clone());
        let tx = self.in_tx.clone();
        tokio::spawn(async move {
            let result = match resolver {
                None => Err(ResolveError::Unsupported),
                Some(r) => {
                    let job = tokio::task::spawn_blocking(move || {
                        r.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .fetch(&url)
                    });
                    match tokio::time::timeout_at(deadline.into(), job).await {
                        Ok(Ok(r)) => r,
                        _ => Err(ResolveError::Unreachable),
                    }
                }
            };
            let _ = tx.send(Input::Fetched(fetch, result)).await;
        });
    }

    /// Returns false on shutdown.
    fn command(&mut self, c: Command) -> bool {
        let now = Instant::now();
        let ep = &mut self.ep;
        match c {
            Command::Dial(t, o, r) => {
                let _ = r.send(ep.dial(now, &t, o));
            }
            Command::Ring(c, r) => {
                let _ = r.send(ep.ring(now, c));
            }
            Command::EarlyMedia(c, r) => {
                let _ = r.send(ep.early_media(now, c));
            }
            Command::Answer(c, r) => {
                let _ = r.send(ep.answer(now, c));
            }
            Command::Reject(c, s, r) => {
                let _ = r.send(ep.reject(now, c, s));
            }
            Command::Hangup(c, r) => {
                let _ = r.send(ep.hangup(now, c));
            }
            Command::Reinvite(c, r) => {
                let _ = r.send(ep.reinvite(now, c));
            }
            Command::Rekey(c, r) => {
                let _ = r.send(ep.rekey(now, c));
            }
            Command::Update(c, r) => {
                let _ = r.send(ep.update(now, c));
            }
            Command::Hold(c, on, r) => {
                let _ = r.send(ep.hold(now, c, on));
            }
            Command::SendDtmf(c, d, r) => {
                let _ = r.send(ep.send_dtmf(now, c, &d));
            }
            Command::Register(cfg, r) => {
                let _ = r.send(ep.register(now, *cfg));
            }
            Command::SendAudio {
                call,
                pt,
                ts,
                payload,
            } => {
                let _ = ep.send_audio(now, call, pt, ts, &payload);
            }
            Command::SendRtp {
                call,
                pt,
                marker,
                ts,
                payload,
                reply,
            } => {
                let _ = reply.send(ep.send_rtp(now, call, pt, marker, ts, &payload));
            }
            Command::Stats(c, r) => {
                let _ = r.send(ep.stats(c));
            }
            Command::Shutdown => return false,
        }
        true
    }

    async fn run(
        mut self,
        mut inputs: mpsc::Receiver<Input>,
        mut cmds: mpsc::Receiver<Command>,
        evs: mpsc::Sender<Event>,
    ) -> io::Result<()> {
        loop {
            self.top_up().await;
            if !self.flush(&evs).await? {
                return Ok(());
            }
            let wake = match (self.ep.poll_timeout(), self.top_up_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                i = inputs.recv() => {
                    let Some(i) = i else { return Ok(()) };
                    self.input(i);
                    for _ in 0..64 {
                        match inputs.try_recv() {
                            Ok(i) => self.input(i),
                            Err(_) => break,
                        }
                    }
                }
                c = cmds.recv() => {
                    let Some(c) = c else { return Ok(()) };
                    if !self.command(c) {
                        return Ok(());
                    }
                }
                () = sleep_until_opt(wake) => self.ep.handle_timeout(Instant::now()),
            }
        }
    }
}
