//! The UA's hooks for SIP Identity (issue 8): extra header fields and the anonymous form on our INVITE
//! (`call_with`) and in-dialog UPDATE (`modify_with`), and `peer_request` exposing the peer's INVITE/UPDATE
//! (Identity, From, To, body) to the verification service.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Instant;

use dtlsrtp_sip::ua::{Config, Event, ModifyKind, RequestExtras, UserAgent};
use dtlsrtp_sip::{HeaderName, Method};

fn addr(p: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], p))
}

/// Delivers every transmit between the two UAs until quiet; returns the events and the wire log.
fn shuttle(now: Instant, uas: &mut [UserAgent; 2], log: &mut Vec<String>) -> [Vec<Event>; 2] {
    let addrs = [addr(5060), addr(5070)];
    let mut ev = [Vec::new(), Vec::new()];
    for _ in 0..50 {
        let mut moved = false;
        for i in 0..2 {
            while let Some(t) = uas[i].poll_transmit() {
                moved = true;
                log.push(String::from_utf8_lossy(&t.bytes).into_owned());
                uas[1 - i].handle_datagram(now, addrs[i], &t.bytes);
            }
            while let Some(e) = uas[i].poll_event() {
                moved = true;
                ev[i].push(e);
            }
        }
        if !moved {
            break;
        }
    }
    ev
}

const IDENTITY: &str = "aGVhZGVy.cGF5bG9hZA.c2ln;info=<file:///tmp/c.pem>;alg=ES256;ppt=shaken";

#[test]
#[allow(clippy::disallowed_methods)] // the test's clock
fn call_with_and_modify_with_add_headers_anonymous_form_peer_request_exposes_them() {
    let now = Instant::now();
    let mut uas = [
        UserAgent::new(Config::new("alice", "127.0.0.1", addr(5060)), [1; 32]),
        UserAgent::new(Config::new("bob", "127.0.0.1", addr(5070)), [2; 32]),
    ];
    let mut log = Vec::new();
    let mut x = RequestExtras::new();
    x.anonymous = true;
    x.headers.push((HeaderName::Identity, IDENTITY.into()));
    x.headers
        .push((HeaderName::Supported, "100rel, from-change".into()));
    let target = "sip:bob@127.0.0.1:5070".parse().unwrap();
    let call_a = uas[0]
        .call_with(now, &target, Some(b"v=0\r\n".to_vec()), &x)
        .unwrap();
    let ev = shuttle(now, &mut uas, &mut log);
    let invite = log.iter().find(|m| m.starts_with("INVITE ")).unwrap();
    assert!(invite.contains("\r\nPrivacy: id\r\n"), "{invite}");
    assert!(
        invite.contains("sip:anonymous@anonymous.invalid"),
        "{invite}"
    );
    assert!(!invite.contains("alice"), "no user name anywhere: {invite}");
    assert!(
        invite.contains(&format!("\r\nIdentity: {IDENTITY}\r\n")),
        "{invite}"
    );
    assert!(
        invite.contains("\r\nSupported: 100rel, from-change\r\n"),
        "{invite}"
    );
    let call_b = ev[1]
        .iter()
        .find_map(|e| match e {
            Event::IncomingCall { call, .. } => Some(*call),
            _ => None,
        })
        .unwrap();
    let req = uas[1].peer_request(call_b).unwrap();
    assert_eq!(req.method, Method::Invite);
    let ids: Vec<String> = req
        .headers
        .all(HeaderName::Identity)
        .map(|f| f.value())
        .collect();
    assert_eq!(ids, vec![IDENTITY.to_owned()]);
    assert_eq!(req.body, b"v=0\r\n");
    // the dialog works with the anonymous Contact: answer, then the callee's UPDATE with its own Identity
    uas[1]
        .answer(now, call_b, Some(b"v=0\r\n".to_vec()))
        .unwrap();
    shuttle(now, &mut uas, &mut log);
    let mut y = RequestExtras::new();
    y.headers.push((HeaderName::Identity, IDENTITY.into()));
    uas[1]
        .modify_with(
            now,
            call_b,
            ModifyKind::Update,
            Some(b"v=0\r\n".to_vec()),
            &y,
        )
        .unwrap();
    let ev = shuttle(now, &mut uas, &mut log);
    let update = log.iter().find(|m| m.starts_with("UPDATE ")).unwrap();
    assert!(
        update.contains(&format!("\r\nIdentity: {IDENTITY}\r\n")),
        "{update}"
    );
    assert!(
        ev[0]
            .iter()
            .any(|e| matches!(e, Event::ModifyRequest { call, .. } if *call == call_a)),
        "{:?}",
        ev[0]
    );
    let req = uas[0].peer_request(call_a).unwrap();
    assert_eq!(req.method, Method::Update);
    assert_eq!(req.headers.all(HeaderName::Identity).count(), 1);
    // an outgoing call with nothing pending from the peer: none
    assert!(uas[0].peer_request(dtlsrtp_sip::ua::CallId(999)).is_none());
}
