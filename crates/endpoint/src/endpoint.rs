//! The [`Endpoint`]: the SIP agent (UA events and commands) over calls, each a session and its media legs (see
//! the crate docs). This file: the endpoint, its inputs and outputs, and the event pump; [`call`] the call
//! state, [`uac`]/[`uas`] the two sides of a call's setup, [`reoffer`] modifications and hold, [`media`] the
//! legs; [`trust`], [`keychange`], [`identity`], [`fetch`] the security decisions.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use dtlsrtp_dtls::{CookieSecret, HashFunction};
use dtlsrtp_media::{ForkId as MFork, MediaEvent, MediaPort, MediaPortConfig, PeerParams};
use dtlsrtp_sdp::negotiate::{Renew, RtpPolicy};
use dtlsrtp_sdp::{DtlsMedia, PendingOffer, Sdp};
use dtlsrtp_session::{latching_peer, LegKind, Negotiated, PlainEvent, PlainLeg, Session};
use dtlsrtp_sip::identity::{
    call_security_state, CallSecurityState, Continuity, Disposition, IdentityError, IdentityPolicy,
    PeerKeyCache, RequestFacts, Sas, Verdict,
};
use dtlsrtp_sip::ua::{self, ModifyKind, RequestExtras, Rng, UserAgent};
use dtlsrtp_sip::{HeaderName, SipUri};
use dtlsrtp_srtp::{DtlsRole, SrtpProfile};

use crate::{
    CallId, CallOptions, CallStats, Config, Datagram, EndReason, Error, Event, ForkId, RegId,
    Transmit, TransportKind,
};

mod call;
mod dtmf;
mod fetch;
mod ice;
mod identity;
mod keychange;
mod media;
mod reoffer;
mod trust;
mod uac;
mod uas;

use call::{sdp_fingerprints, Call, Phase, Reoffer, Security};

use fetch::{CertCache, Fetches, ParkKind};

/// Rounds of "drain UA and media events" per input (each round handles everything queued; bounded).
const PUMP_ROUNDS: usize = 32;

/// The sans-IO endpoint (see the crate docs).
pub struct Endpoint {
    cfg: Config,
    ua: UserAgent,
    rng: Rng,
    calls: HashMap<CallId, Call>,
    /// Media socket → call.
    owners: HashMap<SocketAddr, CallId>,
    free_sockets: VecDeque<SocketAddr>,
    fingerprint: dtlsrtp_sdp::Fingerprint,
    out: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// SIP-level datagrams on unknown local sockets, media for no call.
    dropped: u64,
    /// The NTP anchor every media port shares ([`Config::wall_clock`], or the first port's creation counted
    /// from the Unix epoch): RTT across a call's RTP and RTCP ports needs one clock (RFC 3550 §6.4.1).
    ntp_anchor: Option<(Instant, std::time::Duration)>,
    /// Continuity of authentication (F-8.4b): peer fingerprints per verified identity.
    peer_keys: PeerKeyCache,
    /// While an anonymous call is being set up: its fresh certificate and fingerprint (F-6.1b).
    call_cert: Option<(dtlsrtp_dtls::Certificate, dtlsrtp_sdp::Fingerprint)>,
    /// Identity certificates fetched by the driver (issue 12 item 7).
    certs: CertCache,
    /// Requests waiting for certificate fetches, and the fetches in flight.
    fetches: Fetches,
    /// Set while a parked request resumes: a certificate not in the cache is unreachable, not fetched.
    no_fetch: bool,
    /// The source of the SIP message being handled (per-source bound on parked requests).
    sip_source: Option<IpAddr>,
    /// Calls' RFC 4733 telephone-event state (W-3, [`dtmf`]).
    dtmf: HashMap<CallId, dtlsrtp_session::DtmfLeg>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("user", &self.cfg.user)
            .field("calls", &self.calls.len())
            .field("free_sockets", &self.free_sockets.len())
            .finish_non_exhaustive()
    }
}

fn fill_from(rng: &mut Rng) -> impl FnMut(&mut [u8]) + '_ {
    move |buf: &mut [u8]| {
        for chunk in buf.chunks_mut(32) {
            let b = rng.block();
            let n = chunk.len().min(b.len());
            if let (Some(dst), Some(src)) = (chunk.get_mut(..n), b.get(..n)) {
                dst.copy_from_slice(src);
            }
        }
    }
}

