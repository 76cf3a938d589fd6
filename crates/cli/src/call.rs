//! `dtlsrtp call` and `dtlsrtp answer`: settings, identity, key log and audio are prepared here; the call itself
//! runs on the `dtlsrtp` endpoint crate (SIP user agent + SDP + media port) in the command's own loop over
//! [`Sockets`](crate::sockets::Sockets).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use dtlsrtp::{CallId, CallOptions, Config as EpConfig, EndReason, Endpoint, Event, TransportKind};
use dtlsrtp_srtp::DtlsRole;
use serde_json::json;

use crate::audio::g711::Law;
use crate::audio::jitter::JitterBuffer;
use crate::audio::packetize::Packetizer;
use crate::audio::tone::ToneGenerator;
use crate::audio::wav::WavRecorder;
use crate::audio::FRAME;
use crate::audio::{wav, RATE};
use crate::identity;
use crate::options::{
    AnswerArgs, CallArgs, CodecArg, Settings, Setup, Source, SrtpPolicy, Transport,
};
use crate::output;
use crate::output::{Status, StatusLine};
use crate::sockets::Sockets;
use crate::{Exit, Failure};

/// What a call or an answer runs with, once everything local is ready.
pub(crate) struct Prepared {
    pub(crate) settings: Settings,
    pub(crate) certificate: dtlsrtp_dtls::Certificate,
    pub(crate) law: Law,
    /// The audio to send, 8 kHz mono; looped for the call's length.
    pub(crate) audio: Vec<i16>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("settings", &self.settings)
            .field("law", &self.law)
            .field("audio_samples", &self.audio.len())
            .finish_non_exhaustive()
    }
}

/// Loads everything local (exit 1 on a local problem, 2 on bad usage) before any packet is sent.
pub(crate) fn prepare(settings: Settings) -> Result<Prepared, Failure> {
    output::init(settings.json, settings.verbosity);
    unsupported(&settings)?;
    let (certificate, origin) = identity::load_or_create(
        settings.cert.as_deref(),
        settings.key.as_deref(),
        settings.config_dir.as_deref(),
    )?;
    if let identity::Origin::Created(p) = &origin {
        tracing::warn!("new identity saved to {}", p.display());
    }
    let audio = match &settings.source {
        Source::Wav(path) => {
            let samples = wav::read(path)
                .map_err(|e| Failure::new(Exit::Local, format!("{}: {e}", path.display())))?;
            if samples.is_empty() {
                return Err(Failure::new(
                    Exit::Local,
                    format!("{}: no audio in the file", path.display()),
                ));
            }
            samples
        }
        // One second of tone, looped: 440 Hz and every whole-Hz tone repeat exactly every second.
        Source::Tone(hz) => ToneGenerator::new(*hz, 0.3).samples(RATE as usize),
    };
    if let Some(record) = &settings.record {
        // Fail before the call, not after it, when the recording cannot be written.
        wav::write(record, &[])
            .map_err(|e| Failure::new(Exit::Local, format!("{}: {e}", record.display())))?;
    }
    let law = match settings.codec {
        CodecArg::Pcmu => Law::Pcmu,
        CodecArg::Pcma => Law::Pcma,
    };
    Ok(Prepared {
        settings,
        certificate,
        law,
        audio,
    })
}

/// `dtlsrtp call`.
pub(crate) fn call(args: &CallArgs) -> Result<(), Failure> {
    let prepared = prepare(Settings::for_call(args)?)?;
    run(prepared, Role::Caller)
}

/// `dtlsrtp answer`.
pub(crate) fn answer(args: &AnswerArgs) -> Result<(), Failure> {
    let prepared = prepare(Settings::for_answer(args)?)?;
    run(prepared, Role::Callee)
}

/// Which side of the call we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// `call`.
    Caller,
    /// `answer`.
    Callee,
}

/// Bounds of the phases of a call, so that no failure can hang the command.
const DTLS_TIMEOUT: Duration = Duration::from_secs(10);
const HANGUP_GRACE: Duration = Duration::from_secs(3);
/// Early media (answer --early-media) lasts this long before the 200.
const EARLY_MEDIA_FOR: Duration = Duration::from_secs(1);

