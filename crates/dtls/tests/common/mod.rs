//! Shared test harness: in-memory pairs with a scriptable network, and a raw OpenSSL peer for the cases our
//! API cannot produce (no certificate, DTLS 1.0 only, no use_srtp).
#![allow(dead_code, unreachable_pub, clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers, not library code // tests: OpenSSL's timers run on real time

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dtlsrtp_dtls::{
    Association, Certificate, Config, Connected, CookieSecret, DtlsContext, DtlsError, Event,
    KeyType,
};
use dtlsrtp_srtp::{DtlsRole, SrtpProfile};

pub const CLIENT_ADDR: &str = "127.0.0.1:40000";
pub const SERVER_ADDR: &str = "127.0.0.1:50000";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Certificates are costly to make (RSA): one of each per test binary, plus a second ECDSA and RSA.
pub fn cert(kind: KeyType, n: usize) -> Certificate {
    static CERTS: OnceLock<Vec<Certificate>> = OnceLock::new();
    let all = CERTS.get_or_init(|| {
        vec![
            Certificate::generate(KeyType::EcdsaP256, "ec0", 30).unwrap(),
            Certificate::generate(KeyType::EcdsaP256, "ec1", 30).unwrap(),
            Certificate::generate(KeyType::Rsa2048, "rsa0", 30).unwrap(),
            Certificate::generate(KeyType::Rsa2048, "rsa1", 30).unwrap(),
        ]
    });
    let base = if kind == KeyType::Rsa2048 { 2 } else { 0 };
    all[base + n % 2].clone()
}

pub fn config(cert: Certificate) -> Config {
    let mut c = Config::new(cert, CookieSecret::new([0x5a; 32]));
    // Short timers so loss tests run fast in real time (OpenSSL retransmits on its own clock).
    c.initial_retransmit = Duration::from_millis(20);
    c.handshake_timeout = Duration::from_secs(10);
    c
}

pub fn ctx(cfg: &Config) -> DtlsContext {
    DtlsContext::new(cfg).unwrap()
}

/// What the network does with one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Deliver,
    Drop,
    Duplicate,
}

/// One datagram on the wire, seen by the network script.
pub struct Wire<'a> {
    /// 0 = client to server, 1 = server to client.
    pub dir: usize,
    /// Index of the burst (one batch of output after one input), counted over both directions.
    pub burst: usize,
    /// Index of the datagram within its burst.
    pub index: usize,
    pub bytes: &'a [u8],
}

pub struct Outcome {
    pub events: [Vec<Event>; 2],
    pub sizes: Vec<usize>,
    pub bursts: usize,
}

impl Outcome {
    pub fn connected(&self, side: usize) -> Option<&Connected> {
        self.events[side].iter().find_map(|e| match e {
            Event::Connected(c) => Some(c),
            _ => None,
        })
    }
    pub fn peer_cert(&self, side: usize) -> Option<&[u8]> {
        self.events[side].iter().find_map(|e| match e {
            Event::PeerCertificate(c) => Some(c.as_slice()),
            _ => None,
        })
    }
    pub fn failed(&self, side: usize) -> Option<DtlsError> {
        self.events[side].iter().find_map(|e| match e {
            Event::Failed(c) => Some(*c),
            _ => None,
        })
    }
}