fn peer_params(d: &DtlsMedia, port_has_ice: bool) -> PeerParams {
    let mut p = latching_peer(d);
    p.ice = ice::remote(d, port_has_ice);
    p
}

impl Endpoint {
    /// The fork id of an incoming call's (only) dialog.
    pub const UAS_FORK: ForkId = ForkId(0);

    /// An endpoint. Fails when the certificate's fingerprint cannot be computed.
    pub fn new(cfg: Config) -> Result<Self, Error> {
        let mut rng = Rng::new(cfg.seed);
        let mut ucfg = ua::Config::new(
            &cfg.user,
            &cfg.domain,
            cfg.sip
                .first()
                .map_or(SocketAddr::from(([127, 0, 0, 1], 5060)), |s| s.1),
        );
        ucfg.local = cfg.sip.clone();
        ucfg.outbound_proxy = cfg.outbound_proxy;
        ucfg.credentials = cfg.credentials.clone();
        ucfg.timers = cfg.sip_timers;
        ucfg.use_100rel = cfg.use_100rel;
        ucfg.max_calls = cfg.max_calls;
        let ua = UserAgent::new(ucfg, rng.block());
        let fingerprint = cfg.certificate.fingerprint(HashFunction::Sha256)?;
        // Loaded by the driver (issue 13 design item 3: no file I/O here).
        let peer_keys = cfg
            .identity
            .as_ref()
            .map(|i| i.known_peers.clone())
            .unwrap_or_default();
        Ok(Self {
            peer_keys,
            call_cert: None,
            certs: CertCache::default(),
            fetches: Fetches::default(),
            no_fetch: false,
            sip_source: None,
            dtmf: HashMap::new(),
            cfg,
            ua,
            rng,
            calls: HashMap::new(),
            owners: HashMap::new(),
            free_sockets: VecDeque::new(),
            fingerprint,
            out: VecDeque::new(),
            events: VecDeque::new(),
            dropped: 0,
            ntp_anchor: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The underlying UA (dialogs, offer state), for inspection.
    pub fn ua(&self) -> &UserAgent {
        &self.ua
    }

    // ---- media socket pool -----------------------------------------------------------------------------

    /// The driver bound a UDP socket at `local` for media: it joins the pool.
    pub fn add_media_socket(&mut self, local: SocketAddr) {
        self.free_sockets.push_back(local);
    }

    /// Sockets left in the pool (the driver tops it up).
    pub fn free_media_sockets(&self) -> usize {
        self.free_sockets.len()
    }

    /// A UDP datagram on the SIP socket or on a media socket.
    pub fn handle_datagram(&mut self, now: Instant, d: Datagram<'_>) {
        let sip_udp = self
            .cfg
            .sip
            .iter()
            .any(|&(t, a)| t == TransportKind::Udp && a == d.local);
        if sip_udp {
            self.sip_source = Some(d.remote.ip());
            self.ua.handle_datagram(now, d.remote, d.bytes);
        } else if let Some(call) = self.owners.get(&d.local).copied() {
            if let Some(c) = self.calls.get_mut(&call) {
                match c.plain.as_mut().filter(|p| p.local_addr() == d.local) {
                    Some(p) => p.handle_datagram(now, d.remote, d.bytes),
                    None => {
                        for p in c.ports_mut() {
                            if p.local_addr() == d.local {
                                p.handle_datagram(now, d.remote, d.bytes);
                            }
                        }
                    }
                }
            }
        } else {
            self.dropped += 1;
        }
        self.pump(now);
        self.sip_source = None;
    }

    /// Bytes of a SIP TCP/TLS connection with `remote`.
    pub fn handle_stream(
        &mut self,
        now: Instant,
        transport: TransportKind,
        remote: SocketAddr,
        bytes: &[u8],
    ) {
        self.sip_source = Some(remote.ip());
        self.ua.handle_stream(now, transport, remote, bytes);
        self.pump(now);
        self.sip_source = None;
    }

    /// A TCP/TLS connection closed.
    pub fn connection_closed(
        &mut self,
        now: Instant,
        transport: TransportKind,
        remote: SocketAddr,
    ) {
        self.ua.connection_closed(transport, remote);
        self.pump(now);
    }

    /// A TCP/TLS connection to `remote` could not be opened (or its handshake failed): the transactions that
    /// needed it fail at once (RFC 3261 §17.1.4).
    pub fn transport_failed(&mut self, now: Instant, transport: TransportKind, remote: SocketAddr) {
        self.ua.transport_failed(now, transport, remote);
        self.pump(now);
    }

    /// Timers of the UA and of every media port. Safe to call early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ua.handle_timeout(now);
        for c in self.calls.values_mut() {
            for p in c.ports_mut() {
                p.handle_timeout(now);
            }
        }
        self.expire_fetches(now);
        self.dtmf_timeout(now);
        self.retire_ports(now);
        self.pump(now);
        self.check_media_deadlines(now);
        self.pump(now);
    }

    // ---- outputs -----------------------------------------------------------------------------------------

    /// The next datagram or stream write.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline of the UA and the media ports.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.ua.poll_timeout();
        if let Some(d) = self.fetches.deadline() {
            t = Some(t.map_or(d, |x| x.min(d)));
        }
        if let Some(d) = self.dtmf_deadline() {
            t = Some(t.map_or(d, |x| x.min(d)));
        }
        for c in self.calls.values() {
            let ports = std::iter::once(&c.port)
                .chain(c.next_port.as_ref())
                .chain(c.rtcp.as_ref())
                .chain(c.reoffer.as_ref().and_then(|r| r.port.as_ref()))
                .chain(c.retiring.iter().map(|r| &r.0));
            for p in ports {
                if let Some(pt) = p.poll_timeout() {
                    t = Some(t.map_or(pt, |x| x.min(pt)));
                }
            }
            if let Some(d) = c.phase.media_deadline() {
                t = Some(t.map_or(d, |x| x.min(d)));
            }
            for &(_, d) in &c.retiring {
                t = Some(t.map_or(d, |x| x.min(d)));
            }
        }
        t
    }

    /// Datagrams dropped because no socket or call owned them.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Live calls.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Ends a call: CANCEL before the answer, BYE after, 603 for an unanswered incoming call.
    pub fn hangup(&mut self, now: Instant, call: CallId) -> Result<(), Error> {
        if let Some(c) = self.calls.get_mut(&call) {
            if c.phase.is_answered() {
                // RFC 3550 §6.6: the RTCP BYE leaves before the SIP BYE, while the peer still listens.
                for p in c.ports_mut() {
                    let _ = p.send_bye(now, None, None);
                }
                c.shuttle_rtcp(now);
                self.drain_media();
            }
        }
        self.ua.hangup(now, call)?;
        self.pump(now);
        Ok(())
    }

    /// REGISTER at a registrar (e.g. Kamailio) with digest credentials.
    pub fn register(&mut self, now: Instant, cfg: ua::RegisterConfig) -> Result<RegId, Error> {
        let r = self.ua.register(now, cfg)?;
        self.pump(now);
        Ok(r)
    }

    // ---- internals ---------------------------------------------------------------------------------------

    fn sip_local(&self, transport: TransportKind) -> SocketAddr {
        self.cfg
            .sip
            .iter()
            .find(|s| s.0 == transport)
            .or(self.cfg.sip.first())
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |s| s.1)
    }

