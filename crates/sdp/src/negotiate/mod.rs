//! The DTLS-SRTP offer/answer negotiator (RFC 5763 as updated by RFC 8842; RFC 8122; RFC 5939; RFC 3264).
//!
//! One [`Negotiator`] per SIP dialog (clone it per early dialog when an INVITE forks, T-8a). It makes offers
//! ([`Negotiator::create_offer`] → SDP + [`PendingOffer`]), answers offers ([`Negotiator::answer`]), applies
//! answers to the offer they answer ([`Negotiator::apply_answer`]), and after every completed offer/answer
//! reports per m-line a [`MediaOutcome`]: both DTLS roles, the remote fingerprints to expect, the tls-ids, and
//! the explicit keep/renew decision ([`Association`]).

mod answer;
mod assoc;
mod codec;
mod offer;

use crate::attr::{Candidate, Direction, Proto, Setup, TlsId};
use crate::fingerprint::{preferred_set, Fingerprint, HashFunction};
use crate::model::Sdp;
use dtlsrtp_types::Rng;

pub use assoc::{decide, AssocSnapshot, Association, HandshakeRole, NewReason};
pub use codec::Codec;

/// RTP profile of our DTLS m-lines: `UDP/TLS/RTP/SAVP` or `UDP/TLS/RTP/SAVPF` (D-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Profile {
    /// `UDP/TLS/RTP/SAVP` (what RFC 5763 §7 shows).
    #[default]
    Savp,
    /// `UDP/TLS/RTP/SAVPF` (baresip's and WebRTC's choice).
    Savpf,
}

impl Profile {
    pub(crate) fn proto(self) -> Proto {
        match self {
            Self::Savp => Proto::UdpTlsRtpSavp,
            Self::Savpf => Proto::UdpTlsRtpSavpf,
        }
    }
}

/// Our setup when answering an `actpass` offer with a new association (F-5.10, requirements §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AnswerSetup {
    /// `active` (default): we send the ClientHello at once, which also allows early media (F-6.2).
    #[default]
    Active,
    /// `passive`.
    Passive,
}

/// Whether plain RTP may be the outcome of a best-effort offer or of a plain RTP/AVP offer (B-3, R-ALLOW-RTP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RtpPolicy {
    /// Only DTLS-SRTP (default): plain RTP answers and offers are refused.
    #[default]
    SecureOnly,
    /// Plain RTP is accepted when the peer cannot do DTLS-SRTP (R-ALLOW-RTP, B-3).
    AllowRtp,
}

/// What the answerer does with a DTLS m-line it cannot accept (holdconn, no fingerprint; T-5.1b, F-5.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RejectPolicy {
    /// Reject that m-line with port 0 (default; RFC 3264 §6).
    #[default]
    RejectMediaLine,
    /// Refuse the whole offer ([`OfferError::Refused`], SIP 488).
    RefuseOffer,
}

/// Our ICE parameters (RFC 8839). Credentials: ufrag ≥ 4 and pwd ≥ 22 ice-chars (Chromium enforces both).
/// `Debug` redacts the password.
#[derive(Clone, PartialEq, Eq)]
pub struct IceConfig {
    /// `a=ice-ufrag`.
    pub ufrag: String,
    /// `a=ice-pwd`.
    pub pwd: String,
    /// `a=ice-lite` at session level.
    pub lite: bool,
    /// `a=ice-options` tokens (e.g. `trickle`).
    pub options: Vec<String>,
    /// `a=candidate` values (the text after `candidate:`), written on every m-line we accept.
    pub candidates: Vec<String>,
    /// Write `a=end-of-candidates`.
    pub end_of_candidates: bool,
}

impl core::fmt::Debug for IceConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IceConfig")
            .field("ufrag", &self.ufrag)
            .field("pwd", &"<redacted>")
            .field("lite", &self.lite)
            .field("options", &self.options)
            .field("candidates", &self.candidates)
            .field("end_of_candidates", &self.end_of_candidates)
            .finish()
    }
}

