//! `dtlsrtp`: one sans-IO [`Endpoint`] — a SIP user agent ([`dtlsrtp_sip::ua::UserAgent`]) whose calls carry
//! DTLS-SRTP media (RFC 5763): SDP offer/answer through [`dtlsrtp_sdp::Negotiator`], one
//! [`dtlsrtp_media::MediaPort`] per call, one DTLS association per fork (F-6.3, T-8a).
//!
//! The contract is ARCHITECTURE §3: inputs take `now` ([`Endpoint::handle_datagram`] for SIP over UDP *and*
//! media, [`Endpoint::handle_stream`] for SIP over TCP/TLS, [`Endpoint::handle_timeout`], the commands
//! [`Endpoint::dial`], [`Endpoint::answer`], ...); outputs drain ([`Endpoint::poll_transmit`],
//! [`Endpoint::poll_event`], [`Endpoint::poll_timeout`]).
//!
//! # Media sockets: a pool the driver fills
//!
//! The endpoint never binds. The driver binds UDP sockets and hands their addresses over with
//! [`Endpoint::add_media_socket`]; each call (and each renewed association, T-5.1a) takes a fresh one from
//! the pool. When a call or an old association is done the endpoint emits [`Event::MediaSocketReleased`]: the
//! driver closes that socket (it is never reused, so late packets of an old association cannot reach a new
//! one) and binds a new one to keep the pool at its size ([`Endpoint::free_media_sockets`]). A call that finds
//! the pool empty fails with [`Error::NoMediaSocket`] (an incoming one gets 503).
//!
//! # Call flow
//!
//! - Outgoing ([`Endpoint::dial`]): the media port listens before the INVITE leaves (F-5.8); each fork's answer
//!   (a 183 with SDP: early media, F-6.2; or the 2xx) is applied to its own clone of the negotiator via
//!   [`dtlsrtp_sdp::PendingOffer::fork`] and bound to the port with that fork's fingerprints, role and address;
//!   T-8a: until [`dtlsrtp_sip::ua::Event::NoMoreAnswers`] a handshake whose certificate matches no fork yet
//!   waits (keys gated, bounded) for an answer that names it, whatever the order of the 183s; the 2xx's fork is
//!   final at once, so a mismatch on its own media ends the call (F-5.15), while a handshake nobody vouches for
//!   is discarded and counted, never fatal. A delayed offer (F-6.4) answers the 2xx's offer in the ACK.
//! - Incoming: the offer is answered at once ([`Event::IncomingCall`] only for offers we can accept; others get
//!   the negotiator's status, 488 for plain RTP under the secure-only policy). Our answer says `setup:active`
//!   (F-5.10) and the ClientHello leaves right after the 200 ([`Endpoint::answer`]) or the 183
//!   ([`Endpoint::early_media`]).
//! - Modification: [`Endpoint::reinvite`] keeps the association (same port, SRTP continues); [`Endpoint::rekey`]
//!   renews it (new tls-id on a new port; the old port keeps sending and receiving until the new association is
//!   verified, then it is released). The peer's re-INVITE/UPDATE is answered automatically.
//! - BYE/CANCEL close the associations (keys zeroized by the media layer); a fingerprint mismatch on a
//!   confirmed dialog sends BYE ([`EndReason::FingerprintMismatch`]); a failed handshake on the answered
//!   dialog's media, or no verified media within [`Config::media_timeout`] of the answer, sends BYE
//!   ([`EndReason::DtlsFailed`]). Once the winning dialog is verified the media port refuses ClientHellos
//!   from new addresses (no state) until a renewing offer expects a new association.
//!
//! Randomness: one seeded generator ([`Config::seed`]); the UA, every media port, cookie secret and
//! negotiator get child seeds from it, so scenario tests are reproducible.
//!
//! # Example: two endpoints in memory
//!
//! A driver would use sockets (`dtlsrtp_tokio::endpoint::EndpointHandle` does); here the transmits of each
//! endpoint are handed straight to the other.
//!
//! ```
//! use std::time::Instant;
//! use dtlsrtp::{CallOptions, Config, Datagram, Endpoint, Event};
//! use dtlsrtp_dtls::{Certificate, KeyType};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let now = Instant::now(); // the driver's clock
//! let cfg = |user: &str, port: u16, seed| -> Result<Config, Box<dyn std::error::Error>> {
//!     let cert = Certificate::generate(KeyType::EcdsaP256, user, 1)?;
//!     Ok(Config::new(user, "127.0.0.1", format!("127.0.0.1:{port}").parse()?, cert, [seed; 32]))
//! };
//! let mut eps = [Endpoint::new(cfg("alice", 5060, 1)?)?, Endpoint::new(cfg("bob", 5070, 2)?)?];
//! eps[0].add_media_socket("127.0.0.1:40000".parse()?); // sockets the driver bound
//! eps[1].add_media_socket("127.0.0.1:41000".parse()?);
//! let call = eps[0].dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())?;
//! let mut got = Vec::new();
//! for _ in 0..10 {
//!     for i in 0..2 {
//!         while let Some(t) = eps[i].poll_transmit() {
//!             let d = Datagram { local: t.remote, remote: t.local, bytes: &t.bytes };
//!             eps[1 - i].handle_datagram(now, d);
//!         }
//!         while let Some(e) = eps[i].poll_event() {
//!             match e {
//!                 Event::IncomingCall { call, .. } => eps[i].answer(now, call)?,
//!                 Event::Established { call, .. } if i == 1 => eps[1].send_audio(now, call, 0, 0, b"hi")?,
//!                 Event::Rtp { payload, verified: true, .. } => got.push(payload),
//!                 _ => {}
//!             }
//!         }
//!     }
//! }
//! assert_eq!(got, vec![b"hi".to_vec()]);
//! eps[0].hangup(now, call)?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod endpoint;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use dtlsrtp_dtls::Certificate;
use dtlsrtp_media::{AssocInfo, MediaError, PortCounters};
use dtlsrtp_sdp::negotiate::{Profile, RtpPolicy};
pub use dtlsrtp_sdp::Codec;
use dtlsrtp_sip::identity::{AuthService, CertResolver, PeerKeyCache, Verifier};
use dtlsrtp_srtp::{DtlsRole, SrtpProfile};

