//! One media port (ARCHITECTURE §3–§4): one local UDP port carrying STUN, DTLS, SRTP and SRTCP for any number of
//! remotes (forks), sans-IO.
//!
//! - Demultiplexing by first byte (M-7, [`crate::demux`]); bad datagrams are dropped and counted.
//! - One DTLS [`Association`], one [`FingerprintGate`] and one pair of SRTP contexts per remote transport
//!   address (A-R-DISTINCT). Associations are created for a ClientHello from a new address while the port
//!   listens (F-5.8, P-6.2c), or towards a signalled address when we are the DTLS client.
//! - Stateless cookie exchange (R-1, RFC 6347 §4.2.1): without ICE, a ClientHello from a new address creates
//!   an association only once its cookie verified; otherwise it is answered with a HelloVerifyRequest built
//!   without state. Unbound handshakes are bounded per source IP and in total; none is ever evicted.
//! - Alerts (P-6.2b): when the expected fingerprints are known during the handshake, a certificate matching
//!   none is refused in the handshake with bad_certificate (42). A mismatch found only after the handshake
//!   completed (the ClientHello came before the answer, F-5.8; a re-offer with other fingerprints; a stranger's
//!   handshake) ends with bad_certificate too, an encrypted record sealed by
//!   [`Association::close_with_alert`](dtlsrtp_dtls::Association::close_with_alert), and no close_notify.
//! - Fingerprint binding per fork (RFC 5763 §6.3, F-6.3): a fork's fingerprints are matched against each
//!   association's certificate, in whatever order answers and handshakes arrive. A certificate that matches no
//!   fork waits, keys gated and bounded ([`MediaPortConfig::pending_timeout`], [`MediaPortConfig::max_pending`]),
//!   while more answers may come (T-8a, [`MediaPort::set_more_answers`]). A mismatch (F-5.15) is declared only
//!   on a fork's own media: the handshake from the signalled address of a final fork (the 2xx's,
//!   [`MediaPort::set_final_answer`], or any once no more answers can come). Anything else that matches nothing
//!   is discarded and counted ([`PortCounters::unmatched_discarded`]), never fatal; once the final fork is
//!   verified, ClientHellos from new addresses are refused without state until a renewing offer.
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
//! - Keep/renew ([`dtlsrtp_sdp::Association`]): `New` starts a new association, make-before-break (F-6.8,
//!   D-4.3, T-5.5c): the old one keeps sending until the new one is verified; then sending switches at once,
//!   and the old one only decrypts for [`MediaPortConfig::rekey_grace`] (from the verification, or from the new
//!   association's first packet if later) and closes ([`CloseReason::Superseded`]). New-key packets that
//!   overtake the peer's last handshake flight are held (bounded) until the new keys exist. Rekeying is a
//!   request for a new offer ([`MediaEvent::RekeyNeeded`], [`MediaEvent::RekeyDue`] near a key's lifetime or
//!   on [`MediaPortConfig::rekey_interval`], D-4.4); DTLS renegotiation is never started and the DTLS layer
//!   refuses a peer's attempt (`SSL_OP_NO_RENEGOTIATION`). Both sides behave the same whichever started it.
//!   Rekeying onto a *new local port* (T-5.1a, a second `MediaPort`) is the owner's: it must keep the old port
//!   receiving for the same grace (feed it, drain it) before closing it.
//! - RTP/RTCP: [`MediaPort::send_rtp`], [`MediaEvent::Rtp`]; SR/RR + SDES (RFC 3550) every
//!   [`MediaPortConfig::rtcp_interval`], the SR's NTP time from the wall-clock anchor the driver gives
//!   ([`MediaPort::set_wall_clock`]), a random CNAME per port (RFC 7022, [`MediaPort::cname`]); BYE
//!   ([`MediaPort::send_bye`], and on [`MediaPort::close_fork`]); received reports ([`MediaEvent::RtcpReport`]
//!   with RTT, [`MediaEvent::RtcpBye`]); SSRC collision → new SSRC + BYE ([`MediaEvent::SsrcChanged`], RFC 3550
//!   §8.2, D-5.1.2d); RTCP on a second component without rtcp-mux ([`RtcpMux`], [`MediaPort::poll_rtcp`],
//!   [`MediaPort::send_rtcp`], [`MediaPort::note_remote_rtcp`]); counters per association
//!   ([`AssocCounters`]) and port ([`PortCounters::bye_sent`], [`PortCounters::ssrc_changes`]).
//!
//! Randomness (SSRC, sequence numbers, STUN transaction ids, ICE) comes from a CSPRNG seeded by
//! [`MediaPortConfig::seed`]; the driver fills it from the OS.
//!
//! # Run loop
//!
//! Two ports in memory: A offered `actpass` and listens, B answered `active`. A driver would wait on the socket
//! until `poll_timeout()`; `dtlsrtp-tokio` does exactly that.
//!
//! ```
//! use std::time::Instant;
//! use dtlsrtp_dtls::{Certificate, Config, CookieSecret, HashFunction, KeyType};
//! use dtlsrtp_media::{ForkId, MediaEvent, MediaPort, MediaPortConfig, PeerParams};
//! use dtlsrtp_srtp::DtlsRole;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (ca, cb) = (Certificate::generate(KeyType::EcdsaP256, "a", 1)?,
//!                 Certificate::generate(KeyType::EcdsaP256, "b", 1)?);
//! let (fa, fb) = (ca.fingerprint(HashFunction::Sha256)?, cb.fingerprint(HashFunction::Sha256)?);
//! let (addr_a, addr_b) = ("127.0.0.1:5000".parse()?, "127.0.0.1:6000".parse()?);
//! let now = Instant::now();
//! let cfg = |local, cert, seed| MediaPortConfig::new(local, Config::new(cert, CookieSecret::new([1; 32])), seed);
//! let mut a = MediaPort::new(now, cfg(addr_a, ca, [1; 32]))?;
//! let mut b = MediaPort::new(now, cfg(addr_b, cb, [2; 32]))?;
//! let fork = ForkId(1);
//! let peer = |addr, role, fp| PeerParams { addr: Some(addr), role, fingerprints: vec![fp],
//!     association: dtlsrtp_sdp::Association::Keep, ice: None };
//! a.listen(true);                                             // our offer said actpass
//! b.set_peer(now, fork, peer(addr_a, DtlsRole::Client, fa))?; // B read A's offer: B sends its ClientHello
//! a.set_peer(now, fork, peer(addr_b, DtlsRole::Server, fb))?; // A read B's answer
//! let mut got = Vec::new();
//! for _ in 0..20 {
//!     while let Some(t) = a.poll_transmit() { b.handle_datagram(now, addr_a, &t.bytes); }
//!     while let Some(t) = b.poll_transmit() { a.handle_datagram(now, addr_b, &t.bytes); }
//!     while let Some(e) = b.poll_event() {
//!         if let MediaEvent::FingerprintVerified { .. } = e { b.send_rtp(now, fork, 0, true, 0, b"hello")?; }
//!     }
//!     while let Some(e) = a.poll_event() {
//!         if let MediaEvent::Rtp(p) = e { got.push(p.payload); }
//!     }
//! }
//! assert_eq!(got, vec![b"hello".to_vec()]);
//! # Ok(()) }
//! ```

