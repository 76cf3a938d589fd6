//! The UA core (RFC 3261 §8, §12–§15; RFC 3262, RFC 3311): a sans-IO [`UserAgent`] over the
//! [`TransactionLayer`].
//!
//! Inputs take `now`: [`UserAgent::handle_datagram`], [`UserAgent::handle_stream`], [`UserAgent::handle_timeout`]
//! and the commands ([`UserAgent::call`], [`UserAgent::ring`], [`UserAgent::answer`], [`UserAgent::modify`], ...).
//! Outputs drain: [`UserAgent::poll_transmit`] ([`Transmit`]: transport, remote, bytes), [`UserAgent::poll_event`]
//! ([`Event`]) and [`UserAgent::poll_timeout`]. Bodies (SDP) are opaque bytes here; the endpoint parses them.
//!
//! Calls are [`CallId`]s; each To-tag of a forked INVITE is a [`ForkId`] with its own early dialog (F-6.3, T-8a).
//! Randomness (tags, branches, Call-IDs, cnonces) comes from a SHA-256 generator seeded by the caller.

mod client;
mod event;
mod modify;
mod register;
mod server;
mod transport;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use event::{
    CallId, EndReason, Event, ForkId, ModifyKind, OfferState, RegId, TimerReason, Transmit, UaError,
};
pub use register::RegisterConfig;
pub use transport::{Rng, TransportKind};

use crate::dialog::Dialog;
use crate::error::HeaderError;
use crate::header::HeaderName;
use crate::message::{Limits, Request, Response, StreamFramer};
use crate::transaction::{ClientKey, ServerKey, TimerConfig, TransactionLayer};

/// Methods we implement, for Allow (RFC 3261 §20.5).
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, PRACK, UPDATE";
/// Option tags we implement, for Supported (RFC 3262).
pub const SUPPORTED: &str = "100rel";

/// What the UA adds to an INVITE or a mid-dialog request it builds ([`UserAgent::call_with`],
/// [`UserAgent::modify_with`]).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RequestExtras {
    /// Make the request anonymous first ([`crate::identity::anonymize`], F-6.1; the INVITE only).
    pub anonymous: bool,
    /// Header fields set after the UA's own (each replaces a field of the same name): `Identity`, `Date`,
    /// `Supported: 100rel, from-change` (RFC 8224, RFC 4916).
    pub headers: Vec<(HeaderName, String)>,
}

impl RequestExtras {
    /// No extras.
    pub fn new() -> Self {
        Self::default()
    }

    fn apply(&self, h: &mut crate::header::Headers) -> Result<(), HeaderError> {
        if self.anonymous {
            crate::identity::anonymize(h)?;
            // RFC 3323 §4.1.1: no user name in the Contact either (the host and port still route to us).
            let contact = h.first(HeaderName::Contact).map(|f| f.value());
            if let Some(c) = contact {
                if let Some((_, rest)) = c.strip_prefix("<sip:").and_then(|r| r.split_once('@')) {
                    h.set(HeaderName::Contact, &format!("<sip:{rest}"))?;
                }
            }
        }
        for (n, v) in &self.headers {
            h.set(n.clone(), v)?;
        }
        Ok(())
    }
}

/// User agent configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// User part of our AoR and Contact.
    pub user: String,
    /// Host part of our AoR (From): a domain or an IP.
    pub domain: String,
    /// Listening addresses by transport, written in Via and Contact.
    pub local: Vec<(TransportKind, SocketAddr)>,
    /// Where out-of-dialog requests to host names go (and in-dialog ones whose next hop is a host name).
    pub outbound_proxy: Option<(TransportKind, SocketAddr)>,
    /// Transaction timers (T1, T2, T4...).
    pub timers: TimerConfig,
    /// User-Agent / Server header value.
    pub user_agent: String,
    /// Offer 100rel (RFC 3262) and send reliable provisionals with bodies when the peer supports it.
    pub use_100rel: bool,
    /// Message size and header count limits.
    pub limits: Limits,
    /// Most calls at once: a new INVITE beyond it gets 503 with Retry-After (flood bound).
    pub max_calls: usize,
    /// Digest credentials for a 401/407 to our INVITE (a proxy such as Kamailio that authenticates calls).
    /// Bound (issue 12 item 11): answered only when the INVITE went to [`Self::outbound_proxy`] or to a
    /// registrar we are registered at, the challenge came back from that address, and its realm is
    /// [`Credentials::realm`](crate::digest::Credentials::realm) (when unset: the realm that registrar
    /// accepted our REGISTER credentials for); with `qop=auth` unless legacy digest is allowed. Otherwise the
    /// call fails with the challenge's status.
    pub credentials: Option<crate::digest::Credentials>,
}

