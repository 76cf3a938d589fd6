//! `dtlsrtp demo --no-sip`: Alice offers, Bob answers, DTLS runs on the media path between two media ports on
//! 127.0.0.1 (each on the tokio driver, [`MediaHandle`]), each certificate is checked against the other's
//! `a=fingerprint`, and SRTP flows both ways.
//!
//! The SDP travels in memory (the sdp crate's [`Negotiator`] on each side); the negotiated outcome goes to the
//! port as [`PeerParams`] — no media logic of the demo's own. Bob's answer is held back until Alice's
//! handshake has completed, as when Bob's ClientHello beats his 200 OK through the proxies (RFC 5763 §5,
//! F-5.8): Alice must accept the handshake but use no key until the answer's fingerprint matches (T-5.2c,
//! F-5.14). A tap on each port's send path draws the DTLS flights on the ladder.
//!
//! When the session crate lands, the offer/answer and the `PeerParams` step here become one session per side.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dtlsrtp::session::{AnswerSetup, DtlsMedia, Negotiator, Renew, Sdp, SdpConfig};
use dtlsrtp::Certificate;
use dtlsrtp_tokio::interpose::MediaTap;
use dtlsrtp_tokio::media::{
    dtls_role, AssocCounters, CookieSecret, DtlsConfig, ForkId, GateState, MediaEvent,
    MediaPortConfig, PeerParams,
};
use dtlsrtp_tokio::MediaHandle;
use dtlsrtp_tokio::{classify, PacketKind};
use dtlsrtp_types::Fingerprint;
use dtlsrtp_types::HashFunction;
use dtlsrtp_types::{DtlsRole, SrtpProfile};

use crate::demo::{audio_media, tone_payload, DemoArgs, Scenario};
use crate::demowire::{with_ladder, SharedLadder};
use crate::keylog::FileKeyLog;
use crate::ladder::{describe_dtls, Ladder, Party};
use crate::output::{self, Status, StatusLine};
use crate::{os_random, say, Exit, Failure};
use dtlsrtp_audio::g711::Law;
use dtlsrtp_audio::jitter::JitterBuffer;

/// Samples per frame: frame `index` has RTP timestamp `index × 160`, so the receiver knows what to expect.
const SAMPLES: u32 = 160;
/// The one fork of this offer/answer.
const FORK: ForkId = ForkId(1);

fn local(e: impl std::fmt::Display) -> Failure {
    Failure::new(Exit::Local, e.to_string())
}

fn signalling(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::new(Exit::Signalling, format!("{what}: {e}"))
}

#[derive(Default, Debug)]
struct Stats {
    sent: u32,
    authenticated: u32,
    wrong_payload: u32,
    rtcp_authenticated: u32,
}

/// One side: a media port on the driver, its certificate, what it learnt.
struct Side {
    party: Party,
    h: MediaHandle,
    addr: SocketAddr,
    fingerprint: Fingerprint,
    hz: f64,
    role: Option<DtlsRole>,
    connected: Option<SrtpProfile>,
    verified: bool,
    stats: Stats,
    /// The receive path: RFC 3550 loss and jitter statistics of what authenticated.
    rx: JitterBuffer,
    /// The association's counters at the end (auth failures, replays, SRTCP).
    counters: AssocCounters,
    before_keys: u64,
    start: Instant,
}

