//! W-3 (RFC 4733): telephone-event in every offer and answer, DTMF sent by either side of a call on the audio
//! stream (same SSRC, the audio's sequence numbers, the peer's payload type) and reported once per key press
//! at the other side; over DTLS-SRTP and over a best-effort plain-RTP call; a typed error when the peer did
//! not negotiate telephone-event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::pki::fix_content_length;
use common::{has, incoming, Net};
use dtlsrtp::{CallId, CallOptions, Error, Event, SrtpPolicy, Transmit};

/// Makes the in-flight rewrite of what the caller (at this SIP address) sends.
type Mangler = Box<dyn Fn(SocketAddr) -> Box<dyn FnMut(&mut Transmit)>>;

/// Rewrites the SDP of SIP messages sent from `from` whose first line starts with `start`.
fn rewrite_sdp(
    from: SocketAddr,
    start: &'static str,
    f: impl Fn(&str) -> String + 'static,
) -> impl FnMut(&mut Transmit) {
    move |t: &mut Transmit| {
        if t.local != from || !t.bytes.starts_with(start.as_bytes()) {
            return;
        }
        let s = String::from_utf8_lossy(&t.bytes).into_owned();
        if !s.contains("\r\n\r\nv=0") {
            return;
        }
        t.bytes = fix_content_length(&f(&s)).into_bytes();
    }
}

/// The offer renumbered: telephone-event on `pt` instead of 101.
fn renumber(pt: u8) -> impl Fn(&str) -> String {
    move |s: &str| {
        s.replace("a=rtpmap:101 ", &format!("a=rtpmap:{pt} "))
            .replace("a=fmtp:101 ", &format!("a=fmtp:{pt} "))
            .replace(" 0 8 101\r\n", &format!(" 0 8 {pt}\r\n"))
    }
}

