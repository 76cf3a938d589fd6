//! Issue 12 trust holes, in memory: forked early dialogs whose 183s arrive in any order (T-8a, F-6.3, through
//! the mangling proxy of tests/common/proxy.rs), a stranger's DTLS handshake mid-call or before the answer
//! (P-6.2c, F-5.15; tests/common/stranger.rs), and a DTLS handshake that fails or never verifies on the
//! answered dialog (item 4: the endpoint ends the call itself, `EndReason::DtlsFailed`).
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::proxy::{Proxy, Verdict};
use common::stranger::Stranger;
use common::*;
use dtlsrtp::{CallOptions, EndReason, Event, ForkId};
use dtlsrtp_dtls::GateState;

fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

/// Fork A (bob1, SIP 5070) or B (bob2, 5080): its 183, relayed by the proxy to the caller.
fn is_183_of(text: &str, sip_port: u16) -> bool {
    text.starts_with("SIP/2.0 183") && text.contains(&format!("@127.0.0.1:{sip_port}"))
}

/// Caller alice, forks bob1 (A) and bob2 (B) behind the forking proxy at 5090, call dialled.
fn forked_net() -> (Net, usize, usize, usize, dtlsrtp::CallId) {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b1 = net.add(Net::config("bob1", 5070, 2));
    let b2 = net.add(Net::config("bob2", 5080, 3));
    net.proxy = Some(Proxy::new(addr(5090), vec![addr(5070), addr(5080)]));
    let now = net.now;
    let ca = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5090", CallOptions::default())
        .unwrap();
    net.run();
    (net, a, b1, b2, ca)
}

/// T-8a, F-6.3: A's ClientHello reaches the caller before either 183 (A's 183 is held by the proxy); then
/// the 183s reach the caller in the order asked for. A's handshake waits, keys gated, until A's 183 names its
/// certificate; B's 183 (another fingerprint, another address) never makes it a mismatch. A answers: the call
/// is established with A verified, B is cancelled, and no FingerprintMismatch ever ends anything.
fn forked_183s_in_order(b_first: bool) {
    let (mut net, a, b1, b2, ca) = forked_net();
    let c1 = incoming(&net.take(b1));
    let c2 = incoming(&net.take(b2));
    let proxy = net.proxy.as_mut().unwrap();
    proxy.hook = Some(Box::new(move |_to, text: &str| {
        if is_183_of(text, 5070) {
            if b_first {
                // Reorder: A's 183 goes only after B's 183 has been relayed.
                Verdict::HoldUntil(Box::new(|t: &str| is_183_of(t, 5080)))
            } else {
                Verdict::Hold
            }
        } else {
            Verdict::Forward(text.to_owned())
        }
    }));
    let now = net.now;
    net.ep(b1).early_media(now, c1).unwrap();
    net.run();
    // A's handshake is done at the caller, its 183 not there: the association waits for a fingerprint.
    let ea = net.take(a);
    assert!(
        !has(&ea, |e| matches!(e, Event::EarlyMedia { .. })),
        "{ea:?}"
    );
    let st = net.ep(a).stats(ca).unwrap();
    assert_eq!(st.associations.len(), 1, "{st:?}");
    assert_eq!(st.associations[0].gate, GateState::AwaitingFingerprint);
    assert!(net.proxy.as_ref().unwrap().held_count() >= 1);
    if !b_first {
        net.proxy.as_mut().unwrap().release_held();
        net.run();
    }
    let now = net.now;
    net.ep(b2).early_media(now, c2).unwrap();
    net.run();
    let ea = net.take(a);
    let early: Vec<ForkId> = ea
        .iter()
        .filter_map(|e| match e {
            Event::EarlyMedia { fork, .. } => Some(*fork),
            _ => None,
        })
        .collect();
    assert_eq!(early.len(), 2, "{ea:?}");
    // The proxy really relayed them in the order asked for.
    let sent = &net.proxy.as_ref().unwrap().sent;
    let first = |port| {
        sent.iter()
            .position(|(to, t)| *to == addr(5060) && is_183_of(t, port))
            .unwrap()
    };
    assert_eq!(first(5080) < first(5070), b_first);
    assert_eq!(
        count(&ea, |e| matches!(e, Event::FingerprintMismatch { .. })),
        0,
        "T-8a: no mismatch while answers may come: {ea:?}"
    );
    assert_eq!(
        count(&ea, |e| matches!(e, Event::FingerprintVerified { .. })),
        2,
        "{ea:?}"
    );
    // Which fork is A: the one whose early media comes from bob1.
    let now = net.now;
    net.ep(b1).send_audio(now, c1, 0, 0, b"early-a").unwrap();
    net.run();
    let got = rtp_payloads(&net.take(a));
    assert_eq!(got.len(), 1, "{got:?}");
    let fa = got[0].0.unwrap();
    // A answers; the proxy cancels B.
    let now = net.now;
    net.ep(b1).answer(now, c1).unwrap();
    net.run_for(Duration::from_secs(1));
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Established { fork, .. } if *fork == fa)
        ),
        "{ea:?}"
    );
    let e2 = net.take(b2);
    assert!(
        has(&e2, |e| matches!(
            e,
            Event::Terminated {
                reason: EndReason::Cancelled,
                ..
            }
        )),
        "{e2:?}"
    );
    // Past the INVITE transaction (no more answers): the call stays up, media both ways, A's only.
    net.run_for(Duration::from_secs(40));
    let now = net.now;
    for i in 0..3u32 {
        net.ep(a).send_audio(now, ca, 0, i * 160, b"a->b1").unwrap();
        net.ep(b1)
            .send_audio(now, c1, 0, i * 160, b"b1->a")
            .unwrap();
    }
    net.run();
    let ea = net.take(a);
    assert!(
        !has(&ea, |e| matches!(
            e,
            Event::Terminated { .. } | Event::FingerprintMismatch { .. }
        )),
        "{ea:?}"
    );
    let ra = rtp_payloads(&ea);
    assert_eq!(ra.len(), 3, "{ea:?}");
    assert!(ra.iter().all(|(f, _)| *f == Some(fa)));
    assert_eq!(rtp_payloads(&net.take(b1)).len(), 3);
    assert_eq!(net.ep(a).call_count(), 1);
}