impl Config {
    /// A config for `user@domain` listening on `local` (UDP).
    pub fn new(user: &str, domain: &str, local: SocketAddr) -> Self {
        Self {
            user: user.into(),
            domain: domain.into(),
            local: vec![(TransportKind::Udp, local)],
            outbound_proxy: None,
            timers: TimerConfig::default(),
            user_agent: concat!("dtlsrtp/", env!("CARGO_PKG_VERSION")).into(),
            use_100rel: true,
            limits: Limits::default(),
            max_calls: 1024,
            credentials: None,
        }
    }
}

/// Who owns a client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Invite,
    Cancel,
    Bye,
    Prack,
    Modify(ModifyKind),
    Register(RegId),
}

/// One dialog of a call.
#[derive(Debug, Clone)]
struct Fork {
    id: ForkId,
    dialog: Dialog,
    /// The last ACK for a 2xx we sent in this dialog (resent on a 2xx retransmission of the same CSeq).
    ack: Option<Request>,
    last_rseq: Option<u32>,
    ended: bool,
    /// Offer/answer state of this dialog (RFC 3264; early dialogs each have their own, F-6.3).
    oa: OfferState,
    /// UAC: the initial offer/answer finished in a reliable provisional or its PRACK (RFC 3262 §5).
    early_oa_done: bool,
    /// UAC, delayed offer: a reliable provisional carried the offer; [`UserAgent::prack`] sends the answer.
    prack_pending: Option<(u32, u32)>,
}

/// UAS side of the initial INVITE.
#[derive(Debug, Clone)]
struct UasInvite {
    key: ServerKey,
    request: Request,
    peer_100rel: bool,
    peer_requires_100rel: bool,
    rseq: u32,
    final_sent: bool,
    /// We sent a provisional response (ring, early media): a refusal then keeps its full transaction.
    provisional_sent: bool,
}

/// A reliable provisional being retransmitted until PRACK (RFC 3262 §3).
#[derive(Debug, Clone)]
struct RelProv {
    response: Response,
    rseq: u32,
    cseq: u32,
    next: Instant,
    interval: Duration,
    deadline: Instant,
}

/// Our 2xx to an INVITE, retransmitted until its ACK (RFC 3261 §13.3.1.4, RFC 6026).
#[derive(Debug, Clone)]
struct OkRetx {
    key: ServerKey,
    response: Response,
    cseq: u32,
    next: Option<Instant>,
    interval: Duration,
    deadline: Instant,
}

#[derive(Debug, Clone)]
struct OutMod {
    kind: ModifyKind,
    offered: bool,
}

#[derive(Debug, Clone)]
struct InMod {
    kind: ModifyKind,
    fork: ForkId,
    key: ServerKey,
    request: Request,
}

/// One call.
#[derive(Debug, Clone)]
struct Call {
    id: CallId,
    uac: bool,
    transport: TransportKind,
    /// The next hop of the initial INVITE (UAC; CANCEL goes there too) or the INVITE's source (UAS).
    hop: (TransportKind, SocketAddr),
    call_id: String,
    local_tag: String,
    // UAC
    invite: Option<Request>,
    /// The live INVITE client transaction (a challenged INVITE is resent in a new one).
    invite_key: Option<ClientKey>,
    /// The nonce our last INVITE answered (each nonce once, unless stale).
    auth_nonce: Option<String>,
    got_provisional: bool,
    cancel_requested: bool,
    cancel_sent: bool,
    no_more_answers: bool,
    winner: Option<ForkId>,
    /// Delayed offer: the 2xx (INVITE or re-INVITE) with this CSeq carried an offer; [`UserAgent::ack`] answers.
    ack_pending: Option<u32>,
    // UAS
    uas: Option<UasInvite>,
    rel: Option<RelProv>,
    ok_retx: Option<OkRetx>,
    /// UAS: the user answered while a reliable 1xx with SDP awaited its PRACK; the 2xx (with this body) follows
    /// the PRACK.
    queued_answer: Option<Option<Vec<u8>>>,
    /// UAS hung up before the ACK of its 2xx: the BYE waits for that ACK (RFC 3261 §15).
    bye_after_ack: bool,
    // both
    forks: Vec<Fork>,
    out_mod: Option<OutMod>,
    in_mod: Option<InMod>,
    /// UAC: the INVITE carried an offer (else the 2xx carries it: delayed offer).
    invite_offer: bool,
    ended: Option<EndReason>,
}

