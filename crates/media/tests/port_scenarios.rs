//! Scenario tests of one media port on the seeded simulated network (issue 5): DTLS per remote, the fingerprint
//! gate, SSRC routing, loss, NAT, ICE, keep/renew, RTCP.
#![allow(clippy::disallowed_methods)] // tests: OpenSSL's timers run on the real clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use dtlsrtp_dtls::GateState;
use dtlsrtp_media::ice::{IceConfig, IceMode, IceRole};
use dtlsrtp_media::{CloseReason, ForkId, MediaEvent, MediaPort, RemoteIce};
use dtlsrtp_srtp::DtlsRole;
use dtlsrtp_testkit::netsim::LinkConfig;

const F: ForkId = ForkId(1);
const G: ForkId = ForkId(2);

fn is_hello_verify_request(b: &[u8]) -> bool {
    b.first() == Some(&22) && b.get(13) == Some(&3)
}

/// A (offerer, `actpass`, ends up DTLS server) and B (answerer, `active`, DTLS client). B knows A's offer
/// (fingerprint) at once; A learns B's answer `answer_delay` later.
fn pair(link: LinkConfig, seed: u64) -> World {
    let mut w = World::new(seed, link);
    w.add(port_config(0, addr("10.0.0.1:5000")));
    w.add(port_config(1, addr("10.0.0.2:6000")));
    w.eps[0].port.listen(true);
    w
}

fn answer_a(w: &mut World) {
    let now = w.now;
    w.eps[0]
        .port
        .set_peer(
            now,
            F,
            peer(
                DtlsRole::Server,
                addr("10.0.0.2:6000"),
                vec![fingerprint(1)],
            ),
        )
        .unwrap();
}

fn start_b(w: &mut World) {
    let now = w.now;
    w.eps[1]
        .port
        .set_peer(
            now,
            F,
            peer(
                DtlsRole::Client,
                addr("10.0.0.1:5000"),
                vec![fingerprint(0)],
            ),
        )
        .unwrap();
}

#[test]
fn scenario_1000_srtp_packets_each_way_with_rtcp_reports() {
    let mut w = pair(LinkConfig::default(), 1);
    answer_a(&mut w);
    start_b(&mut w);
    assert!(
        w.run_until_pred(Duration::from_secs(5), |w| w.eps[0].verified(F)
            && w.eps[1].verified(F))
    );
    // The DTLS server used the cookie exchange (no ICE proved the path).
    assert!(w.eps[0]
        .sent
        .iter()
        .any(|(_, t)| is_hello_verify_request(&t.bytes)));
    for i in 0..1000u32 {
        let now = w.now;
        let mut p = vec![0x11; 160];
        p[..4].copy_from_slice(&i.to_be_bytes());
        w.eps[0]
            .port
            .send_rtp(now, F, 0, false, i * 160, &p)
            .unwrap();
        w.eps[1]
            .port
            .send_rtp(now, F, 8, i == 0, i * 160, &p)
            .unwrap();
        w.run_for(Duration::from_millis(20));
    }
    w.run_for(Duration::from_secs(1));
    for (me, other, pt) in [(0, 1, 8u8), (1, 0, 0u8)] {
        let got = w.eps[me].rtp();
        assert_eq!(got.len(), 1000, "endpoint {me}");
        let idx: Vec<u32> = got.iter().map(|r| payload_index(r)).collect();
        assert_eq!(idx, (0..1000).collect::<Vec<_>>());
        assert!(got
            .iter()
            .all(|r| r.payload_type == pt && r.ssrc == w.eps[other].port.local_ssrc()));
        assert!(got
            .iter()
            .all(|r| r.payload.len() == 160 && r.fork == Some(F)));
        let a = &w.eps[me].port.associations()[0];
        assert_eq!(
            (a.counters.packets_in, a.counters.packets_out),
            (1000, 1000)
        );
        assert_eq!((a.counters.auth_failures, a.counters.replays), (0, 0));
        // RFC 3550: the peer's SR arrived and reports on our stream (no loss on this link).
        let sr = w.eps[me].events.iter().rev().find_map(|(_, e)| match e {
            MediaEvent::Rtcp { report, .. } if report.sender_info.is_some() => Some(report.clone()),
            _ => None,
        });
        let sr = sr.expect("an SR from the peer");
        assert_eq!(sr.sender_ssrc, w.eps[other].port.local_ssrc());
        assert_eq!(sr.sender_info.unwrap().packet_count, 1000);
        let block = sr
            .blocks
            .iter()
            .find(|b| b.ssrc == w.eps[me].port.local_ssrc())
            .unwrap();
        assert_eq!(block.cumulative_lost, 0);
        assert_ne!(block.lsr, 0, "our SR was seen by the peer (LSR)");
    }
}