impl Side {
    async fn bind(
        party: Party,
        args: &DemoArgs,
        hz: f64,
        keylog: Option<&Arc<FileKeyLog>>,
        ladder: &SharedLadder,
        start: Instant,
    ) -> Result<Self, Failure> {
        let name = match party {
            Party::Alice => "alice",
            Party::Bob => "bob",
            Party::Carol => "carol",
        };
        let cert = Certificate::generate(args.key_type.into(), name, 30).map_err(local)?;
        let fingerprint = cert.fingerprint(HashFunction::Sha256).map_err(local)?;
        let mut secret = [0u8; 32];
        os_random(&mut secret);
        let mut dtls = DtlsConfig::new(cert, CookieSecret::new(secret));
        if !args.profiles.is_empty() {
            dtls.srtp_profiles.clone_from(&args.profiles);
        }
        if let Some(k) = keylog {
            dtls.key_log = Some(k.clone() as Arc<dyn dtlsrtp::KeyLog>);
        }
        // One sender report each way near the end of the media (RFC 3550 §6.4.1), not one every 5 s.
        let media = Duration::from_millis(args.pace_ms) * args.packets;
        let rtcp_interval = media + Duration::from_millis(50);
        let l = ladder.clone();
        let tap: MediaTap = Arc::new(move |_local, _remote, bytes: &[u8]| {
            if classify(bytes) == PacketKind::Dtls {
                let what = format!("DTLS {} ({} B)", describe_dtls(bytes), bytes.len());
                with_ladder(&l, |l| l.arrow(Instant::now(), party, &what));
            }
        });
        let localhost = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        let h = MediaHandle::bind_tapped(
            localhost,
            move |local, seed| {
                let mut c = MediaPortConfig::new(local, dtls, seed);
                c.rtcp_interval = rtcp_interval;
                c
            },
            Some(tap),
        )
        .await
        .map_err(local)?;
        Ok(Self {
            party,
            addr: h.local_addr(),
            h,
            fingerprint,
            hz,
            role: None,
            connected: None,
            verified: false,
            stats: Stats::default(),
            rx: JitterBuffer::new(Law::Pcmu, 3),
            counters: AssocCounters::default(),
            before_keys: 0,
            start,
        })
    }

    fn note(&self, ladder: &SharedLadder, what: &str) {
        with_ladder(ladder, |l| l.note(Instant::now(), self.party, what));
    }

    /// The negotiated media of this side goes to its port: role, peer address, peer fingerprints.
    async fn apply(&mut self, m: &DtlsMedia, ladder: &SharedLadder) -> Result<(), Failure> {
        let role = dtls_role(m.local_role);
        if self.role.is_some_and(|r| r != role) {
            return Err(Failure::new(
                Exit::Dtls,
                "the answer contradicts the running handshake's roles",
            ));
        }
        self.role = Some(role);
        let addr = media_addr(m)?;
        if role == DtlsRole::Client {
            self.note(
                ladder,
                &format!("a=setup:active: DTLS client toward {addr}"),
            );
        }
        let params = PeerParams {
            addr: Some(addr),
            role,
            fingerprints: m.remote_fingerprints.clone(),
            association: m.association,
            ice: None,
        };
        self.h.set_peer(FORK, params).await.map_err(local)
    }

    /// One event of this side's port. `Err` ends the demo.
    async fn on_event(
        &mut self,
        ev: MediaEvent,
        ladder: &SharedLadder,
        answered: bool,
        peer_hz: f64,
        keylog: Option<&Arc<FileKeyLog>>,
    ) -> Result<(), Failure> {
        match ev {
            MediaEvent::DtlsConnected {
                assoc,
                remote,
                profile,
                ..
            } => {
                self.connected = Some(profile);
                let info = self.h.associations().await.map_err(local)?;
                let a = info.iter().find(|a| a.id == assoc);
                let gate = a.map_or(GateState::AwaitingFingerprint, |a| a.gate);
                if !answered && a.is_some_and(|a| a.role == DtlsRole::Server) {
                    // An actpass offerer that receives a ClientHello is the DTLS server, answer or not (F-5.8,
                    // T-5.2b).
                    self.role = Some(DtlsRole::Server);
                    self.note(
                        ladder,
                        &format!("ClientHello from {remote}: DTLS server, keys gated"),
                    );
                }
                self.note(ladder, &format!("DTLS connected: {profile}; gate {gate:?}"));
            }
            MediaEvent::FingerprintVerified { assoc, .. } => {
                self.verified = true;
                self.note(
                    ladder,
                    "peer certificate matches a=fingerprint: VERIFIED (F-5.14)",
                );
                let keys = self.h.keying_material(assoc).await.map_err(local)?;
                if let (Some(k), Some(log), Some(role)) = (keys.as_ref(), keylog, self.role) {
                    log.log_srtp(&format!("{:?}", self.party), k, role);
                }
                if let Some(k) = keys {
                    self.note(ladder, &format!("SRTP keys installed ({})", k.profile()));
                }
            }
            MediaEvent::FingerprintMismatch { .. } => {
                self.note(
                    ladder,
                    "FINGERPRINT MISMATCH: tearing the media down (F-5.15)",
                );
                return Err(Failure::new(
                    Exit::FingerprintMismatch,
                    format!(
                        "{:?}'s peer certificate does not match the SDP fingerprint",
                        self.party
                    ),
                ));
            }
            MediaEvent::Rtp(p) => {
                let index = p.timestamp / SAMPLES;
                if p.payload[..] == tone_payload(peer_hz, index)[..] {
                    if self.stats.authenticated == 0 {
                        self.note(ladder, "first SRTP packet authenticated and decrypted");
                    }
                    self.stats.authenticated += 1;
                    // Arrival in 8 kHz units of our clock (RFC 3550 A.8).
                    let arrival =
                        (Instant::now().duration_since(self.start).as_secs_f64() * 8000.0) as u32;
                    self.rx.push(p.sequence, p.timestamp, &p.payload, arrival);
                    while self.rx.pop().is_some() {}
                } else {
                    self.stats.wrong_payload += 1;
                }
            }
            MediaEvent::Rtcp { .. } => {
                if self.stats.rtcp_authenticated == 0 {
                    self.note(ladder, "SRTCP sender report authenticated");
                }
                self.stats.rtcp_authenticated += 1;
            }
            _ => {}
        }
        Ok(())
    }

