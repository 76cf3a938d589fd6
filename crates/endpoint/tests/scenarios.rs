//! Scenario tests: 2–4 Endpoints on an in-memory network with a manual clock, optionally through an in-process
//! parallel-forking proxy (tests/common/proxy.rs). Requirement IDs in the names (F-5.8, F-6.2, F-6.3, T-8a,
//! F-6.4, F-6.6, T-5.1a, F-5.15).
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use dtlsrtp::{CallOptions, EndReason, Endpoint, Event};

/// Both sides up: returns (caller call, callee call).
fn basic_setup(
    net: &mut Net,
    a: usize,
    b: usize,
    opts: CallOptions,
) -> (dtlsrtp::CallId, dtlsrtp::CallId) {
    let now = net.now;
    let target = format!("sip:bob@{}", net.nodes[b].sip);
    let ca = net.ep(a).dial(now, &target, opts).unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    (ca, cb)
}

fn exchange_media(
    net: &mut Net,
    a: usize,
    ca: dtlsrtp::CallId,
    b: usize,
    cb: dtlsrtp::CallId,
    tag: &[u8],
) {
    let now = net.now;
    for i in 0..3u32 {
        net.ep(a)
            .send_audio(now, ca, 0, i * 160, &[tag, b"->b"].concat())
            .unwrap();
        net.ep(b)
            .send_audio(now, cb, 0, i * 160, &[tag, b"->a"].concat())
            .unwrap();
    }
    net.run();
}

#[test]
fn basic_call_media_both_ways_then_bye_f_5_8() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let (ca, cb) = basic_setup(&mut net, a, b, CallOptions::default());
    let ea = net.take(a);
    let eb = net.take(b);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Established { call, .. } if *call == ca)
        ),
        "{ea:?}"
    );
    assert!(
        has(
            &eb,
            |e| matches!(e, Event::Established { call, .. } if *call == cb)
        ),
        "{eb:?}"
    );
    // the callee answered active: it is the DTLS client, we the server
    assert!(
        has(&eb, |e| matches!(
            e,
            Event::DtlsConnected {
                role: dtlsrtp_srtp::DtlsRole::Client,
                ..
            }
        )),
        "{eb:?}"
    );
    assert!(
        has(&ea, |e| matches!(
            e,
            Event::DtlsConnected {
                role: dtlsrtp_srtp::DtlsRole::Server,
                ..
            }
        )),
        "{ea:?}"
    );
    // F-5.8: the callee's ClientHello went out after its 200 OK, to our media port which was listening already
    exchange_media(&mut net, a, ca, b, cb, b"x");
    let ra = rtp_payloads(&net.take(a));
    let rb = rtp_payloads(&net.take(b));
    assert_eq!(ra.len(), 3, "{ra:?}");
    assert!(ra.iter().all(|(_, p)| p == b"x->a"));
    assert_eq!(rb.len(), 3);
    assert!(rb
        .iter()
        .all(|(f, p)| p == b"x->b" && *f == Some(Endpoint::UAS_FORK)));
    let now = net.now;
    net.ep(a).hangup(now, ca).unwrap();
    net.run();
    let ea = net.take(a);
    let eb = net.take(b);
    assert!(
        has(&ea, |e| matches!(
            e,
            Event::Terminated {
                reason: EndReason::Local,
                ..
            }
        )),
        "{ea:?}"
    );
    assert!(
        has(&eb, |e| matches!(
            e,
            Event::Terminated {
                reason: EndReason::RemoteBye,
                ..
            }
        )),
        "{eb:?}"
    );
    assert!(has(&ea, |e| matches!(e, Event::MediaSocketReleased { .. })));
    assert!(has(&eb, |e| matches!(e, Event::MediaSocketReleased { .. })));
    assert_eq!(net.ep(a).call_count(), 0);
    assert_eq!(net.ep(b).call_count(), 0);
    // after BYE nothing can be sent (associations closed)
    let now = net.now;
    assert!(net.ep(a).send_audio(now, ca, 0, 0, b"late").is_err());
}

fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

