//! `dtlsrtp call` and `dtlsrtp answer`: settings, identity, key log and audio are prepared here; the call itself
//! runs on the tokio driver ([`EndpointHandle`]: the `dtlsrtp` endpoint — SIP user agent, SDP, media port — with
//! SIP over UDP, TCP or TLS). This module paces the audio, reacts to events, keys and the call's bounds
//! ([`run`]); [`state`] keeps one call's progress and words.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtlsrtp::{CallOptions, Config as EpConfig, Event, IdentityConfig};
use dtlsrtp_tokio::endpoint::{DriverOptions, EndpointHandle, TlsConfig};
use serde_json::json;

use crate::identity;
use crate::keylog::FileKeyLog;
use crate::options::{
    AnswerArgs, CallArgs, CodecArg, Settings, Setup, Source, SrtpPolicy, Transport,
};
use crate::output;
use crate::output::StatusLine;
use crate::wav;
use crate::{Exit, Failure};
use dtlsrtp_audio::g711::Law;
use dtlsrtp_audio::tone::ToneGenerator;
use dtlsrtp_audio::RATE;

mod dtmf;
mod state;

use state::{call_result, CallState};

/// What a call or an answer runs with, once everything local is ready.
pub(crate) struct Prepared {
    pub(crate) settings: Settings,
    pub(crate) certificate: dtlsrtp::Certificate,
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
    let (certificate, origin) = identity::load_or_create(
        settings.cert.as_deref(),
        settings.key.as_deref(),
        settings.config_dir.as_deref(),
    )?;
    if let identity::Origin::Created(p) = &origin {
        // One plain line on stderr (stdout stays the call's events, JSON lines with --json).
        if settings.verbosity >= 0 {
            eprintln!(
                "dtlsrtp: created a new identity (certificate and key) in {}",
                p.display()
            );
        }
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
/// How often the loop paces audio, checks the bounds and redraws the status.
const TICK: Duration = Duration::from_millis(5);

fn local(e: impl std::fmt::Display) -> Failure {
    Failure::new(Exit::Local, e.to_string())
}

/// The SIP transport a call uses: `--transport`, or TLS for a `sips:` / `;transport=tls` URI.
fn transport(s: &Settings) -> Transport {
    let uri = s.uri.as_deref().unwrap_or("");
    if uri.starts_with("sips:") || uri.to_ascii_lowercase().contains(";transport=tls") {
        Transport::Tls
    } else {
        s.transport
    }
}

/// The host of a SIP URI (`sips:bob@127.0.0.1:5061;x` → `127.0.0.1`; `[::1]` → `::1`).
fn uri_host(uri: &str) -> Option<String> {
    let rest = uri.split_once(':')?.1;
    let rest = rest.rsplit_once('@').map_or(rest, |x| x.1);
    let hostport = rest.split([';', '?']).next()?;
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        hostport.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_owned())
}

fn read(path: &std::path::Path, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::new(Exit::Local, format!("{what} {}: {e}", path.display())))
}

/// SIP over TLS: our server certificate (`--tls-cert`/`--tls-key`, default our DTLS identity), the trust
/// anchors (`--tls-ca`, default the system's) and, for `call`, the URI's host as the name the server's
/// certificate must carry (RFC 5922 §7.2).
fn tls_config(p: &Prepared, role: Role) -> Result<TlsConfig, Failure> {
    let s = &p.settings;
    let (chain, key) = match &s.tls_cert {
        Some(cert) => {
            let chain = read(cert, "--tls-cert")?;
            let key = match &s.tls_key {
                Some(k) => read(k, "--tls-key")?,
                None => chain.clone(),
            };
            (chain, key)
        }
        None => {
            let pem = p.certificate.to_pem().map_err(local)?;
            (pem.clone(), pem)
        }
    };
    let trust = s
        .tls_ca
        .iter()
        .map(|f| read(f, "--tls-ca"))
        .collect::<Result<Vec<_>, _>>()?;
    let name = match role {
        Role::Caller => s.uri.as_deref().and_then(uri_host),
        Role::Callee => None,
    };
    TlsConfig::from_pem(&chain, &key, &trust, name).map_err(local)
}

/// Everything of the endpoint's configuration that can fail, prepared before the driver binds.
struct EpParts {
    identity: Option<IdentityConfig>,
    key_log: Option<Arc<FileKeyLog>>,
}