    fn pump(&mut self, now: Instant) {
        for _ in 0..PUMP_ROUNDS {
            let mut progressed = false;
            while let Some(t) = self.ua.poll_transmit() {
                let local = self.sip_local(t.transport);
                self.out.push_back(Transmit {
                    local,
                    remote: t.remote,
                    transport: t.transport,
                    bytes: t.bytes,
                });
            }
            while let Some(e) = self.ua.poll_event() {
                progressed = true;
                self.on_ua_event(now, e);
            }
            let mut media = Vec::new();
            for (&id, c) in self.calls.iter_mut() {
                for p in c.ports_mut() {
                    let local = p.local_addr();
                    while let Some(e) = p.poll_event() {
                        media.push((id, local, e));
                    }
                }
            }
            for (id, local, e) in media {
                progressed = true;
                self.on_media_event(now, id, local, e);
            }
            let mut plain = Vec::new();
            for (&id, c) in self.calls.iter_mut() {
                if let Some(p) = c.plain.as_mut() {
                    while let Some(e) = p.poll_event() {
                        plain.push((id, e));
                    }
                }
            }
            for (id, e) in plain {
                progressed = true;
                self.on_plain_event(now, id, e);
            }
            for c in self.calls.values_mut() {
                c.shuttle_rtcp(now);
            }
            self.drain_media();
            if !progressed {
                break;
            }
        }
    }