pub use dtlsrtp_audio::dtmf::DtmfDigit;
pub use dtlsrtp_media::port::rtp::{RtcpBye, RtcpReport};
pub use dtlsrtp_media::ReceptionReport;
pub use dtlsrtp_session as session;
pub use dtlsrtp_sip::identity::{CallSecurityState, IdentityPolicy};
pub use dtlsrtp_sip::ua::{CallId, ForkId, RegId, TransportKind};
pub use endpoint::Endpoint;
// Types of the public configuration above (design item 6: the CLI names only the endpoint and the driver).
pub use dtlsrtp_dtls::{KeyLog, KeyType};
pub use dtlsrtp_media::ice::IceMode;
pub use dtlsrtp_sdp::negotiate::AnswerSetup;
pub use dtlsrtp_sip::digest::Credentials;
pub use dtlsrtp_sip::ua::RegisterConfig;
pub use dtlsrtp_sip::SipUri;
pub use dtlsrtp_srtp::SrtpKeyingMaterial;

/// The identity services [`IdentityConfig`] is built from (signing, verification, certificate resolution,
/// the peer-key continuity cache).
pub mod sip_identity {
    pub use dtlsrtp_sip::identity::{
        AuthService, CacheFileError, CertResolver, PeerKeyCache, ResolveError, TrustAnchors,
        Verifier,
    };
}

/// A datagram received on one of the endpoint's UDP sockets: the SIP socket or a media socket.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// The local socket it arrived on (routes it to the UA or to a call's media port).
    pub local: SocketAddr,
    /// Its source.
    pub remote: SocketAddr,
    /// Payload.
    pub bytes: &'a [u8],
}