fn endpoint_config(p: &Prepared, parts: EpParts, sip: SocketAddr, seed: [u8; 32]) -> EpConfig {
    let user = if p.settings.uri.is_some() {
        "dtlsrtp-caller"
    } else {
        "dtlsrtp"
    };
    let mut cfg = EpConfig::new(
        user,
        &sip.ip().to_string(),
        sip,
        p.certificate.clone(),
        seed,
    );
    let pcmu = dtlsrtp::Codec::new(0, "PCMU", 8000, None);
    let pcma = dtlsrtp::Codec::new(8, "PCMA", 8000, None);
    cfg.codecs = match p.law {
        Law::Pcmu => vec![pcmu, pcma],
        Law::Pcma => vec![pcma, pcmu],
    };
    // B-3 / A.23 R-ALLOW-RTP: best effort offers RFC 5939 capability negotiation and accepts a plain-RTP
    // answer or offer (the call then says it is NOT encrypted); secure-only refuses both.
    cfg.srtp_policy = match p.settings.srtp_policy {
        SrtpPolicy::BestEffort => dtlsrtp::SrtpPolicy::BestEffort,
        SrtpPolicy::SecureOnly => dtlsrtp::SrtpPolicy::SecureOnly,
    };
    cfg.srtp_profiles.clone_from(&p.settings.profiles);
    if p.settings.setup == Setup::Passive {
        cfg.answer_setup = dtlsrtp::AnswerSetup::Passive;
    }
    cfg.key_log = parts.key_log.map(|k| k as Arc<dyn dtlsrtp::KeyLog>);
    cfg.identity = parts.identity;
    if p.settings.ice {
        cfg.ice = Some(if p.settings.ice_lite {
            dtlsrtp::IceMode::Lite
        } else {
            dtlsrtp::IceMode::Full
        });
    }
    if let Some(reg) = &p.settings.register {
        cfg.credentials = Some(reg.credentials());
    }
    cfg
}

/// What the user typed (one command a line on stdin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Hold,
    Resume,
    Hangup,
}

/// Reads `hold`, `resume`, `hangup` (or `h`, `r`, `q`) lines from stdin on a thread of its own (a blocked
/// read never delays the call or the exit).
fn keys() -> tokio::sync::mpsc::Receiver<Key> {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            let key = match line.trim() {
                "hold" | "h" => Key::Hold,
                "resume" | "r" => Key::Resume,
                "hangup" | "bye" | "q" | "quit" => Key::Hangup,
                "" => continue,
                other => {
                    eprintln!("dtlsrtp: unknown command {other:?} (hold, resume, hangup)");
                    continue;
                }
            };
            if tx.blocking_send(key).is_err() {
                return;
            }
        }
    });
    rx
}

fn run(prepared: Prepared, role: Role) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(local)?;
    let r = rt.block_on(run_async(prepared, role));
    rt.shutdown_timeout(Duration::from_millis(200));
    r
}

/// The REGISTER of `--register`: the registrar is the AoR's domain (RFC 3261 §10.2.6).
fn register_config(p: &Prepared) -> Result<Option<dtlsrtp::RegisterConfig>, Failure> {
    let Some(reg) = &p.settings.register else {
        return Ok(None);
    };
    let aor = dtlsrtp::SipUri::parse(&reg.aor)
        .map_err(|e| Failure::new(Exit::Usage, format!("--register: {e}")))?;
    // sip:alice@host:port → sip:host:port (sips: stays sips:, so REGISTER goes over TLS).
    let (scheme, host) = reg.aor.split_once(':').unwrap_or(("sip", ""));
    let host = host.rsplit_once('@').map_or(host, |x| x.1);
    let host = host.split(';').next().unwrap_or(host);
    let registrar = dtlsrtp::SipUri::parse(&format!("{scheme}:{host}"))
        .map_err(|e| Failure::new(Exit::Usage, format!("--register: {e}")))?;
    Ok(Some(dtlsrtp::RegisterConfig {
        registrar,
        aor,
        expires: 60,
        credentials: Some(reg.credentials()),
    }))
}

