//! The transaction table: creates, matches and drives transactions; one sans-IO object for the UA core.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::client::ClientTransaction;
use super::key::{ClientKey, ServerKey};
use super::limits::{Admission, Answered, AnsweredCache, ServerLimits};
use super::server::ServerTransaction;
use super::timer::{Timer, TimerConfig};
use super::{ClientState, ServerState, TxError, TxEvent};
use crate::header::Rport;
use crate::message::{Message, Request, Response};
use crate::method::Method;

/// A transaction handle.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TxId {
    /// A client transaction.
    Client(ClientKey),
    /// A server transaction.
    Server(ServerKey),
}

/// A message to send, with the address it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The transaction it belongs to.
    pub id: TxId,
    /// Destination: the next hop for requests; for responses the RFC 3581 / §18.2.2 target.
    pub remote: SocketAddr,
    /// The message.
    pub message: Message,
}

/// What became of a received request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A new server transaction: the TU must answer through [`TransactionLayer::respond`].
    /// The request has `received`/`rport` stamped on its top Via (RFC 3261 §18.2.1, RFC 3581 §4).
    New(ServerKey, Request),
    /// A retransmission or the ACK of a non-2xx, handled inside its transaction.
    Absorbed,
    /// An ACK that matches no transaction: normally the ACK of a 2xx, which carries its own branch
    /// (RFC 3261 §13.2.2.4, §17.1.1.3) and belongs to the dialog layer.
    UnmatchedAck(Request),
    /// A server transaction limit is reached (total or per source, [`ServerLimits`]): no transaction was
    /// created; answer 503 statelessly or drop.
    Overloaded(Request),
}

#[derive(Debug)]
struct Server {
    tx: ServerTransaction,
    remote: SocketAddr,
    /// The request's source IP (per-source accounting, R-2).
    ip: IpAddr,
    admission: Admission,
    reliable: bool,
}

#[derive(Debug)]
struct Client {
    tx: ClientTransaction,
    remote: SocketAddr,
}

/// All transactions of one endpoint.
///
/// Inputs: [`send_request`](Self::send_request), [`handle_request`](Self::handle_request),
/// [`handle_response`](Self::handle_response), [`respond`](Self::respond), [`handle_timeout`](Self::handle_timeout).
/// Outputs: [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event) and
/// [`poll_timeout`](Self::poll_timeout) (which every input may change).
#[derive(Debug, Default)]
pub struct TransactionLayer {
    config: TimerConfig,
    clients: HashMap<ClientKey, Client>,
    servers: HashMap<ServerKey, Server>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<(TxId, TxEvent)>,
    limits: ServerLimits,
    /// Live server transactions admitted as [`Admission::New`], in total and per source IP.
    new_total: usize,
    new_per_ip: HashMap<IpAddr, usize>,
    answered: AnsweredCache,
}

impl TransactionLayer {
    /// Caps live server transactions for requests outside any known dialog: beyond `max`, they get
    /// [`Incoming::Overloaded`] (answer 503 statelessly or drop) so a flood cannot grow the table without bound.
    /// The other [`ServerLimits`] keep their values.
    pub fn with_server_limit(mut self, max: usize) -> Self {
        self.limits.max_transactions = max;
        self
    }

    /// Sets every server-side bound (R-2; [`ServerLimits`]).
    pub fn with_server_limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The server-side bounds in force.
    pub fn server_limits(&self) -> ServerLimits {
        self.limits
    }

    /// A table using these timer values.
    pub fn new(config: TimerConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Starts a client transaction sending `request` to `remote` (`reliable`: TCP/TLS, no retransmissions).
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        remote: SocketAddr,
        reliable: bool,
    ) -> Result<ClientKey, TxError> {
        let key = ClientKey::from_request(&request).ok_or(TxError::NoBranch)?;
        if self.clients.contains_key(&key) {
            return Err(TxError::Exists);
        }
        let tx = ClientTransaction::new(now, request, reliable, self.config)?;
        self.clients.insert(key.clone(), Client { tx, remote });
        self.collect(&TxId::Client(key.clone()));
        Ok(key)
    }

