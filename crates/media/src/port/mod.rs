//! One media port (ARCHITECTURE §3–§4): one local UDP port carrying STUN, DTLS, SRTP and SRTCP for any number of
//! remotes (forks), sans-IO.
//!
//! - Demultiplexing by first byte (M-7, [`crate::demux`]); bad datagrams are dropped and counted.
//! - One DTLS [`Association`], one [`FingerprintGate`] and one pair of SRTP contexts per remote transport
//!   address (A-R-DISTINCT). Associations are created for a ClientHello from a new address while the port
//!   listens (F-5.8, P-6.2c), or towards a signalled address when we are the DTLS client.
//! - Fingerprint binding per fork (RFC 5763 §6.3, F-6.3): a fork's fingerprints are matched against each
//!   association's certificate. A certificate that matches no fork is declared a mismatch only once the
//!   signalling layer said no further answer can come (T-8a, [`MediaPort::set_more_answers`]), otherwise at once
//!   (F-5.15).
//! - SRTP: SSRC → association table; an unknown SSRC is tried against every keyed association and mapped on
//!   success (D-5.1.2b); mappings go when an association closes (D-5.1.2c); an SSRC that keeps failing is
//!   refused for a while (D-5.1.2e). Nothing is sent before keys exist and nothing is delivered before the
//!   fingerprint vouched for the peer (D-5.1, fail closed).
//! - Latching: media goes to the address the authenticated association's first datagram came from (the
//!   ClientHello's 5-tuple), never to an address only signalled.
//! - STUN: with ICE the [`IceAgent`] answers and checks; DTLS is accepted only on valid pairs and the cookie
//!   exchange is skipped there (the path is proved). Without ICE: unauthenticated Binding requests are answered
//!   (F-6.7.2b); a passive side whose handshake has not completed when the peer's SDP arrives sends one Binding
//!   request (F-6.7.2a).
//! - Keep/renew ([`dtlsrtp_sdp::Association`]): `New` starts a new association; the old one keeps receiving (and
//!   sending until the new one is keyed) and closes once the new one carries traffic (T-5.5c). Rekeying is a
//!   request for a new offer ([`MediaEvent::RekeyNeeded`]); DTLS renegotiation is never started and the DTLS
//!   layer refuses a peer's attempt (`SSL_OP_NO_RENEGOTIATION`).
//! - RTP/RTCP: [`MediaPort::send_rtp`], [`MediaEvent::Rtp`]; SR/RR (RFC 3550) every
//!   [`MediaPortConfig::rtcp_interval`]; counters per association ([`AssocCounters`]).
//!
//! Randomness (SSRC, sequence numbers, STUN transaction ids, ICE) comes from a CSPRNG seeded by
//! [`MediaPortConfig::seed`]; the driver fills it from the OS.

mod rng;
pub mod rtp;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dtlsrtp_dtls::{
    verify_fingerprint, Association, DtlsContext, DtlsError, Event as DtlsEvent, FingerprintGate,
    GateState, State as DtlsState,
};
use dtlsrtp_sdp::Fingerprint;
use dtlsrtp_srtp::{DtlsRole, KeyError, SrtpContext, SrtpError, SrtpKeyingMaterial, SrtpProfile};

use crate::demux::{Demux, DropCounters, PacketKind};
use crate::ice::{
    noice, Candidate, IceAgent, IceConfig, IceCredentials, IceError, IceEvent, IceRole,
};
use crate::stun::{Class, Message, MessageType, TransactionId};
use rng::Rng;
use rtp::{build_report, parse_report, parse_rtp, write_rtp, RtcpReport, SenderInfo, SourceStats};

/// A fork (one remote party of a call: one answer, one early dialog), named by the signalling layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ForkId(pub u32);