#[test]
fn f_5_8_client_hello_200ms_before_fingerprint_no_media_before_none_lost_after() {
    let mut w = pair(LinkConfig::default(), 2);
    start_b(&mut w); // B's ClientHello leaves now; A has no answer yet
    let t_start = w.now;
    let mut sent = Vec::new();
    // B sends a packet every 20 ms as soon as it has keys (B verified A's fingerprint from the offer).
    let mut i = 0u32;
    let mut answered_at = None;
    while w.now < t_start + Duration::from_millis(1500) {
        if answered_at.is_none() && w.now >= t_start + Duration::from_millis(200) {
            // The handshake finished well before the answer: A holds the keys behind the gate.
            let a = &w.eps[0].port.associations()[0];
            assert_eq!(a.gate, GateState::AwaitingFingerprint);
            assert!(w.eps[0].rtp().is_empty());
            answer_a(&mut w);
            answered_at = Some(w.now);
        }
        let now = w.now;
        if w.eps[1]
            .port
            .send_rtp(now, F, 0, false, i * 160, &i.to_be_bytes().repeat(40))
            .is_ok()
        {
            sent.push((now, i));
            i += 1;
        }
        w.run_for(Duration::from_millis(20));
    }
    let answered_at = answered_at.unwrap();
    assert!(
        sent.iter().any(|(t, _)| *t < answered_at),
        "B sent media before the answer"
    );
    // No media delivered before the fingerprint was bound, and the early packets were dropped and counted.
    assert!(w.eps[0]
        .events
        .iter()
        .all(|(t, e)| !matches!(e, MediaEvent::Rtp(_)) || *t >= answered_at));
    assert!(w.eps[0].port.counters().srtp_before_keys > 0);
    // None lost after: every packet sent after the answer arrived.
    let got: Vec<u32> = w.eps[0].rtp().iter().map(|r| payload_index(r)).collect();
    let after: Vec<u32> = sent
        .iter()
        .filter(|(t, _)| *t >= answered_at)
        .map(|(_, i)| *i)
        .collect();
    assert!(after.len() > 50);
    for i in &after {
        assert!(got.contains(i), "packet {i} sent after the answer was lost");
    }
}

#[test]
fn f_5_15_wrong_fingerprint_tears_down_no_media_delivered() {
    let mut w = pair(LinkConfig::default(), 3);
    start_b(&mut w);
    w.run_for(Duration::from_millis(300));
    // The answer carries the fingerprint of another certificate.
    let now = w.now;
    w.eps[0]
        .port
        .set_peer(
            now,
            F,
            peer(
                DtlsRole::Server,
                addr("10.0.0.2:6000"),
                vec![fingerprint(2)],
            ),
        )
        .unwrap();
    send_stream(&mut w, 1, F, 20, 0);
    w.run_for(Duration::from_millis(200));
    let a = &w.eps[0];
    // The handshake came from F's signalled address and no more answers can come: it is F's mismatch.
    assert!(
        a.has(|e| matches!(e, MediaEvent::FingerprintMismatch { fork: Some(f), .. } if *f == F))
    );
    assert!(a.has(|e| matches!(
        e,
        MediaEvent::AssociationClosed {
            reason: CloseReason::FingerprintMismatch,
            ..
        }
    )));
    assert!(a.rtp().is_empty());
    assert!(a.port.associations().is_empty());
    let now = w.now;
    assert_eq!(
        w.eps[0].port.send_rtp(now, F, 0, false, 0, b"x"),
        Err(dtlsrtp_media::MediaError::NotSecured)
    );
    // B got the bad_certificate alert (P-6.2b, sent after the handshake): its association is gone too.
    assert!(w.eps[1].has(|e| matches!(
        e,
        MediaEvent::AssociationClosed {
            reason: CloseReason::Failed(dtlsrtp_dtls::DtlsError::AlertReceived(
                dtlsrtp_dtls::Alert::BAD_CERTIFICATE
            )),
            ..
        }
    )));
}

/// A offers to two forks (B and C, different certificates); both answer `active`.
fn forked(seed: u64) -> World {
    let mut w = World::new(seed, LinkConfig::default());
    w.add(port_config(0, addr("10.0.0.1:5000")));
    w.add(port_config(1, addr("10.0.0.2:6000")));
    w.add(port_config(2, addr("10.0.0.3:7000")));
    let now = w.now;
    w.eps[0].port.listen(true);
    w.eps[0].port.set_more_answers(now, true);
    for (i, f) in [(1, F), (2, G)] {
        w.eps[i]
            .port
            .set_peer(
                now,
                f,
                peer(
                    DtlsRole::Client,
                    addr("10.0.0.1:5000"),
                    vec![fingerprint(0)],
                ),
            )
            .unwrap();
    }
    w
}

