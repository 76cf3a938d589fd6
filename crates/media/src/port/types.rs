//! The port's public value types: identifiers, configuration, peer parameters, events, counters, errors.

use std::net::SocketAddr;
use std::time::Duration;

use dtlsrtp_dtls::{DtlsError, GateState, State as DtlsState};
use dtlsrtp_sdp::Fingerprint;
use dtlsrtp_srtp::{DtlsRole, KeyError, SrtpError, SrtpProfile};

use super::rtp::RtcpReport;
use crate::demux::DropCounters;
use crate::ice::{Candidate, IceCredentials, IceError};

/// A fork (one remote party of a call), named by the signalling layer; shared type (`dtlsrtp-types`).
pub use dtlsrtp_types::ForkId;

/// One DTLS association on the port (internal numbering, never reused within a port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssocId(pub(crate) u32);

/// Configuration of a [`MediaPort`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MediaPortConfig {
    /// The local transport address (the socket the driver bound).
    pub local: SocketAddr,
    /// DTLS configuration (certificate, profiles, timers). The port builds two contexts from it: with the
    /// cookie exchange as configured, and without it for paths ICE has proved.
    pub dtls: dtlsrtp_dtls::Config,
    /// SRTP context configuration (replay window, stream limit).
    pub srtp: dtlsrtp_srtp::Config,
    /// Seed of the port's CSPRNG.
    pub seed: [u8; 32],
    /// RTCP report interval (RFC 3550 §6.2; default 5 s).
    pub rtcp_interval: Duration,
    /// RTP clock rate of the stream, for jitter (default 8000).
    pub clock_rate: u32,
    /// The wall clock at `now` of [`MediaPort::new`] as a 64-bit NTP timestamp (for SR; from the driver, e.g.
    /// [`ntp_from_unix`](super::rtp::ntp_from_unix)). 0 (the default) counts from 0 until
    /// [`MediaPort::set_wall_clock`] gives an anchor. The port never reads the clock itself.
    pub ntp_at_start: u64,
    /// RTCP CNAME. Empty (the default): a random one per port, 128 bits in hex (RFC 7022 §4.2, RFC 3550
    /// §6.5.1). A call that spans several ports (RTCP component, a rekey onto a new port) passes the first
    /// port's [`MediaPort::cname`] here or to [`MediaPort::set_cname`].
    pub cname: String,
    /// Most associations alive at once (default 16). A ClientHello creates one only after its cookie verified
    /// beyond the limit new ClientHellos are refused and no association is evicted.
    pub max_associations: usize,
    /// Most handshakes in progress and bound to no fork from one source IP address (R-1, default 4).
    pub max_handshakes_per_ip: usize,
    /// Most SSRC mappings (default 1024).
    pub max_ssrcs: usize,
    /// An unmapped SSRC failing verification this many times is refused for `ssrc_block_time` (D-5.1.2e).
    pub ssrc_fail_limit: u32,
    /// How long a failing SSRC is refused (default 20 s, D-5.1.2e).
    pub ssrc_block_time: Duration,
    /// T-8a: how long a handshake whose certificate matches no known fork waits for an answer that names it
    /// (default 32 s = Timer B), after which it is discarded.
    pub pending_timeout: Duration,
    /// T-8a: most such pending associations at once (default 8) and per source IP (default 4). Beyond, the
    /// oldest pending one of the source IP holding the most is discarded.
    pub max_pending: usize,
    /// See [`Self::max_pending`].
    pub max_pending_per_ip: usize,
    /// Make-before-break rekey (F-6.8, D-4.3, T-5.5c; default 2 s): once a newer association of a fork is
    /// verified, sending switches to it at once, while the older ones keep decrypting (and only decrypting)
    /// for this long, so packets the peer sent under the old keys and still in flight or reordered around
    /// the switch are not lost. The grace is counted from the new association's verification, and again
    /// from the first packet it authenticates when that comes later (the peer switched late). At its end the
    /// old association is closed ([`CloseReason::Superseded`]); [`MediaPort::poll_timeout`] includes it.
    pub rekey_grace: Duration,
    /// Proactive rekey on a timer (default `None`): this long after an association was verified the port
    /// emits [`MediaEvent::RekeyDue`] with [`RekeyReason::Interval`] (once per association).
    pub rekey_interval: Option<Duration>,
}