/// One DTLS association on the port (internal numbering, never reused within a port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssocId(u32);

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
    /// The wall clock at `now` of [`MediaPort::new`] as a 64-bit NTP timestamp (for SR; from the driver).
    pub ntp_at_start: u64,
    /// RTCP CNAME.
    pub cname: String,
    /// Most associations alive at once (bounds the state a flood of ClientHellos can create; default 16).
    pub max_associations: usize,
    /// Most SSRC mappings (default 1024).
    pub max_ssrcs: usize,
    /// An unmapped SSRC failing verification this many times is refused for `ssrc_block_time` (D-5.1.2e).
    pub ssrc_fail_limit: u32,
    /// How long a failing SSRC is refused (default 20 s, D-5.1.2e).
    pub ssrc_block_time: Duration,
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
            cname: "dtlsrtp".to_owned(),
            max_associations: 16,
            max_ssrcs: 1024,
            ssrc_fail_limit: 16,
            ssrc_block_time: Duration::from_secs(20),
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
    /// Its certificate matched no fingerprint (F-5.15, T-8a).
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
    /// The certificate matched no fingerprint: the association is torn down (F-5.15).
    FingerprintMismatch {
        /// Association.
        assoc: AssocId,
        /// The fork it was checked against, when known.
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
    /// listening, limit reached, or not an ICE-valid pair).
    pub dtls_refused: u64,
    /// STUN messages answered without ICE (F-6.7.2b).
    pub stun_answered: u64,
    /// STUN messages refused (bad encoding, integrity, fingerprint).
    pub stun_bad: u64,
    /// `send_rtp` calls refused because no keys exist (fail closed).
    pub send_refused: u64,
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

struct Srtp {
    tx: SrtpContext,
    rx: SrtpContext,
}

struct Assoc {
    id: AssocId,
    remote: SocketAddr,
    fork: Option<ForkId>,
    role: DtlsRole,
    dtls: Association,
    gate: FingerprintGate,
    srtp: Option<Srtp>,
    peer_cert: Option<Vec<u8>>,
    carried_traffic: bool,
    closed: bool,
    counters: AssocCounters,
    sources: HashMap<u32, SourceStats>,
}

struct Fork {
    id: ForkId,
    addr: Option<SocketAddr>,
    role: DtlsRole,
    fingerprints: Vec<Fingerprint>,
    renew_pending: bool,
    ice: bool,
    seq: u16,
    last_ts: u32,
}

/// One media port. See the [module docs](self).
pub struct MediaPort {
    local: SocketAddr,
    ctx: DtlsContext,
    ctx_no_cookie: DtlsContext,
    srtp_cfg: dtlsrtp_srtp::Config,
    start: Instant,
    rng: Rng,
    assocs: Vec<Assoc>,
    forks: Vec<Fork>,
    ssrc_map: HashMap<u32, AssocId>,
    failed_ssrcs: HashMap<u32, (u32, Instant)>,
    listening: bool,
    more_answers: bool,
    ice: Option<IceAgent>,
    ice_path_ok: bool,
    local_ssrc: u32,
    rtcp_interval: Duration,
    next_rtcp: Instant,
    clock_rate: u32,
    ntp_at_start: u64,
    cname: String,
    max_associations: usize,
    max_ssrcs: usize,
    ssrc_fail_limit: u32,
    ssrc_block_time: Duration,
    next_assoc: u32,
    binding_tids: Vec<TransactionId>,
    demux: Demux,
    counters: PortCounters,
    transmits: VecDeque<Transmit>,
    events: VecDeque<MediaEvent>,
}

impl fmt::Debug for MediaPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaPort")
            .field("local", &self.local)
            .field("associations", &self.assocs.len())
            .field("forks", &self.forks.len())
            .field("ssrcs", &self.ssrc_map.len())
            .field("listening", &self.listening)
            .field("ice", &self.ice.is_some())
            .finish_non_exhaustive()
    }
}

