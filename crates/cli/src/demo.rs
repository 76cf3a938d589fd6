//! `dtlsrtp demo`: Alice offers, Bob answers, DTLS runs on the media path between two UDP sockets on
//! 127.0.0.1, each certificate is checked against the other's `a=fingerprint`, and SRTP flows both ways.
//!
//! The SDP travels in memory (the SIP layer arrives with its own issue); everything on the media path is real
//! UDP. Bob's answer is held back until Alice's handshake has completed, as when Bob's ClientHello beats his
//! 200 OK through the proxies (RFC 5763 §5, F-5.8): Alice must accept the handshake but use no key until the
//! answer's fingerprint matches (T-5.2c, F-5.14).

use std::f64::consts::TAU;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use dtlsrtp_dtls::{
    Association, Certificate, Config as DtlsConfig, CookieSecret, DtlsContext, Event,
    FingerprintGate, GateState, HashFunction,
};
use dtlsrtp_media::{classify, PacketKind};
use dtlsrtp_sdp::attr::Direction;
use dtlsrtp_sdp::negotiate::{
    AnswerSetup, Codec, Config as SdpConfig, LocalMedia, Negotiator, Renew,
};
use dtlsrtp_sdp::{DtlsMedia, Fingerprint, HandshakeRole, Sdp};
use dtlsrtp_srtp::{Config as SrtpConfig, DtlsRole, SrtpContext, SrtpError, SrtpProfile};

use crate::keylog::FileKeyLog;
use crate::ladder::{describe_dtls, Ladder, Party};
use crate::options::OutputArgs;
use crate::output::{self, Status, StatusLine};
use crate::{os_random, say, Exit, Failure, KeyArg};
use dtlsrtp_audio::g711::ulaw_encode;
use dtlsrtp_audio::jitter::JitterBuffer;

/// Options of `dtlsrtp demo`.
#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Which flow to run.
    #[arg(long, value_enum, default_value_t = Scenario::Basic)]
    pub(crate) scenario: Scenario,
    /// RTP packets each way (20 ms of PCMU each; 250 = 5 seconds).
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) packets: u32,
    /// Milliseconds between packets (20 = real time, 0 = as fast as possible).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub(crate) pace_ms: u64,
    /// Certificate key type of both endpoints.
    #[arg(long, value_enum, default_value_t = KeyArg::Ecdsa)]
    pub(crate) key_type: KeyArg,
    /// SRTP profiles offered, most preferred first, comma separated (IANA or OpenSSL names). The SIP user
    /// agents offer their default list; with this option the demo runs without SIP (SDP in memory).
    #[arg(long, value_delimiter = ',')]
    pub(crate) profiles: Vec<SrtpProfile>,
    /// Run without SIP: the SDP travels in memory, only the media path is real UDP.
    #[arg(long)]
    pub(crate) no_sip: bool,
    #[command(flatten)]
    pub(crate) out: OutputArgs,
}

/// The flows `demo` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Scenario {
    /// Bob answers a=setup:active; his ClientHello arrives before his answer (F-5.8).
    Basic,
    /// Bob answers a=setup:passive; Alice sends the ClientHello once the answer arrives (runs without SIP:
    /// the SIP user agent always answers active, RFC 5763 §5).
    Passive,
    /// A middlebox rewrites Bob's fingerprint in the answer: Alice tears the media down (F-5.15).
    Mitm,
    /// Bob answers with a 183 and SDP: DTLS and SRTP both ways before the 200 (F-6.2).
    EarlyMedia,
    /// Alice's INVITE has no SDP: Bob offers in the 200, Alice answers in the ACK (F-6.4).
    DelayedOffer,
    /// Mid-call re-INVITE that keeps the association: SRTP continues without a new handshake.
    Reinvite,
    /// Mid-call re-INVITE with a new tls-id on a new port: a new handshake, new keys (T-5.1a).
    Rekey,
    /// Alice offers RTP/AVP with RFC 5939 capability negotiation for DTLS-SRTP; Bob picks DTLS-SRTP.
    BestEffort,
    /// A forking proxy rings Bob and Carol; both send early media, each verified against its own
    /// fingerprint (F-6.3, T-8a); Bob answers, Carol's branch is cancelled.
    Forking,
}

