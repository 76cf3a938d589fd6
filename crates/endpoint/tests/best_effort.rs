//! Best effort (A.23 R-ALLOW-RTP; RFC 5763 §6.11, RFC 5939): a UA that only does plain RTP is simulated by
//! stripping the DTLS capability (`a=tcap`, `a=pcfg`, fingerprint, setup, tls-id) from the caller's
//! best-effort offer in flight, so the callee sees a plain `RTP/AVP` offer. Under best effort the call carries
//! plain RTP both ways and both sides say it is NOT encrypted; under secure-only it is refused (488 for the
//! offer, the call ended with [`EndReason::NotSecure`] for a plain answer). Both call directions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::pki::fix_content_length;
use common::{has, incoming, Net};
use dtlsrtp::{CallId, CallOptions, EndReason, Event, SrtpPolicy, Transmit};

/// The message without the DTLS-SRTP capability lines (what a plain-RTP-only UA would understand).
fn strip_dtls(msg: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(msg).into_owned();
    let kept: Vec<&str> = s
        .split("\r\n")
        .filter(|l| {
            ![
                "a=tcap:",
                "a=pcfg:",
                "a=fingerprint:",
                "a=setup:",
                "a=tls-id:",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .collect();
    fix_content_length(&kept.join("\r\n")).into_bytes()
}

/// Strips the DTLS-SRTP capability from INVITE bodies sent from `from`.
fn strip_dtls_from(from: std::net::SocketAddr) -> impl FnMut(&mut Transmit) {
    move |t: &mut Transmit| {
        if t.local == from && t.bytes.starts_with(b"INVITE ") {
            t.bytes = strip_dtls(&t.bytes);
        }
    }
}

fn plain_payloads(events: &[Event], call: CallId) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Rtp {
                call: c,
                payload,
                verified: false,
                ..
            } if *c == call => Some(payload.clone()),
            _ => None,
        })
        .collect()
}

fn not_encrypted(events: &[Event], call: CallId) -> bool {
    has(
        events,
        |e| matches!(e, Event::MediaSecurity { call: c, encrypted: false, profile: None, role: None } if *c == call),
    )
}

/// (caller, callee) with the given policies; the caller's offer reaches the callee without DTLS.
fn plain_call(
    caller_policy: SrtpPolicy,
    callee_policy: SrtpPolicy,
    reverse: bool,
) -> (Net, usize, usize, CallId, Option<CallId>) {
    let mut net = Net::new();
    let mut ca = Net::config("alice", 5060, 1);
    let mut cb = Net::config("bob", 5070, 2);
    if reverse {
        std::mem::swap(&mut ca, &mut cb);
    }
    ca.srtp_policy = caller_policy;
    ca.best_effort = true; // a best-effort offer even under secure-only (finer knob)
    cb.srtp_policy = callee_policy;
    let a = net.add(ca);
    let b = net.add(cb);
    net.mangle = Some(Box::new(strip_dtls_from(net.nodes[a].sip)));
    let now = net.now;
    let target = format!("sip:x@{}", net.nodes[b].sip);
    let call_a = net
        .ep(a)
        .dial(now, &target, CallOptions::default())
        .unwrap();
    net.run();
    let eb = net.take(b);
    let call_b = eb.iter().find_map(|e| match e {
        Event::IncomingCall { call, .. } => Some(*call),
        _ => None,
    });
    if let Some(cb) = call_b {
        let now = net.now;
        net.ep(b).answer(now, cb).unwrap();
        net.run();
    }
    (net, a, b, call_a, call_b)
}

