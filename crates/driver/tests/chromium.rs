//! Interop with headless Chromium (issue 5; M-7, F-5.10, T-6, F-6.7.x): a page offers audio from the fake
//! microphone, our endpoint (the `dtlsrtp-sdp` negotiator and a `MediaPort` run by the tokio driver, ICE-lite)
//! answers once with `a=setup:active` and once with `passive`. Chromium's getStats must show DTLS 1.2
//! connected, an SRTP cipher, a succeeded candidate pair and our packets received; we must verify Chromium's
//! fingerprint and authenticate its SRTP and SRTCP (PCMU from the fake microphone), and consent freshness (with
//! compressed timers) must hold. Also: an audio+video max-bundle offer (we reject the video m-line), and the
//! reverse direction: we offer `actpass` with full ICE as the controlling agent and Chromium answers.
//!
//! Each test re-runs itself in a private network namespace with only `lo` (`chromium::in_private_netns`), so
//! Chromium gathers 127.0.0.1 only and everything stays on loopback.
#![allow(clippy::disallowed_methods)] // tests: real sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use dtlsrtp_dtls::{Certificate, Config, CookieSecret, HashFunction, KeyType};
use dtlsrtp_media::ice::{Candidate, CandidateKind, IceConfig, IceCredentials, IceMode, IceRole};
use dtlsrtp_media::{dtls_role, ForkId, MediaEvent, MediaPortConfig, PeerParams, RemoteIce};
use dtlsrtp_sdp::attr::Direction;
use dtlsrtp_sdp::negotiate::{
    self, AnswerSetup, Codec, DtlsMedia, LocalMedia, Negotiator, Profile, Renew,
};
use dtlsrtp_sdp::{Sdp, Setup};
use dtlsrtp_testkit::chromium::{self, ChromiumPeer, Mode, Options, Stats, CONNECT_TIMEOUT};
use dtlsrtp_tokio::MediaHandle;

const FORK: ForkId = ForkId(1);
/// PCMU packets we send: 20 ms each, 3 s in all.
const PACKETS_OUT: u32 = 150;
/// Authenticated packets from Chromium we require (it sends 50 per second once connected).
const PACKETS_IN_MIN: usize = 50;
/// Consent freshness (RFC 7675) compressed into the test: a check every ~250 ms, expiry after 1.5 s without an
/// authenticated answer from Chromium. Media runs for 3 s, so every test also proves that Chromium answers our
/// consent checks (the lite agent sends them too, and its consent is refreshed by nothing else).
const CONSENT_INTERVAL: Duration = Duration::from_millis(250);
const CONSENT_TIMEOUT: Duration = Duration::from_millis(1500);
/// Bound on the media phase on our side (handshake, sending, receiving).
const MEDIA_TIMEOUT: Duration = Duration::from_secs(20);

/// What our side saw while media ran.
#[derive(Debug, Default)]
struct OurSide {
    verified_from: Option<SocketAddr>,
    ice_selected: Option<SocketAddr>,
    ice_lost: usize,
    sent: u32,
    rtp_from_chromium: usize,
    other_ssrcs: Vec<u32>,
    wrong_pt: usize,
    events: Vec<String>,
}

fn ssrc_of(offer: &Sdp) -> u32 {
    let text = offer.to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("a=ssrc:"))
        .and_then(|r| r.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("Chromium's offer has a=ssrc")
}

/// An `a=candidate` value of the SDP model, as the ICE agent's candidate (UDP host/srflx/relay/prflx).
fn ice_candidate(c: &dtlsrtp_sdp::attr::Candidate) -> Option<Candidate> {
    if !c.transport.eq_ignore_ascii_case("udp") || c.component != 1 {
        return None;
    }
    let ip: IpAddr = c.address.parse().ok()?;
    let kind = match c.kind.as_str() {
        "host" => CandidateKind::Host,
        "srflx" => CandidateKind::ServerReflexive,
        "prflx" => CandidateKind::PeerReflexive,
        "relay" => CandidateKind::Relayed,
        _ => return None,
    };
    Some(Candidate {
        addr: SocketAddr::new(ip, c.port),
        kind,
        priority: c.priority,
        foundation: c.foundation.clone(),
    })
}

