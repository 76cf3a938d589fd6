//! RFC 3261 §17 transactions (with RFC 6026 Accepted) on a manual clock: every timer at its exact time.
#![allow(clippy::unwrap_used, clippy::panic, clippy::disallowed_methods)] // Instant::now: the manual clock's origin only

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dtlsrtp_sip::transaction::{
    ClientKey, ClientState, ClientTransaction, Incoming, ServerKey, ServerState, ServerTransaction,
    Timer, TimerConfig, TransactionLayer, TxEvent, TxId,
};
use dtlsrtp_sip::{HeaderName, Message, Method, Request, Response};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn request(method: &str, branch: &str) -> Request {
    let s = format!(
        "{method} sip:bob@biloxi.example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:p1.example.com;lr>\r\n\
         To: Bob <sip:bob@biloxi.example.com>\r\n\
         From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
         Call-ID: a84b4c76e66710\r\n\
         CSeq: 314159 {method}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match Message::parse(s.as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!(),
    }
}

fn response(req: &Request, status: u16) -> Response {
    Response::from_request(req, status, (status > 100).then_some("bobtag")).unwrap()
}

/// Steps a client transaction through its deadlines until `end`, returning (offset ms, timer) of each firing.
fn run_client(tx: &mut ClientTransaction, t0: Instant, end: Duration) -> Vec<(u128, Timer, usize)> {
    let mut fired = Vec::new();
    while let Some((timer, at)) = tx.next_timer() {
        if at > t0 + end {
            break;
        }
        tx.handle_timeout(at);
        let mut sent = 0;
        while tx.poll_transmit().is_some() {
            sent += 1;
        }
        fired.push(((at - t0).as_millis(), timer, sent));
    }
    fired
}

fn run_server(tx: &mut ServerTransaction, t0: Instant, end: Duration) -> Vec<(u128, Timer, usize)> {
    let mut fired = Vec::new();
    while let Some((timer, at)) = tx.next_timer() {
        if at > t0 + end {
            break;
        }
        tx.handle_timeout(at);
        let mut sent = 0;
        while tx.poll_transmit().is_some() {
            sent += 1;
        }
        fired.push(((at - t0).as_millis(), timer, sent));
    }
    fired
}

#[test]
fn rfc3261_17_1_1_2_invite_client_timer_a_doubles_uncapped_and_timer_b_times_out() {
    let t0 = Instant::now();
    let mut tx = ClientTransaction::new(
        t0,
        request("INVITE", "z9hG4bK74bf9"),
        false,
        TimerConfig::default(),
    )
    .unwrap();
    assert!(matches!(tx.poll_transmit(), Some(Message::Request(r)) if r.method == Method::Invite));
    assert_eq!(tx.poll_timeout(), Some(t0 + ms(500)));
    tx.handle_timeout(t0 + ms(499)); // early: nothing
    assert!(tx.poll_transmit().is_none());
    let fired = run_client(&mut tx, t0, Duration::from_secs(60));
    let a: Vec<u128> = fired
        .iter()
        .filter(|f| f.1 == Timer::A)
        .map(|f| f.0)
        .collect();
    assert_eq!(
        a,
        [500, 1500, 3500, 7500, 15500, 31500],
        "A: T1, 2T1, 4T1 ... (no T2 cap for INVITE)"
    );
    assert!(fired.iter().filter(|f| f.1 == Timer::A).all(|f| f.2 == 1));
    assert_eq!(fired.last().map(|f| (f.0, f.1)), Some((32_000, Timer::B)));
    assert_eq!(tx.poll_event(), Some(TxEvent::Timeout));
    assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
    assert_eq!(tx.state(), ClientState::Terminated);
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn rfc3261_17_1_1_2_invite_client_reliable_never_retransmits() {
    let t0 = Instant::now();
    let mut tx = ClientTransaction::new(
        t0,
        request("INVITE", "z9hG4bK1"),
        true,
        TimerConfig::default(),
    )
    .unwrap();
    assert!(tx.poll_transmit().is_some());
    assert_eq!(
        tx.next_timer(),
        Some((Timer::B, t0 + Duration::from_secs(32)))
    );
    let fired = run_client(&mut tx, t0, Duration::from_secs(60));
    assert_eq!(fired, [(32_000, Timer::B, 0)]);
    assert_eq!(tx.poll_event(), Some(TxEvent::Timeout));
}

#[test]
fn rfc3261_17_1_1_3_invite_client_486_acked_inside_transaction_then_timer_d() {
    let t0 = Instant::now();
    let invite = request("INVITE", "z9hG4bK74bf9");
    let mut tx = ClientTransaction::new(t0, invite.clone(), false, TimerConfig::default()).unwrap();
    tx.poll_transmit();
    tx.handle_response(t0 + ms(100), response(&invite, 180));
    assert_eq!(tx.state(), ClientState::Proceeding);
    assert!(matches!(tx.poll_event(), Some(TxEvent::Response(r)) if r.status == 180));
    assert_eq!(tx.poll_timeout(), None, "Proceeding: no A, no B");

    tx.handle_response(t0 + ms(200), response(&invite, 486));
    let Some(Message::Request(ack)) = tx.poll_transmit() else {
        panic!("ACK expected")
    };
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri, invite.uri);
    assert_eq!(ack.headers.cseq().unwrap().seq, 314159);
    assert_eq!(ack.headers.cseq().unwrap().method, Method::Ack);
    assert_eq!(
        ack.headers.top_via().unwrap().branch(),
        Some("z9hG4bK74bf9"),
        "same branch as the INVITE"
    );
    assert_eq!(
        ack.headers.to().unwrap().tag(),
        Some("bobtag"),
        "To from the response"
    );
    assert_eq!(ack.headers.from().unwrap().tag(), Some("1928301774"));
    assert_eq!(ack.headers.call_id(), Some("a84b4c76e66710"));
    assert_eq!(
        ack.headers.routes().count(),
        1,
        "Route copied from the INVITE"
    );
    assert!(Message::parse(&ack.to_bytes()).is_ok());
    assert!(matches!(tx.poll_event(), Some(TxEvent::Response(r)) if r.status == 486));
    assert_eq!(tx.state(), ClientState::Completed);
    assert_eq!(
        tx.next_timer(),
        Some((Timer::D, t0 + ms(200) + Duration::from_secs(32)))
    );

    // A retransmitted 486 is absorbed and answered with the same ACK.
    tx.handle_response(t0 + ms(700), response(&invite, 486));
    assert_eq!(tx.poll_transmit(), Some(Message::Request(ack)));
    assert_eq!(tx.poll_event(), None);

    tx.handle_timeout(t0 + ms(200) + Duration::from_secs(32));
    assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
}

#[test]
fn rfc6026_8_4_invite_client_2xx_passes_to_tu_accepted_until_timer_m() {
    let t0 = Instant::now();
    let invite = request("INVITE", "z9hG4bK2xx");
    let mut tx = ClientTransaction::new(t0, invite.clone(), false, TimerConfig::default()).unwrap();
    tx.poll_transmit();
    tx.handle_response(t0 + ms(300), response(&invite, 200));
    assert!(matches!(tx.poll_event(), Some(TxEvent::Response(r)) if r.status == 200));
    assert_eq!(
        tx.poll_transmit(),
        None,
        "the TU ACKs a 2xx, not the transaction"
    );
    assert_eq!(tx.state(), ClientState::Accepted);
    // a retransmitted 2xx (or a 2xx from another fork) also goes to the TU
    tx.handle_response(t0 + ms(800), response(&invite, 200));
    assert!(matches!(tx.poll_event(), Some(TxEvent::Response(r)) if r.status == 200));
    assert_eq!(
        tx.next_timer(),
        Some((Timer::M, t0 + ms(300) + Duration::from_secs(32)))
    );
    tx.handle_timeout(t0 + ms(300) + Duration::from_secs(32));
    assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
}

#[test]
fn rfc3261_17_1_2_2_non_invite_client_timer_e_doubles_capped_at_t2_then_timer_f() {
    let t0 = Instant::now();
    let mut tx = ClientTransaction::new(
        t0,
        request("OPTIONS", "z9hG4bKopt"),
        false,
        TimerConfig::default(),
    )
    .unwrap();
    assert_eq!(tx.state(), ClientState::Trying);
    tx.poll_transmit();
    let fired = run_client(&mut tx, t0, Duration::from_secs(60));
    let e: Vec<u128> = fired
        .iter()
        .filter(|f| f.1 == Timer::E)
        .map(|f| f.0)
        .collect();
    assert_eq!(
        e,
        [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500],
        "0.5,1,2,4,4,4... s"
    );
    assert_eq!(fired.last().map(|f| (f.0, f.1)), Some((32_000, Timer::F)));
    assert_eq!(tx.poll_event(), Some(TxEvent::Timeout));
}

#[test]
fn rfc3261_17_1_2_2_non_invite_client_proceeding_retransmits_every_t2_and_final_starts_timer_k() {
    let t0 = Instant::now();
    let req = request("BYE", "z9hG4bKbye");
    let mut tx = ClientTransaction::new(t0, req.clone(), false, TimerConfig::default()).unwrap();
    tx.poll_transmit();
    tx.handle_timeout(t0 + ms(500));
    tx.poll_transmit();
    tx.handle_response(t0 + ms(600), response(&req, 100));
    assert_eq!(tx.state(), ClientState::Proceeding);
    let fired = run_client(&mut tx, t0, ms(10_000));
    let e: Vec<u128> = fired
        .iter()
        .filter(|f| f.1 == Timer::E)
        .map(|f| f.0)
        .collect();
    assert_eq!(e, [1500, 5500, 9500], "in Proceeding the interval is T2");
    tx.handle_response(t0 + ms(10_000), response(&req, 200));
    assert!(matches!(tx.poll_event(), Some(TxEvent::Response(r)) if r.status == 100));
    assert!(matches!(tx.poll_event(), Some(TxEvent::Response(r)) if r.status == 200));
    assert_eq!(tx.state(), ClientState::Completed);
    tx.handle_response(t0 + ms(10_100), response(&req, 200));
    assert_eq!(tx.poll_event(), None, "retransmitted final absorbed");
    assert_eq!(tx.next_timer(), Some((Timer::K, t0 + ms(15_000))), "K = T4");
    tx.handle_timeout(t0 + ms(15_000));
    assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
}

#[test]
fn rfc3261_17_2_1_invite_server_sends_100_trying_when_tu_is_silent_for_200ms() {
    let t0 = Instant::now();
    let invite = request("INVITE", "z9hG4bKsrv");
    let mut tx = ServerTransaction::new(t0, invite.clone(), false, TimerConfig::default()).unwrap();
    assert_eq!(tx.state(), ServerState::Proceeding);
    tx.handle_timeout(t0 + ms(199));
    assert_eq!(tx.poll_transmit(), None);
    assert_eq!(tx.next_timer(), Some((Timer::Trying100, t0 + ms(200))));
    tx.handle_timeout(t0 + ms(200));
    let Some(Message::Response(trying)) = tx.poll_transmit() else {
        panic!()
    };
    assert_eq!(trying.status, 100);
    assert_eq!(
        trying.headers.to().unwrap().tag(),
        None,
        "100 carries no To tag"
    );
    assert_eq!(trying.headers.top_via(), invite.headers.top_via());
    // INVITE retransmission: the 100 again
    tx.handle_request(t0 + ms(500), invite.clone());
    assert!(matches!(tx.poll_transmit(), Some(Message::Response(r)) if r.status == 100));
}

#[test]
fn rfc3261_17_2_1_invite_server_no_100_when_tu_answers_in_time_and_provisional_resent() {
    let t0 = Instant::now();
    let invite = request("INVITE", "z9hG4bKsrv2");
    let mut tx = ServerTransaction::new(t0, invite.clone(), false, TimerConfig::default()).unwrap();
    tx.send_response(t0 + ms(50), response(&invite, 180))
        .unwrap();
    assert!(matches!(tx.poll_transmit(), Some(Message::Response(r)) if r.status == 180));
    tx.handle_timeout(t0 + ms(300));
    assert_eq!(tx.poll_transmit(), None, "no 100 after a 180");
    tx.handle_request(t0 + ms(500), invite);
    assert!(matches!(tx.poll_transmit(), Some(Message::Response(r)) if r.status == 180));
}

#[test]
fn rfc3261_17_2_1_invite_server_486_timer_g_capped_at_t2_then_timer_h() {
    let t0 = Instant::now();
    let invite = request("INVITE", "z9hG4bKg");
    let mut tx = ServerTransaction::new(t0, invite.clone(), false, TimerConfig::default()).unwrap();
    tx.send_response(t0, response(&invite, 486)).unwrap();
    assert!(tx.poll_transmit().is_some());
    assert_eq!(tx.state(), ServerState::Completed);
    let fired = run_server(&mut tx, t0, Duration::from_secs(60));
    let g: Vec<u128> = fired
        .iter()
        .filter(|f| f.1 == Timer::G)
        .map(|f| f.0)
        .collect();
    assert_eq!(
        g,
        [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert!(fired.iter().filter(|f| f.1 == Timer::G).all(|f| f.2 == 1));
    assert_eq!(fired.last().map(|f| (f.0, f.1)), Some((32_000, Timer::H)));
    assert_eq!(tx.poll_event(), Some(TxEvent::Timeout));
    assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
}

#[test]
fn rfc3261_17_2_1_invite_server_ack_confirms_absorbs_retransmissions_then_timer_i() {
    let t0 = Instant::now();
    let invite = request("INVITE", "z9hG4bKi");
    let mut tx = ServerTransaction::new(t0, invite.clone(), false, TimerConfig::default()).unwrap();
    tx.send_response(t0, response(&invite, 486)).unwrap();
    tx.poll_transmit();
    tx.handle_request(t0 + ms(100), invite.clone());
    assert!(
        matches!(tx.poll_transmit(), Some(Message::Response(r)) if r.status == 486),
        "INVITE retransmit → final again"
    );
    let ack = request("ACK", "z9hG4bKi");
    tx.handle_request(t0 + ms(150), ack.clone());
    assert_eq!(tx.state(), ServerState::Confirmed);
    assert_eq!(tx.next_timer(), Some((Timer::I, t0 + ms(5_150))));
    tx.handle_request(t0 + ms(200), ack);
    tx.handle_request(t0 + ms(250), invite);
    assert_eq!(tx.poll_transmit(), None, "Confirmed absorbs ACK and INVITE");
    assert_eq!(
        tx.poll_event(),
        None,
        "the ACK of a non-2xx never reaches the TU"
    );
    tx.handle_timeout(t0 + ms(5_150));
    assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
}

#[test]
fn rfc6026_7_1_invite_server_2xx_accepted_ack_to_tu_tu_retransmits_then_timer_l() {
    let t0 = Instant::now();
    let invite = request("INVITE", "z9hG4bKl");
    let mut tx = ServerTransaction::new(t0, invite.clone(), false, TimerConfig::default()).unwrap();
    let ok = response(&invite, 200);
    tx.send_response(t0 + ms(10), ok.clone()).unwrap();
    assert!(tx.poll_transmit().is_some());
    assert_eq!(tx.state(), ServerState::Accepted);
    tx.handle_request(t0 + ms(500), invite.clone());
    assert_eq!(
        tx.poll_transmit(),
        None,
        "INVITE retransmission absorbed in Accepted"
    );
    tx.send_response(t0 + ms(510), ok).unwrap();
    assert!(
        tx.poll_transmit().is_some(),
        "the UAS core's 2xx retransmission goes out"
    );
    assert_eq!(
        tx.send_response(t0 + ms(520), response(&invite, 486)),
        Err(dtlsrtp_sip::transaction::TxError::WrongState)
    );
    let ack = request("ACK", "z9hG4bKl");
    tx.handle_request(t0 + ms(600), ack.clone());
    assert_eq!(tx.poll_event(), Some(TxEvent::Ack(ack)));
    assert_eq!(
        tx.next_timer(),
        Some((Timer::L, t0 + ms(10) + Duration::from_secs(32)))
    );
    tx.handle_timeout(t0 + ms(10) + Duration::from_secs(32));
    assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
}

#[test]
fn rfc3261_17_2_2_non_invite_server_absorbs_then_resends_final_until_timer_j() {
    let t0 = Instant::now();
    let req = request("OPTIONS", "z9hG4bKj");
    let mut tx = ServerTransaction::new(t0, req.clone(), false, TimerConfig::default()).unwrap();
    assert_eq!(tx.state(), ServerState::Trying);
    assert_eq!(
        tx.poll_timeout(),
        None,
        "no 100 Trying timer for non-INVITE"
    );
    tx.handle_request(t0 + ms(500), req.clone());
    assert_eq!(tx.poll_transmit(), None, "Trying absorbs retransmissions");
    tx.send_response(t0 + ms(600), response(&req, 200)).unwrap();
    tx.poll_transmit();
    tx.handle_request(t0 + ms(1_500), req.clone());
    assert!(matches!(tx.poll_transmit(), Some(Message::Response(r)) if r.status == 200));
    assert_eq!(
        tx.next_timer(),
        Some((Timer::J, t0 + ms(600) + Duration::from_secs(32)))
    );
    tx.handle_timeout(t0 + ms(600) + Duration::from_secs(32));
    assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));

    // reliable: J = 0, terminated at once
    let mut tx = ServerTransaction::new(t0, req.clone(), true, TimerConfig::default()).unwrap();
    tx.send_response(t0, response(&req, 200)).unwrap();
    assert_eq!(tx.state(), ServerState::Terminated);
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn rfc3261_17_1_3_layer_matches_responses_by_branch_and_cseq_method() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let invite = request("INVITE", "z9hG4bKsame");
    let mut cancel = request("CANCEL", "z9hG4bKsame");
    cancel.headers.remove(&HeaderName::Route);
    let ki = layer
        .send_request(t0, invite.clone(), addr("192.0.2.1:5060"), false)
        .unwrap();
    let kc = layer
        .send_request(t0, cancel.clone(), addr("192.0.2.1:5060"), false)
        .unwrap();
    assert_ne!(
        ki, kc,
        "CANCEL has the INVITE's branch but its own transaction"
    );
    assert_eq!(
        layer.poll_transmit().unwrap().remote,
        addr("192.0.2.1:5060")
    );
    assert!(layer.poll_transmit().is_some());
    assert_eq!(layer.handle_response(t0, response(&cancel, 200)), None);
    assert_eq!(layer.client_state(&kc), Some(ClientState::Completed));
    assert_eq!(layer.client_state(&ki), Some(ClientState::Calling));
    assert_eq!(layer.handle_response(t0, response(&invite, 487)), None);
    let Some(t) = layer.poll_transmit() else {
        panic!()
    };
    assert!(matches!(t.message, Message::Request(ref r) if r.method == Method::Ack));
    assert_eq!(t.id, TxId::Client(ki));
    let stray = response(&request("INVITE", "z9hG4bKother"), 200);
    assert_eq!(
        layer.handle_response(t0, stray.clone()),
        Some(stray),
        "unmatched: back to the core"
    );
}

#[test]
fn rfc3261_17_2_3_layer_matches_retransmission_ack_and_cancel_and_rfc2543_peers() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let invite = request("INVITE", "z9hG4bKx1");
    let src = addr("198.51.100.7:40000");
    let Incoming::New(key, stamped) = layer.handle_request(t0, invite.clone(), src, false) else {
        panic!()
    };
    assert!(matches!(key, ServerKey::Rfc3261 { .. }));
    assert_eq!(
        stamped.headers.top_via().unwrap().received(),
        Some("198.51.100.7")
    );
    assert_eq!(
        layer.handle_request(t0 + ms(100), invite.clone(), src, false),
        Incoming::Absorbed
    );
    assert!(
        matches!(layer.poll_transmit(), Some(t) if matches!(t.message, Message::Response(ref r) if r.status == 100))
    );

    let cancel = request("CANCEL", "z9hG4bKx1");
    let Incoming::New(ckey, _) = layer.handle_request(t0 + ms(150), cancel.clone(), src, false)
    else {
        panic!()
    };
    assert_ne!(ckey, key);
    assert_eq!(layer.invite_for_cancel(&cancel), Some(key.clone()));

    layer
        .respond(t0 + ms(160), &key, response(&stamped, 487))
        .unwrap();
    let ack = request("ACK", "z9hG4bKx1");
    assert_eq!(
        layer.handle_request(t0 + ms(200), ack.clone(), src, false),
        Incoming::Absorbed
    );
    assert_eq!(layer.server_state(&key), Some(ServerState::Confirmed));
    let other_ack = request("ACK", "z9hG4bKnew");
    assert!(matches!(
        layer.handle_request(t0, other_ack, src, false),
        Incoming::UnmatchedAck(_)
    ));

    // RFC 4475 §3.2.1: bare "z9hG4bK" is no RFC 3261 branch; the RFC 2543 key still absorbs retransmissions.
    let old = request("OPTIONS", "z9hG4bK");
    let Incoming::New(okey, _) = layer.handle_request(t0, old.clone(), src, false) else {
        panic!()
    };
    assert!(matches!(okey, ServerKey::Rfc2543 { .. }));
    assert_eq!(
        layer.handle_request(t0 + ms(500), old, src, false),
        Incoming::Absorbed
    );
}

