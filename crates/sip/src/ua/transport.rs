//! Transport awareness (RFC 3261 §18, RFC 3581): datagrams and stream bytes in, [`Transmit`]s out, Via and
//! Contact per transport, next-hop resolution without DNS; and the seeded generator for tags and branches.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::{server, Core, Event, Purpose, Transmit, UaError, UserAgent};
use crate::dialog::Dialog;
use crate::error_response;
use crate::header::{Transport, MAGIC_COOKIE};
use crate::message::{Framed, Message, Request, StreamFramer};
use crate::transaction::ClientKey;
use crate::uri::{Host, SipUri};

/// The transports the UA speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransportKind {
    /// UDP: retransmissions by the transaction layer and the UA core.
    Udp,
    /// TCP, framed by Content-Length.
    Tcp,
    /// TLS (SIPS), framed by Content-Length.
    Tls,
}

impl TransportKind {
    /// The Via token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }
    /// True for TCP and TLS (no retransmission timers).
    pub fn is_reliable(self) -> bool {
        self != Self::Udp
    }
    fn from_via(t: &Transport) -> Option<Self> {
        match t {
            Transport::Udp => Some(Self::Udp),
            Transport::Tcp => Some(Self::Tcp),
            Transport::Tls => Some(Self::Tls),
            _ => None,
        }
    }
    fn from_param(s: &str) -> Option<Self> {
        [("udp", Self::Udp), ("tcp", Self::Tcp), ("tls", Self::Tls)]
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, t)| t)
    }
}

/// The UA's generator: the workspace's one seedable CSPRNG ([`dtlsrtp_types::SeededRng`]). Seed it from the OS
/// in production and from a constant in tests (ARCHITECTURE.md §3); its output is not guessable without the seed.
pub type Rng = dtlsrtp_types::SeededRng;

/// `n` random bytes (n ≤ 32) as lower-case hex: tags, branches, Call-IDs.
pub(crate) fn token(rng: &mut Rng, n: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = [0u8; 32];
    let b = &mut b[..n.min(32)];
    rng.fill(b);
    let mut s = String::with_capacity(2 * b.len());
    for x in b.iter() {
        s.push(char::from(HEX[usize::from(x >> 4)]));
        s.push(char::from(HEX[usize::from(x & 15)]));
    }
    s
}

impl UserAgent {
    /// A UDP datagram from `remote`. Malformed requests get the status [`crate::ParseError::status_code`]
    /// maps to (400, 413, 416, 505) without touching any dialog; malformed responses are dropped.
    pub fn handle_datagram(&mut self, now: Instant, remote: SocketAddr, bytes: &[u8]) {
        match Message::parse_with(bytes, &self.core.cfg.limits) {
            Ok(m) => self.on_message(now, TransportKind::Udp, remote, m),
            Err(e) => {
                if let Some(r) = error_response(bytes, e.status_code()) {
                    self.core.emit_bytes(TransportKind::Udp, remote, r);
                }
            }
        }
        self.pump(now);
    }

    /// Bytes from a TCP or TLS connection with `remote` (any chunking; one framer per connection).
    pub fn handle_stream(
        &mut self,
        now: Instant,
        transport: TransportKind,
        remote: SocketAddr,
        bytes: &[u8],
    ) {
        let limits = self.core.cfg.limits;
        let framer = self
            .framers
            .entry((transport, remote))
            .or_insert_with(|| StreamFramer::new(limits));
        framer.push(bytes);
        let mut items = Vec::new();
        let mut fatal = false;
        // Bounded: every item consumes at least one buffered byte.
        for _ in 0..=framer.buffered() {
            match framer.next_message() {
                None => break,
                Some(Ok(item)) => items.push(item),
                Some(Err(_)) => {
                    fatal = true;
                    break;
                }
            }
        }
        if fatal {
            self.framers.remove(&(transport, remote));
            self.core
                .events
                .push_back(Event::CloseConnection { transport, remote });
        }
        for item in items {
            match item {
                Framed::Message(m) => self.on_message(now, transport, remote, m),
                // RFC 5626 §4.4.1: a CRLF pong.
                Framed::KeepAlivePing => self.core.emit_bytes(transport, remote, b"\r\n".to_vec()),
                Framed::Malformed { error, bytes } => {
                    if let Some(r) = error_response(&bytes, error.status_code()) {
                        self.core.emit_bytes(transport, remote, r);
                    }
                }
            }
            self.pump(now);
        }
        self.pump(now);
    }

    /// The driver closed a TCP/TLS connection: its partial data is dropped.
    pub fn connection_closed(&mut self, transport: TransportKind, remote: SocketAddr) {
        self.framers.remove(&(transport, remote));
    }

