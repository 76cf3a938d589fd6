//! OPTIONS, bad requests and their status codes (dialogs untouched), a bounded INVITE flood, and REGISTER with
//! digest authentication (RFC 8760 / RFC 7616) refreshed before expiry.
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

mod net;

use std::time::Duration;

use dtlsrtp_sip::digest::{Challenge, Credentials};
use dtlsrtp_sip::ua::{EndReason, Event, RegisterConfig, TransportKind};
use dtlsrtp_sip::Message;
use net::*;

#[test]
fn options_answered_200_with_allow_accept_supported() {
    let mut net = Net::new();
    let b = net.add(Net::config("bob", 5002), 2);
    let x = addr(5009);
    net.inject(
        x,
        b,
        b"OPTIONS sip:bob@127.0.0.1:5002 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5009;branch=z9hG4bKopt1\r\n\
Max-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=x1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: opt1\r\n\
CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    );
    let r = net.log.iter().find(|w| w.from == b).unwrap();
    assert_eq!(r.first, "SIP/2.0 200 OK");
    let s = String::from_utf8_lossy(&r.bytes);
    assert!(
        s.contains("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, PRACK, UPDATE"),
        "{s}"
    );
    assert!(
        s.contains("Accept: application/sdp") && s.contains("Supported: 100rel"),
        "{s}"
    );
    let m = Message::parse(&r.bytes).unwrap();
    assert!(m.headers().to().unwrap().tag().is_some(), "To tag added");
}

#[test]
fn bad_requests_get_the_right_status_and_leave_dialogs_untouched() {
    let (mut net, a, b, ca, cb) = established();
    let x = addr(5009);
    let cases: Vec<(Vec<u8>, &str, Option<&str>)> = vec![
        (raw("INVITE", "m1", "Max-Forwards: 0\r\n", "", "").replace_mf(), "SIP/2.0 483", None),
        (raw("FOO", "m2", "", "", ""), "SIP/2.0 405", Some("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, PRACK, UPDATE")),
        (raw("INVITE", "m3", "Require: foo, 100rel\r\n", "", ""), "SIP/2.0 420", Some("Unsupported: foo")),
        (raw("INVITE", "m4", "Content-Type: text/plain\r\n", "", "hello"), "SIP/2.0 415", Some("Accept: application/sdp")),
        (raw("BYE", "m5", "", ";tag=nosuchdialog", ""), "SIP/2.0 481", None),
        (raw("UPDATE", "m6", "", "", ""), "SIP/2.0 481", None),
        (raw("CANCEL", "m7", "", "", ""), "SIP/2.0 481", None),
        (b"INVITE sip:bob@127.0.0.1:5002 SIP/7.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5009;branch=z9hG4bKm8\r\nFrom: <sip:x@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: v\r\nCSeq: 1 INVITE\r\n\r\n".to_vec(), "SIP/2.0 505", None),
        (b"INVITE sip:bob@127.0.0.1:5002 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5009;branch=z9hG4bKm9\r\nFrom: <sip:x@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: v\r\nCSeq: 1 INVITE\r\nContent-Length: 99999\r\n\r\n".to_vec(), "SIP/2.0 400", None),
    ];
    for (msg, status, header) in cases {
        let before = net.log.len();
        net.inject(x, b, &msg);
        let replies: Vec<_> = net.log[before..]
            .iter()
            .filter(|w| w.from == b && w.to == x)
            .collect();
        assert_eq!(
            replies.len(),
            1,
            "one reply to {:?}",
            String::from_utf8_lossy(&msg)
        );
        assert!(
            replies[0].first.starts_with(status),
            "{} for {:?}",
            replies[0].first,
            String::from_utf8_lossy(&msg)
        );
        if let Some(h) = header {
            assert!(
                String::from_utf8_lossy(&replies[0].bytes).contains(h),
                "{h} in {}",
                replies[0].first
            );
        }
    }
    assert!(
        !has(&net.take(b), |e| matches!(e, Event::IncomingCall { .. })),
        "no call from a bad request"
    );
    // an in-dialog BYE with an old CSeq gets 500 and leaves the dialog (and call) up
    let fork = net_fork(&mut net, a, ca);
    let d = net.ua(a).dialog(ca, fork).unwrap().clone();
    let stale = format!(
        "BYE sip:bob@127.0.0.1:5002 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5001;branch=z9hG4bKstale\r\n\
Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} BYE\r\nContent-Length: 0\r\n\r\n",
        d.local, d.remote, d.id.call_id, d.local_seq
    );
    let before = net.log.len();
    net.inject(a, b, stale.as_bytes());
    assert!(net.log[before..]
        .iter()
        .any(|w| w.from == b && w.first.starts_with("SIP/2.0 500")));
    assert_eq!(net.ua(b).call_count(), 1);
    // the dialog still works
    let now = net.now;
    net.ua(a).hangup(now, ca).unwrap();
    net.run();
    assert!(has(
        &net.take(b),
        |e| matches!(e, Event::Terminated { call, reason: EndReason::RemoteBye } if *call == cb)
    ));
}

/// A registrar that challenges with Digest (SHA-256 or MD5, qop=auth), checks the answer independently and
/// grants 60 s.
fn registrar_reply(req: &[u8], alg: &str, nonce: &str, password: &str) -> Vec<u8> {
    let m = Message::parse(req).unwrap();
    let r = m.as_request().unwrap();
    let auth = r.headers.authorization().next();
    let status = match auth {
        None => 401,
        Some(a) => {
            let mut h = dtlsrtp_sip::Headers::new();
            h.add(
                dtlsrtp_sip::HeaderName::WwwAuthenticate,
                &format!("Digest realm=\"example.org\", nonce=\"{nonce}\", qop=\"auth\", algorithm={alg}"),
            )
            .unwrap();
            let ch = Challenge::from_params(h.www_authenticate().next().unwrap()).unwrap();
            let creds = Credentials::new("alice", password);
            let expected = ch.response(
                &creds,
                "REGISTER",
                &a.get("uri").unwrap(),
                &a.get("cnonce").unwrap(),
                u32::from_str_radix(&a.get("nc").unwrap(), 16).unwrap(),
            );
            assert_eq!(a.get("username").as_deref(), Some("alice"));
            assert_eq!(a.get("realm").as_deref(), Some("example.org"));
            assert_eq!(a.get("algorithm").as_deref(), Some(alg));
            if a.get("response").unwrap() == expected && a.get("nonce").as_deref() == Some(nonce) {
                200
            } else {
                401
            }
        }
    };
    let mut resp = dtlsrtp_sip::Response::from_request(r, status, Some("reg")).unwrap();
    if status == 401 {
        resp.headers
            .add(
                dtlsrtp_sip::HeaderName::WwwAuthenticate,
                &format!("Digest realm=\"example.org\", nonce=\"{nonce}\", qop=\"auth\", algorithm={alg}"),
            )
            .unwrap();
    } else {
        resp.headers
            .add(
                dtlsrtp_sip::HeaderName::Contact,
                "<sip:alice@127.0.0.1:5001>;expires=60",
            )
            .unwrap();
    }
    resp.to_bytes()
}

/// `fresh`: the registrar sends a new nonce in every challenge (as Kamailio does).
fn register_flow(alg: &str, password: &str, fresh: bool) -> (Net, Vec<Event>) {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let reg_addr = addr(5070);
    let now = net.now;
    net.ua(a)
        .register(
            now,
            RegisterConfig {
                registrar: uri("sip:127.0.0.1:5070"),
                aor: uri("sip:alice@example.org"),
                expires: 3600,
                credentials: Some(Credentials::new("alice", "Circle of Life")),
            },
        )
        .unwrap();
    // drive the registrar by hand: every REGISTER to it gets a reply
    for _ in 0..4 {
        net.run();
        let reqs: Vec<Vec<u8>> = net
            .log
            .iter()
            .filter(|w| w.to == reg_addr && w.first.starts_with("REGISTER"))
            .map(|w| w.bytes.clone())
            .collect();
        let answered = net.log.iter().filter(|w| w.from == reg_addr).count();
        for req in reqs.iter().skip(answered) {
            let nonce = if fresh {
                format!("nonce-{}", net.log.len())
            } else {
                "nonce-1".to_owned()
            };
            let reply = registrar_reply(req, alg, &nonce, password);
            net.inject(reg_addr, a, &reply);
        }
    }
    let ev = net.take(a);
    (net, ev)
}

#[test]
fn register_with_401_digest_sha256_and_md5_then_refresh() {
    for alg in ["SHA-256", "MD5"] {
        let (mut net, ev) = register_flow(alg, "Circle of Life", false);
        assert!(
            has(&ev, |e| matches!(e, Event::Registered { expires: 60, .. })),
            "{alg}: {ev:?}"
        );
        let regs = net.sent(addr(5001), "REGISTER");
        assert_eq!(regs.len(), 2, "challenge then credentials");
        let second = String::from_utf8_lossy(&regs[1].bytes).into_owned();
        assert!(
            second.contains("Authorization: Digest username=\"alice\""),
            "{second}"
        );
        assert!(
            second.contains("qop=auth") && second.contains("nc=00000001"),
            "{second}"
        );
        assert_ne!(regs[0].cseq, regs[1].cseq, "CSeq incremented");
        // refresh before expiry: at 85 % of 60 s
        net.advance_by(Duration::from_secs(50), Duration::from_secs(1));
        assert_eq!(
            net.sent(addr(5001), "REGISTER").len(),
            2,
            "no refresh before 51 s"
        );
        net.advance_by(Duration::from_secs(2), Duration::from_secs(1));
        let regs = net.sent(addr(5001), "REGISTER");
        let mut cseqs: Vec<&str> = regs.iter().map(|w| w.cseq.as_str()).collect();
        cseqs.dedup();
        assert_eq!(
            cseqs.len(),
            3,
            "refresh sent at 51 s (then retransmitted: no registrar now)"
        );
        assert!(String::from_utf8_lossy(&regs[2].bytes).contains("nc=00000002"));
    }
}

#[test]
fn register_with_wrong_password_fails_after_one_retry() {
    for fresh in [false, true] {
        let (net, ev) = register_flow("SHA-256", "another password", fresh);
        assert!(
            has(&ev, |e| matches!(
                e,
                Event::RegistrationFailed { status: 401, .. }
            )),
            "{ev:?}"
        );
        assert_eq!(
            net.sent(addr(5001), "REGISTER").len(),
            2,
            "same nonce is not answered twice"
        );
    }
}

#[test]
fn flood_of_bogus_invites_bounded_by_max_calls_and_call_survives() {
    let (mut net, a, b, ca, cb) = established();
    let x = addr(5009);
    let max = net.ua(b).config().max_calls;
    for i in 0..(max + 200) {
        net.inject(x, b, &raw("INVITE", &format!("flood{i}"), "", "", ""));
    }
    assert_eq!(net.ua(b).call_count(), max, "bounded");
    let busy = net
        .log
        .iter()
        .filter(|w| w.from == b && w.to == x && w.first.starts_with("SIP/2.0 503"))
        .count();
    assert_eq!(busy, 201, "the established call holds one slot");
    let now = net.now;
    net.ua(a).hangup(now, ca).unwrap();
    net.run();
    assert!(has(
        &net.take(b),
        |e| matches!(e, Event::Terminated { call, reason: EndReason::RemoteBye } if *call == cb)
    ));
}

#[test]
fn invite_challenged_with_407_is_resent_with_proxy_authorization() {
    let mut net = Net::new();
    let mut cfg = Net::config("alice", 5001);
    // issue 12 item 11: credentials for INVITEs go to the configured outbound proxy, for their realm
    let mut creds = Credentials::new("alice", "pw");
    creds.realm = Some("example.org".into());
    cfg.credentials = Some(creds);
    cfg.outbound_proxy = Some((TransportKind::Udp, addr(5070)));
    let a = net.add(cfg, 1);
    let p = addr(5070); // a proxy played by hand
    let now = net.now;
    let ca = net
        .ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5070"), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    let first = Message::parse(&net.sent(a, "INVITE")[0].bytes).unwrap();
    let first = first.as_request().unwrap();
    let mut r407 = dtlsrtp_sip::Response::from_request(first, 407, Some("p1")).unwrap();
    let chal = "Digest realm=\"example.org\", nonce=\"n-407\", qop=\"auth\", algorithm=SHA-256";
    r407.headers
        .add(dtlsrtp_sip::HeaderName::ProxyAuthenticate, chal)
        .unwrap();
    net.inject(p, a, &r407.to_bytes());
    // the 407 is ACKed by the transaction, the INVITE goes again with credentials
    assert_eq!(net.sent(a, "ACK").len(), 1);
    let invites = net.sent(a, "INVITE");
    assert_eq!(invites.len(), 2);
    let second = Message::parse(&invites[1].bytes).unwrap();
    let second = second.as_request().unwrap();
    assert_eq!(
        second.headers.cseq().unwrap().seq,
        first.headers.cseq().unwrap().seq + 1
    );
    assert_ne!(
        second.headers.top_via().unwrap().branch(),
        first.headers.top_via().unwrap().branch()
    );
    assert_eq!(second.body, OFFER);
    let cred = second.headers.proxy_authorization().next().unwrap();
    let mut h = dtlsrtp_sip::Headers::new();
    h.add(dtlsrtp_sip::HeaderName::ProxyAuthenticate, chal)
        .unwrap();
    let ch = Challenge::from_params(h.proxy_authenticate().next().unwrap()).unwrap();
    let creds = Credentials::new("alice", "pw");
    let expected = ch.response(
        &creds,
        "INVITE",
        "sip:bob@127.0.0.1:5070",
        &cred.get("cnonce").unwrap(),
        1,
    );
    assert_eq!(cred.get("response").unwrap(), expected);
    assert!(!has(&net.take(a), |e| matches!(
        e,
        Event::Terminated { .. }
    )));
    // answered through the proxy
    let mut ok = dtlsrtp_sip::Response::from_request(second, 200, Some("b1")).unwrap();
    ok.headers
        .add(dtlsrtp_sip::HeaderName::Contact, "<sip:bob@127.0.0.1:5002>")
        .unwrap();
    ok.set_body(Some("application/sdp"), ANSWER.to_vec())
        .unwrap();
    net.inject(p, a, &ok.to_bytes());
    assert!(has(
        &net.take(a),
        |e| matches!(e, Event::Answered { call, .. } if *call == ca)
    ));
    // the challenged transaction's end (Timer D) does not end the call; the live one's end (Timer M) says
    // NoMoreAnswers once
    net.advance_by(Duration::from_secs(33), Duration::from_millis(500));
    let ev = net.take(a);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Event::NoMoreAnswers { .. }))
            .count(),
        1,
        "{ev:?}"
    );
    assert!(
        !has(&ev, |e| matches!(e, Event::Terminated { .. })),
        "{ev:?}"
    );
    assert_eq!(net.ua(a).call_count(), 1);
}

#[test]
fn pipelined_requests_in_one_tcp_chunk_are_all_answered() {
    let mut net = Net::new();
    let mut cfg = Net::config("bob", 5002);
    cfg.local = vec![(TransportKind::Tcp, addr(5002))];
    let b = net.add(cfg, 2);
    let x = addr(5009);
    let mut chunk = b"\r\n\r\n".to_vec(); // a keep-alive ping first (RFC 5626)
    for i in 0..1500 {
        chunk.extend(raw("OPTIONS", &format!("p{i}"), "", "", ""));
    }
    let now = net.now;
    net.ua(b).handle_stream(now, TransportKind::Tcp, x, &chunk);
    let mut oks = 0;
    let mut pongs = 0;
    while let Some(t) = net.ua(b).poll_transmit() {
        assert_eq!((t.transport, t.remote), (TransportKind::Tcp, x));
        if t.bytes == b"\r\n" {
            pongs += 1;
        } else if t.bytes.starts_with(b"SIP/2.0 200") {
            oks += 1;
        }
    }
    assert_eq!((pongs, oks), (1, 1500));
}
