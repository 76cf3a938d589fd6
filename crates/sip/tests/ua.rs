//! UserAgent scenarios on a manual clock over an in-memory network (tests/net): calls, early media, forking through
//! a forking proxy, delayed offer, re-INVITE/UPDATE, glare, CANCEL, REGISTER with digest, bad requests, 2xx
//! retransmission. Requirement IDs from shared/spec/requirements.md in the test names (F-6.x, T-8a/b).
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

mod net;

use std::time::Duration;

use dtlsrtp_sip::digest::{Challenge, Credentials};
use dtlsrtp_sip::ua::{
    EndReason, Event, ModifyKind, OfferState, RegisterConfig, TransportKind, UaError,
};
use dtlsrtp_sip::{Message, SipUri};
use net::{addr, Net, Proxy};

const OFFER: &[u8] = b"v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\n";
const ANSWER: &[u8] = b"v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\n";

fn uri(s: &str) -> SipUri {
    SipUri::parse(s).unwrap()
}

fn incoming(ev: &[Event]) -> (dtlsrtp_sip::ua::CallId, Option<Vec<u8>>) {
    ev.iter()
        .find_map(|e| match e {
            Event::IncomingCall { call, offer, .. } => Some((*call, offer.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no IncomingCall in {ev:?}"))
}

fn has(ev: &[Event], f: impl Fn(&Event) -> bool) -> bool {
    ev.iter().any(f)
}

/// A calls B directly; returns (net, a, b, a's call, b's call) after the ACK.
fn established() -> (
    Net,
    std::net::SocketAddr,
    std::net::SocketAddr,
    dtlsrtp_sip::ua::CallId,
    dtlsrtp_sip::ua::CallId,
) {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let b = net.add(Net::config("bob", 5002), 2);
    let now = net.now;
    let ca = net
        .ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5002"), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    let (cb, offer) = incoming(&net.take(b));
    assert_eq!(offer.as_deref(), Some(OFFER));
    net.ua(b).answer(now, cb, Some(ANSWER.to_vec())).unwrap();
    net.run();
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Answered { call, body: Some(x), .. } if *call == ca && x == ANSWER)
        ),
        "{ea:?}"
    );
    let eb = net.take(b);
    assert!(
        has(
            &eb,
            |e| matches!(e, Event::AckReceived { call, body: None } if *call == cb)
        ),
        "{eb:?}"
    );
    (net, a, b, ca, cb)
}

#[test]
fn basic_call_ringing_ack_bye_udp() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let b = net.add(Net::config("bob", 5002), 2);
    let now = net.now;
    let ca = net
        .ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5002"), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    let (cb, _) = incoming(&net.take(b));
    net.ua(b).ring(now, cb, 180, None).unwrap();
    net.run();
    let ea = net.take(a);
    assert!(
        has(&ea, |e| matches!(
            e,
            Event::Provisional {
                status: 180,
                fork: Some(_),
                body: None,
                ..
            }
        )),
        "{ea:?}"
    );
    net.ua(b).answer(now, cb, Some(ANSWER.to_vec())).unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(e, Event::Answered { .. })));
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::AckReceived { .. }
    )));
    // the 200 carries Contact, Allow, Supported and Server; the INVITE carried User-Agent
    let ok = &net.sent(b, "SIP/2.0 200")[0];
    let ok = String::from_utf8_lossy(&ok.bytes);
    assert!(
        ok.contains("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, PRACK, UPDATE"),
        "{ok}"
    );
    assert!(
        ok.contains("Supported: 100rel") && ok.contains("Server: dtlsrtp/"),
        "{ok}"
    );
    assert!(
        String::from_utf8_lossy(&net.sent(a, "INVITE")[0].bytes).contains("User-Agent: dtlsrtp/")
    );
    // the ACK is a new transaction (own branch) with the INVITE's CSeq number
    let ack = &net.sent(a, "ACK")[0];
    let inv = &net.sent(a, "INVITE")[0];
    assert_eq!(ack.cseq.split(' ').next(), inv.cseq.split(' ').next());
    net.ua(a).hangup(now, ca).unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::Local,
            ..
        }
    )));
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::RemoteBye,
            ..
        }
    )));
    assert!(net
        .sent(b, "SIP/2.0 200")
        .last()
        .unwrap()
        .cseq
        .ends_with("BYE"));
    assert_eq!(net.ua(a).call_count() + net.ua(b).call_count(), 0);
    assert_eq!(net.ua(a).hangup(now, ca), Err(UaError::UnknownCall));
}