#[test]
fn f_6_3_two_remotes_one_port_distinct_keys_routed_by_ssrc_close_removes_mapping() {
    let mut w = forked(4);
    w.run_for(Duration::from_millis(300));
    // Both handshakes done, no answer yet: both wait (T-8a), none torn down.
    let infos = w.eps[0].port.associations();
    assert_eq!(infos.len(), 2);
    assert!(infos
        .iter()
        .all(|a| a.gate == GateState::AwaitingFingerprint));
    // The answers arrive (C's first): each is bound to the association whose certificate matches.
    let now = w.now;
    w.eps[0]
        .port
        .set_peer(
            now,
            G,
            peer(
                DtlsRole::Server,
                addr("10.0.0.3:7000"),
                vec![fingerprint(2)],
            ),
        )
        .unwrap();
    w.eps[0]
        .port
        .set_peer(
            now,
            F,
            peer(
                DtlsRole::Server,
                addr("10.0.0.2:6000"),
                vec![fingerprint(1)],
            ),
        )
        .unwrap();
    w.run_for(Duration::from_millis(50));
    let infos = w.eps[0].port.associations();
    let ab = infos
        .iter()
        .find(|a| a.remote == addr("10.0.0.2:6000"))
        .unwrap();
    let ac = infos
        .iter()
        .find(|a| a.remote == addr("10.0.0.3:7000"))
        .unwrap();
    assert_eq!((ab.fork, ac.fork), (Some(F), Some(G)));
    assert!(ab.gate == GateState::Verified && ac.gate == GateState::Verified);
    // A-R-DISTINCT: distinct handshakes, distinct keys.
    let kb = w.eps[0].port.keying_material(ab.id).unwrap().clone();
    let kc = w.eps[0].port.keying_material(ac.id).unwrap().clone();
    assert_ne!(kb, kc);
    assert_ne!(
        kb.client_write().key.expose(),
        kc.client_write().key.expose()
    );
    // Early media from both forks, routed by SSRC to the right fork.
    for i in 0..10u32 {
        let now = w.now;
        w.eps[1]
            .port
            .send_rtp(now, F, 0, false, i, b"from-b")
            .unwrap();
        w.eps[2]
            .port
            .send_rtp(now, G, 0, false, i, b"from-c")
            .unwrap();
        w.run_for(Duration::from_millis(20));
    }
    let rtp = w.eps[0].rtp();
    assert_eq!(rtp.len(), 20);
    for r in &rtp {
        let (fork, ssrc) = if r.payload == b"from-b" {
            (F, w.eps[1].port.local_ssrc())
        } else {
            (G, w.eps[2].port.local_ssrc())
        };
        assert_eq!((r.fork, r.ssrc), (Some(fork), ssrc));
    }
    let (sb, sc) = (w.eps[1].port.local_ssrc(), w.eps[2].port.local_ssrc());
    assert_eq!(w.eps[0].port.ssrc_owner(sb), Some(ab.id));
    assert_eq!(w.eps[0].port.ssrc_owner(sc), Some(ac.id));
    // A captured packet of C's, replayed from B's address with a fresh sequence, is not B's: B's keys differ.
    // Fork G loses (CANCEL): its association and SSRC mapping go (D-5.1.2c); later packets from C are dropped.
    let now = w.now;
    w.eps[0].port.close_fork(now, G).unwrap();
    w.flush();
    assert_eq!(w.eps[0].port.ssrc_owner(sc), None);
    assert_eq!(w.eps[0].port.ssrc_owner(sb), Some(ab.id));
    assert!(w.eps[0].has(|e| matches!(e, MediaEvent::AssociationClosed { fork: Some(f), reason: CloseReason::Local, .. } if *f == G)));
    let dropped = w.eps[0].port.counters();
    for i in 10..15u32 {
        let now = w.now;
        let _ = w.eps[2].port.send_rtp(now, G, 0, false, i, b"from-c");
        w.eps[1]
            .port
            .send_rtp(now, F, 0, false, i, b"from-b")
            .unwrap();
        w.run_for(Duration::from_millis(20));
    }
    let after = w.eps[0].port.counters();
    assert_eq!(w.eps[0].rtp().len(), 25, "only B's five new packets");
    // C's association got A's close_notify; whatever C still sends is not delivered.
    assert!(w.eps[2].has(|e| matches!(e, MediaEvent::AssociationClosed { .. })));
    assert!(
        after.unknown_ssrc_dropped + after.srtp_before_keys
            >= dropped.unknown_ssrc_dropped + dropped.srtp_before_keys
    );
    assert_eq!(w.eps[0].port.associations().len(), 1);
}

