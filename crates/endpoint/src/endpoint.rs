//! The [`Endpoint`]: UA events → negotiator → media ports, and back (see the crate docs).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use dtlsrtp_dtls::{CookieSecret, HashFunction};
use dtlsrtp_media::{
    dtls_role, ForkId as MFork, MediaEvent, MediaPort, MediaPortConfig, PeerParams,
};
use dtlsrtp_sdp::attr::Direction;
use dtlsrtp_sdp::negotiate::{LocalMedia, MediaOutcome, Renew};
use dtlsrtp_sdp::{DtlsMedia, Negotiator, PendingOffer, Sdp};
use dtlsrtp_sip::identity::{
    call_security_state, CallSecurityState, Continuity, Disposition, IdentityError, IdentityPolicy,
    PeerKeyCache, RequestFacts, Sas, Verdict,
};
use dtlsrtp_sip::ua::{self, ModifyKind, RequestExtras, Rng, UserAgent};
use dtlsrtp_sip::{HeaderName, SipUri};

use crate::{
    CallId, CallOptions, CallStats, Config, Datagram, EndReason, Error, Event, ForkId, RegId,
    Transmit, TransportKind,
};

mod fetch;
mod ice;
mod identity;
mod keychange;
mod trust;

use fetch::{CertCache, Fetches, ParkKind};

/// Rounds of "drain UA and media events" per input (each round handles everything queued; bounded).
const PUMP_ROUNDS: usize = 32;

/// One fork of a call (an early or confirmed dialog) and its media binding.
struct Fork {
    sip: ForkId,
    media: MFork,
    /// UAC: this fork's negotiator after its answer was applied (F-6.3).
    neg: Option<Negotiator>,
    verified: bool,
    /// This fork's answer kept RTCP on the RTP port (RFC 5761).
    rtcp_mux: bool,
    /// UAC: the fingerprints of this fork's answer.
    peer_fps: Vec<(String, Vec<u8>)>,
    /// UAC: this early dialog's own media failed its fingerprint (F-5.15 if it answers).
    mismatched: bool,
}

/// Our outstanding re-offer.
struct Reoffer {
    pending: PendingOffer,
    /// The new port of a renewing re-offer (T-5.1a).
    port: Option<MediaPort>,
}

struct Call {
    uac: bool,
    /// UAC before the answer: the negotiator that made the offer (cloned per fork). After the answer (or UAS):
    /// the dialog's negotiator.
    neg: Negotiator,
    /// UAC: the initial offer's token.
    pending: Option<PendingOffer>,
    /// UAS delayed offer / bodiless re-INVITE: the offer we put in our 2xx.
    pending_in_2xx: Option<PendingOffer>,
    reoffer: Option<Reoffer>,
    forks: Vec<Fork>,
    next_media_fork: u32,
    port: MediaPort,
    /// A renewed association's port until it is verified.
    next_port: Option<MediaPort>,
    /// D-3b: the RTCP component's port (its own DTLS association) for a peer that refuses rtcp-mux. Offered as
    /// `a=rtcp:PORT` fallback (RFC 5761 §5.1.3); released when the winning answer muxes.
    rtcp: Option<MediaPort>,
    /// Our media direction in offers and answers (hold: sendonly; F-6.6: hold/resume keeps the association).
    direction: Direction,
    winner: Option<ForkId>,
    established: bool,
    /// UAS: our answer (for the 183 and the 200), and its outcome to bind when we answer.
    answer: Option<(Vec<u8>, MediaOutcome)>,
    peer_bound: bool,
    /// UAS delayed offer: our offer already went in a reliable 183 (its answer comes in the PRACK).
    early_offer_sent: bool,
    answered: bool,
    delayed_offer: bool,
    end_reason: Option<EndReason>,
    /// Item 4: the answered call's media must be verified by then ([`Config::media_timeout`]).
    media_deadline: Option<Instant>,
    /// Identity and security state (issue 8).
    sec: Security,
}

/// A call's identity state.
struct Security {
    /// UAS: the verdict on the caller's INVITE. UAC: [`Verdict::Absent`] (responses carry no Identity).
    peer: Verdict,
    /// UAC: the verdict on the callee's RFC 4916 UPDATE (I-3).
    connected: Option<Verdict>,
    /// The peer's SDP fingerprints the media is verified against (UAS: the offer's; UAC: the winning
    /// answer's).
    peer_fps: Vec<(String, Vec<u8>)>,
    /// Our fingerprint in this call's SDP (the anonymous certificate's for an anonymous call).
    local_fp: (String, Vec<u8>),
    /// UAS: the caller supports `from-change` (RFC 4916): we send the connected-identity UPDATE after the ACK.
    peer_from_change: bool,
    /// The connected-identity UPDATE has been sent.
    update_sent: bool,
    /// The last state and SAS reported.
    shown: Option<(CallSecurityState, Option<String>)>,
    /// An anonymous call's own certificate (renewed associations use it too).
    anon_cert: Option<(dtlsrtp_dtls::Certificate, dtlsrtp_sdp::Fingerprint)>,
}

impl Security {
    fn new(local_fp: &dtlsrtp_sdp::Fingerprint) -> Self {
        Self {
            peer: Verdict::Absent,
            connected: None,
            peer_fps: Vec::new(),
            local_fp: fp_pair(local_fp),
            peer_from_change: false,
            update_sent: false,
            shown: None,
            anon_cert: None,
        }
    }
}

fn fp_pair(f: &dtlsrtp_sdp::Fingerprint) -> (String, Vec<u8>) {
    (f.hash().name().to_owned(), f.digest().to_vec())
}

/// Every `a=fingerprint` of an SDP body, session and media level, as (hash name, digest) (RFC 8224 §12.1:
/// what `mky` lists). Lines that do not parse are skipped (they cannot match a certificate either).
fn sdp_fingerprints(body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let text = String::from_utf8_lossy(body);
    text.lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix("a=fingerprint:"))
        .filter_map(|v| v.trim().parse::<dtlsrtp_sdp::Fingerprint>().ok())
        .map(|f| fp_pair(&f))
        .collect()
}