    /// A received response. Returns it back when no transaction matches (e.g. a 2xx retransmission after
    /// Timer M): the core decides (RFC 3261 §17.1.1.2, RFC 6026 §8.4).
    pub fn handle_response(&mut self, now: Instant, response: Response) -> Option<Response> {
        let Some(key) = ClientKey::from_response(&response) else {
            return Some(response);
        };
        let Some(c) = self.clients.get_mut(&key) else {
            return Some(response);
        };
        c.tx.handle_response(now, response);
        self.collect(&TxId::Client(key));
        None
    }

    /// A received request from `source`. Matches it to a transaction (retransmission, ACK) or creates one,
    /// admitted as [`Admission::New`] (the per-source and total caps of [`ServerLimits`]).
    pub fn handle_request(
        &mut self,
        now: Instant,
        request: Request,
        source: SocketAddr,
        reliable: bool,
    ) -> Incoming {
        self.handle_request_as(now, request, source, reliable, Admission::New)
    }

    /// [`Self::handle_request`] for a request the TU has classified: [`Admission::Dialog`] for one that matches a
    /// live dialog (or a CANCEL of a live INVITE), which the dialog reserve admits even while new requests are
    /// refused.
    pub fn handle_request_as(
        &mut self,
        now: Instant,
        mut request: Request,
        source: SocketAddr,
        reliable: bool,
        admission: Admission,
    ) -> Incoming {
        self.expire_answered(now);
        let Some(key) = ServerKey::from_request(&request) else {
            // Unmatchable (no Via/CSeq/Call-ID) cannot happen for parsed messages; treat as absorbed.
            return Incoming::Absorbed;
        };
        if let Some(s) = self.servers.get_mut(&key) {
            // An ACK for a 2xx in Accepted reaches the TU as TxEvent::Ack (RFC 6026 §7.1).
            s.tx.handle_request(now, request);
            self.collect(&TxId::Server(key));
            return Incoming::Absorbed;
        }
        if let Some(a) = self.answered.get(&key) {
            // A retransmission of a statelessly answered request gets the same response; its ACK is absorbed.
            if request.method != Method::Ack {
                self.transmits.push_back(Transmit {
                    id: TxId::Server(key),
                    remote: a.remote,
                    message: Message::Response(a.response.clone()),
                });
            }
            return Incoming::Absorbed;
        }
        if request.method == Method::Ack {
            return Incoming::UnmatchedAck(request);
        }
        let ip = source.ip();
        let admitted = match admission {
            Admission::New => {
                self.new_total < self.limits.max_transactions
                    && self.new_per_ip.get(&ip).copied().unwrap_or(0) < self.limits.max_per_source
            }
            Admission::Dialog => {
                self.servers.len()
                    < self
                        .limits
                        .max_transactions
                        .saturating_add(self.limits.dialog_reserve)
            }
        };
        if !admitted {
            return Incoming::Overloaded(request);
        }
        stamp_via(&mut request, source);
        let remote = response_target(&request, source, reliable);
        match ServerTransaction::new(now, request.clone(), reliable, self.config) {
            Ok(tx) => {
                if admission == Admission::New {
                    self.new_total += 1;
                    *self.new_per_ip.entry(ip).or_insert(0) += 1;
                }
                let s = Server {
                    tx,
                    remote,
                    ip,
                    admission,
                    reliable,
                };
                self.servers.insert(key.clone(), s);
                self.collect(&TxId::Server(key.clone()));
                Incoming::New(key, request)
            }
            Err(_) => Incoming::Absorbed,
        }
    }

    /// The TU answers a server transaction.
    pub fn respond(
        &mut self,
        now: Instant,
        key: &ServerKey,
        response: Response,
    ) -> Result<(), TxError> {
        let s = self.servers.get_mut(key).ok_or(TxError::Unknown)?;
        s.tx.send_response(now, response)?;
        self.collect(&TxId::Server(key.clone()));
        Ok(())
    }