impl MediaPortConfig {
    /// Defaults for a port at `local` with DTLS configuration `dtls` and CSPRNG seed `seed`.
    pub fn new(local: SocketAddr, dtls: dtlsrtp_dtls::Config, seed: [u8; 32]) -> Self {
        Self {
            local,
            dtls,
            srtp: dtlsrtp_srtp::Config::default(),
            seed,
            rtcp_interval: Duration::from_secs(5),
            clock_rate: 8000,
            ntp_at_start: 0,
            cname: String::new(),
            max_associations: 16,
            max_handshakes_per_ip: 4,
            max_ssrcs: 1024,
            ssrc_fail_limit: 16,
            ssrc_block_time: Duration::from_secs(20),
            pending_timeout: Duration::from_secs(32),
            max_pending: 8,
            max_pending_per_ip: 4,
            rekey_grace: Duration::from_secs(2),
            rekey_interval: None,
        }
    }
}

/// ICE parameters of the remote side (from its SDP).
#[derive(Clone, Debug)]
pub struct RemoteIce {
    /// `a=ice-ufrag` / `a=ice-pwd`.
    pub credentials: IceCredentials,
    /// `a=candidate` lines.
    pub candidates: Vec<Candidate>,
}

/// What the signalling layer learnt about one fork from its SDP (an offer or answer).
#[derive(Clone, Debug)]
pub struct PeerParams {
    /// The signalled media address (`c=` and `m=` port), if any.
    pub addr: Option<SocketAddr>,
    /// Our DTLS role for this fork (`a=setup:active` → client).
    pub role: DtlsRole,
    /// The peer's `a=fingerprint` set (P-5.1d selection happens in the gate).
    pub fingerprints: Vec<Fingerprint>,
    /// Keep the running association or start a new one (from the negotiator).
    pub association: dtlsrtp_sdp::Association,
    /// The peer's ICE parameters when ICE is in use.
    pub ice: Option<RemoteIce>,
}

/// Our DTLS role from the negotiator's handshake role.
#[must_use]
pub fn dtls_role(role: dtlsrtp_sdp::HandshakeRole) -> DtlsRole {
    match role {
        dtlsrtp_sdp::HandshakeRole::Client => DtlsRole::Client,
        dtlsrtp_sdp::HandshakeRole::Server => DtlsRole::Server,
    }
}

/// A datagram to send from the port's socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub remote: SocketAddr,
    /// Payload.
    pub bytes: Vec<u8>,
}

/// An authenticated RTP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedRtp {
    /// The association whose keys authenticated it.
    pub assoc: AssocId,
    /// Its fork.
    pub fork: Option<ForkId>,
    /// Source transport address.
    pub remote: SocketAddr,
    /// SSRC.
    pub ssrc: u32,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Payload type.
    pub payload_type: u8,
    /// Marker bit.
    pub marker: bool,
    /// Payload (padding removed).
    pub payload: Vec<u8>,
}

/// Why an association closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer sent close_notify.
    PeerClosed,
    /// Closed by a command ([`MediaPort::close_fork`]).
    Local,
    /// A newer association of the same fork carries traffic (T-5.5c).
    Superseded,
    /// Its certificate matched no fingerprint (F-5.15, T-8a); a fatal bad_certificate (42) alert went to the
    /// peer (P-6.2b), in the handshake or after it.
    FingerprintMismatch,
    /// The DTLS handshake or association failed.
    Failed(DtlsError),
}

