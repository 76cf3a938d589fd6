//! Issue 8 end to end: SIP Identity (RFC 8224 PASSporT with `mky`) in Endpoint calls, the RFC 5763 §7.1 flow
//! (requirements §4.1) and §7.2 connected identity (RFC 4916, §4.2), the attacks (a rewritten a=fingerprint,
//! a stripped Identity, a replayed stale PASSporT), continuity of authentication and anonymous calls.
//! Requirement IDs: F-5.4, F-8.0, F-8.4b, F-8.5, F-8.6a/b, F-6.1, I-2, I-3, A-R-ACT-ACT, A-R-ID-BINDING.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::pki::*;
use common::*;
use dtlsrtp::{CallOptions, CallSecurityState, EndReason, Event, IdentityPolicy};
use openssl::x509::X509;

/// §7.1 (requirements §4.1), E2E-7.1: Alice offers best-effort DTLS-SRTP (RTP/AVP + a=tcap/a=pcfg, B-1), her
/// INVITE signed with `mky` over her fingerprint (message 2); Bob verifies it (Required policy) and answers
/// 183 with SDP, his ClientHello leaving before any 200 (message 3); his early SRTP is delivered to Alice
/// before the 200 (message 6); Alice sends nothing on the media path before the 200 except her handshake
/// flights; after the 200 (message 8) both sides are established, Bob's call is "encrypted to verified
/// alice", Alice's is encrypted-unauthenticated (responses carry no Identity) until §7.2, and both show the
/// same SAS.
#[test]
fn e2e_7_1_f_5_4_i_2_early_media_identity_verified_media_verified() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let mut ca = Net::config("alice", 5060, 1);
    ca.best_effort = true;
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let ib = pki.identity(&net, Some("bob"), IdentityPolicy::Required);
    let a = net.add(with_identity(ca, ia));
    let b = net.add(with_identity(Net::config("bob", 5070, 2), ib));
    let now = net.now;
    let call_a = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    // (1)/(2): the INVITE carries capability negotiation, from-change and a PASSporT
    let invite = net
        .log
        .iter()
        .find(|(_, _, b)| b.starts_with(b"INVITE "))
        .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
        .unwrap();
    assert!(
        invite.contains("m=audio") && invite.contains("RTP/AVP"),
        "{invite}"
    );
    assert!(invite.contains("a=tcap:1 UDP/TLS/RTP/SAVP"), "{invite}");
    assert!(invite.contains("a=setup:actpass"), "{invite}");
    assert!(invite.contains("from-change"), "{invite}");
    assert!(invite.contains("\r\nIdentity: "), "{invite}");
    assert!(
        invite.contains("\r\nDate: Fri, 15 Jan 2027 08:00:00 GMT\r\n"),
        "{invite}"
    );
    let cb = incoming(&net.take(b));
    // (3): Bob is active; his ClientHello follows the 183, before any 200
    let now = net.now;
    net.ep(b).early_media(now, cb).unwrap();
    net.run();
    let first_dtls_from_bob = net
        .log
        .iter()
        .position(|(f, _, b)| f.port() != 5070 && f.port() >= 5170 && is_dtls(b));
    assert!(first_dtls_from_bob.is_some());
    let ok_to_invite = |b: &[u8]| {
        b.starts_with(b"SIP/2.0 200") && String::from_utf8_lossy(b).contains(" INVITE\r\n")
    };
    assert!(!net.log.iter().any(|(_, _, b)| ok_to_invite(b)));
    let hello_at = first_dtls_from_bob.unwrap();
    let _ = hello_at;
    let ea = net.take(a);
    assert!(
        has(&ea, |e| matches!(e, Event::EarlyMedia { .. })),
        "{ea:?}"
    );
    // (6): early SRTP from Bob is decrypted before the 200
    let now = net.now;
    net.ep(b).send_audio(now, cb, 0, 0, b"early").unwrap();
    net.run();
    let ea = net.take(a);
    assert_eq!(rtp_payloads(&ea).len(), 1, "{ea:?}");
    assert!(!has(&ea, |e| matches!(e, Event::Established { .. })));
    // Alice sends no media before the 200: only her handshake flights (and a §6.7.2 STUN check), no RTP/RTCP
    let alice_rtp = net.log.iter().any(|(f, _, b)| {
        (5160..5170).contains(&f.port()) && b.first().is_some_and(|x| (128..192).contains(x))
    });
    assert!(!alice_rtp);
    // (8)-(11): the 200; Alice's media verified, both established
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    let ea = net.take(a);
    let eb = net.take(b);
    assert!(has(
        &ea,
        |e| matches!(e, Event::Established { call, .. } if *call == call_a)
    ));
    let sb = security(&eb);
    assert!(sb.iter().any(|s| verified_as(s, "alice")), "{eb:?}");
    let sa = security(&ea);
    assert!(
        sa.contains(&CallSecurityState::EncryptedUnauthenticated),
        "{ea:?}"
    );
    let (sas_a, sas_b) = (sas(&ea).unwrap(), sas(&eb).unwrap());
    assert_eq!(sas_a, sas_b);
    // (10): bidirectional SRTP
    let now = net.now;
    net.ep(a).send_audio(now, call_a, 0, 0, b"a->b").unwrap();
    net.run();
    assert_eq!(rtp_payloads(&net.take(b)).len(), 1);
}

