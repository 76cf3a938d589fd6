//! The Endpoint, run by the tokio driver, against real baresip (Debian `baresip`) on 127.0.0.1 with DTLS-SRTP:
//! we call baresip and baresip calls us; media both ways. We decode baresip's G.711 `ausine` tone (440 Hz) from
//! authenticated SRTP and detect it (Goertzel); baresip's log shows our packets received and no decrypt failures.
//! rtcp-mux on (ours by default) and off (baresip refuses it: RTP still flows on its own association; RTCP on
//! port + 1 is the documented D-3b gap).
//!
//! Under `CI=true` a missing baresip fails these tests; elsewhere they skip loudly. Every wait is bounded.
#![allow(clippy::disallowed_methods)] // tests: real sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use dtlsrtp::{CallId, CallOptions, EndReason, Event};
use dtlsrtp_dtls::{Certificate, KeyType};
use dtlsrtp_testkit::peers::baresip::{AnswerMode, Baresip, MediaEnc};
use dtlsrtp_testkit::require_peer;
use dtlsrtp_tokio::endpoint::{DriverOptions, EndpointHandle};
use tokio::time::{timeout, Instant};

const WAIT: Duration = Duration::from_secs(10);

fn baresip(user: &str, mode: AnswerMode, mux: bool) -> Option<Baresip> {
    if !require_peer("baresip", "baresip") {
        return None;
    }
    Some(
        Baresip::builder(user)
            .answermode(mode)
            .mediaenc(MediaEnc::DtlsSrtp)
            .rtcp_mux(mux)
            .start()
            .unwrap(),
    )
}

async fn endpoint(user: &str) -> EndpointHandle {
    let cert = Certificate::generate(KeyType::EcdsaP256, user, 1).unwrap();
    let user = user.to_owned();
    EndpointHandle::start(
        DriverOptions::new("127.0.0.1:0".parse().unwrap()),
        move |sip, seed| dtlsrtp::Config::new(&user, "127.0.0.1", sip, cert, seed),
    )
    .await
    .unwrap()
}