#[test]
fn rfc3581_4_responses_go_to_source_port_with_rport_and_to_sent_by_port_without() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let with = request("OPTIONS", "z9hG4bKr1");
    let src = addr("203.0.113.5:61000");
    let Incoming::New(k, stamped) = layer.handle_request(t0, with, src, false) else {
        panic!()
    };
    assert_eq!(
        stamped.headers.top_via().unwrap().rport(),
        Some(dtlsrtp_sip::Rport::Port(61000))
    );
    let resp = response(&stamped, 200);
    assert!(String::from_utf8(resp.to_bytes())
        .unwrap()
        .contains(";rport=61000;received=203.0.113.5"));
    layer.respond(t0, &k, resp).unwrap();
    assert_eq!(layer.poll_transmit().unwrap().remote, src);

    let mut without = request("OPTIONS", "z9hG4bKr2");
    without
        .headers
        .update_top_via(|v| v.params.remove("rport"))
        .unwrap();
    let Incoming::New(k, stamped) = layer.handle_request(t0, without, src, false) else {
        panic!()
    };
    layer.respond(t0, &k, response(&stamped, 200)).unwrap();
    assert_eq!(
        layer.poll_transmit().unwrap().remote,
        addr("203.0.113.5:5060"),
        "received IP, sent-by port"
    );
}