mod media;
mod query;
mod rekey;
mod rng;
mod rtcp;
pub mod rtp;
mod trust;
mod types;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dtlsrtp_dtls::{Association, DtlsContext, FingerprintGate, State as DtlsState};
use dtlsrtp_sdp::Fingerprint;
use dtlsrtp_srtp::{DtlsRole, SrtpContext};

use crate::demux::{Demux, PacketKind};
use crate::ice::{noice, Candidate, IceAgent, IceConfig, IceCredentials, IceRole};
use crate::stun::{Class, Message, MessageType, TransactionId};
use rng::Rng;
use rtp::{write_rtp, SourceStats};

pub use types::*;

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
    /// Started by a ClientHello on an ICE-valid pair (the path is the fork's, proved by its ICE credentials).
    ice_path: bool,
    /// T-8a: handshake done, certificate matches no known fork: waiting for an answer since then.
    pending_since: Option<Instant>,
    /// When its fingerprint was verified and keys installed.
    verified_at: Option<Instant>,
    /// F-6.8, D-4.3, T-5.5c: a newer association of the fork is verified; this one keeps decrypting until then
    /// and is closed (Superseded) at that instant.
    retire_at: Option<Instant>,
    /// [`MediaEvent::RekeyDue`] was emitted for this association (once each).
    rekey_due_sent: bool,
    /// `(packets_out, payload_out)` when our SSRC last changed: the SR counts start again (RFC 3550 §8.2).
    sr_base: (u64, u64),
}