#[test]
fn basic_call_over_tcp_framed_by_content_length() {
    let mut net = Net::new();
    let mut ca_cfg = Net::config("alice", 5001);
    ca_cfg.local = vec![(TransportKind::Tcp, addr(5001))];
    let mut cb_cfg = Net::config("bob", 5002);
    cb_cfg.local = vec![(TransportKind::Tcp, addr(5002))];
    let a = net.add(ca_cfg, 1);
    let b = net.add(cb_cfg, 2);
    let now = net.now;
    let ca = net
        .ua(a)
        .call(
            now,
            &uri("sip:bob@127.0.0.1:5002;transport=tcp"),
            Some(OFFER.to_vec()),
        )
        .unwrap();
    net.run();
    let (cb, _) = incoming(&net.take(b));
    net.ua(b).answer(now, cb, Some(ANSWER.to_vec())).unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(e, Event::Answered { .. })));
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::AckReceived { .. }
    )));
    assert!(net.log.iter().all(|w| w.transport == TransportKind::Tcp));
    let inv = String::from_utf8_lossy(&net.sent(a, "INVITE")[0].bytes).into_owned();
    assert!(
        inv.contains("Via: SIP/2.0/TCP 127.0.0.1:5001;branch=z9hG4bK"),
        "{inv}"
    );
    assert!(
        inv.contains("Contact: <sip:alice@127.0.0.1:5001;transport=tcp>"),
        "{inv}"
    );
    // no retransmission of the 2xx on a reliable transport
    net.advance(Duration::from_secs(5));
    assert_eq!(net.sent(b, "SIP/2.0 200").len(), 1);
    net.ua(b).hangup(now, cb).unwrap();
    net.run();
    assert!(has(
        &net.take(a),
        |e| matches!(e, Event::Terminated { call, reason: EndReason::RemoteBye } if *call == ca)
    ));
}

#[test]
fn f_6_2_early_media_reliable_183_with_body_then_200() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let b = net.add(Net::config("bob", 5002), 2);
    let now = net.now;
    let ca = net
        .ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5002"), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    let (cb, _) = incoming(&net.take(b));
    net.ua(b).ring(now, cb, 183, Some(ANSWER.to_vec())).unwrap();
    net.run();
    let ea = net.take(a);
    let fork = ea
        .iter()
        .find_map(|e| match e {
            Event::Provisional {
                call,
                fork: Some(f),
                status: 183,
                body: Some(x),
            } if *call == ca && x == ANSWER => Some(*f),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{ea:?}"));
    // RFC 3262: the 183 was reliable and A PRACKed it
    let p = String::from_utf8_lossy(&net.sent(b, "SIP/2.0 183")[0].bytes).into_owned();
    assert!(p.contains("Require: 100rel") && p.contains("RSeq: "), "{p}");
    assert_eq!(net.sent(a, "PRACK").len(), 1);
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::PrackReceived { .. }
    )));
    // no 183 retransmission after the PRACK
    net.advance(Duration::from_secs(3));
    assert_eq!(net.sent(b, "SIP/2.0 183").len(), 1);
    net.ua(b).answer(now, cb, Some(ANSWER.to_vec())).unwrap();
    net.run();
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Answered { fork: f, .. } if *f == fork)
        ),
        "{ea:?}"
    );
    assert_eq!(net.ua(a).offer_state(ca), Some(OfferState::Stable));
}

#[test]
fn f_6_2_reliable_183_retransmitted_until_prack_on_udp() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let b = net.add(Net::config("bob", 5002), 2);
    let now = net.now;
    net.ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5002"), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    let (cb, _) = incoming(&net.take(b));
    let mut prack_drops = 2;
    net.drop = Some(Box::new(move |w| {
        if w.first.starts_with("PRACK") && prack_drops > 0 {
            prack_drops -= 1;
            return true;
        }
        false
    }));
    net.ua(b).ring(now, cb, 183, Some(ANSWER.to_vec())).unwrap();
    net.run();
    net.advance(Duration::from_secs(4));
    // lost PRACK → the 183 comes again; A PRACKs the retransmission only once (same RSeq) via its
    // PRACK transaction's own retransmissions
    assert!(net.sent(b, "SIP/2.0 183").len() >= 2);
    assert_eq!(
        net.take(a)
            .iter()
            .filter(|e| matches!(e, Event::Provisional { status: 183, .. }))
            .count(),
        1,
        "one event per RSeq"
    );
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::PrackReceived { .. }
    )));
}