#[test]
fn t_8a_f_6_3_fork_b_183_before_a_183_with_a_client_hello_first_keeps_call() {
    forked_183s_in_order(true);
}

#[test]
fn t_8a_f_6_3_fork_a_183_before_b_183_with_a_client_hello_first_keeps_call() {
    forked_183s_in_order(false);
}

/// F-5.15 with forking (T-8a): the answering fork's 2xx carries a fingerprint its handshake does not match
/// (rewritten by the mangling proxy): a mismatch at once, BYE, even though the INVITE transaction still runs.
#[test]
fn f_5_15_t_8a_rewritten_fingerprint_in_forked_200_ends_call_at_once() {
    let (mut net, a, b1, b2, ca) = forked_net();
    let c1 = incoming(&net.take(b1));
    let _c2 = incoming(&net.take(b2));
    net.proxy.as_mut().unwrap().hook = Some(Box::new(|_to, text: &str| {
        if text.starts_with("SIP/2.0 200") && text.contains("a=fingerprint:sha-256 ") {
            let at = text.find("a=fingerprint:sha-256 ").unwrap() + 22;
            let c = if &text[at..=at] == "0" { "1" } else { "0" };
            Verdict::Forward(format!("{}{}{}", &text[..at], c, &text[at + 1..]))
        } else {
            Verdict::Forward(text.to_owned())
        }
    }));
    let now = net.now;
    net.ep(b1).answer(now, c1).unwrap();
    net.run_for(Duration::from_secs(2));
    let ea = net.take(a);
    assert!(
        has(&ea, |e| matches!(
            e,
            Event::FingerprintMismatch { fork: Some(_), .. }
        )),
        "{ea:?}"
    );
    assert!(!has(&ea, |e| matches!(e, Event::Established { .. })));
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Terminated { call, reason: EndReason::FingerprintMismatch } if *call == ca)
        ),
        "{ea:?}"
    );
    assert!(net
        .log
        .iter()
        .any(|(f, _, b)| *f == addr(5060) && b.starts_with(b"BYE ")));
}

/// Both sides up, directly (no proxy).
fn direct_call(net: &mut Net) -> (usize, usize, dtlsrtp::CallId, dtlsrtp::CallId) {
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let now = net.now;
    let ca = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    (a, b, ca, cb)
}

fn media_both_ways(net: &mut Net, a: usize, ca: dtlsrtp::CallId, b: usize, cb: dtlsrtp::CallId) {
    let now = net.now;
    for i in 0..3u32 {
        net.ep(a).send_audio(now, ca, 0, i * 160, b"a->b").unwrap();
        net.ep(b).send_audio(now, cb, 0, i * 160, b"b->a").unwrap();
    }
    net.run();
    let (ea, eb) = (net.take(a), net.take(b));
    assert_eq!(rtp_payloads(&ea).len(), 3, "{ea:?}");
    assert_eq!(rtp_payloads(&eb).len(), 3, "{eb:?}");
    for e in [&ea, &eb] {
        assert!(
            !has(e, |e| matches!(
                e,
                Event::Terminated { .. } | Event::FingerprintMismatch { .. }
            )),
            "{e:?}"
        );
    }
}

