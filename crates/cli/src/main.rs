//! `dtlsrtp`: the command-line face of the project.
//!
//! - `dtlsrtp demo`: two endpoints on 127.0.0.1 negotiate DTLS-SRTP by SDP offer/answer, run the handshake on
//!   the media path, bind each certificate to its `a=fingerprint`, and exchange SRTP both ways.
//! - `dtlsrtp fingerprint`: print a certificate's fingerprints as `a=fingerprint` lines.
//! - `dtlsrtp sdp offer`: print an example DTLS-SRTP offer.
//!
//! Exit codes (documented in README.md): 0 success, 1 local error, 2 bad usage, 3 signalling failure,
//! 4 DTLS failure, 5 fingerprint mismatch, 6 no media.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use dtlsrtp_dtls::{Certificate, HashFunction, KeyType};
use dtlsrtp_sdp::negotiate::{Config as SdpConfig, Negotiator, Renew};

mod audio;
mod demo;
mod ladder;

/// DTLS-SRTP (RFC 5763) calls, demo and tools.
#[derive(Parser, Debug)]
#[command(name = "dtlsrtp", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Two endpoints on 127.0.0.1: SDP offer/answer, DTLS handshake, fingerprint check, SRTP both ways.
    Demo(demo::DemoArgs),
    /// Print a certificate's fingerprints as a=fingerprint lines.
    Fingerprint {
        /// PEM file holding the certificate (and its key); without it a fresh certificate is generated.
        #[arg(long)]
        cert: Option<PathBuf>,
        /// Key type of a generated certificate.
        #[arg(long, value_enum, default_value_t = KeyArg::Ecdsa)]
        key_type: KeyArg,
    },
    /// SDP tools.
    Sdp {
        #[command(subcommand)]
        command: SdpCommand,
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
        Command::Fingerprint { cert, key_type } => fingerprint(cert, key_type),
        Command::Sdp {
            command: SdpCommand::Offer { port, best_effort },
        } => sdp_offer(port, best_effort),
    };
    match result {
        Ok(()) => Exit::Ok.into(),
        Err(f) => {
            eprintln!("dtlsrtp: {}", f.message);
            f.exit.into()
        }
    }
}

fn fingerprint(cert: Option<PathBuf>, key_type: KeyArg) -> Result<(), Failure> {
    let cert = match cert {
        Some(path) => {
            let pem = fs::read(&path).map_err(|e| {
                Failure::new(Exit::Local, format!("cannot read {}: {e}", path.display()))
            })?;
            Certificate::from_pem(&pem)
                .map_err(|e| Failure::new(Exit::Local, format!("{}: {e}", path.display())))?
        }
        None => {
            eprintln!("(no --cert given: a fresh self-signed certificate was generated)");
            Certificate::generate(key_type.into(), "dtlsrtp", 30)
                .map_err(|e| Failure::new(Exit::Local, format!("certificate: {e}")))?
        }
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