/// A → proxy → {B1, B2}; both send 183 with their own body; B1 answers; the proxy cancels B2.
#[test]
fn f_6_3_t_8a_forking_two_early_dialogs_one_answers_other_cancelled() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let b1 = net.add(Net::config("bob", 5002), 2);
    let b2 = net.add(Net::config("bob", 5003), 3);
    net.proxy = Some(Proxy::new(addr(5060), vec![b1, b2]));
    let now = net.now;
    let ca = net
        .ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5060"), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    let (c1, _) = incoming(&net.take(b1));
    let (c2, _) = incoming(&net.take(b2));
    net.ua(b1)
        .ring(now, c1, 183, Some(b"sdp-of-b1".to_vec()))
        .unwrap();
    net.ua(b2)
        .ring(now, c2, 183, Some(b"sdp-of-b2".to_vec()))
        .unwrap();
    net.run();
    let ea = net.take(a);
    let forks: Vec<_> = ea
        .iter()
        .filter_map(|e| match e {
            Event::Provisional {
                fork: Some(f),
                status: 183,
                body: Some(b),
                ..
            } => Some((*f, b.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(forks.len(), 2, "{ea:?}");
    assert_ne!(forks[0].0, forks[1].0, "distinct fork ids");
    let f1 = forks.iter().find(|(_, b)| b == b"sdp-of-b1").unwrap().0;
    let f2 = forks.iter().find(|(_, b)| b == b"sdp-of-b2").unwrap().0;
    // each early dialog has its own remote tag and the proxy in its route set
    let d1 = net.ua(a).dialog(ca, f1).unwrap().clone();
    let d2 = net.ua(a).dialog(ca, f2).unwrap().clone();
    assert_ne!(d1.id.remote_tag, d2.id.remote_tag);
    // each reliable 183 answered the offer in its own early dialog; PRACKs went through the proxy
    assert_eq!(net.ua(a).fork_offer_state(ca, f1), Some(OfferState::Stable));
    assert_eq!(net.ua(a).fork_offer_state(ca, f2), Some(OfferState::Stable));
    assert_eq!(net.sent(a, "PRACK").len(), 2);
    assert!(net.sent(a, "PRACK").iter().all(|w| w.to == addr(5060)));
    assert_eq!(d1.route_set[0].uri.to_string(), "sip:127.0.0.1:5060;lr");
    assert_eq!(d1.remote_target.as_str(), "sip:bob@127.0.0.1:5002");
    net.ua(b1)
        .answer(now, c1, Some(b"sdp-of-b1".to_vec()))
        .unwrap();
    net.run();
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Answered { fork, body: Some(b), .. } if *fork == f1 && b == b"sdp-of-b1")
        ),
        "{ea:?}"
    );
    assert!(
        !has(&ea, |e| matches!(e, Event::NoMoreAnswers { .. })),
        "the INVITE transaction is still alive"
    );
    assert!(has(&net.take(b1), |e| matches!(
        e,
        Event::AckReceived { .. }
    )));
    // the proxy cancelled B2: 487, B2's call is over
    assert!(has(&net.take(b2), |e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::Cancelled,
            ..
        }
    )));
    assert_eq!(net.sent(b2, "SIP/2.0 487").len(), 1);
    // the 487 never reaches A (the proxy answered A's INVITE with the 2xx)
    assert!(!net
        .log
        .iter()
        .any(|w| w.to == a && w.first.starts_with("SIP/2.0 487")));
    // Timer M (64*T1): the INVITE transaction ends; the other early dialog ends; no more answers
    net.advance_by(Duration::from_secs(33), Duration::from_millis(500));
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::ForkEnded { fork, .. } if *fork == f2)
        ),
        "{ea:?}"
    );
    assert!(!has(
        &ea,
        |e| matches!(e, Event::ForkEnded { fork, .. } if *fork == f1)
    ));
    assert!(has(
        &ea,
        |e| matches!(e, Event::NoMoreAnswers { call } if *call == ca)
    ));
    // BYE goes through the proxy (Route) to B1
    let now = net.now;
    net.ua(a).hangup(now, ca).unwrap();
    net.run();
    let bye = &net.sent(a, "BYE")[0];
    assert_eq!(bye.to, addr(5060));
    assert!(String::from_utf8_lossy(&bye.bytes).contains("Route: <sip:127.0.0.1:5060;lr>"));
    assert!(has(&net.take(b1), |e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::RemoteBye,
            ..
        }
    )));
}

