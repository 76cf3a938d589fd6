//! In-memory ICE tests on a manual clock: two agents, a lossless or filtered "network", time advanced by hand.

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
                    if from.silent || !to.addrs.contains(&tx.remote) {
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

#[test]
fn ice_lite_answers_full_controlling_and_use_candidate_nominates() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 1);
    let mut b = lite(now, "bbbb", 2);
    introduce(&mut a, &[A], &mut b, &[B]);
    let mut p = Pair::new(a, &[A], b, &[B]);
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    assert_eq!(p.a.agent.selected_pair(), Some((addr(A), addr(B))));
    assert_eq!(p.b.agent.selected_pair(), Some((addr(B), addr(A))));
    assert_eq!(selected_events(&p.a), vec![(addr(A), addr(B))]);
    assert_eq!(selected_events(&p.b), vec![(addr(B), addr(A))]);
    // The lite agent never sends checks of its own before selection: only responses.
    let b_requests_before =
        p.b.sent
            .iter()
            .filter(|(_, t)| t.bytes[0..2] == [0, 1])
            .count();
    assert_eq!(b_requests_before, 0);
    // Regular nomination: first a check, then the same check with USE-CANDIDATE.
    let a_checks: Vec<Message<'_>> =
        p.a.sent
            .iter()
            .map(|(_, t)| Message::decode(&t.bytes).unwrap())
            .collect();
    assert!(!a_checks[0].use_candidate);
    assert!(a_checks.iter().any(|m| m.use_candidate));
    assert!(
        p.elapsed() < Duration::from_millis(200),
        "{:?}",
        p.elapsed()
    );
}

#[test]
fn full_full_regular_nomination_selects_the_best_pair_on_both_sides() {
    let now = t0();
    let a_addrs = ["10.0.0.1:5000", "10.0.1.1:5001", "[fd00::1]:5002"];
    let b_addrs = ["10.0.0.2:6000", "10.0.1.2:6001", "[fd00::2]:6002"];
    let mut a = full(now, IceRole::Controlling, "aaaa", 3);
    let mut b = full(now, IceRole::Controlled, "bbbb", 4);
    introduce(&mut a, &a_addrs, &mut b, &b_addrs);
    let mut p = Pair::new(a, &a_addrs, b, &b_addrs);
    assert!(p.run(Duration::from_secs(10), Pair::both_selected));
    // The highest-priority pair joins the two candidates with local preference 65535 (the first of each).
    let sa = p.a.agent.selected_pair().unwrap();
    assert_eq!(sa, (addr(a_addrs[0]), addr(b_addrs[0])));
    assert_eq!(p.b.agent.selected_pair(), Some((sa.1, sa.0)));
    assert_eq!(selected_events(&p.a).len(), 1);
    assert_eq!(selected_events(&p.b).len(), 1);
}

#[test]
fn checks_are_paced_by_ta() {
    let now = t0();
    let a_addrs = ["10.0.0.1:5000", "10.0.1.1:5001"];
    let b_addrs = ["10.0.0.2:6000", "10.0.1.2:6001", "10.0.2.2:6002"];
    let mut a = full(now, IceRole::Controlling, "aaaa", 5);
    let mut b = full(now, IceRole::Controlled, "bbbb", 6);
    introduce(&mut a, &a_addrs, &mut b, &b_addrs);
    let mut p = Pair::new(a, &a_addrs, b, &b_addrs);
    p.b.silent = true; // no answers: every pair gets checked in turn
    p.run(Duration::from_millis(400), |_| false);
    let first_sends: Vec<Duration> = {
        let mut seen = std::collections::HashSet::new();
        p.a.sent
            .iter()
            .filter(|(_, t)| seen.insert(t.bytes[8..20].to_vec()))
            .map(|(at, _)| *at)
            .collect()
    };
    assert_eq!(first_sends.len(), 6, "six pairs, six transactions");
    for w in first_sends.windows(2) {
        assert!(w[1] - w[0] >= Duration::from_millis(50), "{first_sends:?}");
    }
}

