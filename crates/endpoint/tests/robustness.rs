//! Policy and bad input on the in-memory network: secure-only refuses a plain RTP offer with 488 (no call, no
//! media state); best effort negotiates DTLS-SRTP through RFC 5939 capability negotiation (B-1, B-2); malformed
//! SIP over UDP and over a stream gets 400 or is dropped with the established dialog untouched; an oversize
//! message is refused; a bounded flood of 10,000 bogus INVITEs leaves an established call's media undisturbed.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod common;

use common::*;
use dtlsrtp::{CallOptions, Datagram, Event, TransportKind};

const PLAIN_SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";

fn invite(call_id: &str, body: &str) -> String {
    format!(
        "INVITE sip:bob@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{call_id}\r\n\
Max-Forwards: 70\r\nFrom: <sip:eve@127.0.0.1:5999>;tag=e{call_id}\r\nTo: <sip:bob@127.0.0.1:5070>\r\n\
Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:eve@127.0.0.1:5999>\r\n\
Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn responses_to(net: &Net, to: u16, status: &str) -> usize {
    net.log
        .iter()
        .filter(|(_, t, b)| t.port() == to && b.starts_with(format!("SIP/2.0 {status}").as_bytes()))
        .count()
}

#[test]
fn secure_only_plain_rtp_offer_gets_488_no_call_no_media_state() {
    let mut net = Net::new();
    let b = net.add(Net::config("bob", 5070, 2));
    let now = net.now;
    let free = net.ep(b).free_media_sockets();
    net.ep(b).handle_datagram(
        now,
        Datagram {
            local: addr(5070),
            remote: addr(5999),
            bytes: invite("plain1", PLAIN_SDP).as_bytes(),
        },
    );
    net.run();
    assert_eq!(responses_to(&net, 5999, "488"), 1, "{:?}", net.log.len());
    let eb = net.take(b);
    assert!(
        !has(&eb, |e| matches!(e, Event::IncomingCall { .. })),
        "{eb:?}"
    );
    assert_eq!(net.ep(b).call_count(), 0);
    assert_eq!(
        net.ep(b).free_media_sockets(),
        free,
        "the media socket went back to the pool"
    );
}

#[test]
fn b_1_best_effort_offer_capneg_negotiates_dtls_srtp() {
    let mut net = Net::new();
    let mut cfg = Net::config("alice", 5060, 1);
    cfg.best_effort = true;
    cfg.policy = dtlsrtp_sdp::negotiate::RtpPolicy::AllowRtp;
    let a = net.add(cfg);
    let b = net.add(Net::config("bob", 5070, 2));
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
    let inv = net
        .log
        .iter()
        .find(|(f, _, b)| *f == addr(5060) && b.starts_with(b"INVITE"))
        .unwrap();
    let inv = String::from_utf8_lossy(&inv.2);
    assert!(
        inv.contains("RTP/AVP") && inv.contains("a=tcap:1 UDP/TLS/RTP/SAVP"),
        "{inv}"
    );
    let ok = net
        .log
        .iter()
        .find(|(f, _, b)| *f == addr(5070) && b.starts_with(b"SIP/2.0 200"))
        .unwrap();
    assert!(String::from_utf8_lossy(&ok.2).contains("a=acfg:1"));
    assert!(has(
        &net.take(a),
        |e| matches!(e, Event::Established { call, .. } if *call == ca)
    ));
    let now = net.now;
    net.ep(a).send_audio(now, ca, 0, 0, b"capneg").unwrap();
    net.run();
    assert_eq!(
        rtp_payloads(&net.take(b)),
        vec![(Some(dtlsrtp::Endpoint::UAS_FORK), b"capneg".to_vec())]
    );
}

/// An established call between a and b (a = 5060, b = 5070).
fn established(net: &mut Net) -> (usize, usize, dtlsrtp::CallId, dtlsrtp::CallId) {
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
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
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::Established { .. }
    )));
    net.take(b);
    (a, b, ca, cb)
}