#[test]
fn rfc3261_17_layer_end_to_end_invite_486_ack_over_a_lossless_memory_link() {
    let t0 = Instant::now();
    let (a, b) = (addr("192.0.2.1:5060"), addr("192.0.2.2:5060"));
    let mut uac = TransactionLayer::new(TimerConfig::default());
    let mut uas = TransactionLayer::new(TimerConfig::default());
    let invite = request("INVITE", "z9hG4bKe2e");
    let kc = uac.send_request(t0, invite, b, false).unwrap();
    let mut now = t0;
    let mut server_key: Option<ServerKey> = None;
    for _ in 0..20 {
        while let Some(t) = uac.poll_transmit() {
            match Message::parse(&t.message.to_bytes()).unwrap() {
                Message::Request(r) => {
                    if let Incoming::New(k, stamped) = uas.handle_request(now, r, a, false) {
                        uas.respond(now, &k, response(&stamped, 486)).unwrap();
                        server_key = Some(k);
                    }
                }
                Message::Response(_) => unreachable!(),
            }
        }
        while let Some(t) = uas.poll_transmit() {
            let Message::Response(r) = Message::parse(&t.message.to_bytes()).unwrap() else {
                unreachable!()
            };
            assert_eq!(uac.handle_response(now, r), None);
        }
        now += ms(100);
        uac.handle_timeout(now);
        uas.handle_timeout(now);
    }
    let key = server_key.unwrap();
    assert_eq!(
        uas.server_state(&key),
        Some(ServerState::Confirmed),
        "the UAS got the ACK built by the UAC"
    );
    assert_eq!(uac.client_state(&kc), Some(ClientState::Completed));
    let ev: Vec<_> = std::iter::from_fn(|| uac.poll_event()).collect();
    assert!(
        matches!(&ev[..], [(TxId::Client(_), TxEvent::Response(r))] if r.status == 486),
        "{ev:?}"
    );
    assert!(uac.poll_timeout().is_some());
    let _ = ClientKey::from_request(&request("BYE", "z9hG4bKq")).unwrap();
}

