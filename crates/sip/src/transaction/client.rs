//! Client transactions: INVITE (RFC 3261 §17.1.1, RFC 6026 §8.4) and non-INVITE (§17.1.2).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::timer::{Deadlines, Timer, TimerConfig};
use super::{TxError, TxEvent};
use crate::header::{HeaderField, HeaderName, Headers};
use crate::message::{Message, Request, Response};
use crate::method::Method;

/// Client transaction states (INVITE: Calling → Proceeding → Completed/Accepted; non-INVITE: Trying → ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// INVITE sent, nothing heard.
    Calling,
    /// Non-INVITE sent, nothing heard.
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final (INVITE: non-2xx) response arrived; absorbing retransmissions.
    Completed,
    /// INVITE: a 2xx arrived; further 2xx go to the TU (RFC 6026).
    Accepted,
    /// Done.
    Terminated,
}

/// One client transaction.
#[derive(Debug, Clone)]
pub struct ClientTransaction {
    invite: bool,
    state: ClientState,
    request: Request,
    ack: Option<Request>,
    reliable: bool,
    config: TimerConfig,
    timers: Deadlines,
    interval: Duration,
    transmits: VecDeque<Message>,
    events: VecDeque<TxEvent>,
}

impl ClientTransaction {
    /// Starts a transaction: the request is queued for sending at once and the timers are armed
    /// (A/E only when `reliable` is false; B/F always).
    pub fn new(
        now: Instant,
        request: Request,
        reliable: bool,
        config: TimerConfig,
    ) -> Result<Self, TxError> {
        if request.method == Method::Ack {
            return Err(TxError::AckRequest);
        }
        if request.headers.top_via().and_then(|v| v.branch()).is_none() {
            return Err(TxError::NoBranch);
        }
        let invite = request.method == Method::Invite;
        let mut timers = Deadlines::default();
        let (retransmit, timeout) = if invite {
            (Timer::A, Timer::B)
        } else {
            (Timer::E, Timer::F)
        };
        if !reliable {
            timers.set(retransmit, now + config.t1);
        }
        timers.set(timeout, now + config.timeout());
        let mut transmits = VecDeque::new();
        transmits.push_back(Message::Request(request.clone()));
        Ok(Self {
            invite,
            state: if invite {
                ClientState::Calling
            } else {
                ClientState::Trying
            },
            request,
            ack: None,
            reliable,
            config,
            timers,
            interval: config.t1,
            transmits,
            events: VecDeque::new(),
        })
    }

    /// A response matched to this transaction (by the caller, see [`super::ClientKey`]).
    pub fn handle_response(&mut self, now: Instant, response: Response) {
        let code = response.status;
        match (self.invite, self.state) {
            (true, ClientState::Calling | ClientState::Proceeding) => match code {
                100..=199 => {
                    // §17.1.1.2: stop retransmitting; Timer B only guards the Calling state.
                    self.timers.clear(Timer::A);
                    self.timers.clear(Timer::B);
                    self.state = ClientState::Proceeding;
                    self.events.push_back(TxEvent::Response(response));
                }
                200..=299 => {
                    // RFC 6026 §8.4: Accepted, Timer M; the TU ACKs the 2xx.
                    self.timers.clear_all();
                    self.timers.set(Timer::M, now + self.config.timeout());
                    self.state = ClientState::Accepted;
                    self.events.push_back(TxEvent::Response(response));
                }
                _ => {
                    self.timers.clear_all();
                    let ack = build_ack(&self.request, &response);
                    self.transmits.push_back(Message::Request(ack.clone()));
                    self.ack = Some(ack);
                    self.events.push_back(TxEvent::Response(response));
                    if self.reliable {
                        self.terminate();
                    } else {
                        self.state = ClientState::Completed;
                        self.timers.set(Timer::D, now + self.config.timer_d);
                    }
                }
            },
            (true, ClientState::Completed) if code >= 300 => {
                // §17.1.1.2: a retransmitted final response is answered with the same ACK, not passed up.
                if let Some(ack) = &self.ack {
                    self.transmits.push_back(Message::Request(ack.clone()));
                }
            }
            (true, ClientState::Accepted) if (200..300).contains(&code) => {
                self.events.push_back(TxEvent::Response(response));
            }
            (false, ClientState::Trying | ClientState::Proceeding) => {
                if code < 200 {
                    self.state = ClientState::Proceeding;
                } else {
                    self.timers.clear_all();
                    if self.reliable {
                        self.state = ClientState::Terminated;
                    } else {
                        self.state = ClientState::Completed;
                        self.timers.set(Timer::K, now + self.config.t4);
                    }
                }
                self.events.push_back(TxEvent::Response(response));
                if self.state == ClientState::Terminated {
                    self.events.push_back(TxEvent::Terminated);
                }
            }
            // Everything else is absorbed (retransmissions in Completed, stray responses).
            _ => {}
        }
    }