#[test]
fn malformed_sip_udp_and_stream_400_or_drop_dialog_untouched_oversize_refused() {
    let mut net = Net::new();
    let (a, b, ca, cb) = established(&mut net);
    let now = net.now;
    let bad_invite = invite("nocallid", "").replace("Call-ID: nocallid\r\n", "");
    let bad_cseq = invite("badcseq", "").replace("CSeq: 1 INVITE", "CSeq: x INVITE");
    let oversize = invite("big", &"a".repeat(100_000));
    let inputs: Vec<Vec<u8>> = vec![
        b"hello world".to_vec(),
        vec![0xff; 300],
        bad_invite.into_bytes(),
        bad_cseq.into_bytes(),
        oversize.into_bytes(),
        b"SIP/2.0 200 OK\r\nVia: garbage\r\n\r\n".to_vec(),
    ];
    for bytes in &inputs {
        net.ep(b).handle_datagram(
            now,
            Datagram {
                local: addr(5070),
                remote: addr(5999),
                bytes,
            },
        );
        // garbage on the media socket too
        let media = net.nodes[b].media[0];
        net.ep(b).handle_datagram(
            now,
            Datagram {
                local: media,
                remote: addr(5999),
                bytes,
            },
        );
    }
    // the same malformed INVITE over a stream (TCP framing by Content-Length)
    let bad_cseq_tcp = invite("badcseq2", "")
        .replace("CSeq: 1 INVITE", "CSeq: x INVITE")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    net.ep(b)
        .handle_stream(now, TransportKind::Tcp, addr(5998), bad_cseq_tcp.as_bytes());
    net.run();
    // the bad CSeq gets 400, the INVITE without Call-ID cannot be answered and is dropped, the oversize one 413
    assert_eq!(responses_to(&net, 5999, "400"), 1);
    assert_eq!(responses_to(&net, 5999, "413"), 1);
    // over the stream: 400 on that connection
    assert_eq!(responses_to(&net, 5998, "400"), 1);
    let eb = net.take(b);
    assert!(
        !has(&eb, |e| matches!(
            e,
            Event::IncomingCall { .. } | Event::Terminated { .. }
        )),
        "{eb:?}"
    );
    assert_eq!(net.ep(b).call_count(), 1);
    // the dialog and its media are untouched
    let now = net.now;
    net.ep(a).send_audio(now, ca, 0, 0, b"still").unwrap();
    net.ep(b).send_audio(now, cb, 0, 0, b"here").unwrap();
    net.run();
    assert_eq!(rtp_payloads(&net.take(b)).len(), 1);
    assert_eq!(rtp_payloads(&net.take(a)).len(), 1);
    let now = net.now;
    net.ep(a).hangup(now, ca).unwrap();
    net.run();
    assert!(has(&net.take(b), |e| matches!(e, Event::Terminated { .. })));
}

/// A-R-DOS: 10,000 bogus INVITEs (half malformed → 400, half with a body that is not SDP → 488 before any media
/// state) while the call's media flows: every media packet sent during the flood arrives.
#[test]
fn flood_of_10000_bogus_invites_does_not_disturb_established_media() {
    let mut net = Net::new();
    let (a, b, ca, _cb) = established(&mut net);
    let mut sent = 0u32;
    for i in 0..10_000u32 {
        let now = net.now;
        let msg = if i % 2 == 0 {
            invite(&format!("flood{i}"), "").replace("CSeq: 1 INVITE", "CSeq: one INVITE")
        } else {
            invite(&format!("flood{i}"), "this is not sdp")
        };
        net.ep(b).handle_datagram(
            now,
            Datagram {
                local: addr(5070),
                remote: addr(5999),
                bytes: msg.as_bytes(),
            },
        );
        if i % 100 == 0 {
            net.ep(a)
                .send_audio(now, ca, 0, sent * 160, &sent.to_be_bytes())
                .unwrap();
            sent += 1;
            net.run();
        }
    }
    net.run();
    let got = rtp_payloads(&net.take(b));
    assert_eq!(
        got.len() as u32,
        sent,
        "every media packet arrived during the flood"
    );
    assert_eq!(net.ep(b).call_count(), 1, "no call state from the flood");
    assert!(responses_to(&net, 5999, "400") >= 5_000);
    assert!(responses_to(&net, 5999, "488") >= 5_000);
    let eb = net.take(b);
    assert!(!has(&eb, |e| matches!(
        e,
        Event::IncomingCall { .. } | Event::Terminated { .. }
    )));
}