#[test]
fn rfc3261_17_2_1_invite_server_reliable_no_timer_g_and_ack_terminates_at_once() {
    let t0 = Instant::now();
    let invite = request("INVITE", "z9hG4bKtcp");
    let mut tx = ServerTransaction::new(t0, invite.clone(), true, TimerConfig::default()).unwrap();
    tx.send_response(t0, response(&invite, 486)).unwrap();
    tx.poll_transmit();
    assert_eq!(
        tx.next_timer(),
        Some((Timer::H, t0 + Duration::from_secs(32))),
        "no G on a reliable transport"
    );
    tx.handle_request(t0 + ms(10), request("ACK", "z9hG4bKtcp"));
    assert_eq!(
        tx.state(),
        ServerState::Terminated,
        "Timer I = 0 on reliable transports"
    );
}

#[test]
fn rfc3261_17_1_2_2_non_invite_client_reliable_no_timer_e_and_k_is_zero() {
    let t0 = Instant::now();
    let req = request("REGISTER", "z9hG4bKreg");
    let mut tx = ClientTransaction::new(t0, req.clone(), true, TimerConfig::default()).unwrap();
    tx.poll_transmit();
    assert_eq!(
        tx.next_timer(),
        Some((Timer::F, t0 + Duration::from_secs(32)))
    );
    tx.handle_response(t0 + ms(40), response(&req, 401));
    assert_eq!(tx.state(), ClientState::Terminated);
    assert!(matches!(tx.poll_event(), Some(TxEvent::Response(r)) if r.status == 401));
    assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
}