/// Something to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The local socket to send from (the SIP socket of `transport`, or a media socket).
    pub local: SocketAddr,
    /// Destination (for TCP/TLS: the connection's peer, opened when absent).
    pub remote: SocketAddr,
    /// UDP for media; the SIP transport for signalling.
    pub transport: TransportKind,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Endpoint configuration.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// User part of our AoR and Contact.
    pub user: String,
    /// Host part of our AoR.
    pub domain: String,
    /// SIP listening addresses by transport (UDP first is the usual choice).
    pub sip: Vec<(TransportKind, SocketAddr)>,
    /// Where out-of-dialog requests to host names go (a proxy/registrar such as Kamailio).
    pub outbound_proxy: Option<(TransportKind, SocketAddr)>,
    /// Digest credentials for a challenged INVITE, answered only for the configured `outbound_proxy` or a
    /// registrar we are registered at, from that address, for the credentials' realm (or the one that registrar
    /// accepted), with `qop=auth` unless legacy digest is allowed ([`dtlsrtp_sip::ua::Config::credentials`]).
    pub credentials: Option<dtlsrtp_sip::digest::Credentials>,
    /// The address written in SDP `c=` (the media sockets' IP).
    pub media_ip: IpAddr,
    /// Our DTLS certificate (its sha-256 fingerprint goes into every SDP).
    pub certificate: Certificate,
    /// Seed of the endpoint's generator (the driver fills it from the OS).
    pub seed: [u8; 32],
    /// Audio codecs we offer/accept, in preference order (default PCMU, PCMA). `telephone-event/8000` (RFC 4733,
    /// W-3) is added to every offer and answer when missing.
    pub codecs: Vec<Codec>,
    /// `UDP/TLS/RTP/SAVP` (default) or `SAVPF` in our offers; answers mirror the offer.
    pub profile: Profile,
    /// The user-level SRTP policy (A.23 R-ALLOW-RTP, RFC 5763 §6.11): [`SrtpPolicy::SecureOnly`] (default) or
    /// [`SrtpPolicy::BestEffort`] — offers use RFC 5939 capability negotiation and a plain-RTP answer or offer
    /// gives a plain-RTP call, never silently ([`Event::MediaSecurity`] `encrypted: false`,
    /// [`CallStats::encrypted`]). `BestEffort` implies `policy = AllowRtp` and `best_effort = true`.
    pub srtp_policy: SrtpPolicy,
    /// Finer knob: secure only (default: a plain RTP answer fails the call, a plain RTP offer gets 488) or
    /// allow RTP.
    pub policy: RtpPolicy,
    /// Finer knob: offer with RFC 5939 capability negotiation (RTP/AVP + `a=tcap` DTLS), B-1.
    pub best_effort: bool,
    /// Use 100rel (RFC 3262).
    pub use_100rel: bool,
    /// SIP transaction timers (T1...).
    pub sip_timers: dtlsrtp_sip::transaction::TimerConfig,
    /// DTLS retransmission start (shorter in tests of loss).
    pub dtls_initial_retransmit: Option<std::time::Duration>,
    /// Most calls at once (beyond: 503).
    pub max_calls: usize,
    /// SIP Identity (RFC 8224 with `mky`, RFC 4916 connected identity, continuity): `None` (default) signs
    /// nothing and verifies nothing; calls are then at best encrypted-unauthenticated.
    pub identity: Option<IdentityConfig>,
    /// D-3b: offer `a=rtcp:PORT` on a second media socket as the fallback for peers that refuse rtcp-mux (RFC
    /// 5761 §5.1.3), and run a separate DTLS association there when they do (default true). The socket is
    /// released as soon as the answer muxes.
    pub rtcp_fallback: bool,
    /// Item 4: an answered call whose winning dialog's media is not verified within this time ends with
    /// [`EndReason::DtlsFailed`] (default 30 s, the DTLS handshake's whole retransmission budget).
    pub media_timeout: std::time::Duration,
    /// SRTP protection profiles our DTLS offers, most preferred first (empty: the DTLS crate's default list).
    pub srtp_profiles: Vec<SrtpProfile>,
    /// Our `a=setup` when answering an `actpass` offer (default active, RFC 5763 §5).
    pub answer_setup: dtlsrtp_sdp::negotiate::AnswerSetup,
    /// Opt-in sink for the DTLS secrets in the NSS key log format (for Wireshark). Secrets: never set by
    /// default, and nothing else in the endpoint logs them.
    pub key_log: Option<Arc<dyn dtlsrtp_dtls::KeyLog>>,
    /// Per-call ICE (RFC 8445) on the call's media port, `a=ice-*`/`a=candidate` in its SDP: as offerer always
    /// full and controlling; as answerer this mode (full or lite), controlled. `None` (default): no ICE, media
    /// goes to the `c=`/`m=` address.
    pub ice: Option<dtlsrtp_media::ice::IceMode>,
    /// F-6.8 make-before-break: after a renewing re-offer's new association is verified, sending switches at
    /// once and the superseded port keeps decrypting for this long (default 2 s), then it is released.
    pub rekey_grace: std::time::Duration,
    /// D-4.4: automatic rekey (a renewing re-offer) this long after each association's keys were made; `None`
    /// (default): only before a key's lifetime runs out ([`dtlsrtp_media::MediaEvent::RekeyDue`]).
    pub rekey_interval: Option<std::time::Duration>,
    /// RFC 3550 §6.4.1: the wall-clock anchor of every media port's SR NTP timestamps: at this instant it was
    /// this long after the Unix epoch. The driver sets it from `SystemTime::now()` at start (the endpoint never
    /// reads a clock); `None` (default): NTP time counted from the port's start.
    pub wall_clock: Option<(Instant, std::time::Duration)>,
}