/// What the port tells its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// A DTLS handshake completed (keys exist but may still wait behind the fingerprint gate).
    DtlsConnected {
        /// Association.
        assoc: AssocId,
        /// Remote address (the 5-tuple the handshake ran on).
        remote: SocketAddr,
        /// Negotiated profile.
        profile: SrtpProfile,
    },
    /// The association's certificate matched the fork's fingerprint: media flows (latched to `remote`).
    FingerprintVerified {
        /// Association.
        assoc: AssocId,
        /// Fork.
        fork: ForkId,
        /// Where media for the fork goes from now on.
        remote: SocketAddr,
    },
    /// The certificate does not match the fingerprints of the fork whose media the association belongs to (a
    /// fork of our DTLS client, a renewed fork's re-check, or the handshake from the signalled address of a
    /// final answer): the association is torn down (F-5.15). An association that no fork vouches for and
    /// whose certificate matches nothing is not reported here: it is discarded and counted
    /// ([`PortCounters::unmatched_discarded`]).
    FingerprintMismatch {
        /// Association.
        assoc: AssocId,
        /// The fork it was checked against (None only from older callers' paths; see above).
        fork: Option<ForkId>,
        /// Remote address.
        remote: SocketAddr,
    },
    /// An association closed; its SSRC mappings are gone.
    AssociationClosed {
        /// Association.
        assoc: AssocId,
        /// Its fork.
        fork: Option<ForkId>,
        /// Why.
        reason: CloseReason,
    },
    /// An authenticated RTP packet.
    Rtp(ReceivedRtp),
    /// An authenticated RTCP SR or RR.
    Rtcp {
        /// Association.
        assoc: AssocId,
        /// Its fork.
        fork: Option<ForkId>,
        /// The report.
        report: RtcpReport,
    },
    /// A rekey was requested: the signalling layer should send a re-offer that renews the association.
    RekeyNeeded {
        /// Fork.
        fork: ForkId,
    },
    /// The keys of `assoc` should be replaced soon (D-4.4, F-6.8): the signalling layer answers with a
    /// renewing re-offer (new `a=tls-id`, T-5.5a) exactly as for [`MediaEvent::RekeyNeeded`] (or calls
    /// [`MediaPort::request_rekey`]). Emitted once per association, never for one already superseded. With
    /// [`RekeyReason::KeyLimit`] the keys still work for at least 2^16 packets (or 1/8 of a configured
    /// lifetime); at the limit itself the SRTP layer refuses to protect ([`MediaError::Srtp`]) rather than
    /// reuse a key.
    RekeyDue {
        /// Fork.
        fork: ForkId,
        /// The association whose keys are due.
        assoc: AssocId,
        /// Why.
        reason: RekeyReason,
    },
    /// A report block about our stream in an authenticated SR/RR (RFC 3550 §6.4): what the peer received of
    /// what we sent. (The raw report is in [`MediaEvent::Rtcp`] too.)
    RtcpReport {
        /// Association.
        assoc: AssocId,
        /// Its fork.
        fork: Option<ForkId>,
        /// The block, with the round-trip time when computable.
        report: ReceptionReport,
    },
    /// An authenticated RTCP BYE (RFC 3550 §6.6): the listed remote sources left.
    RtcpBye {
        /// Association.
        assoc: AssocId,
        /// Its fork.
        fork: Option<ForkId>,
        /// The sources and the reason.
        bye: super::rtp::RtcpBye,
    },
    /// SSRC collision (RFC 3550 §8.2, D-5.1.2d): an authenticated packet from `remote` used our SSRC. A BYE
    /// for `old` went out on every keyed association and we now send as `new` (sequence numbers and the
    /// SR counts continue/restart as for a new source).
    SsrcChanged {
        /// The SSRC we gave up.
        old: u32,
        /// The new random SSRC.
        new: u32,
        /// Where the colliding packet came from.
        remote: SocketAddr,
    },
    /// ICE selected (or moved to) a pair.
    IceSelected {
        /// Remote address of the pair.
        remote: SocketAddr,
    },
    /// ICE consent expired (RFC 7675): no media is sent until a pair is selected again.
    IceConsentExpired {
        /// Remote address of the pair.
        remote: SocketAddr,
    },
    /// ICE failed: no pair.
    IceFailed,
}