/// The audio m-line both parties use: PCMU, 20 ms.
pub(crate) fn audio_media(port: u16) -> LocalMedia {
    LocalMedia {
        kind: "audio".into(),
        port,
        codecs: vec![Codec::new(0, "PCMU", 8000, None)],
        direction: Direction::SendRecv,
        mid: None,
    }
}

const SAMPLES: usize = 160;
/// First sequence number: close to the wrap, so every demo crosses 65535 → 0 (S-3).
const FIRST_SEQ: u16 = 65_500;

fn signalling(what: &str) -> impl FnOnce(String) -> Failure + '_ {
    move |e| Failure::new(Exit::Signalling, format!("{what}: {e}"))
}

fn local(e: impl std::fmt::Display) -> Failure {
    Failure::new(Exit::Local, e.to_string())
}

/// The PCMU payload of packet `index` of a tone: both ends compute it, so the receiver checks every byte.
pub(crate) fn tone_payload(hz: f64, index: u32) -> [u8; SAMPLES] {
    let mut out = [0u8; SAMPLES];
    for (i, o) in out.iter_mut().enumerate() {
        let n = f64::from(index) * SAMPLES as f64 + i as f64;
        *o = ulaw_encode((8000.0 * (TAU * hz * n / 8000.0).sin()) as i16);
    }
    out
}

#[derive(Default, Debug)]
struct Stats {
    sent: u32,
    authenticated: u32,
    auth_failed: u32,
    replayed: u32,
    wrong_payload: u32,
    before_keys: u32,
    rtcp_sent: u32,
    rtcp_authenticated: u32,
    other_dropped: u32,
}

struct Srtp {
    tx: SrtpContext,
    rx: SrtpContext,
}

/// One endpoint: a socket, a DTLS context, at most one association, its gate, and its SRTP contexts.
struct Side {
    party: Party,
    sock: UdpSocket,
    addr: SocketAddr,
    ctx: DtlsContext,
    fingerprint: Fingerprint,
    role: Option<DtlsRole>,
    remote: Option<SocketAddr>,
    assoc: Option<Association>,
    gate: FingerprintGate,
    peer_cert: Option<Vec<u8>>,
    connected: Option<(SrtpProfile, &'static str)>,
    srtp: Option<Srtp>,
    ssrc: u32,
    hz: f64,
    stats: Stats,
    /// The receive path: RFC 3550 loss and jitter statistics of what authenticated.
    rx: JitterBuffer,
    keylog: Option<Arc<FileKeyLog>>,
    start: Instant,
}

impl Side {
    fn new(
        party: Party,
        args: &DemoArgs,
        hz: f64,
        keylog: Option<Arc<FileKeyLog>>,
        start: Instant,
    ) -> Result<Self, Failure> {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(local)?;
        sock.set_nonblocking(true).map_err(local)?;
        let addr = sock.local_addr().map_err(local)?;
        let name = match party {
            Party::Alice => "alice",
            Party::Bob => "bob",
            Party::Carol => "carol",
        };
        let cert = Certificate::generate(args.key_type.into(), name, 30).map_err(local)?;
        let fingerprint = cert.fingerprint(HashFunction::Sha256).map_err(local)?;
        let mut secret = [0u8; 32];
        os_random(&mut secret);
        let mut config = DtlsConfig::new(cert, CookieSecret::new(secret));
        if !args.profiles.is_empty() {
            config.srtp_profiles.clone_from(&args.profiles);
        }
        if let Some(k) = &keylog {
            config.key_log = Some(k.clone() as Arc<dyn dtlsrtp_dtls::KeyLog>);
        }
        let ctx = DtlsContext::new(&config).map_err(local)?;
        let mut ssrc = [0u8; 4];
        os_random(&mut ssrc);
        Ok(Self {
            party,
            sock,
            addr,
            ctx,
            fingerprint,
            role: None,
            remote: None,
            assoc: None,
            gate: FingerprintGate::new(),
            peer_cert: None,
            connected: None,
            srtp: None,
            ssrc: u32::from_be_bytes(ssrc),
            hz,
            stats: Stats::default(),
            rx: JitterBuffer::new(dtlsrtp_audio::Law::Pcmu, 3),
            keylog,
            start,
        })
    }

