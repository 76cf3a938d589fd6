//! Digest credentials are bound to the server and realm they were configured for (issue 12 item 11): a
//! challenge for another realm, or one that did not come from the registrar / outbound proxy the request went
//! to, gets no credentials (the request fails with the challenge's status); MD5 without qop (RFC 2069) only
//! when allowed; SHA-256 preferred (RFC 8760 §2.4).
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

mod net;

use std::net::SocketAddr;

use dtlsrtp_sip::digest::{Challenge, Credentials};
use dtlsrtp_sip::ua::{EndReason, Event, RegisterConfig, TransportKind};
use dtlsrtp_sip::{HeaderName, Headers, Message, Response};
use net::*;

const OFFER: &[u8] = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

fn creds(realm: Option<&str>) -> Credentials {
    let mut c = Credentials::new("alice", "Circle of Life");
    c.realm = realm.map(Into::into);
    c
}

fn register(net: &mut Net, a: SocketAddr, c: Credentials) {
    let now = net.now;
    net.ua(a)
        .register(
            now,
            RegisterConfig {
                registrar: uri("sip:127.0.0.1:5070"),
                aor: uri("sip:alice@example.org"),
                expires: 3600,
                credentials: Some(c),
            },
        )
        .unwrap();
    net.run();
}

/// The last REGISTER `a` sent, parsed.
fn last_register(net: &Net, a: SocketAddr) -> dtlsrtp_sip::Request {
    let regs = net.sent(a, "REGISTER");
    let m = Message::parse(&regs.last().unwrap().bytes).unwrap();
    m.as_request().unwrap().clone()
}

/// A response to `a`'s last REGISTER from `from`: 401 with `chal`, or 200.
fn reply_register(net: &mut Net, a: SocketAddr, from: SocketAddr, chal: Option<&str>) {
    let req = last_register(net, a);
    let mut r =
        Response::from_request(&req, if chal.is_some() { 401 } else { 200 }, Some("reg")).unwrap();
    match chal {
        Some(c) => r.headers.add(HeaderName::WwwAuthenticate, c).unwrap(),
        None => r
            .headers
            .add(HeaderName::Contact, "<sip:alice@127.0.0.1:5001>;expires=60")
            .unwrap(),
    }
    net.inject(from, a, &r.to_bytes());
}

fn failed_with(ev: &[Event], status: u16) -> bool {
    has(
        ev,
        |e| matches!(e, Event::RegistrationFailed { status: s, .. } if *s == status),
    )
}

const EXAMPLE_SHA: &str =
    "Digest realm=\"example.org\", nonce=\"n1\", qop=\"auth\", algorithm=SHA-256";

#[test]
fn sec_digest_register_challenge_for_another_realm_gets_no_credentials() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    register(&mut net, a, creds(Some("example.org")));
    reply_register(
        &mut net,
        a,
        addr(5070),
        Some("Digest realm=\"evil.example\", nonce=\"n1\", qop=\"auth\", algorithm=SHA-256"),
    );
    let ev = net.take(a);
    assert!(failed_with(&ev, 401), "{ev:?}");
    assert_eq!(net.sent(a, "REGISTER").len(), 1, "no second REGISTER");
    assert!(last_register(&net, a)
        .headers
        .authorization()
        .next()
        .is_none());
}

#[test]
fn sec_digest_register_challenge_from_another_address_gets_no_credentials() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    register(&mut net, a, creds(Some("example.org")));
    // right realm, right transaction, but not from the registrar the REGISTER went to
    reply_register(&mut net, a, addr(5099), Some(EXAMPLE_SHA));
    let ev = net.take(a);
    assert!(failed_with(&ev, 401), "{ev:?}");
    assert_eq!(net.sent(a, "REGISTER").len(), 1, "no credentials sent");
}

