//! Scenario harness: media ports on the seeded simulated network (`dtlsrtp_testkit::netsim`).
//!
//! Time is virtual, except that OpenSSL runs its DTLS retransmission timer on its own clock: while any
//! association is handshaking, the world waits in real time until the real clock has caught up with the
//! virtual one before firing timers (short DTLS timers keep this quick). Media phases run purely virtual.
#![allow(dead_code, unreachable_pub, clippy::disallowed_methods)] // tests: real clock for OpenSSL's timers
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dtlsrtp_dtls::{Certificate, Config, CookieSecret, HashFunction, KeyType, State};
use dtlsrtp_media::{
    ForkId, MediaEvent, MediaPort, MediaPortConfig, PeerParams, ReceivedRtp, Transmit,
};
use dtlsrtp_sdp::Fingerprint;
use dtlsrtp_srtp::DtlsRole;
use dtlsrtp_testkit::netsim::{LinkConfig, NetSim};

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Three ECDSA certificates, made once per test binary.
pub fn cert(n: usize) -> Certificate {
    static CERTS: OnceLock<Vec<Certificate>> = OnceLock::new();
    CERTS.get_or_init(|| {
        (0..3)
            .map(|i| Certificate::generate(KeyType::EcdsaP256, &format!("ep{i}"), 30).unwrap())
            .collect()
    })[n % 3]
        .clone()
}

pub fn fingerprint(n: usize) -> Fingerprint {
    cert(n).fingerprint(HashFunction::Sha256).unwrap()
}

pub fn dtls_config(n: usize) -> Config {
    let mut c = Config::new(cert(n), CookieSecret::new([n as u8; 32]));
    c.initial_retransmit = Duration::from_millis(30);
    c.handshake_timeout = Duration::from_secs(20);
    c
}

pub fn port_config(n: usize, local: SocketAddr) -> MediaPortConfig {
    let mut c = MediaPortConfig::new(local, dtls_config(n), [n as u8 + 1; 32]);
    c.rtcp_interval = Duration::from_millis(500);
    c
}

pub fn peer(role: DtlsRole, addr: SocketAddr, fps: Vec<Fingerprint>) -> PeerParams {
    PeerParams {
        addr: Some(addr),
        role,
        fingerprints: fps,
        association: dtlsrtp_sdp::Association::Keep,
        ice: None,
    }
}

pub struct Ep {
    pub port: MediaPort,
    pub addr: SocketAddr,
    pub events: Vec<(Instant, MediaEvent)>,
    pub sent: Vec<(Instant, Transmit)>,
}

impl Ep {
    pub fn rtp(&self) -> Vec<&ReceivedRtp> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                MediaEvent::Rtp(r) => Some(r),
                _ => None,
            })
            .collect()
    }
    pub fn has(&self, f: impl Fn(&MediaEvent) -> bool) -> bool {
        self.events.iter().any(|(_, e)| f(e))
    }
    pub fn count(&self, f: impl Fn(&MediaEvent) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| f(e)).count()
    }
    pub fn verified(&self, fork: ForkId) -> bool {
        self.has(|e| matches!(e, MediaEvent::FingerprintVerified { fork: f, .. } if *f == fork))
    }
}

pub struct World {
    pub net: NetSim,
    pub t0: Instant,
    pub real0: Instant,
    pub now: Instant,
    pub eps: Vec<Ep>,
    /// Extra delay per datagram (source, bytes): deterministic reordering on top of the link's.
    pub extra_delay: Option<fn(SocketAddr, &[u8]) -> Duration>,
}

impl World {
    pub fn new(seed: u64, link: LinkConfig) -> Self {
        let t0 = Instant::now();
        Self {
            net: NetSim::new(seed, link),
            t0,
            real0: t0,
            now: t0,
            eps: Vec::new(),
            extra_delay: None,
        }
    }

    pub fn add(&mut self, config: MediaPortConfig) -> usize {
        let addr = config.local;
        let port = MediaPort::new(self.now, config).unwrap();
        self.eps.push(Ep {
            port,
            addr,
            events: Vec::new(),
            sent: Vec::new(),
        });
        self.eps.len() - 1
    }

    pub fn ep(&mut self, i: usize) -> &mut Ep {
        &mut self.eps[i]
    }

    /// Moves transmits into the network and events into the endpoints' logs.
    pub fn flush(&mut self) {
        for ep in &mut self.eps {
            while let Some(t) = ep.port.poll_transmit() {
                let extra = self
                    .extra_delay
                    .map_or(Duration::ZERO, |f| f(ep.addr, &t.bytes));
                self.net
                    .send(self.now + extra, ep.addr, t.remote, t.bytes.clone());
                ep.sent.push((self.now, t));
            }
            while let Some(e) = ep.port.poll_event() {
                ep.events.push((self.now, e));
            }
        }
    }