#[test]
fn f_6_3_second_2xx_from_other_fork_gets_ack_and_bye() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let b1 = net.add(Net::config("bob", 5002), 2);
    let b2 = net.add(Net::config("bob", 5003), 3);
    let mut p = Proxy::new(addr(5060), vec![b1, b2]);
    p.cancel_on_2xx = false;
    net.proxy = Some(p);
    let now = net.now;
    let ca = net
        .ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5060"), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    let (c1, _) = incoming(&net.take(b1));
    let (c2, _) = incoming(&net.take(b2));
    net.ua(b1).answer(now, c1, Some(b"one".to_vec())).unwrap();
    net.run();
    net.ua(b2).answer(now, c2, Some(b"two".to_vec())).unwrap();
    net.run();
    let ea = net.take(a);
    let answered: Vec<_> = ea
        .iter()
        .filter(|e| matches!(e, Event::Answered { .. }))
        .collect();
    assert_eq!(answered.len(), 1, "first 2xx wins: {ea:?}");
    assert!(has(
        &ea,
        |e| matches!(e, Event::ForkEnded { call, .. } if *call == ca)
    ));
    let e2 = net.take(b2);
    assert!(
        has(&e2, |e| matches!(e, Event::AckReceived { .. })),
        "{e2:?}"
    );
    assert!(
        has(&e2, |e| matches!(
            e,
            Event::Terminated {
                reason: EndReason::RemoteBye,
                ..
            }
        )),
        "{e2:?}"
    );
    let e1 = net.take(b1);
    assert!(
        !has(&e1, |e| matches!(e, Event::Terminated { .. })),
        "the winner stays up"
    );
}

#[test]
fn f_6_4_t_8b_delayed_offer_offer_in_200_answer_in_ack() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let b = net.add(Net::config("bob", 5002), 2);
    let now = net.now;
    let ca = net
        .ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5002"), None)
        .unwrap();
    net.run();
    let (cb, offer) = incoming(&net.take(b));
    assert_eq!(offer, None);
    net.ua(b).answer(now, cb, Some(OFFER.to_vec())).unwrap();
    net.run();
    assert_eq!(net.ua(b).offer_state(cb), Some(OfferState::LocalOffer));
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Answered { body: Some(x), .. } if x == OFFER)
        ),
        "{ea:?}"
    );
    assert_eq!(net.ua(a).offer_state(ca), Some(OfferState::RemoteOffer));
    assert!(
        net.sent(a, "ACK").is_empty(),
        "the ACK waits for the answer"
    );
    net.ua(a).ack(now, ca, ANSWER.to_vec()).unwrap();
    net.run();
    let eb = net.take(b);
    assert!(
        has(
            &eb,
            |e| matches!(e, Event::AckReceived { body: Some(x), .. } if x == ANSWER)
        ),
        "{eb:?}"
    );
    assert_eq!(net.ua(a).offer_state(ca), Some(OfferState::Stable));
    assert_eq!(net.ua(b).offer_state(cb), Some(OfferState::Stable));
    assert_eq!(
        net.ua(a).ack(now, ca, ANSWER.to_vec()),
        Err(UaError::WrongState)
    );
}