/// One report block about our stream, as received (RFC 3550 §6.4.1), for [`MediaEvent::RtcpReport`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceptionReport {
    /// The reporter (the remote source that sent the SR/RR).
    pub reporter_ssrc: u32,
    /// The source reported on (our SSRC; on an RTCP-component port, the RTP port's SSRC).
    pub ssrc: u32,
    /// Fraction of our packets lost since the reporter's previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (may be negative with duplicates).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter_ts: u32,
    /// The same at [`MediaPortConfig::clock_rate`].
    pub jitter: Duration,
    /// Round-trip time (RFC 3550 §6.4.1: arrival − LSR − DLSR), when the block echoes one of our SRs.
    /// Meaningful across two ports (non-muxed RTCP) only when both have the same wall-clock anchor.
    pub rtt: Option<Duration>,
}

/// How RTCP travels for a port (RFC 5761 rtcp-mux, or RFC 3550 §11 / RFC 5764 §4.1 on a second component with
/// its own DTLS association). Set with [`MediaPort::set_rtcp_mux`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpMux {
    /// rtcp-mux (default): SR/RR/SDES/BYE are SRTCP-protected with the RTP association's keys and sent on
    /// this port.
    #[default]
    Muxed,
    /// This port carries the RTP component of a call without rtcp-mux: the RTCP it builds (reports, BYE) is
    /// handed to the owner in the clear ([`MediaPort::poll_rtcp`]) to be sent with
    /// [`MediaPort::send_rtcp`] on the RTCP component's port; SRs received there go back through
    /// [`MediaPort::note_remote_rtcp`] (for LSR/DLSR).
    RtpComponent,
    /// This port is the RTCP component (remote port from `a=rtcp:` or RTP port + 1): it sends no reports of
    /// its own, protects what [`MediaPort::send_rtcp`] gives it with its own association's SRTCP keys, and
    /// reports what it receives ([`MediaEvent::Rtcp`], [`MediaEvent::RtcpReport`] for every block,
    /// [`MediaEvent::RtcpBye`]).
    RtcpComponent,
}

/// Why [`MediaEvent::RekeyDue`] was emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RekeyReason {
    /// The SRTP (packet index towards 2^48) or SRTCP (towards 2^31) usage of the sending or receiving key,
    /// or a lower lifetime configured in [`MediaPortConfig::srtp`], is within its margin (D-4.4).
    KeyLimit,
    /// [`MediaPortConfig::rekey_interval`] elapsed since the association was verified.
    Interval,
}

/// Counters of one association.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssocCounters {
    /// SRTP packets authenticated and delivered.
    pub packets_in: u64,
    /// Their octets (as received, protected).
    pub bytes_in: u64,
    /// SRTP packets sent.
    pub packets_out: u64,
    /// Their octets (protected).
    pub bytes_out: u64,
    /// RTP payload octets sent (for the SR octet count).
    pub payload_out: u64,
    /// SRTCP packets authenticated.
    pub rtcp_in: u64,
    /// SRTCP packets sent.
    pub rtcp_out: u64,
    /// Packets mapped to this association that failed authentication.
    pub auth_failures: u64,
    /// Replayed or too old packets.
    pub replays: u64,
    /// Packets for this association dropped for another reason (no keys yet, malformed, limits).
    pub drops: u64,
}

