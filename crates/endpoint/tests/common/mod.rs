//! An in-memory network of Endpoints on a manual clock: every transmit is delivered to the endpoint owning the
//! destination address (SIP socket or media socket); an optional in-process forking proxy relays SIP.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::type_complexity,
    clippy::unwrap_used,
    clippy::panic,
    clippy::expect_used
)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dtlsrtp::{Config, Datagram, Endpoint, Event, Transmit};
use dtlsrtp_dtls::{Certificate, KeyType};

pub mod pki;
pub mod proxy;
pub mod stranger;

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

pub struct Node {
    pub ep: Endpoint,
    pub sip: SocketAddr,
    next_media: u16,
    pub media: Vec<SocketAddr>,
    pub events: Vec<Event>,
    /// Drop SIP datagrams to this node (for loss tests).
    pub released: Vec<SocketAddr>,
}

pub struct Net {
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub proxy: Option<proxy::Proxy>,
    /// DTLS strangers reachable at their addresses (issue 12 item 2).
    pub strangers: Vec<stranger::Stranger>,
    /// Every datagram delivered (local, remote, first byte) for assertions.
    pub log: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    pub drop_filter: Option<Box<dyn FnMut(&Transmit) -> bool>>,
    /// Rewrites a datagram in flight (e.g. a wrong fingerprint in an answer).
    pub mangle: Option<Box<dyn FnMut(&mut Transmit)>>,
    /// Within each delivery round, 2xx responses go last (an answerer whose ClientHello beats its 200 OK, like
    /// baresip).
    pub ok_last: bool,
    /// Every [`Event::FetchCertificate`] seen: (node, fetch, url). Unless `hold_fetches`, each is answered at
    /// once from the node's configured resolver (what the driver does off its loop).
    pub fetches: Vec<(usize, dtlsrtp::FetchId, String)>,
    /// Leave certificate fetches unanswered (a fetch that never returns).
    pub hold_fetches: bool,
    /// One-way delay of RTP/RTCP datagrams (others go at once): packets in flight across a rekey (F-6.8).
    pub media_delay: Option<Duration>,
    delayed: Vec<(Instant, SocketAddr, SocketAddr, Vec<u8>)>,
}

impl Net {
    #[allow(clippy::disallowed_methods)] // the test's clock starts at the real now, then runs manually
    pub fn new() -> Self {
        Self {
            now: Instant::now(),
            nodes: Vec::new(),
            proxy: None,
            strangers: Vec::new(),
            log: Vec::new(),
            drop_filter: None,
            mangle: None,
            ok_last: false,
            fetches: Vec::new(),
            hold_fetches: false,
            media_delay: None,
            delayed: Vec::new(),
        }
    }

    pub fn config(user: &str, sip_port: u16, seed: u8) -> Config {
        let cert = Certificate::generate(KeyType::EcdsaP256, user, 1).unwrap();
        let mut c = Config::new(user, "127.0.0.1", addr(sip_port), cert, [seed; 32]);
        c.dtls_initial_retransmit = Some(Duration::from_millis(100));
        c
    }

    /// Adds an endpoint; its media sockets are `sip_port + 100 + n`.
    pub fn add(&mut self, cfg: Config) -> usize {
        let sip = cfg.sip[0].1;
        let ep = Endpoint::new(cfg).unwrap();
        self.nodes.push(Node {
            ep,
            sip,
            next_media: sip.port() + 100,
            media: Vec::new(),
            events: Vec::new(),
            released: Vec::new(),
        });
        let i = self.nodes.len() - 1;
        self.top_up(i);
        i
    }

    fn top_up(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        while n.ep.free_media_sockets() < 2 {
            let a = addr(n.next_media);
            n.next_media += 1;
            n.media.push(a);
            n.ep.add_media_socket(a);
        }
    }

    pub fn ep(&mut self, i: usize) -> &mut Endpoint {
        &mut self.nodes[i].ep
    }

