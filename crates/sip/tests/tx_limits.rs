//! R-2 in the transaction table on a manual clock: new requests are capped per source and in total while
//! requests of a live dialog keep a reserve; statelessly answered requests leave no transaction, their response
//! is replayed to a retransmission for a short while only, and that memory is bounded per source and in total.
#![allow(clippy::unwrap_used, clippy::panic, clippy::disallowed_methods)] // Instant::now: the clock's origin

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dtlsrtp_sip::transaction::{
    Admission, Incoming, ServerLimits, TimerConfig, TransactionLayer, TxEvent,
};
use dtlsrtp_sip::{Message, Request, Response};

fn request(method: &str, branch: &str) -> Request {
    let s = format!(
        "{method} sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\nTo: <sip:bob@127.0.0.1>\r\nFrom: <sip:a@192.0.2.1>;tag=1\r\n\
         Call-ID: {branch}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    );
    match Message::parse(s.as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!(),
    }
}

fn src(ip: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, ip], 5060))
}

fn limits() -> ServerLimits {
    let mut l = ServerLimits::default();
    l.max_transactions = 10;
    l.max_per_source = 4;
    l.dialog_reserve = 3;
    l.max_answered = 6;
    l.max_answered_per_source = 3;
    l.answered_retention = Duration::from_secs(5);
    l
}

#[test]
fn r_2_new_requests_capped_per_source_and_in_total_dialog_requests_keep_a_reserve() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default()).with_server_limits(limits());
    let mut n = 0;
    let mut new = |layer: &mut TransactionLayer, ip: u8, adm: Admission| {
        n += 1;
        let r = request("INVITE", &format!("b{n}"));
        layer.handle_request_as(t0, r, src(ip), false, adm)
    };
    // One source: 4 admitted, the 5th refused; other sources fill the total of 10.
    for _ in 0..4 {
        assert!(matches!(
            new(&mut layer, 1, Admission::New),
            Incoming::New(..)
        ));
    }
    assert!(matches!(
        new(&mut layer, 1, Admission::New),
        Incoming::Overloaded(_)
    ));
    for ip in 2..=7 {
        assert!(matches!(
            new(&mut layer, ip, Admission::New),
            Incoming::New(..)
        ));
    }
    assert_eq!(layer.server_len(), 10);
    assert!(matches!(
        new(&mut layer, 8, Admission::New),
        Incoming::Overloaded(_)
    ));
    // A request of a live dialog still gets in, from any source, up to the reserve.
    for _ in 0..3 {
        assert!(matches!(
            new(&mut layer, 1, Admission::Dialog),
            Incoming::New(..)
        ));
    }
    assert!(matches!(
        new(&mut layer, 1, Admission::Dialog),
        Incoming::Overloaded(_)
    ));
}

#[test]
fn r_2_stateless_answers_leave_no_transaction_replay_briefly_and_stay_bounded() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default()).with_server_limits(limits());
    let answer = |layer: &mut TransactionLayer, req: &Request, ip: u8, status: u16| {
        let Incoming::New(key, stamped) = layer.handle_request(t0, req.clone(), src(ip), false)
        else {
            panic!("not admitted")
        };
        let resp = Response::from_request(&stamped, status, Some("t")).unwrap();
        layer.respond_stateless(t0, &key, resp).unwrap();
        while layer.poll_transmit().is_some() {}
    };
    // 100 OPTIONS from one source: never refused (the table stays empty), at most 3 remembered.
    for i in 0..100 {
        answer(&mut layer, &request("OPTIONS", &format!("o{i}")), 1, 200);
    }
    assert_eq!(layer.server_len(), 0);
    assert_eq!(layer.answered_len(), 3);
    // Other sources: the cache holds 6 in total, the oldest forgotten first (with their Terminated).
    let invite = request("INVITE", "inv");
    answer(&mut layer, &invite, 2, 420);
    for i in 0..5 {
        answer(&mut layer, &request("FOO", &format!("f{i}")), 3 + i, 405);
    }
    assert_eq!(layer.answered_len(), 6);
    let terminated = std::iter::from_fn(|| layer.poll_event())
        .filter(|(_, e)| *e == TxEvent::Terminated)
        .count();
    assert_eq!(terminated, 106 - 6, "every forgotten request reported");
    // A retransmission of the refused INVITE gets the same 420 again; its ACK is absorbed.
    assert_eq!(
        layer.handle_request(
            t0 + Duration::from_millis(500),
            invite.clone(),
            src(2),
            false
        ),
        Incoming::Absorbed
    );
    let again = layer.poll_transmit().unwrap();
    assert!(matches!(&again.message, Message::Response(r) if r.status == 420));
    let mut ack = invite.clone();
    ack.method = dtlsrtp_sip::Method::Ack;
    ack.headers
        .set(dtlsrtp_sip::HeaderName::CSeq, "1 ACK")
        .unwrap();
    assert_eq!(
        layer.handle_request(t0 + Duration::from_millis(600), ack, src(2), false),
        Incoming::Absorbed
    );
    assert!(layer.poll_transmit().is_none());
    // After the retention (5 s, not Timer J's 32 s) it is forgotten: a retransmission is a new request.
    let later = t0 + Duration::from_secs(6);
    layer.handle_timeout(later);
    assert_eq!(layer.answered_len(), 0);
    assert!(matches!(
        layer.handle_request(later, invite, src(2), false),
        Incoming::New(..)
    ));
}

#[test]
fn r_2_a_2xx_to_invite_is_never_stateless() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let Incoming::New(key, stamped) =
        layer.handle_request(t0, request("INVITE", "ok"), src(1), false)
    else {
        panic!()
    };
    let ok = Response::from_request(&stamped, 200, Some("t")).unwrap();
    assert!(layer.respond_stateless(t0, &key, ok).is_err());
    assert_eq!(layer.server_len(), 1);
}
