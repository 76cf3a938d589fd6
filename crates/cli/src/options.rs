//! Options of `dtlsrtp call` and `dtlsrtp answer`, the TOML config file equivalent to them, and their
//! resolution (flags override the file, the file overrides the defaults).
//!
//! Every flag has a key of the same name in the config file (`--srtp-policy` ↔ `srtp-policy = "..."`); unknown
//! keys are refused (exit 2), so a typo never silently changes a call.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use dtlsrtp_types::SrtpProfile;
use serde::Deserialize;

use crate::{Exit, Failure};

mod identity;

use identity::merge_identity;
pub(crate) use identity::{IdentityArgs, IdentityPolicyArg, IdentitySettings};

/// How SRTP is offered (RFC 5763 only, or RFC 5939 best effort with a plain RTP fallback).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum SrtpPolicy {
    /// UDP/TLS/RTP/SAVP only: a peer without DTLS-SRTP gets no call.
    SecureOnly,
    /// RTP/AVP with a=tcap/a=pcfg for DTLS-SRTP (RFC 5939): secure when the peer can, plain RTP otherwise.
    BestEffort,
}

/// The SIP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Transport {
    /// SIP over UDP (RFC 3261 §18).
    Udp,
    /// SIP over TCP.
    Tcp,
    /// SIP over TLS (sips:).
    Tls,
}

/// Our `a=setup` as answerer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Setup {
    /// We start the handshake (the RFC 5763 §5 answer).
    Active,
    /// We wait for the offerer's ClientHello.
    Passive,
}

/// The G.711 law we prefer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum CodecArg {
    /// µ-law, payload type 0.
    Pcmu,
    /// A-law, payload type 8.
    Pcma,
}

/// Options of every call command (and, for output, of `demo`).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct CommonArgs {
    /// A TOML config file with the same keys as these flags (flags win).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Where the persistent identity lives (default $XDG_CONFIG_HOME/dtlsrtp or ~/.config/dtlsrtp).
    #[arg(long, value_name = "DIR")]
    pub(crate) config_dir: Option<PathBuf>,
    /// Our certificate (PEM; may hold the key too). Default: the identity in the config directory, generated once.
    #[arg(long, value_name = "FILE")]
    pub(crate) cert: Option<PathBuf>,
    /// The certificate's private key (PEM), when not in --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub(crate) key: Option<PathBuf>,
    /// SRTP profiles, most preferred first, comma separated (IANA or OpenSSL names).
    #[arg(long, value_delimiter = ',')]
    pub(crate) profiles: Vec<SrtpProfile>,
    /// secure-only (RFC 5763) or best-effort (RFC 5939, plain RTP fallback).
    #[arg(long, value_enum)]
    pub(crate) srtp_policy: Option<SrtpPolicy>,
    /// SIP transport.
    #[arg(long, value_enum)]
    pub(crate) transport: Option<Transport>,
    /// Use ICE (RFC 8445) on the media port: candidates in the SDP, connectivity checks, consent freshness
    /// (RFC 7675). The caller is a full, controlling agent; the answerer full and controlled (or --ice-lite).
    #[arg(long)]
    pub(crate) ice: bool,
    /// With --ice, answer as an ICE lite agent (answers checks only, RFC 8445 §2.5).
    #[arg(long, requires = "ice")]
    pub(crate) ice_lite: bool,
    /// SIP over TLS server certificate (PEM; may hold the key too) of `answer` (default: our DTLS identity).
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM), when not in --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// SIP over TLS: trust anchors (PEM CA certificates) for the server's certificate, repeatable (default: the
    /// system's). The certificate must also name the host of the sips: URI.
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_ca: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) identity: IdentityArgs,
    #[command(flatten)]
    pub(crate) out: OutputArgs,
}

/// Output and secrets options, shared by `demo`, `call` and `answer`.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct OutputArgs {
    /// Write DTLS secrets (SSLKEYLOGFILE format) and the SRTP master keys to FILE. Secrets: opt-in, warned.
    #[arg(long, value_name = "FILE")]
    pub(crate) keylog: Option<PathBuf>,
    /// One JSON event per line on stdout instead of the human display.
    #[arg(long)]
    pub(crate) json: bool,
    /// More log output (-v info, -vv debug, -vvv trace) on stderr.
    #[arg(short, long, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub(crate) verbose: u8,
    /// Less output: -q only the summary and errors, -qq errors only.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub(crate) quiet: u8,
}