async fn wait_for(h: &mut EndpointHandle, mut pred: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let mut seen = Vec::new();
    timeout(WAIT, async {
        while let Some(e) = h.next_event().await {
            let done = pred(&e);
            seen.push(e);
            if done {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; saw {seen:?}"));
    seen
}

/// G.711 µ-law → linear (ITU-T G.711).
fn ulaw(b: u8) -> i16 {
    let b = !b;
    let t = ((i32::from(b & 0x0f) << 3) + 0x84) << ((b & 0x70) >> 4);
    (if b & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

/// G.711 A-law → linear.
fn alaw(b: u8) -> i16 {
    let b = b ^ 0x55;
    let mut t = i32::from(b & 0x0f) << 4;
    let seg = (b & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    (if b & 0x80 != 0 { t } else { -t }) as i16
}

/// Goertzel power of `hz` in `s` at 8 kHz.
fn goertzel(s: &[i16], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let c = 2.0 * w.cos();
    let (mut p1, mut p2) = (0.0f64, 0.0f64);
    for &x in s {
        let p = f64::from(x) + c * p1 - p2;
        p2 = p1;
        p1 = p;
    }
    p1 * p1 + p2 * p2 - c * p1 * p2
}

/// µ-law encoding of a linear sample (for the tone we send).
fn to_ulaw(x: i16) -> u8 {
    let mut v = i32::from(x);
    let sign = if v < 0 {
        v = -v;
        0x80
    } else {
        0
    };
    v = (v + 0x84).min(0x7fff);
    let mut seg = 0;
    while seg < 7 && v > (0xff << seg) {
        seg += 1;
    }
    let mant = (v >> (seg + 3)) & 0x0f;
    !(sign | (seg << 4) as u8 | mant as u8)
}

/// Sends 1 kHz PCMU frames every 20 ms for `dur` while collecting events; returns the events.
async fn talk(h: &mut EndpointHandle, call: CallId, dur: Duration) -> Vec<Event> {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let end = Instant::now() + dur;
    let mut ts = 0u32;
    let mut n = 0usize;
    let mut seen = Vec::new();
    while Instant::now() < end {
        tokio::select! {
            _ = tick.tick() => {
                let frame: Vec<u8> = (0..160).map(|i| {
                    let t = f64::from(n as u32 * 160 + i) / 8000.0;
                    to_ulaw((8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16)
                }).collect();
                h.send_audio(call, 0, ts, frame).await.unwrap();
                ts = ts.wrapping_add(160);
                n += 1;
            }
            e = h.next_event() => if let Some(e) = e { seen.push(e) },
        }
    }
    seen
}

/// The tone in baresip's authenticated G.711 is 440 Hz.
fn assert_tone(events: &[Event]) {
    let mut samples = Vec::new();
    for e in events {
        if let Event::Rtp {
            pt,
            payload,
            verified,
            ..
        } = e
        {
            assert!(verified);
            match pt {
                0 => samples.extend(payload.iter().map(|&b| ulaw(b))),
                8 => samples.extend(payload.iter().map(|&b| alaw(b))),
                _ => {}
            }
        }
    }
    assert!(
        samples.len() >= 8000,
        "only {} samples of G.711 received",
        samples.len()
    );
    let tail = &samples[samples.len() - 4000..];
    let p440 = goertzel(tail, 440.0);
    let others = [300.0, 700.0, 1000.0, 2000.0].map(|f| goertzel(tail, f));
    assert!(
        others.iter().all(|&o| p440 > 20.0 * o),
        "440 Hz {p440:e} vs {others:?}"
    );
}

async fn media_and_checks(ep: &mut EndpointHandle, call: CallId, peer: &mut Baresip) {
    let events = talk(ep, call, Duration::from_millis(1500)).await;
    assert_tone(&events);
    let line = tokio::task::block_in_place(|| peer.wait_rtp_received(WAIT)).unwrap();
    assert!(line.contains("127.0.0.1"), "{line}");
    ep.hangup(call).await.unwrap();
    let ev = wait_for(ep, |e| matches!(e, Event::Terminated { .. })).await;
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::Local,
            ..
        }
    )));
    tokio::task::block_in_place(|| peer.wait_terminated(WAIT)).unwrap();
    let f = peer.decrypt_failures();
    assert_eq!(f.rtp, 0, "baresip failed to decrypt our RTP: {f:?}");
    assert_eq!(peer.fingerprints_verified(), 1);
    assert_eq!(peer.fingerprint_mismatches(), 0);
}

async fn we_call_baresip(mux: bool) {
    let Some(mut bob) = baresip("bob", AnswerMode::Auto, mux) else {
        return;
    };
    let mut ep = endpoint("alice").await;
    let call = ep.dial(&bob.uri(), CallOptions::default()).await.unwrap();
    let ev = wait_for(&mut ep, |e| matches!(e, Event::Established { .. })).await;
    // baresip answered active: it is the DTLS client, we the server (F-5.8: its ClientHello beats its 200)
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::DtlsConnected {
                role: dtlsrtp_srtp::DtlsRole::Server,
                ..
            }
        )),
        "{ev:?}"
    );
    tokio::task::block_in_place(|| bob.wait_established(WAIT)).unwrap();
    media_and_checks(&mut ep, call, &mut bob).await;
    let sdp = bob.local_sdp().unwrap_or_default();
    assert_eq!(sdp.contains("a=rtcp-mux"), mux, "{sdp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_call_baresip_dtls_srtp_rtcp_mux_tone_both_ways() {
    we_call_baresip(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_3b_we_call_baresip_without_rtcp_mux_rtp_flows() {
    we_call_baresip(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_calls_us_we_answer_active_tone_both_ways() {
    let Some(mut alice) = baresip("alice", AnswerMode::Manual, true) else {
        return;
    };
    let mut ep = endpoint("bob").await;
    alice.dial(&format!("sip:bob@{}", ep.sip_udp())).unwrap();
    let ev = wait_for(&mut ep, |e| matches!(e, Event::IncomingCall { .. })).await;
    let Some(Event::IncomingCall { call, .. }) = ev.last().cloned() else {
        unreachable!()
    };
    ep.answer(call).await.unwrap();
    let ev = wait_for(&mut ep, |e| matches!(e, Event::Established { .. })).await;
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::DtlsConnected {
                role: dtlsrtp_srtp::DtlsRole::Client,
                ..
            }
        )),
        "{ev:?}"
    );
    tokio::task::block_in_place(|| alice.wait_established(WAIT)).unwrap();
    media_and_checks(&mut ep, call, &mut alice).await;
    // our answer said setup:active
    let remote = alice.remote_sdp().unwrap_or_default();
    assert!(remote.contains("a=setup:active"), "{remote}");
}