impl Config {
    /// `user@domain` with SIP over UDP at `sip_udp`, media on `sip_udp`'s IP, certificate and seed.
    pub fn new(
        user: &str,
        domain: &str,
        sip_udp: SocketAddr,
        certificate: Certificate,
        seed: [u8; 32],
    ) -> Self {
        Self {
            user: user.into(),
            domain: domain.into(),
            sip: vec![(TransportKind::Udp, sip_udp)],
            outbound_proxy: None,
            credentials: None,
            media_ip: sip_udp.ip(),
            certificate,
            seed,
            codecs: vec![
                Codec::new(0, "PCMU", 8000, None),
                Codec::new(8, "PCMA", 8000, None),
            ],
            profile: Profile::Savp,
            srtp_policy: SrtpPolicy::SecureOnly,
            policy: RtpPolicy::SecureOnly,
            best_effort: false,
            use_100rel: true,
            sip_timers: dtlsrtp_sip::transaction::TimerConfig::default(),
            dtls_initial_retransmit: None,
            max_calls: 256,
            identity: None,
            rtcp_fallback: true,
            media_timeout: std::time::Duration::from_secs(30),
            srtp_profiles: Vec::new(),
            answer_setup: dtlsrtp_sdp::negotiate::AnswerSetup::Active,
            key_log: None,
            ice: None,
            rekey_grace: std::time::Duration::from_secs(2),
            rekey_interval: None,
            wall_clock: None,
        }
    }
}

/// The certificate resolver the driver runs, off its event loop, for [`Event::FetchCertificate`] (fetches
/// `info`: `file://`, or `http://`). The endpoint never calls it. Shared, because [`Config`] is `Clone`.
pub type SharedResolver = Arc<Mutex<dyn CertResolver + Send>>;

/// A certificate fetch the endpoint asked for ([`Event::FetchCertificate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FetchId(pub u64);

/// Which `info` URLs the endpoint may ask the driver to fetch (issue 12 item 7): a URL outside it fails like
/// an unreachable one (436 Bad Identity Info), without any fetch. Checked before any I/O; the resolver applies
/// its own rules too (the CLI's: `file://` only under configured directories, `http://` only on loopback).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InfoAllow {
    /// Allowed schemes, lower case (default `https`, `http`, `file`).
    pub schemes: Vec<String>,
    /// Allowed hosts of `http`/`https` URLs, compared case-insensitively with the URL's host (without port);
    /// empty: any host.
    pub hosts: Vec<String>,
}

impl Default for InfoAllow {
    fn default() -> Self {
        Self {
            schemes: vec!["https".into(), "http".into(), "file".into()],
            hosts: Vec::new(),
        }
    }
}

impl InfoAllow {
    /// Whether `url` may be fetched.
    pub fn allows(&self, url: &str) -> bool {
        let Some((scheme, rest)) = url.split_once("://") else {
            return false;
        };
        let scheme = scheme.to_ascii_lowercase();
        if !self.schemes.contains(&scheme) {
            return false;
        }
        if scheme == "file" || self.hosts.is_empty() {
            return true;
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.contains('@') {
            return false;
        }
        let host = if let Some(v6) = authority.strip_prefix('[') {
            v6.split(']').next().unwrap_or("")
        } else {
            authority.rsplit_once(':').map_or(authority, |(h, _)| h)
        };
        self.hosts.iter().any(|h| {
            h.trim_start_matches('[')
                .trim_end_matches(']')
                .eq_ignore_ascii_case(host)
        })
    }
}

/// Whether a call may fall back to plain RTP (A.23 R-ALLOW-RTP; RFC 5763 §6.11, RFC 5939).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SrtpPolicy {
    /// DTLS-SRTP only: a plain-RTP offer gets 488, a plain-RTP answer ends the call ([`EndReason::NotSecure`]).
    #[default]
    SecureOnly,
    /// Offer DTLS-SRTP with a plain-RTP fallback (RFC 5939 capability negotiation) and accept plain-RTP offers
    /// and answers: such a call's media is NOT encrypted, and the endpoint says so.
    BestEffort,
}

