//! In-memory ICE tests on a manual clock: two agents, a lossless or filtered "network", time advanced by hand.

mod consent;
mod pairs;
mod requests;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::noice;
use super::*;
use crate::stun::{self, attr, Message, MessageBuilder, MessageType, TransactionId};

/// A seeded xorshift64* fill-bytes source (tests only).
fn seeded(seed: u64) -> FillBytes {
    let mut s = seed.max(1);
    Box::new(move |buf: &mut [u8]| {
        for b in buf {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            *b = (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
    })
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn creds(u: &str) -> IceCredentials {
    IceCredentials::new(u, &format!("{u}passwordpasswordpassword")).unwrap()
}

struct Side {
    agent: IceAgent,
    addrs: Vec<SocketAddr>,
    events: Vec<(Duration, IceEvent)>,
    silent: bool,
    sent: Vec<(Duration, Transmit)>,
}

/// Two agents joined by a lossless in-memory network, on a manual clock.
struct Pair {
    /// Percentage of datagrams lost (both ways), drawn from `loss_state` (xorshift).
    loss_percent: u64,
    loss_state: u64,
    start: Instant,
    now: Instant,
    a: Side,
    b: Side,
}

impl Pair {
    #[allow(clippy::disallowed_methods)] // tests need one real Instant as the origin of the manual clock
    fn new(a: IceAgent, a_addrs: &[&str], b: IceAgent, b_addrs: &[&str]) -> Self {
        let side = |agent, addrs: &[&str]| Side {
            agent,
            addrs: addrs.iter().map(|s| addr(s)).collect(),
            events: Vec::new(),
            silent: false,
            sent: Vec::new(),
        };
        let now = Instant::now();
        let mut p = Self {
            loss_percent: 0,
            loss_state: 0x9e37_79b9_7f4a_7c15,
            start: now,
            now,
            a: side(a, a_addrs),
            b: side(b, b_addrs),
        };
        p.a.agent.handle_timeout(now);
        p.b.agent.handle_timeout(now);
        p
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Deliver every pending datagram (both ways), until quiet.
    fn deliver(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            for dir in [true, false] {
                let t = self.elapsed();
                let (from, to) = if dir {
                    (&mut self.a, &mut self.b)
                } else {
                    (&mut self.b, &mut self.a)
                };
                while let Some(e) = from.agent.poll_event() {
                    from.events.push((t, e));
                }
                while let Some(tx) = from.agent.poll_transmit() {
                    moved = true;
                    from.sent.push((t, tx.clone()));
                    // xorshift64*, high bits (plain xorshift low bits gave periodic loss patterns).
                    self.loss_state ^= self.loss_state >> 12;
                    self.loss_state ^= self.loss_state << 25;
                    self.loss_state ^= self.loss_state >> 27;
                    let draw = self.loss_state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
                    let lost = draw % 100 < self.loss_percent;
                    if lost || from.silent || !to.addrs.contains(&tx.remote) {
                        continue;
                    }
                    let _ = to
                        .agent
                        .handle_stun(self.now, tx.remote, tx.local, &tx.bytes);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("network did not quiesce");
    }

    /// Run until `until` says stop or `limit` of simulated time passes, jumping to each deadline.
    fn run(&mut self, limit: Duration, mut until: impl FnMut(&Self) -> bool) -> bool {
        let end = self.now + limit;
        for _ in 0..100_000 {
            self.deliver();
            if until(self) {
                return true;
            }
            let next = [self.a.agent.poll_timeout(), self.b.agent.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next.filter(|t| *t <= end) else {
                self.now = end;
                self.a.agent.handle_timeout(end);
                self.b.agent.handle_timeout(end);
                self.deliver();
                return until(self);
            };
            self.now = self.now.max(next);
            self.a.agent.handle_timeout(self.now);
            self.b.agent.handle_timeout(self.now);
            // handle_timeout(now) leaves no deadline at or before now: a driver cannot spin.
            for s in [&self.a, &self.b] {
                assert!(
                    s.agent.poll_timeout().is_none_or(|t| t > self.now),
                    "{:?}",
                    s.agent
                );
            }
        }
        panic!("too many steps");
    }

    fn both_selected(&self) -> bool {
        self.a.agent.selected_pair().is_some() && self.b.agent.selected_pair().is_some()
    }
}

fn full(now: Instant, role: IceRole, ufrag: &str, seed: u64) -> IceAgent {
    IceAgent::new(now, IceConfig::default(), creds(ufrag), role, seeded(seed))
}

fn lite(now: Instant, ufrag: &str, seed: u64) -> IceAgent {
    let cfg = IceConfig {
        mode: IceMode::Lite,
        ..IceConfig::default()
    };
    IceAgent::new(now, cfg, creds(ufrag), IceRole::Controlled, seeded(seed))
}

#[allow(clippy::disallowed_methods)] // origin of the manual clock
fn t0() -> Instant {
    Instant::now()
}

/// Wire two agents to know each other's credentials and candidates.
fn introduce(a: &mut IceAgent, a_addrs: &[&str], b: &mut IceAgent, b_addrs: &[&str]) {
    let la: Vec<Candidate> = a_addrs
        .iter()
        .map(|s| a.add_local_candidate(addr(s)))
        .collect();
    let lb: Vec<Candidate> = b_addrs
        .iter()
        .map(|s| b.add_local_candidate(addr(s)))
        .collect();
    a.set_remote_credentials(b.local_credentials().clone());
    b.set_remote_credentials(a.local_credentials().clone());
    for c in lb {
        a.add_remote_candidate(c);
    }
    for c in la {
        b.add_remote_candidate(c);
    }
}

fn selected_events(s: &Side) -> Vec<(SocketAddr, SocketAddr)> {
    s.events
        .iter()
        .filter_map(|(_, e)| match e {
            IceEvent::SelectedPair { local, remote } => Some((*local, *remote)),
            _ => None,
        })
        .collect()
}

const A: &str = "10.0.0.1:5000";
const B: &str = "10.0.0.2:6000";