impl OutputArgs {
    /// −2 (errors only) … +3 (trace).
    pub(crate) fn verbosity(&self) -> i8 {
        i8::try_from(self.verbose.min(3)).unwrap_or(3)
            - i8::try_from(self.quiet.min(2)).unwrap_or(2)
    }
}

/// Media options of `call` and `answer`.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct MediaArgs {
    /// Send this WAV file (converted to 8 kHz mono; see README for the formats read).
    #[arg(long, value_name = "FILE.wav", conflicts_with = "tone")]
    pub(crate) play: Option<PathBuf>,
    /// Send a sine tone of this frequency (Hz, 50..=3800).
    #[arg(long, value_name = "HZ", value_parser = parse_tone)]
    pub(crate) tone: Option<f64>,
    /// Record what we receive to this WAV file (8 kHz mono 16-bit).
    #[arg(long, value_name = "OUT.wav")]
    pub(crate) record: Option<PathBuf>,
    /// Answerer: send media in a 183 before the 200 (RFC 3262 reliable provisional). Caller: accept it.
    #[arg(long)]
    pub(crate) early_media: bool,
    /// Our a=setup when we answer.
    #[arg(long, value_enum)]
    pub(crate) setup: Option<Setup>,
    /// Preferred G.711 law.
    #[arg(long, value_enum)]
    pub(crate) codec: Option<CodecArg>,
    /// Put the call on hold (RFC 3264 §8.4: we offer sendonly) this many seconds after it is up.
    #[arg(long, value_name = "S", value_parser = parse_secs)]
    pub(crate) hold_after: Option<Duration>,
    /// Resume a held call (sendrecv again) this many seconds after it is up (after --hold-after).
    #[arg(long, value_name = "S", value_parser = parse_secs, requires = "hold_after")]
    pub(crate) resume_after: Option<Duration>,
    /// Send these DTMF keys (0-9 * # A-D) as RFC 4733 telephone-events once the call is up.
    #[arg(long, value_name = "DIGITS", value_parser = parse_dtmf)]
    pub(crate) dtmf: Option<String>,
}

/// `dtlsrtp answer`.
#[derive(Args, Debug, Clone)]
pub(crate) struct AnswerArgs {
    /// SIP address to listen on.
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) listen: Option<SocketAddr>,
    /// Hang up after this many seconds of call (default: when the caller hangs up).
    #[arg(long, value_name = "S", value_parser = parse_secs)]
    pub(crate) duration: Option<Duration>,
    /// Answer this many calls, then exit (default 1).
    #[arg(long, value_name = "N")]
    pub(crate) calls: Option<u32>,
    #[command(flatten)]
    pub(crate) media: MediaArgs,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

/// `dtlsrtp call`.
#[derive(Args, Debug, Clone)]
pub(crate) struct CallArgs {
    /// Whom to call: a sip: or sips: URI.
    #[arg(value_name = "URI", value_parser = parse_sip_uri)]
    pub(crate) uri: Option<String>,
    /// Hang up after this many seconds of media (default 5).
    #[arg(long, value_name = "S", value_parser = parse_secs)]
    pub(crate) duration: Option<Duration>,
    /// Give up when no final answer came within this many seconds (default 32, SIP Timer B).
    #[arg(long, value_name = "S", value_parser = parse_secs)]
    pub(crate) timeout: Option<Duration>,
    /// Register this address-of-record first (sip:user@registrar).
    #[arg(long, value_name = "URI", value_parser = parse_sip_uri, requires_all = ["user", "password"])]
    pub(crate) register: Option<String>,
    /// Digest user name for --register.
    #[arg(long, value_name = "U")]
    pub(crate) user: Option<String>,
    /// Digest password for --register (prefer the config file: command lines are visible to other users).
    #[arg(long, value_name = "P")]
    pub(crate) password: Option<String>,
    /// The digest realm the credentials are for (default: the realm of the registrar's first challenge).
    /// Challenges for any other realm, or from anyone but the registrar, are not answered.
    #[arg(long, value_name = "REALM", requires = "register")]
    pub(crate) realm: Option<String>,
    /// Also answer RFC 2069 digest challenges (MD5 without qop: replayable, precomputable). Off by default.
    #[arg(long, requires = "register")]
    pub(crate) allow_legacy_digest: bool,
    /// An anonymous call: Privacy: id, anonymous From, no Identity, a fresh certificate for this call only.
    #[arg(long)]
    pub(crate) anonymous: bool,
    #[command(flatten)]
    pub(crate) media: MediaArgs,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

fn parse_tone(s: &str) -> Result<f64, String> {
    let hz: f64 = s.parse().map_err(|_| format!("not a frequency: {s}"))?;
    if (50.0..=3800.0).contains(&hz) {
        Ok(hz)
    } else {
        Err(format!(
            "{hz} Hz is outside 50..=3800 Hz (G.711 carries up to 4 kHz)"
        ))
    }
}

fn parse_dtmf(s: &str) -> Result<String, String> {
    match dtlsrtp_audio::dtmf::DtmfDigit::parse_all(s) {
        Ok(d) if !d.is_empty() => Ok(s.to_owned()),
        Ok(_) => Err("no DTMF keys given".into()),
        Err(e) => Err(format!("{:?} is not a DTMF key (0-9 * # A-D)", e.0)),
    }
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("not a number of seconds: {s}"))?;
    if secs.is_finite() && (0.0..=86_400.0).contains(&secs) {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(format!("{s} s is outside 0..=86400"))
    }
}

