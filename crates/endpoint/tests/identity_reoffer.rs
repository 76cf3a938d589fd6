//! Issue 12 items 3 and 6: a re-INVITE that swaps the peer's fingerprint is an identity event (RFC 5763 §8,
//! RFC 8224 §12.1), in both directions and under both policies; continuity sees a key added next to the old
//! one; a compact-form PASSporT verifies with the request's Date (RFC 8224 §7.3, RFC 8225 §7).
//! Requirement IDs: R-4 (the identity-on-re-offer rule), F-8.4b, F-8.5, F-8.6a/b, I-2, I-3.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::pki::*;
use common::*;
use dtlsrtp::{CallId, CallOptions, CallSecurityState, Event, IdentityPolicy};
use dtlsrtp_sip::identity::AuthService;

const ALICE_SIP: u16 = 5060;
const BOB_SIP: u16 = 5070;

/// Mallory's fingerprint: a certificate nobody in the call holds.
fn mallory_fp() -> String {
    dtlsrtp_dtls::Certificate::generate(dtlsrtp_dtls::KeyType::EcdsaP256, "mallory", 1)
        .unwrap()
        .fingerprint(dtlsrtp_dtls::HashFunction::Sha256)
        .unwrap()
        .to_string()
}

fn is_reinvite(b: &[u8]) -> bool {
    if !b.starts_with(b"INVITE ") {
        return false;
    }
    let s = String::from_utf8_lossy(b);
    s.split("\r\n")
        .any(|l| l.starts_with("To:") && l.contains(";tag="))
}