/// Identity configuration (issue 8; F-5.4, F-8.x, I-1..I-3).
#[derive(Clone)]
#[non_exhaustive]
pub struct IdentityConfig {
    /// Our authentication service (signing key, certificate, `info` URL): signs our INVITEs and the RFC 4916
    /// UPDATE with a PASSporT whose `mky` lists every fingerprint of our SDP (I-2, I-3). `None`: no signing.
    pub signer: Option<Arc<AuthService>>,
    /// The verification service (trust anchors, freshness window); `None`: incoming Identity is not checked
    /// (every call is then unverified, or refused under [`IdentityPolicy::Required`]).
    pub verifier: Option<Verifier>,
    /// Fetches the certificate at `info`. The endpoint never calls it: it asks the driver with
    /// [`Event::FetchCertificate`] and the driver runs it off the event loop (issue 12 item 7).
    pub resolver: Option<SharedResolver>,
    /// Which `info` URLs may be fetched at all (default: https, http and file URLs, any host).
    pub info_allow: InfoAllow,
    /// Required: a missing or failed Identity on an incoming INVITE is refused with its RFC 8224 code (428,
    /// 436, 437, 438, 403); BestEffort (default): the call proceeds, marked unverified (F-8.6a/b).
    pub policy: IdentityPolicy,
    /// Continuity of authentication (F-8.4b, P-7b): where the peer-key cache is kept. The endpoint does no
    /// file I/O (issue 13 design item 3): it starts from [`IdentityConfig::known_peers`] and, when it learns a
    /// new peer, emits [`Event::StorePeerKeys`] naming this path; the driver (or the CLI) loads the file into
    /// `known_peers` before the endpoint starts and writes it, owner-only and atomically, off its event loop.
    /// `None`: an in-memory cache only.
    pub peer_keys: Option<PathBuf>,
    /// The peer keys known at start (what the driver loaded from [`IdentityConfig::peer_keys`]).
    pub known_peers: PeerKeyCache,
    /// The wall clock: the Unix time (seconds) at the given `Instant`; the endpoint reads no clock, it adds
    /// the `Instant`s it is given (`iat` when signing, freshness when verifying).
    pub clock: (Instant, u64),
    /// As the UAS, send the RFC 4916 UPDATE (signed, repeating our answer) after the ACK when the caller
    /// supports `from-change` and we have a signer (default true).
    pub connected_identity: bool,
}

impl IdentityConfig {
    /// No signer, no verifier, best effort, in-memory key cache; `clock` as above.
    pub fn new(clock: (Instant, u64)) -> Self {
        Self {
            signer: None,
            verifier: None,
            resolver: None,
            info_allow: InfoAllow::default(),
            policy: IdentityPolicy::BestEffort,
            peer_keys: None,
            known_peers: PeerKeyCache::new(),
            clock,
            connected_identity: true,
        }
    }
}

impl std::fmt::Debug for IdentityConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityConfig")
            .field("signer", &self.signer)
            .field("verifier", &self.verifier.is_some())
            .field("policy", &self.policy)
            .field("info_allow", &self.info_allow)
            .field("peer_keys", &self.peer_keys)
            .field("known_peers", &self.known_peers.len())
            .finish_non_exhaustive()
    }
}

/// Options of [`Endpoint::dial`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CallOptions {
    /// Send the INVITE without SDP: the offer comes in the 2xx, our answer in the ACK (F-6.4, T-8b).
    pub delayed_offer: bool,
    /// An anonymous call (F-6.1): `Privacy: id`, anonymous From, no Identity, and a fresh unlinkable
    /// certificate for this call only (`CN=anonymous`, no subjectAltName).
    pub anonymous: bool,
}

impl CallOptions {
    /// A delayed-offer call.
    pub fn delayed_offer() -> Self {
        Self {
            delayed_offer: true,
            anonymous: false,
        }
    }

    /// An anonymous call with an early offer.
    pub fn anonymous() -> Self {
        Self {
            delayed_offer: false,
            anonymous: true,
        }
    }
}