/// A.23 R-ALLOW-RTP: our best-effort offer answered with plain RTP gives a plain-RTP call with audio both ways;
/// both sides report it NOT encrypted (event and stats); both call directions.
#[test]
fn a_23_best_effort_plain_rtp_call_audio_both_ways_not_encrypted() {
    for reverse in [false, true] {
        let (mut net, a, b, ca, cb) =
            plain_call(SrtpPolicy::BestEffort, SrtpPolicy::BestEffort, reverse);
        let cb = cb.expect("best effort accepts a plain offer");
        let ea = net.take(a);
        assert!(
            has(
                &ea,
                |e| matches!(e, Event::Established { call, .. } if *call == ca)
            ),
            "{ea:?}"
        );
        assert!(not_encrypted(&ea, ca), "{ea:?}");
        let ok = net
            .log
            .iter()
            .find(|(f, _, m)| *f == net.nodes[b].sip && m.starts_with(b"SIP/2.0 200"))
            .map(|(_, _, m)| String::from_utf8_lossy(m).into_owned())
            .unwrap();
        assert!(
            ok.contains("RTP/AVP") && !ok.contains("a=fingerprint"),
            "{ok}"
        );
        let now = net.now;
        for k in 0..3u32 {
            net.ep(a).send_audio(now, ca, 0, k * 160, b"to-b").unwrap();
            net.ep(b).send_audio(now, cb, 0, k * 160, b"to-a").unwrap();
        }
        net.run();
        let ea = net.take(a);
        let eb = net.take(b);
        assert_eq!(plain_payloads(&ea, ca), vec![b"to-a".to_vec(); 3]);
        assert_eq!(plain_payloads(&eb, cb), vec![b"to-b".to_vec(); 3]);
        for (i, c) in [(a, ca), (b, cb)] {
            let st = net.ep(i).stats(c).unwrap();
            assert!(!st.encrypted && st.profile.is_none() && st.role.is_none());
            let p = st.plain.unwrap();
            assert_eq!((p.rtp_sent, p.rtp_received), (3, 3));
        }
        // plain-RTP packets really are plain: the payload is on the wire
        assert!(net.log.iter().any(|(_, _, m)| m.ends_with(b"to-b")));
        let now = net.now;
        net.ep(a).hangup(now, ca).unwrap();
        net.run();
        assert!(has(&net.take(b), |e| matches!(
            e,
            Event::Terminated {
                reason: EndReason::RemoteBye,
                ..
            }
        )));
    }
}

/// B-3 under secure-only: the plain offer is refused with 488 (no call at the callee); both directions.
#[test]
fn a_23_secure_only_callee_refuses_plain_offer_488() {
    for reverse in [false, true] {
        let (mut net, a, _b, ca, cb) =
            plain_call(SrtpPolicy::BestEffort, SrtpPolicy::SecureOnly, reverse);
        assert!(
            cb.is_none(),
            "no IncomingCall for a plain offer under secure-only"
        );
        let ea = net.take(a);
        assert!(
            has(
                &ea,
                |e| matches!(e, Event::Terminated { call, reason: EndReason::Rejected(488) } if *call == ca)
            ),
            "{ea:?}"
        );
    }
}

/// B-3 under secure-only: a plain answer to our (capneg) offer ends the call with a clear reason, NotSecure, and
/// no media ever flows in the clear.
#[test]
fn a_23_secure_only_caller_ends_call_on_plain_answer() {
    for reverse in [false, true] {
        let (mut net, a, b, ca, cb) =
            plain_call(SrtpPolicy::SecureOnly, SrtpPolicy::BestEffort, reverse);
        assert!(cb.is_some());
        let ea = net.take(a);
        assert!(
            has(
                &ea,
                |e| matches!(e, Event::Terminated { call, reason: EndReason::NotSecure } if *call == ca)
            ),
            "{ea:?}"
        );
        assert!(!has(&ea, |e| matches!(e, Event::Established { .. })));
        assert!(has(&net.take(b), |e| matches!(e, Event::Terminated { .. })));
    }
}

