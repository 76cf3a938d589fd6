//! In-memory network for UA scenario tests: user agents on 127.0.0.1 addresses, a manual clock, a drop filter,
//! a wire log, and and the workspace's forking proxy (crates/proxy) with Record-Route (cancels the other branches after a 2xx).
// Test harness: a malformed message or unknown address is a test bug, so it panics.
// Shared by several test binaries: each uses a part.
#![allow(clippy::unwrap_used, clippy::panic, dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dtlsrtp_sip::ua::{Config, Event, Transmit, TransportKind, UserAgent};
use dtlsrtp_sip::SipUri;

pub(crate) fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// One line of the wire log: from, to, transport, first line, CSeq.
#[derive(Debug, Clone)]
pub(crate) struct Wire {
    pub(crate) from: SocketAddr,
    pub(crate) to: SocketAddr,
    pub(crate) transport: TransportKind,
    pub(crate) first: String,
    pub(crate) cseq: String,
    pub(crate) bytes: Vec<u8>,
}

type DropFn = Box<dyn FnMut(&Wire) -> bool>;

pub(crate) struct Net {
    pub(crate) now: Instant,
    pub(crate) uas: BTreeMap<SocketAddr, UserAgent>,
    pub(crate) proxy: Option<Proxy>,
    queue: VecDeque<(SocketAddr, Transmit)>,
    pub(crate) log: Vec<Wire>,
    events: HashMap<SocketAddr, Vec<Event>>,
    pub(crate) drop: Option<DropFn>,
}

fn first_line(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    s.lines().next().unwrap_or("").to_owned()
}

fn cseq_of(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    s.lines()
        .find(|l| l.starts_with("CSeq:"))
        .map(|l| l.trim_start_matches("CSeq:").trim().to_owned())
        .unwrap_or_default()
}

impl Net {
    #[allow(clippy::disallowed_methods)] // tests: a manual clock starting at an arbitrary instant
    pub(crate) fn new() -> Self {
        Self {
            now: Instant::now(),
            uas: BTreeMap::new(),
            proxy: None,
            queue: VecDeque::new(),
            log: Vec::new(),
            events: HashMap::new(),
            drop: None,
        }
    }

    pub(crate) fn config(user: &str, port: u16) -> Config {
        Config::new(user, "127.0.0.1", addr(port))
    }

    pub(crate) fn add(&mut self, cfg: Config, seed: u8) -> SocketAddr {
        let a = cfg.local[0].1;
        self.uas.insert(a, UserAgent::new(cfg, [seed; 32]));
        a
    }

    pub(crate) fn ua(&mut self, a: SocketAddr) -> &mut UserAgent {
        self.uas.get_mut(&a).unwrap()
    }

    /// Raw bytes from `from` to `to` over UDP.
    pub(crate) fn inject(&mut self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        self.queue.push_back((
            from,
            Transmit {
                transport: TransportKind::Udp,
                remote: to,
                bytes: bytes.to_vec(),
            },
        ));
        self.run();
    }

    fn collect(&mut self) {
        for (a, ua) in self.uas.iter_mut() {
            while let Some(t) = ua.poll_transmit() {
                self.queue.push_back((*a, t));
            }
            while let Some(e) = ua.poll_event() {
                self.events.entry(*a).or_default().push(e);
            }
        }
        if let Some(p) = self.proxy.as_mut() {
            for (to, bytes) in p.out.drain(..) {
                self.queue.push_back((
                    p.addr,
                    Transmit {
                        transport: TransportKind::Udp,
                        remote: to,
                        bytes,
                    },
                ));
            }
        }
    }

    /// Delivers until nothing moves (bounded).
    pub(crate) fn run(&mut self) {
        for _ in 0..10_000 {
            self.collect();
            let Some((from, t)) = self.queue.pop_front() else {
                return;
            };
            let w = Wire {
                from,
                to: t.remote,
                transport: t.transport,
                first: first_line(&t.bytes),
                cseq: cseq_of(&t.bytes),
                bytes: t.bytes.clone(),
            };
            let dropped = self.drop.as_mut().is_some_and(|d| d(&w));
            self.log.push(w);
            if dropped {
                continue;
            }
            let now = self.now;
            if let Some(ua) = self.uas.get_mut(&t.remote) {
                match t.transport {
                    TransportKind::Udp => ua.handle_datagram(now, from, &t.bytes),
                    // stream: cut in three pieces to exercise the framer
                    tr => {
                        let n = t.bytes.len();
                        for chunk in [
                            &t.bytes[..n / 3],
                            &t.bytes[n / 3..2 * n / 3],
                            &t.bytes[2 * n / 3..],
                        ] {
                            ua.handle_stream(now, tr, from, chunk);
                        }
                    }
                }
            } else if let Some(p) = self.proxy.as_mut().filter(|p| p.addr == t.remote) {
                p.handle(now, from, &t.bytes);
            }
        }
        panic!("network did not settle");
    }

