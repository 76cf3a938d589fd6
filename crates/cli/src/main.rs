//! `dtlsrtp`: the command-line face of the project.
//!
//! - `dtlsrtp demo`: two endpoints on 127.0.0.1 negotiate DTLS-SRTP by SDP offer/answer, run the handshake on
//!   the media path, bind each certificate to its `a=fingerprint`, and exchange SRTP both ways.
//! - `dtlsrtp call URI` / `dtlsrtp answer --listen ADDR`: SIP calls with G.711 audio from a WAV file or a tone,
//!   recorded to a WAV file, with a live status line (see `call.rs`).
//! - `dtlsrtp fingerprint`: print a certificate's fingerprints as `a=fingerprint` lines.
//! - `dtlsrtp sdp offer`: print an example DTLS-SRTP offer.
//!
//! Exit codes (documented in README.md): 0 success, 1 local error, 2 bad usage, 3 signalling failure,
//! 4 DTLS failure, 5 fingerprint mismatch, 6 no media.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use dtlsrtp::session::{Negotiator, Renew, SdpConfig};
use dtlsrtp::{Certificate, KeyType};
use dtlsrtp_types::HashFunction;

mod call;
mod demo;
mod demonosip;
mod demowire;
mod identity;
mod keylog;
mod ladder;
mod media_cmd;
mod options;
mod output;
mod serve;
mod sipdemo;
mod sipid;
mod wav;

/// DTLS-SRTP (RFC 5763) calls, demo and tools.
#[derive(Parser, Debug)]
#[command(name = "dtlsrtp", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Alice calls Bob over SIP on 127.0.0.1: DTLS handshake on the media path, fingerprint check, SRTP both
    /// ways, printed as a ladder diagram.
    Demo(demo::DemoArgs),
    /// Call a SIP URI: DTLS-SRTP keyed by fingerprints, G.711 audio from a WAV file or a tone.
    Call(options::CallArgs),
    /// Wait for a SIP call and answer it: DTLS-SRTP keyed by fingerprints, G.711 audio.
    Answer(options::AnswerArgs),
    /// WHIP/WHEP endpoint: browsers publish their microphone (POST /whip) or play our audio (POST /whep).
    Serve(serve::ServeArgs),
    /// DTLS-SRTP media with any SDP peer through SDP files (no SIP): --answer OFFER --write ANSWER, or
    /// --offer OFFER --read ANSWER.
    Media(media_cmd::MediaArgs),
    /// Print a certificate's fingerprints as a=fingerprint lines.
    Fingerprint {
        /// PEM file holding the certificate (and its key, unless --key); default: the persistent identity.
        #[arg(long)]
        cert: Option<PathBuf>,
        /// The certificate's private key (PEM), when not in --cert.
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// Where the persistent identity lives (default $XDG_CONFIG_HOME/dtlsrtp or ~/.config/dtlsrtp).
        #[arg(long, value_name = "DIR")]
        config_dir: Option<PathBuf>,
        /// Print the fingerprints of a fresh throwaway certificate instead of the persistent identity.
        #[arg(long, conflicts_with_all = ["cert", "config_dir"])]
        fresh: bool,
        /// Key type of a --fresh certificate.
        #[arg(long, value_enum, default_value_t = KeyArg::Ecdsa, requires = "fresh")]
        key_type: KeyArg,
    },
    /// WAV tools for checking recorded calls.
    Wav {
        #[command(subcommand)]
        command: WavCommand,
    },
    /// SDP tools.
    Sdp {
        #[command(subcommand)]
        command: SdpCommand,
    },
}

#[derive(Subcommand, Debug)]
enum WavCommand {
    /// How well a recording matches what was sent: normalised correlation after G.711 coding, at the best
    /// delay. Exit 0 when it reaches --min, 6 (no media) otherwise.
    Compare {
        /// The WAV file that was sent.
        sent: PathBuf,
        /// The WAV file that was recorded.
        received: PathBuf,
        /// The G.711 law to code the sent audio with before comparing.
        #[arg(long, value_enum, default_value_t = options::CodecArg::Pcmu)]
        codec: options::CodecArg,
        /// Largest delay searched, in milliseconds (either direction).
        #[arg(long, default_value_t = 1000)]
        max_lag_ms: u32,
        /// Smallest correlation accepted.
        #[arg(long, default_value_t = 0.9)]
        min: f64,
    },
    /// Whether a tone is present (Goertzel): the share of 100 ms blocks carrying it. Exit 0 when the share
    /// reaches --min-share, 6 (no media) otherwise.
    Tone {
        /// The WAV file.
        file: PathBuf,
        /// The tone's frequency.
        hz: f64,
        /// Smallest share of blocks that must carry the tone.
        #[arg(long, default_value_t = 0.5)]
        min_share: f64,
    },
}

#[derive(Subcommand, Debug)]
enum SdpCommand {
    /// Print an example DTLS-SRTP offer (actpass, fingerprint, tls-id, rtcp-mux) with a fresh certificate.
    Offer {
        /// Media port to put in the m= line.
        #[arg(long, default_value_t = 40000)]
        port: u16,
        /// Best effort (RFC 5939): RTP/AVP actual configuration with a=tcap/a=pcfg for DTLS-SRTP.
        #[arg(long)]
        best_effort: bool,
    },
}

/// Certificate key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeyArg {
    /// ECDSA P-256.
    Ecdsa,
    /// RSA 2048.
    Rsa,
}

impl From<KeyArg> for KeyType {
    fn from(k: KeyArg) -> Self {
        match k {
            KeyArg::Ecdsa => KeyType::EcdsaP256,
            KeyArg::Rsa => KeyType::Rsa2048,
        }
    }
}