#[test]
fn f_6_2_early_media_183_with_sdp_then_answer() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let now = net.now;
    let ca = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).early_media(now, cb).unwrap();
    net.run();
    let ea = net.take(a);
    let fork = ea
        .iter()
        .find_map(|e| match e {
            Event::EarlyMedia { fork, .. } => Some(*fork),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{ea:?}"));
    // the callee's ClientHello followed its 183: the early dialog's association is verified before any 200
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::FingerprintVerified { fork: f, .. } if *f == fork)
        ),
        "{ea:?}"
    );
    assert!(!has(&ea, |e| matches!(e, Event::Answered { .. })));
    let now = net.now;
    net.ep(b).send_audio(now, cb, 0, 0, b"early").unwrap();
    net.run();
    assert_eq!(
        rtp_payloads(&net.take(a)),
        vec![(Some(fork), b"early".to_vec())]
    );
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Answered { fork: f, .. } if *f == fork)
        ),
        "{ea:?}"
    );
    assert!(has(
        &ea,
        |e| matches!(e, Event::Established { call, .. } if *call == ca)
    ));
    // no second handshake for the 200: the early association carries on
    assert_eq!(count(&ea, |e| matches!(e, Event::DtlsConnected { .. })), 0);
    exchange_media(&mut net, a, ca, b, cb, b"y");
    assert_eq!(rtp_payloads(&net.take(a)).len(), 3);
    assert_eq!(rtp_payloads(&net.take(b)).len(), 3);
}

/// F-6.3, T-8a: a forking proxy; both forks answer 183 with SDP (different certificates) and send early SRTP;
/// each fork's media is verified against its own fingerprint; fork 1 answers, fork 2 is cancelled.
#[test]
fn f_6_3_t_8a_forking_two_early_dialogs_own_fingerprints_one_answers_other_cancelled() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b1 = net.add(Net::config("bob1", 5070, 2));
    let b2 = net.add(Net::config("bob2", 5080, 3));
    net.proxy = Some(proxy::Proxy::new(addr(5090), vec![addr(5070), addr(5080)]));
    let now = net.now;
    let ca = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5090", CallOptions::default())
        .unwrap();
    net.run();
    let c1 = incoming(&net.take(b1));
    let c2 = incoming(&net.take(b2));
    let now = net.now;
    net.ep(b1).early_media(now, c1).unwrap();
    net.ep(b2).early_media(now, c2).unwrap();
    net.run();
    let ea = net.take(a);
    let forks: Vec<_> = ea
        .iter()
        .filter_map(|e| match e {
            Event::EarlyMedia { fork, .. } => Some(*fork),
            _ => None,
        })
        .collect();
    assert_eq!(forks.len(), 2, "{ea:?}");
    assert_ne!(forks[0], forks[1]);
    assert_eq!(
        count(&ea, |e| matches!(e, Event::FingerprintVerified { .. })),
        2,
        "{ea:?}"
    );
    assert_eq!(
        count(&ea, |e| matches!(e, Event::FingerprintMismatch { .. })),
        0
    );
    let now = net.now;
    net.ep(b1).send_audio(now, c1, 0, 0, b"from-b1").unwrap();
    net.ep(b2).send_audio(now, c2, 0, 0, b"from-b2").unwrap();
    net.run();
    let got = rtp_payloads(&net.take(a));
    assert_eq!(got.len(), 2, "{got:?}");
    // which fork is which: the association of each fork is the one whose certificate matched its 183
    let f1 = got
        .iter()
        .find(|(_, p)| p == b"from-b1")
        .unwrap()
        .0
        .unwrap();
    let f2 = got
        .iter()
        .find(|(_, p)| p == b"from-b2")
        .unwrap()
        .0
        .unwrap();
    assert_ne!(f1, f2);
    let st = net.ep(a).stats(ca).unwrap();
    assert_eq!(st.associations.len(), 2, "one association per fork: {st:?}");
    let media_b1 = net.nodes[b1].media.clone();
    assert!(
        st.forks
            .iter()
            .any(|(f, r)| *f == Some(f1) && media_b1.contains(r)),
        "{st:?}"
    );
    // fork 1 answers; the proxy cancels fork 2
    let now = net.now;
    net.ep(b1).answer(now, c1).unwrap();
    net.run_for(Duration::from_secs(1));
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Answered { fork, .. } if *fork == f1)
        ),
        "{ea:?}"
    );
    assert!(has(
        &ea,
        |e| matches!(e, Event::Established { fork, .. } if *fork == f1)
    ));
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
    assert!(net.proxy.as_ref().unwrap().cancels_sent >= 1);
    // the losing fork ends at the caller once the INVITE transaction is over; its association is closed
    net.run_for(Duration::from_secs(40));
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::ForkEnded { fork, .. } if *fork == f2)
        ),
        "{ea:?}"
    );
    let st = net.ep(a).stats(ca).unwrap();
    assert!(st.forks.iter().all(|(f, _)| *f != Some(f2)), "{st:?}");
    exchange_media(&mut net, a, ca, b1, c1, b"z");
    let ra = rtp_payloads(&net.take(a));
    assert_eq!(ra.len(), 3);
    assert!(ra.iter().all(|(f, _)| *f == Some(f1)));
}