/// §7.2 (requirements §4.2), I-3, E2E-7.2: after the ACK Bob sends UPDATE with `Supported: from-change`
/// repeating his SDP, signed; Alice verifies it: her state becomes "encrypted to verified bob"; no new DTLS
/// handshake (same association: no DtlsConnected, media continues).
#[test]
fn e2e_7_2_i_3_connected_identity_update_verified_bob_no_new_handshake() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let ib = pki.identity(&net, Some("bob"), IdentityPolicy::Required);
    let a = net.add(with_identity(Net::config("alice", 5060, 1), ia));
    let b = net.add(with_identity(Net::config("bob", 5070, 2), ib));
    let now = net.now;
    let call_a = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    let update = net
        .log
        .iter()
        .find(|(_, _, b)| b.starts_with(b"UPDATE "))
        .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_else(|| panic!("no UPDATE"));
    assert!(update.contains("from-change") && update.contains("\r\nIdentity: "));
    let ea = net.take(a);
    let sa = security(&ea);
    assert!(sa.iter().any(|s| verified_as(s, "bob")), "{sa:?}");
    let handshakes = ea
        .iter()
        .filter(|e| matches!(e, Event::DtlsConnected { .. }))
        .count();
    assert_eq!(handshakes, 1, "the UPDATE caused no new handshake");
    let eb = net.take(b);
    assert!(has(&eb, |e| matches!(e, Event::Modified { .. })
        || matches!(e, Event::Established { .. })));
    let now = net.now;
    net.ep(a).send_audio(now, call_a, 0, 0, b"still").unwrap();
    net.run();
    assert_eq!(rtp_payloads(&net.take(b)).len(), 1);
    assert_eq!(net.ep(a).stats(call_a).unwrap().associations.len(), 1);
}

/// E2E-7.2 negative: an UPDATE whose SDP fingerprint was rewritten in transit (so `mky` no longer matches)
/// leaves Alice's peer identity unverified (I-2, I-3).
#[test]
fn e2e_7_2_i_2_update_with_mky_mismatch_leaves_identity_unverified() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let ib = pki.identity(&net, Some("bob"), IdentityPolicy::BestEffort);
    let a = net.add(with_identity(Net::config("alice", 5060, 1), ia));
    let b = net.add(with_identity(Net::config("bob", 5070, 2), ib));
    net.mangle = Some(Box::new(|t: &mut dtlsrtp::Transmit| {
        if t.bytes.starts_with(b"UPDATE ") {
            rewrite_fingerprint(t);
        }
    }));
    let now = net.now;
    net.ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    assert!(net.log.iter().any(|(_, _, b)| b.starts_with(b"UPDATE ")));
    let sa = security(&net.take(a));
    assert!(!sa.is_empty());
    assert!(!sa.iter().any(|s| verified_as(s, "bob")), "{sa:?}");
    assert!(
        sa.iter()
            .any(|s| matches!(s, CallSecurityState::IdentityFailed { .. })),
        "{sa:?}"
    );
}