/// Our endpoint: a media port on 127.0.0.1 run by the tokio driver, ICE enabled.
struct Endpoint {
    rt: tokio::runtime::Runtime,
    handle: MediaHandle,
    creds: IceCredentials,
    cand: Candidate,
    fingerprint: dtlsrtp_sdp::Fingerprint,
}

fn endpoint(mode: IceMode, role: IceRole) -> Endpoint {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cert = Certificate::generate(KeyType::EcdsaP256, "dtlsrtp", 1).unwrap();
    let fingerprint = cert.fingerprint(HashFunction::Sha256).unwrap();
    let mut cookie = [0u8; 32];
    getrandom::fill(&mut cookie).unwrap();
    let (handle, creds, cand) = rt.block_on(async {
        let h = MediaHandle::bind(
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            move |local, seed| {
                let mut c =
                    MediaPortConfig::new(local, Config::new(cert, CookieSecret::new(cookie)), seed);
                c.rtcp_interval = Duration::from_secs(1);
                c
            },
        )
        .await
        .unwrap();
        let (creds, cand) = h
            .enable_ice(
                IceConfig {
                    mode,
                    consent_interval: CONSENT_INTERVAL,
                    consent_timeout: CONSENT_TIMEOUT,
                    ..IceConfig::default()
                },
                None,
                role,
            )
            .await
            .unwrap();
        (h, creds, cand)
    });
    Endpoint {
        rt,
        handle,
        creds,
        cand,
        fingerprint,
    }
}

impl Endpoint {
    /// The negotiator's configuration: our ICE credentials and one host candidate, SAVPF.
    fn negotiator(&self, lite: bool, setup: AnswerSetup) -> Negotiator {
        let mut cfg = negotiate::Config::new(
            self.handle.local_addr().ip(),
            vec![self.fingerprint.clone()],
        );
        cfg.profile = Profile::Savpf;
        cfg.answer_setup = setup;
        cfg.ice = Some(negotiate::IceConfig {
            ufrag: self.creds.ufrag().to_owned(),
            pwd: self.creds.pwd().to_owned(),
            lite,
            options: vec![],
            candidates: vec![format!(
                "{} 1 udp {} {} {} typ host",
                self.cand.foundation,
                self.cand.priority,
                self.cand.addr.ip(),
                self.cand.addr.port()
            )],
            end_of_candidates: true,
        });
        Negotiator::new(cfg, &mut |b: &mut [u8]| getrandom::fill(b).unwrap()).unwrap()
    }
}

/// PCMU and PCMA only, so that Chromium sends PCMU (the first codec in common).
fn audio(port: u16) -> LocalMedia {
    LocalMedia {
        kind: "audio".to_owned(),
        port,
        codecs: vec![
            Codec::new(0, "PCMU", 8000, None),
            Codec::new(8, "PCMA", 8000, None),
        ],
        direction: Direction::SendRecv,
        mid: Some("0".to_owned()),
    }
}

/// The port's view of the peer, from the negotiated m-line (role, fingerprints, ICE).
fn peer_params(d: &DtlsMedia) -> PeerParams {
    let remote_ice = d.remote_ice.as_ref().expect("Chromium uses ICE");
    PeerParams {
        addr: d
            .remote_address
            .as_deref()
            .and_then(|a| a.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, d.remote_port)),
        role: dtls_role(d.local_role),
        fingerprints: d.remote_fingerprints.clone(),
        association: d.association,
        ice: Some(RemoteIce {
            credentials: IceCredentials::new(&remote_ice.ufrag, &remote_ice.pwd).unwrap(),
            candidates: remote_ice
                .candidates
                .iter()
                .filter_map(ice_candidate)
                .collect(),
        }),
    }
}

