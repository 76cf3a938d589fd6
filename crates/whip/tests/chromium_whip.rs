//! Headless Chromium against our WHIP/WHEP server (issue 9, A-R-OTHER-SIGNALING, M-7): the page itself POSTs
//! its offer over HTTP from the endpoint's own origin (`http://127.0.0.1:PORT/`, as our publisher page at `/`
//! does: same-origin, which the server allows by default; cross-origin pages are covered by whip_origin.rs),
//! with a bearer token; we answer ICE-lite from a fresh port; media flows; the page's DELETE ends the session
//! and frees its port. WHEP: a recvonly page plays our audio and getStats counts it.
//!
//! Each test re-runs itself in a private network namespace with only `lo` (`chromium::in_private_netns`).
#![allow(clippy::disallowed_methods)] // tests: real sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dtlsrtp_testkit::chromium::{self, ChromiumPeer, Mode, Options, CONNECT_TIMEOUT};
use dtlsrtp_whip::{Server, ServerConfig, Sink, Source};

const TOKEN: &str = "whip-test-token";

#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Vec<Packet>>>);

/// Payload type and payload.
type Packet = (u8, Vec<u8>);

struct RecSink(Recorded);

impl Sink for RecSink {
    fn rtp(&mut self, pt: u8, _seq: u16, payload: &[u8]) {
        self.0 .0.lock().unwrap().push((pt, payload.to_vec()));
    }
    fn finish(self: Box<Self>) {}
}

/// G.711 μ-law to linear, for the loudness checks.
fn ulaw(code: u8) -> i32 {
    i32::from(dtlsrtp_audio::g711::ulaw_decode(code))
}

/// A 400 Hz square wave, μ-law.
struct Square(u32);

impl Source for Square {
    fn frame(&mut self, _codec: &str) -> Vec<u8> {
        self.0 = self.0.wrapping_add(1);
        (0..160)
            .map(|k| if (k / 10) % 2 == 0 { 0x20 } else { 0xA0 })
            .collect()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn start(rt: &tokio::runtime::Runtime, cfg: ServerConfig) -> (Server, SocketAddr) {
    rt.block_on(async {
        let server = Server::new(cfg).unwrap();
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let s = server.clone();
        tokio::spawn(async move { s.serve(listener).await });
        (server, addr)
    })
}

fn wait_until(what: &str, timeout: Duration, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// WHIP: Chromium publishes its fake microphone; we record non-silent PCMU; DELETE frees the port.
#[test]
fn a_r_other_signaling_chromium_publishes_microphone_over_whip() {
    if !chromium::available()
        || !chromium::in_private_netns(
            "a_r_other_signaling_chromium_publishes_microphone_over_whip",
        )
    {
        return;
    }
    let rt = runtime();
    let rec = Recorded::default();
    let mut cfg = ServerConfig::new(Ipv4Addr::LOCALHOST.into());
    cfg.token = Some(TOKEN.to_owned());
    let r = rec.clone();
    cfg.sink = Some(Arc::new(move |_id: &str| {
        Some(Box::new(RecSink(r.clone())) as Box<dyn Sink>)
    }));
    let (server, addr) = start(&rt, cfg);
    let t0 = Instant::now();
    let mut browser = ChromiumPeer::start(
        Mode::Whip,
        &Options {
            url: Some(format!("http://{addr}/whip")),
            token: Some(TOKEN.to_owned()),
            ..Options::default()
        },
    )
    .unwrap();
    eprintln!("chromium {} up after {:?}", browser.version(), t0.elapsed());
    let (status, location) = browser.http_result().unwrap();
    assert_eq!(status, 201);
    let location = location.expect("a Location header (exposed by CORS)");
    assert!(location.starts_with("/whip/"), "{location}");
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 1);
    let session = sessions[0].clone();
    assert!(location.ends_with(&session.id));

    let stats = browser
        .wait_stats(CONNECT_TIMEOUT, |s| {
            s.dtls_connected() && s.outbound_packets_sent >= 50
        })
        .unwrap();
    eprintln!("chromium: {stats:?}");
    assert!(stats.srtp_cipher.is_some(), "{stats:?}");
    assert_eq!(stats.ice_role.as_deref(), Some("controlling"));
    let pair = stats.selected_pair.as_ref().expect("a selected pair");
    assert_eq!(pair.remote, session.local.to_string());
    // 3 s of audio from the fake microphone (it beeps; between beeps it is quiet).
    wait_until("150 packets from Chromium", Duration::from_secs(15), || {
        rec.0.lock().unwrap().len() >= 150
    });
    assert!(session.stats.verified.load(Ordering::Relaxed));

    let fin = browser.finish().unwrap();
    eprintln!("final: {fin:?}");
    assert_eq!(fin.delete_status, Some(200), "the page's DELETE");
    assert!(server.sessions().is_empty(), "DELETE ended the session");
    rt.block_on(async {
        assert!(
            tokio::net::UdpSocket::bind(session.local).await.is_ok(),
            "DELETE freed port {}",
            session.local
        );
    });
    let got = rec.0.lock().unwrap().clone();
    assert!(
        got.iter().all(|(pt, p)| *pt == 0 && p.len() == 160),
        "PCMU 20 ms frames"
    );
    let peak = got
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&b| ulaw(b).abs()))
        .max()
        .unwrap_or(0);
    eprintln!("{} packets, peak {peak}", got.len());
    assert!(peak > 2000, "the recording is not silent (peak {peak})");
}

/// WHEP: a recvonly page plays our audio; Chromium's getStats shows our packets and decoded samples.
#[test]
fn a_r_other_signaling_chromium_plays_from_whep() {
    if !chromium::available()
        || !chromium::in_private_netns("a_r_other_signaling_chromium_plays_from_whep")
    {
        return;
    }
    let rt = runtime();
    let mut cfg = ServerConfig::new(Ipv4Addr::LOCALHOST.into());
    cfg.source = Some(Arc::new(|| Box::new(Square(0)) as Box<dyn Source>));
    let (server, addr) = start(&rt, cfg);
    let mut browser = ChromiumPeer::start(
        Mode::Whep,
        &Options {
            url: Some(format!("http://{addr}/whep")),
            ..Options::default()
        },
    )
    .unwrap();
    let (status, location) = browser.http_result().unwrap();
    assert_eq!(status, 201);
    assert!(location.is_some_and(|l| l.starts_with("/whep/")));
    let stats = browser
        .wait_stats(CONNECT_TIMEOUT, |s| {
            s.media_flowing() && s.inbound_packets_received >= 50
        })
        .unwrap();
    eprintln!("chromium: {stats:?}");
    assert!(stats.inbound_total_samples_received > 0, "{stats:?}");
    let session = server.sessions()[0].clone();
    assert!(session.stats.rtp_out.load(Ordering::Relaxed) >= 50);
    let fin = browser.finish().unwrap();
    assert_eq!(fin.delete_status, Some(200));
    assert!(server.sessions().is_empty());
}