    fn handshaking(&self) -> bool {
        self.eps.iter().any(|e| {
            e.port
                .associations()
                .iter()
                .any(|a| a.dtls == State::Handshaking)
        })
    }

    /// Runs until virtual time `until`, in steps of network deliveries and timers.
    pub fn run_until(&mut self, until: Instant) {
        let mut steps = 0u64;
        loop {
            steps += 1;
            assert!(steps < 5_000_000, "runaway simulation");
            self.flush();
            let next_net = self.net.next_delivery();
            let next_timer = self.eps.iter().filter_map(|e| e.port.poll_timeout()).min();
            let next = [next_net, next_timer, Some(until)]
                .into_iter()
                .flatten()
                .min()
                .unwrap();
            if next > self.now {
                self.now = next;
            }
            if next_timer.is_some_and(|t| t <= self.now) && self.handshaking() {
                // OpenSSL's retransmission timer runs on the real clock.
                let virt = self.now - self.t0;
                let real = self.real0.elapsed();
                if virt > real {
                    std::thread::sleep((virt - real).min(Duration::from_millis(500)));
                }
            }
            while let Some(d) = self.net.poll_deliver(self.now) {
                if let Some(ep) = self.eps.iter_mut().find(|e| e.addr == d.to) {
                    ep.port.handle_datagram(self.now, d.from, &d.bytes);
                }
            }
            for ep in &mut self.eps {
                if ep.port.poll_timeout().is_some_and(|t| t <= self.now) {
                    ep.port.handle_timeout(self.now);
                }
            }
            self.flush();
            if self.now >= until && self.net.next_delivery().is_none_or(|t| t > until) {
                return;
            }
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Runs in 10 ms steps until `pred` holds or `limit` of virtual time passed; returns whether it held.
    pub fn run_until_pred(
        &mut self,
        limit: Duration,
        mut pred: impl FnMut(&World) -> bool,
    ) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if pred(self) {
                return true;
            }
            self.run_for(Duration::from_millis(10));
        }
        pred(self)
    }
}

/// Sends `n` packets from endpoint `from` on `fork`, one every 20 ms of virtual time, payload = index.
pub fn send_stream(w: &mut World, from: usize, fork: ForkId, n: u32, first: u32) -> u32 {
    let mut ok = 0;
    for i in first..first + n {
        let mut payload = vec![0xab; 160];
        payload[..4].copy_from_slice(&i.to_be_bytes());
        let now = w.now;
        if w.eps[from]
            .port
            .send_rtp(now, fork, 0, i == 0, i.wrapping_mul(160), &payload)
            .is_ok()
        {
            ok += 1;
        }
        w.run_for(Duration::from_millis(20));
    }
    ok
}

pub fn payload_index(r: &ReceivedRtp) -> u32 {
    u32::from_be_bytes(r.payload[..4].try_into().unwrap())
}

pub const FORK: ForkId = ForkId(1);
pub const A_ADDR: &str = "10.0.0.1:5000";
pub const B_ADDR: &str = "10.0.0.2:6000";

/// A (offerer, DTLS server) and B (DTLS client), both verified.
pub fn established_pair(seed: u64) -> World {
    established_pair_with(seed, |_, _| {})
}

/// [`established_pair`] with each port's configuration adjusted first (`tweak(n, config)`, n = 0 for A).
pub fn established_pair_with(seed: u64, tweak: impl Fn(usize, &mut MediaPortConfig)) -> World {
    let mut w = World::new(seed, LinkConfig::default());
    for (n, at) in [(0, A_ADDR), (1, B_ADDR)] {
        let mut c = port_config(n, addr(at));
        tweak(n, &mut c);
        w.add(c);
    }
    let now = w.now;
    w.eps[0].port.listen(true);
    w.eps[0]
        .port
        .set_peer(
            now,
            FORK,
            peer(DtlsRole::Server, addr(B_ADDR), vec![fingerprint(1)]),
        )
        .unwrap();
    w.eps[1]
        .port
        .set_peer(
            now,
            FORK,
            peer(DtlsRole::Client, addr(A_ADDR), vec![fingerprint(0)]),
        )
        .unwrap();
    assert!(
        w.run_until_pred(Duration::from_secs(5), |w| w.eps[0].verified(FORK)
            && w.eps[1].verified(FORK))
    );
    w
}

/// SplitMix64 for test inputs.
pub struct TestRng(pub u64);

impl TestRng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}