/// A-R-ACT-ACT, I-2: a proxy rewrites a=fingerprint in the signed INVITE: `mky` no longer matches. Required:
/// the call is refused with 438 and never rings; BestEffort: it proceeds marked identity-failed, never
/// verified.
#[test]
fn a_r_act_act_rewritten_fingerprint_mky_mismatch_rejected_438_required() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let ib = pki.identity(&net, Some("bob"), IdentityPolicy::Required);
    let a = net.add(with_identity(Net::config("alice", 5060, 1), ia));
    let b = net.add(with_identity(Net::config("bob", 5070, 2), ib));
    net.mangle = Some(Box::new(|t: &mut dtlsrtp::Transmit| {
        if t.bytes.starts_with(b"INVITE ") {
            rewrite_fingerprint(t);
        }
    }));
    let now = net.now;
    let call_a = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let eb = net.take(b);
    assert!(
        !has(&eb, |e| matches!(e, Event::IncomingCall { .. })),
        "{eb:?}"
    );
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Terminated { call, reason: EndReason::Rejected(438) } if *call == call_a)
        ),
        "{ea:?}"
    );
}

#[test]
fn a_r_act_act_rewritten_fingerprint_best_effort_marked_failed_never_verified() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let ib = pki.identity(&net, None, IdentityPolicy::BestEffort);
    let a = net.add(with_identity(Net::config("alice", 5060, 1), ia));
    let b = net.add(with_identity(Net::config("bob", 5070, 2), ib));
    net.mangle = Some(Box::new(|t: &mut dtlsrtp::Transmit| {
        if t.bytes.starts_with(b"INVITE ") {
            rewrite_fingerprint(t);
        }
    }));
    let now = net.now;
    net.ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let mut eb = net.take(b);
    let cb = incoming(&eb);
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run_for(Duration::from_secs(2));
    eb.extend(net.take(b));
    let sb = security(&eb);
    assert!(
        sb.iter()
            .any(|s| matches!(s, CallSecurityState::IdentityFailed { .. })),
        "{sb:?}"
    );
    assert!(!sb.iter().any(|s| verified_as(s, "alice")), "{sb:?}");
}

/// F-8.6a: a middlebox strips the Identity header: BestEffort shows encrypted-unauthenticated, never
/// verified; Required refuses with 428.
#[test]
fn f_8_6a_stripped_identity_unverified_never_shown_verified_428_when_required() {
    for policy in [IdentityPolicy::BestEffort, IdentityPolicy::Required] {
        let mut net = Net::new();
        let mut pki = Pki::new();
        let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
        let ib = pki.identity(&net, None, policy);
        let a = net.add(with_identity(Net::config("alice", 5060, 1), ia));
        let b = net.add(with_identity(Net::config("bob", 5070, 2), ib));
        net.mangle = Some(Box::new(|t: &mut dtlsrtp::Transmit| {
            if t.bytes.starts_with(b"INVITE ") {
                let s = String::from_utf8_lossy(&t.bytes).into_owned();
                let kept: Vec<&str> = s
                    .split("\r\n")
                    .filter(|l| !l.starts_with("Identity:"))
                    .collect();
                t.bytes = kept.join("\r\n").into_bytes();
            }
        }));
        let now = net.now;
        let call_a = net
            .ep(a)
            .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
            .unwrap();
        net.run();
        let eb = net.take(b);
        if policy == IdentityPolicy::Required {
            assert!(!has(&eb, |e| matches!(e, Event::IncomingCall { .. })));
            let ea = net.take(a);
            assert!(
                has(
                    &ea,
                    |e| matches!(e, Event::Terminated { call, reason: EndReason::Rejected(428) } if *call == call_a)
                ),
                "{ea:?}"
            );
            continue;
        }
        let cb = incoming(&eb);
        let now = net.now;
        net.ep(b).answer(now, cb).unwrap();
        net.run();
        let sb = security(&net.take(b));
        assert_eq!(sb, vec![CallSecurityState::EncryptedUnauthenticated]);
    }
}

