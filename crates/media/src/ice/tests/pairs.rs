//! Pairs reach a selected pair: ICE-lite and full agents, nomination, pacing, role conflicts, retransmissions.

use super::*;

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
    // RFC 8489 §6.2.1: the last send is at 31.5 s, failure Rm × RTO = 8 s later.
    assert_eq!(sends[6], Duration::from_millis(31_500));
    let failed_at =
        p.a.events
            .iter()
            .find(|(_, e)| *e == IceEvent::Failed)
            .unwrap()
            .0;
    assert_eq!(failed_at, Duration::from_millis(39_500));
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
fn controlled_full_agent_learns_a_peer_reflexive_remote_from_checks() {
    // The peer's SDP carried no candidates (or they were filtered): B only has A's credentials, and learns A's
    // address from A's first check (RFC 8445 §7.3.1.3), then its triggered check validates the pair.
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 111);
    let mut b = full(now, IceRole::Controlled, "bbbb", 112);
    a.add_local_candidate(addr(A));
    let cb = b.add_local_candidate(addr(B));
    a.set_remote_credentials(b.local_credentials().clone());
    b.set_remote_credentials(a.local_credentials().clone());
    a.add_remote_candidate(cb);
    let mut p = Pair::new(a, &[A], b, &[B]);
    assert_eq!(p.b.agent.state(), IceState::New);
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    assert_eq!(p.b.agent.selected_pair(), Some((addr(B), addr(A))));
    // B sent a request of its own: the triggered check toward the peer-reflexive address.
    let b_requests: Vec<&Transmit> =
        p.b.sent
            .iter()
            .map(|(_, t)| t)
            .filter(|t| t.bytes[0..2] == [0, 1])
            .collect();
    assert!(b_requests.iter().any(|t| t.remote == addr(A)));
    let m = Message::decode(&b_requests[0].bytes).unwrap();
    assert_eq!(m.username, Some("aaaa:bbbb"));
    assert!(m.ice_controlled.is_some() && !m.use_candidate);
    // The peer-reflexive remote took the PRIORITY of A's check: prflx type preference 110.
    assert_eq!(m.priority.map(|p| p >> 24), Some(110));
    // A's host candidate arriving late by signalling replaces the peer-reflexive one, without disturbing media.
    let ca = Candidate::host(addr(A), 65535);
    p.b.agent.add_remote_candidate(ca);
    p.run(Duration::from_secs(10), |_| false);
    assert_eq!(p.b.agent.selected_pair(), Some((addr(B), addr(A))));
    assert_eq!(selected_events(&p.b).len(), 1);
}

#[test]
fn states_follow_the_life_of_the_agent() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 113);
    let mut b = full(now, IceRole::Controlled, "bbbb", 114);
    assert_eq!(a.state(), IceState::New);
    introduce(&mut a, &[A], &mut b, &[B]);
    assert_eq!(a.state(), IceState::Checking);
    let mut p = Pair::new(a, &[A], b, &[B]);
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    assert_eq!(
        (p.a.agent.state(), p.b.agent.state()),
        (IceState::Connected, IceState::Connected)
    );
    p.b.silent = true;
    assert!(p.run(Duration::from_secs(40), |p| p.a.agent.state()
        == IceState::Disconnected));

    // A peer that never answers: Failed.
    let mut c = full(now, IceRole::Controlling, "cccc", 115);
    let mut d = full(now, IceRole::Controlled, "dddd", 116);
    introduce(&mut c, &[A], &mut d, &[B]);
    let mut q = Pair::new(c, &[A], d, &[B]);
    q.b.silent = true;
    assert!(q.run(Duration::from_secs(60), |q| q.a.agent.state()
        == IceState::Failed));
}

#[test]
fn zero_timers_are_floored_so_a_driver_cannot_spin() {
    let now = t0();
    let cfg = IceConfig {
        ta: Duration::ZERO,
        initial_rto: Duration::ZERO,
        consent_interval: Duration::ZERO,
        consent_timeout: Duration::ZERO,
        ..IceConfig::default()
    };
    let mut a = IceAgent::new(now, cfg, creds("aaaa"), IceRole::Controlling, seeded(121));
    let mut b = full(now, IceRole::Controlled, "bbbb", 122);
    introduce(&mut a, &[A], &mut b, &[B]);
    // The harness asserts poll_timeout() > now after every handle_timeout(now).
    let mut p = Pair::new(a, &[A], b, &[B]);
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    p.run(Duration::from_secs(2), |_| false);
    assert!(p.a.sent.len() < 200, "{} datagrams in 7 s", p.a.sent.len());
}