/// Negotiator configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Our media address (`c=` and `o=`).
    pub address: std::net::IpAddr,
    /// Our certificate's fingerprints. Must include sha-256 (P-5.1b); more hash functions by configuration.
    pub fingerprints: Vec<Fingerprint>,
    /// SAVP or SAVPF.
    pub profile: Profile,
    /// Answer to `actpass` with a new association.
    pub answer_setup: AnswerSetup,
    /// Plain RTP policy (B-3).
    pub rtp_policy: RtpPolicy,
    /// Holdconn / missing fingerprint handling.
    pub reject_policy: RejectPolicy,
    /// ICE on (Some) or off.
    pub ice: Option<IceConfig>,
    /// Offer best effort: RTP/AVP actual configuration with `a=tcap`/`a=pcfg` for DTLS-SRTP (B-1, F-6.11).
    pub best_effort: bool,
    /// `a=ptime` on our media lines.
    pub ptime: Option<u32>,
    /// Refuse new associations a re-offer asks for: the m-line is rejected with port 0 (T-5.3b). Off by
    /// default.
    pub refuse_new_association: bool,
}

impl Config {
    /// A configuration with defaults: SAVP, answer active, secure-only, reject the m-line, no ICE, no best
    /// effort, no ptime.
    pub fn new(address: std::net::IpAddr, fingerprints: Vec<Fingerprint>) -> Self {
        Self {
            address,
            fingerprints,
            profile: Profile::default(),
            answer_setup: AnswerSetup::default(),
            rtp_policy: RtpPolicy::default(),
            reject_policy: RejectPolicy::default(),
            ice: None,
            best_effort: false,
            ptime: None,
            refuse_new_association: false,
        }
    }
}

/// One local media stream to offer or to answer with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalMedia {
    /// `audio`, `video`, ...
    pub kind: String,
    /// Our RTP port (T-5.1a: give a fresh port when asking for a new association).
    pub port: u16,
    /// Codecs in preference order.
    pub codecs: Vec<Codec>,
    /// Direction we want.
    pub direction: Direction,
    /// `a=mid` to offer (needed for BUNDLE).
    pub mid: Option<String>,
}

/// Whether a (re-)offer keeps the running associations (T-5.5b) or asks for new ones (T-5.5a).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Renew {
    /// Keep every association that exists (same tls-id and fingerprints).
    #[default]
    Keep,
    /// A fresh tls-id on every m-line: new associations (give new ports too, T-5.1a).
    All,
}

/// Configuration mistakes (our side, not the peer's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No sha-256 fingerprint configured (P-5.1b).
    #[error("no sha-256 fingerprint configured")]
    NoSha256Fingerprint,
    /// An md5/md2 fingerprint configured (P-5c).
    #[error("md5/md2 fingerprints are never used")]
    ForbiddenHash,
    /// No media to offer.
    #[error("nothing to offer")]
    NoMedia,
    /// A media stream has no codec.
    #[error("media without codecs")]
    NoCodecs,
    /// ICE ufrag shorter than 4 or password shorter than 22 characters, or either longer than 256
    /// (RFC 8839 §5.4; Chromium rejects short ones).
    #[error("ICE ufrag must have 4..=256 and pwd 22..=256 ice-chars")]
    IceCredentials,
    /// A configured value does not form a valid SDP line (ICE credentials, codec names, mids, candidates).
    #[error("configured value is not valid SDP: {0}")]
    Invalid(crate::attr::LineError),
}