fn local(e: impl std::fmt::Display) -> Failure {
    Failure::new(Exit::Local, e.to_string())
}

/// One call's media and progress, fed by the endpoint's events.
struct CallState {
    call: Option<CallId>,
    state: &'static str,
    profile: Option<String>,
    role: Option<DtlsRole>,
    answered_at: Option<Instant>,
    media_from: Option<Instant>,
    established_at: Option<Instant>,
    incoming_at: Option<Instant>,
    mismatch: bool,
    ended: Option<EndReason>,
    sent: u64,
    received: u64,
    packetizer: Packetizer,
    cursor: usize,
    jitter: JitterBuffer,
    recorder: Option<WavRecorder>,
    recorded_frames: u64,
    next_play: Option<Instant>,
    start: Instant,
    /// The call's security state (issue 8: encrypted-unauthenticated, encrypted to a verified identity,
    /// identity failed) and the SAS, from the endpoint's Security event.
    security: Option<String>,
    sas: Option<String>,
}

impl CallState {
    fn new(p: &Prepared, start: Instant) -> Result<Self, Failure> {
        Self::with(p.law, p.settings.record.as_deref(), start)
    }

    fn with(law: Law, record: Option<&std::path::Path>, start: Instant) -> Result<Self, Failure> {
        let mut r = [0u8; 6];
        crate::os_random(&mut r);
        let recorder = match record {
            Some(path) => Some(
                WavRecorder::create(path)
                    .map_err(|e| Failure::new(Exit::Local, format!("{}: {e}", path.display())))?,
            ),
            None => None,
        };
        Ok(Self {
            call: None,
            state: "starting",
            profile: None,
            role: None,
            answered_at: None,
            media_from: None,
            established_at: None,
            incoming_at: None,
            mismatch: false,
            ended: None,
            sent: 0,
            received: 0,
            packetizer: Packetizer::new(
                law,
                u16::from_be_bytes([r[0], r[1]]),
                u32::from_be_bytes([r[2], r[3], r[4], r[5]]),
            ),
            cursor: 0,
            jitter: JitterBuffer::new(law, 3),
            recorder,
            recorded_frames: 0,
            next_play: None,
            start,
            security: None,
            sas: None,
        })
    }

    fn status(&self, now: Instant) -> Status {
        let rx = self.jitter.stats();
        Status {
            state: self.state.to_string(),
            profile: self.profile.clone(),
            elapsed: now.duration_since(self.start),
            packets_out: self.sent,
            packets_in: self.received,
            lost: rx.lost,
            loss: rx.loss_fraction(),
            jitter_ms: rx.jitter_ms(),
        }
    }