async fn run_async(p: Prepared, role: Role) -> Result<(), Failure> {
    let start = Instant::now();
    let sip_bind = match role {
        Role::Callee => p.settings.listen,
        Role::Caller => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
    };
    let transport = transport(&p.settings);
    let mut opts = DriverOptions::new(sip_bind);
    // The CLI's documented bounds (README, R-2): 64 SIP connections, 16 per address, a peer that takes
    // nothing for 2 s is dropped, connects within 3 s.
    opts.streams.max_connections = 64;
    opts.streams.max_connections_per_ip = 16;
    opts.streams.write_timeout = Duration::from_secs(2);
    opts.streams.connect_timeout = Duration::from_secs(3);
    match transport {
        Transport::Udp => {}
        Transport::Tcp => opts.sip_tcp = Some(sip_bind),
        Transport::Tls => opts.sip_tls = Some((sip_bind, tls_config(&p, role)?)),
    }
    let parts = EpParts {
        identity: crate::sipid::config(&p.settings.identity)?,
        key_log: p
            .settings
            .keylog
            .as_deref()
            .map(FileKeyLog::open)
            .transpose()?
            .map(Arc::new),
    };
    let p = Arc::new(p);
    let pc = p.clone();
    let mut h = EndpointHandle::start(opts, move |sip, seed| {
        endpoint_config(&pc, parts, sip, seed)
    })
    .await
    .map_err(|e| Failure::new(Exit::Local, format!("SIP on {sip_bind}: {e}")))?;
    let sip_addr = h.sip_udp();
    let fp = p
        .certificate
        .fingerprint(dtlsrtp_types::HashFunction::Sha256)
        .map_err(local)?;
    let transports = match transport {
        Transport::Udp => "udp",
        Transport::Tcp => "udp+tcp",
        Transport::Tls => "udp+tls",
    };
    output::event(
        "start",
        json!({"role": format!("{role:?}").to_lowercase(), "sip": sip_addr.to_string(), "transport": transports, "fingerprint": fp.to_string()}),
        &format!(
            "dtlsrtp {}: SIP on {transports} {sip_addr}, a=fingerprint:{fp}",
            if role == Role::Caller {
                "call"
            } else {
                "answer"
            },
        ),
    );
    let r = Session::new(&p, role, start)?.drive(&mut h).await;
    let _ = h.shutdown().await;
    r
}

/// The loop of one command run: events, keys, pacing and bounds.
struct Session<'a> {
    p: &'a Prepared,
    role: Role,
    start: Instant,
    st: CallState,
    registered: bool,
    dialed: bool,
    calls_done: u32,
    hangup_at: Option<Instant>,
    outcome: Option<Result<(), Failure>>,
    status: StatusLine,
    last_status: Instant,
    /// --hold-after / --resume-after done.
    held: bool,
    resumed: bool,
}

impl<'a> Session<'a> {
    fn new(p: &'a Prepared, role: Role, start: Instant) -> Result<Self, Failure> {
        Ok(Self {
            p,
            role,
            start,
            st: CallState::new(p.law, p.settings.record.as_deref(), start)?
                .secure_only(p.settings.srtp_policy == SrtpPolicy::SecureOnly),
            registered: p.settings.register.is_none(),
            dialed: false,
            calls_done: 0,
            hangup_at: None,
            outcome: None,
            status: StatusLine::new(Duration::from_secs(1)),
            last_status: start,
            held: false,
            resumed: false,
        })
    }

    async fn drive(mut self, h: &mut EndpointHandle) -> Result<(), Failure> {
        if let Some(reg) = register_config(self.p)? {
            h.register(reg)
                .await
                .map_err(|e| Failure::new(Exit::Signalling, format!("REGISTER: {e}")))?;
        }
        let mut keys = keys();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut ctrl_c_done = false;
        let mut keys_open = true;
        while self.outcome.is_none() {
            tokio::select! {
                ev = h.next_event() => match ev {
                    Some(ev) => self.on_event(h, ev).await?,
                    None => self.outcome = Some(Err(Failure::new(Exit::Local, "the SIP driver stopped"))),
                },
                // Once stdin ends (EOF, /dev/null) the branch is off: a closed channel is always ready.
                k = keys.recv(), if keys_open => match k {
                    Some(k) => self.on_key(h, k).await,
                    None => keys_open = false,
                },
                r = &mut ctrl_c, if !ctrl_c_done => {
                    ctrl_c_done = true;
                    if r.is_ok() {
                        self.hang_up(h, "hung up (Ctrl-C)").await;
                    }
                }
                _ = tick.tick() => self.on_tick(h).await?,
            }
        }
        self.status.finish();
        let r = self
            .outcome
            .take()
            .unwrap_or_else(|| Err(Failure::new(Exit::Local, "loop ended")));
        self.st.summary(&r, Instant::now());
        r
    }