#[test]
fn f_6_6_reinvite_both_directions_and_delayed_offer_reinvite() {
    let (mut net, a, b, ca, cb) = established();
    let now = net.now;
    // A (caller) re-offers
    net.ua(a)
        .modify(now, ca, ModifyKind::Reinvite, Some(b"offer-2".to_vec()))
        .unwrap();
    assert_eq!(net.ua(a).offer_state(ca), Some(OfferState::LocalOffer));
    net.run();
    let eb = net.take(b);
    assert!(
        has(
            &eb,
            |e| matches!(e, Event::ModifyRequest { kind: ModifyKind::Reinvite, body: Some(x), .. } if x == b"offer-2")
        ),
        "{eb:?}"
    );
    net.ua(b)
        .accept_modify(now, cb, Some(b"answer-2".to_vec()))
        .unwrap();
    net.run();
    assert!(has(
        &net.take(a),
        |e| matches!(e, Event::ModifyAnswered { body: Some(x), .. } if x == b"answer-2")
    ));
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::AckReceived { .. }
    )));
    // B (callee) re-offers: a request built from the UAS side of the dialog
    net.ua(b)
        .modify(now, cb, ModifyKind::Reinvite, Some(b"offer-3".to_vec()))
        .unwrap();
    net.run();
    assert!(has(
        &net.take(a),
        |e| matches!(e, Event::ModifyRequest { body: Some(x), .. } if x == b"offer-3")
    ));
    net.ua(a)
        .accept_modify(now, ca, Some(b"answer-3".to_vec()))
        .unwrap();
    net.run();
    assert!(has(
        &net.take(b),
        |e| matches!(e, Event::ModifyAnswered { body: Some(x), .. } if x == b"answer-3")
    ));
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::AckReceived { .. }
    )));
    // bodiless re-INVITE: offer in the 2xx, answer in the ACK
    net.ua(a)
        .modify(now, ca, ModifyKind::Reinvite, None)
        .unwrap();
    net.run();
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::ModifyRequest { body: None, .. }
    )));
    net.ua(b)
        .accept_modify(now, cb, Some(b"offer-4".to_vec()))
        .unwrap();
    net.run();
    assert!(has(
        &net.take(a),
        |e| matches!(e, Event::ModifyAnswered { body: Some(x), .. } if x == b"offer-4")
    ));
    net.ua(a).ack(now, ca, b"answer-4".to_vec()).unwrap();
    net.run();
    assert!(has(
        &net.take(b),
        |e| matches!(e, Event::AckReceived { body: Some(x), .. } if x == b"answer-4")
    ));
    assert_eq!(net.ua(a).offer_state(ca), Some(OfferState::Stable));
    assert_eq!(net.ua(b).offer_state(cb), Some(OfferState::Stable));
    // rejected re-offer: the session stays
    net.ua(a)
        .modify(now, ca, ModifyKind::Reinvite, Some(b"bad".to_vec()))
        .unwrap();
    net.run();
    net.take(b);
    net.ua(b).reject_modify(now, cb, 488).unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::ModifyRejected { status: 488, .. }
    )));
    assert_eq!(net.ua(a).offer_state(ca), Some(OfferState::Stable));
    assert_eq!(net.ua(a).call_count(), 1);
}

#[test]
fn f_6_6_update_rfc3311_both_directions() {
    let (mut net, a, b, ca, cb) = established();
    let now = net.now;
    net.ua(b)
        .modify(now, cb, ModifyKind::Update, Some(b"u-offer".to_vec()))
        .unwrap();
    net.run();
    assert!(has(
        &net.take(a),
        |e| matches!(e, Event::ModifyRequest { kind: ModifyKind::Update, body: Some(x), .. } if x == b"u-offer")
    ));
    net.ua(a)
        .accept_modify(now, ca, Some(b"u-answer".to_vec()))
        .unwrap();
    net.run();
    assert!(has(
        &net.take(b),
        |e| matches!(e, Event::ModifyAnswered { kind: ModifyKind::Update, body: Some(x), .. } if x == b"u-answer")
    ));
    assert!(net.sent(b, "ACK").is_empty(), "UPDATE has no ACK");
    net.ua(a)
        .modify(now, ca, ModifyKind::Update, Some(b"u2".to_vec()))
        .unwrap();
    net.run();
    net.ua(b)
        .accept_modify(now, cb, Some(b"u2-answer".to_vec()))
        .unwrap();
    net.run();
    assert!(has(
        &net.take(a),
        |e| matches!(e, Event::ModifyAnswered { body: Some(x), .. } if x == b"u2-answer")
    ));
    // UPDATE while our own offer is out: API refuses
    net.ua(a)
        .modify(now, ca, ModifyKind::Update, Some(b"x".to_vec()))
        .unwrap();
    assert_eq!(
        net.ua(a)
            .modify(now, ca, ModifyKind::Update, Some(b"y".to_vec())),
        Err(UaError::Pending)
    );
}