    /// Fires every timer due at `now`. Safe to call early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Bounded: each retransmit timer moves forward; B/F end the transaction after at most 64*T1.
        for _ in 0..128 {
            let Some((timer, at)) = self.timers.pop_due(now) else {
                return;
            };
            match timer {
                Timer::A => {
                    self.transmits
                        .push_back(Message::Request(self.request.clone()));
                    // §17.1.1.2: Timer A doubles each time (no T2 cap for INVITE).
                    self.interval = self.interval.saturating_mul(2);
                    self.timers.set(Timer::A, at + self.interval);
                }
                Timer::E => {
                    self.transmits
                        .push_back(Message::Request(self.request.clone()));
                    // §17.1.2.2: doubling capped at T2; in Proceeding always T2.
                    self.interval = if self.state == ClientState::Proceeding {
                        self.config.t2
                    } else {
                        self.interval.saturating_mul(2).min(self.config.t2)
                    };
                    self.timers.set(Timer::E, at + self.interval);
                }
                Timer::B | Timer::F => {
                    self.events.push_back(TxEvent::Timeout);
                    self.terminate();
                }
                Timer::D | Timer::K | Timer::M => self.terminate(),
                _ => {}
            }
        }
    }

    /// The transport failed to send (§17.1.4): inform the TU and terminate.
    pub fn handle_transport_error(&mut self, _now: Instant) {
        if self.state != ClientState::Terminated {
            self.events.push_back(TxEvent::TransportError);
            self.terminate();
        }
    }

    fn terminate(&mut self) {
        self.timers.clear_all();
        self.state = ClientState::Terminated;
        self.events.push_back(TxEvent::Terminated);
    }

    /// Next message to send.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.transmits.pop_front()
    }
    /// Next event for the TU.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }
    /// The earliest deadline; changes only after `handle_*` calls.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next().map(|(_, at)| at)
    }
    /// The earliest deadline with its timer name.
    pub fn next_timer(&self) -> Option<(Timer, Instant)> {
        self.timers.next()
    }
    /// The current state.
    pub fn state(&self) -> ClientState {
        self.state
    }
    /// The request this transaction sends.
    pub fn request(&self) -> &Request {
        &self.request
    }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same Request-URI, Call-ID, From, CSeq number and
/// top Via as the INVITE, To from the response, the INVITE's Route headers.
pub(crate) fn build_ack(invite: &Request, response: &Response) -> Request {
    let mut headers = Headers::new();
    if let Some(top) = invite.headers.top_via() {
        if let Ok(f) = HeaderField::new(HeaderName::Via, &top.to_string()) {
            headers.push(f);
        }
    }
    for f in invite.headers.iter() {
        match f.name() {
            HeaderName::MaxForwards | HeaderName::From | HeaderName::CallId | HeaderName::Route => {
                headers.push(f.clone())
            }
            HeaderName::To => match response.headers.first(HeaderName::To) {
                Some(to) => headers.push(to.clone()),
                None => headers.push(f.clone()),
            },
            _ => {}
        }
    }
    if let Some(cseq) = invite.headers.cseq() {
        if let Ok(f) = HeaderField::new(HeaderName::CSeq, &format!("{} ACK", cseq.seq)) {
            headers.push(f);
        }
    }
    if let Ok(f) = HeaderField::new(HeaderName::ContentLength, "0") {
        headers.push(f);
    }
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        headers,
        body: Vec::new(),
    }
}

/// A CANCEL for `invite` (RFC 3261 §9.1): same Request-URI, Call-ID, To, From, CSeq number and top Via (so the
/// same branch), the INVITE's Route headers, method CANCEL. Send it in its own client transaction.
pub fn build_cancel(invite: &Request) -> Request {
    let mut headers = Headers::new();
    if let Some(top) = invite.headers.top_via() {
        if let Ok(f) = HeaderField::new(HeaderName::Via, &top.to_string()) {
            headers.push(f);
        }
    }
    for f in invite.headers.iter() {
        if matches!(
            f.name(),
            HeaderName::MaxForwards
                | HeaderName::To
                | HeaderName::From
                | HeaderName::CallId
                | HeaderName::Route
        ) {
            headers.push(f.clone());
        }
    }
    if let Some(cseq) = invite.headers.cseq() {
        if let Ok(f) = HeaderField::new(HeaderName::CSeq, &format!("{} CANCEL", cseq.seq)) {
            headers.push(f);
        }
    }
    if let Ok(f) = HeaderField::new(HeaderName::ContentLength, "0") {
        headers.push(f);
    }
    Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        headers,
        body: Vec::new(),
    }
}