#[test]
fn aggressive_nomination_is_tolerated_t_6a() {
    let now = t0();
    let a_addrs = ["10.0.0.1:5000", "10.0.1.1:5001"];
    let b_addrs = ["10.0.0.2:6000"];
    let cfg = IceConfig {
        nomination: Nomination::Aggressive,
        ..IceConfig::default()
    };
    let mut a = IceAgent::new(now, cfg, creds("aaaa"), IceRole::Controlling, seeded(7));
    let mut b = full(now, IceRole::Controlled, "bbbb", 8);
    introduce(&mut a, &a_addrs, &mut b, &b_addrs);
    let mut p = Pair::new(a, &a_addrs, b, &b_addrs);
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    // Every connectivity check carried USE-CANDIDATE.
    let requests: Vec<Message<'_>> =
        p.a.sent
            .iter()
            .filter(|(_, t)| t.bytes[0..2] == [0, 1])
            .map(|(_, t)| Message::decode(&t.bytes).unwrap())
            .collect();
    assert!(!requests.is_empty() && requests.iter().all(|m| m.use_candidate));
    p.run(Duration::from_secs(2), |_| false);
    // Both sides end on the best pair.
    assert_eq!(
        p.a.agent.selected_pair(),
        Some((addr(a_addrs[0]), addr(b_addrs[0])))
    );
    assert_eq!(
        p.b.agent.selected_pair(),
        Some((addr(b_addrs[0]), addr(a_addrs[0])))
    );
}

#[test]
fn role_conflict_both_controlling_is_resolved_by_tie_breaker() {
    for (sa, sb) in [(11, 12), (12, 11), (21, 22), (99, 3)] {
        let now = t0();
        let mut a = full(now, IceRole::Controlling, "aaaa", sa);
        let mut b = full(now, IceRole::Controlling, "bbbb", sb);
        let (ta, tb) = (a.tie_breaker(), b.tie_breaker());
        introduce(&mut a, &[A], &mut b, &[B]);
        let mut p = Pair::new(a, &[A], b, &[B]);
        assert!(
            p.run(Duration::from_secs(10), Pair::both_selected),
            "seeds {sa},{sb}"
        );
        assert_ne!(p.a.agent.role(), p.b.agent.role());
        // The larger tie-breaker keeps controlling (RFC 8445 §7.3.1.1).
        let want_a = if ta > tb {
            IceRole::Controlling
        } else {
            IceRole::Controlled
        };
        assert_eq!(p.a.agent.role(), want_a);
        let changed = |s: &Side| {
            s.events
                .iter()
                .any(|(_, e)| matches!(e, IceEvent::RoleChanged(_)))
        };
        assert!(changed(&p.a) ^ changed(&p.b));
    }
}

#[test]
fn role_conflict_both_controlled_is_resolved() {
    let now = t0();
    let mut a = full(now, IceRole::Controlled, "aaaa", 31);
    let mut b = full(now, IceRole::Controlled, "bbbb", 32);
    introduce(&mut a, &[A], &mut b, &[B]);
    let mut p = Pair::new(a, &[A], b, &[B]);
    assert!(p.run(Duration::from_secs(10), Pair::both_selected));
    assert_ne!(p.a.agent.role(), p.b.agent.role());
}

#[test]
fn role_conflict_487_when_we_keep_controlling() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 41);
    a.add_local_candidate(addr(A));
    // A request from a peer that also claims controlling, with tie-breaker 0 (ours is >= 0): 487, A keeps its role.
    let mut req = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([1; 12]));
    req.username("aaaa:bbbb")
        .priority(1)
        .ice_controlling(0)
        .use_candidate();
    req.message_integrity(a.local_credentials().pwd().as_bytes())
        .fingerprint();
    a.handle_stun(now, addr(A), addr(B), &req.finish().unwrap())
        .unwrap();
    let resp = a.poll_transmit().unwrap();
    let m = Message::decode(&resp.bytes).unwrap();
    assert_eq!(m.error_code.map(|e| e.code), Some(487));
    m.verify_integrity(a.local_credentials().pwd().as_bytes())
        .unwrap();
    assert_eq!(a.role(), IceRole::Controlling);
    assert_eq!(a.stats().rejected_role_conflict, 1);
    assert_eq!(a.poll_event(), None);
    // A controlled peer claiming controlling with a larger tie-breaker makes a controlled agent stay controlled,
    // and a controlling agent with the smaller tie-breaker switch (RFC 8445 §7.3.1.1).
    let mut c = full(now, IceRole::Controlling, "cccc", 42);
    let mut req = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([2; 12]));
    req.username("cccc:bbbb")
        .priority(1)
        .ice_controlling(u64::MAX);
    req.message_integrity(c.local_credentials().pwd().as_bytes())
        .fingerprint();
    c.handle_stun(now, addr(A), addr(B), &req.finish().unwrap())
        .unwrap();
    let m = Message::decode(&c.poll_transmit().unwrap().bytes)
        .unwrap()
        .msg_type;
    assert_eq!(m, MessageType::BINDING_SUCCESS);
    assert_eq!(c.role(), IceRole::Controlled);
    assert_eq!(
        c.poll_event(),
        Some(IceEvent::RoleChanged(IceRole::Controlled))
    );
}