/// The documented exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    Ok = 0,
    Local = 1,
    Usage = 2,
    Signalling = 3,
    Dtls = 4,
    FingerprintMismatch = 5,
    NoMedia = 6,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// An error that ends the command with one of the documented exit codes.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) exit: Exit,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }
}

/// Fills a buffer from the OS CSPRNG (the CLI is where entropy enters; the libraries take it injected).
pub(crate) fn os_random(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        // Without entropy nothing secure can be done; refuse to continue rather than use weak randomness.
        eprintln!("dtlsrtp: no OS randomness: {e}");
        std::process::exit(Exit::Local as i32);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Call(args) => call::call(&args),
        Command::Answer(args) => call::answer(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Media(args) => media_cmd::run(&args),
        Command::Fingerprint {
            cert,
            key,
            config_dir,
            fresh,
            key_type,
        } => fingerprint(cert, key, config_dir, fresh, key_type),
        Command::Sdp {
            command: SdpCommand::Offer { port, best_effort },
        } => sdp_offer(port, best_effort),
        Command::Wav { command } => wav_tool(command),
    };
    match result {
        Ok(()) => Exit::Ok.into(),
        Err(f) => {
            eprintln!("dtlsrtp: {}", f.message);
            f.exit.into()
        }
    }
}

fn fingerprint(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    config_dir: Option<PathBuf>,
    fresh: bool,
    key_type: KeyArg,
) -> Result<(), Failure> {
    let cert = if fresh {
        eprintln!("(--fresh: a throwaway self-signed certificate was generated)");
        Certificate::generate(key_type.into(), "dtlsrtp", 30)
            .map_err(|e| Failure::new(Exit::Local, format!("certificate: {e}")))?
    } else {
        let (cert, origin) =
            identity::load_or_create(cert.as_deref(), key.as_deref(), config_dir.as_deref())?;
        match origin {
            identity::Origin::Created(p) => eprintln!("(new identity saved to {})", p.display()),
            identity::Origin::Loaded(p) => eprintln!("(identity {})", p.display()),
            identity::Origin::Given(_) => {}
        }
        cert
    };
    for hash in [
        HashFunction::Sha256,
        HashFunction::Sha384,
        HashFunction::Sha512,
        HashFunction::Sha1,
    ] {
        let fp = cert
            .fingerprint(hash)
            .map_err(|e| Failure::new(Exit::Local, format!("fingerprint: {e}")))?;
        println!("a=fingerprint:{fp}");
    }
    Ok(())
}

fn sdp_offer(port: u16, best_effort: bool) -> Result<(), Failure> {
    let cert = Certificate::generate(KeyType::EcdsaP256, "dtlsrtp", 30)
        .map_err(|e| Failure::new(Exit::Local, format!("certificate: {e}")))?;
    let fp = cert
        .fingerprint(HashFunction::Sha256)
        .map_err(|e| Failure::new(Exit::Local, format!("fingerprint: {e}")))?;
    let mut config = SdpConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), vec![fp]);
    config.best_effort = best_effort;
    let mut fill = os_random;
    let mut neg = Negotiator::new(config, &mut fill)
        .map_err(|e| Failure::new(Exit::Local, format!("sdp config: {e}")))?;
    let (offer, _pending) = neg
        .create_offer(&[demo::audio_media(port)], Renew::Keep, &mut fill)
        .map_err(|e| Failure::new(Exit::Local, format!("offer: {e}")))?;
    print!("{}", offer.write());
    Ok(())
}

fn read_wav(path: &std::path::Path) -> Result<Vec<i16>, Failure> {
    wav::read(path).map_err(|e| Failure::new(Exit::Local, format!("{}: {e}", path.display())))
}

fn wav_tool(command: WavCommand) -> Result<(), Failure> {
    match command {
        WavCommand::Compare {
            sent,
            received,
            codec,
            max_lag_ms,
            min,
        } => {
            let law = match codec {
                options::CodecArg::Pcmu => dtlsrtp_audio::Law::Pcmu,
                options::CodecArg::Pcma => dtlsrtp_audio::Law::Pcma,
            };
            let sent = law.decode(&law.encode(&read_wav(&sent)?));
            let received = read_wav(&received)?;
            let max_lag = max_lag_ms as usize * 8;
            let min_overlap = sent.len().min(received.len()) / 2;
            let Some((lag, c)) = dtlsrtp_audio::correlate::best_alignment_signed(
                &sent,
                &received,
                max_lag,
                min_overlap.max(800),
            ) else {
                return Err(Failure::new(
                    Exit::NoMedia,
                    "recording too short to compare",
                ));
            };
            println!(
                "correlation {c:.4} at lag {lag} samples ({:.1} ms); {} samples sent, {} received",
                lag as f64 / 8.0,
                sent.len(),
                received.len()
            );
            if c >= min {
                Ok(())
            } else {
                Err(Failure::new(
                    Exit::NoMedia,
                    format!("correlation {c:.4} below {min}"),
                ))
            }
        }
        WavCommand::Tone {
            file,
            hz,
            min_share,
        } => {
            let samples = read_wav(&file)?;
            let share = dtlsrtp_audio::goertzel::tone_presence(&samples, hz, 0.5);
            println!(
                "{hz} Hz in {:.0}% of 100 ms blocks ({} samples)",
                share * 100.0,
                samples.len()
            );
            if share >= min_share {
                Ok(())
            } else {
                Err(Failure::new(
                    Exit::NoMedia,
                    format!("{hz} Hz tone not found"),
                ))
            }
        }
    }
}