/// A replayed PASSporT: the INVITE of an earlier call (iat two minutes old) is captured and its Identity
/// header pasted into a new INVITE (same From/To/fingerprint, so only `iat` betrays it): 403 Stale Date.
#[test]
fn replayed_stale_passport_rejected_403() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let ib = pki.identity(&net, None, IdentityPolicy::Required);
    let a = net.add(with_identity(Net::config("alice", 5060, 1), ia));
    let b = net.add(with_identity(Net::config("bob", 5070, 2), ib));
    let now = net.now;
    let first = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let captured = net
        .log
        .iter()
        .find(|(_, _, b)| b.starts_with(b"INVITE "))
        .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
        .unwrap();
    let identity_line = captured
        .split("\r\n")
        .find(|l| l.starts_with("Identity:"))
        .unwrap()
        .to_owned();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).reject(now, cb, 486).unwrap();
    net.run();
    let _ = first;
    net.run_for(Duration::from_secs(120));
    net.take(a);
    net.take(b);
    net.mangle = Some(Box::new(move |t: &mut dtlsrtp::Transmit| {
        if t.bytes.starts_with(b"INVITE ") {
            let s = String::from_utf8_lossy(&t.bytes).into_owned();
            let lines: Vec<String> = s
                .split("\r\n")
                .map(|l| {
                    if l.starts_with("Identity:") {
                        identity_line.clone()
                    } else {
                        l.to_owned()
                    }
                })
                .collect();
            t.bytes = lines.join("\r\n").into_bytes();
        }
    }));
    let now = net.now;
    let second = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    assert!(!has(&net.take(b), |e| matches!(
        e,
        Event::IncomingCall { .. }
    )));
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Terminated { call, reason: EndReason::Rejected(403) } if *call == second)
        ),
        "{ea:?}"
    );
}

/// A-R-SIG-MEDIA: a media-path man in the middle with its own certificate (signalling untouched, the
/// PASSporT verifies): Alice's ServerHello is answered by the attacker's handshake, whose certificate matches
/// no signed fingerprint: fingerprint mismatch, no Established, no media delivered, the state never verified.
#[test]
fn a_r_sig_media_media_path_mitm_own_certificate_no_media_never_verified() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let mut ib = pki.identity(&net, None, IdentityPolicy::Required);
    ib.connected_identity = false;
    let a = net.add(with_identity(Net::config("alice", 5060, 1), ia));
    // the attacker answers in Bob's place on the media path: Bob's signalling, Mallory's media certificate
    let mut cfg_b = Net::config("bob", 5070, 2);
    let mallory =
        dtlsrtp_dtls::Certificate::generate(dtlsrtp_dtls::KeyType::EcdsaP256, "mallory", 1)
            .unwrap();
    let real_b = cfg_b.certificate.clone();
    cfg_b.certificate = mallory;
    let b = net.add(with_identity(cfg_b, ib));
    // the signalling still carries Bob's real fingerprint (the attacker does not control signalling)
    let real_fp = real_b
        .fingerprint(dtlsrtp_dtls::HashFunction::Sha256)
        .unwrap()
        .to_string();
    net.mangle = Some(Box::new(move |t: &mut dtlsrtp::Transmit| {
        if t.bytes.starts_with(b"SIP/2.0 200") || t.bytes.starts_with(b"SIP/2.0 183") {
            let s = String::from_utf8_lossy(&t.bytes).into_owned();
            let lines: Vec<String> = s
                .split("\r\n")
                .map(|l| {
                    if l.starts_with("a=fingerprint:") {
                        format!("a=fingerprint:{real_fp}")
                    } else {
                        l.to_owned()
                    }
                })
                .collect();
            t.bytes = lines.join("\r\n").into_bytes();
        }
    }));
    let now = net.now;
    let call_a = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    let now = net.now;
    let _ = net.ep(b).send_audio(now, cb, 0, 0, b"mitm audio");
    net.run_for(Duration::from_secs(40));
    let ea = net.take(a);
    assert!(
        has(&ea, |e| matches!(e, Event::FingerprintMismatch { .. })),
        "{ea:?}"
    );
    assert!(!has(&ea, |e| matches!(e, Event::Established { .. })));
    assert!(rtp_payloads(&ea).is_empty());
    assert!(!security(&ea).iter().any(|s| verified_as(s, "bob")));
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Terminated { call, reason: EndReason::FingerprintMismatch } if *call == call_a)
        ),
        "{ea:?}"
    );
}

