//! `dtlsrtp media`: DTLS-SRTP media with any SDP-speaking peer through SDP files, no SIP (A-R-OTHER-SIGNALING).
//!
//! - `--answer OFFER_FILE --write ANSWER_FILE`: waits for the offer file, answers it (`--setup` decides our
//!   role for an `actpass` offer), writes the answer (atomically: a temporary name, then rename).
//! - `--offer OFFER_FILE --read ANSWER_FILE`: writes our offer (`a=setup:actpass`, as RFC 5763 §5 requires of
//!   an offerer), then waits for the answer file.
//!
//! Then one media port (the tokio driver's, on `--local`) runs the handshake, checks the peer's fingerprint and
//! exchanges G.711 for `--duration` seconds (a tone or a WAV file out, `--record` in). `--ice` adds ICE
//! (offerer: full, controlling; answerer: lite, controlled). It shares the SDP glue with `dtlsrtp serve`
//! (`dtlsrtp::session`). Lines on stdout: `local ADDR`, `verified REMOTE PROFILE`, `sent N received M`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use dtlsrtp::session::{self, AnswerFailure, ApplyError, Session};
use dtlsrtp::session::{AnswerSetup, HandshakeRole, Renew, Sdp};
use dtlsrtp::{Certificate, KeyType};
use dtlsrtp_tokio::media::ice::{IceConfig, IceMode, IceRole};
use dtlsrtp_tokio::media::{dtls_role, CookieSecret, DtlsConfig, MediaEvent, MediaPortConfig};
use dtlsrtp_tokio::MediaHandle;
use dtlsrtp_types::DtlsRole;
use dtlsrtp_types::HashFunction;
use dtlsrtp_whip::FORK;

use crate::keylog::FileKeyLog;
use crate::options::Setup;
use crate::wav::{self, WavRecorder};
use crate::{os_random, Exit, Failure};
use dtlsrtp_audio::g711::Law;
use dtlsrtp_audio::tone::ToneGenerator;
use dtlsrtp_audio::FRAME;

/// `dtlsrtp media` options.
#[derive(Args, Debug)]
pub(crate) struct MediaArgs {
    /// Answer the offer in this file (waits for it to appear).
    #[arg(
        long,
        value_name = "OFFER_FILE",
        conflicts_with = "offer",
        requires = "write"
    )]
    answer: Option<PathBuf>,
    /// With --answer: write our answer here.
    #[arg(long, value_name = "ANSWER_FILE")]
    write: Option<PathBuf>,
    /// Write our offer to this file.
    #[arg(long, value_name = "OFFER_FILE", requires = "read")]
    offer: Option<PathBuf>,
    /// With --offer: read the answer from this file (waits for it to appear).
    #[arg(long, value_name = "ANSWER_FILE")]
    read: Option<PathBuf>,
    /// Our a=setup answering an actpass offer (offers are always actpass).
    #[arg(long, value_enum, default_value = "active")]
    setup: Setup,
    /// ICE: offerer full and controlling, answerer lite and controlled.
    #[arg(long, overrides_with = "no_ice")]
    ice: bool,
    /// No ICE (the default): media goes to the c=/m= address.
    #[arg(long)]
    no_ice: bool,
    /// Our media address (a stable port for peers configured by hand; port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:0")]
    local: SocketAddr,
    /// Send a WAV file (8 kHz mono after conversion).
    #[arg(long, value_name = "FILE.wav", conflicts_with = "tone")]
    play: Option<PathBuf>,
    /// Send a tone of this frequency (default 440 Hz).
    #[arg(long, value_name = "HZ")]
    tone: Option<f64>,
    /// Record what we receive to this WAV file.
    #[arg(long, value_name = "FILE.wav")]
    record: Option<PathBuf>,
    /// Seconds of media after the fingerprint check (0: end right after it, with close_notify).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds to wait for the other side's file and for the handshake.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Append the SRTP master keys and salts to this file (secrets: for debugging and interop checks).
    #[arg(long, value_name = "FILE")]
    keylog: Option<PathBuf>,
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure::new(Exit::Usage, msg)
}

fn local_err(msg: impl Into<String>) -> Failure {
    Failure::new(Exit::Local, msg)
}

