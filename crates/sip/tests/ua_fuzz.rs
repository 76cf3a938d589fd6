//! Network input to an established call, mutated (proptest): every message of a real exchange (INVITE, 1xx,
//! 2xx, ACK, re-INVITE, UPDATE, OPTIONS, BYE, CANCEL) with bytes flipped, inserted, cut, fed as a datagram and as
//! stream bytes to either side. No input may panic the UA, and the UA keeps working (timers, polls, hangup).
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

mod net;

use std::time::Duration;

use dtlsrtp_sip::ua::{ModifyKind, TransportKind};
use net::*;
use proptest::prelude::*;

/// The wire of a complete scenario that starts like `established()`, so in-dialog messages match its dialog.
fn templates() -> &'static [(std::net::SocketAddr, std::net::SocketAddr, Vec<u8>)] {
    static T: std::sync::OnceLock<Vec<(std::net::SocketAddr, std::net::SocketAddr, Vec<u8>)>> =
        std::sync::OnceLock::new();
    T.get_or_init(|| {
        let (mut net, a, b, ca, cb) = established();
        let now = net.now;
        net.ua(a)
            .modify(now, ca, ModifyKind::Reinvite, Some(b"o2".to_vec()))
            .unwrap();
        net.run();
        net.ua(b)
            .accept_modify(now, cb, Some(b"a2".to_vec()))
            .unwrap();
        net.run();
        net.ua(b)
            .modify(now, cb, ModifyKind::Update, Some(b"o3".to_vec()))
            .unwrap();
        net.run();
        net.ua(a)
            .accept_modify(now, ca, Some(b"a3".to_vec()))
            .unwrap();
        net.run();
        net.inject(addr(5009), b, &raw("OPTIONS", "t1", "", "", ""));
        net.inject(addr(5009), b, &raw("CANCEL", "t2", "", "", ""));
        net.ua(a).hangup(now, ca).unwrap();
        net.run();
        net.log
            .iter()
            .map(|w| (w.from, w.to, w.bytes.clone()))
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, u8),
    Cut(usize, usize),
}

const INTERESTING: &[u8] = b":;,<>\"\\ \t\r\n@=?%[]/*0123456789zZ\x00\xff";

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), prop::sample::select(INTERESTING)).prop_map(|(p, b)| Edit::Set(p, b)),
        (any::<usize>(), prop::sample::select(INTERESTING)).prop_map(|(p, b)| Edit::Insert(p, b)),
        (any::<usize>(), 1usize..30).prop_map(|(p, n)| Edit::Cut(p, n)),
    ]
}

fn apply(mut d: Vec<u8>, e: &Edit) -> Vec<u8> {
    let len = d.len().max(1);
    match *e {
        Edit::Set(p, b) => {
            if let Some(x) = d.get_mut(p % len) {
                *x = b;
            }
        }
        Edit::Insert(p, b) => d.insert(p % (d.len() + 1), b),
        Edit::Cut(p, n) => {
            let s = p % len;
            let end = (s + n).min(d.len());
            if s < end {
                d.drain(s..end);
            }
        }
    }
    d
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_messages_never_panic_the_ua(
        pick in any::<usize>(),
        edits in prop::collection::vec(edit(), 0..6),
        stream in any::<bool>(),
    ) {
        let t = templates();
        let (from, to, bytes) = t[pick % t.len()].clone();
        let data = edits.iter().fold(bytes, apply);
        let (mut net, a, b, ca, _cb) = established();
        let now = net.now;
        // messages the scenario sent to a third party (responses to OPTIONS/CANCEL) go to A instead
        let to = if to == a || to == b { to } else { a };
        let ua = net.ua(to);
        if stream {
            ua.handle_stream(now, TransportKind::Tcp, from, &data);
            ua.handle_stream(now, TransportKind::Tcp, from, b"\r\n\r\n");
        } else {
            ua.handle_datagram(now, from, &data);
        }
        while ua.poll_transmit().is_some() {}
        while ua.poll_event().is_some() {}
        // the UA still runs: timers fire and a hangup is either accepted or refused as misuse, never a panic
        net.advance_by(Duration::from_secs(40), Duration::from_secs(1));
        let later = net.now;
        let _ = net.ua(a).hangup(later, ca);
        net.run();
        prop_assert!(net.ua(a).call_count() <= 1 && net.ua(b).call_count() <= 1);
    }
}