    fn on_ua_event(&mut self, now: Instant, e: ua::Event) {
        match e {
            ua::Event::IncomingCall { call, from, offer } => {
                self.on_incoming(now, call, from, offer)
            }
            ua::Event::Provisional {
                call, fork, body, ..
            } => {
                let delayed = self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.uac && c.delayed_offer);
                let early = match (fork, body) {
                    (Some(f), Some(b)) if !b.is_empty() && delayed => {
                        self.answer_early_offer(now, call, f, &b)
                    }
                    (Some(f), Some(b)) if !b.is_empty() => self.apply_fork_answer(now, call, f, &b),
                    _ => false,
                };
                if early {
                    if let Some(fork) = fork {
                        self.events.push_back(Event::EarlyMedia { call, fork });
                    }
                } else {
                    self.events.push_back(Event::Ringing { call, fork });
                }
            }
            ua::Event::Answered { call, fork, body } => self.on_answered(now, call, fork, body),
            ua::Event::ForkEnded { call, fork } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    if let Some(f) = c.fork(fork) {
                        let mf = f.media;
                        let _ = c.port.close_fork(now, mf);
                        if let Some(r) = c.rtcp.as_mut() {
                            let _ = r.close_fork(now, mf);
                        }
                    }
                    c.forks.retain(|f| f.sip != fork);
                }
                self.events.push_back(Event::ForkEnded { call, fork });
            }
            ua::Event::NoMoreAnswers { call } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.port.set_more_answers(now, false);
                    if let Some(r) = c.rtcp.as_mut() {
                        r.set_more_answers(now, false);
                    }
                }
            }
            ua::Event::AckReceived { call, body } => {
                if let Some(b) = body.filter(|b| !b.is_empty()) {
                    self.on_answer_to_2xx_offer(now, call, &b);
                }
                self.check_established(call);
                self.send_connected_identity(now, call);
            }
            ua::Event::PrackReceived { call, body } => {
                if let Some(b) = body.filter(|b| !b.is_empty()) {
                    self.on_answer_to_2xx_offer(now, call, &b);
                }
            }
            ua::Event::ModifyRequest { call, body, .. } => self.on_modify_request(now, call, body),
            ua::Event::ModifyAnswered { call, body, .. } => {
                self.on_modify_answered(now, call, body)
            }
            ua::Event::ModifyRejected { call, status, .. } => {
                let released = self.calls.get_mut(&call).and_then(|c| {
                    c.neg.cancel_offer();
                    c.reoffer.take().and_then(|r| r.port)
                });
                if let Some(p) = released {
                    self.release_port(&p);
                }
                self.events.push_back(Event::ModifyFailed { call, status });
            }
            ua::Event::Terminated { call, reason } => self.on_terminated(now, call, reason),
            ua::Event::Registered { reg, expires } => {
                self.events.push_back(Event::Registered { reg, expires })
            }
            ua::Event::RegistrationFailed { reg, status } => self
                .events
                .push_back(Event::RegistrationFailed { reg, status }),
            ua::Event::CloseConnection { transport, remote } => self
                .events
                .push_back(Event::CloseConnection { transport, remote }),
            _ => {}
        }
    }
}

fn map_reason(r: ua::EndReason) -> EndReason {
    match r {
        ua::EndReason::Local => EndReason::Local,
        ua::EndReason::RemoteBye => EndReason::RemoteBye,
        ua::EndReason::Rejected(s) => EndReason::Rejected(s),
        ua::EndReason::Cancelled => EndReason::Cancelled,
        ua::EndReason::Timeout | ua::EndReason::AckTimeout | ua::EndReason::TransportError => {
            EndReason::Timeout
        }
        _ => EndReason::Other,
    }
}