    /// The DTLS client starts its handshake toward the address from the peer's SDP.
    fn start_client(&mut self, now: Instant, ladder: &mut Ladder) -> Result<(), Failure> {
        let remote = self
            .remote
            .ok_or_else(|| Failure::new(Exit::Signalling, "no remote media address"))?;
        let assoc = Association::new(&self.ctx, DtlsRole::Client, remote, now)
            .map_err(|e| Failure::new(Exit::Dtls, format!("association: {e}")))?;
        ladder.note(
            now,
            self.party,
            &format!("a=setup:active: DTLS client toward {remote}"),
        );
        self.assoc = Some(assoc);
        Ok(())
    }

    /// Applies the peer's fingerprints from its SDP to the gate (P-5.1d inside).
    fn expect(
        &mut self,
        now: Instant,
        ladder: &mut Ladder,
        media: &DtlsMedia,
    ) -> Result<(), Failure> {
        match self.gate.verify(&media.remote_fingerprints) {
            Ok(GateState::Verified) => {
                ladder.note(
                    now,
                    self.party,
                    "peer certificate matches a=fingerprint: VERIFIED (F-5.14)",
                );
                self.install_keys(now, ladder)
            }
            Ok(state) => {
                ladder.note(
                    now,
                    self.party,
                    &format!("peer fingerprint known, gate {state:?}"),
                );
                Ok(())
            }
            Err(e) => {
                ladder.note(
                    now,
                    self.party,
                    &format!("FINGERPRINT MISMATCH ({e}): tearing the media down (F-5.15)"),
                );
                if let Some(a) = self.assoc.as_mut() {
                    a.close(now);
                }
                self.flush(now, ladder)?;
                Err(Failure::new(
                    Exit::FingerprintMismatch,
                    format!(
                        "{:?}'s certificate does not match the SDP fingerprint: {e}",
                        self.party
                    ),
                ))
            }
        }
    }

    fn install_keys(&mut self, now: Instant, ladder: &mut Ladder) -> Result<(), Failure> {
        let (Some(c), Some(role)) = (self.gate.keys(), self.role) else {
            return Ok(());
        };
        if self.srtp.is_some() {
            return Ok(());
        }
        let (tx, rx) = SrtpContext::from_keying_material(&c.keys, role, &SrtpConfig::default())
            .map_err(|e| Failure::new(Exit::Dtls, format!("SRTP keys: {e}")))?;
        self.srtp = Some(Srtp { tx, rx });
        if let Some(k) = &self.keylog {
            k.log_srtp(&format!("{:?}", self.party), &c.keys, role);
        }
        ladder.note(
            now,
            self.party,
            &format!("SRTP keys installed ({})", c.profile),
        );
        Ok(())
    }

    /// Sends what the association queued.
    fn flush(&mut self, now: Instant, ladder: &mut Ladder) -> Result<bool, Failure> {
        let (Some(assoc), Some(remote)) = (self.assoc.as_mut(), self.remote) else {
            return Ok(false);
        };
        let mut any = false;
        while let Some(d) = assoc.poll_transmit() {
            self.sock.send_to(&d, remote).map_err(local)?;
            ladder.arrow(
                now,
                self.party,
                &format!("DTLS {} ({} B)", describe_dtls(&d), d.len()),
            );
            any = true;
        }
        Ok(any)
    }