#[test]
fn t_8a_unmatched_certificate_waits_until_no_more_answers_then_is_discarded_not_a_mismatch() {
    let mut w = forked(5);
    w.run_for(Duration::from_millis(300));
    // Only B's answer arrives: C's association stays pending while more answers may come.
    let now = w.now;
    w.eps[0]
        .port
        .set_peer(
            now,
            F,
            peer(
                DtlsRole::Server,
                addr("10.0.0.2:6000"),
                vec![fingerprint(1)],
            ),
        )
        .unwrap();
    w.run_for(Duration::from_millis(500));
    assert!(!w.eps[0].has(|e| matches!(e, MediaEvent::FingerprintMismatch { .. })));
    let infos = w.eps[0].port.associations();
    assert_eq!(infos.len(), 2);
    let pending = infos
        .iter()
        .find(|a| a.remote == addr("10.0.0.3:7000"))
        .unwrap();
    assert_eq!(pending.gate, GateState::AwaitingFingerprint);
    // The final response: no further answer can come. C's certificate matches nothing and no fork signalled
    // C's address: it is discarded and counted, never reported as a mismatch (issue 12 item 2).
    let now = w.now;
    w.eps[0].port.set_more_answers(now, false);
    w.flush();
    assert!(!w.eps[0].has(|e| matches!(e, MediaEvent::FingerprintMismatch { .. })));
    assert!(w.eps[0].has(|e| matches!(
        e,
        MediaEvent::AssociationClosed { assoc, fork: None, .. } if *assoc == pending.id
    )));
    assert_eq!(w.eps[0].port.counters().unmatched_discarded, 1);
    assert_eq!(w.eps[0].port.associations().len(), 1);
    assert!(w.eps[0].verified(F));
}

/// T-8a, F-5.15: while more answers may come, the final answer's fork (`set_final_answer`) still decides at
/// once for the handshake from its own signalled address: a certificate that does not match is its mismatch.
#[test]
fn t_8a_f_5_15_final_answer_mismatch_on_its_own_address_is_immediate() {
    let mut w = forked(6);
    w.run_for(Duration::from_millis(300));
    let now = w.now;
    // B's 2xx names C's fingerprint (rewritten): not B's certificate.
    w.eps[0]
        .port
        .set_peer(
            now,
            F,
            peer(
                DtlsRole::Server,
                addr("10.0.0.2:6000"),
                vec![fingerprint(2)],
            ),
        )
        .unwrap();
    w.flush();
    // Before the final answer: C's certificate matched F's (rewritten) fingerprint and was bound; B's waits.
    assert!(!w.eps[0].has(|e| matches!(e, MediaEvent::FingerprintMismatch { .. })));
    let now = w.now;
    w.eps[0].port.set_final_answer(now, F).unwrap();
    w.flush();
    assert!(w.eps[0].has(|e| matches!(
        e,
        MediaEvent::FingerprintMismatch { fork: Some(f), remote, .. }
            if *f == F && *remote == addr("10.0.0.2:6000")
    )));
}

/// T-8a bounds: waiting associations are bounded per source IP (oldest of that IP discarded) and in time
/// (`pending_timeout`); neither is reported as a mismatch.
#[test]
fn t_8a_pending_bounded_per_ip_and_in_time() {
    let mut w = World::new(7, LinkConfig::default());
    let mut cfg = port_config(0, addr("10.0.0.1:5000"));
    cfg.max_pending_per_ip = 2;
    cfg.pending_timeout = Duration::from_secs(3);
    w.add(cfg);
    for (i, a) in ["10.0.0.9:7001", "10.0.0.9:7002", "10.0.0.9:7003"]
        .iter()
        .enumerate()
    {
        w.add(port_config(i + 1, addr(a)));
    }
    let now = w.now;
    w.eps[0].port.listen(true);
    w.eps[0].port.set_more_answers(now, true);
    for i in 1..=3 {
        w.eps[i]
            .port
            .set_peer(
                now,
                F,
                peer(
                    DtlsRole::Client,
                    addr("10.0.0.1:5000"),
                    vec![fingerprint(0)],
                ),
            )
            .unwrap();
        w.run_for(Duration::from_millis(300));
    }
    // Three handshakes from one IP, two may wait: the oldest went.
    assert_eq!(w.eps[0].port.counters().unmatched_discarded, 1);
    assert_eq!(w.eps[0].port.associations().len(), 2);
    // Their time is up: discarded too, nothing reported as a mismatch.
    w.run_for(Duration::from_secs(4));
    assert_eq!(w.eps[0].port.counters().unmatched_discarded, 3);
    assert!(w.eps[0].port.associations().is_empty());
    assert!(!w.eps[0].has(|e| matches!(e, MediaEvent::FingerprintMismatch { .. })));
}

