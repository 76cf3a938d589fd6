//! A seeded simulated network on virtual time (after str0m's netem and quinn's test `Pair`).
//!
//! Endpoints are identified by their socket address. [`NetSim::send`] takes a datagram at virtual time `now`
//! and schedules its delivery after the configured latency (plus jitter), or drops it (loss), or delivers it
//! twice (duplication); jitter larger than the spacing of packets reorders them. A NAT rule rewrites the source
//! address of everything one endpoint sends (and maps replies sent to the public address back to it), like a
//! port-rewriting NAT or a latching SBC's view of a client behind one.
//!
//! Everything is deterministic for a given seed: the same sends at the same virtual times give the same
//! deliveries, so scenario tests are reproducible.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Link conditions (the same for every direction).
#[derive(Clone, Copy, Debug)]
pub struct LinkConfig {
    /// One-way latency.
    pub latency: Duration,
    /// Uniform extra delay in `0..=jitter` (reorders packets sent closer together than this).
    pub jitter: Duration,
    /// Probability that a datagram is lost, 0.0..=1.0.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// One datagram on its way or delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Source address as the receiver sees it (after any NAT rewrite).
    pub from: SocketAddr,
    /// Destination address (the receiving endpoint's real address).
    pub to: SocketAddr,
    /// Payload.
    pub bytes: Vec<u8>,
}

/// Counters of what the network did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams handed to [`NetSim::send`].
    pub sent: u64,
    /// Datagrams dropped by the loss model.
    pub lost: u64,
    /// Extra copies scheduled by the duplication model.
    pub duplicated: u64,
    /// Datagrams delivered by [`NetSim::poll_deliver`].
    pub delivered: u64,
}

/// The simulated network.
#[derive(Debug)]
pub struct NetSim {
    link: LinkConfig,
    rng: u64,
    seq: u64,
    queue: BTreeMap<(Instant, u64), Datagram>,
    /// private source → public source
    nat_out: HashMap<SocketAddr, SocketAddr>,
    /// public address → private address
    nat_in: HashMap<SocketAddr, SocketAddr>,
    stats: NetStats,
}

impl NetSim {
    /// A network with the given conditions and seed.
    pub fn new(seed: u64, link: LinkConfig) -> Self {
        Self {
            link,
            rng: seed ^ 0x9E37_79B9_7F4A_7C15,
            seq: 0,
            queue: BTreeMap::new(),
            nat_out: HashMap::new(),
            nat_in: HashMap::new(),
            stats: NetStats::default(),
        }
    }

    /// Change the link conditions (applies to datagrams sent from now on).
    pub fn set_link(&mut self, link: LinkConfig) {
        self.link = link;
    }

    /// NAT: everything `private` sends appears to come from `public`, and datagrams sent to `public` reach
    /// `private`.
    pub fn nat(&mut self, private: SocketAddr, public: SocketAddr) {
        self.nat_out.insert(private, public);
        self.nat_in.insert(public, private);
    }

    /// What the network did so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// SplitMix64: small, seeded, good enough for a network model (not for keys).
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn chance(&mut self, p: f64) -> bool {
        // 53 random bits → [0, 1)
        let x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        x < p
    }

    fn delay(&mut self) -> Duration {
        let j = self.link.jitter.as_nanos() as u64;
        let extra = if j == 0 { 0 } else { self.next_u64() % (j + 1) };
        self.link.latency + Duration::from_nanos(extra)
    }

    /// `from` sends `bytes` to `to` at virtual time `now`.
    pub fn send(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        self.stats.sent += 1;
        if self.chance(self.link.loss) {
            self.stats.lost += 1;
            return;
        }
        let from = self.nat_out.get(&from).copied().unwrap_or(from);
        let to = self.nat_in.get(&to).copied().unwrap_or(to);
        if self.chance(self.link.duplicate) {
            self.stats.duplicated += 1;
            let at = now + self.delay();
            self.push(
                at,
                Datagram {
                    from,
                    to,
                    bytes: bytes.clone(),
                },
            );
        }
        let at = now + self.delay();
        self.push(at, Datagram { from, to, bytes });
    }

    fn push(&mut self, at: Instant, d: Datagram) {
        self.seq += 1;
        self.queue.insert((at, self.seq), d);
    }

    /// When the next datagram arrives, if any is in flight.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(t, _)| *t)
    }

    /// The next datagram due at or before `now`.
    pub fn poll_deliver(&mut self, now: Instant) -> Option<Datagram> {
        let key = *self.queue.keys().next()?;
        if key.0 > now {
            return None;
        }
        self.stats.delivered += 1;
        self.queue.remove(&key)
    }

    /// Datagrams in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(p: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], p))
    }

    #[test]
    fn latency_loss_and_nat_are_seeded() {
        let run = |seed| {
            let t0 = Instant::now();
            let mut n = NetSim::new(
                seed,
                LinkConfig {
                    latency: Duration::from_millis(20),
                    jitter: Duration::from_millis(5),
                    loss: 0.1,
                    duplicate: 0.05,
                },
            );
            n.nat(a(1), a(9));
            for i in 0..1000u32 {
                n.send(t0, a(1), a(2), i.to_be_bytes().to_vec());
            }
            assert_eq!(n.poll_deliver(t0 + Duration::from_millis(19)), None);
            let mut got = Vec::new();
            while let Some(d) = n.poll_deliver(t0 + Duration::from_millis(26)) {
                assert_eq!(d.from, a(9));
                assert_eq!(d.to, a(2));
                got.push(d.bytes);
            }
            assert_eq!(n.in_flight(), 0);
            (n.stats(), got)
        };
        let (s1, g1) = run(7);
        let (s2, g2) = run(7);
        assert_eq!(g1, g2);
        assert_eq!(s1, s2);
        assert!(s1.lost > 50 && s1.lost < 150, "{s1:?}");
        assert!(s1.duplicated > 10, "{s1:?}");
        // jitter reorders
        assert!(g1.windows(2).any(|w| w[0] > w[1]));
        // replies to the public address reach the private one
        let t0 = Instant::now();
        let mut n = NetSim::new(1, LinkConfig::default());
        n.nat(a(1), a(9));
        n.send(t0, a(2), a(9), vec![1]);
        let d = n.poll_deliver(t0 + Duration::from_secs(1)).unwrap();
        assert_eq!((d.from, d.to), (a(2), a(1)));
    }
}
