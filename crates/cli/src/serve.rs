//! `dtlsrtp serve`: a WHIP/WHEP endpoint (RFC 9725) on the `dtlsrtp-whip` crate, with no SIP in the path
//! (A-R-OTHER-SIGNALING). WHIP sessions are recorded as one WAV per session (G.711 decoded with the CLI's
//! audio module); WHEP sessions get a tone or a WAV file, looped.
//!
//! The CLI depends on `dtlsrtp-whip` (not the other way round): the crate stays codec-free (it hands RTP
//! payloads to a sink and takes frames from a source), and the G.711/WAV code stays in one place, here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use dtlsrtp_whip::{Server, ServerConfig, Sink, Source};

use crate::wav::{self, WavRecorder};
use crate::{Exit, Failure};
use dtlsrtp_audio::g711::Law;
use dtlsrtp_audio::tone::ToneGenerator;
use dtlsrtp_audio::FRAME;

/// `dtlsrtp serve` options.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// HTTP address to listen on (`POST /whip`, `POST /whep`, `DELETE` on the returned Location). Port 0
    /// picks a free port; the first line on stdout says which.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Write each WHIP session's received audio to DIR/<session id>.wav (8 kHz mono 16-bit).
    #[arg(long, value_name = "DIR")]
    record_dir: Option<PathBuf>,
    /// WHEP: play this WAV file (looped) to every viewer.
    #[arg(long, value_name = "FILE.wav", conflicts_with = "tone")]
    play: Option<PathBuf>,
    /// WHEP: play a tone of this frequency (default 440 Hz when neither --play nor --tone is given).
    #[arg(long, value_name = "HZ")]
    tone: Option<f64>,
    /// Require `Authorization: Bearer T` on POST and DELETE (wrong or missing → 401).
    #[arg(long, value_name = "T")]
    token: Option<String>,
    /// Concurrent sessions at most (WHIP and WHEP together); more → 503.
    #[arg(long, default_value_t = 64)]
    max_sessions: usize,
    /// Largest SDP offer accepted, octets; larger → 413.
    #[arg(long, default_value_t = 64 * 1024)]
    max_body: usize,
    /// Let web pages of this origin (`https://app.example[:port]`) call the endpoint cross-origin (CORS).
    /// Repeatable; `*` allows every web page (warned about). Default: same-origin only (the page at `/`).
    #[arg(long = "allow-origin", value_name = "ORIGIN", value_parser = parse_origin)]
    allow_origin: Vec<String>,
    /// Answer Private Network Access preflights of the allowed origins (a public page calling this local
    /// server). Needs --allow-origin.
    #[arg(long, requires = "allow_origin")]
    allow_private_network: bool,
    /// Also answer requests whose `Host` is NAME (any port), e.g. when reached through a DNS name. Repeatable;
    /// `*` answers to any Host (warned about without --token). Default: IP literals and `localhost` only, so a
    /// DNS-rebound page (attacker.example → 127.0.0.1) gets 403, with or without --token.
    #[arg(long = "allow-host", value_name = "NAME", value_parser = parse_host_name)]
    allow_host: Vec<String>,
}

/// `*` or a host name without port, scheme or path.
fn parse_host_name(s: &str) -> Result<String, String> {
    if s == "*" {
        return Ok(s.to_owned());
    }
    if s.is_empty() || s.contains([':', '/', '?', '#', '@', ' ', '[', ']']) {
        return Err(format!("{s}: a host name, without scheme or port"));
    }
    Ok(s.to_owned())
}

/// `*`, `null`, or `scheme://host[:port]` with no path.
fn parse_origin(s: &str) -> Result<String, String> {
    if s == "*" || s == "null" {
        return Ok(s.to_owned());
    }
    let s = s.trim_end_matches('/');
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or_else(|| format!("{s}: an origin is http(s)://host[:port]"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!("{s}: an origin is http(s)://host[:port], no path"));
    }
    Ok(s.to_owned())
}

/// The loud warnings about who can reach the server (issue 12 item 12), one line each, for stderr.
fn exposure_warnings(args: &ServeArgs) -> Vec<String> {
    let mut w = Vec::new();
    let ip = args.listen.ip();
    if !ip.is_loopback() && args.token.is_none() {
        w.push(format!(
            "dtlsrtp: WARNING: listening on {ip}, beyond loopback, without --token: anyone who can reach it can \
             publish into --record-dir and play --play/--tone audio"
        ));
    }
    if args.allow_origin.iter().any(|o| o == "*") {
        w.push(format!(
            "dtlsrtp: WARNING: --allow-origin '*': every web page the user opens can call this server{}",
            if args.token.is_none() {
                " (and there is no --token)"
            } else {
                ""
            }
        ));
    }
    if args.allow_host.iter().any(|h| h == "*") && args.token.is_none() {
        w.push(
            "dtlsrtp: WARNING: --allow-host '*' without --token: a web page whose name is re-pointed to this \
             address (DNS rebinding) can call this server"
                .to_owned(),
        );
    }
    w
}

/// Records one session: G.711 payloads decoded by their payload type and appended to the WAV file.
struct WavSink {
    recorder: Option<WavRecorder>,
    path: PathBuf,
}