    async fn on_event(&mut self, h: &mut EndpointHandle, ev: Event) -> Result<(), Failure> {
        let now = Instant::now();
        match &ev {
            Event::Registered { .. } => self.registered = true,
            Event::RegistrationFailed { status: code, .. } => {
                self.outcome = Some(Err(Failure::new(
                    Exit::Signalling,
                    format!("REGISTER refused with {code}"),
                )));
            }
            Event::IncomingCall { call, .. } if self.role == Role::Callee => {
                if self.st.call.is_some() {
                    let _ = h.reject(*call, 486).await;
                } else {
                    self.st.call = Some(*call);
                    self.st.incoming_at = Some(now);
                    let r = if self.p.settings.early_media {
                        h.early_media(*call).await
                    } else {
                        match h.ring(*call).await {
                            Ok(()) => h.answer(*call).await,
                            Err(e) => Err(e),
                        }
                    };
                    if let Err(e) = r {
                        self.outcome = Some(Err(Failure::new(
                            Exit::Signalling,
                            format!("answering: {e}"),
                        )));
                    }
                }
            }
            _ => {}
        }
        let ours = match &ev {
            Event::Registered { .. } | Event::RegistrationFailed { .. } => true,
            Event::IncomingCall { call, .. }
            | Event::Ringing { call, .. }
            | Event::EarlyMedia { call, .. }
            | Event::Answered { call, .. }
            | Event::DtlsConnected { call, .. }
            | Event::FingerprintVerified { call, .. }
            | Event::FingerprintMismatch { call, .. }
            | Event::MediaSecurity { call, .. }
            | Event::Established { call, .. }
            | Event::Rtp { call, .. }
            | Event::Modified { call, .. }
            | Event::ModifyFailed { call, .. }
            | Event::Terminated { call, .. }
            | Event::Security { call, .. }
            | Event::PeerKeyChanged { call, .. }
            | Event::Ice { call, .. } => self.st.call == Some(*call),
            Event::Dtmf { call, .. } => self.st.call == Some(*call),
            _ => false,
        };
        if !ours {
            return Ok(());
        }
        self.st.on_event(now, &ev);
        if let Event::Terminated { .. } = ev {
            let r = call_result(&self.st);
            self.st.finish_recording()?;
            self.calls_done += 1;
            if self.role == Role::Callee && r.is_ok() && self.calls_done < self.p.settings.calls {
                // Ready for the next call with a fresh state.
                self.status.finish();
                self.st.summary(&r, now);
                let p = self.p;
                self.st = CallState::new(p.law, p.settings.record.as_deref(), Instant::now())?
                    .secure_only(p.settings.srtp_policy == SrtpPolicy::SecureOnly);
                self.hangup_at = None;
                (self.held, self.resumed) = (false, false);
            } else {
                self.outcome = Some(r);
            }
        }
        Ok(())
    }

    async fn hang_up(&mut self, h: &EndpointHandle, why: &str) {
        if self.hangup_at.is_some() {
            return;
        }
        self.hangup_at = Some(Instant::now());
        self.st.hangup_why = Some(why.to_owned());
        match self.st.call {
            Some(call) => {
                let _ = h.hangup(call).await;
            }
            // Nothing to hang up: end now.
            None => self.outcome = Some(call_result(&self.st)),
        }
    }

    async fn hold(&mut self, h: &EndpointHandle, on: bool) {
        let Some(call) = self.st.call.filter(|_| self.st.established_at.is_some()) else {
            self.st.say(
                Instant::now(),
                "hold_refused",
                "no call is up to hold or resume",
            );
            return;
        };
        match h.hold(call, on).await {
            Ok(()) => {
                self.st.on_hold = on;
                self.st.state = if on { "on hold" } else { "connected" };
                let text = if on {
                    "call on hold: we offered sendonly (RFC 3264 §8.4)"
                } else {
                    "call resumed: we offered sendrecv"
                };
                self.st
                    .say(Instant::now(), if on { "hold" } else { "resume" }, text);
            }
            Err(e) => self
                .st
                .say(Instant::now(), "hold_refused", &format!("hold: {e}")),
        }
    }

    async fn on_key(&mut self, h: &EndpointHandle, k: Key) {
        match k {
            Key::Hold => self.hold(h, true).await,
            Key::Resume => self.hold(h, false).await,
            Key::Hangup => self.hang_up(h, "hung up (hangup command)").await,
        }
    }