fn parse_sip_uri(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("sip:")
        .or_else(|| s.strip_prefix("sips:"))
        .ok_or_else(|| format!("{s:?} is not a sip: or sips: URI (e.g. sip:bob@127.0.0.1:5070)"))?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err(format!("{s:?} is not a SIP URI"));
    }
    Ok(s.to_string())
}

/// The config file: every flag as an optional key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct FileConfig {
    config_dir: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    profiles: Option<Vec<String>>,
    srtp_policy: Option<SrtpPolicy>,
    transport: Option<Transport>,
    ice: Option<bool>,
    ice_lite: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca: Option<Vec<PathBuf>>,
    // identity
    identity_key: Option<PathBuf>,
    identity_cert: Option<PathBuf>,
    identity_info: Option<String>,
    trust_anchor: Option<Vec<PathBuf>>,
    identity_policy: Option<IdentityPolicyArg>,
    peer_keys: Option<PathBuf>,
    anonymous: Option<bool>,
    keylog: Option<PathBuf>,
    json: Option<bool>,
    verbose: Option<u8>,
    quiet: Option<u8>,
    // media
    play: Option<PathBuf>,
    tone: Option<f64>,
    record: Option<PathBuf>,
    early_media: Option<bool>,
    setup: Option<Setup>,
    codec: Option<CodecArg>,
    hold_after: Option<f64>,
    resume_after: Option<f64>,
    // answer
    listen: Option<SocketAddr>,
    calls: Option<u32>,
    // call
    uri: Option<String>,
    duration: Option<f64>,
    timeout: Option<f64>,
    register: Option<String>,
    user: Option<String>,
    password: Option<String>,
    realm: Option<String>,
    allow_legacy_digest: Option<bool>,
}

impl FileConfig {
    /// Reads and parses a config file; a syntax error or an unknown key is bad usage (exit 2).
    pub(crate) fn load(path: &Path) -> Result<Self, Failure> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::new(Exit::Usage, format!("config {}: {e}", path.display())))?;
        Self::parse(&text)
            .map_err(|e| Failure::new(Exit::Usage, format!("config {}: {e}", path.display())))
    }

    fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }
}

/// Everything a call or an answer runs with, after merging flags, file and defaults.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub(crate) config_dir: Option<PathBuf>,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
    pub(crate) profiles: Vec<SrtpProfile>,
    pub(crate) srtp_policy: SrtpPolicy,
    pub(crate) transport: Transport,
    pub(crate) ice: bool,
    pub(crate) ice_lite: bool,
    pub(crate) keylog: Option<PathBuf>,
    pub(crate) json: bool,
    pub(crate) verbosity: i8,
    pub(crate) source: Source,
    pub(crate) record: Option<PathBuf>,
    pub(crate) early_media: bool,
    pub(crate) setup: Setup,
    pub(crate) codec: CodecArg,
    /// SIP over TLS: our server certificate and key (answer), trust anchors (call).
    pub(crate) tls_cert: Option<PathBuf>,
    pub(crate) tls_key: Option<PathBuf>,
    pub(crate) tls_ca: Vec<PathBuf>,
    /// Hold the call this long after it is up; resume it this long after it is up.
    pub(crate) hold_after: Option<Duration>,
    pub(crate) resume_after: Option<Duration>,
    /// DTMF keys to send once the call is up (W-3).
    pub(crate) dtmf: Option<String>,
    /// answer: where to listen; call: unused.
    pub(crate) listen: SocketAddr,
    pub(crate) calls: u32,
    /// call: the target; answer: unused.
    pub(crate) uri: Option<String>,
    pub(crate) duration: Option<Duration>,
    pub(crate) timeout: Duration,
    pub(crate) register: Option<Registration>,
    /// SIP Identity.
    pub(crate) identity: IdentitySettings,
}