#[test]
fn loss_5_percent_handshake_completes_and_media_flows() {
    let mut lost_in_handshake = 0;
    for seed in 10..40 {
        let link = LinkConfig {
            loss: 0.05,
            jitter: Duration::from_millis(3),
            ..LinkConfig::default()
        };
        let mut w = pair(link, seed);
        answer_a(&mut w);
        start_b(&mut w);
        assert!(
            w.run_until_pred(Duration::from_secs(15), |w| w.eps[0].verified(F)
                && w.eps[1].verified(F)),
            "seed {seed}: handshake did not complete"
        );
        lost_in_handshake += w.net.stats().lost;
        eprintln!(
            "seed {seed}: lost {} sent {}",
            w.net.stats().lost,
            w.net.stats().sent
        );
        send_stream(&mut w, 1, F, 200, 0);
        w.run_for(Duration::from_millis(200));
        let n = w.eps[0].rtp().len();
        assert!(
            (170..=200).contains(&n),
            "seed {seed}: {n} of 200 delivered at 5% loss"
        );
    }
    // Over these seeds handshake datagrams were lost, so retransmission was exercised.
    assert!(
        lost_in_handshake >= 5,
        "too few handshake datagrams lost ({lost_in_handshake}): pick other seeds"
    );
    eprintln!("handshake datagrams lost over 30 seeds: {lost_in_handshake}");
}

#[test]
fn nat_rewritten_source_port_replies_go_to_observed_5_tuple() {
    let mut w = pair(LinkConfig::default(), 6);
    // B's packets leave through a NAT that rewrites its source port.
    let public = addr("192.0.2.9:40123");
    w.net.nat(addr("10.0.0.2:6000"), public);
    answer_a(&mut w); // A's SDP view of B: the private address 10.0.0.2:6000
    start_b(&mut w);
    assert!(
        w.run_until_pred(Duration::from_secs(5), |w| w.eps[0].verified(F)
            && w.eps[1].verified(F))
    );
    send_stream(&mut w, 1, F, 10, 0);
    for i in 0..10u32 {
        let now = w.now;
        w.eps[0]
            .port
            .send_rtp(now, F, 0, false, i, b"to-b")
            .unwrap();
        w.run_for(Duration::from_millis(20));
    }
    w.run_for(Duration::from_millis(100));
    assert!(w.eps[0]
        .has(|e| matches!(e, MediaEvent::FingerprintVerified { remote, .. } if *remote == public)));
    // Everything after the F-6.7.2a pinhole request went to the observed 5-tuple: DTLS, SRTP and SRTCP.
    let a_sent: Vec<_> = w.eps[0]
        .sent
        .iter()
        .filter(|(_, t)| t.bytes[0] >= 20)
        .collect();
    assert!(a_sent.len() > 12);
    assert!(a_sent.iter().all(|(_, t)| t.remote == public));
    assert_eq!(w.eps[0].rtp().len(), 10);
    assert_eq!(w.eps[1].rtp().len(), 10);
}

#[test]
fn f_6_7_2_no_ice_binding_request_sent_once_by_passive_side_and_answered() {
    let mut w = pair(LinkConfig::default(), 7);
    answer_a(&mut w); // passive, handshake not complete: one Binding request to B's signalled address
    w.flush();
    let stun: Vec<_> = w.eps[0]
        .sent
        .iter()
        .filter(|(_, t)| t.bytes[0] < 4)
        .collect();
    assert_eq!(stun.len(), 1);
    assert_eq!(stun[0].1.remote, addr("10.0.0.2:6000"));
    // B (no ICE) answers the unauthenticated request with XOR-MAPPED-ADDRESS (F-6.7.2b).
    w.run_for(Duration::from_millis(50));
    assert_eq!(w.eps[1].port.counters().stun_answered, 1);
    let resp = w.eps[1].sent.iter().find(|(_, t)| t.bytes[0] < 4).unwrap();
    let m = dtlsrtp_media::stun::Message::decode(&resp.1.bytes).unwrap();
    assert_eq!(m.xor_mapped_address, Some(addr("10.0.0.1:5000")));
    assert_eq!(
        w.eps[0].port.counters().stun_bad,
        0,
        "A consumed the response"
    );
    // A second SDP (re-INVITE) after the handshake: no further request.
    start_b(&mut w);
    assert!(w.run_until_pred(Duration::from_secs(5), |w| w.eps[0].verified(F)));
    answer_a(&mut w);
    w.flush();
    assert_eq!(
        w.eps[0].sent.iter().filter(|(_, t)| t.bytes[0] < 4).count(),
        1
    );
}