impl Call {
    fn fork(&self, sip: ForkId) -> Option<&Fork> {
        self.forks.iter().find(|f| f.sip == sip)
    }
    fn fork_mut(&mut self, sip: ForkId) -> Option<&mut Fork> {
        self.forks.iter_mut().find(|f| f.sip == sip)
    }
    fn sip_fork(&self, media: MFork) -> Option<ForkId> {
        self.forks.iter().find(|f| f.media == media).map(|f| f.sip)
    }
    fn ensure_fork(&mut self, sip: ForkId) -> MFork {
        if let Some(f) = self.fork(sip) {
            return f.media;
        }
        self.next_media_fork += 1;
        let media = MFork(self.next_media_fork);
        self.forks.push(Fork {
            sip,
            media,
            neg: None,
            verified: false,
            rtcp_mux: true,
            peer_fps: Vec::new(),
            mismatched: false,
        });
        media
    }
    fn ports_mut(&mut self) -> impl Iterator<Item = &mut MediaPort> {
        std::iter::once(&mut self.port)
            .chain(self.next_port.as_mut())
            .chain(self.rtcp.as_mut())
            .chain(self.reoffer.as_mut().and_then(|r| r.port.as_mut()))
    }
}

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
    let addr = d
        .remote_address
        .as_deref()
        .and_then(|a| a.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, d.remote_port));
    PeerParams {
        addr,
        role: dtls_role(d.local_role),
        fingerprints: d.remote_fingerprints.clone(),
        association: d.association,
        ice: ice::remote(d, port_has_ice),
    }
}