    async fn send_frame(&mut self, index: u32) -> Result<(), Failure> {
        let payload = tone_payload(self.hz, index).to_vec();
        self.h
            .send_rtp(FORK, 0, index == 0, index.wrapping_mul(SAMPLES), payload)
            .await
            .map_err(local)?;
        self.stats.sent += 1;
        Ok(())
    }

    /// Reads the association's and the port's counters for the summary.
    async fn collect(&mut self) {
        if let Ok(info) = self.h.associations().await {
            if let Some(a) = info.iter().find(|a| a.fork == Some(FORK)).or(info.first()) {
                self.counters = a.counters;
            }
        }
        if let Ok(c) = self.h.counters().await {
            self.before_keys = c.srtp_before_keys;
        }
    }
}

fn media_addr(m: &DtlsMedia) -> Result<SocketAddr, Failure> {
    let ip: IpAddr = m
        .remote_address
        .as_deref()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| Failure::new(Exit::Signalling, "no usable c= address in the SDP"))?;
    Ok(SocketAddr::new(ip, m.remote_port))
}

fn summary_line(from: &Side, to: &Side) -> String {
    let lost = from
        .stats
        .sent
        .saturating_sub(to.stats.authenticated + to.stats.wrong_payload);
    format!(
        "{:?} -> {:?}: {} RTP sent, {} authenticated, {} lost, {} failed authentication, {} replayed, \
         {} wrong payload, {} before keys; SRTCP {}/{}",
        from.party,
        to.party,
        from.stats.sent,
        to.stats.authenticated,
        lost,
        to.counters.auth_failures,
        to.counters.replays,
        to.stats.wrong_payload,
        to.before_keys,
        to.stats.rtcp_authenticated,
        from.counters.rtcp_out,
    )
}

/// The live status from Alice's side: what she sent and what she received from Bob.
fn alice_status(alice: &Side, elapsed: Duration) -> Status {
    let rx = alice.rx.stats();
    Status {
        state: "media".into(),
        profile: alice.connected.map(|p| p.to_string()),
        elapsed,
        packets_out: u64::from(alice.stats.sent),
        packets_in: u64::from(alice.stats.authenticated),
        lost: rx.lost,
        loss: rx.loss_fraction(),
        jitter_ms: rx.jitter_ms(),
    }
}

/// Runs the SIP-less demo on the tokio driver; `Ok` only when media authenticated both ways.
pub(crate) fn run(args: &DemoArgs) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| local(format!("runtime: {e}")))?;
    rt.block_on(run_on_driver(args))
}

/// Which side's event woke the loop.
enum Woke {
    Alice(MediaEvent),
    Bob(MediaEvent),
    Tick,
}