/// No panic from network input: 20,000 mutated copies of real SIP messages and DTLS/SRTP datagrams (byte
/// flips, truncations, splices; seeded, reproducible) into the SIP socket, a stream and the media socket of an
/// established call, which still carries media afterwards.
#[test]
fn mutated_sip_and_media_never_panic_call_survives() {
    let mut net = Net::new();
    let (a, b, ca, cb) = established(&mut net);
    // a corpus of real datagrams this call exchanged
    let corpus: Vec<Vec<u8>> = net.log.iter().map(|(_, _, p)| p.clone()).collect();
    assert!(corpus.len() > 5);
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let media = net.nodes[b].media[0];
    for i in 0..20_000u32 {
        let mut m = corpus[(rnd() as usize) % corpus.len()].clone();
        match rnd() % 4 {
            0 => {
                for _ in 0..1 + rnd() % 8 {
                    let at = (rnd() as usize) % m.len().max(1);
                    if let Some(byte) = m.get_mut(at) {
                        *byte = rnd() as u8;
                    }
                }
            }
            1 => m.truncate((rnd() as usize) % (m.len() + 1)),
            2 => {
                let other = &corpus[(rnd() as usize) % corpus.len()];
                let cut = (rnd() as usize) % (other.len() + 1);
                m.extend_from_slice(&other[cut..]);
            }
            _ => m.insert((rnd() as usize) % (m.len() + 1), rnd() as u8),
        }
        let now = net.now;
        let local = if i % 3 == 0 { media } else { addr(5070) };
        net.ep(b).handle_datagram(
            now,
            Datagram {
                local,
                remote: addr(5999),
                bytes: &m,
            },
        );
        if i % 5 == 0 {
            net.ep(b)
                .handle_stream(now, TransportKind::Tcp, addr(5998), &m);
        }
        if i % 1000 == 0 {
            net.run();
        }
    }
    net.run();
    // A mutation can leave a well-formed INVITE with another Call-ID: a new call, announced like any other
    // (which copies of the corpus do depends on the seeded tags and Call-IDs). Nothing else may add one.
    let new_calls = net
        .take(b)
        .iter()
        .filter(|e| matches!(e, Event::IncomingCall { .. }))
        .count();
    assert_eq!(net.ep(b).call_count(), 1 + new_calls);
    let now = net.now;
    net.ep(a).send_audio(now, ca, 0, 0, b"alive").unwrap();
    net.ep(b).send_audio(now, cb, 0, 0, b"alive").unwrap();
    net.run();
    assert!(rtp_payloads(&net.take(b))
        .iter()
        .any(|(_, p)| p == b"alive"));
    assert!(rtp_payloads(&net.take(a))
        .iter()
        .any(|(_, p)| p == b"alive"));
}

/// A real first ClientHello, and a second one carrying a cookie from another server (a bad cookie here).
fn flood_hellos(now: std::time::Instant) -> (Vec<u8>, Vec<u8>) {
    use dtlsrtp_dtls::{Association, Certificate, Config, CookieSecret, DtlsContext, HelloCheck};
    let cert = Certificate::generate(dtlsrtp_dtls::KeyType::EcdsaP256, "flood", 1).unwrap();
    let ctx = DtlsContext::new(&Config::new(cert, CookieSecret::new([0x77; 32]))).unwrap();
    let target = addr(5160);
    let mut c = Association::new(&ctx, dtlsrtp_srtp::DtlsRole::Client, target, now).unwrap();
    let ch1 = c.poll_transmit().unwrap();
    let HelloCheck::Verify { reply, .. } = ctx.check_client_hello(addr(40_000), &ch1) else {
        panic!("a HelloVerifyRequest")
    };
    c.handle_datagram(now, &reply);
    (ch1, c.poll_transmit().unwrap())
}

/// Sends `n` flood ClientHellos from 200 source ports of 127.0.0.66, round robin over every media socket of
/// every node; counts them per target socket.
fn flood(
    net: &mut Net,
    hellos: &[Vec<u8>; 2],
    n: u64,
    sent: &mut std::collections::HashMap<std::net::SocketAddr, u64>,
) {
    let now = net.now;
    let targets: Vec<(usize, std::net::SocketAddr)> = net
        .nodes
        .iter()
        .enumerate()
        .flat_map(|(i, node)| node.media.iter().map(move |m| (i, *m)))
        .collect();
    for _ in 0..n {
        let k: u64 = sent.values().sum();
        let from = std::net::SocketAddr::from(([127, 0, 0, 66], 20_000 + (k % 200) as u16));
        let (i, to) = targets[(k as usize) % targets.len()];
        net.nodes[i].ep.handle_datagram(
            now,
            Datagram {
                local: to,
                remote: from,
                bytes: &hellos[((k / targets.len() as u64) % 2) as usize],
            },
        );
        *sent.entry(to).or_default() += 1;
    }
}

fn verified(net: &mut Net, i: usize, call: dtlsrtp::CallId) -> bool {
    net.ep(i).stats(call).is_some_and(|s| {
        s.associations
            .iter()
            .any(|a| a.gate == dtlsrtp_dtls::GateState::Verified)
    })
}