impl Call {
    fn fork_mut(&mut self, id: ForkId) -> Option<&mut Fork> {
        self.forks.iter_mut().find(|f| f.id == id)
    }
    fn fork_by_tag(&self, remote_tag: &str) -> Option<ForkId> {
        self.forks
            .iter()
            .find(|f| f.dialog.id.remote_tag == remote_tag)
            .map(|f| f.id)
    }
    /// The dialog in-dialog commands use: the winner (UAC) or the only one (UAS).
    fn current_id(&self) -> Option<ForkId> {
        if self.uac {
            self.winner
        } else {
            self.forks.first().map(|f| f.id)
        }
    }
    fn current(&mut self) -> Option<&mut Fork> {
        let id = self.current_id()?;
        self.fork_mut(id)
    }
    fn oa(&self, fork: ForkId) -> OfferState {
        self.forks
            .iter()
            .find(|f| f.id == fork)
            .map_or(OfferState::Stable, |f| f.oa)
    }
    fn set_oa(&mut self, fork: ForkId, s: OfferState) {
        if let Some(f) = self.fork_mut(fork) {
            f.oa = s;
        }
    }
}

/// The parts of the UA the call handlers need besides the call itself.
#[derive(Debug)]
struct Core {
    cfg: Config,
    rng: Rng,
    layer: TransactionLayer,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    tx_owner: HashMap<ClientKey, (Option<CallId>, Purpose)>,
    /// Where each live client transaction sends (for [`UserAgent::transport_failed`]).
    tx_remote: HashMap<ClientKey, (TransportKind, SocketAddr)>,
    /// The transport each live server transaction's request came on: its responses go back the same way.
    srv_transport: HashMap<ServerKey, TransportKind>,
    srv_owner: HashMap<ServerKey, CallId>,
    next_id: u64,
    /// The last response received: its client transaction and where it came from (transport, source), for
    /// the digest checks (a challenge is answered only when it came from the configured server).
    last_response: Option<(ClientKey, TransportKind, SocketAddr)>,
    /// Registrars we are registered at (their address) and the realm each accepted our credentials for:
    /// INVITE credentials may go to them (one entry per live registration: local, not remotely growable).
    registrars: HashMap<SocketAddr, Option<String>>,
}

/// A SIP user agent: calls (UAC and UAS), dialogs, forks, session modification, OPTIONS and registration.
///
/// ```
/// use std::time::Instant;
/// use dtlsrtp_sip::ua::{Config, UserAgent};
/// let now = Instant::now();
/// let mut ua = UserAgent::new(Config::new("alice", "127.0.0.1", "127.0.0.1:5060".parse().unwrap()), [7; 32]);
/// let target = "sip:bob@127.0.0.1:5070".parse().unwrap();
/// let call = ua.call(now, &target, Some(b"v=0\r\n".to_vec())).unwrap();
/// let t = ua.poll_transmit().unwrap();
/// assert!(t.bytes.starts_with(b"INVITE sip:bob@127.0.0.1:5070 SIP/2.0\r\n"));
/// assert_eq!(t.remote, "127.0.0.1:5070".parse().unwrap());
/// # let _ = call;
/// ```
#[derive(Debug)]
pub struct UserAgent {
    core: Core,
    calls: HashMap<CallId, Call>,
    /// (Call-ID, local tag) → call: in-dialog requests and stray 2xx find their call here.
    by_dialog: HashMap<(String, String), CallId>,
    regs: HashMap<RegId, register::Reg>,
    framers: HashMap<(TransportKind, SocketAddr), StreamFramer>,
}