    fn owner(&self, a: SocketAddr) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.sip == a || n.media.contains(&a))
    }

    /// Delivers until quiet, advancing the clock to timers for at most `max` of simulated time.
    pub fn run_for(&mut self, max: Duration) {
        let end = self.now + max;
        for _ in 0..100_000 {
            let mut queue: VecDeque<(usize, Transmit)> = VecDeque::new();
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.delayed)
                .into_iter()
                .partition(|d| d.0 <= now);
            self.delayed = later;
            let any_due = !due.is_empty();
            for (_, from, to, bytes) in due {
                self.deliver(now, from, to, &bytes);
            }
            for (i, n) in self.nodes.iter_mut().enumerate() {
                while let Some(e) = n.ep.poll_event() {
                    if let Event::MediaSocketReleased { local } = &e {
                        n.released.push(*local);
                        n.media.retain(|m| m != local);
                    }
                    if let Event::FetchCertificate { fetch, url, .. } = &e {
                        self.fetches.push((i, *fetch, url.clone()));
                        if !self.hold_fetches {
                            let r =
                                n.ep.config()
                                    .identity
                                    .as_ref()
                                    .and_then(|c| c.resolver.clone());
                            let res = match r {
                                Some(r) => dtlsrtp_sip::identity::CertResolver::fetch(
                                    &mut *r.lock().unwrap(),
                                    url,
                                ),
                                None => Err(dtlsrtp_sip::identity::ResolveError::Unsupported),
                            };
                            n.ep.certificate_fetched(now, *fetch, res);
                        }
                    }
                    n.events.push(e);
                }
                while let Some(t) = n.ep.poll_transmit() {
                    queue.push_back((i, t));
                }
            }
            let mut proxied = Vec::new();
            if let Some(p) = self.proxy.as_mut() {
                while let Some(t) = p.poll_transmit() {
                    proxied.push(t);
                }
            }
            for s in &mut self.strangers {
                while let Some(t) = s.poll_transmit() {
                    proxied.push(t);
                }
            }
            for i in 0..self.nodes.len() {
                self.top_up(i);
            }
            if queue.is_empty() && proxied.is_empty() && !any_due {
                // advance the clock to the next timer
                let next = self
                    .nodes
                    .iter()
                    .filter_map(|n| n.ep.poll_timeout())
                    .chain(self.proxy.as_ref().and_then(|p| p.poll_timeout()))
                    .chain(self.strangers.iter().filter_map(|s| s.poll_timeout()))
                    .chain(self.delayed.iter().map(|d| d.0))
                    .min();
                match next {
                    Some(t) if t <= end => {
                        if t > self.now {
                            self.now = t;
                        }
                        let now = self.now;
                        for n in &mut self.nodes {
                            n.ep.handle_timeout(now);
                        }
                        if let Some(p) = self.proxy.as_mut() {
                            p.handle_timeout(now);
                        }
                        for s in &mut self.strangers {
                            s.handle_timeout(now);
                        }
                        continue;
                    }
                    _ => {
                        self.now = self.now.max(end);
                        return;
                    }
                }
            }
            if self.ok_last {
                let (oks, rest): (VecDeque<_>, VecDeque<_>) = queue
                    .into_iter()
                    .partition(|(_, t)| t.bytes.starts_with(b"SIP/2.0 200"));
                queue = rest;
                queue.extend(oks);
            }
            let now = self.now;
            for (from, to, bytes) in proxied {
                self.deliver(now, from, to, &bytes);
            }
            while let Some((_, mut t)) = queue.pop_front() {
                if let Some(m) = self.mangle.as_mut() {
                    m(&mut t);
                }
                if let Some(f) = self.drop_filter.as_mut() {
                    if f(&t) {
                        continue;
                    }
                }
                if let Some(d) = self.media_delay {
                    if t.bytes.first().is_some_and(|b| b >> 6 == 2) {
                        self.delayed.push((now + d, t.local, t.remote, t.bytes));
                        continue;
                    }
                }
                self.deliver(now, t.local, t.remote, &t.bytes);
            }
        }
        panic!("network did not settle");
    }

    pub fn run(&mut self) {
        self.run_for(Duration::from_millis(50));
    }

    fn deliver(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        self.log.push((from, to, bytes.to_vec()));
        if let Some(p) = self.proxy.as_mut() {
            if p.addr == to {
                p.handle(now, from, bytes);
                return;
            }
        }
        if let Some(s) = self.strangers.iter_mut().find(|s| s.addr == to) {
            s.handle(now, from, bytes);
            return;
        }
        if let Some(i) = self.owner(to) {
            self.nodes[i].ep.handle_datagram(
                now,
                Datagram {
                    local: to,
                    remote: from,
                    bytes,
                },
            );
        }
    }

    pub fn take(&mut self, i: usize) -> Vec<Event> {
        std::mem::take(&mut self.nodes[i].events)
    }
}

pub fn incoming(events: &[Event]) -> dtlsrtp::CallId {
    events
        .iter()
        .find_map(|e| match e {
            Event::IncomingCall { call, .. } => Some(*call),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no IncomingCall in {events:?}"))
}

pub fn has(events: &[Event], f: impl Fn(&Event) -> bool) -> bool {
    events.iter().any(f)
}

pub fn rtp_payloads(events: &[Event]) -> Vec<(Option<dtlsrtp::ForkId>, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Rtp {
                fork,
                payload,
                verified: true,
                ..
            } => Some((*fork, payload.clone())),
            _ => None,
        })
        .collect()
}