/// R-1 (RFC 6347 §4.2.1): 5,000 ClientHellos per second from 200 source ports hit every media socket of both
/// endpoints while the call is set up and while it runs. The call sets up and keeps its media; the flood creates
/// no association (the caller, DTLS server, answers each with a stateless HelloVerifyRequest; the callee, DTLS
/// client, refuses them), and the counters account for every flood datagram.
#[test]
fn r_1_client_hello_flood_5000_per_s_from_200_ports_during_call_setup_and_call() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let (ch1, ch2) = flood_hellos(net.now);
    let hellos = [ch1, ch2];
    let mut sent = std::collections::HashMap::new();
    let now = net.now;
    let ca = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    // Setup: 50 ClientHellos every 10 ms.
    let mut cb = None;
    for _ in 0..200 {
        flood(&mut net, &hellos, 50, &mut sent);
        net.run_for(std::time::Duration::from_millis(10));
        let events = net.take(b);
        if let Some(c) = events.iter().find_map(|e| match e {
            Event::IncomingCall { call, .. } => Some(*call),
            _ => None,
        }) {
            cb = Some(c);
            break;
        }
    }
    let cb = cb.expect("the INVITE arrived during the flood");
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    let mut up = false;
    for _ in 0..300 {
        flood(&mut net, &hellos, 50, &mut sent);
        net.run_for(std::time::Duration::from_millis(10));
        if verified(&mut net, a, ca) && verified(&mut net, b, cb) {
            up = true;
            break;
        }
    }
    assert!(up, "the call set up and verified during the flood");
    net.take(a);
    net.take(b);
    // The call: 2 s of audio both ways, 100 ClientHellos every 20 ms.
    for i in 0..100u32 {
        let now = net.now;
        net.ep(a)
            .send_audio(now, ca, 0, i * 160, &i.to_be_bytes())
            .unwrap();
        net.ep(b)
            .send_audio(now, cb, 0, i * 160, &i.to_be_bytes())
            .unwrap();
        flood(&mut net, &hellos, 100, &mut sent);
        net.run_for(std::time::Duration::from_millis(20));
    }
    net.run();
    assert_eq!(rtp_payloads(&net.take(b)).len(), 100, "callee heard it all");
    assert_eq!(rtp_payloads(&net.take(a)).len(), 100, "caller heard it all");
    let total: u64 = sent.values().sum();
    assert!(total >= 10_000, "{total}");
    // No state from the flood: one association per side, with the other endpoint.
    let (sa, sb) = (net.ep(a).stats(ca).unwrap(), net.ep(b).stats(cb).unwrap());
    assert_eq!(sa.associations.len(), 1, "{:?}", sa.associations);
    assert_eq!(sb.associations.len(), 1, "{:?}", sb.associations);
    assert_eq!(sa.associations[0].remote, sb.local);
    assert_eq!(sb.associations[0].remote, sa.local);
    // The counters explain the drops: the caller (listening, DTLS server) dealt with every flood ClientHello on
    // its call socket without state (plus the callee's own first ClientHello); the callee (DTLS client) refused
    // them; what reached a socket no call owned (yet) is counted by the endpoint.
    let (to_a, to_b) = (sent[&sa.local], sent[&sb.local]);
    assert!(to_a > 1_000 && to_b > 1_000, "{to_a} {to_b}");
    let to_node = |net: &Net, i: usize| -> u64 {
        net.nodes[i].media.iter().filter_map(|m| sent.get(m)).sum()
    };
    let (all_a, all_b) = (to_node(&net, a), to_node(&net, b));
    // Until its association was verified the caller answered them with HelloVerifyRequests; since then its
    // port is locked and refuses them silently.
    let answered = sa.counters.hello_verify_sent + sa.counters.dtls_refused;
    assert!(sa.counters.hello_verify_sent > 0 && sa.counters.dtls_refused > 0);
    assert!(
        answered >= to_a && answered - to_a <= 5,
        "{answered} {to_a}"
    );
    assert_eq!(net.ep(a).dropped() + to_a, all_a);
    assert!(sa.counters.hello_bad_cookie <= sa.counters.hello_verify_sent);
    assert_eq!(sa.counters.handshakes_refused, 0);
    assert_eq!(sa.counters.hello_malformed, 0);
    assert_eq!(net.ep(b).dropped() + sb.counters.dtls_refused, all_b);
    assert_eq!(net.ep(a).call_count(), 1);
    assert_eq!(net.ep(b).call_count(), 1);
}