impl UserAgent {
    /// A UA with this configuration; `seed` seeds the generator for tags, branches, Call-IDs and cnonces.
    pub fn new(cfg: Config, seed: [u8; 32]) -> Self {
        let layer = TransactionLayer::new(cfg.timers).with_server_limit(4096);
        Self {
            core: Core {
                cfg,
                rng: Rng::new(seed),
                layer,
                transmits: VecDeque::new(),
                events: VecDeque::new(),
                tx_owner: HashMap::new(),
                tx_remote: HashMap::new(),
                srv_transport: HashMap::new(),
                srv_owner: HashMap::new(),
                next_id: 1,
                last_response: None,
                registrars: HashMap::new(),
            },
            calls: HashMap::new(),
            by_dialog: HashMap::new(),
            regs: HashMap::new(),
            framers: HashMap::new(),
        }
    }

    /// The peer's request a call is acting on: its pending re-INVITE/UPDATE ([`Event::ModifyRequest`]) when
    /// there is one, else the initial INVITE of an incoming call. For the verification service (RFC 8224 §6:
    /// Identity, From, To, Date); `None` for unknown calls and outgoing calls without a pending request.
    pub fn peer_request(&self, call: CallId) -> Option<&Request> {
        let c = self.calls.get(&call)?;
        c.in_mod
            .as_ref()
            .map(|m| &m.request)
            .or(c.uas.as_ref().map(|u| &u.request))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.core.cfg
    }

