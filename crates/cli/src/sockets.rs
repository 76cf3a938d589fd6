//! The sockets of `dtlsrtp call/answer/demo`: the command's own small driver loop around the sans-IO
//! [`Endpoint`] (ARCHITECTURE §3: the CLI owns sockets and the clock). SIP over UDP and TCP, and the media pool.
//!
//! Nothing a remote party does may stall this loop:
//! - TCP writes never wait: each connection has an outgoing buffer of at most [`MAX_OUT_BYTES`], written as the
//!   socket accepts it; a peer whose buffer would overflow, or that accepts nothing for [`WRITE_STALL`], is
//!   dropped (and the endpoint told);
//! - outgoing connects run on a short-lived thread ([`CONNECT_TIMEOUT`]); the messages wait in the buffer;
//! - incoming connections are capped at [`MAX_CONNS_PER_IP`] per address and [`MAX_CONNS`] in total (refused
//!   beyond); an accept error such as EMFILE pauses accepting for [`ACCEPT_BACKOFF`] instead of ending the call;
//! - a media socket that cannot be bound during the call is retried after [`TOP_UP_RETRY`].

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dtlsrtp::{Datagram, Endpoint, TransportKind};

use crate::{Exit, Failure};

/// Media sockets kept ready for the endpoint (each call and each rekey takes a fresh one).
const MEDIA_POOL: usize = 3;
/// Bytes waiting to be written to one TCP peer.
pub(crate) const MAX_OUT_BYTES: usize = 256 * 1024;
/// A TCP peer that accepts no byte for this long while we have some for it is dropped.
pub(crate) const WRITE_STALL: Duration = Duration::from_secs(2);
/// Outgoing TCP connect deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// TCP connections at once (incoming and outgoing).
pub(crate) const MAX_CONNS: usize = 64;
/// Incoming TCP connections at once from one IP address.
pub(crate) const MAX_CONNS_PER_IP: usize = 16;
/// Pause after an accept error (EMFILE...).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Pause before binding media sockets again after a failure.
const TOP_UP_RETRY: Duration = Duration::from_secs(1);

/// One SIP TCP connection.
struct Conn {
    /// `None` while the connect thread runs.
    stream: Option<TcpStream>,
    connecting: Option<mpsc::Receiver<std::io::Result<TcpStream>>>,
    incoming: bool,
    /// Bytes not yet written.
    out: Vec<u8>,
    /// Since when bytes have waited without the socket taking any.
    stalled_since: Option<Instant>,
}

impl Conn {
    /// Writes what the socket takes now. `Err` when the connection failed.
    fn flush(&mut self, now: Instant) -> std::io::Result<()> {
        let Some(s) = self.stream.as_mut() else {
            return Ok(());
        };
        let mut written = 0;
        while written < self.out.len() {
            match s.write(self.out.get(written..).unwrap_or_default()) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.drain(..written);
        if self.out.is_empty() || written > 0 {
            self.stalled_since = None;
        }
        if !self.out.is_empty() && self.stalled_since.is_none() {
            self.stalled_since = Some(now);
        }
        Ok(())
    }
}

/// The UDP sockets of one endpoint (SIP and the media pool) and its SIP TCP connections.
pub(crate) struct Sockets {
    pub(crate) sip: UdpSocket,
    pub(crate) sip_addr: SocketAddr,
    pub(crate) media: HashMap<SocketAddr, UdpSocket>,
    media_ip: IpAddr,
    /// SIP over TCP: our listener (same port as UDP) and the open connections by peer.
    tcp: Option<TcpListener>,
    conns: HashMap<SocketAddr, Conn>,
    /// TCP peers we could not connect to, for `Endpoint::transport_failed`.
    failed: Vec<SocketAddr>,
    /// TCP peers we dropped (slow, write error), for `Endpoint::connection_closed`.
    closed: Vec<SocketAddr>,
    accept_paused_until: Option<Instant>,
    top_up_at: Option<Instant>,
}

fn local(e: impl std::fmt::Display) -> Failure {
    Failure::new(Exit::Local, e.to_string())
}

impl Sockets {
    pub(crate) fn bind(sip: SocketAddr) -> Result<Self, Failure> {
        let sock = UdpSocket::bind(sip)
            .map_err(|e| Failure::new(Exit::Local, format!("SIP socket {sip}: {e}")))?;
        sock.set_nonblocking(true).map_err(local)?;
        let sip_addr = sock.local_addr().map_err(local)?;
        Ok(Self {
            sip: sock,
            sip_addr,
            media: HashMap::new(),
            media_ip: sip_addr.ip(),
            tcp: None,
            conns: HashMap::new(),
            failed: Vec::new(),
            closed: Vec::new(),
            accept_paused_until: None,
            top_up_at: None,
        })
    }