/// Waits (bounded) for `path` to exist and hold a complete SDP.
async fn wait_file(path: &Path, timeout: Duration) -> Result<Sdp, Failure> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Ok(bytes) = std::fs::read(path) {
            if !bytes.is_empty() {
                return Sdp::parse(&bytes).map_err(|e| {
                    Failure::new(Exit::Signalling, format!("{}: {e}", path.display()))
                });
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure::new(
                Exit::Signalling,
                format!("{} did not appear in {timeout:?}", path.display()),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes `text` to `path` atomically (a temporary name in the same directory, then rename).
fn write_atomic(path: &Path, text: &str) -> Result<(), Failure> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| local_err(format!("{}: {e}", path.display())))
}

/// Runs the command.
pub(crate) fn run(args: &MediaArgs) -> Result<(), Failure> {
    if args.answer.is_none() && args.offer.is_none() {
        return Err(usage(
            "give --answer OFFER_FILE --write ANSWER_FILE or --offer OFFER_FILE --read ANSWER_FILE",
        ));
    }
    if !(args.duration >= 0.0 && args.duration <= 3600.0) {
        return Err(usage("--duration must be 0..=3600 seconds"));
    }
    let samples = match &args.play {
        Some(p) => Some(wav::read(p).map_err(|e| usage(format!("--play {}: {e}", p.display())))?),
        None => None,
    };
    let keylog = args.keylog.as_deref().map(FileKeyLog::open).transpose()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| local_err(format!("runtime: {e}")))?;
    rt.block_on(session(args, samples, keylog))
}

async fn session(
    args: &MediaArgs,
    samples: Option<Vec<i16>>,
    keylog: Option<FileKeyLog>,
) -> Result<(), Failure> {
    let timeout = Duration::from_secs(args.timeout);
    let cert = Certificate::generate(KeyType::EcdsaP256, "dtlsrtp-media", 30)
        .map_err(|e| local_err(format!("certificate: {e}")))?;
    let fingerprint = cert
        .fingerprint(HashFunction::Sha256)
        .map_err(|e| local_err(format!("certificate: {e}")))?;
    let mut cookie = [0u8; 32];
    os_random(&mut cookie);
    let mut handle = MediaHandle::bind(args.local, move |local, seed| {
        MediaPortConfig::new(
            local,
            DtlsConfig::new(cert, CookieSecret::new(cookie)),
            seed,
        )
    })
    .await
    .map_err(|e| local_err(format!("--local {}: {e}", args.local)))?;
    println!("local {}", handle.local_addr());
    let offering = args.offer.is_some();
    let ice = if args.ice {
        let (mode, role) = if offering {
            (IceMode::Full, IceRole::Controlling)
        } else {
            (IceMode::Lite, IceRole::Controlled)
        };
        let cfg = IceConfig {
            mode,
            ..IceConfig::default()
        };
        Some(
            handle
                .enable_ice(cfg, None, role)
                .await
                .map_err(|e| local_err(format!("ICE: {e}")))?,
        )
    } else {
        None
    };
    let answer_setup = match args.setup {
        Setup::Active => AnswerSetup::Active,
        Setup::Passive => AnswerSetup::Passive,
    };
    let ncfg = session::ice_negotiator_config(
        handle.local_addr().ip(),
        fingerprint,
        answer_setup,
        ice.as_ref().map(|(c, k)| (c, k)),
        !offering,
    );
    let mut fill = |b: &mut [u8]| os_random(b);
    let mut neg = Session::new(ncfg, session::g711(), Some("0".into()), &mut fill)
        .map_err(|e| local_err(format!("negotiator: {e}")))?;
    let port = handle.local_addr().port();
    let d = match (&args.offer, &args.read, &args.answer, &args.write) {
        (Some(offer_file), Some(answer_file), _, _) => {
            let (offer, pending) = neg
                .offer(port, Renew::Keep, &mut fill)
                .map_err(|e| local_err(format!("offer: {e}")))?;
            // actpass: the answerer may become the DTLS client and send its ClientHello at once.
            handle
                .listen(true)
                .await
                .map_err(|e| local_err(e.to_string()))?;
            write_atomic(offer_file, &offer.to_string())?;
            let answer = wait_file(answer_file, timeout).await?;
            let out = neg.apply_answer(pending, &answer).map_err(|e| {
                let why = match e {
                    ApplyError::Rejected(r) => r.error.to_string(),
                    _ => "no usable m-line".into(),
                };
                Failure::new(Exit::Signalling, format!("answer refused: {why}"))
            })?;
            out.dtls()
                .cloned()
                .ok_or_else(|| Failure::new(Exit::Signalling, "answer: no DTLS-SRTP audio"))?
        }
        (_, _, Some(offer_file), Some(answer_file)) => {
            let offer = wait_file(offer_file, timeout).await?;
            let (answer, out) = neg.answer(&offer, port, &mut fill).map_err(|e| {
                let why = match e {
                    AnswerFailure::Refused(e) => e.to_string(),
                    _ => "no usable m-line".into(),
                };
                Failure::new(Exit::Signalling, format!("offer refused: {why}"))
            })?;
            write_atomic(answer_file, &answer.to_string())?;
            out.dtls()
                .cloned()
                .ok_or_else(|| Failure::new(Exit::Signalling, "offer: no DTLS-SRTP audio"))?
        }
        _ => return Err(usage("--answer needs --write, --offer needs --read")),
    };
    let law = d
        .codecs
        .first()
        .and_then(|c| Law::from_payload_type(c.pt))
        .unwrap_or(Law::Pcmu);
    let mut params = session::peer_params(&d, args.ice)
        .ok_or_else(|| Failure::new(Exit::Signalling, "bad ICE credentials"))?;
    if !args.ice && d.local_role == HandshakeRole::Server {
        // The DTLS server learns the client's address from its ClientHello (the SDP's may be a placeholder).
        params.addr = None;
    }
    let role: DtlsRole = dtls_role(d.local_role);
    handle
        .set_peer(FORK, params)
        .await
        .map_err(|e| local_err(e.to_string()))?;
    media(&mut handle, args, law, samples, keylog, role, timeout).await?;
    let _ = handle.close_fork(FORK).await;
    tokio::time::sleep(Duration::from_millis(100)).await; // let close_notify leave
    let _ = handle.shutdown().await;
    Ok(())
}