#[test]
fn f_6_4_t_8b_delayed_offer_offer_in_200_answer_in_ack() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let now = net.now;
    let ca = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::delayed_offer())
        .unwrap();
    net.run();
    let eb = net.take(b);
    assert!(has(&eb, |e| matches!(
        e,
        Event::IncomingCall {
            delayed_offer: true,
            ..
        }
    )));
    let cb = incoming(&eb);
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    let ea = net.take(a);
    let eb = net.take(b);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Established { call, .. } if *call == ca)
        ),
        "{ea:?}"
    );
    assert!(
        has(&eb, |e| matches!(e, Event::Established { .. })),
        "{eb:?}"
    );
    // the INVITE had no body, the 200 the offer (actpass), the ACK our answer (active: we are the DTLS client)
    let sent = |from: usize, start: &str| {
        net.log
            .iter()
            .filter(|(f, _, b)| *f == net.nodes[from].sip && b.starts_with(start.as_bytes()))
            .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
            .collect::<Vec<_>>()
    };
    assert!(!sent(a, "INVITE")[0].contains("v=0"));
    assert!(sent(b, "SIP/2.0 200")[0].contains("a=setup:actpass"));
    assert!(sent(a, "ACK")[0].contains("a=setup:active"));
    assert!(has(&ea, |e| matches!(
        e,
        Event::DtlsConnected {
            role: dtlsrtp_srtp::DtlsRole::Client,
            ..
        }
    )));
    exchange_media(&mut net, a, ca, b, cb, b"d");
    assert_eq!(rtp_payloads(&net.take(a)).len(), 3);
    assert_eq!(rtp_payloads(&net.take(b)).len(), 3);
}

#[test]
fn f_6_6_reinvite_that_keeps_no_new_handshake_srtp_continues() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let (ca, cb) = basic_setup(&mut net, a, b, CallOptions::default());
    exchange_media(&mut net, a, ca, b, cb, b"1");
    net.take(a);
    net.take(b);
    let before = net.ep(a).stats(ca).unwrap();
    let now = net.now;
    net.ep(a).reinvite(now, ca).unwrap();
    net.run();
    let ea = net.take(a);
    let eb = net.take(b);
    assert!(
        has(&ea, |e| matches!(e, Event::Modified { renewed: false, .. })),
        "{ea:?}"
    );
    assert!(
        has(&eb, |e| matches!(e, Event::Modified { renewed: false, .. })),
        "{eb:?}"
    );
    assert_eq!(count(&ea, |e| matches!(e, Event::DtlsConnected { .. })), 0);
    assert_eq!(count(&eb, |e| matches!(e, Event::DtlsConnected { .. })), 0);
    exchange_media(&mut net, a, ca, b, cb, b"2");
    assert_eq!(rtp_payloads(&net.take(a)).len(), 3);
    assert_eq!(rtp_payloads(&net.take(b)).len(), 3);
    let after = net.ep(a).stats(ca).unwrap();
    assert_eq!(after.local, before.local, "same port");
    assert_eq!(after.associations.len(), 1);
    assert_eq!(
        after.associations[0].id, before.associations[0].id,
        "same association"
    );
    assert_eq!(
        after.associations[0].counters.packets_in, 6,
        "SRTP continued on the same contexts"
    );
}

