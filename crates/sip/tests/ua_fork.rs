//! Forking through an in-test parallel-forking proxy (F-6.3, T-8a): one early dialog per To-tag, first 2xx
//! wins, the other branch is cancelled or gets ACK + BYE, NoMoreAnswers when the INVITE transaction ends.
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

mod net;

use std::time::Duration;

use dtlsrtp_sip::ua::{EndReason, Event, OfferState};
use net::*;

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
fn merged_request_by_two_paths_gets_482_and_one_call() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5001), 1);
    let b = net.add(Net::config("bob", 5002), 2);
    // the proxy forks to the same UA twice (two paths)
    net.proxy = Some(Proxy::new(addr(5060), vec![b, b]));
    let now = net.now;
    let ca = net
        .ua(a)
        .call(now, &uri("sip:bob@127.0.0.1:5060"), Some(OFFER.to_vec()))
        .unwrap();
    net.run();
    let eb = net.take(b);
    assert_eq!(
        eb.iter()
            .filter(|e| matches!(e, Event::IncomingCall { .. }))
            .count(),
        1,
        "{eb:?}"
    );
    assert_eq!(net.sent(b, "SIP/2.0 482").len(), 1);
    let (cb, _) = incoming(&eb);
    net.ua(b).answer(now, cb, Some(ANSWER.to_vec())).unwrap();
    net.run();
    assert!(has(
        &net.take(a),
        |e| matches!(e, Event::Answered { call, .. } if *call == ca)
    ));
}