impl Sink for WavSink {
    fn rtp(&mut self, payload_type: u8, _sequence: u16, payload: &[u8]) {
        let (Some(law), Some(rec)) = (Law::from_payload_type(payload_type), self.recorder.as_mut())
        else {
            return;
        };
        if let Err(e) = rec.append(&law.decode(payload)) {
            eprintln!("dtlsrtp: recording {}: {e}", self.path.display());
            self.recorder = None;
        }
    }

    fn finish(self: Box<Self>) {
        if let Some(rec) = self.recorder {
            match rec.finish() {
                Ok(()) => println!("recorded {}", self.path.display()),
                Err(e) => eprintln!("dtlsrtp: recording {}: {e}", self.path.display()),
            }
        }
    }
}

/// What WHEP viewers hear.
enum Audio {
    Tone(f64),
    Samples(Arc<Vec<i16>>),
}

struct AudioSource {
    tone: Option<ToneGenerator>,
    samples: Arc<Vec<i16>>,
    pos: usize,
}

impl Source for AudioSource {
    fn frame(&mut self, codec: &str) -> Vec<u8> {
        let law = if codec.eq_ignore_ascii_case("PCMA") {
            Law::Pcma
        } else {
            Law::Pcmu
        };
        let frame = match self.tone.as_mut() {
            Some(t) => t.samples(FRAME),
            None => {
                let mut f = Vec::with_capacity(FRAME);
                for _ in 0..FRAME {
                    let s = self.samples.get(self.pos).copied().unwrap_or(0);
                    self.pos = (self.pos + 1) % self.samples.len().max(1);
                    f.push(s);
                }
                f
            }
        };
        law.encode(&frame)
    }
}

fn sink_factory(dir: PathBuf) -> dtlsrtp_whip::SinkFactory {
    Arc::new(move |id: &str| {
        let path = dir.join(format!("{id}.wav"));
        match WavRecorder::create(&path) {
            Ok(r) => Some(Box::new(WavSink {
                recorder: Some(r),
                path,
            }) as Box<dyn Sink>),
            Err(e) => {
                eprintln!("dtlsrtp: recording {}: {e}", path.display());
                None
            }
        }
    })
}

fn source_factory(audio: Audio) -> dtlsrtp_whip::SourceFactory {
    Arc::new(move || {
        Box::new(match &audio {
            Audio::Tone(hz) => AudioSource {
                tone: Some(ToneGenerator::new(*hz, 0.5)),
                samples: Arc::new(Vec::new()),
                pos: 0,
            },
            Audio::Samples(s) => AudioSource {
                tone: None,
                samples: s.clone(),
                pos: 0,
            },
        }) as Box<dyn Source>
    })
}

fn check_dir(dir: &Path) -> Result<(), Failure> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(Failure::new(
            Exit::Usage,
            format!("--record-dir {}: not a directory", dir.display()),
        ))
    }
}

/// Runs the server until Ctrl-C (then ends every session, so the WAV files are complete).
pub(crate) fn run(args: &ServeArgs) -> Result<(), Failure> {
    for w in exposure_warnings(args) {
        eprintln!("{w}");
    }
    if args.listen.ip().is_unspecified() {
        return Err(Failure::new(
            Exit::Usage,
            "--listen needs a concrete address (media ports bind the same address and it goes into the SDP)",
        ));
    }
    if let Some(d) = &args.record_dir {
        check_dir(d)?;
    }
    let audio = match (&args.play, args.tone) {
        (Some(p), _) => {
            Audio::Samples(Arc::new(wav::read(p).map_err(|e| {
                Failure::new(Exit::Usage, format!("--play {}: {e}", p.display()))
            })?))
        }
        (None, Some(hz)) if hz > 0.0 && hz < 4000.0 => Audio::Tone(hz),
        (None, Some(hz)) => {
            return Err(Failure::new(
                Exit::Usage,
                format!("--tone {hz}: must be between 0 and 4000 Hz"),
            ))
        }
        (None, None) => Audio::Tone(440.0),
    };
    let mut cfg = ServerConfig::new(args.listen.ip());
    cfg.max_sessions = args.max_sessions;
    cfg.max_body = args.max_body;
    cfg.token = args.token.clone();
    cfg.allowed_origins = args.allow_origin.clone();
    cfg.allow_private_network = args.allow_private_network;
    cfg.allowed_hosts = args.allow_host.clone();
    cfg.sink = args.record_dir.clone().map(sink_factory);
    cfg.source = Some(source_factory(audio));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(Exit::Local, format!("runtime: {e}")))?;
    rt.block_on(async {
        let server = Server::new(cfg).map_err(|e| Failure::new(Exit::Local, e.to_string()))?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Failure::new(Exit::Local, format!("--listen {}: {e}", args.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::new(Exit::Local, e.to_string()))?;
        println!("listening http://{addr} (WHIP: POST /whip, WHEP: POST /whep)");
        println!("fingerprint {}", server.fingerprint());
        let result = tokio::select! {
            r = server.serve(listener) => r.map_err(|e| Failure::new(Exit::Local, format!("http: {e}"))),
            r = tokio::signal::ctrl_c() => r.map_err(|e| Failure::new(Exit::Local, format!("signal: {e}"))),
        };
        server.shutdown().await;
        result
    })
}