    /// Advances the clock in `step`s up to `d`, firing due timers.
    pub(crate) fn advance_by(&mut self, d: Duration, step: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += step;
            let now = self.now;
            for ua in self.uas.values_mut() {
                // the deadline and its explained form agree
                assert_eq!(ua.poll_timeout(), ua.next_timer().map(|(t, _)| t));
                if ua.poll_timeout().is_some_and(|t| t <= now) {
                    ua.handle_timeout(now);
                }
            }
            self.run();
        }
    }

    pub(crate) fn advance(&mut self, d: Duration) {
        self.advance_by(d, Duration::from_millis(50));
    }

    /// Events of one UA since the last call.
    pub(crate) fn take(&mut self, a: SocketAddr) -> Vec<Event> {
        self.collect();
        self.events.remove(&a).unwrap_or_default()
    }

    /// Wire lines sent from `from` whose first line starts with `prefix`.
    pub(crate) fn sent(&self, from: SocketAddr, prefix: &str) -> Vec<&Wire> {
        self.log
            .iter()
            .filter(|w| w.from == from && w.first.starts_with(prefix))
            .collect()
    }
}

/// The workspace's one forking proxy (crates/proxy) as this network's proxy for one AoR: forks an initial
/// INVITE to every target with Record-Route, relays responses upstream (a failure only once every branch
/// failed), CANCELs the other branches after the first 2xx (when `cancel_on_2xx`), ACKs non-2xx finals of its
/// branches, and loose-routes in-dialog requests.
pub(crate) struct Proxy {
    inner: dtlsrtp_proxy::Proxy,
    pub(crate) addr: SocketAddr,
    pub(crate) cancel_on_2xx: bool,
    pub(crate) out: Vec<(SocketAddr, Vec<u8>)>,
}

impl Proxy {
    pub(crate) fn new(addr: SocketAddr, targets: Vec<SocketAddr>) -> Self {
        let mut inner = dtlsrtp_proxy::Proxy::new(addr, targets);
        inner.record_route = true;
        Self {
            inner,
            addr,
            cancel_on_2xx: true,
            out: Vec::new(),
        }
    }

    pub(crate) fn handle(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.inner.cancel_on_2xx = self.cancel_on_2xx;
        self.inner.handle(now, from, bytes);
        while let Some((_, to, bytes)) = self.inner.poll_transmit() {
            self.out.push((to, bytes));
        }
    }
}

// ---- scenario helpers ----

pub(crate) const OFFER: &[u8] = b"v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\n";
pub(crate) const ANSWER: &[u8] = b"v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\n";

pub(crate) fn uri(s: &str) -> SipUri {
    SipUri::parse(s).unwrap()
}

pub(crate) fn incoming(ev: &[Event]) -> (dtlsrtp_sip::ua::CallId, Option<Vec<u8>>) {
    ev.iter()
        .find_map(|e| match e {
            Event::IncomingCall { call, offer, .. } => Some((*call, offer.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no IncomingCall in {ev:?}"))
}

pub(crate) fn has(ev: &[Event], f: impl Fn(&Event) -> bool) -> bool {
    ev.iter().any(f)
}

/// A calls B directly; returns (net, a, b, a's call, b's call) after the ACK.
pub(crate) fn established() -> (
    Net,
    std::net::SocketAddr,
    std::net::SocketAddr,
    dtlsrtp_sip::ua::CallId,
    dtlsrtp_sip::ua::CallId,
) {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let b = net.add(Net::config("bob", 5002), 2);
    let now = net.now;
    let ca = net
        .ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5002"), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    let (cb, offer) = incoming(&net.take(b));
    assert_eq!(offer.as_deref(), Some(OFFER));
    net.ua(b).answer(now, cb, Some(ANSWER.to_vec())).unwrap();
    net.run();
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Answered { call, body: Some(x), .. } if *call == ca && x == ANSWER)
        ),
        "{ea:?}"
    );
    let eb = net.take(b);
    assert!(
        has(
            &eb,
            |e| matches!(e, Event::AckReceived { call, body: None } if *call == cb)
        ),
        "{eb:?}"
    );
    (net, a, b, ca, cb)
}

pub(crate) fn raw(method: &str, branch: &str, extra: &str, to_tag: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} sip:bob@127.0.0.1:5002 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5009;branch=z9hG4bK{branch}\r\n\
Max-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=x1\r\nTo: <sip:bob@127.0.0.1>{to_tag}\r\nCall-ID: bad-{branch}\r\n\
CSeq: 1 {method}\r\nContact: <sip:x@127.0.0.1:5009>\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub(crate) trait ReplaceMf {
    fn replace_mf(self) -> Vec<u8>;
}
impl ReplaceMf for Vec<u8> {
    /// `raw` writes Max-Forwards: 70 first; drop it so only the extra `Max-Forwards: 0` stays.
    fn replace_mf(self) -> Vec<u8> {
        String::from_utf8(self)
            .unwrap()
            .replacen("Max-Forwards: 70\r\n", "", 1)
            .into_bytes()
    }
}

pub(crate) fn net_fork(
    net: &mut Net,
    a: std::net::SocketAddr,
    ca: dtlsrtp_sip::ua::CallId,
) -> dtlsrtp_sip::ua::ForkId {
    // the winning fork: the one whose dialog is confirmed
    (0..64)
        .map(dtlsrtp_sip::ua::ForkId)
        .find(|f| net.ua(a).dialog(ca, *f).is_some())
        .unwrap()
}