/// T-5.5a, T-5.1a: a re-INVITE that renews (our rekey): new tls-id on a new port, a new handshake; media keeps
/// flowing on the old association until the new one is verified, then the old port is released (after the
/// make-before-break grace period, F-6.8).
#[test]
fn t_5_1a_reinvite_that_renews_rekey_new_port_new_association() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let (ca, cb) = basic_setup(&mut net, a, b, CallOptions::default());
    exchange_media(&mut net, a, ca, b, cb, b"old");
    net.take(a);
    net.take(b);
    let before = net.ep(a).stats(ca).unwrap();
    let now = net.now;
    net.ep(a).rekey(now, ca).unwrap();
    // until the answer, our media still goes on the old association
    net.ep(a).send_audio(now, ca, 0, 1, b"meanwhile").unwrap();
    net.run();
    net.run_for(std::time::Duration::from_millis(2500));
    let ea = net.take(a);
    let eb = net.take(b);
    assert!(
        has(&ea, |e| matches!(e, Event::Modified { renewed: true, .. })),
        "{ea:?}"
    );
    assert!(
        has(&eb, |e| matches!(e, Event::Modified { renewed: true, .. })),
        "{eb:?}"
    );
    assert!(
        has(&ea, |e| matches!(e, Event::DtlsConnected { .. })),
        "a new handshake: {ea:?}"
    );
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::MediaSocketReleased { local } if *local == before.local)
        ),
        "{ea:?}"
    );
    assert!(rtp_payloads(&eb).iter().any(|(_, p)| p == b"meanwhile"));
    let after = net.ep(a).stats(ca).unwrap();
    assert_ne!(after.local, before.local, "a new port");
    exchange_media(&mut net, a, ca, b, cb, b"new");
    assert_eq!(rtp_payloads(&net.take(a)).len(), 3);
    assert_eq!(rtp_payloads(&net.take(b)).len(), 3);
    let offers: Vec<String> = net
        .log
        .iter()
        .filter(|(f, _, b)| *f == addr(5060) && b.starts_with(b"INVITE"))
        .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    let tls_id = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("a=tls-id:"))
            .map(str::to_owned)
    };
    assert_eq!(offers.len(), 2);
    assert_ne!(tls_id(&offers[0]), tls_id(&offers[1]), "a fresh tls-id");
}

#[test]
fn cancel_before_answer_both_sides_end_sockets_released() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let now = net.now;
    let ca = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).ring(now, cb).unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(e, Event::Ringing { .. })));
    let now = net.now;
    net.ep(a).hangup(now, ca).unwrap();
    net.run_for(Duration::from_secs(1));
    let ea = net.take(a);
    let eb = net.take(b);
    assert!(
        has(&eb, |e| matches!(
            e,
            Event::Terminated {
                reason: EndReason::Cancelled,
                ..
            }
        )),
        "{eb:?}"
    );
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Terminated { call, .. } if *call == ca)
        ),
        "{ea:?}"
    );
    assert!(has(&ea, |e| matches!(e, Event::MediaSocketReleased { .. })));
    assert!(has(&eb, |e| matches!(e, Event::MediaSocketReleased { .. })));
    assert_eq!(net.ep(a).call_count() + net.ep(b).call_count(), 0);
}

#[test]
fn callee_hangs_up_bye_closes_associations() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let (ca, cb) = basic_setup(&mut net, a, b, CallOptions::default());
    let now = net.now;
    net.ep(b).hangup(now, cb).unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::RemoteBye,
            ..
        }
    )));
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::Local,
            ..
        }
    )));
    let now = net.now;
    assert!(net.ep(a).send_audio(now, ca, 0, 0, b"x").is_err());
    assert!(net.ep(b).send_audio(now, cb, 0, 0, b"x").is_err());
}

/// F-5.15: the 200's fingerprint does not match the certificate that completes the handshake: once no further
/// answer can come (T-8a) the confirmed dialog is ended with BYE and no media is ever delivered.
#[test]
fn f_5_15_fingerprint_mismatch_on_confirmed_dialog_sends_bye() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    net.mangle = Some(Box::new(|t: &mut dtlsrtp::Transmit| {
        if t.bytes.starts_with(b"SIP/2.0 200") {
            let s = String::from_utf8_lossy(&t.bytes).into_owned();
            if let Some(i) = s.find("a=fingerprint:sha-256 ") {
                let at = i + "a=fingerprint:sha-256 ".len();
                let c = if &s[at..at + 1] == "0" { "1" } else { "0" };
                let s = format!("{}{}{}", &s[..at], c, &s[at + 1..]);
                t.bytes = s.into_bytes();
            }
        }
    }));
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
    let now = net.now;
    let _ = net.ep(b).send_audio(now, cb, 0, 0, b"should not be played");
    net.run_for(Duration::from_secs(40));
    let ea = net.take(a);
    let eb = net.take(b);
    assert!(
        has(&ea, |e| matches!(e, Event::FingerprintMismatch { .. })),
        "{ea:?}"
    );
    assert!(!has(&ea, |e| matches!(e, Event::Established { .. })));
    assert!(rtp_payloads(&ea).is_empty());
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Terminated { call, reason: EndReason::FingerprintMismatch } if *call == ca)
        ),
        "{ea:?}"
    );
    assert!(
        has(&eb, |e| matches!(
            e,
            Event::Terminated {
                reason: EndReason::RemoteBye,
                ..
            }
        )),
        "{eb:?}"
    );
    assert!(net
        .log
        .iter()
        .any(|(f, _, b)| *f == addr(5060) && b.starts_with(b"BYE ")));
}