/// Counters of the port as a whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Demultiplexer drops (M-7b).
    pub demux: DropCounters,
    /// SRTP/SRTCP received while no association had keys (D-5.1).
    pub srtp_before_keys: u64,
    /// SRTP/SRTCP with an unmapped SSRC that no association authenticated (D-5.1.2b).
    pub unknown_ssrc_dropped: u64,
    /// SRTP/SRTCP refused without trying, its SSRC having failed too often (D-5.1.2e).
    pub ssrc_refused: u64,
    /// Malformed RTP/RTCP after decryption, or too short to carry an SSRC.
    pub malformed_media: u64,
    /// DTLS datagrams from an address with no association that could not start one (not a ClientHello, not
    /// listening, or not an ICE-valid pair).
    pub dtls_refused: u64,
    /// Always 0 since R-1: no handshake is evicted to make room (kept for compatibility; see
    /// `handshakes_refused`).
    pub handshakes_evicted: u64,
    /// ClientHellos without a valid cookie answered statelessly with a HelloVerifyRequest; no state was created
    /// (R-1, RFC 6347 §4.2.1).
    pub hello_verify_sent: u64,
    /// Of those, ClientHellos that carried a cookie that did not verify (forged, stale, or for another address).
    pub hello_bad_cookie: u64,
    /// DTLS handshake datagrams from an address with no association that are not a parsable ClientHello first
    /// fragment: dropped.
    pub hello_malformed: u64,
    /// ClientHellos with a valid cookie (or on an ICE-valid pair) refused because the source IP already has
    /// `max_handshakes_per_ip` unbound handshakes or the port has `max_associations`.
    pub handshakes_refused: u64,
    /// Completed associations whose certificate matched no fingerprint and that no fork's signalled media
    /// address vouches for (a stranger, or a fork that never answered), or refused inside the handshake with
    /// bad_certificate (P-6.2b) for that reason: discarded without ending anything
    /// (T-8a, F-5.15), once no more answers can come, after [`MediaPortConfig::pending_timeout`], or beyond
    /// [`MediaPortConfig::max_pending`].
    pub unmatched_discarded: u64,
    /// STUN messages answered without ICE (F-6.7.2b).
    pub stun_answered: u64,
    /// STUN messages refused (bad encoding, integrity, fingerprint).
    pub stun_bad: u64,
    /// `send_rtp` calls refused because no keys exist (fail closed).
    pub send_refused: u64,
    /// SRTP/SRTCP packets that no keyed association authenticated, held while an association from the same
    /// remote was still handshaking (a renewal, F-6.8) and retried once it was keyed.
    pub held: u64,
    /// Packets held for a renewing association (F-6.8) and dropped because the hold buffer was full.
    pub held_dropped: u64,
    /// RTCP BYE packets sent (one per association, [`MediaPort::send_bye`], [`MediaPort::close_fork`], an SSRC
    /// change).
    pub bye_sent: u64,
    /// Times our SSRC changed after a collision (RFC 3550 §8.2, [`MediaEvent::SsrcChanged`]).
    pub ssrc_changes: u64,
}

/// Errors of the port's commands. A refused command leaves the port unchanged.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// No such fork.
    #[error("unknown fork")]
    UnknownFork,
    /// No verified association for the fork: nothing is sent before keys exist (fail closed).
    #[error("no keys for this fork yet")]
    NotSecured,
    /// ICE has no selected pair (or consent expired).
    #[error("no ICE path")]
    NoPath,
    /// The association limit is reached.
    #[error("too many associations")]
    TooManyAssociations,
    /// The fork has no remote address to start a DTLS client towards.
    #[error("no remote address")]
    NoRemoteAddress,
    /// ICE is not enabled on this port.
    #[error("ICE is not enabled")]
    IceNotEnabled,
    /// DTLS setup failed.
    #[error("DTLS: {0}")]
    Dtls(#[from] DtlsError),
    /// SRTP refused the packet (e.g. key exhausted).
    #[error("SRTP: {0}")]
    Srtp(#[from] SrtpError),
    /// SRTP key setup failed.
    #[error("SRTP keys: {0}")]
    Key(#[from] KeyError),
    /// ICE refused the parameters.
    #[error("ICE: {0}")]
    Ice(#[from] IceError),
}

/// A snapshot of one association, for diagnostics and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssocInfo {
    /// Id.
    pub id: AssocId,
    /// Fork it is bound to (None until a fingerprint matched).
    pub fork: Option<ForkId>,
    /// Remote transport address.
    pub remote: SocketAddr,
    /// Our DTLS role.
    pub role: DtlsRole,
    /// DTLS state.
    pub dtls: DtlsState,
    /// Gate state.
    pub gate: GateState,
    /// Remote SSRCs mapped to it.
    pub ssrcs: Vec<u32>,
    /// Counters.
    pub counters: AssocCounters,
}