    /// The driver could not send to `remote` (connection refused, TLS failure, ICMP unreachable): every client
    /// transaction towards it fails (RFC 3261 §17.1.4, §8.1.3.1), so a call ends with
    /// [`EndReason::TransportError`](super::EndReason::TransportError) and a REGISTER with 503.
    pub fn transport_failed(&mut self, now: Instant, transport: TransportKind, remote: SocketAddr) {
        self.framers.remove(&(transport, remote));
        let keys: Vec<ClientKey> = self
            .core
            .tx_remote
            .iter()
            .filter(|(_, hop)| **hop == (transport, remote))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            let _ = self
                .core
                .layer
                .handle_transport_error(now, &crate::transaction::TxId::Client(k));
        }
        self.pump(now);
    }

    fn on_message(
        &mut self,
        now: Instant,
        transport: TransportKind,
        remote: SocketAddr,
        m: Message,
    ) {
        match m {
            Message::Request(r) => server::on_request(self, now, transport, remote, r),
            Message::Response(r) => {
                self.core.last_response =
                    ClientKey::from_response(&r).map(|k| (k, transport, remote));
                if let Some(stray) = self.core.layer.handle_response(now, r) {
                    self.on_stray_response(now, stray);
                }
            }
        }
    }
}

impl Core {
    /// Queues a message from the transaction layer on the transaction's transport (else the top Via's).
    pub(super) fn emit_message(
        &mut self,
        m: &Message,
        remote: SocketAddr,
        known: Option<TransportKind>,
    ) {
        let transport = known
            .or_else(|| {
                m.headers()
                    .top_via()
                    .and_then(|v| TransportKind::from_via(&v.transport))
            })
            .unwrap_or(TransportKind::Udp);
        self.emit_bytes(transport, remote, m.to_bytes());
    }

    pub(super) fn emit_bytes(
        &mut self,
        transport: TransportKind,
        remote: SocketAddr,
        bytes: Vec<u8>,
    ) {
        self.transmits.push_back(Transmit {
            transport,
            remote,
            bytes,
        });
    }

    /// Our listening address for a transport (the first configured one as a fallback).
    pub(super) fn local(&self, t: TransportKind) -> Result<SocketAddr, UaError> {
        self.cfg
            .local
            .iter()
            .find(|(k, _)| *k == t)
            .or_else(|| self.cfg.local.first())
            .map(|(_, a)| *a)
            .ok_or(UaError::NoLocalAddress)
    }

    /// A top Via with a fresh RFC 3261 branch and `rport` (RFC 3581 §3).
    pub(super) fn via(&mut self, t: TransportKind) -> Result<String, UaError> {
        let a = self.local(t)?;
        Ok(format!(
            "SIP/2.0/{} {};branch={MAGIC_COOKIE}{};rport",
            t.as_str(),
            host_port(a),
            token(&mut self.rng, 12)
        ))
    }

    /// Our Contact for a transport.
    pub(super) fn contact(&self, t: TransportKind) -> Result<String, UaError> {
        let a = self.local(t)?;
        let tp = match t {
            TransportKind::Udp => "",
            TransportKind::Tcp => ";transport=tcp",
            TransportKind::Tls => ";transport=tls",
        };
        Ok(format!("<sip:{}@{}{tp}>", self.cfg.user, host_port(a)))
    }

    /// Next hop for a URI without DNS: an IP host with its port (5060, 5061 for TLS) and transport (the
    /// `transport` parameter, TLS for sips:, else UDP); a host name goes to the outbound proxy.
    pub(super) fn resolve(&self, uri: &SipUri) -> Result<(TransportKind, SocketAddr), UaError> {
        let t = match uri.transport().and_then(TransportKind::from_param) {
            Some(t) => t,
            None if uri.is_secure() => TransportKind::Tls,
            None => TransportKind::Udp,
        };
        let port = uri
            .port()
            .unwrap_or(if t == TransportKind::Tls { 5061 } else { 5060 });
        let ip: IpAddr = match uri.host() {
            Host::Ipv4(a) => (*a).into(),
            Host::Ipv6(a) => (*a).into(),
            Host::Domain(_) => return self.cfg.outbound_proxy.ok_or(UaError::Unroutable),
        };
        Ok((t, SocketAddr::new(ip, port)))
    }

    /// The next hop of an in-dialog request (§12.2.1.1, §8.1.2): the first Route when loose-routed, else the
    /// Request-URI.
    pub(super) fn dialog_hop(&self, d: &Dialog) -> Result<(TransportKind, SocketAddr), UaError> {
        let (uri, routes) = d.request_target();
        match routes.first().and_then(|r| r.uri.as_sip()) {
            Some(r) if r.param("lr").is_some() => self.resolve(r),
            _ => self.resolve(&uri),
        }
    }

    /// Starts a client transaction and records its owner.
    pub(super) fn send_request(
        &mut self,
        now: Instant,
        req: Request,
        hop: (TransportKind, SocketAddr),
        owner: (Option<super::CallId>, Purpose),
    ) -> Result<ClientKey, UaError> {
        let key = self
            .layer
            .send_request(now, req, hop.1, hop.0.is_reliable())?;
        self.tx_owner.insert(key.clone(), owner);
        self.tx_remote.insert(key.clone(), hop);
        Ok(key)
    }
}

fn host_port(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}