#[test]
fn fail_closed_no_rtp_before_keys_and_srtp_before_handshake_dropped() {
    let mut w = pair(LinkConfig::default(), 8);
    start_b(&mut w);
    let now = w.now;
    // B has no keys yet: refused, nothing sent.
    assert_eq!(
        w.eps[1].port.send_rtp(now, F, 0, false, 0, b"x"),
        Err(dtlsrtp_media::MediaError::NotSecured)
    );
    assert!(
        w.eps[1]
            .port
            .poll_transmit()
            .is_some_and(|t| t.bytes[0] == 22),
        "only the ClientHello"
    );
    assert!(w.eps[1].port.poll_transmit().is_none());
    assert_eq!(w.eps[1].port.counters().send_refused, 1);
    // An early SRTP-looking packet at A (GStreamer-style) before any handshake: dropped and counted.
    let mut early = vec![0x80, 0, 0, 1, 0, 0, 0, 1, 1, 2, 3, 4];
    early.extend_from_slice(&[0; 30]);
    let now = w.now;
    w.eps[0]
        .port
        .handle_datagram(now, addr("10.0.0.2:6000"), &early);
    assert_eq!(w.eps[0].port.counters().srtp_before_keys, 1);
    assert!(w.eps[0].port.poll_event().is_none());
}

#[test]
fn t_5_5c_renew_new_association_old_receives_until_grace_after_new_carries_traffic() {
    let mut w = pair(LinkConfig::default(), 9);
    answer_a(&mut w);
    start_b(&mut w);
    assert!(
        w.run_until_pred(Duration::from_secs(5), |w| w.eps[0].verified(F)
            && w.eps[1].verified(F))
    );
    send_stream(&mut w, 1, F, 5, 0);
    let old_a = w.eps[0].port.associations()[0].id;
    // Rekey is a request for a re-offer.
    w.eps[1].port.request_rekey(F).unwrap();
    w.flush();
    assert!(w.eps[1].has(|e| matches!(e, MediaEvent::RekeyNeeded { fork } if *fork == F)));
    // The re-offer/answer renews: A (server) waits for a new ClientHello on the same 3-tuple.
    let now = w.now;
    let mut pa = peer(
        DtlsRole::Server,
        addr("10.0.0.2:6000"),
        vec![fingerprint(1)],
    );
    pa.association = dtlsrtp_sdp::Association::New {
        reason: dtlsrtp_sdp::NewReason::TlsIdChanged,
    };
    w.eps[0].port.set_peer(now, F, pa).unwrap();
    // B keeps sending on the old keys until its new association is keyed.
    let mut pb = peer(
        DtlsRole::Client,
        addr("10.0.0.1:5000"),
        vec![fingerprint(0)],
    );
    pb.association = dtlsrtp_sdp::Association::New {
        reason: dtlsrtp_sdp::NewReason::TlsIdChanged,
    };
    w.eps[1].port.set_peer(now, F, pb).unwrap();
    assert_eq!(w.eps[1].port.associations().len(), 2);
    w.eps[1]
        .port
        .send_rtp(now, F, 0, false, 999, &999u32.to_be_bytes())
        .unwrap();
    let both = |w: &World| {
        (0..2).all(|i| w.eps[i].count(|e| matches!(e, MediaEvent::FingerprintVerified { .. })) == 2)
    };
    assert!(w.run_until_pred(Duration::from_secs(5), both));
    // Both exist on A; the old one still receives.
    assert_eq!(w.eps[0].port.associations().len(), 2);
    assert!(w.eps[0]
        .rtp()
        .iter()
        .any(|r| r.assoc == old_a && payload_index(r) == 999));
    // B now sends on the new association; A keeps the old one decrypting for the grace period (F-6.8,
    // default 2 s from the first new-key packet) and then closes it.
    send_stream(&mut w, 1, F, 5, 100);
    assert_eq!(w.eps[0].port.associations().len(), 2);
    w.run_for(std::time::Duration::from_millis(2000));
    let infos = w.eps[0].port.associations();
    assert_eq!(infos.len(), 1);
    assert_ne!(infos[0].id, old_a);
    assert!(w.eps[0].has(|e| matches!(e, MediaEvent::AssociationClosed { assoc, reason: CloseReason::Superseded, .. } if *assoc == old_a)));
    let last: Vec<_> = w.eps[0]
        .rtp()
        .iter()
        .filter(|r| (100..200).contains(&payload_index(r)))
        .map(|r| r.assoc)
        .collect();
    assert_eq!(last.len(), 5);
    assert!(last.iter().all(|a| *a == infos[0].id));
}

