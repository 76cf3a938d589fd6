//! Rekey on one media port (issue 13): make-before-break with a grace period for the old keys (F-6.8, D-4.3,
//! T-5.5c), both directions at 2 ms pacing with reordering around the switch, caller- and callee-initiated;
//! replay protection across the switch; the proactive [`MediaEvent::RekeyDue`] (D-4.4).
#![allow(clippy::disallowed_methods)] // tests: OpenSSL's timers run on the real clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use dtlsrtp_media::{AssocId, CloseReason, MediaEvent, RekeyReason};
use dtlsrtp_srtp::DtlsRole;

const RENEW: dtlsrtp_sdp::Association = dtlsrtp_sdp::Association::New {
    reason: dtlsrtp_sdp::NewReason::TlsIdChanged,
};

/// Sends one packet from each side (payload = index), then advances 2 ms.
fn tick(w: &mut World, k: u32) {
    let now = w.now;
    let mut payload = vec![0x55; 40];
    payload[..4].copy_from_slice(&k.to_be_bytes());
    for i in 0..2 {
        w.eps[i]
            .port
            .send_rtp(now, FORK, 0, false, k * 16, &payload)
            .unwrap();
    }
    w.run_for(Duration::from_millis(2));
}

fn verified_at(w: &World, ep: usize, nth: usize) -> Option<Instant> {
    w.eps[ep]
        .events
        .iter()
        .filter(|(_, e)| matches!(e, MediaEvent::FingerprintVerified { .. }))
        .nth(nth)
        .map(|(t, _)| *t)
}

/// Who learns of the renewal first and with which roles.
#[derive(Clone, Copy)]
enum Rekey {
    /// A (the original offerer, DTLS server) re-offers; B answers at once and starts the new handshake, A
    /// applies the answer 30 ms later.
    CallerInitiated,
    /// B (the callee) re-offers `actpass`; A answers `active` and starts the new handshake as DTLS client at
    /// once (roles swap); B applies the answer 30 ms later.
    CalleeInitiated,
}