async fn run_on_driver(args: &DemoArgs) -> Result<(), Failure> {
    let start = Instant::now();
    output::init(args.out.json, args.out.verbosity());
    let keylog = args
        .out
        .keylog
        .as_deref()
        .map(FileKeyLog::open)
        .transpose()?
        .map(Arc::new);
    let ladder: SharedLadder = Arc::new(Mutex::new(Ladder::unprinted(start)));
    let mut alice = Side::bind(Party::Alice, args, 440.0, keylog.as_ref(), &ladder, start).await?;
    let mut bob = Side::bind(Party::Bob, args, 660.0, keylog.as_ref(), &ladder, start).await?;
    let mut status = StatusLine::new(Duration::from_secs(1));
    say!(
        "dtlsrtp demo ({:?}): Alice {} calls Bob {}",
        args.scenario,
        alice.addr,
        bob.addr
    );
    say!("  Alice a=fingerprint:{}", alice.fingerprint);
    say!("  Bob   a=fingerprint:{}", bob.fingerprint);
    with_ladder(&ladder, |l| l.header());
    let arrow =
        |from: Party, what: &str| with_ladder(&ladder, |l| l.arrow(Instant::now(), from, what));

    // Signalling (in memory): Alice offers actpass with her fingerprint and a tls-id (T-5.2a).
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut fill = os_random;
    let mut alice_neg = Negotiator::new(
        SdpConfig::new(localhost, vec![alice.fingerprint.clone()]),
        &mut fill,
    )
    .map_err(|e| local(format!("sdp: {e}")))?;
    let mut bob_config = SdpConfig::new(localhost, vec![bob.fingerprint.clone()]);
    if args.scenario == Scenario::Passive {
        bob_config.answer_setup = AnswerSetup::Passive;
    }
    let mut bob_neg =
        Negotiator::new(bob_config, &mut fill).map_err(|e| local(format!("sdp: {e}")))?;
    let (offer, pending) = alice_neg
        .create_offer(&[audio_media(alice.addr.port())], Renew::Keep, &mut fill)
        .map_err(|e| local(format!("offer: {e}")))?;
    // actpass: Bob may become the DTLS client and send his ClientHello before his answer arrives.
    alice.h.listen(true).await.map_err(local)?;
    let offer_text = offer.write();
    arrow(
        Party::Alice,
        "SDP offer: a=setup:actpass, a=fingerprint, a=tls-id, a=rtcp-mux",
    );

    // Bob answers and, when active, starts his handshake at once, before the answer reaches Alice.
    let offer = Sdp::parse(offer_text.as_bytes()).map_err(|e| signalling("offer", e))?;
    let answer = bob_neg
        .answer(&offer, &[audio_media(bob.addr.port())], &mut fill)
        .map_err(|e| signalling("answer", e))?;
    let bob_media = answer
        .media
        .first()
        .and_then(|m| m.dtls())
        .cloned()
        .ok_or_else(|| Failure::new(Exit::Signalling, "the answer has no DTLS-SRTP m-line"))?;
    bob.apply(&bob_media, &ladder).await?;
    let mut answer_text = answer.sdp.write();
    if args.scenario == Scenario::Mitm {
        // The middlebox substitutes a certificate of its own.
        let mallory = Certificate::generate(args.key_type.into(), "mallory", 30).map_err(local)?;
        let forged = mallory.fingerprint(HashFunction::Sha256).map_err(local)?;
        answer_text = answer_text.replace(&bob.fingerprint.to_string(), &forged.to_string());
        bob.note(
            &ladder,
            "(a middlebox rewrites a=fingerprint in Bob's answer)",
        );
    }
    let mut answer_text = Some(answer_text);
    let mut pending = Some(pending);

    let pace = Duration::from_millis(args.pace_ms);
    let deadline = start + Duration::from_secs(20) + pace * args.packets;
    let mut media_start: Option<Instant> = None;
    let mut next_index = 0u32;
    let mut done_sending: Option<Instant> = None;
    while Instant::now() < deadline {
        let now = Instant::now();
        let soon = now + Duration::from_millis(5);
        let wake = match media_start {
            Some(t0) if next_index < args.packets => (t0 + pace * next_index).min(soon),
            _ => soon,
        };
        let woke = tokio::select! {
            Some(e) = alice.h.next_event() => Woke::Alice(e),
            Some(e) = bob.h.next_event() => Woke::Bob(e),
            () = tokio::time::sleep_until(wake.into()) => Woke::Tick,
        };
        let answered = answer_text.is_none();
        match woke {
            Woke::Alice(e) => {
                alice
                    .on_event(e, &ladder, answered, bob.hz, keylog.as_ref())
                    .await?;
            }
            Woke::Bob(e) => {
                bob.on_event(e, &ladder, true, alice.hz, keylog.as_ref())
                    .await?;
            }
            Woke::Tick => {}
        }
        let now = Instant::now();
        // The answer reaches Alice once her handshake has completed (the ClientHello beat the answer) or
        // after 300 ms, whichever is first.
        if alice.connected.is_some() || now.duration_since(start) >= Duration::from_millis(300) {
            if let (Some(text), Some(p)) = (answer_text.take(), pending.take()) {
                arrow(Party::Bob, "SDP answer: a=setup, a=fingerprint, a=tls-id");
                let sdp = Sdp::parse(text.as_bytes()).map_err(|e| signalling("answer", e))?;
                let outcome = alice_neg
                    .apply_answer(p, &sdp)
                    .map_err(|e| signalling("answer", e.error))?;
                let media = outcome
                    .first()
                    .and_then(|m| m.dtls())
                    .cloned()
                    .ok_or_else(|| {
                        Failure::new(Exit::Signalling, "the answer has no DTLS-SRTP m-line")
                    })?;
                alice.apply(&media, &ladder).await?;
            }
        }
        // Media starts when both ends hold verified keys (fail closed: no RTP before keys).
        if media_start.is_none() && alice.verified && bob.verified {
            media_start = Some(now);
            alice.note(
                &ladder,
                &format!("media: {} PCMU packets each way", args.packets),
            );
        }
        if let Some(t0) = media_start {
            while next_index < args.packets && now >= t0 + pace * next_index {
                alice.send_frame(next_index).await?;
                bob.send_frame(next_index).await?;
                next_index += 1;
            }
            if next_index == args.packets && done_sending.is_none() {
                done_sending = Some(now);
            }
            status.update(&alice_status(&alice, now.duration_since(t0)));
        }
        if let Some(t) = done_sending {
            let all_in = alice.stats.authenticated + alice.stats.wrong_payload >= bob.stats.sent
                && bob.stats.authenticated + bob.stats.wrong_payload >= alice.stats.sent
                && alice.stats.rtcp_authenticated >= 1
                && bob.stats.rtcp_authenticated >= 1;
            let rtcp_wait = Duration::from_secs(1) + pace * args.packets;
            if all_in || now.duration_since(t) > rtcp_wait {
                break;
            }
        }
    }
    status.finish();
    for side in [&mut alice, &mut bob] {
        side.collect().await;
        let _ = side.h.close_fork(FORK).await;
    }
    // Let the close_notify alerts leave (and reach the ladder) before the summary.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let end = Instant::now();
    let result = summary(&alice, &bob, start, end, with_ladder(&ladder, |l| l.lines));
    for side in [alice, bob] {
        let _ = side.h.shutdown().await;
    }
    result
}

