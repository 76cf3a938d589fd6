//! W-3 (RFC 4733): telephone-event in our offer, our answer (on the number the peer chose: 96, 101, 126) and our
//! re-offers; the negotiated table names the peer's number (what we send with); an offer without it leaves it
//! out; an offer whose only common format is telephone-event is refused (no audio codec).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};

use dtlsrtp_sdp::negotiate::{Config, Renew};
use dtlsrtp_sdp::{Codec, Fingerprint, HashFunction, Sdp};
use dtlsrtp_session::{g711, with_telephone_event, Session};

fn fill(seed: u8) -> impl FnMut(&mut [u8]) {
    let mut n = u64::from(seed) << 32;
    move |buf: &mut [u8]| {
        for b in buf {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (n >> 33) as u8;
        }
    }
}

fn session(codecs: Vec<Codec>, byte: u8) -> Session {
    let fp = Fingerprint::new(HashFunction::Sha256, &[byte; 32]).unwrap();
    let cfg = Config::new(IpAddr::V4(Ipv4Addr::LOCALHOST), vec![fp]);
    Session::new(cfg, codecs, None, &mut fill(byte)).unwrap()
}

fn ours() -> Session {
    session(with_telephone_event(g711()), 1)
}

fn text(sdp: &Sdp) -> String {
    sdp.to_string()
}

#[test]
fn w_3_our_offer_and_reoffer_carry_telephone_event() {
    let mut us = ours();
    let (offer, pending) = us.offer(40000, Renew::Keep, &mut fill(2)).unwrap();
    let t = text(&offer);
    assert!(
        t.contains("m=audio 40000 UDP/TLS/RTP/SAVP 0 8 101\r\n"),
        "{t}"
    );
    assert!(
        t.contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"),
        "{t}"
    );
    let mut peer = session(
        vec![
            Codec::new(0, "PCMU", 8000, None),
            Codec::new(101, "telephone-event", 8000, None),
        ],
        3,
    );
    let (answer, n) = peer.answer(&offer, 50000, &mut fill(4)).unwrap();
    assert_eq!(n.payloads.telephone_event(), Some(101));
    // a peer that answers with telephone-event on another number (against RFC 3264 §6.1, but seen): we send
    // with the number its SDP names
    let renumbered = text(&answer)
        .replace(" 101", " 97")
        .replace(":101 ", ":97 ");
    let answer = Sdp::parse(renumbered.as_bytes()).unwrap();
    let n = us.apply_answer(pending, &answer).unwrap();
    assert_eq!(n.payloads.telephone_event(), Some(97));
    assert_eq!(us.payloads().unwrap().telephone_event(), Some(97));
    // hold re-offer: still there
    us.set_hold(true);
    let (reoffer, _) = us.offer(40000, Renew::Keep, &mut fill(5)).unwrap();
    let t = text(&reoffer);
    assert!(
        t.contains("a=rtpmap:101 telephone-event/8000\r\n") && t.contains("a=sendonly"),
        "{t}"
    );
}

#[test]
fn w_3_we_answer_telephone_event_on_the_peers_number() {
    for pt in [96u8, 101, 126] {
        let mut peer = session(
            vec![
                Codec::new(0, "PCMU", 8000, None),
                Codec::new(pt, "telephone-event", 8000, None).with_fmtp("0-15"),
            ],
            6,
        );
        let (offer, _) = peer.offer(50000, Renew::Keep, &mut fill(7)).unwrap();
        let mut us = ours();
        let (answer, n) = us.answer(&offer, 40000, &mut fill(8)).unwrap();
        let t = text(&answer);
        assert!(
            t.contains(&format!("m=audio 40000 UDP/TLS/RTP/SAVP 0 {pt}\r\n")),
            "{t}"
        );
        assert!(
            t.contains(&format!("a=rtpmap:{pt} telephone-event/8000\r\n")),
            "{t}"
        );
        assert_eq!(n.payloads.telephone_event(), Some(pt));
        assert_eq!(n.payloads.preferred().map(|c| c.pt), Some(0));
        assert_eq!(us.payloads().unwrap().telephone_event(), Some(pt));
    }
}

#[test]
fn w_3_offer_without_telephone_event_is_answered_without_it() {
    let mut peer = session(g711(), 9);
    let (offer, _) = peer.offer(50000, Renew::Keep, &mut fill(10)).unwrap();
    let mut us = ours();
    let (answer, n) = us.answer(&offer, 40000, &mut fill(11)).unwrap();
    assert!(!text(&answer).contains("telephone-event"));
    assert_eq!(n.payloads.telephone_event(), None);
}

#[test]
fn w_3_telephone_event_alone_is_no_common_codec() {
    let mut peer = session(
        vec![
            Codec::new(111, "opus", 48000, Some(2)),
            Codec::new(101, "telephone-event", 8000, None),
        ],
        12,
    );
    let (offer, _) = peer.offer(50000, Renew::Keep, &mut fill(13)).unwrap();
    let mut us = ours();
    match us.answer(&offer, 40000, &mut fill(14)) {
        Err(f) => assert_eq!(f.sip_status(), 488),
        Ok((a, _)) => panic!("answered with only telephone-event: {a}"),
    }
}
