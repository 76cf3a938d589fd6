//! R-2 on the in-memory network (virtual time): a flood of unique out-of-dialog requests — OPTIONS, unknown
//! methods (405), INVITEs requiring an unknown extension (420), BYEs of no dialog (481), garbage (400) — from
//! 200 source addresses, 2,000 per second for 10 s, never refuses the requests of a live call (re-INVITE, BYE)
//! nor a new INVITE from a source that does not flood. Before the server-transaction table had per-source bounds
//! and short retention for stateless answers, ~130 unique OPTIONS/s filled its 4,096 entries for 32 s each and
//! every INVITE and BYE got 503.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use dtlsrtp::{CallOptions, Datagram, Event};

/// The i-th flood request from `src` to bob (5070): every one is new (its own branch and Call-ID).
fn flood_request(i: u32, src: SocketAddr) -> Vec<u8> {
    let (host, port) = (src.ip(), src.port());
    let head = |method: &str, extra: &str| {
        format!(
            "{method} sip:bob@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{port};branch=z9hG4bKfl{i}\r\n\
Max-Forwards: 70\r\nFrom: <sip:f@{host}>;tag=f{i}\r\nTo: <sip:bob@127.0.0.1:5070>\r\nCall-ID: fl{i}@{host}\r\n\
CSeq: 1 {method}\r\n{extra}Content-Length: 0\r\n\r\n"
        )
    };
    match i % 10 {
        0 => head("FOO", ""),
        1 => head(
            "INVITE",
            "Contact: <sip:f@10.0.0.1>\r\nRequire: no-such-extension\r\n",
        ),
        2 => head("BYE", "").replace(
            "To: <sip:bob@127.0.0.1:5070>",
            "To: <sip:bob@127.0.0.1:5070>;tag=nodialog",
        ),
        3 => format!("garbage {i}\r\n\r\n"),
        _ => head("OPTIONS", ""),
    }
    .into_bytes()
}

fn flood_source(i: u32) -> SocketAddr {
    let n = i % 200;
    SocketAddr::from(([10, 9, (n / 100) as u8, (n % 100) as u8 + 1], 5060))
}

fn responses(net: &Net, from: SocketAddr, to: SocketAddr, start: &str) -> usize {
    net.log
        .iter()
        .filter(|(f, t, b)| *f == from && *t == to && b.starts_with(start.as_bytes()))
        .count()
}

/// Floods bob for `secs` virtual seconds at 2,000 requests/s (20 every 10 ms), starting at request `first`.
fn flood(net: &mut Net, b: usize, first: &mut u32, secs: u32) {
    for _ in 0..secs * 100 {
        for _ in 0..20 {
            let i = *first;
            *first += 1;
            let now = net.now;
            let bytes = flood_request(i, flood_source(i));
            net.ep(b).handle_datagram(
                now,
                Datagram {
                    local: addr(5070),
                    remote: flood_source(i),
                    bytes: &bytes,
                },
            );
        }
        net.now += Duration::from_millis(10);
        net.run_for(Duration::ZERO);
    }
}

#[test]
fn r_2_options_and_4xx_flood_from_many_sources_never_refuses_live_dialog_or_new_call() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let c = net.add(Net::config("carol", 5080, 3));
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

    // 3 s of flood (6,000 requests): far more than 4,096 entries would hold for 32 s.
    let mut next = 0u32;
    flood(&mut net, b, &mut next, 3);
    // The live call's re-INVITE during the flood: 200, the call is modified.
    let now = net.now;
    net.ep(a).reinvite(now, ca).unwrap();
    flood(&mut net, b, &mut next, 1);
    let ea = net.take(a);
    assert!(
        has(&ea, |e| matches!(e, Event::Modified { .. })),
        "re-INVITE refused under the flood: {ea:?}"
    );
    assert!(
        !has(&ea, |e| matches!(e, Event::ModifyFailed { .. })),
        "{ea:?}"
    );

    let options_ok = (0..next)
        .filter(|i| i % 10 >= 4)
        .map(flood_source)
        .collect::<std::collections::HashSet<_>>()
        .into_iter()
        .map(|s| responses(&net, addr(5070), s, "SIP/2.0 200"))
        .sum::<usize>();
    assert!(
        options_ok >= 3_000,
        "the flood's OPTIONS are answered: {options_ok}"
    );

    // A new call from a source that does not flood is answered.
    let now = net.now;
    let cc = net
        .ep(c)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    flood(&mut net, b, &mut next, 1);
    let eb = net.take(b);
    let cb2 = incoming(&eb);
    let now = net.now;
    net.ep(b).answer(now, cb2).unwrap();
    flood(&mut net, b, &mut next, 1);
    let ec = net.take(c);
    assert!(
        has(
            &ec,
            |e| matches!(e, Event::Established { call, .. } if *call == cc)
        ),
        "a new INVITE under the flood was not answered: {ec:?}"
    );
    assert_eq!(responses(&net, addr(5070), addr(5080), "SIP/2.0 503"), 0);

    // The first call's media still flows, then its BYE gets 200 during the flood.
    let now = net.now;
    net.ep(a).send_audio(now, ca, 0, 0, b"under flood").unwrap();
    flood(&mut net, b, &mut next, 1);
    let got = rtp_payloads(&net.take(b));
    assert!(got.iter().any(|(_, p)| p == b"under flood"), "{got:?}");
    let now = net.now;
    net.ep(a).hangup(now, ca).unwrap();
    flood(&mut net, b, &mut next, 3);
    assert!(
        has(
            &net.take(b),
            |e| matches!(e, Event::Terminated { call, .. } if *call == cb)
        ),
        "BYE under the flood"
    );
    assert!(responses(&net, addr(5070), addr(5060), "SIP/2.0 200") >= 2);
    assert_eq!(
        responses(&net, addr(5070), addr(5060), "SIP/2.0 503"),
        0,
        "nothing of the live call was refused"
    );
    assert!(next >= 20_000, "the flood lasted 10 s at 2,000/s: {next}");
}