/// Why an m-line was rejected (port 0) or an offer refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// The m-line had port 0.
    PortZero,
    /// `a=setup:holdconn` on a DTLS m-line (T-5.1b).
    HoldConn,
    /// No `a=fingerprint` applies to a DTLS m-line (F-5.13).
    MissingFingerprint,
    /// Fingerprints only in hash functions we never use or do not know (P-5c, P-5.1e).
    NoUsableFingerprint,
    /// No codec in common.
    NoCommonCodec,
    /// We have no local stream of that media type.
    NoLocalMedia,
    /// Plain RTP under the secure-only policy (B-3).
    PlainRtpNotAllowed,
    /// SDES (`RTP/SAVP` with `a=crypto`) is recognised but not supported.
    SdesNotSupported,
    /// A transport protocol we do not do.
    UnsupportedProto,
    /// The offer asked for a new association and [`Config::refuse_new_association`] is set (T-5.3b).
    NewAssociationRefused,
}

/// Errors answering an offer. [`OfferError::sip_status`] gives the SIP response code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OfferError {
    /// The offer was refused because of m-line `media` (policy [`RejectPolicy::RefuseOffer`]).
    #[error("offer refused: m-line {media}: {reason:?}")]
    Refused {
        /// Index of the m-line.
        media: usize,
        /// Why.
        reason: RejectReason,
    },
    /// Every m-line would be rejected; the first reason is given.
    #[error("nothing acceptable in the offer: {0:?}")]
    NothingAcceptable(RejectReason),
    /// We have an offer of our own outstanding (RFC 3264 §4 glare).
    #[error("offer while our own offer is pending")]
    Glare,
    /// Our configuration is wrong.
    #[error("{0}")]
    Config(#[from] ConfigError),
}

impl OfferError {
    /// The SIP status code to answer with: 488 Not Acceptable Here, 491 Request Pending, 500.
    pub fn sip_status(&self) -> u16 {
        match self {
            Self::Refused { .. } | Self::NothingAcceptable(_) => 488,
            Self::Glare => 491,
            Self::Config(_) => 500,
        }
    }
}

/// Errors applying an answer. The offer stays pending ([`AnswerRejected::into_pending`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// The token is not this negotiator's, or a newer offer replaced it.
    #[error("answer applied to an offer that is not the pending one")]
    StaleOffer,
    /// The answer has a different number of m-lines (RFC 3264 §6).
    #[error("answer has {answered} m-lines, offer had {offered}")]
    MediaCount {
        /// m-lines offered.
        offered: usize,
        /// m-lines answered.
        answered: usize,
    },
    /// The answer's media type or proto does not fit what we offered.
    #[error("m-line {0}: answer's proto does not fit the offer")]
    ProtoMismatch(usize),
    /// `actpass` or `holdconn` in an answer (F-5.9, T-5.1b).
    #[error("m-line {media}: a=setup:{} is not allowed in an answer", setup.name())]
    BadSetup {
        /// m-line.
        media: usize,
        /// What it said.
        setup: Setup,
    },
    /// No usable fingerprint for a DTLS m-line (F-5.13, P-5c).
    #[error("m-line {0}: no usable a=fingerprint")]
    MissingFingerprint(usize),
    /// Plain RTP answer under the secure-only policy (B-3).
    #[error("m-line {0}: plain RTP answer refused by policy")]
    PlainRtpNotAllowed(usize),
    /// `a=acfg` names a configuration we did not offer.
    #[error("m-line {0}: a=acfg does not match our a=pcfg")]
    UnknownConfiguration(usize),
}

/// An answer that could not be applied, with the pending offer handed back (state unchanged).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct AnswerRejected {
    /// Why.
    pub error: AnswerError,
    pending: PendingOffer,
}

impl AnswerRejected {
    /// The still-pending offer, e.g. to apply a later, valid answer.
    pub fn into_pending(self) -> PendingOffer {
        self.pending
    }
}

/// The remote ICE parameters of an m-line. `Debug` redacts the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteIce {
    /// ufrag.
    pub ufrag: String,
    /// pwd.
    pub pwd: String,
    /// The peer is ICE-lite.
    pub lite: bool,
    /// Candidates.
    pub candidates: Vec<Candidate>,
    /// `a=end-of-candidates` seen.
    pub end_of_candidates: bool,
}