/// An SRTP/SRTCP packet that no keyed association authenticated while another association from the same
/// remote was still handshaking (a rekey in progress): retried once that one has keys (F-6.8, no loss when
/// the peer's first new-key packets overtake its last handshake flight).
struct Held {
    at: Instant,
    remote: SocketAddr,
    bytes: Vec<u8>,
    rtcp: bool,
}

/// Most packets held for an association still handshaking.
const MAX_HELD: usize = 64;

struct Fork {
    id: ForkId,
    addr: Option<SocketAddr>,
    role: DtlsRole,
    fingerprints: Vec<Fingerprint>,
    renew_pending: bool,
    ice: bool,
    /// The signalling layer said this fork's answer is the final one (the 2xx, [`MediaPort::set_final_answer`]).
    final_answer: bool,
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
    /// Item-2 policy: the final fork is verified, so ClientHellos from new addresses are refused (statelessly)
    /// until a renewing offer makes a new association expected.
    locked: bool,
    more_answers: bool,
    pending_timeout: Duration,
    max_pending: usize,
    max_pending_per_ip: usize,
    ice: Option<IceAgent>,
    ice_path_ok: bool,
    local_ssrc: u32,
    rtcp_interval: Duration,
    next_rtcp: Instant,
    clock_rate: u32,
    /// Wall-clock anchor: at this instant the NTP time was this (RFC 3550 §6.4.1).
    wall: (Instant, u64),
    cname: String,
    rtcp_mode: RtcpMux,
    rtcp_out: VecDeque<(ForkId, Vec<u8>)>,
    max_associations: usize,
    max_handshakes_per_ip: usize,
    max_ssrcs: usize,
    ssrc_fail_limit: u32,
    ssrc_block_time: Duration,
    rekey_grace: Duration,
    rekey_interval: Option<Duration>,
    held: VecDeque<Held>,
    /// Held packets are being retried (they are not held again).
    replaying: bool,
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
        let cname = if config.cname.is_empty() {
            let mut b = [0u8; 16];
            rng.fill(&mut b);
            rtcp::random_cname(b)
        } else {
            config.cname
        };
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
            locked: false,
            more_answers: false,
            pending_timeout: config.pending_timeout,
            max_pending: config.max_pending.max(1),
            max_pending_per_ip: config.max_pending_per_ip.max(1),
            ice: None,
            ice_path_ok: false,
            local_ssrc,
            rtcp_interval: config.rtcp_interval.max(Duration::from_millis(10)),
            next_rtcp: now + config.rtcp_interval,
            clock_rate: config.clock_rate.max(1),
            wall: (now, config.ntp_at_start),
            cname,
            rtcp_mode: RtcpMux::Muxed,
            rtcp_out: VecDeque::new(),
            max_associations: config.max_associations.max(1),
            max_handshakes_per_ip: config.max_handshakes_per_ip.max(1),
            max_ssrcs: config.max_ssrcs.max(1),
            ssrc_fail_limit: config.ssrc_fail_limit.max(1),
            ssrc_block_time: config.ssrc_block_time,
            rekey_grace: config.rekey_grace,
            rekey_interval: config.rekey_interval,
            held: VecDeque::new(),
            replaying: false,
            next_assoc: 0,
            binding_tids: Vec::new(),
            demux: Demux::new(),
            counters: PortCounters::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    // ---- commands ----------------------------------------------------------------------------------------

    /// Accept ClientHellos from new addresses (we offered `actpass` or answered `passive`; F-5.8, P-6.2c).
    /// [`set_peer`](Self::set_peer) with [`DtlsRole::Server`] turns this on too.
    pub fn listen(&mut self, on: bool) {
        self.listening = on;
    }