#[test]
fn layer_next_timer_names_the_reason_and_terminated_transactions_are_dropped() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let k = layer
        .send_request(
            t0,
            request("OPTIONS", "z9hG4bKnt"),
            addr("192.0.2.1:5060"),
            false,
        )
        .unwrap();
    assert_eq!(
        layer.next_timer(),
        Some((TxId::Client(k.clone()), Timer::E, t0 + ms(500)))
    );
    layer.handle_timeout(t0 + Duration::from_secs(32));
    let ev: Vec<_> = std::iter::from_fn(|| layer.poll_event())
        .map(|(_, e)| e)
        .collect();
    assert_eq!(ev, [TxEvent::Timeout, TxEvent::Terminated]);
    assert!(layer.is_empty());
    assert_eq!(layer.poll_timeout(), None);
}

#[test]
fn rfc3261_9_1_cancel_built_from_invite_matches_the_invite_server_transaction() {
    let t0 = Instant::now();
    let invite = request("INVITE", "z9hG4bKcan");
    let cancel = dtlsrtp_sip::transaction::build_cancel(&invite);
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(cancel.uri, invite.uri);
    assert_eq!(cancel.headers.top_via(), invite.headers.top_via());
    assert_eq!(cancel.headers.cseq().unwrap().seq, 314159);
    assert_eq!(cancel.headers.cseq().unwrap().method, Method::Cancel);
    assert_eq!(cancel.headers.routes().count(), 1);
    let cancel = match Message::parse(&cancel.to_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!(),
    };
    let mut uas = TransactionLayer::new(TimerConfig::default());
    let src = addr("192.0.2.1:5060");
    let Incoming::New(ikey, _) = uas.handle_request(t0, invite, src, false) else {
        panic!()
    };
    let Incoming::New(_, c) = uas.handle_request(t0, cancel, src, false) else {
        panic!()
    };
    assert_eq!(uas.invite_for_cancel(&c), Some(ikey));
}