/// F-6.6a: modifications in both directions: the callee's re-INVITE, the caller's UPDATE (RFC 3311), hold and
/// resume: every one keeps the association (no new handshake, same association id, SRTP continues; during the
/// hold only the holder's media flows, see tests/hold.rs).
#[test]
fn f_6_6a_callee_reinvite_caller_update_hold_resume_all_keep() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let (ca, cb) = basic_setup(&mut net, a, b, CallOptions::default());
    net.take(a);
    net.take(b);
    let assoc = net.ep(a).stats(ca).unwrap().associations[0].id;
    let steps: [(&str, usize); 4] = [
        ("callee re-INVITE", b),
        ("caller UPDATE", a),
        ("hold", a),
        ("resume", a),
    ];
    for (i, (what, who)) in steps.iter().enumerate() {
        let now = net.now;
        let call = if *who == a { ca } else { cb };
        match i {
            0 => net.ep(*who).reinvite(now, call).unwrap(),
            1 => net.ep(*who).update(now, call).unwrap(),
            2 => net.ep(*who).hold(now, call, true).unwrap(),
            _ => net.ep(*who).hold(now, call, false).unwrap(),
        }
        net.run();
        let ea = net.take(a);
        let eb = net.take(b);
        assert!(
            has(&ea, |e| matches!(e, Event::Modified { renewed: false, .. })),
            "{what}: {ea:?}"
        );
        assert!(
            has(&eb, |e| matches!(e, Event::Modified { renewed: false, .. })),
            "{what}: {eb:?}"
        );
        assert!(
            !has(&ea, |e| matches!(e, Event::DtlsConnected { .. })),
            "{what}"
        );
        assert!(
            !has(&eb, |e| matches!(e, Event::DtlsConnected { .. })),
            "{what}"
        );
        exchange_media(&mut net, a, ca, b, cb, what.as_bytes());
        // RFC 3264 §8.4: while a holds (sendonly), b is recvonly and sends nothing.
        let to_a = if i == 2 { 0 } else { 3 };
        assert_eq!(rtp_payloads(&net.take(a)).len(), to_a, "{what}");
        assert_eq!(rtp_payloads(&net.take(b)).len(), 3, "{what}");
        assert_eq!(
            net.ep(a).stats(ca).unwrap().associations[0].id,
            assoc,
            "{what}"
        );
    }
    let updates = net
        .log
        .iter()
        .filter(|(f, _, b)| *f == addr(5060) && b.starts_with(b"UPDATE "))
        .count();
    assert_eq!(updates, 1);
    let holds = net
        .log
        .iter()
        .filter(|(f, _, b)| {
            *f == addr(5060)
                && b.starts_with(b"INVITE ")
                && String::from_utf8_lossy(b).contains("a=sendonly")
        })
        .count();
    assert_eq!(holds, 1);
}

/// F-5.8: the answerer's ClientHello arrives before its 200 OK (baresip's order): our listening port keeps it,
/// the handshake completes without any retransmission, and the fingerprint is matched when the 200 arrives.
#[test]
fn f_5_8_client_hello_before_200_is_kept_no_retransmission() {
    let mut net = Net::new();
    net.ok_last = true;
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let now = net.now;
    let ca = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let t0 = net.now;
    net.ep(b).answer(t0, cb).unwrap();
    net.run();
    // order on the wire: ClientHello (DTLS, first byte 22) to a's media port before the 200 to a's SIP port
    let first_ch = net
        .log
        .iter()
        .position(|(_, to, b)| *to != addr(5060) && b.first() == Some(&22))
        .unwrap();
    let ok = net
        .log
        .iter()
        .position(|(_, to, b)| *to == addr(5060) && b.starts_with(b"SIP/2.0 200"))
        .unwrap();
    assert!(first_ch < ok, "the ClientHello went first");
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Established { call, .. } if *call == ca)
        ),
        "{ea:?}"
    );
    let bob_media = net.nodes[b].media.clone();
    let hellos = net
        .log
        .iter()
        .filter(|(f, _, p)| {
            bob_media.contains(f) && p.first() == Some(&22) && p.get(13) == Some(&1)
        })
        .count();
    // the ClientHello and its cookie echo (HelloVerifyRequest); a retransmission would add a third. Also the
    // call came up within run()'s 50 ms of simulated time, below the 100 ms initial DTLS timer.
    assert_eq!(hellos, 2, "no retransmission wait");
    assert!(net.now.duration_since(t0) <= Duration::from_millis(50));
    let _ = cb;
}