fn is_client_hello(d: &[u8]) -> bool {
    // content type 22 (handshake), epoch 0, handshake type 1 (ClientHello) at offset 13.
    d.first() == Some(&22) && d.get(3..5) == Some(&[0, 0]) && d.get(13) == Some(&1)
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl MediaPort {
    /// A port at `config.local`. Fails only when OpenSSL cannot build the DTLS contexts.
    pub fn new(now: Instant, config: MediaPortConfig) -> Result<Self, MediaError> {
        let ctx = DtlsContext::new(&config.dtls)?;
        let mut no_cookie = config.dtls.clone();
        no_cookie.cookie_exchange = false;
        let ctx_no_cookie = DtlsContext::new(&no_cookie)?;
        let mut rng = Rng::from_seed(&config.seed);
        let local_ssrc = rng.u32();
        Ok(Self {
            local: config.local,
            ctx,
            ctx_no_cookie,
            srtp_cfg: config.srtp,
            start: now,
            rng,
            assocs: Vec::new(),
            forks: Vec::new(),
            ssrc_map: HashMap::new(),
            failed_ssrcs: HashMap::new(),
            listening: false,
            more_answers: false,
            ice: None,
            ice_path_ok: false,
            local_ssrc,
            rtcp_interval: config.rtcp_interval.max(Duration::from_millis(10)),
            next_rtcp: now + config.rtcp_interval,
            clock_rate: config.clock_rate.max(1),
            ntp_at_start: config.ntp_at_start,
            cname: config.cname,
            max_associations: config.max_associations.max(1),
            max_ssrcs: config.max_ssrcs.max(1),
            ssrc_fail_limit: config.ssrc_fail_limit.max(1),
            ssrc_block_time: config.ssrc_block_time,
            next_assoc: 0,
            binding_tids: Vec::new(),
            demux: Demux::new(),
            counters: PortCounters::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    // ---- getters -----------------------------------------------------------------------------------------

    /// The local transport address.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The SSRC we send with.
    #[must_use]
    pub fn local_ssrc(&self) -> u32 {
        self.local_ssrc
    }

    /// Port-wide counters.
    #[must_use]
    pub fn counters(&self) -> PortCounters {
        PortCounters {
            demux: self.demux.dropped(),
            ..self.counters
        }
    }

    /// Snapshots of the live associations.
    #[must_use]
    pub fn associations(&self) -> Vec<AssocInfo> {
        self.assocs
            .iter()
            .map(|a| AssocInfo {
                id: a.id,
                fork: a.fork,
                remote: a.remote,
                role: a.role,
                dtls: a.dtls.state(),
                gate: a.gate.state(),
                ssrcs: {
                    let mut v: Vec<u32> = self
                        .ssrc_map
                        .iter()
                        .filter(|(_, id)| **id == a.id)
                        .map(|(s, _)| *s)
                        .collect();
                    v.sort_unstable();
                    v
                },
                counters: a.counters,
            })
            .collect()
    }

    /// The association a remote SSRC is mapped to.
    #[must_use]
    pub fn ssrc_owner(&self, ssrc: u32) -> Option<AssocId> {
        self.ssrc_map.get(&ssrc).copied()
    }

    /// The SRTP keying material of a verified association (for interop checks; `Debug` of it is redacted).
    #[must_use]
    pub fn keying_material(&self, id: AssocId) -> Option<&SrtpKeyingMaterial> {
        self.assocs
            .iter()
            .find(|a| a.id == id)
            .and_then(|a| a.gate.keys())
            .map(|c| &c.keys)
    }

    /// The ICE agent, when enabled (local credentials and candidates for the SDP).
    #[must_use]
    pub fn ice(&self) -> Option<&IceAgent> {
        self.ice.as_ref()
    }

    // ---- commands ----------------------------------------------------------------------------------------

    /// Accept ClientHellos from new addresses (we offered `actpass` or answered `passive`; F-5.8, P-6.2c).
    /// [`set_peer`](Self::set_peer) with [`DtlsRole::Server`] turns this on too.
    pub fn listen(&mut self, on: bool) {
        self.listening = on;
    }

    /// T-8a: while `more` is true (forking, no final answer yet) a certificate that matches no fork waits.
    /// Setting it to false declares every such certificate a mismatch now (F-5.15).
    pub fn set_more_answers(&mut self, now: Instant, more: bool) {
        self.more_answers = more;
        self.bind_all(now);
        self.after(now);
    }

    /// Turn ICE on (before the first [`set_peer`](Self::set_peer) with ICE parameters). The port's address is
    /// the host candidate. Returns the local credentials and candidate for the SDP.
    pub fn enable_ice(
        &mut self,
        now: Instant,
        config: IceConfig,
        credentials: Option<IceCredentials>,
        role: IceRole,
    ) -> (IceCredentials, Candidate) {
        let mut child = self.rng.child();
        let creds = credentials.unwrap_or_else(|| IceCredentials::random(&mut |b| child.fill(b)));
        let mut fill_rng = self.rng.child();
        let mut agent = IceAgent::new(
            now,
            config,
            creds.clone(),
            role,
            Box::new(move |b| fill_rng.fill(b)),
        );
        let cand = agent.add_local_candidate(self.local);
        self.ice = Some(agent);
        (creds, cand)
    }

    /// ICE restart with new local credentials (the DTLS association is kept, T-3.3).
    pub fn ice_restart(&mut self, credentials: IceCredentials) -> Result<(), MediaError> {
        let ice = self.ice.as_mut().ok_or(MediaError::IceNotEnabled)?;
        ice.restart(credentials);
        Ok(())
    }

    /// The peer's SDP for `fork` arrived (an answer, or the offer we answer; again on every re-offer).
    ///
    /// - Client role: a DTLS association is started towards the signalled address (with ICE: towards the
    ///   selected pair once there is one).
    /// - Server role: ClientHellos are accepted from any address; without ICE, if no association of the fork is
    ///   connected yet, one Binding request goes to the signalled address (F-6.7.2a).
    /// - The fingerprints are matched against the certificates of waiting associations (F-6.3); on `Keep` a
    ///   running association is re-checked against them; on `New` a new association is started (T-5.5c).
    pub fn set_peer(
        &mut self,
        now: Instant,
        fork: ForkId,
        params: PeerParams,
    ) -> Result<(), MediaError> {
        if let Some(ice) = &params.ice {
            let agent = self.ice.as_mut().ok_or(MediaError::IceNotEnabled)?;
            agent.set_remote_credentials(ice.credentials.clone());
            for c in &ice.candidates {
                agent.add_remote_candidate(c.clone());
            }
        }
        let renew = params.association.is_new();
        let existed = self.forks.iter().any(|f| f.id == fork);
        if !existed {
            let seq = (self.rng.u32() & 0x7fff) as u16;
            self.forks.push(Fork {
                id: fork,
                addr: params.addr,
                role: params.role,
                fingerprints: Vec::new(),
                renew_pending: false,
                ice: false,
                seq,
                last_ts: 0,
            });
        }
        let has_assoc = self
            .assocs
            .iter()
            .any(|a| a.fork == Some(fork) && !a.closed);
        if let Some(f) = self.forks.iter_mut().find(|f| f.id == fork) {
            f.addr = params.addr.or(f.addr);
            f.role = params.role;
            f.fingerprints.clone_from(&params.fingerprints);
            f.ice = params.ice.is_some();
            f.renew_pending = renew && has_assoc;
        }
        if params.role == DtlsRole::Server {
            self.listening = true;
        }
        // Keep: re-check running associations of this fork against the (possibly new) fingerprints.
        if !renew {
            for i in 0..self.assocs.len() {
                let Some(a) = self.assocs.get_mut(i) else {
                    continue;
                };
                if a.fork != Some(fork) || a.closed {
                    continue;
                }
                if a.gate.verify(&params.fingerprints).is_err() {
                    let (id, remote) = (a.id, a.remote);
                    self.events.push_back(MediaEvent::FingerprintMismatch {
                        assoc: id,
                        fork: Some(fork),
                        remote,
                    });
                    self.close_assoc(now, i, CloseReason::FingerprintMismatch);
                }
            }
        }
        match params.role {
            DtlsRole::Client => {
                let needs_new = renew
                    || !self
                        .assocs
                        .iter()
                        .any(|a| a.fork == Some(fork) && !a.closed);
                if needs_new && params.ice.is_none() {
                    let addr = params.addr.ok_or(MediaError::NoRemoteAddress)?;
                    self.start_client(now, fork, addr)?;
                } else if needs_new {
                    if let Some((_, remote)) = self.ice.as_ref().and_then(|i| i.selected_pair()) {
                        self.start_client(now, fork, remote)?;
                    }
                }
            }
            DtlsRole::Server => {
                let connected = self.assocs.iter().any(|a| {
                    !a.closed
                        && (a.fork == Some(fork) || a.fork.is_none())
                        && a.dtls.state() == DtlsState::Connected
                });
                if !connected && self.ice.is_none() && !renew {
                    if let Some(addr) = params.addr {
                        // F-6.7.2a: exactly one Binding request to open the pinhole.
                        let mut tid = [0u8; 12];
                        self.rng.fill(&mut tid);
                        let tid = TransactionId(tid);
                        if self.binding_tids.len() >= 16 {
                            self.binding_tids.remove(0);
                        }
                        self.binding_tids.push(tid);
                        self.transmits.push_back(Transmit {
                            remote: addr,
                            bytes: noice::binding_request(tid),
                        });
                    }
                }
            }
        }
        self.bind_all(now);
        self.after(now);
        Ok(())
    }

    /// Close every association of `fork` (losing fork cancelled, call ended) and forget the fork. Its SSRC
    /// mappings are removed (D-5.1.2c).
    pub fn close_fork(&mut self, now: Instant, fork: ForkId) -> Result<(), MediaError> {
        let pos = self
            .forks
            .iter()
            .position(|f| f.id == fork)
            .ok_or(MediaError::UnknownFork)?;
        self.forks.remove(pos);
        for i in 0..self.assocs.len() {
            if self
                .assocs
                .get(i)
                .is_some_and(|a| a.fork == Some(fork) && !a.closed)
            {
                self.close_assoc(now, i, CloseReason::Local);
            }
        }
        self.after(now);
        Ok(())
    }

    /// Ask for new keys: the port never renegotiates DTLS; it emits [`MediaEvent::RekeyNeeded`] so the signalling
    /// layer sends a re-offer whose answer renews the association.
    pub fn request_rekey(&mut self, fork: ForkId) -> Result<(), MediaError> {
        if !self.forks.iter().any(|f| f.id == fork) {
            return Err(MediaError::UnknownFork);
        }
        self.events.push_back(MediaEvent::RekeyNeeded { fork });
        Ok(())
    }

    /// Send one RTP packet to `fork` on its newest verified association. Refused (and counted) when no keys
    /// exist: nothing is ever sent in the clear (fail closed).
    pub fn send_rtp(
        &mut self,
        now: Instant,
        fork: ForkId,
        payload_type: u8,
        marker: bool,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<(), MediaError> {
        let _ = now;
        let fi = self
            .forks
            .iter()
            .position(|f| f.id == fork)
            .ok_or(MediaError::UnknownFork)?;
        if self.forks.get(fi).is_some_and(|f| f.ice) && !self.ice_path_ok {
            self.counters.send_refused += 1;
            return Err(MediaError::NoPath);
        }
        let Some(ai) = self.sending_assoc(fork) else {
            self.counters.send_refused += 1;
            return Err(MediaError::NotSecured);
        };
        let (Some(f), Some(a)) = (self.forks.get_mut(fi), self.assocs.get_mut(ai)) else {
            return Err(MediaError::UnknownFork);
        };
        let Some(srtp) = a.srtp.as_mut() else {
            self.counters.send_refused += 1;
            return Err(MediaError::NotSecured);
        };
        let mut buf = Vec::with_capacity(12 + payload.len() + srtp.tx.rtp_overhead());
        write_rtp(
            &mut buf,
            payload_type,
            marker,
            f.seq,
            timestamp,
            self.local_ssrc,
            payload,
        );
        srtp.tx.protect_rtp(&mut buf)?;
        f.seq = f.seq.wrapping_add(1);
        f.last_ts = timestamp;
        a.counters.packets_out += 1;
        a.counters.bytes_out += buf.len() as u64;
        a.counters.payload_out += payload.len() as u64;
        self.transmits.push_back(Transmit {
            remote: a.remote,
            bytes: buf,
        });
        Ok(())
    }

    // ---- inputs ------------------------------------------------------------------------------------------

    /// A datagram arrived on the port from `remote`. Bad input is dropped and counted; it never panics and
    /// never ends a call by itself.
    pub fn handle_datagram(&mut self, now: Instant, remote: SocketAddr, bytes: &[u8]) {
        match self.demux.classify(bytes) {
            PacketKind::Stun => self.on_stun(now, remote, bytes),
            PacketKind::Dtls => self.on_dtls(now, remote, bytes),
            PacketKind::Rtp => self.on_srtp(now, remote, bytes, false),
            PacketKind::Rtcp => self.on_srtp(now, remote, bytes, true),
            _ => {}
        }
        self.after(now);
    }

    /// Timers: DTLS retransmissions, ICE checks and consent, RTCP reports. Safe to call early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        for a in &mut self.assocs {
            if a.dtls.poll_timeout().is_some_and(|t| t <= now) {
                a.dtls.handle_timeout(now);
            }
        }
        if let Some(ice) = self.ice.as_mut() {
            if ice.poll_timeout().is_some_and(|t| t <= now) {
                ice.handle_timeout(now);
            }
        }
        if now >= self.next_rtcp {
            self.send_reports(now);
            self.next_rtcp = now + self.rtcp_interval;
        }
        let block = self.ssrc_block_time;
        self.failed_ssrcs.retain(|_, (_, t)| now < *t + block);
        self.after(now);
    }

    // ---- outputs -----------------------------------------------------------------------------------------

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline: DTLS timers, ICE timers, the next RTCP report (while some association has keys).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let dtls = self
            .assocs
            .iter()
            .filter_map(|a| a.dtls.poll_timeout())
            .min();
        let ice = self.ice.as_ref().and_then(IceAgent::poll_timeout);
        let rtcp = self
            .assocs
            .iter()
            .any(|a| a.srtp.is_some())
            .then_some(self.next_rtcp);
        [dtls, ice, rtcp].into_iter().flatten().min()
    }

    // ---- internals ---------------------------------------------------------------------------------------

    fn live(&self) -> usize {
        self.assocs.iter().filter(|a| !a.closed).count()
    }

    fn new_assoc(
        &mut self,
        now: Instant,
        role: DtlsRole,
        remote: SocketAddr,
        fork: Option<ForkId>,
        no_cookie: bool,
    ) -> Result<usize, MediaError> {
        if self.live() >= self.max_associations {
            return Err(MediaError::TooManyAssociations);
        }
        let ctx = if no_cookie {
            &self.ctx_no_cookie
        } else {
            &self.ctx
        };
        let dtls = Association::new(ctx, role, remote, now)?;
        let id = AssocId(self.next_assoc);
        self.next_assoc = self.next_assoc.wrapping_add(1);
        self.assocs.push(Assoc {
            id,
            remote,
            fork,
            role,
            dtls,
            gate: FingerprintGate::new(),
            srtp: None,
            peer_cert: None,
            carried_traffic: false,
            closed: false,
            counters: AssocCounters::default(),
            sources: HashMap::new(),
        });
        Ok(self.assocs.len() - 1)
    }

    fn start_client(
        &mut self,
        now: Instant,
        fork: ForkId,
        remote: SocketAddr,
    ) -> Result<(), MediaError> {
        let fps = self
            .forks
            .iter()
            .find(|f| f.id == fork)
            .map(|f| f.fingerprints.clone())
            .unwrap_or_default();
        let i = self.new_assoc(now, DtlsRole::Client, remote, Some(fork), false)?;
        if let Some(a) = self.assocs.get_mut(i) {
            // The peer's SDP is known: the gate checks the certificate as soon as the handshake ends.
            let _ = a.gate.verify(&fps);
        }
        Ok(())
    }

    /// Newest verified, open association of the fork.
    fn sending_assoc(&self, fork: ForkId) -> Option<usize> {
        self.assocs
            .iter()
            .enumerate()
            .filter(|(_, a)| a.fork == Some(fork) && !a.closed && a.srtp.is_some())
            .max_by_key(|(_, a)| a.id)
            .map(|(i, _)| i)
    }

    fn on_stun(&mut self, now: Instant, remote: SocketAddr, bytes: &[u8]) {
        if let Some(ice) = self.ice.as_mut() {
            if ice.handle_stun(now, self.local, remote, bytes).is_err() {
                self.counters.stun_bad += 1;
            }
            return;
        }
        // No ICE: consume responses to our F-6.7.2a request, answer requests (F-6.7.2b).
        match Message::decode(bytes) {
            Ok(m) if m.class() == Class::Success || m.class() == Class::Error => {
                if m.msg_type != MessageType::BINDING_SUCCESS
                    || !self.binding_tids.contains(&m.transaction_id)
                {
                    self.counters.stun_bad += 1;
                }
            }
            Ok(_) => match noice::answer_binding_request(bytes, remote) {
                Ok(Some(resp)) => {
                    self.counters.stun_answered += 1;
                    self.transmits.push_back(Transmit {
                        remote,
                        bytes: resp,
                    });
                }
                Ok(None) => {}
                Err(_) => self.counters.stun_bad += 1,
            },
            Err(_) => self.counters.stun_bad += 1,
        }
    }

    fn on_dtls(&mut self, now: Instant, remote: SocketAddr, bytes: &[u8]) {
        let ice_valid = match self.ice.as_ref() {
            Some(ice) => {
                if !ice.is_valid_pair(self.local, remote) {
                    self.counters.dtls_refused += 1;
                    return;
                }
                true
            }
            None => false,
        };
        let current = self
            .assocs
            .iter()
            .enumerate()
            .filter(|(_, a)| a.remote == remote && !a.closed)
            .max_by_key(|(_, a)| a.id)
            .map(|(i, _)| i);
        if let Some(i) = current {
            let renew = self.assocs.get(i).is_some_and(|a| {
                a.dtls.state() == DtlsState::Connected
                    && a.fork.is_some_and(|f| {
                        self.forks
                            .iter()
                            .any(|k| k.id == f && k.renew_pending && k.role == DtlsRole::Server)
                    })
            });
            if !(renew && is_client_hello(bytes)) {
                if let Some(a) = self.assocs.get_mut(i) {
                    a.dtls.handle_datagram(now, bytes);
                }
                return;
            }
            // A fresh ClientHello on the 3-tuple of a connected association whose fork is being renewed:
            // a new association; the old one keeps receiving (T-5.5c).
            if let Some(f) = self
                .assocs
                .get(i)
                .and_then(|a| a.fork)
                .and_then(|f| self.forks.iter_mut().find(|k| k.id == f))
            {
                f.renew_pending = false;
            }
        } else if !(self.listening && is_client_hello(bytes)) {
            self.counters.dtls_refused += 1;
            return;
        }
        match self.new_assoc(now, DtlsRole::Server, remote, None, ice_valid) {
            Ok(i) => {
                if let Some(a) = self.assocs.get_mut(i) {
                    a.dtls.handle_datagram(now, bytes);
                }
            }
            Err(_) => self.counters.dtls_refused += 1,
        }
    }

    /// Unprotects with association `i`; `Ok(len)` of the clear packet in `buf`.
    fn try_unprotect(&mut self, i: usize, buf: &mut [u8], rtcp: bool) -> Result<usize, SrtpError> {
        let Some(srtp) = self.assocs.get_mut(i).and_then(|a| a.srtp.as_mut()) else {
            return Err(SrtpError::AuthFailed);
        };
        if rtcp {
            srtp.rx.unprotect_rtcp_in(buf)
        } else {
            srtp.rx.unprotect_rtp_in(buf)
        }
    }

    fn on_srtp(&mut self, now: Instant, remote: SocketAddr, bytes: &[u8], rtcp: bool) {
        let ssrc_at = if rtcp { 4 } else { 8 };
        let Some(ssrc) = be32(bytes, ssrc_at) else {
            self.counters.malformed_media += 1;
            return;
        };
        if !self.assocs.iter().any(|a| a.srtp.is_some() && !a.closed) {
            // D-5.1: nothing is decrypted before a handshake completed and the fingerprint vouched for it.
            self.counters.srtp_before_keys += 1;
            if let Some(a) = self
                .assocs
                .iter_mut()
                .find(|a| a.remote == remote && !a.closed)
            {
                a.counters.drops += 1;
            }
            return;
        }
        let mapped = self
            .ssrc_map
            .get(&ssrc)
            .and_then(|id| self.assocs.iter().position(|a| a.id == *id && !a.closed));
        let mut buf = bytes.to_vec();
        if let Some(i) = mapped {
            match self.try_unprotect(i, &mut buf, rtcp) {
                Ok(n) => {
                    buf.truncate(n);
                    self.deliver(now, i, remote, ssrc, bytes.len(), buf, rtcp);
                    return;
                }
                Err(e) => {
                    if let Some(a) = self.assocs.get_mut(i) {
                        match e {
                            SrtpError::ReplayDuplicate | SrtpError::ReplayTooOld => {
                                a.counters.replays += 1;
                                return;
                            }
                            SrtpError::AuthFailed => a.counters.auth_failures += 1,
                            _ => {
                                a.counters.drops += 1;
                                return;
                            }
                        }
                    }
                    // The same SSRC may have moved to a newer association of the fork (T-5.5c): try the others.
                    buf.copy_from_slice(bytes);
                }
            }
        } else if let Some((n, _)) = self.failed_ssrcs.get(&ssrc) {
            if *n >= self.ssrc_fail_limit {
                self.counters.ssrc_refused += 1;
                return;
            }
        }
        // Trial: the association of the source address first, then the others, newest first (D-5.1.2b).
        let mut order: Vec<usize> = (0..self.assocs.len())
            .filter(|i| Some(*i) != mapped)
            .filter(|i| {
                self.assocs
                    .get(*i)
                    .is_some_and(|a| a.srtp.is_some() && !a.closed)
            })
            .collect();
        order.sort_by_key(|i| {
            self.assocs
                .get(*i)
                .map(|a| (a.remote != remote, u32::MAX - a.id.0))
        });
        for i in order {
            match self.try_unprotect(i, &mut buf, rtcp) {
                Ok(n) => {
                    buf.truncate(n);
                    if let Some(id) = self.assocs.get(i).map(|a| a.id) {
                        if self.ssrc_map.len() < self.max_ssrcs || self.ssrc_map.contains_key(&ssrc)
                        {
                            self.ssrc_map.insert(ssrc, id);
                        }
                    }
                    self.failed_ssrcs.remove(&ssrc);
                    self.deliver(now, i, remote, ssrc, bytes.len(), buf, rtcp);
                    return;
                }
                Err(_) => buf.copy_from_slice(bytes),
            }
        }
        if mapped.is_some() {
            // Already counted as an authentication failure of its association.
            return;
        }
        self.counters.unknown_ssrc_dropped += 1;
        {
            if let Some(e) = self.failed_ssrcs.get_mut(&ssrc) {
                e.0 = e.0.saturating_add(1);
            } else if self.failed_ssrcs.len() < 4096 {
                self.failed_ssrcs.insert(ssrc, (1, now));
            }
        }
    }

    fn now_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
    }

    fn ntp(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.start);
        let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        self.ntp_at_start
            .wrapping_add(d.as_secs() << 32)
            .wrapping_add(frac)
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        now: Instant,
        i: usize,
        remote: SocketAddr,
        ssrc: u32,
        wire_len: usize,
        clear: Vec<u8>,
        rtcp: bool,
    ) {
        let now_ms = self.now_ms(now);
        let arrival = u32::try_from(
            (u128::from(now_ms) * u128::from(self.clock_rate) / 1000) & u128::from(u32::MAX),
        )
        .unwrap_or(0);
        let Some(a) = self.assocs.get_mut(i) else {
            return;
        };
        let (id, fork) = (a.id, a.fork);
        if rtcp {
            a.counters.rtcp_in += 1;
            match parse_report(&clear) {
                Some(report) => {
                    if let Some(si) = report.sender_info {
                        if let Some(s) = a.sources.get_mut(&report.sender_ssrc) {
                            s.last_sr = Some(((si.ntp >> 16) as u32, now_ms));
                        }
                    }
                    self.events.push_back(MediaEvent::Rtcp {
                        assoc: id,
                        fork,
                        report,
                    });
                }
                None => self.counters.malformed_media += 1,
            }
            return;
        }
        let Some(h) = parse_rtp(&clear) else {
            a.counters.drops += 1;
            self.counters.malformed_media += 1;
            return;
        };
        a.counters.packets_in += 1;
        a.counters.bytes_in += wire_len as u64;
        if a.sources.len() < 64 || a.sources.contains_key(&ssrc) {
            a.sources
                .entry(ssrc)
                .or_default()
                .update(h.sequence, h.timestamp, arrival);
        }
        let first_traffic = !a.carried_traffic;
        a.carried_traffic = true;
        let end = clear.len().saturating_sub(h.padding);
        let payload = clear.get(h.header_len..end).unwrap_or_default().to_vec();
        self.events.push_back(MediaEvent::Rtp(ReceivedRtp {
            assoc: id,
            fork,
            remote,
            ssrc,
            sequence: h.sequence,
            timestamp: h.timestamp,
            payload_type: h.payload_type,
            marker: h.marker,
            payload,
        }));
        if first_traffic {
            // T-5.5c: the new association carries traffic, so older ones of the same fork close now.
            if let Some(f) = fork {
                for j in 0..self.assocs.len() {
                    if self
                        .assocs
                        .get(j)
                        .is_some_and(|o| o.fork == Some(f) && !o.closed && o.id < id)
                    {
                        self.close_assoc(now, j, CloseReason::Superseded);
                    }
                }
            }
        }
    }

    fn send_reports(&mut self, now: Instant) {
        let now_ms = self.now_ms(now);
        let ntp = self.ntp(now);
        let elapsed_ts = u32::try_from(
            (u128::from(now_ms) * u128::from(self.clock_rate) / 1000) & u128::from(u32::MAX),
        )
        .unwrap_or(0);
        for a in &mut self.assocs {
            if a.closed {
                continue;
            }
            let Some(srtp) = a.srtp.as_mut() else {
                continue;
            };
            let last_ts = a
                .fork
                .and_then(|f| self.forks.iter().find(|k| k.id == f))
                .map_or(elapsed_ts, |f| f.last_ts);
            let sender = (a.counters.packets_out > 0).then_some(SenderInfo {
                ntp,
                rtp_timestamp: last_ts,
                packet_count: a.counters.packets_out as u32,
                octet_count: a.counters.payload_out as u32,
            });
            let mut blocks: Vec<_> = a
                .sources
                .iter_mut()
                .map(|(ssrc, s)| s.report_block(*ssrc, now_ms))
                .collect();
            blocks.sort_by_key(|b| b.ssrc);
            let mut pkt = build_report(self.local_ssrc, sender, &blocks, &self.cname);
            if srtp.tx.protect_rtcp(&mut pkt).is_ok() {
                a.counters.rtcp_out += 1;
                self.transmits.push_back(Transmit {
                    remote: a.remote,
                    bytes: pkt,
                });
            }
        }
    }

    /// Closes association `i`: close_notify, SSRC mappings removed (D-5.1.2c), keys dropped, event.
    fn close_assoc(&mut self, now: Instant, i: usize, reason: CloseReason) {
        let Some(a) = self.assocs.get_mut(i) else {
            return;
        };
        if a.closed {
            return;
        }
        a.closed = true;
        if !matches!(reason, CloseReason::PeerClosed | CloseReason::Failed(_)) {
            a.dtls.close(now);
        }
        a.srtp = None;
        while let Some(d) = a.dtls.poll_transmit() {
            self.transmits.push_back(Transmit {
                remote: a.remote,
                bytes: d,
            });
        }
        while a.dtls.poll_event().is_some() {}
        let (id, fork) = (a.id, a.fork);
        self.ssrc_map.retain(|_, v| *v != id);
        self.events.push_back(MediaEvent::AssociationClosed {
            assoc: id,
            fork,
            reason,
        });
    }

    /// Binds waiting associations to forks by fingerprint (F-6.3) and declares mismatches (F-5.15, T-8a).
    fn bind_all(&mut self, now: Instant) {
        for i in 0..self.assocs.len() {
            self.bind(now, i);
        }
    }

    fn bind(&mut self, now: Instant, i: usize) {
        let Some(a) = self.assocs.get(i) else {
            return;
        };
        if a.closed || a.fork.is_some() || a.gate.state() != GateState::AwaitingFingerprint {
            return;
        }
        let Some(cert) = a.peer_cert.as_deref() else {
            return;
        };
        let remote = a.remote;
        let candidates = self
            .forks
            .iter()
            .filter(|f| f.role == DtlsRole::Server && !f.fingerprints.is_empty());
        // Prefer the fork whose signalled address is where the ClientHello came from.
        let mut matched = None;
        let mut any = None;
        for f in candidates {
            any.get_or_insert(f.fingerprints.clone());
            if verify_fingerprint(cert, &f.fingerprints).is_ok()
                && (matched.is_none() || f.addr == Some(remote))
            {
                matched = Some((f.id, f.fingerprints.clone()));
            }
        }
        match matched {
            Some((fork, fps)) => {
                if let Some(a) = self.assocs.get_mut(i) {
                    a.fork = Some(fork);
                    let _ = a.gate.verify(&fps);
                }
                self.on_gate(now, i);
            }
            None => {
                if let (Some(fps), false) = (any, self.more_answers) {
                    if let Some(a) = self.assocs.get_mut(i) {
                        let _ = a.gate.verify(&fps);
                    }
                    self.on_gate(now, i);
                }
            }
        }
    }

    /// Acts on the gate's state after a handshake or a verify.
    fn on_gate(&mut self, now: Instant, i: usize) {
        let Some(a) = self.assocs.get_mut(i) else {
            return;
        };
        if a.closed {
            return;
        }
        match a.gate.state() {
            GateState::Verified if a.srtp.is_none() => {
                let Some(c) = a.gate.keys() else {
                    return;
                };
                match SrtpContext::from_keying_material(&c.keys, a.role, &self.srtp_cfg) {
                    Ok((tx, rx)) => {
                        a.srtp = Some(Srtp { tx, rx });
                        if let Some(fork) = a.fork {
                            self.events.push_back(MediaEvent::FingerprintVerified {
                                assoc: a.id,
                                fork,
                                remote: a.remote,
                            });
                        }
                    }
                    Err(_) => self.close_assoc(now, i, CloseReason::Failed(DtlsError::Setup)),
                }
            }
            GateState::Rejected(_) => {
                let (id, fork, remote) = (a.id, a.fork, a.remote);
                self.events.push_back(MediaEvent::FingerprintMismatch {
                    assoc: id,
                    fork,
                    remote,
                });
                self.close_assoc(now, i, CloseReason::FingerprintMismatch);
            }
            _ => {}
        }
    }

    /// Drains what the associations and the ICE agent produced, and drops closed associations.
    fn after(&mut self, now: Instant) {
        for i in 0..self.assocs.len() {
            let Some(a) = self.assocs.get_mut(i) else {
                continue;
            };
            while let Some(d) = a.dtls.poll_transmit() {
                self.transmits.push_back(Transmit {
                    remote: a.remote,
                    bytes: d,
                });
            }
            while let Some(ev) = self.assocs.get_mut(i).and_then(|a| a.dtls.poll_event()) {
                self.on_dtls_event(now, i, ev);
            }
        }
        self.assocs.retain(|a| !a.closed);
        self.drain_ice(now);
    }

    fn on_dtls_event(&mut self, now: Instant, i: usize, ev: DtlsEvent) {
        let Some(a) = self.assocs.get_mut(i) else {
            return;
        };
        match ev {
            DtlsEvent::PeerCertificate(der) => a.peer_cert = Some(der),
            DtlsEvent::Connected(c) => {
                let cert = a.peer_cert.clone().unwrap_or_default();
                self.events.push_back(MediaEvent::DtlsConnected {
                    assoc: a.id,
                    remote: a.remote,
                    profile: c.profile,
                });
                a.gate.on_handshake(cert, c);
                self.bind(now, i);
                self.on_gate(now, i);
            }
            DtlsEvent::Closed => self.close_assoc(now, i, CloseReason::PeerClosed),
            DtlsEvent::Failed(e) => self.close_assoc(now, i, CloseReason::Failed(e)),
            _ => {}
        }
    }

    fn drain_ice(&mut self, now: Instant) {
        let Some(ice) = self.ice.as_mut() else {
            return;
        };
        let mut events = Vec::new();
        while let Some(t) = ice.poll_transmit() {
            self.transmits.push_back(Transmit {
                remote: t.remote,
                bytes: t.bytes,
            });
        }
        while let Some(e) = ice.poll_event() {
            events.push(e);
        }
        for e in events {
            match e {
                IceEvent::SelectedPair { remote, .. } => {
                    self.ice_path_ok = true;
                    self.events.push_back(MediaEvent::IceSelected { remote });
                    // Media and DTLS follow the selected pair; the association is kept (T-3.3).
                    let ice_forks: Vec<(ForkId, DtlsRole)> = self
                        .forks
                        .iter()
                        .filter(|f| f.ice)
                        .map(|f| (f.id, f.role))
                        .collect();
                    for (fork, role) in ice_forks {
                        let mut has = false;
                        for a in &mut self.assocs {
                            if a.fork == Some(fork) && !a.closed {
                                a.remote = remote;
                                has = true;
                            }
                        }
                        if !has && role == DtlsRole::Client {
                            let _ = self.start_client(now, fork, remote);
                        }
                    }
                }
                IceEvent::ConsentExpired { remote, .. } => {
                    self.ice_path_ok = false;
                    self.events
                        .push_back(MediaEvent::IceConsentExpired { remote });
                }
                IceEvent::Failed => {
                    self.ice_path_ok = false;
                    self.events.push_back(MediaEvent::IceFailed);
                }
                _ => {}
            }
        }
        // A client association started above has a ClientHello to send.
        for a in &mut self.assocs {
            while let Some(d) = a.dtls.poll_transmit() {
                self.transmits.push_back(Transmit {
                    remote: a.remote,
                    bytes: d,
                });
            }
        }
    }
}

// The driver moves the port into one task: it must be Send.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<MediaPort>();
};