/// F-8.4b, P-7b: Bob verifies Alice twice; the second time Alice's DTLS certificate is new: PeerKeyChanged.
/// The endpoint does no file I/O (issue 13 design item 3): a new peer is handed to the driver to store
/// ([`Event::StorePeerKeys`] with the configured path), and a Bob started from the stored cache
/// (`known_peers`, what the driver loads) recognises Alice's new key as a change on his first call.
#[test]
fn f_8_4b_continuity_known_peer_new_key_raises_event() {
    let path = std::path::PathBuf::from("/nonexistent/dtlsrtp-peer-keys.txt");
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let ib = pki.identity(&net, None, IdentityPolicy::Required);
    let mut ib1 = ib.clone();
    ib1.peer_keys = Some(path.clone());
    let a = net.add(with_identity(Net::config("alice", 5060, 1), ia.clone()));
    let b = net.add(with_identity(Net::config("bob", 5070, 2), ib1));
    let call = |net: &mut Net, a: usize, b: usize, bob: &str| {
        let now = net.now;
        net.ep(a).dial(now, bob, CallOptions::default()).unwrap();
        net.run();
        let cb = incoming(&net.take(b));
        let now = net.now;
        net.ep(b).answer(now, cb).unwrap();
        net.run();
        let eb = net.take(b);
        let now = net.now;
        net.ep(b).hangup(now, cb).unwrap();
        net.run();
        eb
    };
    let stored = |eb: &[Event]| {
        eb.iter()
            .filter_map(|e| match e {
                Event::StorePeerKeys { path, cache } => Some((path.clone(), cache.clone())),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let eb = call(&mut net, a, b, "sip:bob@127.0.0.1:5070");
    assert!(security(&eb).iter().any(|s| verified_as(s, "alice")));
    assert!(!has(&eb, |e| matches!(e, Event::PeerKeyChanged { .. })));
    let first = stored(&eb);
    assert_eq!(first.len(), 1, "a new peer is stored once: {eb:?}");
    assert_eq!(first[0].0, path, "at the configured path");
    assert!(first[0].1.to_text().contains("alice"));
    let eb = call(&mut net, a, b, "sip:bob@127.0.0.1:5070");
    assert!(
        !has(&eb, |e| matches!(e, Event::PeerKeyChanged { .. })),
        "same key: no event"
    );
    assert!(stored(&eb).is_empty(), "nothing new to store");
    // Alice again, same signing identity, a new DTLS certificate
    net.nodes.remove(a);
    let a2 = net.add(with_identity(Net::config("alice", 5060, 9), ia));
    let b = b - 1;
    let now = net.now;
    net.ep(a2)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    let eb = net.take(b);
    assert!(
        has(
            &eb,
            |e| matches!(e, Event::PeerKeyChanged { identity, .. } if identity.contains("alice"))
        ),
        "{eb:?}"
    );
    assert!(stored(&eb).is_empty(), "a changed key is not stored");
    let now = net.now;
    net.ep(b).hangup(now, cb).unwrap();
    net.run();
    // A second Bob started from the stored cache (no path: in memory only) knows Alice's first key.
    let mut ib2 = ib;
    ib2.known_peers = first[0].1.clone();
    let b2 = net.add(with_identity(Net::config("bob", 5080, 3), ib2));
    let eb = call(&mut net, a2, b2, "sip:bob@127.0.0.1:5080");
    assert!(
        has(
            &eb,
            |e| matches!(e, Event::PeerKeyChanged { identity, .. } if identity.contains("alice"))
        ),
        "{eb:?}"
    );
    assert!(
        stored(&eb).is_empty(),
        "no path configured: nothing to store"
    );
}

/// F-6.1: anonymous calls: `Privacy: id`, anonymous From, no Identity, and each call a fresh certificate
/// (different fingerprints) that names nobody (CN=anonymous, no subjectAltName), checked by parsing the
/// certificate Bob received in the handshake... here: the fingerprint in the SDP is of neither Alice's
/// configured certificate nor the previous call's.
#[test]
fn f_6_1_anonymous_calls_fresh_unlinkable_certificate_no_identifying_fields() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let ib = pki.identity(&net, None, IdentityPolicy::BestEffort);
    let cfg_a = with_identity(Net::config("alice", 5060, 1), ia);
    let own_fp = cfg_a
        .certificate
        .fingerprint(dtlsrtp_dtls::HashFunction::Sha256)
        .unwrap()
        .to_string();
    let a = net.add(cfg_a);
    let b = net.add(with_identity(Net::config("bob", 5070, 2), ib));
    let mut fps = Vec::new();
    for _ in 0..2 {
        let start = net.log.len();
        let now = net.now;
        let ca = net
            .ep(a)
            .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::anonymous())
            .unwrap();
        net.run();
        let invite = net.log[start..]
            .iter()
            .find(|(_, _, b)| b.starts_with(b"INVITE "))
            .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
            .unwrap();
        assert!(invite.contains("\r\nPrivacy: id\r\n"), "{invite}");
        assert!(invite.contains("anonymous.invalid"), "{invite}");
        assert!(!invite.contains("\r\nIdentity:"), "{invite}");
        assert!(
            !invite.contains("alice"),
            "nothing names the caller: {invite}"
        );
        let fp = invite
            .split("\r\n")
            .find_map(|l| l.strip_prefix("a=fingerprint:"))
            .unwrap()
            .to_owned();
        assert_ne!(fp, own_fp);
        fps.push(fp);
        let cb = incoming(&net.take(b));
        let now = net.now;
        net.ep(b).answer(now, cb).unwrap();
        net.run();
        let ea = net.take(a);
        assert!(
            has(&ea, |e| matches!(e, Event::Established { .. })),
            "{ea:?}"
        );
        // a renewed association (new tls-id, new port) keeps the call's anonymous certificate
        let start = net.log.len();
        let now = net.now;
        net.ep(a).rekey(now, ca).unwrap();
        net.run();
        let reinvite = net.log[start..]
            .iter()
            .find(|(_, _, b)| b.starts_with(b"INVITE "))
            .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
            .unwrap();
        let refp = reinvite
            .split("\r\n")
            .find_map(|l| l.strip_prefix("a=fingerprint:"))
            .unwrap();
        assert_eq!(refp, fps.last().unwrap(), "{reinvite}");
        assert!(has(&net.take(a), |e| matches!(
            e,
            Event::Modified { renewed: true, .. }
        )));
        let now = net.now;
        net.ep(a).hangup(now, ca).unwrap();
        net.run();
        net.take(b);
    }
    assert_ne!(
        fps[0], fps[1],
        "each anonymous call has its own certificate"
    );
    // the anonymous certificate itself: CN=anonymous, no subjectAltName
    let c = dtlsrtp_dtls::Certificate::anonymous(dtlsrtp_dtls::KeyType::EcdsaP256).unwrap();
    let x = X509::from_der(c.der()).unwrap();
    let cn: Vec<String> = x
        .subject_name()
        .entries()
        .map(|e| String::from_utf8(e.data().as_slice().to_vec()).unwrap())
        .collect();
    assert_eq!(cn, vec!["anonymous".to_owned()]);
    assert!(x.subject_alt_names().is_none());
}

/// A NAT in front of Alice's media sockets (5160..5170): inbound datagrams are dropped until Alice sent one
/// to that remote address from that socket (an outbound packet opens the pinhole). `suppress_stun` also
/// drops Alice's STUN requests (the negative control: no §6.7.2 check). Returns the counters
/// (inbound dropped, STUN requests Alice sent).
fn nat_in_front_of_alice(
    net: &mut Net,
    suppress_stun: bool,
) -> std::rc::Rc<std::cell::RefCell<(usize, usize)>> {
    use std::cell::RefCell;
    use std::collections::HashSet;
    use std::rc::Rc;
    let counters = Rc::new(RefCell::new((0usize, 0usize)));
    let c = counters.clone();
    let alice_media = |a: std::net::SocketAddr| (5160..5170).contains(&a.port());
    let mut open: HashSet<(std::net::SocketAddr, std::net::SocketAddr)> = HashSet::new();
    net.drop_filter = Some(Box::new(move |t: &dtlsrtp::Transmit| {
        if alice_media(t.local) {
            let stun_request = t.bytes.len() >= 20 && t.bytes[0] == 0 && t.bytes[1] == 1;
            if stun_request {
                c.borrow_mut().1 += 1;
                if suppress_stun {
                    return true;
                }
            }
            open.insert((t.local, t.remote));
            return false;
        }
        if alice_media(t.remote) && !open.contains(&(t.remote, t.local)) {
            c.borrow_mut().0 += 1;
            return true;
        }
        false
    }));
    counters
}

/// §7.3 (requirements §4.3), E2E-7.3, F-6.7.2a-c: no ICE, Alice (passive) behind a NAT. Bob's first
/// ClientHello is dropped; on the 200 Alice, whose handshake has not completed, sends exactly one STUN
/// Binding request to Bob's media address (after the 200), which opens the pinhole; Bob answers it; his
/// retransmitted ClientHello passes and the handshake completes; media flows.
#[test]
fn e2e_7_3_f_6_7_2_stun_check_opens_nat_pinhole_retransmitted_client_hello_completes() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let counters = nat_in_front_of_alice(&mut net, false);
    let now = net.now;
    let call_a = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    run_real_time(&mut net, 12);
    let (dropped, stun_sent) = *counters.borrow();
    assert!(
        dropped >= 1,
        "Bob's first ClientHello was dropped by the NAT"
    );
    assert_eq!(stun_sent, 1, "exactly one STUN Binding request");
    let is_200_invite = |b: &[u8]| {
        b.starts_with(b"SIP/2.0 200") && String::from_utf8_lossy(b).contains(" INVITE\r\n")
    };
    let ok_at = net
        .log
        .iter()
        .position(|(_, _, b)| is_200_invite(b))
        .unwrap();
    let stun_at = net
        .log
        .iter()
        .position(|(f, _, b)| {
            (5160..5170).contains(&f.port()) && b.len() >= 20 && b[0] == 0 && b[1] == 1
        })
        .unwrap();
    assert!(ok_at < stun_at, "the STUN request follows the 200");
    let stun_response = net
        .log
        .iter()
        .any(|(f, _, b)| f.port() >= 5170 && b.len() >= 20 && b[0] == 1 && b[1] == 1);
    assert!(
        stun_response,
        "Bob answered the Binding request without ICE (F-6.7.2b)"
    );
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Established { call, .. } if *call == call_a)
        ),
        "{ea:?}"
    );
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::Established { .. }
    )));
    let now = net.now;
    net.ep(b)
        .send_audio(now, cb, 0, 0, b"through the NAT")
        .unwrap();
    net.run();
    assert_eq!(rtp_payloads(&net.take(a)).len(), 1);
}