#[test]
fn consent_expires_30s_after_the_peer_goes_silent_rfc7675() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 51);
    let mut b = full(now, IceRole::Controlled, "bbbb", 52);
    introduce(&mut a, &[A], &mut b, &[B]);
    let mut p = Pair::new(a, &[A], b, &[B]);
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    // While the peer answers, consent holds for a long time.
    p.run(Duration::from_secs(120), |_| false);
    let expired = |s: &Side| {
        s.events
            .iter()
            .any(|(_, e)| matches!(e, IceEvent::ConsentExpired { .. }))
    };
    assert!(!expired(&p.a) && !expired(&p.b));
    // Consent checks run about every 5 s (4-6 s apart).
    let checks: Vec<Duration> =
        p.a.sent
            .iter()
            .filter(|(_, t)| t.bytes[0..2] == [0, 1])
            .map(|(at, _)| *at)
            .collect();
    let late: Vec<&Duration> = checks
        .iter()
        .filter(|t| **t > Duration::from_secs(10))
        .collect();
    assert!(
        (18..=30).contains(&late.len()),
        "{} consent checks in ~110 s",
        late.len()
    );
    for w in late.windows(2) {
        let gap = *w[1] - *w[0];
        assert!(
            gap >= Duration::from_secs(4) && gap <= Duration::from_secs(6),
            "gap {gap:?}"
        );
    }
    // The peer goes silent.
    let silent_at = p.elapsed();
    p.b.silent = true;
    assert!(p.run(Duration::from_secs(60), |p| expired(&p.a)));
    let at =
        p.a.events
            .iter()
            .find(|(_, e)| matches!(e, IceEvent::ConsentExpired { .. }))
            .unwrap()
            .0;
    let since = at - silent_at;
    assert!(
        since >= Duration::from_secs(24) && since <= Duration::from_secs(31),
        "expired after {since:?}"
    );
    assert_eq!(p.a.agent.selected_pair(), None);
    assert!(p.a.events.contains(&(
        at,
        IceEvent::ConsentExpired {
            local: addr(A),
            remote: addr(B)
        }
    )));
}

#[test]
fn credentials_mismatch_gets_401_and_no_pair() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 61);
    let mut b = lite(now, "bbbb", 62);
    a.add_local_candidate(addr(A));
    let cb = b.add_local_candidate(addr(B));
    // A was told a wrong password for B.
    a.set_remote_credentials(IceCredentials::new("bbbb", "wrongwrongwrongwrongwrong").unwrap());
    a.add_remote_candidate(cb);
    let mut p = Pair::new(a, &[A], b, &[B]);
    p.run(Duration::from_secs(30), |_| false);
    assert_eq!(p.a.agent.selected_pair(), None);
    assert_eq!(p.b.agent.selected_pair(), None);
    assert!(p.b.agent.stats().rejected_unauthenticated >= 1);
    assert_eq!(p.b.agent.stats().requests_accepted, 0);
    assert!(!p.b.agent.is_valid_pair(addr(B), addr(A)));
    let resp =
        p.b.sent
            .iter()
            .map(|(_, t)| Message::decode(&t.bytes).unwrap())
            .next()
            .unwrap();
    assert_eq!(resp.error_code.map(|e| e.code), Some(401));
    assert!(!resp.has_integrity());
    assert!(p.a.events.iter().any(|(_, e)| *e == IceEvent::Failed));
}

#[test]
fn wrong_ufrag_gets_401() {
    let now = t0();
    let mut b = lite(now, "bbbb", 63);
    let mut req = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([2; 12]));
    req.username("zzzz:aaaa").ice_controlling(5).use_candidate();
    req.message_integrity(b.local_credentials().pwd().as_bytes())
        .fingerprint();
    b.handle_stun(now, addr(B), addr(A), &req.finish().unwrap())
        .unwrap();
    let m = Message::decode(&b.poll_transmit().unwrap().bytes)
        .unwrap()
        .error_code
        .unwrap()
        .code;
    assert_eq!(m, 401);
    assert_eq!(b.selected_pair(), None);
}