#[test]
fn f_6_6_glare_both_reinvite_get_491_then_retry_succeeds() {
    let (mut net, a, b, ca, cb) = established();
    let now = net.now;
    net.ua(a)
        .modify(now, ca, ModifyKind::Reinvite, Some(b"from-a".to_vec()))
        .unwrap();
    net.ua(b)
        .modify(now, cb, ModifyKind::Reinvite, Some(b"from-b".to_vec()))
        .unwrap();
    net.run();
    let ea = net.take(a);
    let eb = net.take(b);
    assert!(
        has(&ea, |e| matches!(
            e,
            Event::ModifyRejected { status: 491, .. }
        )),
        "{ea:?}"
    );
    assert!(
        has(&eb, |e| matches!(
            e,
            Event::ModifyRejected { status: 491, .. }
        )),
        "{eb:?}"
    );
    assert!(!has(&ea, |e| matches!(e, Event::ModifyRequest { .. })));
    assert_eq!(net.ua(a).offer_state(ca), Some(OfferState::Stable));
    // UPDATE glare too
    net.ua(a)
        .modify(now, ca, ModifyKind::Update, Some(b"ua".to_vec()))
        .unwrap();
    net.ua(b)
        .modify(now, cb, ModifyKind::Update, Some(b"ub".to_vec()))
        .unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::ModifyRejected {
            kind: ModifyKind::Update,
            status: 491,
            ..
        }
    )));
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::ModifyRejected {
            kind: ModifyKind::Update,
            status: 491,
            ..
        }
    )));
    // retry after the glare: works, the dialog is intact
    net.ua(a)
        .modify(now, ca, ModifyKind::Reinvite, Some(b"again".to_vec()))
        .unwrap();
    net.run();
    net.take(b);
    net.ua(b)
        .accept_modify(now, cb, Some(b"ok".to_vec()))
        .unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::ModifyAnswered { .. }
    )));
}

#[test]
fn cancel_before_answer_487_and_ack() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let b = net.add(Net::config("bob", 5002), 2);
    let now = net.now;
    let ca = net
        .ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5002"), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    let (cb, _) = incoming(&net.take(b));
    // before any provisional the CANCEL waits (RFC 3261 §9.1)
    net.ua(a).hangup(now, ca).unwrap();
    net.run();
    assert!(net.sent(a, "CANCEL").is_empty());
    net.ua(b).ring(now, cb, 180, None).unwrap();
    net.run();
    assert_eq!(net.sent(a, "CANCEL").len(), 1);
    assert_eq!(net.sent(b, "SIP/2.0 487").len(), 1);
    let ack = &net.sent(a, "ACK")[0];
    assert!(ack.cseq.ends_with("ACK"));
    let inv_seq = net.sent(a, "INVITE")[0]
        .cseq
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    assert!(ack.cseq.starts_with(&inv_seq));
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::Cancelled,
            ..
        }
    )));
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::Cancelled,
            ..
        }
    )));
    assert_eq!(net.ua(b).answer(now, cb, None), Err(UaError::UnknownCall));
    // the 487 is not retransmitted after the ACK
    net.advance(Duration::from_secs(3));
    assert_eq!(net.sent(b, "SIP/2.0 487").len(), 1);
}

#[test]
fn retransmits_2xx_until_ack_on_udp_then_stops() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let b = net.add(Net::config("bob", 5002), 2);
    let now = net.now;
    net.ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5002"), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    let (cb, _) = incoming(&net.take(b));
    let mut ack_drops = 3;
    net.drop = Some(Box::new(move |w| {
        if w.first.starts_with("ACK") && ack_drops > 0 {
            ack_drops -= 1;
            return true;
        }
        false
    }));
    net.ua(b).answer(now, cb, Some(ANSWER.to_vec())).unwrap();
    net.run();
    // 200 at 0, then T1 = 0.5 s, +1 s, +2 s: A re-ACKs each; the fourth ACK gets through at 3.5 s
    net.advance(Duration::from_secs(10));
    let oks = net.sent(b, "SIP/2.0 200");
    assert_eq!(
        oks.len(),
        4,
        "{:?}",
        oks.iter().map(|w| &w.first).collect::<Vec<_>>()
    );
    assert_eq!(net.sent(a, "ACK").len(), 4);
    let eb = net.take(b);
    assert_eq!(
        eb.iter()
            .filter(|e| matches!(e, Event::AckReceived { .. }))
            .count(),
        1
    );
    assert_eq!(
        net.take(a)
            .iter()
            .filter(|e| matches!(e, Event::Answered { .. }))
            .count(),
        1
    );
}