    /// Next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.core.transmits.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.core.events.pop_front()
    }

    /// The earliest deadline: transactions, 2xx and reliable 1xx retransmissions, registration refreshes.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let calls = self.calls.values().flat_map(|c| {
            let ok = c
                .ok_retx
                .as_ref()
                .map(|o| o.next.map_or(o.deadline, |n| n.min(o.deadline)));
            let rel = c.rel.as_ref().map(|r| r.next.min(r.deadline));
            ok.into_iter().chain(rel)
        });
        let regs = self.regs.values().filter_map(|r| r.refresh_at);
        self.core
            .layer
            .poll_timeout()
            .into_iter()
            .chain(calls)
            .chain(regs)
            .min()
    }

    /// The earliest deadline with its reason (what [`Self::poll_timeout`] reports, explained).
    pub fn next_timer(&self) -> Option<(Instant, TimerReason)> {
        let tx = self
            .core
            .layer
            .next_timer()
            .map(|(id, t, at)| (at, TimerReason::Transaction(id, t)));
        let calls = self.calls.values().flat_map(|c| {
            let ok = c.ok_retx.as_ref().map(|o| match o.next {
                Some(n) if n < o.deadline => (n, TimerReason::Retransmit2xx(c.id)),
                _ => (o.deadline, TimerReason::AckTimeout(c.id)),
            });
            let rel = c.rel.as_ref().map(|r| {
                if r.next < r.deadline {
                    (r.next, TimerReason::RetransmitReliable1xx(c.id))
                } else {
                    (r.deadline, TimerReason::PrackTimeout(c.id))
                }
            });
            ok.into_iter().chain(rel)
        });
        let regs = self.regs.iter().filter_map(|(id, r)| {
            r.refresh_at
                .map(|at| (at, TimerReason::RegisterRefresh(*id)))
        });
        tx.into_iter()
            .chain(calls)
            .chain(regs)
            .min_by_key(|(at, _)| *at)
    }

    /// Fires every due timer. Safe to call early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            self.with_call(id, |core, call| server::on_timer(core, call, now));
        }
        register::on_timer(&mut self.core, &mut self.regs, now);
        self.core.layer.handle_timeout(now);
        self.pump(now);
    }

    /// The offer/answer state of the call's current dialog (UAC before the 2xx: our INVITE's offer).
    pub fn offer_state(&self, call: CallId) -> Option<OfferState> {
        let c = self.calls.get(&call)?;
        Some(match c.current_id() {
            Some(f) => c.oa(f),
            None if c.invite_offer => OfferState::LocalOffer,
            None => OfferState::Stable,
        })
    }

    /// The offer/answer state of one dialog of a call (each early dialog of a fork has its own).
    pub fn fork_offer_state(&self, call: CallId, fork: ForkId) -> Option<OfferState> {
        let c = self.calls.get(&call)?;
        c.forks.iter().find(|f| f.id == fork).map(|f| f.oa)
    }

    /// The dialog of a fork (route set, target, CSeq), for inspection.
    pub fn dialog(&self, call: CallId, fork: ForkId) -> Option<&Dialog> {
        self.calls
            .get(&call)?
            .forks
            .iter()
            .find(|f| f.id == fork)
            .map(|f| &f.dialog)
    }

    /// Live calls.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Runs `f` on a call, then drops the call if it ended (with its dialog index entries).
    fn with_call<R>(&mut self, id: CallId, f: impl FnOnce(&mut Core, &mut Call) -> R) -> Option<R> {
        let call = self.calls.get_mut(&id)?;
        let r = f(&mut self.core, call);
        self.sweep(id);
        Some(r)
    }

    fn sweep(&mut self, id: CallId) {
        let ended = self.calls.get(&id).and_then(|c| c.ended);
        if let Some(reason) = ended {
            if let Some(c) = self.calls.remove(&id) {
                self.by_dialog.remove(&(c.call_id, c.local_tag));
            }
            self.core
                .events
                .push_back(Event::Terminated { call: id, reason });
        }
    }

    fn insert_call(&mut self, call: Call) {
        self.by_dialog
            .insert((call.call_id.clone(), call.local_tag.clone()), call.id);
        self.calls.insert(call.id, call);
    }

    /// Drains the transaction layer: transmits to bytes, events to the call handlers. Bounded.
    fn pump(&mut self, now: Instant) {
        for _ in 0..100_000 {
            if let Some(t) = self.core.layer.poll_transmit() {
                let known = match &t.id {
                    crate::transaction::TxId::Client(k) => self.core.tx_remote.get(k).map(|h| h.0),
                    crate::transaction::TxId::Server(k) => self.core.srv_transport.get(k).copied(),
                };
                self.core.emit_message(&t.message, t.remote, known);
                continue;
            }
            let Some((id, ev)) = self.core.layer.poll_event() else {
                return;
            };
            match id {
                crate::transaction::TxId::Client(key) => {
                    let owner = self.core.tx_owner.get(&key).copied();
                    if matches!(ev, crate::transaction::TxEvent::Terminated) {
                        self.core.tx_owner.remove(&key);
                        self.core.tx_remote.remove(&key);
                    }
                    match owner {
                        Some((_, Purpose::Register(reg))) => {
                            register::on_event(&mut self.core, &mut self.regs, now, reg, &key, ev)
                        }
                        Some((Some(call), purpose)) => {
                            self.with_call(call, |core, c| {
                                client::on_event(core, c, now, &key, purpose, ev)
                            });
                        }
                        _ => {}
                    }
                }
                crate::transaction::TxId::Server(key) => {
                    let owner = self.core.srv_owner.get(&key).copied();
                    match ev {
                        crate::transaction::TxEvent::Terminated => {
                            self.core.srv_owner.remove(&key);
                            self.core.srv_transport.remove(&key);
                        }
                        crate::transaction::TxEvent::Ack(ack) => {
                            if let Some(call) = owner {
                                self.with_call(call, |core, c| server::on_ack(core, c, now, ack));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

impl Core {
    /// Where the response that produced `key`'s current event came from.
    fn response_source(&self, key: &ClientKey) -> Option<(TransportKind, SocketAddr)> {
        self.last_response
            .as_ref()
            .filter(|(k, _, _)| k == key)
            .map(|(_, t, a)| (*t, *a))
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// Adds Supported, Allow and User-Agent (requests) or Server (responses).
    fn add_common(&self, h: &mut crate::header::Headers, request: bool) -> Result<(), HeaderError> {
        if self.cfg.use_100rel {
            h.set(HeaderName::Supported, SUPPORTED)?;
        }
        h.set(HeaderName::Allow, ALLOW)?;
        let name = if request { "User-Agent" } else { "Server" };
        h.set(HeaderName::Other(name.into()), &self.cfg.user_agent)?;
        Ok(())
    }

    /// Sets an SDP body (or none).
    fn set_sdp(
        msg_headers: &mut crate::header::Headers,
        body_slot: &mut Vec<u8>,
        body: Option<Vec<u8>>,
    ) -> Result<(), HeaderError> {
        match body {
            Some(b) => {
                msg_headers.set(HeaderName::ContentType, "application/sdp")?;
                msg_headers.set(HeaderName::ContentLength, &b.len().to_string())?;
                *body_slot = b;
            }
            None => {
                msg_headers.remove(&HeaderName::ContentType);
                msg_headers.set(HeaderName::ContentLength, "0")?;
                body_slot.clear();
            }
        }
        Ok(())
    }
}

fn body_opt(b: &[u8]) -> Option<Vec<u8>> {
    if b.is_empty() {
        None
    } else {
        Some(b.to_vec())
    }
}
