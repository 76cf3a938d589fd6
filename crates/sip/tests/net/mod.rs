//! In-memory network for UA scenario tests: user agents on 127.0.0.1 addresses, a manual clock, a drop filter,
//! a wire log, and a tiny parallel-forking, record-routing proxy (cancels the other branches after a 2xx).
// Test harness: a malformed message or unknown address is a test bug, so it panics.
// Shared by several test binaries: each uses a part.
#![allow(clippy::unwrap_used, clippy::panic, dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dtlsrtp_sip::header::HeaderField;
use dtlsrtp_sip::transaction::build_cancel;
use dtlsrtp_sip::ua::{Config, Event, Transmit, TransportKind, UserAgent};
use dtlsrtp_sip::{HeaderName, Headers, Message, Method, Request, Response, SipUri};

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
                p.handle(from, &t.bytes);
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

struct Branch {
    branch: String,
    target: SocketAddr,
    invite: Request,
    done: bool,
}

/// A parallel-forking proxy for one AoR: forks an initial INVITE to every target with Record-Route, forwards
/// responses upstream (only the first 2xx-or-best-final decides), CANCELs the other branches after a 2xx (when
/// `cancel_on_2xx`), ACKs non-2xx finals of its branches, and loose-routes in-dialog requests.
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    pub(crate) targets: Vec<SocketAddr>,
    pub(crate) cancel_on_2xx: bool,
    branches: Vec<Branch>,
    answered: bool,
    upstream_branch: Option<String>,
    pub(crate) out: Vec<(SocketAddr, Vec<u8>)>,
}

fn via_target(r: &Response) -> Option<SocketAddr> {
    let v = r.headers.top_via()?;
    let host = v.host.to_string();
    let host: std::net::IpAddr = v.received().unwrap_or(&host).parse().ok()?;
    Some(SocketAddr::new(host, v.port.unwrap_or(5060)))
}

fn uri_addr(u: &SipUri) -> SocketAddr {
    SocketAddr::new(
        u.host().to_string().parse().unwrap(),
        u.port().unwrap_or(5060),
    )
}

impl Proxy {
    pub(crate) fn new(addr: SocketAddr, targets: Vec<SocketAddr>) -> Self {
        Self {
            addr,
            targets,
            cancel_on_2xx: true,
            branches: Vec::new(),
            answered: false,
            upstream_branch: None,
            out: Vec::new(),
        }
    }

    fn my_via(&self, branch: &str) -> HeaderField {
        HeaderField::new(
            HeaderName::Via,
            &format!("SIP/2.0/UDP {};branch={branch}", self.addr),
        )
        .unwrap()
    }

    fn strip_my_route(&self, h: &Headers) -> Headers {
        let mut out = Headers::new();
        let mut stripped = false;
        for f in h.iter() {
            if !stripped
                && *f.name() == HeaderName::Route
                && f.value().contains(&self.addr.to_string())
            {
                stripped = true;
                continue;
            }
            out.push(f.clone());
        }
        out
    }

    pub(crate) fn handle(&mut self, from: SocketAddr, bytes: &[u8]) {
        let _ = from;
        match Message::parse(bytes).unwrap() {
            Message::Request(r) => self.on_request(r),
            Message::Response(r) => self.on_response(r),
        }
    }

    fn on_request(&mut self, mut r: Request) {
        let branch = r.headers.top_via().unwrap().branch().unwrap().to_owned();
        let initial = r.headers.to().unwrap().tag().is_none();
        if r.method == Method::Invite && initial {
            self.upstream_branch = Some(branch.clone());
            for (i, t) in self.targets.clone().into_iter().enumerate() {
                let mut f = r.clone();
                f.uri = SipUri::parse(&format!("sip:bob@{t}")).unwrap();
                let b = format!("z9hG4bKpx{branch}-{i}");
                f.headers.push_front(self.my_via(&b));
                f.headers.push(
                    HeaderField::new(HeaderName::RecordRoute, &format!("<sip:{};lr>", self.addr))
                        .unwrap(),
                );
                self.out.push((t, f.to_bytes()));
                self.branches.push(Branch {
                    branch: b,
                    target: t,
                    invite: f,
                    done: false,
                });
            }
            return;
        }
        if self.upstream_branch.as_deref() == Some(branch.as_str()) {
            // an ACK of a non-2xx final is hop-by-hop: absorbed here
            if r.method == Method::Cancel {
                let ok = Response::from_request(&r, 200, None).unwrap();
                let to = via_target(&ok).unwrap();
                self.out.push((to, ok.to_bytes()));
                for b in self.branches.iter().filter(|b| !b.done) {
                    self.out
                        .push((b.target, build_cancel(&b.invite).to_bytes()));
                }
            }
            return;
        }
        // in-dialog: loose routing (RFC 3261 §16.4, §16.12)
        r.headers = self.strip_my_route(&r.headers);
        let next = r
            .headers
            .routes()
            .next()
            .and_then(|a| a.uri.as_sip().cloned())
            .unwrap_or_else(|| r.uri.clone());
        r.headers
            .push_front(self.my_via(&format!("z9hG4bKpx{branch}")));
        self.out.push((uri_addr(&next), r.to_bytes()));
    }

    fn on_response(&mut self, mut r: Response) {
        let branch = r.headers.top_via().unwrap().branch().unwrap().to_owned();
        r.headers.pop_top_via().unwrap();
        let method = r.headers.cseq().unwrap().method.clone();
        let idx = self.branches.iter().position(|b| b.branch == branch);
        let Some(i) = idx else {
            // response to a forwarded in-dialog request
            let to = via_target(&r).unwrap();
            self.out.push((to, r.to_bytes()));
            return;
        };
        if method != Method::Invite || r.status == 100 {
            return; // CANCEL responses and 100 Trying are hop-by-hop
        }
        let upstream = via_target(&r).unwrap();
        if r.status < 200 {
            self.out.push((upstream, r.to_bytes()));
        } else if r.status < 300 {
            self.branches[i].done = true;
            self.out.push((upstream, r.to_bytes()));
            if !self.answered && self.cancel_on_2xx {
                for b in self.branches.iter().filter(|b| !b.done) {
                    self.out
                        .push((b.target, build_cancel(&b.invite).to_bytes()));
                }
            }
            self.answered = true;
        } else {
            // ACK the branch's non-2xx (RFC 3261 §17.1.1.3), forward the final only when all failed
            let b = &self.branches[i];
            let mut ack = Request::new(Method::Ack, b.invite.uri.clone());
            ack.headers.push(self.my_via(&b.branch));
            for n in [
                HeaderName::From,
                HeaderName::CallId,
                HeaderName::MaxForwards,
            ] {
                ack.headers.push(b.invite.headers.first(n).unwrap().clone());
            }
            ack.headers
                .push(r.headers.first(HeaderName::To).unwrap().clone());
            let seq = b.invite.headers.cseq().unwrap().seq;
            ack.headers
                .add(HeaderName::CSeq, &format!("{seq} ACK"))
                .unwrap();
            ack.headers.add(HeaderName::ContentLength, "0").unwrap();
            self.out.push((b.target, ack.to_bytes()));
            self.branches[i].done = true;
            if !self.answered && self.branches.iter().all(|b| b.done) {
                self.out.push((upstream, r.to_bytes()));
            }
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