/// Runs a stream both ways at 2 ms pacing with odd packets overtaken across a rekey; checks zero loss and no duplicate
/// delivery in both directions, the switch, the grace period, and replay protection.
fn rekey_without_loss(seed: u64, how: Rekey, slow_dtls: bool) {
    let mut w = established_pair(seed);
    // RTP (PT 0) takes 15, 10, 5, 0 ms longer by sequence number mod 4: at 2 ms pacing each run of four
    // arrives reversed and overlaps the next run, so wherever the switch falls, the last old-key packets
    // arrive after the first new-key ones.
    w.extra_delay = Some(|_, b| match b {
        [0x80, 0, _, s, ..] => Duration::from_millis(5 * u64::from(3 - s % 4)),
        _ => Duration::ZERO,
    });
    if slow_dtls {
        // DTLS records also take 30 ms longer: the first new-key packets overtake the last handshake flight
        // and must wait (held) until the new keys exist.
        w.extra_delay = Some(|_, b| match b {
            [0x80, 0, _, s, ..] => Duration::from_millis(5 * u64::from(3 - s % 4)),
            [20..=63, ..] => Duration::from_millis(30),
            _ => Duration::ZERO,
        });
    }
    let old: Vec<AssocId> = (0..2).map(|i| w.eps[i].port.associations()[0].id).collect();
    let (a, b) = (addr(A_ADDR), addr(B_ADDR));
    let mut k = 0u32;
    while k < 50 {
        tick(&mut w, k);
        k += 1;
    }
    let (first, first_role, first_addr, second, second_role, second_addr, first_fp, second_fp) =
        match how {
            Rekey::CallerInitiated => (1, DtlsRole::Client, a, 0, DtlsRole::Server, b, 0, 1),
            Rekey::CalleeInitiated => (0, DtlsRole::Client, b, 1, DtlsRole::Server, a, 1, 0),
        };
    let mut p = peer(first_role, first_addr, vec![fingerprint(first_fp)]);
    p.association = RENEW;
    let now = w.now;
    w.eps[first].port.set_peer(now, FORK, p).unwrap();
    while k < 65 {
        tick(&mut w, k);
        k += 1;
    }
    let mut p = peer(second_role, second_addr, vec![fingerprint(second_fp)]);
    p.association = RENEW;
    let now = w.now;
    w.eps[second].port.set_peer(now, FORK, p).unwrap();
    // Keep streaming until both new associations are verified, then 1 s more (inside the 2 s grace).
    let mut both_at = None;
    let mut replay_checked = false;
    while both_at.is_none_or(|t| w.now < t + Duration::from_millis(1000)) {
        assert!(k < 5000, "the new associations never verified");
        tick(&mut w, k);
        k += 1;
        if both_at.is_none() {
            if let (Some(x), Some(y)) = (verified_at(&w, 0, 1), verified_at(&w, 1, 1)) {
                both_at = Some(x.max(y));
            }
        }
        if both_at.is_some_and(|t| w.now >= t + Duration::from_millis(50)) && !replay_checked {
            // Replay protection holds across the switch: an old-key packet B sent shortly before its switch,
            // delivered again during the grace period, is refused by the old context.
            replay_checked = true;
            let switch_b = verified_at(&w, 1, 1).unwrap();
            let old_pkt = w.eps[1]
                .sent
                .iter()
                .rev()
                .find(|(t, tx)| *t < switch_b && tx.bytes.first() == Some(&0x80))
                .map(|(_, tx)| tx.bytes.clone())
                .unwrap();
            let before = w.eps[0].rtp().len();
            let replays = |w: &World| {
                w.eps[0]
                    .port
                    .associations()
                    .iter()
                    .map(|x| x.counters.replays)
                    .sum::<u64>()
            };
            let r0 = replays(&w);
            let now = w.now;
            w.eps[0].port.handle_datagram(now, b, &old_pkt);
            w.flush();
            assert_eq!(
                w.eps[0].rtp().len(),
                before,
                "a replayed old-key packet was delivered"
            );
            assert_eq!(replays(&w), r0 + 1);
        }
    }
    let sent = k;
    // Drain the network (no more sending), still inside the grace period.
    w.run_for(Duration::from_millis(100));
    for (rx, tx) in [(0usize, 1usize), (1, 0)] {
        let got = w.eps[rx].rtp();
        let mut seen: HashMap<u32, usize> = HashMap::new();
        let mut seqs: HashMap<u16, usize> = HashMap::new();
        for r in &got {
            *seen.entry(payload_index(r)).or_default() += 1;
            *seqs.entry(r.sequence).or_default() += 1;
        }
        let missing: Vec<u32> = (0..sent).filter(|i| !seen.contains_key(i)).collect();
        assert!(missing.is_empty(), "ep{rx} lost {missing:?} from ep{tx}");
        assert!(seen.values().all(|n| *n == 1), "ep{rx} got a packet twice");
        assert!(
            seqs.values().all(|n| *n == 1),
            "a sequence number delivered twice"
        );
        assert_eq!(got.len() as u32, sent);
        // The switch happened, and old-key packets arrived after the first new-key packet (reordering around
        // the switch): only the grace period saved them.
        let first_new = got.iter().position(|r| r.assoc != old[rx]).unwrap();
        let late_old = got[first_new..]
            .iter()
            .filter(|r| r.assoc == old[rx])
            .count();
        if slow_dtls {
            assert!(w.eps[rx].port.counters().held > 0 || late_old > 0);
        } else {
            assert!(late_old > 0, "ep{rx}: no old-key packet after the switch");
        }
        assert!(got.last().is_some_and(|r| r.assoc != old[rx]));
        // Sending switched at once: nothing of ours was sent on the old keys after our new association was
        // verified (its SSRC mapping moved on the peer, and the old association is still open here).
        assert_eq!(
            w.eps[rx].port.associations().len(),
            2,
            "old one kept in grace"
        );
    }
    // The grace period ends: the old associations close (Superseded), and an old-key packet is then refused.
    let t = both_at.unwrap();
    w.run_until(t + Duration::from_millis(2100));
    for (i, old_i) in old.iter().enumerate() {
        assert_eq!(w.eps[i].port.associations().len(), 1);
        assert!(w.eps[i].has(|e| matches!(e,
            MediaEvent::AssociationClosed { assoc, reason: CloseReason::Superseded | CloseReason::PeerClosed, .. }
            if assoc == old_i)));
    }
    assert!(
        w.eps[0].has(|e| matches!(
            e,
            MediaEvent::AssociationClosed {
                reason: CloseReason::Superseded,
                ..
            }
        )) || w.eps[1].has(|e| matches!(
            e,
            MediaEvent::AssociationClosed {
                reason: CloseReason::Superseded,
                ..
            }
        ))
    );
    let old_pkt = w.eps[1]
        .sent
        .iter()
        .find(|(_, tx)| tx.bytes.first() == Some(&0x80))
        .map(|(_, tx)| tx.bytes.clone())
        .unwrap();
    let before = w.eps[0].rtp().len();
    let now = w.now;
    w.eps[0].port.handle_datagram(now, b, &old_pkt);
    w.flush();
    assert_eq!(w.eps[0].rtp().len(), before);
}