/// P-6.2c, F-5.15 (item 2): mid-call, a stranger with its own self-signed certificate runs DTLS handshakes
/// against every media socket of caller and callee. None ends or disturbs the call: the verified ports refuse
/// new ClientHellos without state; media keeps flowing both ways.
#[test]
fn p_6_2c_f_5_15_stranger_handshakes_mid_call_against_every_port_never_end_it() {
    let mut net = Net::new();
    let (a, b, ca, cb) = direct_call(&mut net);
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::Established { .. }
    )));
    net.take(b);
    let mut stranger = Stranger::new(addr(6666));
    let now = net.now;
    let ports: Vec<_> = net.nodes[a]
        .media
        .iter()
        .chain(&net.nodes[b].media)
        .copied()
        .collect();
    for p in &ports {
        stranger.connect(now, *p);
    }
    net.strangers.push(stranger);
    net.run_for(Duration::from_secs(5));
    media_both_ways(&mut net, a, ca, b, cb);
    let s = &net.strangers[0];
    assert_eq!(s.attempts(), ports.len());
    assert!(s.connected.is_empty(), "{:?}", s.connected);
    let st = net.ep(a).stats(ca).unwrap();
    assert!(st.counters.dtls_refused > 0, "{st:?}");
    assert_eq!(st.associations.len(), 1, "{st:?}");
    assert!(net.ep(b).stats(cb).unwrap().counters.dtls_refused > 0);
}

/// T-8a, item 2: a stranger completes a handshake with the caller's port before the answer (the port must
/// listen then, F-5.8). It waits, matches no answer, and is discarded and counted once no more answers can
/// come; the call is established and stays up with media.
#[test]
fn t_8a_stranger_handshake_before_answer_is_discarded_and_counted_not_fatal() {
    let mut net = Net::new();
    let (a, b, ca, cb) = direct_call(&mut net);
    let target = net.ep(a).stats(ca).unwrap().local;
    let mut stranger = Stranger::new(addr(6666));
    stranger.connect(net.now, target);
    net.strangers.push(stranger);
    net.run();
    assert_eq!(net.strangers[0].connected, vec![target]);
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::Established { .. }
    )));
    net.run_for(Duration::from_secs(40));
    media_both_ways(&mut net, a, ca, b, cb);
    let st = net.ep(a).stats(ca).unwrap();
    assert_eq!(st.counters.unmatched_discarded, 1, "{st:?}");
    assert_eq!(st.associations.len(), 1, "{st:?}");
    assert_eq!(net.strangers[0].ended, vec![target]);
}

/// Flips the last octet of the DTLS CertificateVerify message in a datagram from the callee (its signature
/// no longer verifies: the caller's handshake fails with an alert).
fn corrupt_certificate_verify(bytes: &mut [u8]) {
    let mut o = 0;
    while o + 13 <= bytes.len() {
        let len = usize::from(u16::from_be_bytes([bytes[o + 11], bytes[o + 12]]));
        let end = o + 13 + len;
        if end > bytes.len() {
            return;
        }
        if bytes[o] == 22 && bytes[o + 3..o + 5] == [0, 0] && bytes.get(o + 13) == Some(&15) {
            bytes[end - 1] ^= 0x5a;
        }
        o = end;
    }
}

/// Item 4 (F-5.15, T-5.1d: no verified keys → no session): the winning dialog's DTLS handshake fails. The
/// caller's endpoint ends the call itself with BYE and `EndReason::DtlsFailed`; it never stays up without
/// media.
#[test]
fn f_5_15_t_5_1d_dtls_handshake_failure_on_answered_dialog_ends_call_with_bye() {
    let mut net = Net::new();
    let (a, b, ca, cb) = direct_call(&mut net);
    let b_media = net.nodes[b].media.clone();
    net.mangle = Some(Box::new(move |t: &mut dtlsrtp::Transmit| {
        if b_media.contains(&t.local) {
            corrupt_certificate_verify(&mut t.bytes);
        }
    }));
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run_for(Duration::from_secs(2));
    let ea = net.take(a);
    assert!(!has(&ea, |e| matches!(e, Event::Established { .. })));
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Terminated { call, reason: EndReason::DtlsFailed } if *call == ca)
        ),
        "{ea:?}"
    );
    assert!(net
        .log
        .iter()
        .any(|(f, _, b)| *f == addr(5060) && b.starts_with(b"BYE ")));
    let eb = net.take(b);
    assert!(
        has(&eb, |e| matches!(e, Event::Terminated { .. })),
        "{eb:?}"
    );
    assert_eq!(net.ep(a).call_count(), 0);
}