    /// T-8a: while `more` is true (forking, no final answer yet) a certificate that matches no fork waits
    /// (bounded by [`MediaPortConfig::pending_timeout`] and [`MediaPortConfig::max_pending`]) for an answer
    /// whose fingerprint it matches. Setting it to false decides every waiting association now: the one from
    /// a final fork's signalled address is a mismatch (F-5.15), the others are discarded and counted
    /// ([`PortCounters::unmatched_discarded`]), never fatal.
    pub fn set_more_answers(&mut self, now: Instant, more: bool) {
        self.more_answers = more;
        self.bind_all(now);
        self.lock_if_final_verified();
        self.after(now);
    }

    /// T-8a, F-5.15: `fork`'s answer is the final one (the 2xx). An association from its signalled address
    /// (or its ICE pair) whose certificate does not match its fingerprints is a mismatch at once, even while
    /// other forks' answers may still come; once the fork is verified, ClientHellos from new addresses are
    /// refused without creating state until a renewing offer ([`Self::set_peer`] with a new association).
    pub fn set_final_answer(&mut self, now: Instant, fork: ForkId) -> Result<(), MediaError> {
        let f = self
            .forks
            .iter_mut()
            .find(|f| f.id == fork)
            .ok_or(MediaError::UnknownFork)?;
        f.final_answer = true;
        self.bind_all(now);
        self.lock_if_final_verified();
        self.after(now);
        Ok(())
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
        let creds = credentials.unwrap_or_else(|| IceCredentials::random(&mut child));
        let fill_rng = self.rng.child();
        let mut agent = IceAgent::new(now, config, creds.clone(), role, Box::new(fill_rng));
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
                final_answer: false,
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
        if renew {
            // A new association is expected (T-5.5c, T-5.1a): new remotes may start one again.
            self.locked = false;
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
                // Also for the initial answer (association `New { Initial }`): only a renewal of a running
                // association of this fork skips the check.
                if !connected && self.ice.is_none() && !(renew && has_assoc) {
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

    /// Close every association of `fork` (losing fork cancelled, call ended) and forget the fork: an RTCP BYE
    /// first ([`Self::send_bye`]), then close_notify. Its SSRC mappings are removed (D-5.1.2c).
    pub fn close_fork(&mut self, now: Instant, fork: ForkId) -> Result<(), MediaError> {
        let pos = self
            .forks
            .iter()
            .position(|f| f.id == fork)
            .ok_or(MediaError::UnknownFork)?;
        // RFC 3550 §6.6: the fork's peer learns that our source left.
        self.send_bye(now, Some(fork), None);
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
        self.check_key_limit(ai);
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
        self.expire_pending(now);
        self.retire_superseded(now);
        self.check_rekey_due(now);
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

    /// The earliest deadline: DTLS timers, ICE timers, the next RTCP report (while some association has keys),
    /// the end of a superseded association's grace period ([`MediaPortConfig::rekey_grace`]) and the rekey
    /// interval ([`MediaPortConfig::rekey_interval`]).
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
        let pending = self
            .assocs
            .iter()
            .filter(|a| !a.closed)
            .filter_map(|a| a.pending_since)
            .min()
            .map(|t| t + self.pending_timeout);
        let retire = self
            .assocs
            .iter()
            .filter(|a| !a.closed)
            .filter_map(|a| a.retire_at)
            .min();
        let interval = self.rekey_interval.and_then(|iv| {
            self.assocs
                .iter()
                .filter(|a| !a.closed && !a.rekey_due_sent && a.retire_at.is_none())
                .filter_map(|a| a.verified_at)
                .min()
                .map(|t| t + iv)
        });
        [dtls, ice, rtcp, pending, retire, interval]
            .into_iter()
            .flatten()
            .min()
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
            ice_path: no_cookie,
            pending_since: None,
            verified_at: None,
            retire_at: None,
            rekey_due_sent: false,
            sr_base: (0, 0),
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
}
// The driver moves the port into one task: it must be Send.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<MediaPort>();
};