/// What both sides must show.
struct Expect {
    /// Chromium's DTLS role in its stats.
    chromium_dtls_role: &'static str,
    /// Chromium's ICE role in its stats.
    chromium_ice_role: &'static str,
}

/// Once both sides have the SDP: we send PCMU every 20 ms after the fingerprint gate opens and count Chromium's
/// authenticated packets (bounded by MEDIA_TIMEOUT) while Chromium's stats are read (bounded by
/// CONNECT_TIMEOUT); then both views are checked.
fn media_phase(
    ep: Endpoint,
    mut browser: ChromiumPeer,
    chromium_ssrc: u32,
    expect: &Expect,
    t0: Instant,
) {
    let Endpoint { rt, handle, .. } = ep;
    let local = handle.local_addr();
    let ours = rt.spawn(async move {
        let mut h = handle;
        let mut s = OurSide::default();
        let deadline = tokio::time::Instant::now() + MEDIA_TIMEOUT;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let payload = vec![0xFFu8; 160]; // PCMU silence
        loop {
            let done = s.sent >= PACKETS_OUT && s.rtp_from_chromium >= PACKETS_IN_MIN;
            if done || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                _ = tick.tick(), if s.verified_from.is_some() && s.sent < PACKETS_OUT => {
                    h.send_rtp(FORK, 0, s.sent == 0, s.sent * 160, payload.clone()).await.unwrap();
                    s.sent += 1;
                }
                ev = h.next_event() => {
                    let Some(ev) = ev else { break };
                    match &ev {
                        MediaEvent::FingerprintVerified { remote, fork, .. } if *fork == FORK => {
                            s.verified_from = Some(*remote);
                        }
                        MediaEvent::IceSelected { remote } => s.ice_selected = Some(*remote),
                        MediaEvent::IceConsentExpired { .. } | MediaEvent::IceFailed => s.ice_lost += 1,
                        MediaEvent::Rtp(r) if r.ssrc == chromium_ssrc => {
                            s.rtp_from_chromium += 1;
                            if r.payload_type != 0 {
                                s.wrong_pt += 1;
                            }
                        }
                        MediaEvent::Rtp(r) => s.other_ssrcs.push(r.ssrc),
                        _ => {}
                    }
                    if !matches!(ev, MediaEvent::Rtp(_) | MediaEvent::Rtcp { .. }) && s.events.len() < 50 {
                        s.events.push(format!("{:?} {ev:?}", t0.elapsed()));
                    }
                }
            }
        }
        let counters = h.counters().await.unwrap();
        let assocs = h.associations().await.unwrap();
        h.shutdown().await.unwrap();
        (s, counters, assocs)
    });

    // Chromium's side, meanwhile (blocking reads of its stats lines, bounded).
    let want = |s: &Stats| s.media_flowing() && s.inbound_packets_received >= 25;
    let stats = browser.wait_stats(CONNECT_TIMEOUT, want);
    let (s, counters, assocs) = rt.block_on(ours).unwrap();
    eprintln!(
        "our side after {:?}: {s:?}\n{counters:?}\n{assocs:?}",
        t0.elapsed()
    );
    let stats = stats.unwrap_or_else(|e| panic!("Chromium: {e}; our side: {s:?}"));
    eprintln!("chromium: {stats:?}");

    assert_eq!(stats.dtls_state.as_deref(), Some("connected"));
    assert!(
        stats
            .srtp_cipher
            .as_deref()
            .is_some_and(|c| c.starts_with("SRTP_") || c.starts_with("AEAD_")),
        "{stats:?}"
    );
    assert_eq!(stats.tls_version.as_deref(), Some("FEFD"), "DTLS 1.2");
    assert_eq!(stats.dtls_role.as_deref(), Some(expect.chromium_dtls_role));
    assert_eq!(stats.ice_role.as_deref(), Some(expect.chromium_ice_role));
    let pair = stats.selected_pair.as_ref().expect("a selected pair");
    assert_eq!(pair.state, "succeeded");
    assert_eq!(pair.remote, local.to_string(), "the pair ends at our port");
    assert!(stats.inbound_packets_received > 0, "{stats:?}");

    let from = s
        .verified_from
        .expect("FingerprintVerified for Chromium's certificate");
    assert!(from.ip().is_loopback(), "{from}");
    assert_eq!(pair.local, from.to_string(), "the pair Chromium selected");
    assert_eq!(s.ice_selected, Some(from), "media latched to the ICE pair");
    assert_eq!(
        s.ice_lost, 0,
        "consent held (Chromium answered our consent checks): {:?}",
        s.events
    );
    assert!(
        s.rtp_from_chromium >= PACKETS_IN_MIN,
        "authenticated RTP from Chromium's SSRC {chromium_ssrc}: {} (events: {:?})",
        s.rtp_from_chromium,
        s.events
    );
    assert!(s.other_ssrcs.is_empty(), "{:?}", s.other_ssrcs);
    assert_eq!(
        s.wrong_pt, 0,
        "Chromium sends PCMU, the first codec in common"
    );
    assert_eq!(s.sent, PACKETS_OUT);
    assert_eq!(assocs.len(), 1, "{assocs:?}");
    assert_eq!(assocs[0].counters.auth_failures, 0, "{assocs:?}");
    assert!(
        assocs[0].counters.rtcp_in >= 1,
        "Chromium's SRTCP authenticated: {assocs:?}"
    );

    // The last sample (after our side stopped): still connected, and (loopback, no loss) nearly everything we
    // sent was received.
    let fin = browser.finish().unwrap();
    assert_eq!(
        fin.ice_connection_state.as_deref(),
        Some("connected"),
        "{fin:?}"
    );
    assert_eq!(fin.dtls_state.as_deref(), Some("connected"), "{fin:?}");
    let ours_out = assocs[0].counters.packets_out;
    assert!(
        fin.inbound_packets_received * 10 >= ours_out * 9,
        "Chromium received {} of our {ours_out} packets",
        fin.inbound_packets_received
    );
    eprintln!("final: {fin:?}\nwhole run: {:?}", t0.elapsed());
}