/// Runs a pair until both sides connected or failed (or `limit` passes), through a network script that may
/// drop, duplicate, or reverse each burst (`reverse`). Real time: sleeps to OpenSSL's retransmission deadlines.
pub fn run_pair(
    client: &mut Association,
    server: &mut Association,
    mut script: impl FnMut(&Wire<'_>) -> Fate,
    reverse: bool,
    limit: Duration,
) -> Outcome {
    let start = Instant::now();
    let mut events: [Vec<Event>; 2] = [Vec::new(), Vec::new()];
    let mut sizes = Vec::new();
    let mut burst = 0usize;
    let done = |ev: &[Vec<Event>; 2]| {
        ev.iter().all(|v| {
            v.iter()
                .any(|e| matches!(e, Event::Connected(_) | Event::Failed(_) | Event::Closed))
        })
    };
    while start.elapsed() < limit {
        let mut moved = false;
        for dir in 0..2 {
            let (from, to) = if dir == 0 {
                (&mut *client, &mut *server)
            } else {
                (&mut *server, &mut *client)
            };
            let mut out: Vec<Vec<u8>> = std::iter::from_fn(|| from.poll_transmit()).collect();
            if out.is_empty() {
                continue;
            }
            let this = burst;
            burst += 1;
            let fates: Vec<Fate> = out
                .iter()
                .enumerate()
                .map(|(index, bytes)| {
                    script(&Wire {
                        dir,
                        burst: this,
                        index,
                        bytes,
                    })
                })
                .collect();
            let mut order: Vec<usize> = (0..out.len()).collect();
            if reverse {
                order.reverse();
            }
            for i in order {
                let d = std::mem::take(&mut out[i]);
                sizes.push(d.len());
                match fates[i] {
                    Fate::Deliver => to.handle_datagram(Instant::now(), &d),
                    Fate::Drop => {}
                    Fate::Duplicate => {
                        to.handle_datagram(Instant::now(), &d);
                        to.handle_datagram(Instant::now(), &d);
                    }
                }
            }
            moved = true;
        }
        for (side, a) in [&mut *client, &mut *server].into_iter().enumerate() {
            while let Some(e) = a.poll_event() {
                events[side].push(e);
            }
        }
        if done(&events) {
            // Let the last flight land (a dropped final flight needs the client's retransmission answered).
            if !moved {
                break;
            }
            continue;
        }
        if !moved {
            // Nothing in flight: wait for the earliest deadline, then fire it.
            let next = [client.poll_timeout(), server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else { break };
            let now = Instant::now();
            if next > now {
                std::thread::sleep((next - now).min(Duration::from_millis(200)));
            }
            let now = Instant::now();
            client.handle_timeout(now);
            server.handle_timeout(now);
        }
    }
    for (side, a) in [client, server].into_iter().enumerate() {
        while let Some(e) = a.poll_event() {
            events[side].push(e);
        }
    }
    Outcome {
        events,
        sizes,
        bursts: burst,
    }
}

pub fn deliver_all(_: &Wire<'_>) -> Fate {
    Fate::Deliver
}

/// A fresh pair of associations from two configs.
pub fn pair(client_cfg: &Config, server_cfg: &Config) -> (Association, Association) {
    let now = Instant::now();
    let c = Association::new(&ctx(client_cfg), DtlsRole::Client, addr(SERVER_ADDR), now).unwrap();
    let s = Association::new(&ctx(server_cfg), DtlsRole::Server, addr(CLIENT_ADDR), now).unwrap();
    (c, s)
}

pub fn assert_keys_match(out: &Outcome, profile: SrtpProfile) {
    let c = out
        .connected(0)
        .unwrap_or_else(|| panic!("client not connected: {:?}", out.events[0]));
    let s = out
        .connected(1)
        .unwrap_or_else(|| panic!("server not connected: {:?}", out.events[1]));
    assert_eq!(c.profile, profile);
    assert_eq!(s.profile, profile);
    assert_eq!(c.keys, s.keys, "both sides export the same material");
    let (c_tx, c_rx) = c.keys.for_role(DtlsRole::Client);
    let (s_tx, s_rx) = s.keys.for_role(DtlsRole::Server);
    assert_eq!(c_tx, s_rx, "client transmit == server receive");
    assert_eq!(s_tx, c_rx, "server transmit == client receive");
    assert_ne!(c_tx, c_rx);
    assert_eq!(c_tx.key.expose().len(), profile.master_key_len());
    assert_eq!(c_tx.salt.expose().len(), profile.master_salt_len());
    assert_eq!(c.cipher_suite, s.cipher_suite);
    assert!(
        c.cipher_suite.name.contains("ECDHE"),
        "{}",
        c.cipher_suite.name
    );
}

/// A datagram-preserving in-memory link for a raw OpenSSL peer.
#[derive(Default)]
pub struct Queue {
    pub inbox: VecDeque<Vec<u8>>,
    pub outbox: VecDeque<Vec<u8>>,
}

impl Read for Queue {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(d) = self.inbox.pop_front() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        Ok(n)
    }
}

impl Write for Queue {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outbox.push_back(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A raw OpenSSL DTLS peer built by the test (not through our API).
pub struct RawPeer {
    pub stream: openssl::ssl::SslStream<Queue>,
    pub done: bool,
    pub error: Option<openssl::ssl::Error>,
}

impl RawPeer {
    pub fn new(build: impl FnOnce(&mut openssl::ssl::SslContextBuilder), client: bool) -> Self {
        use openssl::ssl::{SslContextBuilder, SslMethod, SslOptions, SslVerifyMode};
        let mut b = SslContextBuilder::new(SslMethod::dtls()).unwrap();
        b.set_options(SslOptions::NO_QUERY_MTU);
        b.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
        build(&mut b);
        let ctx = b.build();
        let mut ssl = openssl::ssl::Ssl::new(&ctx).unwrap();
        ssl.set_mtu(1200).unwrap();
        if client {
            ssl.set_connect_state();
        } else {
            ssl.set_accept_state();
        }
        let stream = openssl::ssl::SslStream::new(ssl, Queue::default()).unwrap();
        let mut p = Self {
            stream,
            done: false,
            error: None,
        };
        p.step();
        p
    }

    pub fn step(&mut self) {
        if self.done || self.error.is_some() {
            let mut buf = [0u8; 2048];
            while !self.stream.get_ref().inbox.is_empty() {
                let _ = self.stream.ssl_read(&mut buf);
            }
            return;
        }
        loop {
            match self.stream.do_handshake() {
                Ok(()) => {
                    self.done = true;
                    return;
                }
                Err(e) if e.code() == openssl::ssl::ErrorCode::WANT_READ => {
                    if self.stream.get_ref().inbox.is_empty() {
                        return;
                    }
                }
                Err(e) => {
                    self.error = Some(e);
                    return;
                }
            }
        }
    }
}

/// Runs a raw peer against one of our associations until both settle or rounds run out.
pub fn run_raw(raw: &mut RawPeer, ours: &mut Association, rounds: usize) -> Vec<Event> {
    let mut events = Vec::new();
    for _ in 0..rounds {
        let mut moved = false;
        while let Some(d) = raw.stream.get_mut().outbox.pop_front() {
            ours.handle_datagram(Instant::now(), &d);
            moved = true;
        }
        while let Some(d) = ours.poll_transmit() {
            raw.stream.get_mut().inbox.push_back(d);
            moved = true;
        }
        raw.step();
        while let Some(e) = ours.poll_event() {
            events.push(e);
        }
        if !moved {
            break;
        }
    }
    events
}