    fn on_event(&mut self, now: Instant, ev: &Event) {
        let t = now.duration_since(self.start).as_secs_f64() * 1000.0;
        let (kind, text): (&str, String) = match ev {
            Event::IncomingCall { from, .. } => ("incoming", format!("incoming call from {from}")),
            Event::Ringing { .. } => {
                self.state = "ringing";
                ("ringing", "ringing".into())
            }
            Event::EarlyMedia { .. } => {
                self.state = "early";
                (
                    "early_media",
                    "early media (183 with SDP): fingerprint bound".into(),
                )
            }
            Event::Answered { .. } => {
                self.state = "answered";
                self.answered_at.get_or_insert(now);
                ("answered", "answered".into())
            }
            Event::DtlsConnected {
                profile,
                role,
                remote,
                ..
            } => {
                self.profile = Some(profile.to_string());
                self.role = Some(*role);
                (
                    "dtls_connected",
                    format!("DTLS connected with {remote}: {profile}, we are DTLS {role:?}"),
                )
            }
            Event::FingerprintVerified { remote, .. } => {
                // Early media may flow from here (F-6.2); the call is up at Established.
                self.media_from.get_or_insert(now);
                (
                    "fingerprint_verified",
                    format!("peer certificate matches its a=fingerprint ({remote})"),
                )
            }
            Event::FingerprintMismatch { .. } => {
                self.mismatch = true;
                (
                    "fingerprint_mismatch",
                    "FINGERPRINT MISMATCH: media torn down".into(),
                )
            }
            Event::Established { .. } => {
                self.state = "connected";
                self.established_at.get_or_insert(now);
                self.media_from.get_or_insert(now);
                (
                    "established",
                    "call established: media authenticated by the verified keys".into(),
                )
            }
            Event::Rtp {
                seq,
                ts,
                payload,
                verified,
                ..
            } => {
                if *verified {
                    if self.received == 0 {
                        output::event(
                            "first_srtp",
                            json!({"t_ms": t}),
                            &format!("{t:>9.1} ms  first SRTP packet authenticated"),
                        );
                    }
                    self.received += 1;
                    let arrival = (now.duration_since(self.start).as_secs_f64() * 8000.0) as u32;
                    self.jitter.push(*seq, *ts, payload, arrival);
                }
                return;
            }
            Event::Terminated { reason, .. } => {
                self.state = "ended";
                self.ended = Some(*reason);
                ("terminated", format!("call ended: {reason:?}"))
            }
            Event::Modified { renewed, .. } => (
                "modified",
                format!("session modified (new association: {renewed})"),
            ),
            Event::Registered { expires, .. } => {
                ("registered", format!("registered for {expires} s"))
            }
            Event::Security { state, sas, .. } => {
                self.security = Some(state.label());
                self.sas.clone_from(sas);
                let sas = sas
                    .as_deref()
                    .map_or(String::new(), |s| format!(", SAS {s}"));
                ("security", format!("security: {}{sas}", state.label()))
            }
            Event::PeerKeyChanged { identity, .. } => (
                "peer_key_changed",
                if identity.is_empty() {
                    "WARNING: the peer's key changed mid-call (unauthenticated; compare the new SAS)".to_owned()
                } else {
                    format!("WARNING: {identity} presents a different key than last time (continuity broken)")
                },
            ),
            Event::RegistrationFailed { status, .. } => {
                ("registration_failed", format!("REGISTER refused: {status}"))
            }
            _ => return,
        };
        output::event(
            kind,
            json!({"t_ms": t, "text": text}),
            &format!("{t:>9.1} ms  {text}"),
        );
    }

    /// Sends the frames due since media started (20 ms each), a few at most per call to catch up after a stall.
    fn send_due(&mut self, now: Instant, ep: &mut Endpoint, audio: &[i16]) {
        let (Some(call), Some(from)) = (self.call, self.media_from) else {
            return;
        };
        let due = (now.duration_since(from).as_millis() / 20) as u64 + 1;
        for _ in 0..5 {
            if self.sent >= due {
                break;
            }
            let mut frame = [0i16; FRAME];
            for f in &mut frame {
                *f = audio.get(self.cursor).copied().unwrap_or(0);
                self.cursor = (self.cursor + 1) % audio.len().max(1);
            }
            for pkt in self.packetizer.push(&frame) {
                match ep.send_rtp(
                    now,
                    call,
                    pkt.payload_type,
                    pkt.marker,
                    pkt.timestamp,
                    &pkt.payload,
                ) {
                    Ok(()) => self.sent += 1,
                    Err(e) => {
                        tracing::debug!("send_rtp: {e}");
                        return;
                    }
                }
            }
        }
    }

    /// Plays out one frame per 20 ms into the recording.
    fn play_due(&mut self, now: Instant) -> Result<(), Failure> {
        if self.received == 0 {
            return Ok(());
        }
        let next = *self.next_play.get_or_insert(now);
        if now < next {
            return Ok(());
        }
        self.next_play = Some(next + Duration::from_millis(20));
        if let Some(frame) = self.jitter.pop() {
            self.record(&frame)?;
        }
        Ok(())
    }

    fn record(&mut self, samples: &[i16]) -> Result<(), Failure> {
        if let Some(r) = self.recorder.as_mut() {
            r.append(samples)
                .map_err(|e| Failure::new(Exit::Local, format!("recording: {e}")))?;
            self.recorded_frames += 1;
        }
        Ok(())
    }