/// What we send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Source {
    /// A WAV file, looped for the call's length.
    Wav(PathBuf),
    /// A sine tone.
    Tone(f64),
}

/// `--register` with its credentials.
#[derive(Clone, PartialEq)]
pub(crate) struct Registration {
    pub(crate) aor: String,
    pub(crate) user: String,
    pub(crate) password: String,
    /// `--realm` (none: learned from the registrar's first challenge).
    pub(crate) realm: Option<String>,
    /// `--allow-legacy-digest`.
    pub(crate) allow_legacy_digest: bool,
}

impl Registration {
    /// The digest credentials, bound to `--realm` (or the registrar's) and to the registrar (issue 12 item 11).
    pub(crate) fn credentials(&self) -> dtlsrtp::Credentials {
        let mut c = dtlsrtp::Credentials::new(&self.user, &self.password);
        c.realm = self.realm.clone();
        c.allow_legacy_digest = self.allow_legacy_digest;
        c
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("aor", &self.aor)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("realm", &self.realm)
            .field("allow_legacy_digest", &self.allow_legacy_digest)
            .finish()
    }
}

/// Default SIP port of `answer`.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:5070";
/// Default tone: 440 Hz.
pub(crate) const DEFAULT_TONE: f64 = 440.0;
/// RFC 3261 Timer B = 64 × T1 = 32 s.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(32);

fn usage(msg: impl Into<String>) -> Failure {
    Failure::new(Exit::Usage, msg)
}

impl Settings {
    /// Merges the flags of `call` over its config file.
    pub(crate) fn for_call(args: &CallArgs) -> Result<Self, Failure> {
        let file = load(&args.common)?;
        let mut s = Self::merge(&args.common, &args.media, &file)?;
        s.uri = args.uri.clone().or(file.uri.clone());
        let Some(uri) = &s.uri else {
            return Err(usage(
                "call: which URI? (e.g. dtlsrtp call sip:bob@127.0.0.1:5070)",
            ));
        };
        parse_sip_uri(uri).map_err(usage)?;
        s.identity.anonymous = args.anonymous || file.anonymous.unwrap_or(false);
        s.duration = Some(
            args.duration
                .or(secs(file.duration, "duration")?)
                .unwrap_or(Duration::from_secs(5)),
        );
        s.timeout = args
            .timeout
            .or(secs(file.timeout, "timeout")?)
            .unwrap_or(DEFAULT_TIMEOUT);
        let aor = args.register.clone().or(file.register.clone());
        if let Some(aor) = aor {
            parse_sip_uri(&aor).map_err(usage)?;
            let user = args.user.clone().or(file.user.clone());
            let password = args.password.clone().or(file.password.clone());
            let (Some(user), Some(password)) = (user, password) else {
                return Err(usage("--register needs --user and --password"));
            };
            s.register = Some(Registration {
                aor,
                user,
                password,
                realm: args.realm.clone().or(file.realm.clone()),
                allow_legacy_digest: args.allow_legacy_digest
                    || file.allow_legacy_digest.unwrap_or(false),
            });
        }
        Ok(s)
    }

    /// Merges the flags of `answer` over its config file.
    pub(crate) fn for_answer(args: &AnswerArgs) -> Result<Self, Failure> {
        let file = load(&args.common)?;
        let mut s = Self::merge(&args.common, &args.media, &file)?;
        if let Some(listen) = args.listen.or(file.listen) {
            s.listen = listen;
        }
        s.duration = args.duration.or(secs(file.duration, "duration")?);
        s.calls = args.calls.or(file.calls).unwrap_or(1).max(1);
        Ok(s)
    }