/// Secure only: an answer that is plain RTP/AVP (the peer ignored our DTLS-SRTP offer) ends the call with BYE
/// and no media state is kept.
#[test]
fn secure_only_plain_rtp_answer_ends_the_call_with_bye() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    net.mangle = Some(Box::new(|t: &mut dtlsrtp::Transmit| {
        if t.bytes.starts_with(b"SIP/2.0 200")
            && String::from_utf8_lossy(&t.bytes).contains("INVITE")
        {
            let s = String::from_utf8_lossy(&t.bytes).into_owned();
            let (head, _) = s.split_once("\r\n\r\n").unwrap();
            let body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";
            let head: Vec<String> = head
                .split("\r\n")
                .map(|l| {
                    if l.starts_with("Content-Length") {
                        format!("Content-Length: {}", body.len())
                    } else {
                        l.to_owned()
                    }
                })
                .collect();
            t.bytes = format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes();
        }
    }));
    let now = net.now;
    let ca = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run_for(Duration::from_secs(1));
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Terminated { call, reason: EndReason::NotSecure } if *call == ca)
        ),
        "{ea:?}"
    );
    assert!(!has(&ea, |e| matches!(e, Event::Established { .. })));
    assert!(net
        .log
        .iter()
        .any(|(f, _, b)| *f == addr(5060) && b.starts_with(b"BYE ")));
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::RemoteBye,
            ..
        }
    )));
    assert_eq!(net.ep(a).call_count(), 0);
}

/// F-6.4: delayed offer with early media: the callee's offer comes in a reliable 183, the caller answers in its
/// PRACK and, being active, starts DTLS at once; early SRTP flows before the 200, which carries no SDP.
#[test]
fn f_6_4_delayed_offer_offer_in_reliable_183_answer_in_prack_early_media() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let now = net.now;
    let ca = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::delayed_offer())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).early_media(now, cb).unwrap();
    net.run();
    let ea = net.take(a);
    assert!(
        has(&ea, |e| matches!(e, Event::EarlyMedia { .. })),
        "{ea:?}"
    );
    assert!(
        has(&ea, |e| matches!(e, Event::FingerprintVerified { .. })),
        "{ea:?}"
    );
    assert!(has(&ea, |e| matches!(
        e,
        Event::DtlsConnected {
            role: dtlsrtp_srtp::DtlsRole::Client,
            ..
        }
    )));
    let prack = net
        .log
        .iter()
        .find(|(f, _, p)| *f == addr(5060) && p.starts_with(b"PRACK "))
        .unwrap();
    assert!(String::from_utf8_lossy(&prack.2).contains("a=setup:active"));
    let now = net.now;
    net.ep(b).send_audio(now, cb, 0, 0, b"early").unwrap();
    net.run();
    assert_eq!(rtp_payloads(&net.take(a)).len(), 1);
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    let ok = net
        .log
        .iter()
        .rev()
        .find(|(f, _, p)| *f == addr(5070) && p.starts_with(b"SIP/2.0 200"))
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&ok.2).contains("v=0"),
        "the 200 carries no SDP"
    );
    assert!(has(
        &net.take(a),
        |e| matches!(e, Event::Established { call, .. } if *call == ca)
    ));
    assert!(has(
        &net.take(b),
        |e| matches!(e, Event::Established { call, .. } if *call == cb)
    ));
    exchange_media(&mut net, a, ca, b, cb, b"p");
    assert_eq!(rtp_payloads(&net.take(a)).len(), 3);
    assert_eq!(rtp_payloads(&net.take(b)).len(), 3);
}