/// The first DTLS m-line of an outcome (our calls carry one audio stream).
fn first_dtls(outcomes: &[MediaOutcome]) -> Option<&DtlsMedia> {
    outcomes.iter().find_map(MediaOutcome::dtls)
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
        // An unreadable cache starts empty (the first save rewrites it).
        let peer_keys = cfg
            .identity
            .as_ref()
            .and_then(|i| i.peer_keys.as_deref())
            .and_then(|p| PeerKeyCache::load(p).ok())
            .unwrap_or_default();
        Ok(Self {
            peer_keys,
            call_cert: None,
            certs: CertCache::default(),
            fetches: Fetches::default(),
            no_fetch: false,
            sip_source: None,
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

    fn new_port(&mut self, now: Instant) -> Result<MediaPort, Error> {
        let local = self.free_sockets.pop_front().ok_or(Error::NoMediaSocket)?;
        let cert = self
            .call_cert
            .as_ref()
            .map_or(&self.cfg.certificate, |c| &c.0)
            .clone();
        let mut dtls = dtlsrtp_dtls::Config::new(cert, CookieSecret::new(self.rng.block()));
        if let Some(t) = self.cfg.dtls_initial_retransmit {
            dtls.initial_retransmit = t;
        }
        if !self.cfg.srtp_profiles.is_empty() {
            dtls.srtp_profiles.clone_from(&self.cfg.srtp_profiles);
        }
        dtls.key_log.clone_from(&self.cfg.key_log);
        let pcfg = MediaPortConfig::new(local, dtls, self.rng.block());
        match MediaPort::new(now, pcfg) {
            Ok(p) => Ok(p),
            Err(e) => {
                self.free_sockets.push_front(local);
                Err(e.into())
            }
        }
    }

    /// D-3b: a second port for the RTCP component, announced as `a=rtcp:PORT` on the audio m-line.
    fn rtcp_port(&mut self, now: Instant, sdp: &mut Sdp) -> Option<MediaPort> {
        let mut p = self.new_port(now).ok()?;
        let line = dtlsrtp_sdp::Line::new('a', &format!("rtcp:{}", p.local_addr().port())).ok();
        match (line, sdp.media_mut().first_mut()) {
            (Some(l), Some(m)) => {
                m.push(l);
                p.listen(true);
                Some(p)
            }
            _ => {
                self.free_sockets.push_front(p.local_addr());
                None
            }
        }
    }

    fn rtcp_addr(d: &DtlsMedia) -> Option<SocketAddr> {
        let ip = d.remote_address.as_deref()?.parse::<IpAddr>().ok()?;
        Some(SocketAddr::new(ip, d.remote_rtcp_port?))
    }

    fn release_port(&mut self, port: &MediaPort) {
        let local = port.local_addr();
        self.owners.remove(&local);
        self.events.push_back(Event::MediaSocketReleased { local });
    }

    fn negotiator(&mut self) -> Result<Negotiator, Error> {
        let fp = self
            .call_cert
            .as_ref()
            .map_or(&self.fingerprint, |c| &c.1)
            .clone();
        let mut c = dtlsrtp_sdp::Config::new(self.cfg.media_ip, vec![fp]);
        c.profile = self.cfg.profile;
        c.rtp_policy = self.cfg.policy;
        c.best_effort = self.cfg.best_effort;
        c.answer_setup = self.cfg.answer_setup;
        let mut fill = fill_from(&mut self.rng);
        Ok(Negotiator::new(c, &mut fill)?)
    }

    fn local_media(&self, port: u16) -> Vec<LocalMedia> {
        vec![LocalMedia {
            kind: "audio".into(),
            port,
            codecs: self.cfg.codecs.clone(),
            direction: Direction::SendRecv,
            mid: None,
        }]
    }

    // ---- inputs ------------------------------------------------------------------------------------------

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
                for p in c.ports_mut() {
                    if p.local_addr() == d.local {
                        p.handle_datagram(now, d.remote, d.bytes);
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
        for c in self.calls.values() {
            let ports = std::iter::once(&c.port)
                .chain(c.next_port.as_ref())
                .chain(c.rtcp.as_ref())
                .chain(c.reoffer.as_ref().and_then(|r| r.port.as_ref()));
            for p in ports {
                if let Some(pt) = p.poll_timeout() {
                    t = Some(t.map_or(pt, |x| x.min(pt)));
                }
            }
            if let Some(d) = c
                .media_deadline
                .filter(|_| !c.established && c.end_reason.is_none())
            {
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

    /// The call's media state.
    pub fn stats(&self, call: CallId) -> Option<CallStats> {
        let c = self.calls.get(&call)?;
        let associations = c.port.associations();
        let forks = associations
            .iter()
            .map(|a| (a.fork.and_then(|f| c.sip_fork(f)), a.remote))
            .collect();
        Some(CallStats {
            rtcp_associations: c
                .rtcp
                .as_ref()
                .map(MediaPort::associations)
                .unwrap_or_default(),
            local: c.port.local_addr(),
            counters: c.port.counters(),
            associations,
            forks,
        })
    }

    // ---- commands ----------------------------------------------------------------------------------------

    /// Calls `target` (e.g. `sip:bob@127.0.0.1:5070`). The media port listens before the INVITE leaves (F-5.8).
    pub fn dial(&mut self, now: Instant, target: &str, opts: CallOptions) -> Result<CallId, Error> {
        if opts.anonymous {
            // F-6.1b/e: a fresh certificate for this call only, nothing identifying in it.
            let cert = dtlsrtp_dtls::Certificate::anonymous(dtlsrtp_dtls::KeyType::EcdsaP256)?;
            let fp = cert.fingerprint(HashFunction::Sha256)?;
            self.call_cert = Some((cert, fp));
        }
        let r = self.dial_inner(now, target, &opts);
        self.call_cert = None;
        r
    }

    fn dial_inner(
        &mut self,
        now: Instant,
        target: &str,
        opts: &CallOptions,
    ) -> Result<CallId, Error> {
        let uri = SipUri::parse(target)?;
        let local_fp = self
            .call_cert
            .as_ref()
            .map_or(&self.fingerprint, |c| &c.1)
            .clone();
        let mut neg = self.negotiator()?;
        let mut port = self.new_port(now)?;
        let local = port.local_addr();
        if let Some(mode) = self.cfg.ice {
            if let Err(e) = ice::enable(now, mode, &mut port, &mut neg, true) {
                self.free_sockets.push_front(local);
                return Err(e);
            }
        }
        let media = self.local_media(local.port());
        let mut rtcp = None;
        let (body, pending) = if opts.delayed_offer {
            (None, None)
        } else {
            let created = {
                let mut fill = fill_from(&mut self.rng);
                neg.create_offer(&media, Renew::Keep, &mut fill)
            };
            let (mut sdp, pending) = match created {
                Ok(x) => x,
                Err(e) => {
                    self.free_sockets.push_front(local);
                    return Err(e.into());
                }
            };
            if self.cfg.rtcp_fallback {
                rtcp = self.rtcp_port(now, &mut sdp);
            }
            port.listen(true);
            (Some(sdp.write().into_bytes()), Some(pending))
        };
        let extras = self.invite_extras(now, &uri, body.as_deref(), opts.anonymous);
        let call = match self.ua.call_with(now, &uri, body, &extras) {
            Ok(c) => c,
            Err(e) => {
                self.free_sockets.push_front(local);
                if let Some(r) = rtcp {
                    self.free_sockets.push_front(r.local_addr());
                }
                return Err(e.into());
            }
        };
        self.owners.insert(local, call);
        if let Some(r) = &rtcp {
            self.owners.insert(r.local_addr(), call);
        }
        // T-8a: until NoMoreAnswers, a certificate no fork names yet waits for its answer.
        port.set_more_answers(now, true);
        if let Some(r) = rtcp.as_mut() {
            r.set_more_answers(now, true);
        }
        self.calls.insert(
            call,
            Call {
                uac: true,
                neg,
                pending,
                pending_in_2xx: None,
                reoffer: None,
                forks: Vec::new(),
                next_media_fork: 0,
                port,
                next_port: None,
                rtcp,
                direction: Direction::SendRecv,
                winner: None,
                established: false,
                answer: None,
                peer_bound: false,
                early_offer_sent: false,
                answered: false,
                delayed_offer: opts.delayed_offer,
                end_reason: None,
                media_deadline: None,
                sec: Security {
                    anon_cert: self.call_cert.clone(),
                    ..Security::new(&local_fp)
                },
            },
        );
        self.pump(now);
        Ok(call)
    }

    /// Sends 180 Ringing for an incoming call.
    pub fn ring(&mut self, now: Instant, call: CallId) -> Result<(), Error> {
        self.ua.ring(now, call, 180, None)?;
        self.pump(now);
        Ok(())
    }

    /// Sends 183 with our answer (early media, F-6.2) and starts the DTLS handshake (our ClientHello follows
    /// the 183).
    pub fn early_media(&mut self, now: Instant, call: CallId) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        if c.uac || c.answered {
            return Err(Error::WrongState);
        }
        if c.delayed_offer {
            // F-6.4: our offer goes in a reliable 183; the caller answers in its PRACK.
            if c.early_offer_sent {
                return Err(Error::WrongState);
            }
            let media = vec![LocalMedia {
                kind: "audio".into(),
                port: c.port.local_addr().port(),
                codecs: self.cfg.codecs.clone(),
                direction: Direction::SendRecv,
                mid: None,
            }];
            let (sdp, pending) = {
                let mut fill = fill_from(&mut self.rng);
                c.neg.create_offer(&media, Renew::Keep, &mut fill)?
            };
            if let Err(e) = self.ua.ring(now, call, 183, Some(sdp.write().into_bytes())) {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.neg.cancel_offer();
                }
                return Err(e.into());
            }
            if let Some(c) = self.calls.get_mut(&call) {
                c.port.listen(true);
                c.pending_in_2xx = Some(pending);
                c.early_offer_sent = true;
            }
            self.pump(now);
            return Ok(());
        }
        let body = c
            .answer
            .as_ref()
            .map(|a| a.0.clone())
            .ok_or(Error::WrongState)?;
        self.ua.ring(now, call, 183, Some(body))?;
        self.pump(now);
        self.bind_uas(now, call)?;
        self.pump(now);
        Ok(())
    }

    /// Answers an incoming call with 200 and our answer (or our offer, for a delayed offer); as the DTLS client
    /// (default `setup:active`) our ClientHello follows the 200 at once.
    pub fn answer(&mut self, now: Instant, call: CallId) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        if c.uac || c.answered {
            return Err(Error::WrongState);
        }
        let body = if c.delayed_offer && c.early_offer_sent {
            // The offer/answer finished in the 183 and its PRACK: the 200 carries no SDP.
            None
        } else if c.delayed_offer {
            let media = {
                let local = c.port.local_addr();
                vec![LocalMedia {
                    kind: "audio".into(),
                    port: local.port(),
                    codecs: self.cfg.codecs.clone(),
                    direction: Direction::SendRecv,
                    mid: None,
                }]
            };
            let mut fill = fill_from(&mut self.rng);
            let (sdp, pending) = c.neg.create_offer(&media, Renew::Keep, &mut fill)?;
            c.port.listen(true);
            c.pending_in_2xx = Some(pending);
            Some(sdp.write().into_bytes())
        } else {
            Some(
                c.answer
                    .as_ref()
                    .map(|a| a.0.clone())
                    .ok_or(Error::WrongState)?,
            )
        };
        self.ua.answer(now, call, body)?;
        let deadline = now + self.cfg.media_timeout;
        if let Some(c) = self.calls.get_mut(&call) {
            c.answered = true;
            c.winner = Some(Self::UAS_FORK);
            c.media_deadline = Some(deadline);
        }
        self.events.push_back(Event::Answered {
            call,
            fork: Self::UAS_FORK,
        });
        self.pump(now);
        if !self.calls.get(&call).is_some_and(|c| c.delayed_offer) {
            self.bind_uas(now, call)?;
        }
        self.check_established(call);
        self.pump(now);
        Ok(())
    }

    /// Rejects an incoming call (486, 603, ...).
    pub fn reject(&mut self, now: Instant, call: CallId, status: u16) -> Result<(), Error> {
        self.ua.reject(now, call, status)?;
        self.pump(now);
        Ok(())
    }

    /// Ends a call: CANCEL before the answer, BYE after, 603 for an unanswered incoming call.
    pub fn hangup(&mut self, now: Instant, call: CallId) -> Result<(), Error> {
        self.ua.hangup(now, call)?;
        self.pump(now);
        Ok(())
    }

    /// Sends one RTP packet on the call (the winning fork; before the answer, the most recent early fork).
    /// Refused until keys exist and the fingerprint is verified (fail closed).
    pub fn send_rtp(
        &mut self,
        now: Instant,
        call: CallId,
        pt: u8,
        marker: bool,
        ts: u32,
        payload: &[u8],
    ) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        let fork = c
            .winner
            .and_then(|w| c.fork(w))
            .or_else(|| c.forks.iter().rev().find(|f| f.verified))
            .map(|f| f.media)
            .ok_or(Error::WrongState)?;
        c.port.send_rtp(now, fork, pt, marker, ts, payload)?;
        self.drain_media();
        Ok(())
    }

    /// [`Self::send_rtp`] without the marker bit: one audio frame.
    pub fn send_audio(
        &mut self,
        now: Instant,
        call: CallId,
        pt: u8,
        ts: u32,
        payload: &[u8],
    ) -> Result<(), Error> {
        self.send_rtp(now, call, pt, false, ts, payload)
    }

    /// A re-INVITE that keeps the association (same tls-id, port and fingerprint: SRTP continues, T-5.5b).
    pub fn reinvite(&mut self, now: Instant, call: CallId) -> Result<(), Error> {
        self.reoffer(now, call, false, ModifyKind::Reinvite)
    }

    /// An UPDATE (RFC 3311) that keeps the association.
    pub fn update(&mut self, now: Instant, call: CallId) -> Result<(), Error> {
        self.reoffer(now, call, false, ModifyKind::Update)
    }

    /// Hold (`a=sendonly`) or resume (`a=sendrecv`) by re-INVITE; the association is kept (F-6.6).
    pub fn hold(&mut self, now: Instant, call: CallId, on: bool) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        let before = c.direction;
        c.direction = if on {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        let r = self.reoffer(now, call, false, ModifyKind::Reinvite);
        if r.is_err() {
            if let Some(c) = self.calls.get_mut(&call) {
                c.direction = before;
            }
        }
        r
    }

    /// Rekey: a re-INVITE with a new tls-id on a new port (T-5.5a, T-5.1a); the old association carries
    /// media until the new one is verified.
    pub fn rekey(&mut self, now: Instant, call: CallId) -> Result<(), Error> {
        self.reoffer(now, call, true, ModifyKind::Reinvite)
    }

    fn reoffer(
        &mut self,
        now: Instant,
        call: CallId,
        renew: bool,
        kind: ModifyKind,
    ) -> Result<(), Error> {
        let c = self.calls.get(&call).ok_or(Error::UnknownCall)?;
        if c.winner.is_none() || c.reoffer.is_some() || c.pending_in_2xx.is_some() {
            return Err(Error::WrongState);
        }
        // An anonymous call renews with its own certificate, never the persistent one (F-6.1b).
        self.call_cert = c.sec.anon_cert.clone();
        let new_port = if renew {
            Some(self.new_port(now))
        } else {
            None
        };
        self.call_cert = None;
        let mut new_port = new_port.transpose()?;
        let Some(c) = self.calls.get_mut(&call) else {
            return Err(Error::UnknownCall);
        };
        let port_no = new_port
            .as_ref()
            .map_or(c.port.local_addr().port(), |p| p.local_addr().port());
        let media = vec![LocalMedia {
            kind: "audio".into(),
            port: port_no,
            codecs: self.cfg.codecs.clone(),
            direction: c.direction,
            mid: None,
        }];
        let how = if renew { Renew::All } else { Renew::Keep };
        let created = {
            let mut fill = fill_from(&mut self.rng);
            c.neg.create_offer(&media, how, &mut fill)
        };
        let (sdp, pending) = match created {
            Ok(x) => x,
            Err(e) => {
                if let Some(p) = new_port {
                    self.free_sockets.push_front(p.local_addr());
                }
                return Err(e.into());
            }
        };
        if let Err(e) = self
            .ua
            .modify(now, call, kind, Some(sdp.write().into_bytes()))
        {
            if let Some(c) = self.calls.get_mut(&call) {
                c.neg.cancel_offer();
            }
            if let Some(p) = new_port {
                self.free_sockets.push_front(p.local_addr());
            }
            return Err(e.into());
        }
        if let Some(p) = new_port.as_mut() {
            p.listen(true);
            self.owners.insert(p.local_addr(), call);
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.reoffer = Some(Reoffer {
                pending,
                port: new_port,
            });
        }
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

    /// UAS: bind our answer's outcome to the port (ClientHello when we are active).
    fn bind_uas(&mut self, now: Instant, call: CallId) -> Result<(), Error> {
        let Some(c) = self.calls.get_mut(&call) else {
            return Err(Error::UnknownCall);
        };
        if c.peer_bound {
            return Ok(());
        }
        let Some(d) = c.answer.as_ref().and_then(|a| a.1.dtls()).cloned() else {
            return Err(Error::WrongState);
        };
        let mf = c.ensure_fork(Self::UAS_FORK);
        c.port
            .set_peer(now, mf, peer_params(&d, c.port.ice().is_some()))?;
        if let (Some(r), Some(addr)) = (c.rtcp.as_mut(), Self::rtcp_addr(&d)) {
            let mut params = peer_params(&d, false);
            params.addr = Some(addr);
            r.set_peer(now, mf, params)?;
        }
        c.peer_bound = true;
        Ok(())
    }

    fn check_established(&mut self, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.established {
            return;
        }
        let Some(w) = c.winner else { return };
        if c.fork(w).is_some_and(|f| f.verified) && (c.answered || c.uac) {
            c.established = true;
            if c.uac {
                if let Some(f) = c.fork(w) {
                    c.sec.peer_fps = f.peer_fps.clone();
                }
            }
            self.events.push_back(Event::Established { call, fork: w });
            self.report_security(call);
        }
    }

    fn drain_media(&mut self) {
        for c in self.calls.values_mut() {
            let mut ports: Vec<&mut MediaPort> = c.ports_mut().collect();
            for p in ports.iter_mut() {
                let local = p.local_addr();
                while let Some(t) = p.poll_transmit() {
                    self.out.push_back(Transmit {
                        local,
                        remote: t.remote,
                        transport: TransportKind::Udp,
                        bytes: t.bytes,
                    });
                }
            }
        }
    }

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

    fn on_incoming(&mut self, now: Instant, call: CallId, from: String, offer: Option<Vec<u8>>) {
        // RFC 8224 §6 verification service (F-5.4, I-2): before any media state exists. A certificate not
        // in the cache parks the INVITE (its 100 Trying goes out) until the driver fetched it (issue 12 item 7).
        let mut sec = Security::new(&self.fingerprint);
        let checked = self.verify_or_park(now, call, || ParkKind::Incoming {
            from: from.clone(),
            offer: offer.clone(),
        });
        let Ok(checked) = checked else {
            return;
        };
        if let Some((verdict, from_change, _)) = checked {
            if let Disposition::Reject { code, .. } = verdict.disposition(self.identity_policy()) {
                let _ = self.ua.reject(now, call, code);
                return;
            }
            sec.peer = verdict;
            sec.peer_from_change = from_change;
        }
        sec.peer_fps = offer.as_deref().map(sdp_fingerprints).unwrap_or_default();
        let mut neg = match self.negotiator() {
            Ok(n) => n,
            Err(_) => {
                let _ = self.ua.reject(now, call, 500);
                return;
            }
        };
        let delayed = offer.as_ref().is_none_or(|b| b.is_empty());
        // A body that is not SDP is refused before any media state exists (floods stay cheap).
        let offer = match offer.filter(|b| !b.is_empty()).map(|b| Sdp::parse(&b)) {
            Some(Err(_)) => {
                let _ = self.ua.reject(now, call, 488);
                return;
            }
            Some(Ok(sdp)) => Some(sdp),
            None => None,
        };
        let mut port = match self.new_port(now) {
            Ok(p) => p,
            Err(_) => {
                let _ = self.ua.reject(now, call, 503);
                return;
            }
        };
        let local = port.local_addr();
        if let Some(mode) = self.cfg.ice {
            if ice::enable(now, mode, &mut port, &mut neg, false).is_err() {
                self.free_sockets.push_front(local);
                let _ = self.ua.reject(now, call, 500);
                return;
            }
        }
        let mut answer = None;
        let mut rtcp = None;
        if let Some(sdp) = offer {
            let media = self.local_media(local.port());
            let result = {
                let mut fill = fill_from(&mut self.rng);
                neg.answer(&sdp, &media, &mut fill)
                    .map_err(|e| e.sip_status())
            };
            let ok = result.ok().and_then(|mut a| {
                let o = a.media.iter().find(|m| m.dtls().is_some())?.clone();
                if self.cfg.rtcp_fallback && o.dtls().is_some_and(|d| !d.rtcp_mux) {
                    rtcp = self.rtcp_port(now, &mut a.sdp);
                }
                Some((a.sdp.write().into_bytes(), o))
            });
            match ok {
                Some(a) => answer = Some(a),
                None => {
                    // Not DTLS-SRTP (secure-only), or malformed: refuse, no call.
                    self.free_sockets.push_front(local);
                    let _ = self.ua.reject(now, call, 488);
                    return;
                }
            }
        }
        self.owners.insert(local, call);
        if let Some(r) = &rtcp {
            self.owners.insert(r.local_addr(), call);
        }
        self.calls.insert(
            call,
            Call {
                uac: false,
                neg,
                pending: None,
                pending_in_2xx: None,
                reoffer: None,
                forks: Vec::new(),
                next_media_fork: 0,
                port,
                next_port: None,
                rtcp,
                direction: Direction::SendRecv,
                winner: None,
                established: false,
                answer,
                peer_bound: false,
                early_offer_sent: false,
                answered: false,
                delayed_offer: delayed,
                end_reason: None,
                media_deadline: None,
                sec,
            },
        );
        self.events.push_back(Event::IncomingCall {
            call,
            from,
            delayed_offer: delayed,
        });
        // F-8.6a: a failed Identity is shown as such from the start (BestEffort let the call proceed).
        self.report_security(call);
    }

    /// UAC: a fork's answer (183 with SDP or 2xx) applied to its own negotiator clone and bound to the port.
    /// Returns whether it was bound.
    fn apply_fork_answer(&mut self, now: Instant, call: CallId, fork: ForkId, body: &[u8]) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if !c.uac || c.fork(fork).is_some_and(|f| f.neg.is_some()) {
            return c.fork(fork).is_some_and(|f| f.neg.is_some());
        }
        let Some(pending) = c.pending.as_ref().map(PendingOffer::fork) else {
            return false;
        };
        let Ok(sdp) = Sdp::parse(body) else {
            return false;
        };
        let mut neg = c.neg.clone();
        let Ok(outcomes) = neg.apply_answer(pending, &sdp) else {
            return false;
        };
        let Some(d) = first_dtls(&outcomes).cloned() else {
            return false;
        };
        let mf = c.ensure_fork(fork);
        if let Some(f) = c.fork_mut(fork) {
            f.peer_fps = sdp_fingerprints(body);
        }
        if c.port
            .set_peer(now, mf, peer_params(&d, c.port.ice().is_some()))
            .is_err()
        {
            return false;
        }
        if !d.rtcp_mux {
            // D-3b: the RTCP component gets its own association, towards the peer's RTCP port.
            if let (Some(r), Some(addr)) = (c.rtcp.as_mut(), Self::rtcp_addr(&d)) {
                let mut params = peer_params(&d, false);
                params.addr = Some(addr);
                let _ = r.set_peer(now, mf, params);
            }
        }
        if let Some(f) = c.fork_mut(fork) {
            f.neg = Some(neg);
            f.rtcp_mux = d.rtcp_mux;
        }
        true
    }

    /// UAC, delayed offer: the offer came in a reliable 1xx of `fork`; our answer goes in the PRACK (F-6.4).
    fn answer_early_offer(
        &mut self,
        now: Instant,
        call: CallId,
        fork: ForkId,
        body: &[u8],
    ) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if c.peer_bound {
            return true;
        }
        let media = vec![LocalMedia {
            kind: "audio".into(),
            port: c.port.local_addr().port(),
            codecs: self.cfg.codecs.clone(),
            direction: Direction::SendRecv,
            mid: None,
        }];
        let res = Sdp::parse(body).ok().and_then(|sdp| {
            let mut fill = fill_from(&mut self.rng);
            let a = c.neg.answer(&sdp, &media, &mut fill).ok()?;
            let d = a.media.iter().find_map(MediaOutcome::dtls)?.clone();
            Some((a.sdp.write().into_bytes(), d))
        });
        let Some((ans, d)) = res else {
            return false;
        };
        if self.ua.prack(now, call, fork, ans).is_err() {
            return false;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        let mf = c.ensure_fork(fork);
        let bound = c
            .port
            .set_peer(now, mf, peer_params(&d, c.port.ice().is_some()))
            .is_ok();
        c.peer_bound = bound;
        bound
    }

    fn on_answered(&mut self, now: Instant, call: CallId, fork: ForkId, body: Option<Vec<u8>>) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.winner = Some(fork);
        c.answered = true;
        let body = body.filter(|b| !b.is_empty());
        let ok = if c.delayed_offer && c.peer_bound && body.is_none() {
            // F-6.4: the offer came in a reliable 1xx and our PRACK answered it: nothing to negotiate here.
            true
        } else if c.delayed_offer {
            // F-6.4: the 2xx carries the offer; our answer goes in the ACK.
            let local = c.port.local_addr();
            let media = vec![LocalMedia {
                kind: "audio".into(),
                port: local.port(),
                codecs: self.cfg.codecs.clone(),
                direction: Direction::SendRecv,
                mid: None,
            }];
            let mut fill = fill_from(&mut self.rng);
            let res = body
                .as_ref()
                .and_then(|b| Sdp::parse(b).ok())
                .and_then(|sdp| {
                    let a = c.neg.answer(&sdp, &media, &mut fill).ok()?;
                    let d = a.media.iter().find_map(MediaOutcome::dtls)?.clone();
                    Some((a.sdp.write().into_bytes(), d))
                });
            match res {
                Some((ans, d)) => {
                    let mf = c.ensure_fork(fork);
                    let bound = c
                        .port
                        .set_peer(now, mf, peer_params(&d, c.port.ice().is_some()))
                        .is_ok();
                    let _ = self.ua.ack(now, call, ans);
                    bound
                }
                None => false,
            }
        } else {
            let early = c.fork(fork).is_some_and(|f| f.neg.is_some());
            early
                || body
                    .as_ref()
                    .is_some_and(|b| self.apply_fork_answer(now, call, fork, b))
        };
        let mut unused_rtcp = None;
        if let Some(c) = self.calls.get_mut(&call) {
            if let Some(n) = c.fork_mut(fork).and_then(|f| f.neg.take()) {
                c.neg = n;
            }
            c.pending = None;
            if c.fork(fork).is_none_or(|f| f.rtcp_mux) {
                unused_rtcp = c.rtcp.take();
            }
        }
        if let Some(r) = unused_rtcp {
            self.release_port(&r);
        }
        if ok {
            self.events.push_back(Event::Answered { call, fork });
            self.on_final_answer(now, call, fork);
            self.check_established(call);
        } else {
            // Plain RTP or unusable answer under secure-only: end the call (BYE).
            if let Some(c) = self.calls.get_mut(&call) {
                c.end_reason = Some(EndReason::NotSecure);
            }
            let _ = self.ua.hangup(now, call);
        }
    }

    /// UAS delayed offer: the ACK carries the answer to the offer in our 2xx.
    fn on_answer_to_2xx_offer(&mut self, now: Instant, call: CallId, body: &[u8]) {
        // The answer in an ACK/PRACK to our offer: a fingerprint change is an identity event (issue 12 item
        // 3); refused under Required, the call ends below as not secure.
        let refused = match self.peer_fps_change(call, Some(body)) {
            Some(Some(fps)) => !self.on_peer_fps_changed(now, call, fps, None, false),
            _ => false,
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if refused {
            c.pending_in_2xx = None;
            c.end_reason = Some(EndReason::NotSecure);
            let _ = self.ua.hangup(now, call);
            return;
        }
        let Some(pending) = c.pending_in_2xx.take() else {
            return;
        };
        let bound = Sdp::parse(body)
            .ok()
            .and_then(|sdp| c.neg.apply_answer(pending, &sdp).ok())
            .and_then(|o| first_dtls(&o).cloned())
            .map(|d| {
                let fork = if c.uac {
                    c.winner.unwrap_or(Self::UAS_FORK)
                } else {
                    Self::UAS_FORK
                };
                let mf = c.ensure_fork(fork);
                let renewed = d.association.is_new();
                (
                    c.port
                        .set_peer(now, mf, peer_params(&d, c.port.ice().is_some()))
                        .is_ok(),
                    renewed,
                )
            });
        match bound {
            Some((true, renewed)) => {
                c.peer_bound = true;
                if c.established {
                    self.events.push_back(Event::Modified { call, renewed });
                }
            }
            _ => {
                c.end_reason = Some(EndReason::NotSecure);
                let _ = self.ua.hangup(now, call);
            }
        }
    }

    fn on_modify_request(&mut self, now: Instant, call: CallId, body: Option<Vec<u8>>) {
        // RFC 5763 §8, RFC 8224 §12.1 (issue 12 item 3): an offer that changes the peer's fingerprints is an
        // identity event; otherwise a signed one is the callee's RFC 4916 connected identity (I-3).
        let Some(changed) = self.peer_fps_change(call, body.as_deref()) else {
            return;
        };
        let verify = changed.is_some() || self.calls.get(&call).is_some_and(|c| c.uac);
        let checked = if verify {
            let b = body.clone();
            match self.verify_or_park(now, call, || ParkKind::Modify { body: b }) {
                Ok(v) => v,
                Err(fetch::ParkedNow) => return,
            }
        } else {
            None
        };
        let go_on = match changed {
            Some(fps) => self.on_peer_fps_changed(now, call, fps, checked, true),
            None => self.check_connected_identity(now, call, checked),
        };
        if !go_on {
            return;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let local = c.port.local_addr();
        let media = vec![LocalMedia {
            kind: "audio".into(),
            port: local.port(),
            codecs: self.cfg.codecs.clone(),
            direction: Direction::SendRecv,
            mid: None,
        }];
        let mut fill = fill_from(&mut self.rng);
        match body.filter(|b| !b.is_empty()) {
            None => {
                // A re-INVITE without offer: we offer in the 2xx (keep), the answer comes in the ACK.
                match c.neg.create_offer(&media, Renew::Keep, &mut fill) {
                    Ok((sdp, pending)) => {
                        c.pending_in_2xx = Some(pending);
                        let _ = self
                            .ua
                            .accept_modify(now, call, Some(sdp.write().into_bytes()));
                    }
                    Err(_) => {
                        let _ = self.ua.reject_modify(now, call, 500);
                    }
                }
            }
            Some(b) => {
                let res = Sdp::parse(&b).map_err(|_| 400u16).and_then(|sdp| {
                    c.neg
                        .answer(&sdp, &media, &mut fill)
                        .map_err(|e| e.sip_status())
                });
                match res {
                    Ok(a) => {
                        let d = a.media.iter().find_map(MediaOutcome::dtls).cloned();
                        let fork = c.winner.unwrap_or(Self::UAS_FORK);
                        let mf = c.ensure_fork(fork);
                        let renewed = d.as_ref().is_some_and(|d| d.association.is_new());
                        if let Some(d) = d {
                            let _ =
                                c.port
                                    .set_peer(now, mf, peer_params(&d, c.port.ice().is_some()));
                        }
                        let _ = self
                            .ua
                            .accept_modify(now, call, Some(a.sdp.write().into_bytes()));
                        self.events.push_back(Event::Modified { call, renewed });
                    }
                    Err(status) => {
                        let _ = self.ua.reject_modify(now, call, status);
                    }
                }
            }
        }
    }

    fn on_modify_answered(&mut self, now: Instant, call: CallId, body: Option<Vec<u8>>) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.reoffer.is_none() {
            return;
        }
        // An answer that changes the peer's fingerprints carries no Identity (responses cannot): the call
        // drops to unauthenticated, or under Required the new keys are not used (issue 12 item 3).
        if let Some(Some(fps)) = self.peer_fps_change(call, body.as_deref()) {
            if !self.on_peer_fps_changed(now, call, fps, None, false) {
                let released = self.calls.get_mut(&call).and_then(|c| {
                    c.neg.cancel_offer();
                    c.reoffer.take().and_then(|r| r.port)
                });
                if let Some(p) = released {
                    self.release_port(&p);
                }
                self.events
                    .push_back(Event::ModifyFailed { call, status: 488 });
                return;
            }
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(mut r) = c.reoffer.take() else {
            return;
        };
        let outcome = body
            .as_deref()
            .and_then(|b| Sdp::parse(b).ok())
            .and_then(|sdp| c.neg.apply_answer(r.pending, &sdp).ok())
            .and_then(|o| first_dtls(&o).cloned());
        let fork = c.winner.unwrap_or(Self::UAS_FORK);
        let mf = c.ensure_fork(fork);
        let Some(d) = outcome else {
            c.neg.cancel_offer();
            if let Some(p) = r.port.take() {
                self.release_port(&p);
            }
            self.events
                .push_back(Event::ModifyFailed { call, status: 488 });
            return;
        };
        let renewed = d.association.is_new();
        match r.port.take() {
            Some(mut p) => {
                // T-5.1a: the new association lives on the new port; the old one carries media until the new
                // one is verified (then the old port is released).
                let mut params = peer_params(&d, false);
                params.association = dtlsrtp_sdp::Association::New {
                    reason: dtlsrtp_sdp::NewReason::Initial,
                };
                let _ = p.set_peer(now, mf, params);
                c.next_port = Some(p);
            }
            None => {
                let _ = c
                    .port
                    .set_peer(now, mf, peer_params(&d, c.port.ice().is_some()));
            }
        }
        self.events.push_back(Event::Modified { call, renewed });
    }

    fn on_terminated(&mut self, now: Instant, call: CallId, reason: ua::EndReason) {
        self.fetches.drop_call(call);
        let Some(mut c) = self.calls.remove(&call) else {
            self.events.push_back(Event::Terminated {
                call,
                reason: map_reason(reason),
            });
            return;
        };
        let mut ports = vec![c.port];
        ports.extend(c.next_port.take());
        ports.extend(c.rtcp.take());
        ports.extend(c.reoffer.take().and_then(|r| r.port));
        for p in &mut ports {
            for f in &c.forks {
                let _ = p.close_fork(now, f.media);
            }
            let local = p.local_addr();
            while let Some(t) = p.poll_transmit() {
                self.out.push_back(Transmit {
                    local,
                    remote: t.remote,
                    transport: TransportKind::Udp,
                    bytes: t.bytes,
                });
            }
        }
        for p in &ports {
            self.release_port(p);
        }
        let reason = c.end_reason.unwrap_or_else(|| map_reason(reason));
        self.events.push_back(Event::Terminated { call, reason });
    }

    fn on_media_event(&mut self, now: Instant, call: CallId, local: SocketAddr, e: MediaEvent) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let from_rtcp = c.rtcp.as_ref().is_some_and(|p| p.local_addr() == local);
        if from_rtcp
            && !matches!(
                e,
                MediaEvent::FingerprintMismatch { .. } | MediaEvent::Rtcp { .. }
            )
        {
            // The RTCP component's handshake and verification are internal (its RTCP is reported below).
            return;
        }
        match e {
            MediaEvent::DtlsConnected {
                assoc,
                remote,
                profile,
            } => {
                let port = c.ports_mut().find(|p| p.local_addr() == local);
                let info = port.and_then(|p| p.associations().into_iter().find(|a| a.id == assoc));
                let role = info.as_ref().map(|i| i.role);
                let fork = info.and_then(|i| i.fork).and_then(|f| c.sip_fork(f));
                if let Some(role) = role {
                    self.events.push_back(Event::DtlsConnected {
                        call,
                        fork,
                        profile,
                        role,
                        remote,
                    });
                }
            }
            MediaEvent::FingerprintVerified { fork, remote, .. } => {
                let Some(sip) = c.sip_fork(fork) else { return };
                if let Some(f) = c.fork_mut(sip) {
                    f.verified = true;
                }
                // A renewed association's port is verified: switch to it, release the old one.
                let mut released = None;
                if c.next_port
                    .as_ref()
                    .is_some_and(|p| p.local_addr() == local)
                {
                    if let Some(next) = c.next_port.take() {
                        let mut old = std::mem::replace(&mut c.port, next);
                        for f in &c.forks {
                            let _ = old.close_fork(now, f.media);
                        }
                        let l = old.local_addr();
                        while let Some(t) = old.poll_transmit() {
                            self.out.push_back(Transmit {
                                local: l,
                                remote: t.remote,
                                transport: TransportKind::Udp,
                                bytes: t.bytes,
                            });
                        }
                        released = Some(old);
                    }
                }
                self.events.push_back(Event::FingerprintVerified {
                    call,
                    fork: sip,
                    remote,
                });
                if let Some(old) = released {
                    self.release_port(&old);
                }
                self.check_established(call);
            }
            MediaEvent::FingerprintMismatch { fork, .. } => {
                let sip = fork.and_then(|f| c.sip_fork(f));
                self.on_fingerprint_mismatch(now, call, sip);
            }
            MediaEvent::AssociationClosed {
                fork: Some(fork),
                reason: dtlsrtp_media::CloseReason::Failed(_),
                ..
            } if !from_rtcp => {
                let sip = c.sip_fork(fork);
                self.on_dtls_failed(now, call, local, sip);
            }
            MediaEvent::Rtp(p) => {
                let fork = p.fork.and_then(|f| c.sip_fork(f));
                self.events.push_back(Event::Rtp {
                    call,
                    fork,
                    ssrc: p.ssrc,
                    seq: p.sequence,
                    ts: p.timestamp,
                    pt: p.payload_type,
                    payload: p.payload,
                    verified: true,
                });
            }
            MediaEvent::Rtcp { fork, report, .. } => {
                let fork = fork.and_then(|f| c.sip_fork(f));
                self.events.push_back(Event::Stats { call, fork, report });
            }
            MediaEvent::RekeyNeeded { .. } => {
                // The media layer never renegotiates DTLS: new keys come from a renewing re-offer (T-5.5a).
                let _ = self.reoffer(now, call, true, ModifyKind::Reinvite);
            }
            MediaEvent::IceSelected { remote } => self.events.push_back(Event::Ice {
                call,
                remote: Some(remote),
                failed: false,
            }),
            MediaEvent::IceConsentExpired { .. } => self.events.push_back(Event::Ice {
                call,
                remote: None,
                failed: false,
            }),
            MediaEvent::IceFailed => {
                self.events.push_back(Event::Ice {
                    call,
                    remote: None,
                    failed: true,
                });
                let _ = self.hangup(now, call);
            }
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
