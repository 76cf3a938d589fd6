//! UserAgent calls on a manual clock over an in-memory network (tests/net): basic call over UDP and TCP, early
//! media with 100rel (F-6.2), delayed offer (F-6.4, T-8b), CANCEL, 2xx retransmission until ACK, timeouts.
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

mod net;

use std::time::Duration;

use dtlsrtp_sip::ua::{EndReason, Event, OfferState, TimerReason, TransportKind, UaError};
use net::*;

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

fn stream_call(t: TransportKind, param: &str, token: &str) {
    let mut net = Net::new();
    let mut ca_cfg = Net::config("alice", 5001);
    ca_cfg.local = vec![(t, addr(5001))];
    let mut cb_cfg = Net::config("bob", 5002);
    cb_cfg.local = vec![(t, addr(5002))];
    let a = net.add(ca_cfg, 1);
    let b = net.add(cb_cfg, 2);
    let now = net.now;
    let ca = net
        .ua(a)
        .call(
            now,
            &uri(&format!("sip:bob@127.0.0.1:5002;transport={param}")),
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
    assert!(net.log.iter().all(|w| w.transport == t));
    let inv = String::from_utf8_lossy(&net.sent(a, "INVITE")[0].bytes).into_owned();
    assert!(
        inv.contains(&format!(
            "Via: SIP/2.0/{token} 127.0.0.1:5001;branch=z9hG4bK"
        )),
        "{inv}"
    );
    assert!(
        inv.contains(&format!(
            "Contact: <sip:alice@127.0.0.1:5001;transport={param}>"
        )),
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
fn basic_call_over_tcp_framed_by_content_length() {
    stream_call(TransportKind::Tcp, "tcp", "TCP");
}

#[test]
fn basic_call_over_tls_transport_aware_via_and_contact() {
    stream_call(TransportKind::Tls, "tls", "TLS");
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
    assert_eq!(
        net.ua(b).next_timer().map(|(_, r)| r),
        Some(TimerReason::Retransmit2xx(cb))
    );
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

#[test]
fn callee_hangup_before_ack_waits_for_the_ack_then_byes() {
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
    let mut drops = 1;
    net.drop = Some(Box::new(move |w| {
        if w.first.starts_with("ACK") && drops > 0 {
            drops -= 1;
            return true;
        }
        false
    }));
    net.ua(b).answer(now, cb, Some(ANSWER.to_vec())).unwrap();
    net.run();
    net.ua(b).hangup(now, cb).unwrap();
    net.run();
    assert!(
        net.sent(b, "BYE").is_empty(),
        "no BYE before the ACK (RFC 3261 §15)"
    );
    net.advance(Duration::from_secs(1));
    assert_eq!(net.sent(b, "BYE").len(), 1);
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::Local,
            ..
        }
    )));
    assert!(has(
        &net.take(a),
        |e| matches!(e, Event::Terminated { call, reason: EndReason::RemoteBye } if *call == ca)
    ));
}

#[test]
fn f_6_4_delayed_offer_offer_in_reliable_183_answer_in_prack() {
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
    net.ua(b).ring(now, cb, 183, Some(OFFER.to_vec())).unwrap();
    net.run();
    assert_eq!(net.ua(b).offer_state(cb), Some(OfferState::LocalOffer));
    let fork = net
        .take(a)
        .iter()
        .find_map(|e| match e {
            Event::Provisional {
                fork: Some(f),
                body: Some(x),
                ..
            } if x == OFFER => Some(*f),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        net.ua(a).fork_offer_state(ca, fork),
        Some(OfferState::RemoteOffer)
    );
    assert!(
        net.sent(a, "PRACK").is_empty(),
        "the PRACK waits for the answer"
    );
    net.ua(a).prack(now, ca, fork, ANSWER.to_vec()).unwrap();
    net.run();
    assert_eq!(
        net.ua(a).prack(now, ca, fork, ANSWER.to_vec()),
        Err(UaError::WrongState)
    );
    let eb = net.take(b);
    assert!(
        has(
            &eb,
            |e| matches!(e, Event::PrackReceived { body: Some(x), .. } if x == ANSWER)
        ),
        "{eb:?}"
    );
    assert_eq!(net.ua(b).offer_state(cb), Some(OfferState::Stable));
    // the 200 repeats nothing; the ACK carries no body; nobody waits for an answer
    net.ua(b).answer(now, cb, None).unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::Answered { body: None, .. }
    )));
    assert_eq!(net.sent(a, "ACK").len(), 1);
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::AckReceived { body: None, .. }
    )));
    assert_eq!(net.ua(a).offer_state(ca), Some(OfferState::Stable));
}

#[test]
fn transport_failure_towards_the_callee_ends_the_call() {
    let mut net = Net::new();
    let mut cfg = Net::config("alice", 5001);
    cfg.local = vec![(TransportKind::Tcp, addr(5001))];
    let a = net.add(cfg, 1);
    let now = net.now;
    let ca = net
        .ua(a)
        .call(
            now,
            &uri("sip:bob@127.0.0.1:5099;transport=tcp"),
            Some(OFFER.to_vec()),
        )
        .unwrap();
    net.run();
    assert_eq!(net.sent(a, "INVITE")[0].transport, TransportKind::Tcp);
    // the driver could not connect
    net.ua(a)
        .transport_failed(now, TransportKind::Tcp, addr(5099));
    let ev = net.take(a);
    assert!(
        has(
            &ev,
            |e| matches!(e, Event::Terminated { call, reason: EndReason::TransportError } if *call == ca)
        ),
        "{ev:?}"
    );
    assert!(has(&ev, |e| matches!(e, Event::NoMoreAnswers { .. })));
    assert_eq!(net.ua(a).call_count(), 0);
}

#[test]
fn f_6_2_answer_before_prack_of_183_with_sdp_waits_for_the_prack() {
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
    // answered at once, before the PRACK came back (RFC 3262 §3)
    net.ua(b).answer(now, cb, Some(ANSWER.to_vec())).unwrap();
    assert_eq!(
        net.ua(b).answer(now, cb, None),
        Err(UaError::WrongState),
        "one answer"
    );
    net.run();
    let order: Vec<String> = net
        .log
        .iter()
        .filter(|w| w.first.starts_with("PRACK") || (w.from == b && w.cseq.ends_with("INVITE")))
        .map(|w| w.first.clone())
        .collect();
    let prack = order.iter().position(|l| l.starts_with("PRACK")).unwrap();
    let ok = order
        .iter()
        .position(|l| l.starts_with("SIP/2.0 200"))
        .unwrap();
    assert!(prack < ok, "{order:?}");
    assert!(has(
        &net.take(a),
        |e| matches!(e, Event::Answered { call, .. } if *call == ca)
    ));
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::AckReceived { .. }
    )));
}

#[test]
fn no_answer_at_all_times_out_after_64_t1_with_no_more_answers() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let now = net.now;
    let ca = net
        .ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5099"), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    net.advance_by(Duration::from_secs(33), Duration::from_millis(250));
    // Timer A: 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; Timer B at 32 s
    assert_eq!(net.sent(a, "INVITE").len(), 7);
    let ev = net.take(a);
    assert!(has(
        &ev,
        |e| matches!(e, Event::NoMoreAnswers { call } if *call == ca)
    ));
    assert!(has(
        &ev,
        |e| matches!(e, Event::Terminated { call, reason: EndReason::Timeout } if *call == ca)
    ));
}