/// Why a call ended.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// We hung up (or rejected).
    Local,
    /// The peer sent BYE.
    RemoteBye,
    /// Our INVITE got this final status.
    Rejected(u16),
    /// CANCEL before the answer.
    Cancelled,
    /// No answer / no ACK / transport failure.
    Timeout,
    /// The answer was not DTLS-SRTP (secure-only policy) or not acceptable: we hung up.
    NotSecure,
    /// The confirmed dialog's certificate did not match its fingerprint: we sent BYE (F-5.15).
    FingerprintMismatch,
    /// The answered call's DTLS handshake failed, or its media was not verified within
    /// [`Config::media_timeout`]: we sent BYE (secure-only: a call never stays up without keys).
    DtlsFailed,
    /// Another SIP-level reason.
    Other,
}

/// What the endpoint tells its user. Forks are the SIP early/confirmed dialogs (To-tags) of a call; an
/// incoming call has the single fork [`Endpoint::UAS_FORK`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new call we can accept (its offer was DTLS-SRTP, or it had no offer: delayed offer).
    IncomingCall {
        /// Call.
        call: CallId,
        /// The From header.
        from: String,
        /// The INVITE had no SDP (F-6.4).
        delayed_offer: bool,
    },
    /// A 180 (or a 1xx without SDP).
    Ringing {
        /// Call.
        call: CallId,
        /// Early dialog, if the response had a To tag.
        fork: Option<ForkId>,
    },
    /// A 183 with SDP: this fork's fingerprint is bound, its early media may flow (F-6.2).
    EarlyMedia {
        /// Call.
        call: CallId,
        /// Early dialog.
        fork: ForkId,
    },
    /// The call was answered (UAC: the 2xx of `fork`; UAS: our 200 left).
    Answered {
        /// Call.
        call: CallId,
        /// The winning fork.
        fork: ForkId,
    },
    /// A DTLS handshake finished on the call's media port.
    DtlsConnected {
        /// Call.
        call: CallId,
        /// The fork when already known.
        fork: Option<ForkId>,
        /// SRTP profile.
        profile: SrtpProfile,
        /// Our DTLS role.
        role: DtlsRole,
        /// Remote media address.
        remote: SocketAddr,
    },
    /// A fork's certificate matched its `a=fingerprint`: its media is authenticated.
    FingerprintVerified {
        /// Call.
        call: CallId,
        /// Fork.
        fork: ForkId,
        /// Where its media goes.
        remote: SocketAddr,
    },
    /// A fork's own media presented a certificate its fingerprint does not match (F-5.15). On the answered
    /// dialog (or an incoming call's) the endpoint ends the call itself (BYE, [`EndReason::FingerprintMismatch`]);
    /// on another early dialog it is informational (T-8a). Handshakes no fork vouches for are never reported
    /// (counted in [`CallStats::counters`] `unmatched_discarded`).
    FingerprintMismatch {
        /// Call.
        call: CallId,
        /// The fork (always `Some` since issue 12; kept optional for compatibility).
        fork: Option<ForkId>,
    },
    /// Emitted right before [`Event::Established`]: whether the call's media is encrypted (DTLS-SRTP, with the
    /// SRTP profile and our DTLS role) or NOT (best effort fell back to plain RTP, R-ALLOW-RTP: policy, never
    /// silent).
    MediaSecurity {
        /// Call.
        call: CallId,
        /// DTLS-SRTP (true) or plain RTP (false).
        encrypted: bool,
        /// The SRTP profile when encrypted.
        profile: Option<SrtpProfile>,
        /// Our DTLS role when encrypted.
        role: Option<DtlsRole>,
    },
    /// Answered and the winning fork's media verified (or, for a plain-RTP call, answered): the call is up.
    Established {
        /// Call.
        call: CallId,
        /// Fork.
        fork: ForkId,
    },
    /// An authenticated RTP packet.
    Rtp {
        /// Call.
        call: CallId,
        /// The fork whose association authenticated it.
        fork: Option<ForkId>,
        /// SSRC.
        ssrc: u32,
        /// Sequence number.
        seq: u16,
        /// Timestamp.
        ts: u32,
        /// Payload type.
        pt: u8,
        /// Payload.
        payload: Vec<u8>,
        /// Authenticated by keys whose certificate matched the fork's fingerprint. The media port delivers
        /// nothing else (fail closed), so this is true on every DTLS-SRTP call; early SRTP that arrives before
        /// its fingerprint is held back, not played unverified. False only on a plain-RTP call (best effort,
        /// [`Event::MediaSecurity`] `encrypted: false`): nothing authenticated it.
        verified: bool,
    },
    /// A DTMF key press received as RFC 4733 telephone-event packets (W-3): once per press, however many
    /// packets carried it. Telephone-event packets are not reported as [`Event::Rtp`].
    Dtmf {
        /// Call.
        call: CallId,
        /// The key.
        digit: DtmfDigit,
        /// How long the key was held (the event's duration field).
        duration: std::time::Duration,
        /// The final report arrived (false: the event was closed by a later event, a timeout or the hangup).
        ended: bool,
    },
    /// An authenticated RTCP report.
    Stats {
        /// Call.
        call: CallId,
        /// Fork.
        fork: Option<ForkId>,
        /// The report.
        report: RtcpReport,
    },
    /// A reception report block about our media from the peer's SR/RR (RFC 3550 §6.4), with the round-trip
    /// time when the block echoes one of our SRs.
    RtcpReport {
        /// Call.
        call: CallId,
        /// Fork.
        fork: Option<ForkId>,
        /// The block.
        report: ReceptionReport,
    },
    /// An authenticated RTCP BYE from the peer (RFC 3550 §6.6): the listed sources left.
    RtcpBye {
        /// Call.
        call: CallId,
        /// The sources and the reason.
        bye: RtcpBye,
    },
    /// SSRC collision (RFC 3550 §8.2, D-5.1.2d): an authenticated packet used our SSRC; a BYE for `old` went
    /// out and the call now sends as `new` (on all its ports).
    SsrcChanged {
        /// Call.
        call: CallId,
        /// The SSRC given up.
        old: u32,
        /// The new SSRC.
        new: u32,
    },
    /// An early dialog ended (another fork won, or it was cancelled); its associations are closed.
    ForkEnded {
        /// Call.
        call: CallId,
        /// Fork.
        fork: ForkId,
    },
    /// Our re-INVITE ([`Endpoint::reinvite`] / [`Endpoint::rekey`]) or the peer's completed.
    Modified {
        /// Call.
        call: CallId,
        /// A new association was started (renew); false: kept.
        renewed: bool,
    },
    /// Our re-INVITE was refused; the session is unchanged.
    ModifyFailed {
        /// Call.
        call: CallId,
        /// Status.
        status: u16,
    },
    /// The call is over.
    Terminated {
        /// Call.
        call: CallId,
        /// Why.
        reason: EndReason,
    },
    /// The call's security state changed (F-8.0, F-8.1b, F-8.6a): emitted when the call is established and
    /// whenever the peer's identity is (connected identity, I-3) or fails to be verified, or the peer's
    /// fingerprints change mid-call (a new SAS; issue 12 item 3).
    Security {
        /// Call.
        call: CallId,
        /// What the UI shows.
        state: CallSecurityState,
        /// The short authentication string over both fingerprints (F-8.5), once the peer's is known.
        sas: Option<String>,
    },
    /// Continuity (F-8.4b, P-7b): a verified peer identity we knew under another key now presents this one;
    /// or, in a call, an offer or answer changed the peer's fingerprints (RFC 5763 §8, issue 12 item 3).
    PeerKeyChanged {
        /// Call.
        call: CallId,
        /// The identity (normalised orig): the one the call was verified as before the change, else the one
        /// verified now; empty when the peer was never authenticated.
        identity: String,
    },
    /// A media socket is no longer used: close it (never reuse it; bind a fresh one for the pool).
    MediaSocketReleased {
        /// Its local address.
        local: SocketAddr,
    },
    /// ICE ([`Config::ice`]) of a call: a candidate pair was selected (`Some(remote)`), consent for it expired
    /// (RFC 7675: no media is sent until a pair is selected again; `None`), or ICE failed (`None`, `failed`:
    /// the call is hung up).
    Ice {
        /// The call.
        call: CallId,
        /// The selected pair's remote address.
        remote: Option<SocketAddr>,
        /// ICE failed: no pair.
        failed: bool,
    },
    /// REGISTER succeeded.
    Registered {
        /// Registration.
        reg: RegId,
        /// Granted seconds.
        expires: u32,
    },
    /// REGISTER failed.
    RegistrationFailed {
        /// Registration.
        reg: RegId,
        /// Status.
        status: u16,
    },
    /// Fetch the certificate at an Identity header's `info` URL (RFC 8224 §6.2, issue 12 item 7), off the
    /// event loop, and hand the result back with [`Endpoint::certificate_fetched`] by `deadline` (later answers
    /// are still cached but the request waiting for it has already been answered). The endpoint asks only for
    /// URLs its allow-list admits ([`IdentityConfig::info_allow`]), at most two per request, and never twice
    /// for a URL in flight or in its certificate cache. The driver (`dtlsrtp-driver`) and the CLI do this with
    /// the configured [`IdentityConfig::resolver`].
    FetchCertificate {
        /// Echo it in [`Endpoint::certificate_fetched`].
        fetch: FetchId,
        /// The `info` URL.
        url: String,
        /// When the endpoint stops waiting for it.
        deadline: Instant,
    },
    /// Continuity (F-8.4b, P-7b): the peer-key cache learnt a new peer; persist `cache` at `path` (the
    /// configured [`IdentityConfig::peer_keys`]), owner-only and atomically, off the event loop. Each event
    /// carries the whole cache: a later one supersedes an earlier one not yet written. The tokio driver does
    /// it; a failed write only loses continuity.
    StorePeerKeys {
        /// Where ([`IdentityConfig::peer_keys`]).
        path: PathBuf,
        /// Everything to store.
        cache: PeerKeyCache,
    },
    /// A TCP/TLS stream can no longer be framed: close the connection.
    CloseConnection {
        /// TCP or TLS.
        transport: TransportKind,
        /// Peer.
        remote: SocketAddr,
    },
}