#[test]
fn missing_integrity_gets_400_and_unknown_required_gets_420() {
    let now = t0();
    let mut b = lite(now, "bbbb", 64);
    let bare = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([3; 12]))
        .finish()
        .unwrap();
    b.handle_stun(now, addr(B), addr(A), &bare).unwrap();
    let m = b.poll_transmit().unwrap();
    assert_eq!(
        Message::decode(&m.bytes).unwrap().error_code.unwrap().code,
        400
    );

    let mut req = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([4; 12]));
    req.username("bbbb:aaaa")
        .ice_controlling(5)
        .attribute(0x7001, &[1, 2, 3, 4]);
    req.message_integrity(b.local_credentials().pwd().as_bytes())
        .fingerprint();
    b.handle_stun(now, addr(B), addr(A), &req.finish().unwrap())
        .unwrap();
    let raw = b.poll_transmit().unwrap().bytes;
    let m = Message::decode(&raw).unwrap();
    assert_eq!(m.error_code.unwrap().code, 420);
    assert_eq!(
        m.unknown_attributes.unwrap().iter().collect::<Vec<_>>(),
        vec![0x7001]
    );
    assert_eq!(b.stats().rejected_unknown_attribute, 1);
    assert_eq!(b.selected_pair(), None);
}

#[test]
fn chromium_style_check_with_0xc057_is_accepted_by_lite() {
    let now = t0();
    let mut b = lite(now, "bbbb", 65);
    b.add_local_candidate(addr(B));
    let mut req = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([5; 12]));
    req.username("bbbb:aaaa")
        .attribute(0xC057, &[0, 1, 0, 10])
        .ice_controlling(0x1234)
        .use_candidate()
        .priority(1_853_824_767);
    req.message_integrity(b.local_credentials().pwd().as_bytes())
        .fingerprint();
    b.handle_stun(now, addr(B), addr(A), &req.finish().unwrap())
        .unwrap();
    let resp = b.poll_transmit().unwrap();
    assert_eq!((resp.local, resp.remote), (addr(B), addr(A)));
    let m = Message::decode(&resp.bytes).unwrap();
    assert_eq!(m.msg_type, MessageType::BINDING_SUCCESS);
    assert_eq!(m.xor_mapped_address, Some(addr(A)));
    m.verify_integrity(b.local_credentials().pwd().as_bytes())
        .unwrap();
    assert_eq!(
        b.poll_event(),
        Some(IceEvent::SelectedPair {
            local: addr(B),
            remote: addr(A)
        })
    );
}

#[test]
fn t_3_3_ice_restart_keeps_the_selected_pair_until_a_new_one() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 71);
    let mut b = full(now, IceRole::Controlled, "bbbb", 72);
    introduce(&mut a, &[A], &mut b, &[B]);
    let mut p = Pair::new(a, &[A], b, &[B]);
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    let old_a = p.a.agent.local_credentials().clone();
    let before = (p.a.events.len(), p.b.events.len());

    // Restart: new credentials on both sides (offer/answer); nothing above ICE is told anything.
    p.a.agent.restart(creds("aaa2"));
    p.b.agent.restart(creds("bbb2"));
    assert_eq!(p.a.agent.selected_pair(), Some((addr(A), addr(B))));
    assert_eq!(p.b.agent.selected_pair(), Some((addr(B), addr(A))));
    // A check with the old credentials is now refused.
    let mut old = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([6; 12]));
    old.username(&format!("{}:bbbb", old_a.ufrag()))
        .ice_controlled(1);
    old.message_integrity(old_a.pwd().as_bytes()).fingerprint();
    p.a.agent
        .handle_stun(p.now, addr(A), addr(B), &old.finish().unwrap())
        .unwrap();
    assert_eq!(p.a.agent.stats().rejected_unauthenticated, 1);
    let refused = p.a.agent.poll_transmit().unwrap();
    assert_eq!(
        Message::decode(&refused.bytes)
            .unwrap()
            .error_code
            .unwrap()
            .code,
        401
    );

    let (ca, cb) = (
        p.a.agent.local_credentials().clone(),
        p.b.agent.local_credentials().clone(),
    );
    p.a.agent.set_remote_credentials(cb);
    p.b.agent.set_remote_credentials(ca);
    let la = p.a.agent.add_local_candidate(addr(A));
    let lb = p.b.agent.add_local_candidate(addr(B));
    p.a.agent.add_remote_candidate(lb);
    p.b.agent.add_remote_candidate(la);
    p.a.agent.handle_timeout(p.now);
    // New checks with the new credentials succeed and nominate the same pair again: no selection change, no expiry.
    p.run(Duration::from_secs(60), |_| false);
    assert_eq!(p.a.agent.selected_pair(), Some((addr(A), addr(B))));
    assert_eq!(p.b.agent.selected_pair(), Some((addr(B), addr(A))));
    assert_eq!(p.a.events.len(), before.0, "{:?}", p.a.events);
    assert_eq!(p.b.events.len(), before.1, "{:?}", p.b.events);
    let uses_new = p.a.sent.iter().rev().take(3).all(|(_, t)| {
        let m = Message::decode(&t.bytes).unwrap();
        m.username.is_none_or(|u| u == "bbb2:aaa2")
    });
    assert!(uses_new);
    assert!(p.a.agent.is_valid_pair(addr(A), addr(B)));
}

