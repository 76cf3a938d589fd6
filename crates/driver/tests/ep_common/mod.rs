//! Helpers shared by the Endpoint interop tests: start an endpoint, wait for events, send a tone and
//! detect one (G.711 and Goertzel from dtlsrtp-audio).
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::time::Duration;

use dtlsrtp::{CallId, Event};
use dtlsrtp_audio::goertzel::goertzel_power;
use dtlsrtp_audio::tone::ToneGenerator;
use dtlsrtp_audio::{Law, FRAME};
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

/// Sends 1 kHz PCMU frames every 20 ms for `dur` while collecting events; returns the events.
pub async fn talk(h: &mut EndpointHandle, call: CallId, dur: Duration) -> Vec<Event> {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let end = Instant::now() + dur;
    let mut ts = 0u32;
    let mut tone = ToneGenerator::new(1000.0, 8000.0 / 32767.0);
    let mut seen = Vec::new();
    while Instant::now() < end {
        tokio::select! {
            _ = tick.tick() => {
                let frame = Law::Pcmu.encode(&tone.samples(FRAME));
                h.send_audio(call, 0, ts, frame).await.unwrap();
                ts = ts.wrapping_add(FRAME as u32);
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
            if let Some(law) = Law::from_payload_type(*pt) {
                samples.extend(law.decode(payload));
            }
        }
    }
    assert!(
        samples.len() >= 8000,
        "only {} samples of G.711 received",
        samples.len()
    );
    let tail = &samples[samples.len() - 4000..];
    let p440 = goertzel_power(tail, 440.0);
    let others = [300.0, 700.0, 1000.0, 2000.0].map(|f| goertzel_power(tail, f));
    assert!(
        others.iter().all(|&o| p440 > 20.0 * o),
        "440 Hz {p440:e} vs {others:?}"
    );
}