    /// Answers a server transaction with a final response and forgets it (RFC 3261 §8.2.7 stateless answering,
    /// for requests that need no Timer J/H-long memory — OPTIONS, and requests refused before any state
    /// exists. The response goes out once; on an unreliable transport it is remembered for
    /// [`ServerLimits::answered_retention`] to answer retransmissions (and absorb the ACK of a refused INVITE).
    /// A 2xx to an INVITE cannot be sent this way ([`TxError::WrongState`]).
    pub fn respond_stateless(
        &mut self,
        now: Instant,
        key: &ServerKey,
        response: Response,
    ) -> Result<(), TxError> {
        self.expire_answered(now);
        let s = self.servers.get_mut(key).ok_or(TxError::Unknown)?;
        let invite = s.tx.request().method == Method::Invite;
        if response.status < 200 || (invite && response.status < 300) {
            return Err(TxError::WrongState);
        }
        s.tx.send_response(now, response.clone())?;
        let id = TxId::Server(key.clone());
        self.collect(&id);
        let Some(s) = self.remove_server(key) else {
            // Already terminated (a non-INVITE on a reliable transport).
            return Ok(());
        };
        let mut forgotten = Vec::new();
        let entry = Answered::new(now, &self.limits, s.ip, s.remote, response);
        let kept = !s.reliable
            && self
                .answered
                .insert(&self.limits, key.clone(), entry, &mut forgotten);
        if !kept {
            forgotten.push(key.clone());
        }
        self.forget(forgotten);
        Ok(())
    }

    /// Statelessly answered requests still remembered (for tests and statistics).
    pub fn answered_len(&self) -> usize {
        self.answered.len()
    }

    /// Live server transactions.
    pub fn server_len(&self) -> usize {
        self.servers.len()
    }

    fn expire_answered(&mut self, now: Instant) {
        let mut forgotten = Vec::new();
        self.answered.expire(now, &mut forgotten);
        self.forget(forgotten);
    }

    /// Tells the TU that these keys are gone (their `Terminated`).
    fn forget(&mut self, keys: Vec<ServerKey>) {
        for k in keys {
            self.events
                .push_back((TxId::Server(k), TxEvent::Terminated));
        }
    }