/// A signalling-path attacker's rewrite of a re-offer: its own fingerprint and media address (a port
/// nobody owns; same number of digits so the body length stays).
fn hijack(msg: &str, fp: &str) -> String {
    msg.split("\r\n")
        .map(|l| {
            if l.starts_with("a=fingerprint:") {
                format!("a=fingerprint:{fp}")
            } else if let Some(rest) = l.strip_prefix("m=audio ") {
                let tail = rest.split_once(' ').map_or("", |x| x.1);
                format!("m=audio 6666 {tail}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

struct Setup {
    net: Net,
    a: usize,
    b: usize,
    call_a: CallId,
    call_b: CallId,
    alice_signer: Arc<AuthService>,
    /// The SAS both ends showed at set-up.
    sas0: String,
}

/// Alice calls Bob, both sign; Bob verifies Alice from the INVITE, Alice verifies Bob from his RFC 4916
/// UPDATE: both show "encrypted to verified …".
fn verified_call(policy_a: IdentityPolicy, policy_b: IdentityPolicy) -> Setup {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), policy_a);
    let ib = pki.identity(&net, Some("bob"), policy_b);
    let alice_signer = ia.signer.clone().unwrap();
    let a = net.add(with_identity(Net::config("alice", ALICE_SIP, 1), ia));
    let b = net.add(with_identity(Net::config("bob", BOB_SIP, 2), ib));
    let now = net.now;
    let call_a = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let call_b = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, call_b).unwrap();
    net.run();
    let ea = net.take(a);
    let eb = net.take(b);
    assert!(
        security(&eb).iter().any(|s| verified_as(s, "alice")),
        "{eb:?}"
    );
    assert!(
        security(&ea).iter().any(|s| verified_as(s, "bob")),
        "{ea:?}"
    );
    assert_eq!(sas(&ea), sas(&eb));
    let sas0 = sas(&eb).unwrap();
    Setup {
        net,
        a,
        b,
        call_a,
        call_b,
        alice_signer,
        sas0,
    }
}

fn key_changed(events: &[Event], who: &str) -> bool {
    has(
        events,
        |e| matches!(e, Event::PeerKeyChanged { identity, .. } if identity.contains(who)),
    )
}

/// Audio in both directions on the call's current association.
fn media_flows(s: &mut Setup) {
    let now = s.net.now;
    s.net
        .ep(s.a)
        .send_audio(now, s.call_a, 0, 0, b"a->b")
        .unwrap();
    s.net
        .ep(s.b)
        .send_audio(now, s.call_b, 0, 0, b"b->a")
        .unwrap();
    s.net.run();
    assert_eq!(rtp_payloads(&s.net.take(s.b)).len(), 1, "a -> b");
    assert_eq!(rtp_payloads(&s.net.take(s.a)).len(), 1, "b -> a");
}

/// Callee victim, BestEffort: a re-offer keeping the fingerprint changes nothing; the attacker's re-offer
/// (its fingerprint and address, no Identity covering them) drops Bob's call to "encrypted, unauthenticated
/// peer" with a new SAS, and emits Security and PeerKeyChanged (RFC 5763 §8).
#[test]
fn f_8_6a_i_2_reoffer_swapped_fingerprint_callee_victim_unauthenticated_new_sas() {
    let mut s = verified_call(IdentityPolicy::BestEffort, IdentityPolicy::BestEffort);
    // a legitimate re-offer (same keys): no identity event
    let now = s.net.now;
    s.net.ep(s.a).reinvite(now, s.call_a).unwrap();
    s.net.run();
    let eb = s.net.take(s.b);
    assert!(has(&eb, |e| matches!(e, Event::Modified { .. })), "{eb:?}");
    assert!(security(&eb).is_empty(), "{eb:?}");
    assert!(!has(&eb, |e| matches!(e, Event::PeerKeyChanged { .. })));
    s.net.take(s.a);
    // the attacker rewrites the next one
    let fp = mallory_fp();
    s.net.mangle = Some(Box::new(move |t: &mut dtlsrtp::Transmit| {
        if t.local.port() == ALICE_SIP && is_reinvite(&t.bytes) {
            t.bytes = hijack(&String::from_utf8_lossy(&t.bytes), &fp).into_bytes();
        }
    }));
    let now = s.net.now;
    s.net.ep(s.a).reinvite(now, s.call_a).unwrap();
    s.net.run();
    let eb = s.net.take(s.b);
    let sb = security(&eb);
    assert_eq!(
        sb.last(),
        Some(&CallSecurityState::EncryptedUnauthenticated),
        "{eb:?}"
    );
    assert!(!sb.iter().any(|x| verified_as(x, "alice")), "{sb:?}");
    assert!(key_changed(&eb, "alice"), "{eb:?}");
    assert_ne!(sas(&eb).unwrap(), s.sas0, "the SAS is recomputed");
}

/// Callee victim, Required: the attacker's re-offer is refused (488: no Identity covers the new
/// fingerprints); Bob's state, SAS and association are untouched and media continues.
#[test]
fn f_8_6b_i_2_reoffer_swapped_fingerprint_callee_victim_required_488_old_association() {
    let mut s = verified_call(IdentityPolicy::BestEffort, IdentityPolicy::Required);
    let before = s.net.ep(s.b).stats(s.call_b).unwrap().forks;
    let fp = mallory_fp();
    s.net.mangle = Some(Box::new(move |t: &mut dtlsrtp::Transmit| {
        if t.local.port() == ALICE_SIP && is_reinvite(&t.bytes) {
            t.bytes = hijack(&String::from_utf8_lossy(&t.bytes), &fp).into_bytes();
        }
    }));
    let start = s.net.log.len();
    let now = s.net.now;
    s.net.ep(s.a).reinvite(now, s.call_a).unwrap();
    s.net.run();
    let refused = s.net.log[start..].iter().any(|(f, _, b)| {
        f.port() == BOB_SIP
            && b.starts_with(b"SIP/2.0 488")
            && String::from_utf8_lossy(b).contains(" INVITE\r\n")
    });
    assert!(refused, "Bob answers the re-offer 488");
    let eb = s.net.take(s.b);
    assert!(security(&eb).is_empty(), "{eb:?}");
    assert!(!has(&eb, |e| matches!(
        e,
        Event::PeerKeyChanged { .. } | Event::Modified { .. }
    )));
    let ea = s.net.take(s.a);
    assert!(
        has(&ea, |e| matches!(
            e,
            Event::ModifyFailed { status: 488, .. }
        )),
        "{ea:?}"
    );
    s.net.mangle = None;
    assert_eq!(s.net.ep(s.b).stats(s.call_b).unwrap().forks, before);
    media_flows(&mut s);
}

/// Caller victim, BestEffort: Alice verified Bob through his RFC 4916 UPDATE; the attacker rewrites Bob's
/// re-offer: Alice drops to unauthenticated, new SAS, Security and PeerKeyChanged.
#[test]
fn f_8_6a_i_3_reoffer_swapped_fingerprint_caller_victim_unauthenticated_new_sas() {
    let mut s = verified_call(IdentityPolicy::BestEffort, IdentityPolicy::BestEffort);
    let fp = mallory_fp();
    s.net.mangle = Some(Box::new(move |t: &mut dtlsrtp::Transmit| {
        if t.local.port() == BOB_SIP && is_reinvite(&t.bytes) {
            t.bytes = hijack(&String::from_utf8_lossy(&t.bytes), &fp).into_bytes();
        }
    }));
    let now = s.net.now;
    s.net.ep(s.b).reinvite(now, s.call_b).unwrap();
    s.net.run();
    let ea = s.net.take(s.a);
    let sa = security(&ea);
    assert_eq!(
        sa.last(),
        Some(&CallSecurityState::EncryptedUnauthenticated),
        "{ea:?}"
    );
    assert!(key_changed(&ea, "bob"), "{ea:?}");
    assert_ne!(sas(&ea).unwrap(), s.sas0, "the SAS is recomputed");
}

/// Caller victim, Required: refused with 488, Alice's state and association untouched, media continues.
#[test]
fn f_8_6b_i_3_reoffer_swapped_fingerprint_caller_victim_required_488_old_association() {
    let mut s = verified_call(IdentityPolicy::Required, IdentityPolicy::BestEffort);
    let before = s.net.ep(s.a).stats(s.call_a).unwrap().forks;
    let fp = mallory_fp();
    s.net.mangle = Some(Box::new(move |t: &mut dtlsrtp::Transmit| {
        if t.local.port() == BOB_SIP && is_reinvite(&t.bytes) {
            t.bytes = hijack(&String::from_utf8_lossy(&t.bytes), &fp).into_bytes();
        }
    }));
    let start = s.net.log.len();
    let now = s.net.now;
    s.net.ep(s.b).reinvite(now, s.call_b).unwrap();
    s.net.run();
    assert!(s.net.log[start..]
        .iter()
        .any(|(f, _, b)| f.port() == ALICE_SIP && b.starts_with(b"SIP/2.0 488")));
    let ea = s.net.take(s.a);
    assert!(security(&ea).is_empty(), "{ea:?}");
    assert!(!has(&ea, |e| matches!(e, Event::PeerKeyChanged { .. })));
    s.net.take(s.b);
    s.net.mangle = None;
    assert_eq!(s.net.ep(s.a).stats(s.call_a).unwrap().forks, before);
    media_flows(&mut s);
}

/// RFC 8224 on the re-INVITE: a re-offer with new fingerprints whose Identity (Alice's authentication
/// service) covers them keeps the call verified as Alice, with the new SAS and a PeerKeyChanged.
#[test]
fn i_2_reoffer_new_fingerprint_with_covering_identity_stays_verified_new_sas() {
    let mut s = verified_call(IdentityPolicy::BestEffort, IdentityPolicy::Required);
    let fp = mallory_fp();
    let signer = s.alice_signer.clone();
    s.net.mangle = Some(Box::new(move |t: &mut dtlsrtp::Transmit| {
        if t.local.port() == ALICE_SIP && is_reinvite(&t.bytes) {
            let m = hijack(&String::from_utf8_lossy(&t.bytes), &fp);
            t.bytes = resign(&m, &signer, NOW, false).into_bytes();
        }
    }));
    let now = s.net.now;
    s.net.ep(s.a).reinvite(now, s.call_a).unwrap();
    s.net.run();
    let eb = s.net.take(s.b);
    let sb = security(&eb);
    assert!(sb.last().is_some_and(|x| verified_as(x, "alice")), "{eb:?}");
    assert!(key_changed(&eb, "alice"), "{eb:?}");
    assert_ne!(sas(&eb).unwrap(), s.sas0, "the SAS is recomputed");
    assert!(has(&eb, |e| matches!(e, Event::Modified { .. })), "{eb:?}");
}

/// F-8.4b continuity: Bob knows Alice's key from a first call; in the second call her (re-signed) INVITE
/// keeps that fingerprint and adds a sha-384 one (of her real certificate, so DTLS still verifies): a key
/// change, not a match.
#[test]
fn f_8_4b_continuity_known_peer_adding_new_hash_fingerprint_is_a_change() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let ib = pki.identity(&net, None, IdentityPolicy::Required);
    let signer = ia.signer.clone().unwrap();
    let cfg_a = Net::config("alice", ALICE_SIP, 1);
    let sha384 = cfg_a
        .certificate
        .fingerprint(dtlsrtp_dtls::HashFunction::Sha384)
        .unwrap()
        .to_string();
    let a = net.add(with_identity(cfg_a, ia));
    let b = net.add(with_identity(Net::config("bob", BOB_SIP, 2), ib));
    let call = |net: &mut Net| {
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
        let eb = net.take(b);
        let now = net.now;
        let _ = net.ep(a).hangup(now, ca);
        net.run();
        net.take(a);
        eb
    };
    let eb = call(&mut net);
    assert!(
        security(&eb).iter().any(|s| verified_as(s, "alice")),
        "{eb:?}"
    );
    assert!(!key_changed(&eb, "alice"));
    let extra = format!("a=fingerprint:{sha384}");
    net.mangle = Some(Box::new(move |t: &mut dtlsrtp::Transmit| {
        if t.bytes.starts_with(b"INVITE ") && !is_reinvite(&t.bytes) {
            let s = String::from_utf8_lossy(&t.bytes).into_owned();
            let i = s.find("a=fingerprint:").unwrap();
            let with = format!("{}{extra}\r\n{}", &s[..i], &s[i..]);
            let with = fix_content_length(&with);
            t.bytes = resign(&with, &signer, NOW, false).into_bytes();
        }
    }));
    let eb = call(&mut net);
    assert!(
        security(&eb).iter().any(|s| verified_as(s, "alice")),
        "{eb:?}"
    );
    assert!(key_changed(&eb, "alice"), "{eb:?}");
}

/// Issue 12 item 6: a compact-form PASSporT (RFC 8224 §7.3: `header..signature`, the payload rebuilt from
/// From, To, the SDP fingerprints and the Date header) verifies: Bob (Required) takes iat from Date.
#[test]
fn i_2_compact_form_passport_verifies_with_date_header() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let ib = pki.identity(&net, None, IdentityPolicy::Required);
    let signer = ia.signer.clone().unwrap();
    let a = net.add(with_identity(Net::config("alice", ALICE_SIP, 1), ia));
    let b = net.add(with_identity(Net::config("bob", BOB_SIP, 2), ib));
    net.mangle = Some(Box::new(move |t: &mut dtlsrtp::Transmit| {
        if t.bytes.starts_with(b"INVITE ") {
            let s = String::from_utf8_lossy(&t.bytes).into_owned();
            // Alice's Date is the network's start: NOW
            assert!(s.contains("\r\nDate: Fri, 15 Jan 2027 08:00:00 GMT\r\n"));
            t.bytes = resign(&s, &signer, NOW, true).into_bytes();
        }
    }));
    let now = net.now;
    net.ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let invite = net
        .log
        .iter()
        .find(|(_, to, b)| to.port() == BOB_SIP && b.starts_with(b"INVITE "))
        .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
        .unwrap();
    let identity = invite
        .split("\r\n")
        .find(|l| l.starts_with("Identity:"))
        .unwrap();
    assert!(identity.contains(".."), "compact form: {identity}");
    let eb = net.take(b);
    let cb = incoming(&eb);
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    let eb = net.take(b);
    assert!(
        security(&eb).iter().any(|s| verified_as(s, "alice")),
        "{eb:?}"
    );
}