    async fn on_tick(&mut self, h: &EndpointHandle) -> Result<(), Failure> {
        let now = Instant::now();
        let s = &self.p.settings;
        // Caller: dial once registered.
        if self.role == Role::Caller && !self.dialed && self.registered {
            self.dialed = true;
            let mut uri = s.uri.clone().unwrap_or_default();
            if !uri.contains(";transport=") && uri.starts_with("sip:") {
                // The UA picks the transport from the URI (RFC 3261 §18.1.1 without DNS).
                match s.transport {
                    Transport::Udp => {}
                    Transport::Tcp => uri.push_str(";transport=tcp"),
                    Transport::Tls => uri.push_str(";transport=tls"),
                }
            }
            let opts = if s.identity.anonymous {
                CallOptions::anonymous()
            } else {
                CallOptions::default()
            };
            match h.dial(&uri, opts).await {
                Ok(c) => {
                    self.st.call = Some(c);
                    self.st.state = "calling";
                    output::event("calling", json!({"uri": uri}), &format!("calling {uri}"));
                }
                Err(dtlsrtp_tokio::DriverError::Endpoint(dtlsrtp::Error::Uri(e))) => {
                    return Err(Failure::new(Exit::Usage, format!("{uri}: {e}")));
                }
                Err(e) => return Err(Failure::new(Exit::Signalling, format!("INVITE: {e}"))),
            }
        }
        self.early_answer(h, now).await;
        self.bounds(h, now).await;
        self.scripted_hold(h, now).await;
        self.scripted_dtmf(h, now).await;
        if self
            .hangup_at
            .is_some_and(|t| now.duration_since(t) >= HANGUP_GRACE)
        {
            // The peer never confirmed the BYE/CANCEL: end anyway.
            self.outcome = Some(call_result(&self.st));
            self.st.finish_recording()?;
            return Ok(());
        }
        if let (Some(call), None) = (self.st.call, self.hangup_at) {
            for pkt in self.st.due_packets(now, &self.p.audio) {
                match h
                    .send_rtp(
                        call,
                        pkt.payload_type,
                        pkt.marker,
                        pkt.timestamp,
                        pkt.payload,
                    )
                    .await
                {
                    Ok(()) => self.st.sent += 1,
                    Err(e) => {
                        tracing::debug!("send_rtp: {e}");
                        break;
                    }
                }
            }
        }
        self.st.play_due(now)?;
        if now.duration_since(self.last_status) >= Duration::from_millis(100)
            && self.st.media_from.is_some()
        {
            self.last_status = now;
            self.status.update(&self.st.status(now));
        }
        Ok(())
    }

    /// Callee with early media: answer after a while.
    async fn early_answer(&mut self, h: &EndpointHandle, now: Instant) {
        if self.role != Role::Callee || !self.p.settings.early_media {
            return;
        }
        if let (Some(call), Some(t), None) =
            (self.st.call, self.st.incoming_at, self.st.answered_at)
        {
            if now.duration_since(t) >= EARLY_MEDIA_FOR && self.st.media_from.is_some() {
                if let Err(e) = h.answer(call).await {
                    tracing::debug!("answer after early media: {e}");
                }
                self.st.answered_at = Some(now);
            }
        }
    }

    /// No answer in time (caller), answered but no verified DTLS, call length reached.
    async fn bounds(&mut self, h: &EndpointHandle, now: Instant) {
        if self.st.call.is_none() || self.hangup_at.is_some() {
            return;
        }
        let s = &self.p.settings;
        let dialed_long_ago = self.role == Role::Caller
            && self.st.answered_at.is_none()
            && now.duration_since(self.start) >= s.timeout;
        let dtls_stuck = self
            .st
            .answered_at
            .is_some_and(|t| now.duration_since(t) >= DTLS_TIMEOUT)
            && self.st.established_at.is_none();
        let long_enough = match (self.st.established_at, s.duration) {
            (Some(t), Some(d)) => now.duration_since(t) >= d,
            _ => false,
        };
        // A mismatch on the answered dialog is ended by the endpoint itself (F-5.15, BYE); one on another
        // early dialog is not fatal (T-8a), so the event alone does not hang up.
        if dialed_long_ago {
            output::event("timeout", json!({}), "no answer in time: giving up");
            self.hang_up(h, "no answer").await;
        } else if dtls_stuck {
            self.hang_up(h, "hung up: DTLS-SRTP did not come up in time")
                .await;
        } else if long_enough {
            let d = s.duration.unwrap_or_default().as_secs_f64();
            self.hang_up(h, &format!("hung up after {d} s (--duration)"))
                .await;
        }
    }

    /// `--hold-after S` / `--resume-after S`, counted from the call being up.
    async fn scripted_hold(&mut self, h: &EndpointHandle, now: Instant) {
        let Some(up) = self.st.established_at else {
            return;
        };
        let s = &self.p.settings;
        if !self.held && s.hold_after.is_some_and(|d| now.duration_since(up) >= d) {
            self.held = true;
            self.hold(h, true).await;
        }
        if self.held && !self.resumed && s.resume_after.is_some_and(|d| now.duration_since(up) >= d)
        {
            self.resumed = true;
            self.hold(h, false).await;
        }
    }
}