#[test]
fn no_ack_for_2xx_ends_call_with_bye_after_64_t1() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let b = net.add(Net::config("bob", 5002), 2);
    let now = net.now;
    net.ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5002"), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    let (cb, _) = incoming(&net.take(b));
    net.drop = Some(Box::new(|w| w.first.starts_with("ACK")));
    net.ua(b).answer(now, cb, Some(ANSWER.to_vec())).unwrap();
    net.run();
    net.advance_by(Duration::from_secs(33), Duration::from_millis(250));
    let oks = net
        .sent(b, "SIP/2.0 200")
        .into_iter()
        .filter(|w| w.cseq.ends_with("INVITE"))
        .count();
    // 0, .5, 1.5, 3.5, 7.5, then every T2 = 4 s until 32 s: 11.5 15.5 19.5 23.5 27.5 31.5
    assert_eq!(oks, 11);
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::AckTimeout,
            ..
        }
    )));
    assert_eq!(net.sent(b, "BYE").len(), 1);
}

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

fn raw(method: &str, branch: &str, extra: &str, to_tag: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} sip:bob@127.0.0.1:5002 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5009;branch=z9hG4bK{branch}\r\n\
Max-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=x1\r\nTo: <sip:bob@127.0.0.1>{to_tag}\r\nCall-ID: bad-{branch}\r\n\
CSeq: 1 {method}\r\nContact: <sip:x@127.0.0.1:5009>\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
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

trait ReplaceMf {
    fn replace_mf(self) -> Vec<u8>;
}
impl ReplaceMf for Vec<u8> {
    /// `raw` writes Max-Forwards: 70 first; drop it so only the extra `Max-Forwards: 0` stays.
    fn replace_mf(self) -> Vec<u8> {
        String::from_utf8(self)
            .unwrap()
            .replacen("Max-Forwards: 70\r\n", "", 1)
            .into_bytes()
    }
}

fn net_fork(
    net: &mut Net,
    a: std::net::SocketAddr,
    ca: dtlsrtp_sip::ua::CallId,
) -> dtlsrtp_sip::ua::ForkId {
    // the winning fork: the one whose dialog is confirmed
    (0..64)
        .map(dtlsrtp_sip::ua::ForkId)
        .find(|f| net.ua(a).dialog(ca, *f).is_some())
        .unwrap()
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
            let creds = Credentials {
                username: "alice".into(),
                password: password.into(),
            };
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

fn register_flow(alg: &str, password: &str) -> (Net, Vec<Event>) {
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
                credentials: Some(Credentials {
                    username: "alice".into(),
                    password: "Circle of Life".into(),
                }),
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
            let reply = registrar_reply(req, alg, "nonce-1", password);
            net.inject(reg_addr, a, &reply);
        }
    }
    let ev = net.take(a);
    (net, ev)
}

#[test]
fn register_with_401_digest_sha256_and_md5_then_refresh() {
    for alg in ["SHA-256", "MD5"] {
        let (mut net, ev) = register_flow(alg, "Circle of Life");
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
    let (net, ev) = register_flow("SHA-256", "another password");
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

#[test]
fn f_6_6_update_in_early_dialog_after_reliable_183() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let b = net.add(Net::config("bob", 5002), 2);
    let now = net.now;
    let ca = net
        .ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5002"), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    let (cb, _) = incoming(&net.take(b));
    net.ua(b).ring(now, cb, 183, Some(ANSWER.to_vec())).unwrap();
    net.run();
    let fork = net
        .take(a)
        .iter()
        .find_map(|e| match e {
            Event::Provisional { fork: Some(f), .. } => Some(*f),
            _ => None,
        })
        .unwrap();
    // the reliable 183 answered the INVITE's offer in this early dialog (RFC 3262 §5)
    assert_eq!(
        net.ua(a).fork_offer_state(ca, fork),
        Some(OfferState::Stable)
    );
    assert_eq!(
        net.ua(a).offer_state(ca),
        Some(OfferState::LocalOffer),
        "no winner yet"
    );
    // the callee re-offers with UPDATE before answering (RFC 3311 §5.1)
    net.ua(b)
        .modify(now, cb, ModifyKind::Update, Some(b"early-2".to_vec()))
        .unwrap();
    net.run();
    let ea = net.take(a);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::ModifyRequest { kind: ModifyKind::Update, body: Some(x), .. } if x == b"early-2")
        ),
        "{ea:?}"
    );
    assert_eq!(
        net.ua(a).fork_offer_state(ca, fork),
        Some(OfferState::RemoteOffer)
    );
    net.ua(a)
        .accept_modify(now, ca, Some(b"early-2-answer".to_vec()))
        .unwrap();
    net.run();
    assert!(has(
        &net.take(b),
        |e| matches!(e, Event::ModifyAnswered { body: Some(x), .. } if x == b"early-2-answer")
    ));
    assert_eq!(
        net.ua(a).fork_offer_state(ca, fork),
        Some(OfferState::Stable)
    );
    net.ua(b)
        .answer(now, cb, Some(b"early-2".to_vec()))
        .unwrap();
    net.run();
    assert!(has(
        &net.take(a),
        |e| matches!(e, Event::Answered { fork: f, .. } if *f == fork)
    ));
}