#[test]
fn layer_server_limit_refuses_new_transactions_but_keeps_matching_existing_ones() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default()).with_server_limit(2);
    let src = addr("192.0.2.1:5060");
    for b in ["z9hG4bKf1", "z9hG4bKf2"] {
        assert!(matches!(
            layer.handle_request(t0, request("INVITE", b), src, false),
            Incoming::New(..)
        ));
    }
    assert!(matches!(
        layer.handle_request(t0, request("INVITE", "z9hG4bKf3"), src, false),
        Incoming::Overloaded(_)
    ));
    assert_eq!(
        layer.handle_request(t0, request("INVITE", "z9hG4bKf1"), src, false),
        Incoming::Absorbed
    );
    assert_eq!(layer.len(), 2);
}

#[test]
fn rfc3261_9_1_tu_can_terminate_an_invite_left_in_proceeding() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let invite = request("INVITE", "z9hG4bKp");
    let k = layer
        .send_request(t0, invite.clone(), addr("192.0.2.1:5060"), false)
        .unwrap();
    layer.handle_response(t0, response(&invite, 180));
    assert_eq!(layer.client_state(&k), Some(ClientState::Proceeding));
    assert_eq!(
        layer.poll_timeout(),
        None,
        "Proceeding has no timer: the TU decides"
    );
    layer.terminate(&TxId::Client(k.clone())).unwrap();
    assert!(layer.is_empty());
    assert_eq!(
        layer.terminate(&TxId::Client(k)),
        Err(dtlsrtp_sip::transaction::TxError::Unknown)
    );
}

#[test]
fn rfc3261_17_1_4_transport_error_reaches_the_tu_and_ends_the_transaction() {
    let t0 = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    let k = layer
        .send_request(
            t0,
            request("OPTIONS", "z9hG4bKte"),
            addr("192.0.2.1:5060"),
            true,
        )
        .unwrap();
    let id = TxId::Client(k);
    layer.handle_transport_error(t0, &id).unwrap();
    let ev: Vec<_> = std::iter::from_fn(|| layer.poll_event()).collect();
    assert_eq!(
        ev,
        [
            (id.clone(), TxEvent::TransportError),
            (id, TxEvent::Terminated)
        ]
    );
    assert!(layer.is_empty());
}
