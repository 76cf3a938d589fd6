//! UA core cost of one complete call: INVITE → 180 → 200 → ACK → BYE → 200 between two in-memory
//! `UserAgent`s over UDP (parse, transactions, dialogs, serialisation; no sockets).
//!
//! `cargo bench -p dtlsrtp-sip --bench ua` prints figures. Without `--bench` in argv (as `cargo test
//! --all-targets` runs it) it does a tiny smoke pass with correctness asserts, well under a second.
#![allow(clippy::unwrap_used, clippy::panic)] // a bench binary: failing loudly is the point

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dtlsrtp_sip::ua::{Config, Event, UserAgent};
use dtlsrtp_sip::SipUri;

const SDP: &[u8] = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 40000 UDP/TLS/RTP/SAVP 0\r\na=setup:actpass\r\na=fingerprint:sha-256 AB:CD\r\n";

/// Delivers everything both UAs send until both are quiet; returns the number of messages.
fn settle(
    now: Instant,
    a: &mut UserAgent,
    aa: SocketAddr,
    b: &mut UserAgent,
    ba: SocketAddr,
) -> usize {
    let mut n = 0;
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit() {
            b.handle_datagram(now, aa, &t.bytes);
            n += 1;
            moved = true;
        }
        while let Some(t) = b.poll_transmit() {
            a.handle_datagram(now, ba, &t.bytes);
            n += 1;
            moved = true;
        }
        if !moved {
            return n;
        }
    }
}

/// One call; returns the messages exchanged.
fn one_call(
    now: Instant,
    a: &mut UserAgent,
    aa: SocketAddr,
    b: &mut UserAgent,
    ba: SocketAddr,
) -> usize {
    let target = SipUri::parse("sip:bob@127.0.0.1:5002").unwrap();
    let ca = a.call(now, &target, Some(SDP.to_vec())).unwrap();
    let mut n = settle(now, a, aa, b, ba);
    let cb = loop {
        match b.poll_event() {
            Some(Event::IncomingCall { call, .. }) => break call,
            Some(_) => {}
            None => panic!("no IncomingCall"),
        }
    };
    b.ring(now, cb, 180, None).unwrap();
    b.answer(now, cb, Some(SDP.to_vec())).unwrap();
    n += settle(now, a, aa, b, ba);
    a.hangup(now, ca).unwrap();
    n += settle(now, a, aa, b, ba);
    let mut ended = 0;
    while let Some(e) = a.poll_event() {
        ended += usize::from(matches!(e, Event::Terminated { .. }));
    }
    while let Some(e) = b.poll_event() {
        ended += usize::from(matches!(e, Event::Terminated { .. }));
    }
    assert_eq!(ended, 2, "both sides ended the call");
    n
}

#[allow(clippy::disallowed_methods)] // a benchmark measures wall time; the UA's clock is a fixed instant
fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let calls: u32 = if full { 20_000 } else { 20 };
    let aa: SocketAddr = "127.0.0.1:5001".parse().unwrap();
    let ba: SocketAddr = "127.0.0.1:5002".parse().unwrap();
    let mut a = UserAgent::new(Config::new("alice", "127.0.0.1", aa), [1; 32]);
    let mut b = UserAgent::new(Config::new("bob", "127.0.0.1", ba), [2; 32]);
    let now = Instant::now();
    let start = Instant::now();
    let mut msgs = 0;
    for i in 0..calls {
        // 40 s apart: the previous call's transactions (Timers D, K, L, M ≤ 32 s) end here
        let t = now + Duration::from_secs(40) * i;
        a.handle_timeout(t);
        b.handle_timeout(t);
        msgs += one_call(t, &mut a, aa, &mut b, ba);
    }
    let d: Duration = start.elapsed();
    assert_eq!(a.call_count() + b.call_count(), 0);
    assert_eq!(
        msgs,
        calls as usize * 6,
        "INVITE, 180, 200, ACK, BYE, 200 per call"
    );
    let per_call = d.as_nanos() as f64 / f64::from(calls);
    println!(
        "ua call (INVITE..BYE, both UAs)     {:>9.1} µs/call  {:>8.0} calls/s  {:>6.2} µs/msg{}",
        per_call / 1e3,
        1e9 / per_call,
        per_call / 1e3 / (msgs as f64 / f64::from(calls)),
        if full { "" } else { "  (smoke pass)" }
    );
}