    /// One turn: transmit, receive, events, timers. Returns whether anything happened.
    fn pump(
        &mut self,
        now: Instant,
        ladder: &mut Ladder,
        peer_seq0: u16,
        peer_hz: f64,
    ) -> Result<bool, Failure> {
        let mut busy = self.flush(now, ladder)?;
        let mut buf = [0u8; 2048];
        loop {
            match self.sock.recv_from(&mut buf) {
                Ok((n, src)) => {
                    busy = true;
                    let data = buf.get(..n).unwrap_or_default();
                    self.receive(now, ladder, data, src, peer_seq0, peer_hz)?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(local(e)),
            }
        }
        self.events(now, ladder)?;
        if let Some(assoc) = self.assoc.as_mut() {
            if assoc.poll_timeout().is_some_and(|t| t <= now) {
                assoc.handle_timeout(now);
            }
        }
        busy |= self.flush(now, ladder)?;
        Ok(busy)
    }

    fn receive(
        &mut self,
        now: Instant,
        ladder: &mut Ladder,
        data: &[u8],
        src: SocketAddr,
        peer_seq0: u16,
        peer_hz: f64,
    ) -> Result<(), Failure> {
        match classify(data) {
            PacketKind::Dtls => {
                if self.assoc.is_none() {
                    // An actpass offerer that receives a ClientHello is the DTLS server, answer or not (F-5.8,
                    // T-5.2b). Reply to the address it came from.
                    self.role = Some(DtlsRole::Server);
                    self.remote = Some(src);
                    let a = Association::new(&self.ctx, DtlsRole::Server, src, now)
                        .map_err(|e| Failure::new(Exit::Dtls, format!("association: {e}")))?;
                    ladder.note(
                        now,
                        self.party,
                        &format!("ClientHello from {src}: DTLS server, keys gated"),
                    );
                    self.assoc = Some(a);
                }
                if let Some(a) = self.assoc.as_mut() {
                    a.handle_datagram(now, data);
                }
            }
            PacketKind::Rtp => {
                let Some(srtp) = self.srtp.as_mut() else {
                    // D-5.1: no SRTP processing before the handshake completed and was verified.
                    self.stats.before_keys += 1;
                    return Ok(());
                };
                let mut packet = data.to_vec();
                match srtp.rx.unprotect_rtp(&mut packet) {
                    Ok(()) => {
                        let seq = packet
                            .get(2..4)
                            .map_or(0, |s| u16::from_be_bytes([s[0], s[1]]));
                        let index = u32::from(seq.wrapping_sub(peer_seq0));
                        if packet.get(12..) == Some(&tone_payload(peer_hz, index)[..]) {
                            if self.stats.authenticated == 0 {
                                ladder.note(
                                    now,
                                    self.party,
                                    "first SRTP packet authenticated and decrypted",
                                );
                            }
                            self.stats.authenticated += 1;
                            let ts = packet
                                .get(4..8)
                                .map_or(0, |t| u32::from_be_bytes([t[0], t[1], t[2], t[3]]));
                            // Arrival in 8 kHz units of our clock (RFC 3550 A.8).
                            let arrival =
                                (now.duration_since(self.start).as_secs_f64() * 8000.0) as u32;
                            self.rx
                                .push(seq, ts, packet.get(12..).unwrap_or_default(), arrival);
                            while self.rx.pop().is_some() {}
                        } else {
                            self.stats.wrong_payload += 1;
                        }
                    }
                    Err(SrtpError::ReplayDuplicate | SrtpError::ReplayTooOld) => {
                        self.stats.replayed += 1
                    }
                    Err(_) => self.stats.auth_failed += 1,
                }
            }
            PacketKind::Rtcp => {
                let Some(srtp) = self.srtp.as_mut() else {
                    self.stats.before_keys += 1;
                    return Ok(());
                };
                let mut packet = data.to_vec();
                match srtp.rx.unprotect_rtcp(&mut packet) {
                    Ok(()) => {
                        self.stats.rtcp_authenticated += 1;
                        ladder.note(now, self.party, "SRTCP sender report authenticated");
                    }
                    Err(_) => self.stats.auth_failed += 1,
                }
            }
            _ => self.stats.other_dropped += 1,
        }
        Ok(())
    }

    fn events(&mut self, now: Instant, ladder: &mut Ladder) -> Result<(), Failure> {
        let Some(assoc) = self.assoc.as_mut() else {
            return Ok(());
        };
        let mut connected = None;
        while let Some(ev) = assoc.poll_event() {
            match ev {
                Event::PeerCertificate(der) => self.peer_cert = Some(der),
                Event::Connected(c) => connected = Some(c),
                Event::Closed => ladder.note(now, self.party, "DTLS close_notify"),
                Event::Failed(e) => {
                    return Err(Failure::new(
                        Exit::Dtls,
                        format!("{:?}: DTLS failed: {e}", self.party),
                    ));
                }
                _ => {}
            }
        }
        if let Some(c) = connected {
            self.connected = Some((c.profile, c.cipher_suite.name));
            let what = format!("DTLS connected: {}, {}", c.profile, c.cipher_suite.name);
            let state = self
                .gate
                .on_handshake(self.peer_cert.take().unwrap_or_default(), c);
            ladder.note(now, self.party, &format!("{what}; gate {state:?}"));
            match state {
                GateState::Verified => {
                    ladder.note(
                        now,
                        self.party,
                        "peer certificate matches a=fingerprint: VERIFIED (F-5.14)",
                    );
                    self.install_keys(now, ladder)?;
                }
                GateState::Rejected(e) => {
                    return Err(Failure::new(
                        Exit::FingerprintMismatch,
                        format!("{:?}: {e}", self.party),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn send_rtp(&mut self, index: u32) -> Result<(), Failure> {
        let (Some(srtp), Some(remote)) = (self.srtp.as_mut(), self.remote) else {
            return Ok(()); // fail closed: never RTP before keys
        };
        let seq = FIRST_SEQ.wrapping_add(index as u16);
        let ts = index.wrapping_mul(SAMPLES as u32);
        let mut packet = Vec::with_capacity(12 + SAMPLES + srtp.tx.rtp_overhead());
        packet.extend_from_slice(&[0x80, if index == 0 { 0x80 } else { 0x00 }]);
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&ts.to_be_bytes());
        packet.extend_from_slice(&self.ssrc.to_be_bytes());
        packet.extend_from_slice(&tone_payload(self.hz, index));
        srtp.tx
            .protect_rtp(&mut packet)
            .map_err(|e| Failure::new(Exit::Local, format!("protect: {e}")))?;
        self.sock.send_to(&packet, remote).map_err(local)?;
        self.stats.sent += 1;
        Ok(())
    }

    /// One RTCP sender report (RFC 3550 §6.4.1) over SRTCP.
    fn send_sr(&mut self) -> Result<(), Failure> {
        let (Some(srtp), Some(remote)) = (self.srtp.as_mut(), self.remote) else {
            return Ok(());
        };
        let mut packet = vec![0x80, 200, 0, 6];
        packet.extend_from_slice(&self.ssrc.to_be_bytes());
        packet.extend_from_slice(&[0; 8]); // NTP timestamp: the demo has no wall clock to report
        packet.extend_from_slice(&self.stats.sent.wrapping_mul(SAMPLES as u32).to_be_bytes());
        packet.extend_from_slice(&self.stats.sent.to_be_bytes());
        packet.extend_from_slice(&self.stats.sent.wrapping_mul(SAMPLES as u32).to_be_bytes());
        srtp.tx
            .protect_rtcp(&mut packet)
            .map_err(|e| Failure::new(Exit::Local, format!("protect: {e}")))?;
        self.sock.send_to(&packet, remote).map_err(local)?;
        self.stats.rtcp_sent += 1;
        Ok(())
    }
}

fn dtls_role(r: HandshakeRole) -> DtlsRole {
    match r {
        HandshakeRole::Client => DtlsRole::Client,
        _ => DtlsRole::Server,
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
        to.stats.auth_failed,
        to.stats.replayed,
        to.stats.wrong_payload,
        to.stats.before_keys,
        to.stats.rtcp_authenticated,
        from.stats.rtcp_sent,
    )
}

/// The live status from Alice's side: what she sent and what she received from Bob.
fn alice_status(alice: &Side, elapsed: Duration) -> Status {
    let rx = alice.rx.stats();
    Status {
        state: "media".into(),
        profile: alice.connected.map(|(p, _)| p.to_string()),
        elapsed,
        packets_out: u64::from(alice.stats.sent),
        packets_in: u64::from(alice.stats.authenticated),
        lost: rx.lost,
        loss: rx.loss_fraction(),
        jitter_ms: rx.jitter_ms(),
    }
}

/// Runs the demo; `Ok` only when media authenticated both ways. Over SIP unless the flow needs what only the
/// SIP-less demo can do (a passive answer, a chosen profile list).
pub(crate) fn run(args: &DemoArgs) -> Result<(), Failure> {
    // The endpoint answers active, offers its default profiles and has no key-log hook yet.
    let sip = !(args.no_sip
        || args.scenario == Scenario::Passive
        || !args.profiles.is_empty()
        || args.out.keylog.is_some());
    if sip {
        return crate::sipdemo::run(args);
    }
    if !matches!(
        args.scenario,
        Scenario::Basic | Scenario::Passive | Scenario::Mitm
    ) {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "--scenario {:?} needs SIP (drop --no-sip/--profiles)",
                args.scenario
            ),
        ));
    }
    run_without_sip(args)
}

fn run_without_sip(args: &DemoArgs) -> Result<(), Failure> {
    let start = Instant::now();
    output::init(args.out.json, args.out.verbosity());
    let keylog = args
        .out
        .keylog
        .as_deref()
        .map(FileKeyLog::open)
        .transpose()?
        .map(Arc::new);
    let mut alice = Side::new(Party::Alice, args, 440.0, keylog.clone(), start)?;
    let mut bob = Side::new(Party::Bob, args, 660.0, keylog, start)?;
    let mut status = StatusLine::new(Duration::from_secs(1));
    say!(
        "dtlsrtp demo ({:?}): Alice {} calls Bob {}",
        args.scenario,
        alice.addr,
        bob.addr
    );
    say!("  Alice a=fingerprint:{}", alice.fingerprint);
    say!("  Bob   a=fingerprint:{}", bob.fingerprint);
    let mut ladder = Ladder::new(start);

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
    let offer_text = offer.write();
    ladder.arrow(
        Instant::now(),
        Party::Alice,
        "SDP offer: a=setup:actpass, a=fingerprint, a=tls-id, a=rtcp-mux",
    );

    // Bob answers and, when active, starts his handshake at once, before the answer reaches Alice.
    let now = Instant::now();
    let offer =
        Sdp::parse(offer_text.as_bytes()).map_err(|e| signalling("offer")(e.to_string()))?;
    let answer = bob_neg
        .answer(&offer, &[audio_media(bob.addr.port())], &mut fill)
        .map_err(|e| signalling("answer")(e.to_string()))?;
    let bob_media = answer
        .media
        .first()
        .and_then(|m| m.dtls())
        .cloned()
        .ok_or_else(|| Failure::new(Exit::Signalling, "the answer has no DTLS-SRTP m-line"))?;
    bob.role = Some(dtls_role(bob_media.local_role));
    bob.remote = Some(media_addr(&bob_media)?);
    bob.expect(now, &mut ladder, &bob_media)?;
    if bob.role == Some(DtlsRole::Client) {
        bob.start_client(now, &mut ladder)?;
    }
    let mut answer_text = answer.sdp.write();
    if args.scenario == Scenario::Mitm {
        // The middlebox substitutes a certificate of its own.
        let mallory = Certificate::generate(args.key_type.into(), "mallory", 30).map_err(local)?;
        let forged = mallory.fingerprint(HashFunction::Sha256).map_err(local)?;
        answer_text = answer_text.replace(&bob.fingerprint.to_string(), &forged.to_string());
        ladder.note(
            now,
            Party::Bob,
            "(a middlebox rewrites a=fingerprint in Bob's answer)",
        );
    }
    let mut answer_text = Some(answer_text);
    let mut pending = Some(pending);

    let deadline = start
        + Duration::from_secs(20)
        + Duration::from_millis(args.pace_ms * u64::from(args.packets));
    let pace = Duration::from_millis(args.pace_ms);
    let mut media_start: Option<Instant> = None;
    let mut next_index = 0u32;
    let mut done_sending: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if now > deadline {
            break;
        }
        // The answer reaches Alice once her handshake has completed (the ClientHello beat the answer) or
        // after 300 ms, whichever is first.
        let answer_due = alice.gate.state() == GateState::AwaitingFingerprint
            || now.duration_since(start) >= Duration::from_millis(300);
        if answer_due {
            if let (Some(text), Some(p)) = (answer_text.take(), pending.take()) {
                ladder.arrow(
                    now,
                    Party::Bob,
                    "SDP answer: a=setup, a=fingerprint, a=tls-id",
                );
                let sdp =
                    Sdp::parse(text.as_bytes()).map_err(|e| signalling("answer")(e.to_string()))?;
                let outcome = alice_neg
                    .apply_answer(p, &sdp)
                    .map_err(|e| signalling("answer")(e.error.to_string()))?;
                let media = outcome
                    .first()
                    .and_then(|m| m.dtls())
                    .cloned()
                    .ok_or_else(|| {
                        Failure::new(Exit::Signalling, "the answer has no DTLS-SRTP m-line")
                    })?;
                let role = dtls_role(media.local_role);
                if alice.role.is_some_and(|r| r != role) {
                    return Err(Failure::new(
                        Exit::Dtls,
                        "the answer contradicts the running handshake's roles",
                    ));
                }
                alice.role = Some(role);
                if alice.remote.is_none() {
                    alice.remote = Some(media_addr(&media)?);
                }
                alice.expect(now, &mut ladder, &media)?;
                if role == DtlsRole::Client {
                    alice.start_client(now, &mut ladder)?;
                }
            }
        }
        let mut busy = alice.pump(now, &mut ladder, FIRST_SEQ, bob.hz)?;
        busy |= bob.pump(now, &mut ladder, FIRST_SEQ, alice.hz)?;

        // Media starts when both ends hold verified keys (fail closed: no RTP before keys).
        if media_start.is_none() && alice.srtp.is_some() && bob.srtp.is_some() {
            media_start = Some(now);
            ladder.note(
                now,
                Party::Alice,
                &format!("media: {} PCMU packets each way", args.packets),
            );
        }
        if let Some(t0) = media_start {
            while next_index < args.packets && now >= t0 + pace * next_index {
                alice.send_rtp(next_index)?;
                bob.send_rtp(next_index)?;
                next_index += 1;
                busy = true;
            }
            if next_index == args.packets && done_sending.is_none() {
                alice.send_sr()?;
                bob.send_sr()?;
                done_sending = Some(now);
            }
        }
        if let Some(t) = done_sending {
            let all_in = alice.stats.authenticated + alice.stats.wrong_payload >= bob.stats.sent
                && bob.stats.authenticated + bob.stats.wrong_payload >= alice.stats.sent
                && alice.stats.rtcp_authenticated >= 1
                && bob.stats.rtcp_authenticated >= 1;
            if all_in || now.duration_since(t) > Duration::from_secs(1) {
                break;
            }
        }
        if let Some(t0) = media_start {
            status.update(&alice_status(&alice, now.duration_since(t0)));
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    status.finish();
    let end = Instant::now();
    for side in [&mut alice, &mut bob] {
        if let Some(a) = side.assoc.as_mut() {
            a.close(end);
        }
        side.flush(end, &mut ladder)?;
    }

    say!("");
    say!(
        "Summary ({:.0} ms, {} ladder lines)",
        end.duration_since(start).as_secs_f64() * 1000.0,
        ladder.lines
    );
    if let Some((profile, suite)) = alice.connected.or(bob.connected) {
        say!("  SRTP profile: {profile}, DTLS cipher suite {suite}");
    }
    let client = match (alice.role, bob.role) {
        (Some(DtlsRole::Client), _) => "Alice (a=setup:active); DTLS server: Bob",
        (_, Some(DtlsRole::Client)) => "Bob (a=setup:active); DTLS server: Alice",
        _ => "none",
    };
    say!("  DTLS client: {client}");
    let verified = |s: &Side| {
        if s.srtp.is_some() {
            "verified"
        } else {
            "NOT verified"
        }
    };
    say!(
        "  Bob's certificate   {}: {} by Alice",
        bob.fingerprint,
        verified(&alice)
    );
    say!(
        "  Alice's certificate {}: {} by Bob",
        alice.fingerprint,
        verified(&bob)
    );
    say!("  {}", summary_line(&alice, &bob));
    say!("  {}", summary_line(&bob, &alice));

    if alice.srtp.is_none() || bob.srtp.is_none() {
        return Err(Failure::new(
            Exit::Dtls,
            "the DTLS handshake did not complete in time",
        ));
    }
    let clean = |s: &Side| {
        s.stats.auth_failed == 0 && s.stats.wrong_payload == 0 && s.stats.authenticated > 0
    };
    if !(clean(&alice) && clean(&bob)) {
        return Err(Failure::new(
            Exit::NoMedia,
            "media did not authenticate both ways",
        ));
    }
    say!("RESULT: DTLS-SRTP established, fingerprints verified, media authenticated both ways");
    let mut last = alice_status(&alice, end.duration_since(start));
    last.state = "ended".into();
    output::summary(&last, "media authenticated both ways", 0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_payload_is_pcmu_of_the_tone() {
        assert_ne!(tone_payload(440.0, 0), tone_payload(440.0, 1));
        assert_eq!(
            tone_payload(440.0, 0)[0],
            0xFF,
            "sin(0) = 0 encodes as µ-law zero"
        );
    }
}