proptest::proptest! {
    // A fixed seed: the same 64 lossy scenarios on every run (no CI flakes); raise `cases` locally to explore.
    #![proptest_config(proptest::test_runner::Config {
        cases: 64,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x1ce_5eed),
        ..Default::default()
    })]

    /// With 10% loss both ways and any seeds, full ↔ full and full ↔ lite still select the same pair on both
    /// sides, through retransmissions, triggered checks that replace in-progress ones (RFC 8445 §7.3.1.4) and
    /// repeated nomination checks.
    #[test]
    fn selection_survives_10_percent_loss(seed_a in 1u64.., seed_b in 1u64.., loss_seed in 1u64.., lite_b: bool) {
        let now = t0();
        let a_addrs = ["10.0.0.1:5000", "10.0.1.1:5001"];
        let b_addrs = ["10.0.0.2:6000", "10.0.1.2:6001"];
        let mut a = full(now, IceRole::Controlling, "aaaa", seed_a);
        let mut b = if lite_b { lite(now, "bbbb", seed_b) } else { full(now, IceRole::Controlled, "bbbb", seed_b) };
        introduce(&mut a, &a_addrs, &mut b, &b_addrs);
        let mut p = Pair::new(a, &a_addrs, b, &b_addrs);
        p.loss_percent = 10;
        p.loss_state = loss_seed;
        proptest::prop_assert!(p.run(Duration::from_secs(30), Pair::both_selected));
        let (l, r) = p.a.agent.selected_pair().unwrap();
        proptest::prop_assert_eq!(p.b.agent.selected_pair(), Some((r, l)));
    }
}

#[test]
fn nomination_does_not_wait_for_a_silent_better_pair() {
    // B's best candidate is unreachable (the "network" delivers nothing to it): A's check on the best pair
    // would take ~40 s to fail. The nomination timer nominates the valid lower pair after 1 s instead.
    let now = t0();
    let a_addrs = ["10.0.0.1:5000"];
    let b_addrs = ["10.0.0.2:6000", "10.0.1.2:6001"];
    let mut a = full(now, IceRole::Controlling, "aaaa", 141);
    let mut b = full(now, IceRole::Controlled, "bbbb", 142);
    introduce(&mut a, &a_addrs, &mut b, &b_addrs);
    let mut p = Pair::new(a, &a_addrs, b, &b_addrs[1..]); // nothing reaches 10.0.0.2:6000
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    assert_eq!(
        p.a.agent.selected_pair(),
        Some((addr(a_addrs[0]), addr(b_addrs[1])))
    );
    let at =
        p.a.events
            .iter()
            .find(|(_, e)| matches!(e, IceEvent::SelectedPair { .. }))
            .unwrap()
            .0;
    assert!(
        at >= Duration::from_secs(1) && at < Duration::from_millis(1500),
        "selected at {at:?}"
    );
}

/// Regressions found by `selection_survives_*_loss` at 20% loss: (1) regular nomination waited ~40 s for a
/// better in-progress pair (fixed by the nomination timer); (2) the controlled side kept backing off on an
/// in-progress check while the peer's checks arrived (fixed by RFC 8445 §7.3.1.4 cancellation); (3) the
/// controlling side's nomination check backed off while the peer's checks arrived on that pair (re-sent now).
#[test]
fn lossy_regressions_20_percent() {
    for (seed_a, seed_b, loss_seed, lite_b) in [
        (1, 1, 7_208_709_407_076_673_678u64, false),
        (
            1_325_261_792_710_507_930,
            1,
            12_841_735_093_537_584_363,
            false,
        ),
        (1, 39_781_208_990_647_084, 6_640_888_176_630_441_141, true),
    ] {
        let now = t0();
        let a_addrs = ["10.0.0.1:5000", "10.0.1.1:5001"];
        let b_addrs = ["10.0.0.2:6000", "10.0.1.2:6001"];
        let mut a = full(now, IceRole::Controlling, "aaaa", seed_a);
        let mut b = if lite_b {
            lite(now, "bbbb", seed_b)
        } else {
            full(now, IceRole::Controlled, "bbbb", seed_b)
        };
        introduce(&mut a, &a_addrs, &mut b, &b_addrs);
        let mut p = Pair::new(a, &a_addrs, b, &b_addrs);
        p.loss_percent = 20;
        p.loss_state = loss_seed;
        assert!(
            p.run(Duration::from_secs(30), Pair::both_selected),
            "{seed_a} {seed_b} {loss_seed}"
        );
    }
}
