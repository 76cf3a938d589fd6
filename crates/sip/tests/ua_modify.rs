//! Session modification (F-6.6a): re-INVITE and UPDATE both ways, delayed-offer re-INVITE, early UPDATE,
//! glare (491) and overlapping requests (500 with Retry-After).
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

mod net;

use std::time::Duration;

use dtlsrtp_sip::ua::{EndReason, Event, ModifyKind, OfferState, UaError};
use net::*;

#[test]
fn f_6_6a_reinvite_both_directions_and_delayed_offer_reinvite() {
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
fn f_6_6a_update_rfc3311_both_directions() {
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
fn f_6_6a_glare_both_reinvite_get_491_then_retry_succeeds() {
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
fn f_6_6a_update_in_early_dialog_after_reliable_183() {
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
fn f_6_6a_cancelled_reinvite_gets_487_and_the_session_stays() {
    let (mut net, a, b, ca, cb) = established();
    let now = net.now;
    net.ua(a)
        .modify(now, ca, ModifyKind::Reinvite, Some(b"o2".to_vec()))
        .unwrap();
    net.run();
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::ModifyRequest { .. }
    )));
    // A's side cancels the re-INVITE (RFC 3261 §9.1): same branch, CSeq method CANCEL
    let reinvite = net.sent(a, "INVITE").last().unwrap().bytes.clone();
    let reinvite = dtlsrtp_sip::Message::parse(&reinvite).unwrap();
    let cancel = dtlsrtp_sip::transaction::build_cancel(reinvite.as_request().unwrap());
    net.inject(a, b, &cancel.to_bytes());
    assert!(net
        .sent(b, "SIP/2.0 200")
        .iter()
        .any(|w| w.cseq.ends_with("CANCEL")));
    assert_eq!(net.sent(b, "SIP/2.0 487").len(), 1);
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::ModifyCancelled { call } if *call == cb
    )));
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::ModifyRejected { status: 487, .. }
    )));
    assert_eq!(
        net.ua(b).accept_modify(now, cb, Some(b"late".to_vec())),
        Err(UaError::WrongState)
    );
    assert_eq!(net.ua(a).offer_state(ca), Some(OfferState::Stable));
    assert_eq!(net.ua(b).offer_state(cb), Some(OfferState::Stable));
    net.ua(a).hangup(now, ca).unwrap();
    net.run();
    assert!(has(&net.take(b), |e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::RemoteBye,
            ..
        }
    )));
}
