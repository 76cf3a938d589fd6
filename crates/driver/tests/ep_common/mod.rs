//! Helpers shared by the Endpoint interop tests: start an endpoint, wait for events, G.711 and tone detection.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::time::Duration;

use dtlsrtp::{CallId, Event};
use dtlsrtp_dtls::{Certificate, KeyType};
use dtlsrtp_tokio::endpoint::{DriverOptions, EndpointHandle};
use tokio::time::{timeout, Instant};

pub const WAIT: Duration = Duration::from_secs(10);

pub async fn endpoint(user: &str) -> EndpointHandle {
    let cert = Certificate::generate(KeyType::EcdsaP256, user, 1).unwrap();
    let user = user.to_owned();
    EndpointHandle::start(
        DriverOptions::new("127.0.0.1:0".parse().unwrap()),
        move |sip, seed| dtlsrtp::Config::new(&user, "127.0.0.1", sip, cert, seed),
    )
    .await
    .unwrap()
}

pub async fn wait_for(h: &mut EndpointHandle, mut pred: impl FnMut(&Event) -> bool) -> Vec<Event> {
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
pub fn ulaw(b: u8) -> i16 {
    let b = !b;
    let t = ((i32::from(b & 0x0f) << 3) + 0x84) << ((b & 0x70) >> 4);
    (if b & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

/// G.711 A-law → linear.
pub fn alaw(b: u8) -> i16 {
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
pub fn goertzel(s: &[i16], hz: f64) -> f64 {
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
pub fn to_ulaw(x: i16) -> u8 {
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
pub async fn talk(h: &mut EndpointHandle, call: CallId, dur: Duration) -> Vec<Event> {
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
pub fn assert_tone(events: &[Event]) {
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