#[test]
fn f_6_8_rekey_caller_initiated_zero_loss_at_2ms_with_reordering() {
    rekey_without_loss(81, Rekey::CallerInitiated, false);
}

#[test]
fn f_6_8_rekey_callee_initiated_roles_swap_zero_loss_at_2ms_with_reordering() {
    rekey_without_loss(82, Rekey::CalleeInitiated, false);
}

#[test]
fn f_6_8_rekey_new_key_packets_overtaking_the_handshake_are_held_not_lost() {
    rekey_without_loss(86, Rekey::CallerInitiated, true);
    rekey_without_loss(87, Rekey::CalleeInitiated, true);
}

#[test]
fn f_6_8_held_packets_are_retried_once_and_bounded() {
    let mut w = established_pair(88);
    w.extra_delay = Some(|_, b| match b {
        [20..=63, ..] => Duration::from_millis(30),
        _ => Duration::ZERO,
    });
    for (i, role, to, fp) in [
        (0, DtlsRole::Server, B_ADDR, 1),
        (1, DtlsRole::Client, A_ADDR, 0),
    ] {
        let mut p = peer(role, addr(to), vec![fingerprint(fp)]);
        p.association = RENEW;
        let now = w.now;
        w.eps[i].port.set_peer(now, FORK, p).unwrap();
    }
    let mut k = 0;
    while verified_at(&w, 1, 1).is_none() {
        assert!(k < 2000);
        tick(&mut w, k);
        k += 1;
    }
    w.run_for(Duration::from_millis(100));
    let c = w.eps[1].port.counters();
    assert!(
        c.held > 0,
        "A's new-key packets overtook its Finished and were held"
    );
    assert_eq!(c.held_dropped, 0);
    // Everything A sent arrived exactly once.
    let got: Vec<u32> = w.eps[1].rtp().iter().map(|r| payload_index(r)).collect();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), got.len());
    assert_eq!(sorted, (0..k).collect::<Vec<_>>());
    // Garbage from the peer's address while a renewal handshakes is held at most MAX (64) and then counted.
    for (i, role, to, fp) in [
        (0, DtlsRole::Server, B_ADDR, 1),
        (1, DtlsRole::Client, A_ADDR, 0),
    ] {
        let mut p = peer(role, addr(to), vec![fingerprint(fp)]);
        p.association = RENEW;
        let now = w.now;
        w.eps[i].port.set_peer(now, FORK, p).unwrap();
    }
    let now = w.now;
    let mut junk = vec![0x80, 0, 0, 1, 0, 0, 0, 1, 0x12, 0x34, 0x56, 0x78];
    junk.extend_from_slice(&[0; 30]);
    for n in 0..100u8 {
        junk[3] = n;
        w.eps[1].port.handle_datagram(now, addr(A_ADDR), &junk);
    }
    let c = w.eps[1].port.counters();
    assert_eq!(c.held_dropped, 36);
    assert!(w.eps[1].rtp().len() == got.len());
}