/// DTLS retransmissions run on OpenSSL's own (real) clock: advance the network in real time, `rounds` × 60 ms.
#[allow(clippy::disallowed_methods)] // OpenSSL's DTLS timer reads the real clock
fn run_real_time(net: &mut Net, rounds: usize) {
    for _ in 0..rounds {
        std::thread::sleep(Duration::from_millis(60));
        net.now = net.now.max(std::time::Instant::now());
        let now = net.now;
        for n in &mut net.nodes {
            n.ep.handle_timeout(now);
        }
        net.run();
    }
}

/// E2E-7.3 negative control: the same NAT, Alice's STUN request suppressed: Bob's ClientHellos never get
/// through, no handshake completes and the call is never established.
#[test]
fn e2e_7_3_negative_control_without_stun_check_the_handshake_times_out() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let counters = nat_in_front_of_alice(&mut net, true);
    let now = net.now;
    net.ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    run_real_time(&mut net, 12);
    let (dropped, stun_sent) = *counters.borrow();
    assert_eq!(stun_sent, 1, "the check was attempted (and suppressed)");
    assert!(
        dropped >= 3,
        "the ClientHello and its retransmissions dropped: {dropped}"
    );
    // past the handshake limit (simulated time): the association fails
    net.run_for(Duration::from_secs(120));
    assert!(net
        .ep(b)
        .stats(cb)
        .is_none_or(|s| s.associations.is_empty()));
    let ea = net.take(a);
    let eb = net.take(b);
    assert!(
        !has(&ea, |e| matches!(
            e,
            Event::DtlsConnected { .. } | Event::Established { .. }
        )),
        "{ea:?}"
    );
    assert!(
        !has(&eb, |e| matches!(
            e,
            Event::DtlsConnected { .. } | Event::Established { .. }
        )),
        "{eb:?}"
    );
}