/// A DTLS-SRTP call says it is encrypted, with the SRTP profile and our DTLS role (event and stats).
#[test]
fn dtls_call_reports_encrypted_profile_and_role() {
    let mut net = Net::new();
    let mut cfg = Net::config("alice", 5060, 1);
    cfg.srtp_policy = SrtpPolicy::BestEffort;
    let a = net.add(cfg);
    let b = net.add(Net::config("bob", 5070, 2));
    let now = net.now;
    let ca = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    let ea = net.take(a);
    let eb = net.take(b);
    for (ev, c, role) in [
        (&ea, ca, dtlsrtp_srtp::DtlsRole::Server),
        (&eb, cb, dtlsrtp_srtp::DtlsRole::Client),
    ] {
        assert!(
            has(
                ev,
                |e| matches!(e, Event::MediaSecurity { call, encrypted: true, profile: Some(_), role: Some(r) } if *call == c && *r == role)
            ),
            "{ev:?}"
        );
    }
    let st = net.ep(a).stats(ca).unwrap();
    assert!(st.encrypted && st.profile.is_some());
    assert_eq!(st.role, Some(dtlsrtp_srtp::DtlsRole::Server));
}

/// Hold on a plain-RTP call (the plain-only peer still sees plain re-offers): the held side's peer sends
/// nothing (recvonly), counted.
#[test]
fn f_6_6_hold_on_plain_call_blocks_peer_sends() {
    let (mut net, a, b, ca, cb) = plain_call(SrtpPolicy::BestEffort, SrtpPolicy::BestEffort, false);
    let cb = cb.unwrap();
    let now = net.now;
    net.ep(a).hold(now, ca, true).unwrap();
    net.run();
    net.take(a);
    net.take(b);
    let now = net.now;
    net.ep(a).send_audio(now, ca, 0, 0, b"music").unwrap();
    net.ep(b).send_audio(now, cb, 0, 0, b"talk").unwrap();
    net.run();
    assert_eq!(plain_payloads(&net.take(b), cb), vec![b"music".to_vec()]);
    assert!(plain_payloads(&net.take(a), ca).is_empty());
    assert_eq!(net.ep(b).stats(cb).unwrap().send_blocked, 1);
}

/// Delayed offer (F-6.4) under best effort: the callee's offer in the 200 reaches a plain-only caller without
/// DTLS; the caller answers plain RTP in the ACK; both sides run a plain call, report it NOT encrypted, and
/// audio flows both ways.
#[test]
fn a_23_best_effort_delayed_offer_plain_answer_in_ack() {
    let mut net = Net::new();
    let mut ca = Net::config("alice", 5060, 1);
    let mut cb = Net::config("bob", 5070, 2);
    ca.srtp_policy = SrtpPolicy::BestEffort;
    cb.srtp_policy = SrtpPolicy::BestEffort;
    let a = net.add(ca);
    let b = net.add(cb);
    let bob_sip = net.nodes[b].sip;
    // strip the DTLS capability from bob's 200 (his offer)
    net.mangle = Some(Box::new(move |t: &mut Transmit| {
        if t.local == bob_sip && t.bytes.starts_with(b"SIP/2.0 200") {
            t.bytes = strip_dtls(&t.bytes);
        }
    }));
    let now = net.now;
    let call_a = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::delayed_offer())
        .unwrap();
    net.run();
    let call_b = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, call_b).unwrap();
    net.run();
    let ea = net.take(a);
    let eb = net.take(b);
    assert!(not_encrypted(&ea, call_a), "{ea:?}");
    assert!(not_encrypted(&eb, call_b), "{eb:?}");
    let now = net.now;
    net.ep(a).send_audio(now, call_a, 0, 0, b"ack-a").unwrap();
    net.ep(b).send_audio(now, call_b, 0, 0, b"ack-b").unwrap();
    net.run();
    assert_eq!(
        plain_payloads(&net.take(b), call_b),
        vec![b"ack-a".to_vec()]
    );
    assert_eq!(
        plain_payloads(&net.take(a), call_a),
        vec![b"ack-b".to_vec()]
    );
}