#[test]
fn lost_checks_are_retransmitted_then_fail() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 81);
    let mut b = full(now, IceRole::Controlled, "bbbb", 82);
    introduce(&mut a, &[A], &mut b, &[B]);
    let mut p = Pair::new(a, &[A], b, &[B]);
    p.b.silent = true;
    assert!(p.run(Duration::from_secs(120), |p| p
        .a
        .events
        .iter()
        .any(|(_, e)| *e == IceEvent::Failed)));
    // One pair: 1 send + 6 retransmissions, doubling from 500 ms.
    let sends: Vec<Duration> = p.a.sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(sends.len(), 7, "{sends:?}");
    assert_eq!(sends[1] - sends[0], Duration::from_millis(500));
    assert_eq!(sends[2] - sends[1], Duration::from_millis(1000));
    assert!(p.a.sent.windows(2).all(|w| w[0].1.bytes == w[1].1.bytes));
}

#[test]
fn a_lost_first_check_is_recovered_by_retransmission() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 83);
    let mut b = lite(now, "bbbb", 84);
    introduce(&mut a, &[A], &mut b, &[B]);
    let mut p = Pair::new(a, &[A], b, &[B]);
    // Drop A's first transmission by draining it before delivery.
    let first = p.a.agent.poll_transmit();
    assert!(first.is_some());
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    assert!(p.elapsed() >= Duration::from_millis(500));
}

#[test]
fn responses_with_bad_integrity_or_unknown_tid_are_dropped() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 85);
    let mut b = full(now, IceRole::Controlled, "bbbb", 86);
    introduce(&mut a, &[A], &mut b, &[B]);
    a.handle_timeout(now);
    let check = a.poll_transmit().unwrap();
    let m = Message::decode(&check.bytes).unwrap();
    // Forged success signed with the wrong key.
    let mut f = MessageBuilder::new(MessageType::BINDING_SUCCESS, m.transaction_id);
    f.xor_mapped_address(addr(A))
        .message_integrity(b"not the password")
        .fingerprint();
    assert_eq!(
        a.handle_stun(now, addr(A), addr(B), &f.finish().unwrap()),
        Err(IceError::ResponseIntegrity)
    );
    let mut u = MessageBuilder::new(MessageType::BINDING_SUCCESS, TransactionId([0xee; 12]));
    u.fingerprint();
    assert_eq!(
        a.handle_stun(now, addr(A), addr(B), &u.finish().unwrap()),
        Err(IceError::UnknownTransaction)
    );
    assert_eq!(a.stats().responses_dropped, 2);
    assert_eq!(a.selected_pair(), None);
    assert_eq!(
        a.handle_stun(now, addr(A), addr(B), &[0, 1, 0]),
        Err(IceError::Stun(stun::StunError::TooShort { len: 3 }))
    );
}