    fn finish_recording(&mut self) -> Result<(), Failure> {
        let rest = self.jitter.drain();
        self.record(&rest)?;
        if let Some(r) = self.recorder.take() {
            r.finish()
                .map_err(|e| Failure::new(Exit::Local, format!("recording: {e}")))?;
        }
        Ok(())
    }
}

fn endpoint_config(p: &Prepared, sip: SocketAddr, user: &str) -> Result<EpConfig, Failure> {
    let mut seed = [0u8; 32];
    crate::os_random(&mut seed);
    let mut cfg = EpConfig::new(
        user,
        &sip.ip().to_string(),
        sip,
        p.certificate.clone(),
        seed,
    );
    let pcmu = dtlsrtp_sdp::Codec::new(0, "PCMU", 8000, None);
    let pcma = dtlsrtp_sdp::Codec::new(8, "PCMA", 8000, None);
    cfg.codecs = match p.law {
        Law::Pcmu => vec![pcmu, pcma],
        Law::Pcma => vec![pcma, pcmu],
    };
    if p.settings.transport == Transport::Tcp {
        cfg.sip.push((TransportKind::Tcp, sip));
    }
    if p.settings.srtp_policy == SrtpPolicy::BestEffort {
        cfg.best_effort = true;
    }
    cfg.identity = crate::sipid::config(&p.settings.identity)?;
    if let Some(reg) = &p.settings.register {
        cfg.credentials = Some(reg.credentials());
    }
    Ok(cfg)
}

/// Checks the options the endpoint cannot honour yet, so that none is silently ignored.
fn unsupported(s: &Settings) -> Result<(), Failure> {
    let no = |what: &str| {
        Err(Failure::new(
            Exit::Local,
            format!("{what} is not supported by this build yet"),
        ))
    };
    if s.transport == Transport::Tls
        || s.uri.as_deref().is_some_and(|u| u.starts_with("sips:"))
        || s.uri
            .as_deref()
            .is_some_and(|u| u.contains(";transport=tls"))
    {
        return no("SIP over TLS (--transport tls, sips: URIs) in call/answer");
    }
    if s.ice {
        return no("--ice in call/answer");
    }
    if s.setup == Setup::Passive {
        return no("--setup passive (the endpoint answers a=setup:active, RFC 5763 §5)");
    }
    if !s.profiles.is_empty() {
        return no("--profiles in call/answer (the endpoint offers its default profile list)");
    }
    if s.keylog.is_some() {
        return no("--keylog in call/answer (the endpoint does not expose its DTLS key log yet; demo has it)");
    }
    Ok(())
}