/// Item 4: the answered call's handshake never completes (every DTLS datagram of the callee is lost): at the
/// media deadline the caller ends the call with BYE and `EndReason::DtlsFailed`.
#[test]
fn f_5_15_t_5_1d_answered_call_without_verified_media_ends_at_the_deadline() {
    let mut net = Net::new();
    let mut cfg = Net::config("alice", 5060, 1);
    cfg.media_timeout = Duration::from_secs(5);
    let a = net.add(cfg);
    let b = net.add(Net::config("bob", 5070, 2));
    let now = net.now;
    let ca = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let b_media = net.nodes[b].media.clone();
    net.drop_filter = Some(Box::new(move |t: &dtlsrtp::Transmit| {
        b_media.contains(&t.local) && t.bytes.first() == Some(&22)
    }));
    let start = net.now;
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run_for(Duration::from_secs(4));
    assert!(!has(&net.nodes[a].events, |e| matches!(
        e,
        Event::Terminated { .. }
    )));
    net.run_for(Duration::from_secs(3));
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Terminated { call, reason: EndReason::DtlsFailed } if *call == ca)
        ),
        "{ea:?}"
    );
    assert!(net.now.duration_since(start) < Duration::from_secs(8));
    assert!(net
        .log
        .iter()
        .any(|(f, _, b)| *f == addr(5060) && b.starts_with(b"BYE ")));
}

/// The mangling proxy's Record-Route mode (test infrastructure for issue 12 items 1 and 3): the INVITE gets a
/// Record-Route, so the ACK, a re-INVITE, its ACK and the BYE all pass through the proxy (and its hook, which
/// can rewrite them), and `inject` sends arbitrary SIP from the proxy (a stray response is ignored by the UA).
#[test]
fn mangling_proxy_record_route_carries_in_dialog_requests_through_its_hook() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let mut p = Proxy::new(addr(5090), vec![addr(5070)]);
    p.record_route = true;
    // Rewrite every in-dialog re-INVITE on its way: a marker header the callee's UA ignores.
    p.hook = Some(Box::new(|_to, text: &str| {
        if text.starts_with("INVITE ") && text.contains("Route:") {
            Verdict::Forward(text.replacen("\r\n", "\r\nX-Mangled: yes\r\n", 1))
        } else {
            Verdict::Forward(text.to_owned())
        }
    }));
    net.proxy = Some(p);
    let now = net.now;
    let ca = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5090", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::Established { .. }
    )));
    let now = net.now;
    net.ep(a).reinvite(now, ca).unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(e, Event::Modified { .. })));
    media_both_ways(&mut net, a, ca, b, cb);
    let now = net.now;
    net.proxy
        .as_mut()
        .unwrap()
        .inject(addr(5060), "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKnone\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:x@y>;tag=2\r\nCall-ID: stray\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    net.ep(a).hangup(now, ca).unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::RemoteBye,
            ..
        }
    )));
    let sent = &net.proxy.as_ref().unwrap().sent;
    let through = |pre: &str, to: u16| {
        sent.iter()
            .filter(|(t, m)| *t == addr(to) && m.starts_with(pre))
            .count()
    };
    assert_eq!(
        through("INVITE ", 5070),
        2,
        "initial INVITE and the re-INVITE"
    );
    assert!(sent
        .iter()
        .any(|(_, m)| m.starts_with("INVITE ") && m.contains("X-Mangled: yes")));
    assert!(through("ACK ", 5070) >= 2, "both ACKs");
    assert_eq!(through("BYE ", 5070), 1);
    assert!(
        through("SIP/2.0 200", 5060) >= 3,
        "200s of INVITE, re-INVITE, BYE"
    );
    assert!(sent.iter().any(|(_, m)| m.contains("Call-ID: stray")));
}

/// P-6.2c, T-5.5c (item 2): a renewing re-offer makes a new association expected (the lock opens); once the
/// new association is verified the port refuses strangers' ClientHellos again, and the call keeps its media.
#[test]
fn p_6_2c_port_locks_again_after_a_renewing_reoffer() {
    let mut net = Net::new();
    let (a, b, ca, cb) = direct_call(&mut net);
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::Established { .. }
    )));
    let now = net.now;
    net.ep(b).rekey(now, cb).unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(
        has(&net.take(a), |e| matches!(
            e,
            Event::Modified { renewed: true, .. }
        )),
        "renewed"
    );
    media_both_ways(&mut net, a, ca, b, cb);
    let target = net.ep(a).stats(ca).unwrap().local;
    let refused = net.ep(a).stats(ca).unwrap().counters.dtls_refused;
    let mut stranger = Stranger::new(addr(6666));
    stranger.connect(net.now, target);
    net.strangers.push(stranger);
    net.run_for(Duration::from_secs(3));
    assert!(net.strangers[0].connected.is_empty());
    assert!(net.ep(a).stats(ca).unwrap().counters.dtls_refused > refused);
    media_both_ways(&mut net, a, ca, b, cb);
}