#[test]
fn f_6_7_2a_one_unauthenticated_binding_request() {
    let tid = TransactionId([9; 12]);
    let req = noice::binding_request(tid);
    assert_eq!(&req[0..2], &[0x00, 0x01]);
    assert_eq!(&req[4..8], &[0x21, 0x12, 0xA4, 0x42]);
    let m = Message::decode(&req).unwrap();
    assert_eq!(m.msg_type, MessageType::BINDING_REQUEST);
    assert!(!m.has_integrity() && m.username.is_none() && m.has_fingerprint);
    assert_eq!(crate::classify(&req), crate::PacketKind::Stun);
}

#[test]
fn f_6_7_2b_unauthenticated_binding_request_gets_xor_mapped_address() {
    for src in ["192.0.2.7:40000", "[2001:db8::7]:40001"] {
        let tid = TransactionId([0x42; 12]);
        let req = noice::binding_request(tid);
        let resp = noice::answer_binding_request(&req, addr(src))
            .unwrap()
            .unwrap();
        assert_eq!(&resp[0..2], &[0x01, 0x01]);
        assert_eq!(
            noice::parse_binding_response(&resp, tid).unwrap(),
            Some(addr(src))
        );
        assert_eq!(
            noice::parse_binding_response(&resp, TransactionId([0; 12])).unwrap(),
            None
        );
    }
    // Unknown comprehension-required → 420; a response needs no answer; garbage is a typed error.
    let mut b = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([1; 12]));
    b.attribute(0x0042, &[]);
    let resp = noice::answer_binding_request(&b.finish().unwrap(), addr(A))
        .unwrap()
        .unwrap();
    assert_eq!(
        Message::decode(&resp).unwrap().error_code.unwrap().code,
        420
    );
    let success = MessageBuilder::new(MessageType::BINDING_SUCCESS, TransactionId([1; 12]))
        .finish()
        .unwrap();
    assert_eq!(noice::answer_binding_request(&success, addr(A)), Ok(None));
    assert!(noice::answer_binding_request(&[0x00, 0x01, 0x00], addr(A)).is_err());
}

#[test]
fn credentials_are_validated_and_redacted() {
    assert_eq!(
        IceCredentials::new("abc", "x".repeat(22).as_str()),
        Err(IceError::InvalidUfrag)
    );
    assert_eq!(
        IceCredentials::new("abcd", "short"),
        Err(IceError::InvalidPassword)
    );
    assert_eq!(
        IceCredentials::new("ab d", &"x".repeat(22)),
        Err(IceError::InvalidUfrag)
    );
    let c = IceCredentials::random(&mut seeded(5));
    assert_eq!((c.ufrag().len(), c.pwd().len()), (8, 24));
    assert!(IceCredentials::new(c.ufrag(), c.pwd()).is_ok());
    assert!(!format!("{c:?}").contains(c.pwd()));
}

#[test]
fn priorities_follow_rfc_8445() {
    // §5.1.2.1: host, local preference 65535, component 1.
    assert_eq!(
        candidate_priority(CandidateKind::Host, 65535),
        2_130_706_431
    );
    // §6.1.2.3.
    assert_eq!(pair_priority(10, 20), (10u64 << 32) + 40);
    assert_eq!(pair_priority(20, 10), (10u64 << 32) + 41);
}

#[test]
fn random_stun_like_input_never_panics_and_changes_nothing() {
    use proptest::prelude::*;
    let now = t0();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..120), |bytes| {
            let mut b = lite(now, "bbbb", 90);
            let _ = b.handle_stun(now, addr(B), addr(A), &bytes);
            // Garbage that fails decoding produces nothing at all.
            if Message::decode(&bytes).is_err() {
                prop_assert!(b.poll_transmit().is_none());
                prop_assert!(b.poll_event().is_none());
            }
            Ok(())
        })
        .unwrap();
    let _ = attr::USE_CANDIDATE;
}

#[test]
fn lite_agent_answers_487_to_a_full_peer_claiming_controlled() {
    let now = t0();
    let mut b = lite(now, "bbbb", 91);
    let mut req = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([7; 12]));
    req.username("bbbb:aaaa").ice_controlled(0).priority(1);
    req.message_integrity(b.local_credentials().pwd().as_bytes())
        .fingerprint();
    b.handle_stun(now, addr(B), addr(A), &req.finish().unwrap())
        .unwrap();
    let m = Message::decode(&b.poll_transmit().unwrap().bytes)
        .unwrap()
        .error_code
        .unwrap()
        .code;
    assert_eq!(m, 487);
    assert_eq!(b.role(), IceRole::Controlled);
}