    fn merge(common: &CommonArgs, media: &MediaArgs, file: &FileConfig) -> Result<Self, Failure> {
        let profiles = if common.profiles.is_empty() {
            file.profiles
                .iter()
                .flatten()
                .map(|p| {
                    p.parse::<SrtpProfile>()
                        .map_err(|_| usage(format!("config: unknown SRTP profile {p:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?
        } else {
            common.profiles.clone()
        };
        let play = media.play.clone().or(file.play.clone());
        let tone = media.tone.or(file.tone);
        let source = match (play, tone) {
            (Some(_), Some(_)) if media.play.is_none() || media.tone.is_none() => {
                // One from the flags, one from the file: the flag wins.
                if let Some(p) = &media.play {
                    Source::Wav(p.clone())
                } else if let Some(t) = media.tone {
                    Source::Tone(t)
                } else {
                    return Err(usage("config: play and tone are exclusive"));
                }
            }
            (Some(_), Some(_)) => return Err(usage("--play and --tone are exclusive")),
            (Some(p), None) => Source::Wav(p),
            (None, Some(t)) => Source::Tone(parse_tone(&t.to_string()).map_err(usage)?),
            (None, None) => Source::Tone(DEFAULT_TONE),
        };
        let verbose = if common.out.verbose > 0 || common.out.quiet > 0 {
            common.out.verbosity()
        } else {
            i8::try_from(file.verbose.unwrap_or(0)).unwrap_or(3)
                - i8::try_from(file.quiet.unwrap_or(0)).unwrap_or(2)
        };
        Ok(Self {
            config_dir: common.config_dir.clone().or(file.config_dir.clone()),
            cert: common.cert.clone().or(file.cert.clone()),
            key: common.key.clone().or(file.key.clone()),
            profiles,
            srtp_policy: common
                .srtp_policy
                .or(file.srtp_policy)
                .unwrap_or(SrtpPolicy::SecureOnly),
            transport: common
                .transport
                .or(file.transport)
                .unwrap_or(Transport::Udp),
            ice: common.ice || file.ice.unwrap_or(false),
            ice_lite: common.ice_lite || file.ice_lite.unwrap_or(false),
            keylog: common.out.keylog.clone().or(file.keylog.clone()),
            json: common.out.json || file.json.unwrap_or(false),
            verbosity: verbose,
            source,
            record: media.record.clone().or(file.record.clone()),
            early_media: media.early_media || file.early_media.unwrap_or(false),
            setup: media.setup.or(file.setup).unwrap_or(Setup::Active),
            codec: media.codec.or(file.codec).unwrap_or(CodecArg::Pcmu),
            tls_cert: common.tls_cert.clone().or(file.tls_cert.clone()),
            tls_key: common.tls_key.clone().or(file.tls_key.clone()),
            tls_ca: if common.tls_ca.is_empty() {
                file.tls_ca.clone().unwrap_or_default()
            } else {
                common.tls_ca.clone()
            },
            hold_after: media.hold_after.or(secs(file.hold_after, "hold-after")?),
            resume_after: media
                .resume_after
                .or(secs(file.resume_after, "resume-after")?),
            dtmf: media.dtmf.clone(),
            listen: DEFAULT_LISTEN
                .parse()
                .map_err(|_| Failure::new(Exit::Local, "default listen address"))?,
            calls: 1,
            uri: None,
            duration: None,
            timeout: DEFAULT_TIMEOUT,
            register: None,
            identity: merge_identity(&common.identity, file)?,
        })
    }
}

fn load(common: &CommonArgs) -> Result<FileConfig, Failure> {
    match &common.config {
        Some(path) => FileConfig::load(path),
        None => Ok(FileConfig::default()),
    }
}

fn secs(v: Option<f64>, what: &str) -> Result<Option<Duration>, Failure> {
    v.map(|v| parse_secs(&v.to_string()).map_err(|e| usage(format!("config {what}: {e}"))))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct T {
        #[command(subcommand)]
        c: C,
    }
    #[derive(clap::Subcommand, Debug)]
    enum C {
        Call(CallArgs),
        Answer(AnswerArgs),
    }

    fn call(args: &[&str]) -> Result<Settings, Failure> {
        let t = T::try_parse_from(
            std::iter::once("x")
                .chain(std::iter::once("call"))
                .chain(args.iter().copied()),
        )
        .map_err(|e| usage(e.to_string()))?;
        match t.c {
            C::Call(a) => Settings::for_call(&a),
            C::Answer(_) => unreachable!(),
        }
    }

    fn answer(args: &[&str]) -> Result<Settings, Failure> {
        let t = T::try_parse_from(
            std::iter::once("x")
                .chain(std::iter::once("answer"))
                .chain(args.iter().copied()),
        )
        .map_err(|e| usage(e.to_string()))?;
        match t.c {
            C::Answer(a) => Settings::for_answer(&a),
            C::Call(_) => unreachable!(),
        }
    }

    #[test]
    fn defaults() {
        let s = call(&["sip:bob@127.0.0.1:5070"]).unwrap();
        assert_eq!(s.uri.as_deref(), Some("sip:bob@127.0.0.1:5070"));
        assert_eq!(s.duration, Some(Duration::from_secs(5)));
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(s.source, Source::Tone(440.0));
        assert_eq!(
            (s.srtp_policy, s.transport, s.setup),
            (SrtpPolicy::SecureOnly, Transport::Udp, Setup::Active)
        );
        let a = answer(&[]).unwrap();
        assert_eq!(a.listen, "127.0.0.1:5070".parse().unwrap());
        assert_eq!(a.duration, None);
    }

    #[test]
    fn the_config_file_is_equivalent_to_the_flags_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            r#"
uri = "sip:carol@127.0.0.1:5080"
profiles = ["SRTP_AEAD_AES_128_GCM", "SRTP_AES128_CM_SHA1_80"]
srtp-policy = "best-effort"
transport = "tcp"
ice = true
keylog = "/tmp/k.log"
json = true
verbose = 2
tone = 1000
record = "out.wav"
early-media = true
setup = "passive"
codec = "pcma"
duration = 2.5
timeout = 4
register = "sip:alice@127.0.0.1"
user = "alice"
password = "secret"
realm = "example.org"
allow-legacy-digest = true
"#,
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let from_file = call(&["--config", p]).unwrap();
        let from_flags = call(&[
            "sip:carol@127.0.0.1:5080",
            "--profiles",
            "SRTP_AEAD_AES_128_GCM,SRTP_AES128_CM_SHA1_80",
            "--srtp-policy",
            "best-effort",
            "--transport",
            "tcp",
            "--ice",
            "--keylog",
            "/tmp/k.log",
            "--json",
            "-vv",
            "--tone",
            "1000",
            "--record",
            "out.wav",
            "--early-media",
            "--setup",
            "passive",
            "--codec",
            "pcma",
            "--duration",
            "2.5",
            "--timeout",
            "4",
            "--register",
            "sip:alice@127.0.0.1",
            "--user",
            "alice",
            "--password",
            "secret",
            "--realm",
            "example.org",
            "--allow-legacy-digest",
        ])
        .unwrap();
        assert_eq!(from_file, from_flags);
        let reg = from_file.register.as_ref().unwrap().credentials();
        assert_eq!(
            (reg.realm.as_deref(), reg.allow_legacy_digest),
            (Some("example.org"), true)
        );
        assert!(
            !format!("{from_file:?}").contains("secret"),
            "password redacted in Debug"
        );
        // Flags win over the file.
        let s = call(&[
            "--config",
            p,
            "sip:dave@127.0.0.1",
            "--play",
            "x.wav",
            "--transport",
            "udp",
        ])
        .unwrap();
        assert_eq!(s.uri.as_deref(), Some("sip:dave@127.0.0.1"));
        assert_eq!(s.source, Source::Wav("x.wav".into()));
        assert_eq!(s.transport, Transport::Udp);
    }

    #[test]
    fn bad_config_and_bad_values_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "trasnport = \"udp\"\n").unwrap();
        let e = call(&["sip:bob@x", "--config", path.to_str().unwrap()]).unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.message.contains("trasnport"), "{}", e.message);
        std::fs::write(&path, "profiles = [\"SRTP_BOGUS\"]\n").unwrap();
        let e = call(&["sip:bob@x", "--config", path.to_str().unwrap()]).unwrap_err();
        assert!(e.message.contains("SRTP_BOGUS"), "{}", e.message);
        for bad in [
            &["bob@127.0.0.1"][..],
            &[],
            &["sip:bob@x", "--tone", "9000"],
            &["sip:bob@x", "--tone", "440", "--play", "a.wav"],
            &["sip:bob@x", "--duration", "-1"],
            &["sip:bob@x", "--register", "sip:a@b"],
            &["sip:bob@x", "-v", "-q"],
        ] {
            let e = call(bad).unwrap_err();
            assert_eq!(e.exit, Exit::Usage, "{bad:?}");
        }
        let e = answer(&["--listen", "nonsense"]).unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
    }
}