    /// Removes a server transaction and its per-source accounting.
    fn remove_server(&mut self, key: &ServerKey) -> Option<Server> {
        let s = self.servers.remove(key)?;
        if s.admission == Admission::New {
            self.new_total = self.new_total.saturating_sub(1);
            if let Some(n) = self.new_per_ip.get_mut(&s.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.new_per_ip.remove(&s.ip);
                }
            }
        }
        Some(s)
    }

    /// Fires every due timer of every transaction. Safe to call early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire_answered(now);
        let due_c: Vec<ClientKey> = self
            .clients
            .iter()
            .filter(|(_, c)| c.tx.poll_timeout().is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in due_c {
            if let Some(c) = self.clients.get_mut(&k) {
                c.tx.handle_timeout(now);
            }
            self.collect(&TxId::Client(k));
        }
        let due_s: Vec<ServerKey> = self
            .servers
            .iter()
            .filter(|(_, s)| s.tx.poll_timeout().is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in due_s {
            if let Some(s) = self.servers.get_mut(&k) {
                s.tx.handle_timeout(now);
            }
            self.collect(&TxId::Server(k));
        }
    }

    /// The transport could not send for this transaction (RFC 3261 §17.1.4, §17.2.4): `TransportError`, then
    /// `Terminated`.
    pub fn handle_transport_error(&mut self, now: Instant, id: &TxId) -> Result<(), TxError> {
        match id {
            TxId::Client(k) => self
                .clients
                .get_mut(k)
                .ok_or(TxError::Unknown)?
                .tx
                .handle_transport_error(now),
            TxId::Server(k) => self
                .servers
                .get_mut(k)
                .ok_or(TxError::Unknown)?
                .tx
                .handle_transport_error(now),
        }
        self.collect(id);
        Ok(())
    }

    /// Drops a transaction at the TU's request, e.g. an INVITE client transaction still in Proceeding 64*T1 after
    /// its CANCEL went unanswered (RFC 3261 §9.1: Timer B does not guard Proceeding). Emits `Terminated`.
    pub fn terminate(&mut self, id: &TxId) -> Result<(), TxError> {
        let found = match id {
            TxId::Client(k) => self.clients.remove(k).is_some(),
            TxId::Server(k) => self.remove_server(k).is_some(),
        };
        if !found {
            return Err(TxError::Unknown);
        }
        self.events.push_back((id.clone(), TxEvent::Terminated));
        Ok(())
    }

    /// The INVITE server transaction a received CANCEL targets (RFC 3261 §9.2), if it is still there.
    pub fn invite_for_cancel(&self, cancel: &Request) -> Option<ServerKey> {
        ServerKey::invite_for_cancel(cancel).filter(|k| self.servers.contains_key(k))
    }

    /// State of a client transaction.
    pub fn client_state(&self, key: &ClientKey) -> Option<ClientState> {
        self.clients.get(key).map(|c| c.tx.state())
    }
    /// State of a server transaction.
    pub fn server_state(&self, key: &ServerKey) -> Option<ServerState> {
        self.servers.get(key).map(|s| s.tx.state())
    }
    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.clients.len() + self.servers.len()
    }
    /// True when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }
    /// Next event for the TU.
    pub fn poll_event(&mut self) -> Option<(TxId, TxEvent)> {
        self.events.pop_front()
    }
    /// The earliest deadline over all transactions (O(n); a timer wheel can come when tables grow large).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let c = self.clients.values().filter_map(|c| c.tx.poll_timeout());
        let s = self.servers.values().filter_map(|s| s.tx.poll_timeout());
        c.chain(s).min()
    }

    /// The earliest deadline with its transaction and timer name (the reason behind [`Self::poll_timeout`]).
    pub fn next_timer(&self) -> Option<(TxId, Timer, Instant)> {
        let c = self.clients.iter().filter_map(|(k, c)| {
            c.tx.next_timer()
                .map(|(t, at)| (TxId::Client(k.clone()), t, at))
        });
        let s = self.servers.iter().filter_map(|(k, s)| {
            s.tx.next_timer()
                .map(|(t, at)| (TxId::Server(k.clone()), t, at))
        });
        c.chain(s).min_by_key(|(_, _, at)| *at)
    }

    /// Moves a transaction's output into the layer queues and drops it once terminated.
    fn collect(&mut self, id: &TxId) {
        match id {
            TxId::Client(k) => {
                let Some(c) = self.clients.get_mut(k) else {
                    return;
                };
                while let Some(m) = c.tx.poll_transmit() {
                    self.transmits.push_back(Transmit {
                        id: id.clone(),
                        remote: c.remote,
                        message: m,
                    });
                }
                while let Some(e) = c.tx.poll_event() {
                    self.events.push_back((id.clone(), e));
                }
                if c.tx.state() == ClientState::Terminated {
                    self.clients.remove(k);
                }
            }
            TxId::Server(k) => {
                let Some(s) = self.servers.get_mut(k) else {
                    return;
                };
                while let Some(m) = s.tx.poll_transmit() {
                    self.transmits.push_back(Transmit {
                        id: id.clone(),
                        remote: s.remote,
                        message: m,
                    });
                }
                while let Some(e) = s.tx.poll_event() {
                    self.events.push_back((id.clone(), e));
                }
                if s.tx.state() == ServerState::Terminated {
                    self.remove_server(k);
                }
            }
        }
    }
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: record where the request really came from on its top Via.
fn stamp_via(request: &mut Request, source: SocketAddr) {
    let Some(via) = request.headers.top_via() else {
        return;
    };
    let host_is_source = via.host.to_string().trim_matches(['[', ']']) == source.ip().to_string();
    let wants_rport = via.rport().is_some();
    if host_is_source && !wants_rport {
        return;
    }
    let _ = request.headers.update_top_via(|v| {
        v.params.set("received", Some(&source.ip().to_string()));
        if wants_rport {
            v.params.set("rport", Some(&source.port().to_string()));
        }
    });
}

/// Where responses go (RFC 3261 §18.2.2, RFC 3581 §4): the connection for reliable transports; the source
/// address when rport was asked; else the source IP with the sent-by port (default 5060).
fn response_target(request: &Request, source: SocketAddr, reliable: bool) -> SocketAddr {
    if reliable {
        return source;
    }
    match request.headers.top_via() {
        Some(v) if matches!(v.rport(), Some(Rport::Port(_) | Rport::Requested)) => source,
        Some(v) => SocketAddr::new(source.ip(), v.port.unwrap_or(5060)),
        None => source,
    }
}