fn run(prepared: Prepared, role: Role) -> Result<(), Failure> {
    let start = Instant::now();
    let sip_bind = match role {
        Role::Callee => prepared.settings.listen,
        Role::Caller => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
    };
    let mut socks = Sockets::bind(sip_bind)?;
    let tcp = prepared.settings.transport == Transport::Tcp;
    if tcp {
        socks.listen_tcp()?;
    }
    let user = match role {
        Role::Caller => "dtlsrtp-caller",
        Role::Callee => "dtlsrtp",
    };
    let mut ep = Endpoint::new(endpoint_config(&prepared, socks.sip_addr, user)?)
        .map_err(|e| Failure::new(Exit::Local, format!("endpoint: {e}")))?;
    socks.top_up(&mut ep)?;
    // Identity certificates are fetched off this loop (issue 12 item 7).
    let fetcher = crate::sipid::Fetcher::new(
        ep.config()
            .identity
            .as_ref()
            .and_then(|i| i.resolver.clone()),
    );
    let fp = prepared
        .certificate
        .fingerprint(dtlsrtp_dtls::HashFunction::Sha256)
        .map_err(local)?;
    output::event(
        "start",
        json!({"role": format!("{role:?}").to_lowercase(), "sip": socks.sip_addr.to_string(), "fingerprint": fp.to_string()}),
        &format!(
            "dtlsrtp {}: SIP on {} {}, a=fingerprint:{fp}",
            if role == Role::Caller {
                "call"
            } else {
                "answer"
            },
            if tcp { "udp+tcp" } else { "udp" },
            socks.sip_addr
        ),
    );
    let mut st = CallState::new(&prepared, start)?;
    let now = Instant::now();
    if let Some(reg) = &prepared.settings.register {
        let aor = dtlsrtp_sip::SipUri::parse(&reg.aor)
            .map_err(|e| Failure::new(Exit::Usage, format!("--register: {e}")))?;
        // The registrar is the AoR's domain (RFC 3261 §10.2.6): sip:alice@host:port → sip:host:port.
        let host = reg.aor.split_once(':').map_or("", |x| x.1);
        let host = host.rsplit_once('@').map_or(host, |x| x.1);
        let host = host.split(';').next().unwrap_or(host);
        let registrar = dtlsrtp_sip::SipUri::parse(&format!("sip:{host}"))
            .map_err(|e| Failure::new(Exit::Usage, format!("--register: {e}")))?;
        ep.register(
            now,
            dtlsrtp_sip::ua::RegisterConfig {
                registrar,
                aor,
                expires: 60,
                credentials: Some(reg.credentials()),
            },
        )
        .map_err(|e| Failure::new(Exit::Signalling, format!("REGISTER: {e}")))?;
    }
    let mut registered = prepared.settings.register.is_none();
    let mut dialed = false;
    let mut calls_done = 0u32;
    let mut status = StatusLine::new(Duration::from_secs(1));
    let mut hangup_at: Option<Instant> = None;
    let mut buf = vec![0u8; 65_536];
    let mut outcome: Option<Result<(), Failure>> = None;
    let mut last_status = start;
    for _ in 0..u32::MAX {
        let now = Instant::now();
        let mut busy = socks.receive(&mut ep, &mut buf);
        while let Some((fetch, result)) = fetcher.poll() {
            ep.certificate_fetched(now, fetch, result);
            busy = true;
        }
        if ep.poll_timeout().is_some_and(|t| t <= now) {
            ep.handle_timeout(now);
            busy = true;
        }
        while let Some(ev) = ep.poll_event() {
            busy = true;
            match &ev {
                Event::MediaSocketReleased { local } => {
                    socks.media.remove(local);
                    continue;
                }
                Event::FetchCertificate { fetch, url, .. } => {
                    fetcher.start(*fetch, url.clone());
                    continue;
                }
                Event::StorePeerKeys { path, cache } => {
                    crate::sipid::store_peer_keys(path, cache);
                    continue;
                }
                Event::Registered { .. } => registered = true,
                Event::RegistrationFailed { status: code, .. } => {
                    outcome = Some(Err(Failure::new(
                        Exit::Signalling,
                        format!("REGISTER refused with {code}"),
                    )));
                }
                Event::IncomingCall { call, .. } if role == Role::Callee => {
                    if st.call.is_some() {
                        let _ = ep.reject(now, *call, 486);
                    } else {
                        st.call = Some(*call);
                        st.incoming_at = Some(now);
                        let r = if prepared.settings.early_media {
                            ep.early_media(now, *call)
                        } else {
                            ep.ring(now, *call).and_then(|()| ep.answer(now, *call))
                        };
                        if let Err(e) = r {
                            outcome = Some(Err(Failure::new(
                                Exit::Signalling,
                                format!("answering: {e}"),
                            )));
                        }
                    }
                }
                _ => {}
            }
            if st.call.is_some()
                || matches!(
                    ev,
                    Event::Registered { .. } | Event::RegistrationFailed { .. }
                )
            {
                st.on_event(now, &ev);
            }
            if let Event::Terminated { .. } = ev {
                let r = call_result(&st);
                st.finish_recording()?;
                calls_done += 1;
                if role == Role::Callee && r.is_ok() && calls_done < prepared.settings.calls {
                    // Ready for the next call with a fresh state.
                    summary_of(&st, &r, now);
                    st = CallState::new(&prepared, Instant::now())?;
                    hangup_at = None;
                } else {
                    outcome = Some(r);
                }
            }
        }
        if outcome.is_some() {
            break;
        }
        socks.refill(&mut ep);
        // Caller: dial once registered.
        if role == Role::Caller && !dialed && registered {
            dialed = true;
            let mut uri = prepared.settings.uri.clone().unwrap_or_default();
            if tcp && !uri.contains(";transport=") {
                // The UA picks the transport from the URI (RFC 3261 §18.1.1 without DNS).
                uri.push_str(";transport=tcp");
            }
            let opts = if prepared.settings.identity.anonymous {
                CallOptions::anonymous()
            } else {
                CallOptions::default()
            };
            match ep.dial(now, &uri, opts) {
                Ok(c) => {
                    st.call = Some(c);
                    st.state = "calling";
                    output::event("calling", json!({"uri": uri}), &format!("calling {uri}"));
                }
                Err(dtlsrtp::Error::Uri(e)) => {
                    return Err(Failure::new(Exit::Usage, format!("{uri}: {e}")));
                }
                Err(e) => return Err(Failure::new(Exit::Signalling, format!("INVITE: {e}"))),
            }
        }
        // Callee with early media: answer after a while.
        if role == Role::Callee && prepared.settings.early_media {
            if let (Some(call), Some(t), None) = (st.call, st.incoming_at, st.answered_at) {
                if now.duration_since(t) >= EARLY_MEDIA_FOR && st.media_from.is_some() {
                    if let Err(e) = ep.answer(now, call) {
                        tracing::debug!("answer after early media: {e}");
                    }
                    st.answered_at = Some(now);
                }
            }
        }
        // Bounds: no answer in time (caller), answered but no verified DTLS, call length reached.
        if let (Some(call), None) = (st.call, hangup_at) {
            let dialed_long_ago = role == Role::Caller
                && st.answered_at.is_none()
                && now.duration_since(start) >= prepared.settings.timeout;
            let dtls_stuck = st
                .answered_at
                .is_some_and(|t| now.duration_since(t) >= DTLS_TIMEOUT)
                && st.established_at.is_none();
            let long_enough = match (st.established_at, prepared.settings.duration) {
                (Some(t), Some(d)) => now.duration_since(t) >= d,
                _ => false,
            };
            // A mismatch on the answered dialog is ended by the endpoint itself (F-5.15, BYE); one on another
            // early dialog is not fatal (T-8a), so the event alone does not hang up.
            if dialed_long_ago || dtls_stuck || long_enough {
                if dialed_long_ago {
                    output::event("timeout", json!({}), "no answer in time: giving up");
                }
                let _ = ep.hangup(now, call);
                hangup_at = Some(now);
            }
        }
        if hangup_at.is_some_and(|t| now.duration_since(t) >= HANGUP_GRACE) {
            // The peer never confirmed the BYE/CANCEL: end anyway.
            outcome = Some(call_result(&st));
            st.finish_recording()?;
            break;
        }
        if hangup_at.is_none() {
            st.send_due(now, &mut ep, &prepared.audio);
        }
        st.play_due(now)?;
        busy |= socks.transmit(&mut ep);
        if now.duration_since(last_status) >= Duration::from_millis(100) && st.media_from.is_some()
        {
            last_status = now;
            status.update(&st.status(now));
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // Let the last messages (BYE's 200, ACK) leave.
    socks.transmit(&mut ep);
    status.finish();
    let r = outcome.unwrap_or_else(|| Err(Failure::new(Exit::Local, "loop ended")));
    summary_of(&st, &r, Instant::now());
    r
}

fn summary_of(st: &CallState, r: &Result<(), Failure>, now: Instant) {
    let (mut text, code) = match r {
        Ok(()) => ("media authenticated both ways".to_string(), 0u8),
        Err(f) => (f.message.clone(), f.exit as u8),
    };
    if let Some(sec) = &st.security {
        text.push_str(&format!("; {sec}"));
    }
    if let Some(sas) = &st.sas {
        text.push_str(&format!("; SAS {sas}"));
    }
    output::summary(&st.status(now), &text, code);
}

/// The exit code of a finished call from what the endpoint reported.
fn call_result(st: &CallState) -> Result<(), Failure> {
    if st.ended == Some(EndReason::FingerprintMismatch)
        || (st.mismatch && st.established_at.is_none())
    {
        return Err(Failure::new(
            Exit::FingerprintMismatch,
            "the peer's certificate does not match its a=fingerprint",
        ));
    }
    if st.answered_at.is_none() && st.established_at.is_none() {
        let why = match st.ended {
            Some(EndReason::Rejected(code)) => format!("call refused with {code}"),
            Some(EndReason::Timeout) | None => {
                "no answer (timeout, or the SIP transport failed)".to_string()
            }
            Some(EndReason::NotSecure) => "the answer was not DTLS-SRTP".to_string(),
            Some(EndReason::DtlsFailed) => {
                return Err(Failure::new(
                    Exit::Dtls,
                    "the DTLS handshake failed before the answer",
                ));
            }
            Some(other) => format!("call failed: {other:?}"),
        };
        return Err(Failure::new(Exit::Signalling, why));
    }
    if st.ended == Some(EndReason::NotSecure) {
        return Err(Failure::new(
            Exit::Signalling,
            "the answer was not DTLS-SRTP",
        ));
    }
    if st.established_at.is_none() {
        return Err(Failure::new(
            Exit::Dtls,
            "answered, but DTLS-SRTP did not come up (handshake failed or timed out)",
        ));
    }
    if st.received == 0 || st.sent == 0 {
        return Err(Failure::new(
            Exit::NoMedia,
            format!(
                "no media both ways ({} sent, {} received)",
                st.sent, st.received
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> CallState {
        CallState::with(Law::Pcmu, None, Instant::now()).unwrap()
    }

    fn code(st: &CallState) -> Option<Exit> {
        call_result(st).err().map(|f| f.exit)
    }

    /// The documented exit codes from what the endpoint reported (README): 3, 4, 5, 6, 0.
    #[test]
    fn exit_codes_from_endpoint_events() {
        let now = Instant::now();
        let mut st = state();
        st.ended = Some(EndReason::Timeout);
        assert_eq!(code(&st), Some(Exit::Signalling));
        st.ended = Some(EndReason::Rejected(486));
        assert_eq!(code(&st), Some(Exit::Signalling));
        assert!(call_result(&st).unwrap_err().message.contains("486"));
        st.ended = Some(EndReason::NotSecure);
        assert_eq!(code(&st), Some(Exit::Signalling));

        let mut st = state();
        st.answered_at = Some(now);
        st.ended = Some(EndReason::Local);
        assert_eq!(code(&st), Some(Exit::Dtls), "answered, never established");

        let mut st = state();
        st.answered_at = Some(now);
        st.mismatch = true;
        assert_eq!(code(&st), Some(Exit::FingerprintMismatch));
        let mut st = state();
        st.ended = Some(EndReason::FingerprintMismatch);
        assert_eq!(code(&st), Some(Exit::FingerprintMismatch));

        let mut st = state();
        st.answered_at = Some(now);
        st.established_at = Some(now);
        st.sent = 10;
        assert_eq!(code(&st), Some(Exit::NoMedia), "nothing received");
        st.received = 10;
        assert_eq!(code(&st), None);
    }

    #[test]
    fn events_drive_the_state() {
        let now = Instant::now();
        let mut st = state();
        let call = CallId(7);
        st.call = Some(call);
        st.on_event(now, &Event::Ringing { call, fork: None });
        assert_eq!(st.state, "ringing");
        st.on_event(
            now,
            &Event::Established {
                call,
                fork: dtlsrtp::ForkId(1),
            },
        );
        assert_eq!(st.state, "connected");
        assert!(st.established_at.is_some() && st.media_from.is_some());
        st.on_event(
            now,
            &Event::Rtp {
                call,
                fork: None,
                ssrc: 1,
                seq: 5,
                ts: 800,
                pt: 0,
                payload: vec![0xFF; 160],
                verified: true,
            },
        );
        assert_eq!(st.received, 1);
        st.on_event(
            now,
            &Event::Terminated {
                call,
                reason: EndReason::RemoteBye,
            },
        );
        assert_eq!(st.ended, Some(EndReason::RemoteBye));
        assert_eq!(st.status(now).packets_in, 1);
    }
}