impl core::fmt::Debug for RemoteIce {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RemoteIce")
            .field("ufrag", &self.ufrag)
            .field("pwd", &"<redacted>")
            .field("lite", &self.lite)
            .field("candidates", &self.candidates)
            .field("end_of_candidates", &self.end_of_candidates)
            .finish()
    }
}

/// A negotiated DTLS-SRTP m-line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DtlsMedia {
    /// Our negotiated `a=setup` (`active` or `passive`).
    pub local_setup: Setup,
    /// The peer's `a=setup` as sent (`actpass` when the peer offered).
    pub remote_setup: Setup,
    /// Our DTLS role.
    pub local_role: HandshakeRole,
    /// The peer's fingerprints with a known hash (media level overrides session level, P-5d).
    pub remote_fingerprints: Vec<Fingerprint>,
    /// Our tls-id as sent (None when answering a legacy offer, T-5.3d).
    pub local_tls_id: Option<TlsId>,
    /// The peer's tls-id (None: legacy peer).
    pub remote_tls_id: Option<TlsId>,
    /// Keep or renew.
    pub association: Association,
    /// Negotiated proto.
    pub proto: Proto,
    /// Codecs in common (the offerer's payload types).
    pub codecs: Vec<Codec>,
    /// RTP and RTCP share one port and one association (RFC 5761).
    pub rtcp_mux: bool,
    /// The peer's connection address.
    pub remote_address: Option<String>,
    /// The peer's RTP port.
    pub remote_port: u16,
    /// The peer's RTCP port (`a=rtcp`, else port + 1 without mux).
    pub remote_rtcp_port: Option<u16>,
    /// The peer's ICE parameters.
    pub remote_ice: Option<RemoteIce>,
    /// DTLS was selected through capability negotiation (RFC 5939, B-2).
    pub capneg: bool,
}

impl DtlsMedia {
    /// The peer's DTLS role.
    pub fn remote_role(&self) -> HandshakeRole {
        self.local_role.peer()
    }

    /// The fingerprints the peer's certificate must match (P-5.1d): every fingerprint in our most preferred
    /// hash function among those the peer sent; md5/md2 never count (P-5c). Empty → no connection (P-5.1e).
    pub fn expected_fingerprints(&self) -> Vec<&Fingerprint> {
        preferred_set(&self.remote_fingerprints)
    }

    /// Checks a peer certificate: `digest(h)` returns the certificate's digest under `h` (the DTLS crate hashes
    /// the DER). True when it matches one fingerprint of the preferred set (P-5.1d, F-5.14).
    pub fn verify(&self, digest: &mut dyn FnMut(HashFunction) -> Option<Vec<u8>>) -> bool {
        let set = self.expected_fingerprints();
        let Some(hash) = set.first().map(|f| f.hash()) else {
            return false;
        };
        let Some(d) = digest(hash) else {
            return false;
        };
        set.iter().any(|f| f.digest() == d.as_slice())
    }
}

/// A negotiated plain-RTP m-line (best effort fell back, allowed by [`RtpPolicy::AllowRtp`]; B-3, B-4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlainRtpMedia {
    /// Codecs in common.
    pub codecs: Vec<Codec>,
    /// The peer's address.
    pub remote_address: Option<String>,
    /// The peer's port.
    pub remote_port: u16,
}

/// The result for one m-line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaState {
    /// DTLS-SRTP.
    Dtls(Box<DtlsMedia>),
    /// Plain RTP (policy allowed it).
    PlainRtp(PlainRtpMedia),
    /// Rejected (port 0).
    Rejected(RejectReason),
}

/// The outcome of one m-line of a completed offer/answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaOutcome {
    /// m-line index.
    pub index: usize,
    /// `a=mid`, if any.
    pub mid: Option<String>,
    /// What was negotiated.
    pub state: MediaState,
}

impl MediaOutcome {
    /// The DTLS parameters, if DTLS-SRTP was negotiated.
    pub fn dtls(&self) -> Option<&DtlsMedia> {
        match &self.state {
            MediaState::Dtls(d) => Some(d),
            _ => None,
        }
    }
}