#[test]
fn reinvite_while_our_2xx_awaits_its_ack_gets_500_with_retry_after() {
    let (mut net, a, b, ca, cb) = established();
    let now = net.now;
    net.ua(a)
        .modify(now, ca, ModifyKind::Reinvite, Some(b"o1".to_vec()))
        .unwrap();
    net.run();
    net.take(b);
    net.drop = Some(Box::new(|w| w.first.starts_with("ACK")));
    net.ua(b)
        .accept_modify(now, cb, Some(b"a1".to_vec()))
        .unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::ModifyAnswered { .. }
    )));
    // A's ACK was lost; B still retransmits its 2xx when A's next re-INVITE arrives (RFC 3261 §14.2)
    net.ua(a)
        .modify(now, ca, ModifyKind::Reinvite, Some(b"o2".to_vec()))
        .unwrap();
    net.run();
    let r = net.sent(b, "SIP/2.0 500");
    assert_eq!(r.len(), 1);
    assert!(String::from_utf8_lossy(&r[0].bytes).contains("Retry-After: "));
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::ModifyRejected { status: 500, .. }
    )));
    assert_eq!(net.ua(a).offer_state(ca), Some(OfferState::Stable));
    // once the ACK gets through (A re-ACKs the retransmitted 2xx), B is ready again
    net.drop = None;
    net.advance(Duration::from_secs(1));
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::AckReceived { .. }
    )));
    let now = net.now;
    net.ua(a)
        .modify(now, ca, ModifyKind::Reinvite, Some(b"o3".to_vec()))
        .unwrap();
    net.run();
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::ModifyRequest { .. }
    )));
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
fn reliable_183_without_prack_rejects_invite_with_504() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let b = net.add(Net::config("bob", 5002), 2);
    let now = net.now;
    let ca = net
        .ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5002"), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    let (cb, _) = incoming(&net.take(b));
    net.drop = Some(Box::new(|w| w.first.starts_with("PRACK")));
    net.ua(b).ring(now, cb, 183, Some(ANSWER.to_vec())).unwrap();
    net.run();
    net.advance_by(Duration::from_secs(33), Duration::from_millis(250));
    assert_eq!(net.sent(b, "SIP/2.0 504").len(), 1);
    assert!(has(
        &net.take(b),
        |e| matches!(e, Event::Terminated { call, reason: EndReason::Timeout } if *call == cb)
    ));
    assert!(has(
        &net.take(a),
        |e| matches!(e, Event::Terminated { call, reason: EndReason::Rejected(504) } if *call == ca)
    ));
}

#[test]
fn f_6_4_hangup_before_answering_the_offer_in_200_acks_then_byes() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let b = net.add(Net::config("bob", 5002), 2);
    let now = net.now;
    let ca = net
        .ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5002"), None)
        .unwrap();
    net.run();
    let (cb, _) = incoming(&net.take(b));
    net.ua(b).answer(now, cb, Some(OFFER.to_vec())).unwrap();
    net.run();
    net.ua(a).hangup(now, ca).unwrap();
    net.run();
    let order: Vec<&str> = net
        .log
        .iter()
        .filter(|w| w.from == a)
        .map(|w| w.first.split(' ').next().unwrap())
        .collect();
    assert_eq!(order, ["INVITE", "ACK", "BYE"]);
    let eb = net.take(b);
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
}