#[test]
fn full_controlled_against_lite_switches_to_controlling_and_selects() {
    // A full agent that wrongly starts controlled gets 487 from the lite peer, switches, and nominates.
    let now = t0();
    let mut a = full(now, IceRole::Controlled, "aaaa", 92);
    let mut b = lite(now, "bbbb", 93);
    introduce(&mut a, &[A], &mut b, &[B]);
    let mut p = Pair::new(a, &[A], b, &[B]);
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    assert_eq!(p.a.agent.role(), IceRole::Controlling);
    assert_eq!(p.b.agent.role(), IceRole::Controlled);
}

#[test]
fn pairs_are_capped_under_a_flood_of_authenticated_sources() {
    let now = t0();
    let mut b = full(now, IceRole::Controlled, "bbbb", 94);
    b.add_local_candidate(addr(B));
    for i in 0..300u16 {
        let mut req = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([8; 12]));
        req.username("bbbb:aaaa").ice_controlling(1).priority(1);
        req.message_integrity(b.local_credentials().pwd().as_bytes())
            .fingerprint();
        let src = SocketAddr::from(([10, 9, (i >> 8) as u8, i as u8], 7000));
        b.handle_stun(now, addr(B), src, &req.finish().unwrap())
            .unwrap();
    }
    assert_eq!(b.stats().requests_accepted, 300);
    // Triggered checks go out once the remote password is known: at most 100 pairs ever get one.
    b.set_remote_credentials(creds("aaaa"));
    let mut t = now;
    let mut dests = std::collections::HashSet::new();
    for _ in 0..400 {
        t += Duration::from_millis(50);
        b.handle_timeout(t);
        while let Some(tx) = b.poll_transmit() {
            if tx.bytes[0..2] == [0, 1] {
                dests.insert(tx.remote);
            }
        }
    }
    assert_eq!(dests.len(), 100);
}

#[test]
fn consent_pauses_without_remote_credentials_lite() {
    // An ICE-lite agent that was never given the peer's credentials cannot check consent: it must not expire it.
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 101);
    let mut b = lite(now, "bbbb", 102);
    let cb = b.add_local_candidate(addr(B));
    a.add_local_candidate(addr(A));
    a.set_remote_credentials(b.local_credentials().clone());
    a.add_remote_candidate(cb);
    let mut p = Pair::new(a, &[A], b, &[B]);
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    p.run(Duration::from_secs(90), |_| false);
    assert_eq!(p.b.agent.selected_pair(), Some((addr(B), addr(A))));
    assert!(
        p.b.sent.iter().all(|(_, t)| t.bytes[0..2] != [0, 1]),
        "lite without credentials sent a request"
    );
    assert!(!p
        .a
        .events
        .iter()
        .chain(&p.b.events)
        .any(|(_, e)| matches!(e, IceEvent::ConsentExpired { .. })));
}

#[test]
fn consent_revoked_by_403() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 103);
    let mut b = lite(now, "bbbb", 104);
    introduce(&mut a, &[A], &mut b, &[B]);
    let mut p = Pair::new(a, &[A], b, &[B]);
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    p.b.silent = true;
    // Wait for A's next consent check and answer it with an authenticated 403.
    let n = p.a.sent.len();
    assert!(p.run(Duration::from_secs(7), |p| p.a.sent.len() > n));
    let check = p.a.sent.last().unwrap().1.clone();
    let m = Message::decode(&check.bytes).unwrap();
    let mut r = MessageBuilder::new(MessageType::BINDING_ERROR, m.transaction_id);
    r.error_code(403, "Forbidden")
        .message_integrity(p.b.agent.local_credentials().pwd().as_bytes())
        .fingerprint();
    p.a.agent
        .handle_stun(p.now, addr(A), addr(B), &r.finish().unwrap())
        .unwrap();
    assert_eq!(
        p.a.agent.poll_event(),
        Some(IceEvent::ConsentExpired {
            local: addr(A),
            remote: addr(B)
        })
    );
    assert_eq!(p.a.agent.selected_pair(), None);
    assert!(!p.a.agent.is_valid_pair(addr(A), addr(B)));
    // The peer keeps answering: the pair stays dead until an ICE restart.
    p.b.silent = false;
    p.run(Duration::from_secs(20), |_| false);
    assert_eq!(p.a.agent.selected_pair(), None);
}