/// Prints the summary; `Ok` only when both fingerprints verified and media authenticated both ways.
fn summary(
    alice: &Side,
    bob: &Side,
    start: Instant,
    end: Instant,
    lines: usize,
) -> Result<(), Failure> {
    say!("");
    say!(
        "Summary ({:.0} ms, {lines} ladder lines)",
        end.duration_since(start).as_secs_f64() * 1000.0,
    );
    if let Some(profile) = alice.connected.or(bob.connected) {
        say!("  SRTP profile: {profile}");
    }
    let client = match (alice.role, bob.role) {
        (Some(DtlsRole::Client), _) => "Alice (a=setup:active); DTLS server: Bob",
        (_, Some(DtlsRole::Client)) => "Bob (a=setup:active); DTLS server: Alice",
        _ => "none",
    };
    say!("  DTLS client: {client}");
    let verified = |s: &Side| {
        if s.verified {
            "verified"
        } else {
            "NOT verified"
        }
    };
    say!(
        "  Bob's certificate   {}: {} by Alice",
        bob.fingerprint,
        verified(alice)
    );
    say!(
        "  Alice's certificate {}: {} by Bob",
        alice.fingerprint,
        verified(bob)
    );
    say!("  {}", summary_line(alice, bob));
    say!("  {}", summary_line(bob, alice));
    if !(alice.verified && bob.verified) {
        return Err(Failure::new(
            Exit::Dtls,
            "the DTLS handshake did not complete in time",
        ));
    }
    let clean = |s: &Side| {
        s.counters.auth_failures == 0 && s.stats.wrong_payload == 0 && s.stats.authenticated > 0
    };
    if !(clean(alice) && clean(bob)) {
        return Err(Failure::new(
            Exit::NoMedia,
            "media did not authenticate both ways",
        ));
    }
    say!("RESULT: DTLS-SRTP established, fingerprints verified, media authenticated both ways");
    let mut last = alice_status(alice, end.duration_since(start));
    last.state = "ended".into();
    output::summary(&last, "media authenticated both ways", 0);
    Ok(())
}