#[test]
fn sec_digest_register_learns_the_registrars_realm_then_refuses_another() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    register(&mut net, a, creds(None));
    // no realm configured: the registrar's own first challenge names it
    reply_register(&mut net, a, addr(5070), Some(EXAMPLE_SHA));
    let regs = net.sent(a, "REGISTER");
    assert_eq!(regs.len(), 2);
    let second = last_register(&net, a);
    let auth = second.headers.authorization().next().unwrap();
    assert_eq!(auth.get("realm").as_deref(), Some("example.org"));
    assert_eq!(auth.get("algorithm").as_deref(), Some("SHA-256"));
    reply_register(&mut net, a, addr(5070), None);
    assert!(has(&net.take(a), |e| matches!(e, Event::Registered { .. })));
    // the refresh is challenged for another realm: not answered
    net.advance_by(
        std::time::Duration::from_secs(52),
        std::time::Duration::from_secs(1),
    );
    assert!(net.sent(a, "REGISTER").len() >= 3, "the refresh went out");
    let before = net.sent(a, "REGISTER").len();
    reply_register(
        &mut net,
        a,
        addr(5070),
        Some("Digest realm=\"other\", nonce=\"n2\", qop=\"auth\", algorithm=SHA-256"),
    );
    let ev = net.take(a);
    assert!(failed_with(&ev, 401), "{ev:?}");
    assert_eq!(
        net.sent(a, "REGISTER").len(),
        before,
        "no credentials for realm other"
    );
}

#[test]
fn sec_digest_md5_without_qop_refused_by_default_answered_when_allowed() {
    let legacy = "Digest realm=\"example.org\", nonce=\"n-2069\", algorithm=MD5";
    // default: refused, the registration fails with the challenge's status
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    register(&mut net, a, creds(Some("example.org")));
    reply_register(&mut net, a, addr(5070), Some(legacy));
    let ev = net.take(a);
    assert!(failed_with(&ev, 401), "{ev:?}");
    assert_eq!(net.sent(a, "REGISTER").len(), 1);
    // allowed: the RFC 2069 response (no qop, nc, cnonce)
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let mut c = creds(Some("example.org"));
    c.allow_legacy_digest = true;
    register(&mut net, a, c.clone());
    reply_register(&mut net, a, addr(5070), Some(legacy));
    let second = last_register(&net, a);
    let auth = second.headers.authorization().next().unwrap();
    assert!(auth.get("qop").is_none() && auth.get("cnonce").is_none());
    let mut h = Headers::new();
    h.add(HeaderName::WwwAuthenticate, legacy).unwrap();
    let ch = Challenge::from_params(h.www_authenticate().next().unwrap()).unwrap();
    let expected = ch.response(&c, "REGISTER", "sip:127.0.0.1:5070", "", 0);
    assert_eq!(auth.get("response").unwrap(), expected);
    reply_register(&mut net, a, addr(5070), None);
    assert!(has(&net.take(a), |e| matches!(e, Event::Registered { .. })));
}