/// Chromium offers; we answer with ICE-lite (controlled; Chromium, the full agent, controls and checks).
fn run_chromium_offers_we_answer(setup: AnswerSetup, opts: &Options) {
    let t0 = Instant::now();
    let mut browser = ChromiumPeer::start(Mode::Offer, opts).unwrap();
    eprintln!("chromium {} up after {:?}", browser.version(), t0.elapsed());
    let offer = Sdp::parse(browser.local_offer().unwrap().as_bytes()).unwrap();
    let chromium_ssrc = ssrc_of(&offer);

    // ICE-lite (RFC 8445 §2.5): Chromium, the full agent, is controlling and sends the checks.
    let ep = endpoint(IceMode::Lite, IceRole::Controlled);
    let mut neg = ep.negotiator(true, setup);
    let answer = neg
        .answer(
            &offer,
            &[audio(ep.handle.local_addr().port())],
            &mut |b: &mut [u8]| getrandom::fill(b).unwrap(),
        )
        .unwrap();
    let d = answer.media[0]
        .dtls()
        .expect("DTLS-SRTP negotiated")
        .clone();
    let expected_setup = match setup {
        AnswerSetup::Active => Setup::Active,
        AnswerSetup::Passive => Setup::Passive,
    };
    assert_eq!(d.local_setup, expected_setup);
    assert_eq!(d.codecs.first().map(|c| c.pt), Some(0), "{:?}", d.codecs);
    let answer_text = answer.sdp.to_string();
    eprintln!("our answer:\n{answer_text}");
    ep.rt
        .block_on(ep.handle.set_peer(FORK, peer_params(&d)))
        .unwrap();
    browser.apply_answer(&answer_text).unwrap();

    let expect = Expect {
        chromium_dtls_role: match setup {
            AnswerSetup::Active => "server",
            AnswerSetup::Passive => "client",
        },
        chromium_ice_role: "controlling",
    };
    media_phase(ep, browser, chromium_ssrc, &expect, t0);
}

