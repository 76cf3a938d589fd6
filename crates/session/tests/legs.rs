//! Two sessions and their legs in memory: offer/answer through [`Session`], media through [`Leg`] — DTLS-SRTP
//! (a latching media port each) and plain RTP (best effort fell back, R-ALLOW-RTP) — and hold (RFC 3264 §8.4)
//! changing what each leg sends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Instant;

use dtlsrtp_dtls::{Certificate, Config as DtlsConfig, CookieSecret, HashFunction, KeyType};
use dtlsrtp_media::{ForkId, MediaPort, MediaPortConfig};
use dtlsrtp_sdp::negotiate::{Config, Renew, RtpPolicy};
use dtlsrtp_sdp::Sdp;
use dtlsrtp_session::{g711, Leg, LegEvent, LegKind, PlainLeg, Session};

fn addr(p: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], p))
}

fn fill(b: &mut [u8]) {
    for (i, x) in b.iter_mut().enumerate() {
        *x = i as u8 ^ 0x5a;
    }
}

struct Side {
    session: Session,
    leg: Option<Leg>,
    port: Option<MediaPort>,
    local: SocketAddr,
    got: Vec<(Vec<u8>, bool)>,
}

fn side(name: &str, port: u16, allow_rtp: bool, now: Instant) -> Side {
    let cert = Certificate::generate(KeyType::EcdsaP256, name, 1).unwrap();
    let fp = cert.fingerprint(HashFunction::Sha256).unwrap();
    let mut cfg = Config::new(addr(port).ip(), vec![fp]);
    if allow_rtp {
        cfg.rtp_policy = RtpPolicy::AllowRtp;
        cfg.best_effort = true;
    }
    let session = Session::new(cfg, g711(), None, &mut fill).unwrap();
    let mut p = MediaPort::new(
        now,
        MediaPortConfig::new(
            addr(port),
            DtlsConfig::new(cert, CookieSecret::new([port as u8; 32])),
            [port as u8; 32],
        ),
    )
    .unwrap();
    p.listen(true);
    Side {
        session,
        leg: None,
        port: Some(p),
        local: addr(port),
        got: Vec::new(),
    }
}

fn bind(s: &mut Side, now: Instant, n: &dtlsrtp_session::Negotiated) {
    if s.leg.is_none() {
        s.leg = Some(match &n.kind {
            LegKind::Dtls(_) => Leg::dtls(s.port.take().unwrap(), ForkId(1)),
            LegKind::Plain { remote } => {
                Leg::plain(PlainLeg::new(s.local, *remote, 1, 1, n.payloads.clone()))
            }
        });
    }
    s.leg.as_mut().unwrap().apply(now, n, false).unwrap();
}

/// Offer from `a`, answer from `b` (optionally passing the offer through `edit`), legs bound.
fn exchange(a: &mut Side, b: &mut Side, now: Instant, edit: impl Fn(String) -> String) -> bool {
    let (offer, pending) = a
        .session
        .offer(a.local.port(), Renew::Keep, &mut fill)
        .unwrap();
    let offer = Sdp::parse(edit(offer.to_string()).as_bytes()).unwrap();
    let (answer, nb) = b.session.answer(&offer, b.local.port(), &mut fill).unwrap();
    let na = a.session.apply_answer(pending, &answer).unwrap();
    bind(a, now, &na);
    bind(b, now, &nb);
    na.encrypted()
}

/// Delivers everything between the two legs until quiet; counts datagrams that carried RTP from each.
fn run(a: &mut Side, b: &mut Side, now: Instant) -> (usize, usize) {
    let mut rtp = (0, 0);
    for _ in 0..50 {
        let mut moved = false;
        for flip in [false, true] {
            let (x, y) = if flip {
                (&mut *b, &mut *a)
            } else {
                (&mut *a, &mut *b)
            };
            let Some(leg) = x.leg.as_mut() else { continue };
            while let Some(t) = leg.poll_transmit() {
                moved = true;
                if t.bytes.len() >= 12 && t.bytes[0] >> 6 == 2 && !(192..=223).contains(&t.bytes[1])
                {
                    if flip {
                        rtp.1 += 1;
                    } else {
                        rtp.0 += 1;
                    }
                }
                if let Some(l) = y.leg.as_mut() {
                    l.handle_datagram(now, x.local, &t.bytes);
                } else if let Some(p) = y.port.as_mut() {
                    p.handle_datagram(now, x.local, &t.bytes);
                }
            }
            while let Some(e) = leg.poll_event() {
                if let LegEvent::Rtp {
                    payload,
                    authenticated,
                    ..
                } = e
                {
                    x.got.push((payload, authenticated));
                }
            }
        }
        if !moved {
            break;
        }
    }
    rtp
}

fn send(s: &mut Side, now: Instant, what: &[u8]) {
    s.leg
        .as_mut()
        .unwrap()
        .send_rtp(now, 0, false, 0, what)
        .unwrap();
}

#[test]
#[allow(clippy::disallowed_methods)] // the test's clock
fn dtls_legs_carry_media_and_hold_changes_what_is_sent() {
    let now = Instant::now();
    let mut a = side("a", 40000, false, now);
    let mut b = side("b", 41000, false, now);
    assert!(exchange(&mut a, &mut b, now, |s| s));
    run(&mut a, &mut b, now);
    send(&mut a, now, b"a1");
    send(&mut b, now, b"b1");
    run(&mut a, &mut b, now);
    assert_eq!(b.got, vec![(b"a1".to_vec(), true)]);
    assert_eq!(a.got, vec![(b"b1".to_vec(), true)]);
    // a holds: sendonly / recvonly — b sends nothing
    a.session.set_hold(true);
    exchange(&mut a, &mut b, now, |s| s);
    send(&mut a, now, b"a2");
    send(&mut b, now, b"b2");
    assert_eq!(run(&mut a, &mut b, now), (1, 0));
    assert_eq!(b.leg.as_ref().unwrap().send_blocked(), 1);
    // b's re-offer during a's hold: a's answer stays sendonly
    exchange(&mut b, &mut a, now, |s| s);
    assert!(!b.session.permits().send && a.session.permits().send);
    // resume
    a.session.set_hold(false);
    exchange(&mut a, &mut b, now, |s| s);
    send(&mut b, now, b"b3");
    assert_eq!(run(&mut a, &mut b, now), (0, 1));
    assert_eq!(a.got.last(), Some(&(b"b3".to_vec(), true)));
}

#[test]
#[allow(clippy::disallowed_methods)] // the test's clock
fn best_effort_falls_back_to_a_plain_leg() {
    let now = Instant::now();
    let mut a = side("a", 42000, true, now);
    let mut b = side("b", 43000, true, now);
    // b does not understand the DTLS capability (RFC 5939): it sees plain RTP/AVP
    let strip = |s: String| {
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
    };
    assert!(!exchange(&mut a, &mut b, now, strip));
    assert!(!a.leg.as_ref().unwrap().encrypted());
    send(&mut a, now, b"plain-a");
    send(&mut b, now, b"plain-b");
    run(&mut a, &mut b, now);
    assert_eq!(b.got, vec![(b"plain-a".to_vec(), false)]);
    assert_eq!(a.got, vec![(b"plain-b".to_vec(), false)]);
}