/// Sends an INVITE from `a` to `target`, answers it from `from` with `status` and `chal`; returns the events.
fn challenge_invite(
    net: &mut Net,
    a: SocketAddr,
    target: &str,
    from: SocketAddr,
    status: u16,
    chal: &str,
) -> Vec<Event> {
    let now = net.now;
    net.ua(a)
        .call(now, &uri(target), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    let first = Message::parse(&net.sent(a, "INVITE").last().unwrap().bytes).unwrap();
    let first = first.as_request().unwrap();
    let mut r = Response::from_request(first, status, Some("p1")).unwrap();
    let name = if status == 407 {
        HeaderName::ProxyAuthenticate
    } else {
        HeaderName::WwwAuthenticate
    };
    r.headers.add(name, chal).unwrap();
    net.inject(from, a, &r.to_bytes());
    net.take(a)
}

fn rejected(ev: &[Event], status: u16) -> bool {
    has(
        ev,
        |e| matches!(e, Event::Terminated { reason: EndReason::Rejected(s), .. } if *s == status),
    )
}

#[test]
fn sec_digest_invite_401_from_a_peer_that_is_no_configured_server_gets_no_credentials() {
    let mut net = Net::new();
    let mut cfg = Net::config("alice", 5001);
    cfg.credentials = Some(creds(Some("example.org")));
    let a = net.add(cfg, 1);
    // direct call to a peer (neither outbound proxy nor registrar) that asks for our provider's realm
    let ev = challenge_invite(
        &mut net,
        a,
        "sip:bob@127.0.0.1:5090",
        addr(5090),
        401,
        EXAMPLE_SHA,
    );
    assert!(rejected(&ev, 401), "{ev:?}");
    assert_eq!(net.sent(a, "INVITE").len(), 1, "no INVITE with credentials");
}

#[test]
fn sec_digest_invite_407_through_the_proxy_for_a_foreign_realm_gets_no_credentials() {
    let mut net = Net::new();
    let mut cfg = Net::config("alice", 5001);
    cfg.credentials = Some(creds(Some("example.org")));
    cfg.outbound_proxy = Some((TransportKind::Udp, addr(5070)));
    let a = net.add(cfg, 1);
    let chal = "Digest realm=\"bob.example\", nonce=\"n\", qop=\"auth\", algorithm=SHA-256";
    let ev = challenge_invite(&mut net, a, "sip:bob@127.0.0.1:5070", addr(5070), 407, chal);
    assert!(rejected(&ev, 407), "{ev:?}");
    assert_eq!(net.sent(a, "INVITE").len(), 1);
    // the right realm from somewhere else than the proxy: refused too
    let ev = challenge_invite(
        &mut net,
        a,
        "sip:bob@127.0.0.1:5070",
        addr(5099),
        407,
        EXAMPLE_SHA,
    );
    assert!(rejected(&ev, 407), "{ev:?}");
    assert_eq!(net.sent(a, "INVITE").len(), 2, "two calls, no retry");
}

#[test]
fn sec_digest_invite_through_the_registrar_uses_the_realm_it_accepted() {
    let mut net = Net::new();
    let mut cfg = Net::config("alice", 5001);
    cfg.credentials = Some(creds(None));
    let a = net.add(cfg, 1);
    // without a registration, an unbound INVITE challenge is not answered
    let ev = challenge_invite(
        &mut net,
        a,
        "sip:bob@127.0.0.1:5070",
        addr(5070),
        407,
        EXAMPLE_SHA,
    );
    assert!(rejected(&ev, 407), "{ev:?}");
    register(&mut net, a, creds(None));
    reply_register(&mut net, a, addr(5070), Some(EXAMPLE_SHA));
    reply_register(&mut net, a, addr(5070), None);
    assert!(has(&net.take(a), |e| matches!(e, Event::Registered { .. })));
    // a downstream party's realm through the registrar: refused
    let chal = "Digest realm=\"bob.example\", nonce=\"n\", qop=\"auth\", algorithm=SHA-256";
    let ev = challenge_invite(&mut net, a, "sip:bob@127.0.0.1:5070", addr(5070), 401, chal);
    assert!(rejected(&ev, 401), "{ev:?}");
    let n = net.sent(a, "INVITE").len();
    // the registrar's realm: answered
    let ev = challenge_invite(
        &mut net,
        a,
        "sip:bob@127.0.0.1:5070",
        addr(5070),
        407,
        EXAMPLE_SHA,
    );
    assert!(
        !has(&ev, |e| matches!(e, Event::Terminated { .. })),
        "{ev:?}"
    );
    let invites = net.sent(a, "INVITE");
    assert_eq!(
        invites.len(),
        n + 2,
        "the INVITE and its retry with credentials"
    );
    let m = Message::parse(&invites.last().unwrap().bytes).unwrap();
    let auth = m
        .as_request()
        .unwrap()
        .headers
        .proxy_authorization()
        .next()
        .unwrap();
    assert_eq!(auth.get("realm").as_deref(), Some("example.org"));
}