/// What we offered on one m-line (kept in the pending offer).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Offered {
    local: LocalMedia,
    tls_id: TlsId,
    best_effort: bool,
    ice_ufrag: Option<String>,
}

/// The token of an outstanding offer: [`Negotiator::apply_answer`] takes it by value, so an answer can only be
/// applied to the offer it answers, once. Not `Clone`; for a forked INVITE use [`PendingOffer::fork`].
#[derive(Debug, PartialEq, Eq)]
pub struct PendingOffer {
    negotiator: u64,
    serial: u64,
    offer: Sdp,
    offered: Vec<Offered>,
}

impl PendingOffer {
    /// The offer this token stands for.
    pub fn offer(&self) -> &Sdp {
        &self.offer
    }

    /// A second token for the same offer, for another early dialog of a forked INVITE (RFC 5763 §6.3, T-8a).
    /// Apply it to a clone of the negotiator taken before the first answer was applied.
    pub fn fork(&self) -> Self {
        Self {
            negotiator: self.negotiator,
            serial: self.serial,
            offer: self.offer.clone(),
            offered: self.offered.clone(),
        }
    }
}

/// The answer we produced and what it negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The answer body.
    pub sdp: Sdp,
    /// Per m-line outcome.
    pub media: Vec<MediaOutcome>,
}

/// The state of one m-line after the last completed offer/answer.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Current {
    snapshot: AssocSnapshot,
    local: LocalMedia,
}

/// The offer/answer state machine of one SIP dialog (see the module docs).
#[derive(Clone, Debug)]
pub struct Negotiator {
    config: Config,
    id: u64,
    session_id: u64,
    version: u64,
    next_serial: u64,
    outstanding: Option<u64>,
    current: Vec<Option<Current>>,
}

impl Negotiator {
    /// A negotiator. `rng` is the endpoint's CSPRNG (session id and token id; tls-ids come from the `rng`
    /// given to each offer/answer).
    pub fn new(config: Config, rng: &mut dyn Rng) -> Result<Self, ConfigError> {
        validate(&config)?;
        let mut b = [0u8; 16];
        rng.fill(&mut b);
        let (id, sid) = b.split_at(8);
        let id = u64::from_be_bytes(id.try_into().unwrap_or([0; 8]));
        let session_id = u64::from_be_bytes(sid.try_into().unwrap_or([0; 8])) >> 2;
        Ok(Self {
            config,
            id,
            session_id,
            version: 0,
            next_serial: 1,
            outstanding: None,
            current: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Replaces the configuration (e.g. a new certificate, which renews every association on the next offer,
    /// or new ICE credentials for an ICE restart, which alone keeps them, T-3.3).
    pub fn set_config(&mut self, config: Config) -> Result<(), ConfigError> {
        validate(&config)?;
        self.config = config;
        Ok(())
    }

    /// Whether one of our offers awaits its answer.
    pub fn has_pending_offer(&self) -> bool {
        self.outstanding.is_some()
    }

    /// Withdraws our pending offer (e.g. after a 491 or a failure response); its token becomes stale.
    pub fn cancel_offer(&mut self) {
        self.outstanding = None;
    }
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    if config.fingerprints.iter().any(|f| !f.hash().is_allowed()) {
        return Err(ConfigError::ForbiddenHash);
    }
    if !config
        .fingerprints
        .iter()
        .any(|f| f.hash() == HashFunction::Sha256)
    {
        return Err(ConfigError::NoSha256Fingerprint);
    }
    if let Some(ice) = &config.ice {
        let chars = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        };
        let ok = (4..=256).contains(&ice.ufrag.len())
            && (22..=256).contains(&ice.pwd.len())
            && chars(&ice.ufrag)
            && chars(&ice.pwd);
        if !ok {
            return Err(ConfigError::IceCredentials);
        }
    }
    Ok(())
}