/// §7.1 as drawn: the proxy is Alice's authentication service (message 2 gains the Identity header there;
/// Alice's own INVITE, message 1, has none). Bob verifies it (Required), the call comes up, and Bob's
/// connected-identity UPDATE (§7.2, end to end: no Record-Route) makes Alice's state "verified bob".
#[test]
fn e2e_7_1_proxy_is_alices_authentication_service_then_7_2_connected_identity() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let proxy_signer = pki.signer("alice-as");
    let ia = pki.identity(&net, None, IdentityPolicy::BestEffort);
    let ib = pki.identity(&net, Some("bob"), IdentityPolicy::Required);
    let a = net.add(with_identity(Net::config("alice", 5060, 1), ia));
    let b = net.add(with_identity(Net::config("bob", 5070, 2), ib));
    let mut p = proxy::Proxy::new(addr(5090), vec![addr(5070)]);
    let clock = NOW;
    p.on_invite = Some(Box::new(move |msg: &str| {
        let from = angle_uri(msg, "From:");
        let to = angle_uri(msg, "To:");
        let fps: Vec<(String, Vec<u8>)> = msg
            .split("\r\n")
            .filter_map(|l| l.strip_prefix("a=fingerprint:"))
            .map(|v| v.parse::<dtlsrtp_sdp::Fingerprint>().unwrap())
            .map(|f| (f.hash().name().to_owned(), f.digest().to_vec()))
            .collect();
        assert!(!fps.is_empty());
        let facts = dtlsrtp_sip::identity::RequestFacts {
            from: &from,
            to: &to,
            date: None,
            fingerprints: &fps,
        };
        let h = proxy_signer.sign(&facts, clock).unwrap();
        msg.replacen("\r\n", &format!("\r\nIdentity: {h}\r\n"), 1)
    }));
    net.proxy = Some(p);
    let now = net.now;
    let call_a = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5090", CallOptions::default())
        .unwrap();
    net.run();
    let invites: Vec<String> = net
        .log
        .iter()
        .filter(|(_, _, b)| b.starts_with(b"INVITE "))
        .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(invites.len(), 2, "(1) Alice → proxy, (2) proxy → Bob");
    assert!(!invites[0].contains("\r\nIdentity:"), "(1) unsigned");
    assert!(
        invites[1].contains("\r\nIdentity:"),
        "(2) signed by the proxy"
    );
    let eb = net.take(b);
    let cb = incoming(&eb);
    let now = net.now;
    net.ep(b).early_media(now, cb).unwrap();
    net.run();
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    let eb = net.take(b);
    assert!(
        security(&eb).iter().any(|s| verified_as(s, "alice")),
        "{eb:?}"
    );
    let ea = net.take(a);
    assert!(has(
        &ea,
        |e| matches!(e, Event::Established { call, .. } if *call == call_a)
    ));
    let sa = security(&ea);
    assert_eq!(
        sa.first(),
        Some(&CallSecurityState::EncryptedUnauthenticated),
        "before the UPDATE: {sa:?}"
    );
    assert!(sa.iter().any(|s| verified_as(s, "bob")), "{sa:?}");
    assert_eq!(sas(&ea), sas(&eb));
}