#[test]
fn f_6_8_old_association_closes_at_the_configured_grace_deadline() {
    let mut w = established_pair_with(83, |_, c| {
        c.rekey_grace = Duration::from_millis(300);
    });
    let old = w.eps[0].port.associations()[0].id;
    for (i, role, to, fp) in [
        (0, DtlsRole::Server, B_ADDR, 1),
        (1, DtlsRole::Client, A_ADDR, 0),
    ] {
        let mut p = peer(role, addr(to), vec![fingerprint(fp)]);
        p.association = RENEW;
        let now = w.now;
        w.eps[i].port.set_peer(now, FORK, p).unwrap();
    }
    assert!(w.run_until_pred(Duration::from_secs(5), |w| verified_at(w, 0, 1).is_some()));
    let t = verified_at(&w, 0, 1).unwrap();
    // No media at all: the deadline alone (a timer in poll_timeout) closes the old association.
    assert!(w.eps[0].port.poll_timeout().unwrap() <= t + Duration::from_millis(300));
    w.run_until(t + Duration::from_millis(290));
    assert!(w.eps[0].port.associations().iter().any(|a| a.id == old));
    w.run_until(t + Duration::from_millis(310));
    assert!(!w.eps[0].port.associations().iter().any(|a| a.id == old));
    assert!(
        w.eps[0].has(|e| matches!(e, MediaEvent::AssociationClosed { assoc,
        reason: CloseReason::Superseded, .. } if *assoc == old))
    );
}

#[test]
fn d_4_4_rekey_due_before_the_key_limit() {
    // A short lifetime stands in for 2^48 / 2^31: the same margin logic (1/8 of it here) applies.
    let mut w = established_pair_with(84, |_, c| {
        c.srtp = dtlsrtp_srtp::Config::default().key_lifetimes(800, 800);
    });
    let due = |w: &World, i: usize| {
        w.eps[i].count(|e| {
            matches!(e, MediaEvent::RekeyDue { fork, reason: RekeyReason::KeyLimit, .. }
            if *fork == FORK)
        })
    };
    // B sends; nothing is due while far from the limit (700 = limit − margin).
    let payload = [0u8; 20];
    for n in 0..699u32 {
        let now = w.now;
        w.eps[1]
            .port
            .send_rtp(now, FORK, 0, false, n, &payload)
            .unwrap();
        if n % 50 == 0 {
            w.run_for(Duration::from_millis(1));
        }
    }
    w.run_for(Duration::from_millis(50));
    assert_eq!((due(&w, 0), due(&w, 1)), (0, 0));
    for n in 699..720u32 {
        let now = w.now;
        w.eps[1]
            .port
            .send_rtp(now, FORK, 0, false, n, &payload)
            .unwrap();
    }
    w.run_for(Duration::from_millis(50));
    // The sender's key (tx) and the receiver's (rx) are both near their lifetime: due once on each side.
    assert_eq!((due(&w, 0), due(&w, 1)), (1, 1));
    // The limit itself is never exceeded: protecting packet number = lifetime fails (D-4.4).
    let mut refused = false;
    for n in 720..820u32 {
        let now = w.now;
        refused |= w.eps[1]
            .port
            .send_rtp(now, FORK, 0, false, n, &payload)
            .is_err();
    }
    assert!(refused);
    assert_eq!(due(&w, 1), 1, "RekeyDue is emitted once per association");
}

#[test]
fn rekey_due_on_the_configured_interval() {
    let mut w = established_pair_with(85, |n, c| {
        c.rekey_interval = (n == 0).then_some(Duration::from_secs(60));
    });
    let t = verified_at(&w, 0, 0).unwrap();
    let due = |w: &World, i: usize| {
        w.eps[i].count(|e| {
            matches!(e, MediaEvent::RekeyDue { fork, reason: RekeyReason::Interval, .. }
            if *fork == FORK)
        })
    };
    assert!(w.eps[0].port.poll_timeout().is_some());
    w.run_until(t + Duration::from_secs(59));
    assert_eq!(due(&w, 0), 0);
    w.run_until(t + Duration::from_secs(61));
    assert_eq!(due(&w, 0), 1);
    // Not configured on B: never due there; and once only on A.
    w.run_until(t + Duration::from_secs(130));
    assert_eq!((due(&w, 0), due(&w, 1)), (1, 0));
}