/// Misuse of the API (never caused by network input).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such call.
    #[error("unknown call")]
    UnknownCall,
    /// Not in a state for this command.
    #[error("wrong call state")]
    WrongState,
    /// The media socket pool is empty (the driver adds sockets with `add_media_socket`).
    #[error("no free media socket")]
    NoMediaSocket,
    /// The target URI did not parse.
    #[error("bad URI: {0}")]
    Uri(#[from] dtlsrtp_sip::UriError),
    /// The UA refused the command.
    #[error("SIP: {0}")]
    Ua(#[from] dtlsrtp_sip::ua::UaError),
    /// Negotiator configuration error.
    #[error("SDP: {0}")]
    Sdp(#[from] dtlsrtp_sdp::negotiate::ConfigError),
    /// The media port refused.
    #[error("media: {0}")]
    Media(#[from] MediaError),
    /// [`Endpoint::send_dtmf`]: the peer did not negotiate `telephone-event` (RFC 4733) on this call.
    #[error("the peer did not negotiate telephone-event (RFC 4733): DTMF cannot be sent")]
    DtmfNotNegotiated,
    /// [`Endpoint::send_dtmf`]: not a DTMF key (0-9, *, #, A-D).
    #[error("not a DTMF key: {0:?}")]
    InvalidDigit(char),
    /// The certificate's fingerprint could not be computed.
    #[error("certificate: {0}")]
    Certificate(#[from] dtlsrtp_dtls::CertificateError),
}

/// A snapshot of a call's media, for statistics and tests.
#[derive(Debug, Clone)]
pub struct CallStats {
    /// The current media socket.
    pub local: SocketAddr,
    /// Port counters.
    pub counters: PortCounters,
    /// Associations of the current port (fork, remote, role, state, counters).
    pub associations: Vec<AssocInfo>,
    /// Associations with the fork they belong to (endpoint fork ids).
    pub forks: Vec<(Option<ForkId>, SocketAddr)>,
    /// D-3b: associations of the separate RTCP component (a peer that refused rtcp-mux); empty with rtcp-mux.
    pub rtcp_associations: Vec<AssocInfo>,
    /// Media is DTLS-SRTP (false: best effort fell back to plain RTP, NOT encrypted).
    pub encrypted: bool,
    /// The SRTP profile of the verified association, when encrypted.
    pub profile: Option<SrtpProfile>,
    /// Our DTLS role of the verified association, when encrypted.
    pub role: Option<DtlsRole>,
    /// The plain-RTP leg's counters (a plain-RTP call only).
    pub plain: Option<dtlsrtp_session::PlainCounters>,
    /// We hold the call (RFC 3264 §8.4).
    pub on_hold: bool,
    /// The last exchange's directions let us send.
    pub may_send: bool,
    /// The last exchange's directions let us receive.
    pub may_receive: bool,
    /// RTP sends dropped because the direction does not allow sending (recvonly/inactive).
    pub send_blocked: u64,
    /// Received RTP dropped because the direction does not allow receiving (sendonly/inactive).
    pub recv_blocked: u64,
}