fn ice_pair(mode_b: IceMode, seed: u64) -> World {
    let mut w = pair(LinkConfig::default(), seed);
    let now = w.now;
    let (ca, cand_a) =
        w.eps[0]
            .port
            .enable_ice(now, IceConfig::default(), None, IceRole::Controlled);
    let cfg_b = IceConfig {
        mode: mode_b,
        ..IceConfig::default()
    };
    // B: full controlling (or lite: then A is the controlling one).
    let (role_a, role_b) = if mode_b == IceMode::Lite {
        (IceRole::Controlling, IceRole::Controlled)
    } else {
        (IceRole::Controlled, IceRole::Controlling)
    };
    let _ = role_a;
    let (cb, cand_b) = w.eps[1].port.enable_ice(now, cfg_b, None, role_b);
    if mode_b == IceMode::Lite {
        // Rebuild A as the controlling full agent.
        w.eps[0].port = MediaPort::new(now, port_config(0, addr("10.0.0.1:5000"))).unwrap();
        let (ca2, cand_a2) =
            w.eps[0]
                .port
                .enable_ice(now, IceConfig::default(), None, IceRole::Controlling);
        return finish_ice(w, (ca2, cand_a2), (cb, cand_b));
    }
    finish_ice(w, (ca, cand_a), (cb, cand_b))
}

fn finish_ice(
    mut w: World,
    a: (
        dtlsrtp_media::ice::IceCredentials,
        dtlsrtp_media::ice::Candidate,
    ),
    b: (
        dtlsrtp_media::ice::IceCredentials,
        dtlsrtp_media::ice::Candidate,
    ),
) -> World {
    let now = w.now;
    let mut pa = peer(
        DtlsRole::Server,
        addr("10.0.0.2:6000"),
        vec![fingerprint(1)],
    );
    pa.ice = Some(RemoteIce {
        credentials: b.0,
        candidates: vec![b.1],
    });
    let mut pb = peer(
        DtlsRole::Client,
        addr("10.0.0.1:5000"),
        vec![fingerprint(0)],
    );
    pb.ice = Some(RemoteIce {
        credentials: a.0,
        candidates: vec![a.1],
    });
    w.eps[0].port.set_peer(now, F, pa).unwrap();
    w.eps[1].port.set_peer(now, F, pb).unwrap();
    w
}

#[test]
fn ice_full_and_lite_pairs_over_the_port_dtls_after_ice_without_cookie() {
    for mode in [IceMode::Full, IceMode::Lite] {
        let mut w = ice_pair(mode, 20);
        assert!(
            w.run_until_pred(Duration::from_secs(10), |w| w.eps[0].verified(F)
                && w.eps[1].verified(F)),
            "{mode:?}"
        );
        assert!(
            w.eps[0].has(|e| matches!(e, MediaEvent::IceSelected { .. })) || mode == IceMode::Full
        );
        assert!(
            w.eps[1].has(|e| matches!(e, MediaEvent::IceSelected { .. })) || mode == IceMode::Lite
        );
        // ICE proved the path: the DTLS server skipped the cookie exchange.
        assert!(
            !w.eps[0]
                .sent
                .iter()
                .any(|(_, t)| is_hello_verify_request(&t.bytes)),
            "{mode:?}"
        );
        // STUN (not a bare Binding answer) preceded the first ClientHello.
        let first_dtls = w.eps[1]
            .sent
            .iter()
            .position(|(_, t)| t.bytes[0] == 22)
            .unwrap();
        assert!(w.eps[1].sent[..first_dtls]
            .iter()
            .any(|(_, t)| t.bytes[0] < 4));
        send_stream(&mut w, 1, F, 20, 0);
        for i in 0..20u32 {
            let now = w.now;
            w.eps[0].port.send_rtp(now, F, 0, false, i, b"a").unwrap();
            w.run_for(Duration::from_millis(20));
        }
        assert_eq!(w.eps[0].rtp().len(), 20, "{mode:?}");
        assert_eq!(w.eps[1].rtp().len(), 20, "{mode:?}");
    }
}

#[test]
fn ice_dtls_from_an_unchecked_address_is_refused() {
    let mut w = ice_pair(IceMode::Full, 21);
    let now = w.now;
    // A ClientHello from an address ICE never checked.
    let mut hello = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40, 1];
    hello.extend_from_slice(&[0; 40]);
    w.eps[0]
        .port
        .handle_datagram(now, addr("10.9.9.9:1"), &hello);
    assert_eq!(w.eps[0].port.counters().dtls_refused, 1);
    assert!(w.eps[0].port.associations().is_empty());
}