    /// Also listens for SIP over TCP on the UDP socket's address.
    pub(crate) fn listen_tcp(&mut self) -> Result<(), Failure> {
        let l = TcpListener::bind(self.sip_addr)
            .map_err(|e| Failure::new(Exit::Local, format!("SIP TCP {}: {e}", self.sip_addr)))?;
        l.set_nonblocking(true).map_err(local)?;
        self.tcp = Some(l);
        Ok(())
    }

    /// Accepts connections under the caps; an accept error pauses accepting briefly.
    fn accept(&mut self, now: Instant) {
        let Some(l) = &self.tcp else { return };
        if self.accept_paused_until.is_some_and(|t| now < t) {
            return;
        }
        self.accept_paused_until = None;
        for _ in 0..64 {
            match l.accept() {
                Ok((s, remote)) => {
                    let from_ip = self
                        .conns
                        .iter()
                        .filter(|(a, c)| c.incoming && a.ip() == remote.ip())
                        .count();
                    if self.conns.len() >= MAX_CONNS || from_ip >= MAX_CONNS_PER_IP {
                        tracing::debug!("TCP connection from {remote} refused (connection cap)");
                        continue; // dropping `s` closes it
                    }
                    if s.set_nonblocking(true).is_ok() {
                        let _ = s.set_nodelay(true);
                        let conn = Conn {
                            stream: Some(s),
                            connecting: None,
                            incoming: true,
                            out: Vec::new(),
                            stalled_since: None,
                        };
                        self.conns.insert(remote, conn);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionAborted
                            | ErrorKind::ConnectionReset
                            | ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS: the listener stays readable; pause instead of failing or spinning.
                    tracing::warn!("TCP accept: {e}; pausing {ACCEPT_BACKOFF:?}");
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    /// Finishes connects, writes pending bytes, drops stalled peers.
    fn pump_tcp(&mut self, now: Instant) {
        for (remote, c) in self.conns.iter_mut() {
            if let Some(rx) = &c.connecting {
                match rx.try_recv() {
                    Ok(Ok(s)) if s.set_nonblocking(true).is_ok() => {
                        let _ = s.set_nodelay(true);
                        c.stream = Some(s);
                        c.connecting = None;
                    }
                    Err(mpsc::TryRecvError::Empty) => continue,
                    Ok(Ok(_)) | Ok(Err(_)) | Err(mpsc::TryRecvError::Disconnected) => {
                        tracing::debug!("TCP connect {remote} failed");
                        self.failed.push(*remote);
                        continue;
                    }
                }
            }
            if let Err(e) = c.flush(now) {
                tracing::debug!("TCP write {remote}: {e}");
                self.closed.push(*remote);
            } else if c
                .stalled_since
                .is_some_and(|t| now.duration_since(t) >= WRITE_STALL)
            {
                tracing::info!("TCP peer {remote} reads nothing: dropped");
                self.closed.push(*remote);
            }
        }
        for remote in self.failed.iter().chain(&self.closed) {
            self.conns.remove(remote);
        }
    }

    /// Accepts connections and feeds their bytes to the endpoint (Content-Length framing is the UA's).
    fn receive_tcp(&mut self, ep: &mut Endpoint, buf: &mut [u8]) -> bool {
        let mut any = false;
        let now = Instant::now();
        self.accept(now);
        self.pump_tcp(now);
        let mut gone = Vec::new();
        for (remote, c) in self.conns.iter_mut() {
            let Some(s) = c.stream.as_mut() else { continue };
            for _ in 0..16 {
                match s.read(buf) {
                    Ok(0) => {
                        gone.push(*remote);
                        break;
                    }
                    Ok(n) => {
                        any = true;
                        let bytes = buf.get(..n).unwrap_or_default();
                        ep.handle_stream(Instant::now(), TransportKind::Tcp, *remote, bytes);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        gone.push(*remote);
                        break;
                    }
                }
            }
        }
        for remote in gone {
            self.conns.remove(&remote);
            self.closed.push(remote);
        }
        any |= self.report(ep);
        any
    }

    /// Tells the endpoint about failed and closed connections.
    fn report(&mut self, ep: &mut Endpoint) -> bool {
        let mut any = false;
        // A connection that could not be opened fails its transactions now, not at Timer B (RFC 3261 §17.1.4).
        for remote in std::mem::take(&mut self.failed) {
            ep.transport_failed(Instant::now(), TransportKind::Tcp, remote);
            any = true;
        }
        for remote in std::mem::take(&mut self.closed) {
            ep.connection_closed(Instant::now(), TransportKind::Tcp, remote);
            any = true;
        }
        any
    }

    /// Queues `bytes` for `remote`, opening the connection when absent; writes what the socket takes now.
    fn send_tcp(&mut self, remote: SocketAddr, bytes: &[u8]) {
        let now = Instant::now();
        if !self.conns.contains_key(&remote) && self.conns.len() >= MAX_CONNS {
            tracing::debug!("TCP connect {remote}: connection cap reached");
            self.failed.push(remote);
            return;
        }
        let c = self.conns.entry(remote).or_insert_with(|| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(TcpStream::connect_timeout(&remote, CONNECT_TIMEOUT));
            });
            Conn {
                stream: None,
                connecting: Some(rx),
                incoming: false,
                out: Vec::new(),
                stalled_since: None,
            }
        });
        if c.out.len().saturating_add(bytes.len()) > MAX_OUT_BYTES {
            tracing::info!("TCP peer {remote} reads too slowly (buffer full): dropped");
            self.conns.remove(&remote);
            self.closed.push(remote);
            return;
        }
        c.out.extend_from_slice(bytes);
        if let Err(e) = c.flush(now) {
            tracing::debug!("TCP write {remote}: {e}");
            self.conns.remove(&remote);
            self.closed.push(remote);
        }
    }

    /// Keeps the endpoint's pool of fresh media sockets full (a failure is fatal: for the start).
    pub(crate) fn top_up(&mut self, ep: &mut Endpoint) -> Result<(), Failure> {
        while ep.free_media_sockets() < MEDIA_POOL {
            let s = UdpSocket::bind((self.media_ip, 0)).map_err(local)?;
            s.set_nonblocking(true).map_err(local)?;
            let a = s.local_addr().map_err(local)?;
            ep.add_media_socket(a);
            self.media.insert(a, s);
        }
        Ok(())
    }

    /// [`Self::top_up`] during a call: a failure (EMFILE...) is logged and retried after [`TOP_UP_RETRY`].
    pub(crate) fn refill(&mut self, ep: &mut Endpoint) {
        let now = Instant::now();
        if self.top_up_at.is_some_and(|t| now < t) {
            return;
        }
        self.top_up_at = None;
        if let Err(e) = self.top_up(ep) {
            tracing::warn!("media socket: {}; retrying in {TOP_UP_RETRY:?}", e.message);
            self.top_up_at = Some(now + TOP_UP_RETRY);
        }
    }

    /// Feeds every waiting datagram (and TCP byte) to the endpoint; true when any came.
    pub(crate) fn receive(&mut self, ep: &mut Endpoint, buf: &mut [u8]) -> bool {
        let mut any = if self.tcp.is_some() || !self.conns.is_empty() {
            self.receive_tcp(ep, buf)
        } else {
            false
        };
        let sockets = std::iter::once((self.sip_addr, &self.sip))
            .chain(self.media.iter().map(|(a, s)| (*a, s)));
        for (local, sock) in sockets {
            for _ in 0..64 {
                match sock.recv_from(buf) {
                    Ok((n, remote)) => {
                        any = true;
                        let Some(bytes) = buf.get(..n) else { break };
                        ep.handle_datagram(
                            Instant::now(),
                            Datagram {
                                local,
                                remote,
                                bytes,
                            },
                        );
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    // ICMP errors reported on the socket, interrupted calls: not fatal for the loop.
                    Err(_) => break,
                }
            }
        }
        any
    }

    /// Sends one datagram from the socket it names (or queues it on its TCP connection).
    pub(crate) fn send(&mut self, t: &dtlsrtp::Transmit) {
        tracing::trace!(
            "{:?} {} -> {} ({} B)",
            t.transport,
            t.local,
            t.remote,
            t.bytes.len()
        );
        if t.transport == TransportKind::Tcp {
            self.send_tcp(t.remote, &t.bytes);
            return;
        }
        let sock = if t.local == self.sip_addr {
            Some(&self.sip)
        } else {
            self.media.get(&t.local)
        };
        if let Some(s) = sock {
            if let Err(e) = s.send_to(&t.bytes, t.remote) {
                tracing::debug!("send to {}: {e}", t.remote);
            }
        }
    }

    /// Sends what the endpoint queued.
    pub(crate) fn transmit(&mut self, ep: &mut Endpoint) -> bool {
        let mut any = false;
        while let Some(t) = ep.poll_transmit() {
            any = true;
            self.send(&t);
        }
        any |= self.report(ep);
        any
    }
}