/// M-7 / F-5.10: Chromium offers `actpass`, we answer `a=setup:active` (we send the ClientHello; Chromium's
/// DTLS server answers 1.2) with ICE-lite.
#[test]
fn m_7_chromium_offers_we_answer_active_ice_lite() {
    if !chromium::available()
        || !chromium::in_private_netns("m_7_chromium_offers_we_answer_active_ice_lite")
    {
        return;
    }
    run_chromium_offers_we_answer(AnswerSetup::Active, &Options::default());
}

/// M-7 / F-5.10: we answer `a=setup:passive`: Chromium sends its DTLS 1.3+1.2 ClientHello (two fragments, a
/// post-quantum key share) and our DTLS 1.2 server answers.
#[test]
fn m_7_chromium_offers_we_answer_passive_ice_lite() {
    if !chromium::available()
        || !chromium::in_private_netns("m_7_chromium_offers_we_answer_passive_ice_lite")
    {
        return;
    }
    run_chromium_offers_we_answer(AnswerSetup::Passive, &Options::default());
}

/// Chromium offers audio and video (fake camera) with the max-bundle policy; we only have audio: the video
/// m-line is rejected (port 0, out of the BUNDLE group), Chromium accepts that, and audio flows as above.
#[test]
fn m_7_chromium_offers_audio_and_video_max_bundle_we_accept_audio_only() {
    if !chromium::available()
        || !chromium::in_private_netns(
            "m_7_chromium_offers_audio_and_video_max_bundle_we_accept_audio_only",
        )
    {
        return;
    }
    let opts = Options {
        bundle_policy: chromium::BundlePolicy::MaxBundle,
        audio_only: false,
        ..Options::default()
    };
    run_chromium_offers_we_answer(AnswerSetup::Active, &opts);
}

/// Optional part of issue 5: Chromium answers. We offer `actpass` with full ICE as the controlling agent (regular
/// nomination); Chromium answers `a=setup:active` (it is the DTLS client, we the server) and is controlled.
#[test]
fn m_7_we_offer_full_ice_controlling_chromium_answers() {
    if !chromium::available()
        || !chromium::in_private_netns("m_7_we_offer_full_ice_controlling_chromium_answers")
    {
        return;
    }
    let t0 = Instant::now();
    let mut browser = ChromiumPeer::start(Mode::Answer, &Options::default()).unwrap();
    eprintln!("chromium {} up after {:?}", browser.version(), t0.elapsed());
    let ep = endpoint(IceMode::Full, IceRole::Controlling);
    let mut neg = ep.negotiator(false, AnswerSetup::Active);
    let (offer, pending) = neg
        .create_offer(
            &[audio(ep.handle.local_addr().port())],
            Renew::Keep,
            &mut |b: &mut [u8]| getrandom::fill(b).unwrap(),
        )
        .unwrap();
    let offer_text = offer.to_string();
    eprintln!("our offer:\n{offer_text}");
    // ClientHellos from Chromium may arrive as soon as it has our offer (actpass: we may become the server).
    ep.rt.block_on(ep.handle.listen(true)).unwrap();
    let answer_text = browser.answer_offer(&offer_text).unwrap();
    let answer = Sdp::parse(answer_text.as_bytes()).unwrap();
    let chromium_ssrc = ssrc_of(&answer);
    let out = neg.apply_answer(pending, &answer).unwrap();
    let d = out[0].dtls().expect("DTLS-SRTP negotiated").clone();
    assert_eq!(d.remote_setup, Setup::Active, "Chromium answers active");
    assert_eq!(d.local_role, negotiate::HandshakeRole::Server);
    assert_eq!(d.codecs.first().map(|c| c.pt), Some(0), "{:?}", d.codecs);
    ep.rt
        .block_on(ep.handle.set_peer(FORK, peer_params(&d)))
        .unwrap();

    let expect = Expect {
        chromium_dtls_role: "client",
        chromium_ice_role: "controlled",
    };
    media_phase(ep, browser, chromium_ssrc, &expect, t0);
}