#[test]
fn t_3_3_ice_restart_keeps_the_dtls_association_and_media_flows() {
    let mut w = ice_pair(IceMode::Full, 22);
    assert!(
        w.run_until_pred(Duration::from_secs(10), |w| w.eps[0].verified(F)
            && w.eps[1].verified(F))
    );
    let before: Vec<_> = (0..2).map(|i| w.eps[i].port.associations()[0].id).collect();
    // Both sides restart ICE with new credentials; the re-offer/answer keeps the association (same tls-id).
    let now = w.now;
    let new_a = dtlsrtp_media::ice::IceCredentials::new("rsta", "restartrestartrestart01").unwrap();
    let new_b = dtlsrtp_media::ice::IceCredentials::new("rstb", "restartrestartrestart02").unwrap();
    w.eps[0].port.ice_restart(new_a.clone()).unwrap();
    w.eps[1].port.ice_restart(new_b.clone()).unwrap();
    let cand = |w: &World, i: usize| w.eps[i].port.ice().unwrap().local_candidates()[0].clone();
    let (cand_a, cand_b) = (cand(&w, 0), cand(&w, 1));
    let mut pa = peer(
        DtlsRole::Server,
        addr("10.0.0.2:6000"),
        vec![fingerprint(1)],
    );
    pa.ice = Some(RemoteIce {
        credentials: new_b,
        candidates: vec![cand_b],
    });
    let mut pb = peer(
        DtlsRole::Client,
        addr("10.0.0.1:5000"),
        vec![fingerprint(0)],
    );
    pb.ice = Some(RemoteIce {
        credentials: new_a,
        candidates: vec![cand_a],
    });
    w.eps[0].port.set_peer(now, F, pa).unwrap();
    w.eps[1].port.set_peer(now, F, pb).unwrap();
    let stun_before = w.eps[1].sent.iter().filter(|(_, t)| t.bytes[0] < 4).count();
    send_stream(&mut w, 1, F, 50, 0);
    // New checks ran with the new credentials, and nothing above ICE changed.
    assert!(w.eps[1].sent.iter().filter(|(_, t)| t.bytes[0] < 4).count() > stun_before);
    for (i, id) in before.iter().enumerate() {
        let infos = w.eps[i].port.associations();
        assert_eq!(infos.len(), 1);
        assert_eq!(infos[0].id, *id, "endpoint {i} kept its association");
        assert_eq!(
            w.eps[i].count(|e| matches!(e, MediaEvent::DtlsConnected { .. })),
            1
        );
    }
    assert_eq!(w.eps[0].rtp().len(), 50);
}

#[test]
fn d_5_1_2e_failing_unmapped_ssrc_is_refused_for_a_while_then_tried_again() {
    let mut w = pair(LinkConfig::default(), 23);
    answer_a(&mut w);
    start_b(&mut w);
    assert!(w.run_until_pred(Duration::from_secs(5), |w| w.eps[0].verified(F)));
    let forged = |seq: u16| {
        let mut d = vec![0x80, 0, 0, 0, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
        d[2..4].copy_from_slice(&seq.to_be_bytes());
        d.extend_from_slice(&[0x55; 100]);
        d
    };
    for s in 0..40u16 {
        let now = w.now;
        w.eps[0]
            .port
            .handle_datagram(now, addr("10.0.0.2:6000"), &forged(s));
    }
    let c = w.eps[0].port.counters();
    assert_eq!((c.unknown_ssrc_dropped, c.ssrc_refused), (16, 24));
    // After the block time (20 s) the entry expires and the SSRC is tried again.
    w.run_for(Duration::from_secs(21));
    let now = w.now;
    w.eps[0]
        .port
        .handle_datagram(now, addr("10.0.0.2:6000"), &forged(99));
    assert_eq!(w.eps[0].port.counters().unknown_ssrc_dropped, 17);
    // Real media was never affected.
    send_stream(&mut w, 1, F, 5, 0);
    assert_eq!(w.eps[0].rtp().len(), 5);
}

#[test]
fn rfc7675_consent_expiry_stops_media_on_the_port() {
    let mut w = ice_pair(IceMode::Full, 24);
    assert!(
        w.run_until_pred(Duration::from_secs(10), |w| w.eps[0].verified(F)
            && w.eps[1].verified(F))
    );
    send_stream(&mut w, 1, F, 5, 0);
    assert_eq!(w.eps[0].rtp().len(), 5);
    // The path dies: no consent response for 30 s.
    w.net.set_link(LinkConfig {
        loss: 1.0,
        ..LinkConfig::default()
    });
    assert!(w.run_until_pred(Duration::from_secs(40), |w| w.eps[1]
        .has(|e| matches!(e, MediaEvent::IceConsentExpired { .. }))));
    let now = w.now;
    assert_eq!(
        w.eps[1].port.send_rtp(now, F, 0, false, 0, b"x"),
        Err(dtlsrtp_media::MediaError::NoPath)
    );
}