async fn media(
    handle: &mut MediaHandle,
    args: &MediaArgs,
    law: Law,
    samples: Option<Vec<i16>>,
    keylog: Option<FileKeyLog>,
    role: DtlsRole,
    timeout: Duration,
) -> Result<(), Failure> {
    let mut recorder = match &args.record {
        Some(p) => {
            Some(WavRecorder::create(p).map_err(|e| local_err(format!("{}: {e}", p.display())))?)
        }
        None => None,
    };
    let mut tone = ToneGenerator::new(args.tone.unwrap_or(440.0), 0.5);
    let mut pos = 0usize;
    let connect_deadline = tokio::time::Instant::now() + timeout;
    let mut end: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let (mut sent, mut received) = (0u32, 0u64);
    loop {
        let deadline = end.unwrap_or(connect_deadline);
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {
                if end.is_none() {
                    return Err(Failure::new(Exit::Dtls, "no verified DTLS-SRTP in time"));
                }
                break;
            }
            _ = tick.tick(), if end.is_some() => {
                let frame = match &samples {
                    Some(s) if !s.is_empty() => (0..FRAME).map(|_| {
                        let v = s.get(pos).copied().unwrap_or(0);
                        pos = (pos + 1) % s.len();
                        v
                    }).collect(),
                    _ => tone.samples(FRAME),
                };
                let ts = sent.wrapping_mul(FRAME as u32);
                handle.send_rtp(FORK, law.payload_type(), sent == 0, ts, law.encode(&frame))
                    .await
                    .map_err(|e| local_err(e.to_string()))?;
                sent = sent.wrapping_add(1);
            }
            ev = handle.next_event() => {
                let Some(ev) = ev else { break };
                match ev {
                    MediaEvent::FingerprintVerified { assoc, remote, .. } => {
                        let keys = handle.keying_material(assoc).await.ok().flatten();
                        let profile = keys.as_ref().map(|k| k.profile().to_string()).unwrap_or_default();
                        println!("verified {remote} {profile}");
                        if let (Some(k), Some(log)) = (keys.as_ref(), keylog.as_ref()) {
                            log.log_srtp("media", k, role);
                        }
                        end = Some(tokio::time::Instant::now() + Duration::from_secs_f64(args.duration));
                    }
                    MediaEvent::FingerprintMismatch { remote, .. } => {
                        return Err(Failure::new(Exit::Dtls, format!("fingerprint mismatch from {remote}")));
                    }
                    MediaEvent::Rtp(p) => {
                        received += 1;
                        if let (Some(r), Some(l)) = (recorder.as_mut(), Law::from_payload_type(p.payload_type)) {
                            if let Err(e) = r.append(&l.decode(&p.payload)) {
                                eprintln!("dtlsrtp: recording: {e}");
                                recorder = None;
                            }
                        }
                    }
                    MediaEvent::IceFailed | MediaEvent::IceConsentExpired { .. } if end.is_none() => {
                        return Err(Failure::new(Exit::Dtls, "ICE failed"));
                    }
                    _ => {}
                }
            }
        }
    }
    if let Some(r) = recorder {
        r.finish()
            .map_err(|e| local_err(format!("recording: {e}")))?;
    }
    println!("sent {sent} received {received}");
    Ok(())
}