/// The body without telephone-event (a peer that does not do RFC 4733).
fn without_te(s: &str) -> String {
    s.split("\r\n")
        .filter(|l| !l.starts_with("a=rtpmap:101 ") && !l.starts_with("a=fmtp:101 "))
        .map(|l| {
            if l.starts_with("m=audio") {
                l.replace(" 101", "")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Strips the DTLS-SRTP capability from the caller's INVITE: what a plain-RTP-only UA would see.
fn strip_dtls(s: &str) -> String {
    s.split("\r\n")
        .filter(|l| {
            ![
                "a=tcap:",
                "a=pcfg:",
                "a=fingerprint:",
                "a=setup:",
                "a=tls-id:",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// (net, caller, callee, caller's call, callee's call), established; `mangle` rewrites in flight what the
/// caller sends.
fn call(best_effort: bool, mangle: Option<Mangler>) -> (Net, usize, usize, CallId, CallId) {
    let mut net = Net::new();
    let mut ca = Net::config("alice", 5060, 1);
    let mut cb = Net::config("bob", 5070, 2);
    if best_effort {
        ca.srtp_policy = SrtpPolicy::BestEffort;
        cb.srtp_policy = SrtpPolicy::BestEffort;
    }
    let a = net.add(ca);
    let b = net.add(cb);
    if let Some(m) = mangle {
        net.mangle = Some(m(net.nodes[a].sip));
    }
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
    (net, a, b, ca, cb)
}

fn digits(events: &[Event], call: CallId) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Dtmf {
                call: c,
                digit,
                duration,
                ended,
            } if *c == call => {
                assert!(*ended, "every final report arrives on a lossless network");
                assert_eq!(*duration, Duration::from_millis(100));
                Some(digit.as_char())
            }
            _ => None,
        })
        .collect()
}

fn is_rtp(b: &[u8]) -> bool {
    b.len() >= 12 && b[0] >> 6 == 2 && !(192..=223).contains(&b[1])
}

/// RTP packets sent from `local` since `since` as (pt, seq, ssrc).
fn rtp_from(net: &Net, since: usize, local: SocketAddr) -> Vec<(u8, u16, u32)> {
    net.log[since..]
        .iter()
        .filter(|(f, _, b)| *f == local && is_rtp(b))
        .map(|(_, _, b)| {
            (
                b[1] & 0x7f,
                u16::from_be_bytes([b[2], b[3]]),
                u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            )
        })
        .collect()
}

/// `from` sends audio, then `keys`, then audio; the other side reports `keys` once each. Checks the wire: the
/// events share the audio's SSRC and sequence, on payload type `pt`.
fn send_and_check(net: &mut Net, from: (usize, CallId), to: (usize, CallId), keys: &str, pt: u8) {
    let since = net.log.len();
    let media = net.ep(from.0).stats(from.1).unwrap().local;
    let now = net.now;
    net.ep(from.0)
        .send_audio(now, from.1, 0, 1000, b"audio")
        .unwrap();
    net.ep(from.0).send_dtmf(now, from.1, keys).unwrap();
    assert_eq!(net.ep(from.0).dtmf_pending(from.1), keys.len());
    // audio sent while the first key is out is held back (RFC 4733 §2.5.1.6)
    net.ep(from.0)
        .send_audio(now, from.1, 0, 1160, b"audio")
        .unwrap();
    net.run_for(Duration::from_secs(3));
    assert_eq!(net.ep(from.0).dtmf_pending(from.1), 0);
    let now = net.now;
    net.ep(from.0)
        .send_audio(now, from.1, 0, 9000, b"audio")
        .unwrap();
    net.run();
    let got = net.take(to.0);
    assert_eq!(digits(&got, to.1), keys, "{got:?}");
    assert!(
        !has(&got, |e| matches!(e, Event::Rtp { pt: p, .. } if *p == pt)),
        "event packets are not reported as audio"
    );
    let wire = rtp_from(net, since, media);
    let events: Vec<_> = wire.iter().filter(|p| p.0 == pt).collect();
    // 5 packets per 100 ms key at 20 ms, the last one 3 times: 7 packets a key
    assert_eq!(events.len(), 7 * keys.len(), "{wire:?}");
    assert!(wire.iter().all(|p| p.2 == wire[0].2), "one SSRC: {wire:?}");
    assert!(
        wire.windows(2).all(|w| w[1].1 == w[0].1.wrapping_add(1)),
        "one sequence: {wire:?}"
    );
    assert_eq!(wire.iter().filter(|p| p.0 == 0).count(), 2, "held audio");
    let c = net.ep(from.0).dtmf_counters(from.1).unwrap();
    assert_eq!(c.audio_held, 1);
}

fn offer_has_te(net: &Net, from: SocketAddr) -> bool {
    net.log.iter().any(|(f, _, m)| {
        let s = String::from_utf8_lossy(m);
        *f == from
            && s.starts_with("INVITE ")
            && s.contains("a=rtpmap:101 telephone-event/8000\r\n")
            && s.contains("a=fmtp:101 0-16\r\n")
    })
}

fn answer_has_te(net: &Net, from: SocketAddr, pt: u8) -> bool {
    net.log.iter().any(|(f, _, m)| {
        let s = String::from_utf8_lossy(m);
        *f == from
            && s.starts_with("SIP/2.0 200")
            && s.contains(&format!("a=rtpmap:{pt} telephone-event/8000\r\n"))
    })
}

/// W-3 over DTLS-SRTP: the offer and the answer carry telephone-event; digits both ways, caller and callee.
#[test]
fn w_3_dtmf_both_ways_over_dtls_srtp() {
    let (mut net, a, b, ca, cb) = call(false, None);
    assert!(offer_has_te(&net, net.nodes[a].sip));
    assert!(answer_has_te(&net, net.nodes[b].sip, 101));
    send_and_check(&mut net, (a, ca), (b, cb), "123#", 101);
    send_and_check(&mut net, (b, cb), (a, ca), "*0AD9", 101);
}

/// W-3 on a best-effort call that fell back to plain RTP (R-ALLOW-RTP): DTMF both ways too.
#[test]
fn w_3_dtmf_both_ways_over_plain_rtp_best_effort() {
    let m: Mangler = Box::new(|a| Box::new(rewrite_sdp(a, "INVITE ", strip_dtls)));
    let (mut net, a, b, ca, cb) = call(true, Some(m));
    assert!(!net.ep(a).stats(ca).unwrap().encrypted);
    send_and_check(&mut net, (a, ca), (b, cb), "42", 101);
    send_and_check(&mut net, (b, cb), (a, ca), "#*", 101);
}

/// W-3: a peer that offers telephone-event on 96 or 126 gets it answered on its number; both sides send with
/// it and receive it.
#[test]
fn w_3_peer_payload_type_is_used_both_ways() {
    for pt in [96u8, 126] {
        let m: Mangler = Box::new(move |a| Box::new(rewrite_sdp(a, "INVITE ", renumber(pt))));
        let (mut net, a, b, ca, cb) = call(false, Some(m));
        assert!(answer_has_te(&net, net.nodes[b].sip, pt));
        send_and_check(&mut net, (b, cb), (a, ca), "7", pt);
        send_and_check(&mut net, (a, ca), (b, cb), "8", pt);
    }
}

/// W-3: without telephone-event in the exchange (a peer that does not offer it), send_dtmf is a typed error on
/// both sides and nothing is sent; the call goes on.
#[test]
fn w_3_send_dtmf_without_negotiation_is_a_typed_error() {
    let m: Mangler = Box::new(|a| Box::new(rewrite_sdp(a, "INVITE ", without_te)));
    let (mut net, a, b, ca, cb) = call(false, Some(m));
    assert!(!answer_has_te(&net, net.nodes[b].sip, 101));
    let now = net.now;
    for (i, c) in [(a, ca), (b, cb)] {
        assert!(matches!(
            net.ep(i).send_dtmf(now, c, "1"),
            Err(Error::DtmfNotNegotiated)
        ));
        assert_eq!(net.ep(i).dtmf_pending(c), 0);
    }
    assert!(matches!(
        net.ep(a).send_dtmf(now, ca, "1x"),
        Err(Error::InvalidDigit('x'))
    ));
    assert!(matches!(
        net.ep(a).send_dtmf(now, CallId(999), "1"),
        Err(Error::UnknownCall)
    ));
}
