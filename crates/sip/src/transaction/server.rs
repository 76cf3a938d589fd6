//! Server transactions: INVITE (RFC 3261 §17.2.1 with RFC 6026 §7.1 Accepted) and non-INVITE (§17.2.2).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::timer::{Deadlines, Timer, TimerConfig};
use super::{TxError, TxEvent};
use crate::message::{Message, Request, Response};
use crate::method::Method;

/// Server transaction states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// Non-INVITE: request received, TU has not answered.
    Trying,
    /// A provisional response was sent (INVITE starts here).
    Proceeding,
    /// A final (INVITE: non-2xx) response was sent.
    Completed,
    /// INVITE: the ACK for the non-2xx arrived; absorbing ACK retransmissions.
    Confirmed,
    /// INVITE: a 2xx was sent; the TU retransmits it until its ACK, which is passed up (RFC 6026 §7.1).
    Accepted,
    /// Done.
    Terminated,
}

/// One server transaction.
#[derive(Debug, Clone)]
pub struct ServerTransaction {
    invite: bool,
    state: ServerState,
    request: Request,
    last_provisional: Option<Response>,
    last_final: Option<Response>,
    reliable: bool,
    config: TimerConfig,
    timers: Deadlines,
    interval: Duration,
    transmits: VecDeque<Message>,
    events: VecDeque<TxEvent>,
}

impl ServerTransaction {
    /// A transaction for a new request (not ACK). INVITE arms the 100 Trying timer (§17.2.1).
    pub fn new(
        now: Instant,
        request: Request,
        reliable: bool,
        config: TimerConfig,
    ) -> Result<Self, TxError> {
        if request.method == Method::Ack {
            return Err(TxError::AckRequest);
        }
        let invite = request.method == Method::Invite;
        let mut timers = Deadlines::default();
        if invite {
            timers.set(Timer::Trying100, now + config.trying_delay);
        }
        Ok(Self {
            invite,
            state: if invite {
                ServerState::Proceeding
            } else {
                ServerState::Trying
            },
            request,
            last_provisional: None,
            last_final: None,
            reliable,
            config,
            timers,
            interval: config.t1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    /// A request matched to this transaction: a retransmission, or the ACK of an INVITE.
    pub fn handle_request(&mut self, now: Instant, request: Request) {
        let ack = request.method == Method::Ack;
        match (self.invite, self.state, ack) {
            (true, ServerState::Proceeding, false) => {
                // §17.2.1: resend the latest provisional; none yet → a 100 Trying now.
                if self.last_provisional.is_none() {
                    self.send_trying();
                } else if let Some(p) = &self.last_provisional {
                    self.transmits.push_back(Message::Response(p.clone()));
                }
            }
            (true, ServerState::Completed, false) => self.resend_final(),
            (true, ServerState::Completed, true) => {
                self.timers.clear(Timer::G);
                self.timers.clear(Timer::H);
                if self.reliable {
                    self.terminate();
                } else {
                    self.state = ServerState::Confirmed;
                    self.timers.set(Timer::I, now + self.config.t4);
                }
            }
            // RFC 6026 §7.1: in Accepted, ACKs go to the TU, INVITE retransmissions are absorbed.
            (true, ServerState::Accepted, true) => self.events.push_back(TxEvent::Ack(request)),
            (false, ServerState::Proceeding, _) => {
                if let Some(p) = &self.last_provisional {
                    self.transmits.push_back(Message::Response(p.clone()));
                }
            }
            (false, ServerState::Completed, _) => self.resend_final(),
            // Trying (non-INVITE), Confirmed, Accepted+INVITE, Terminated: absorbed.
            _ => {}
        }
    }

    /// A response from the TU.
    pub fn send_response(&mut self, now: Instant, response: Response) -> Result<(), TxError> {
        let code = response.status;
        match (self.invite, self.state) {
            (true, ServerState::Proceeding)
            | (false, ServerState::Trying | ServerState::Proceeding) => {}
            // RFC 6026 §7.1: the TU retransmits its 2xx through the Accepted transaction.
            (true, ServerState::Accepted) if (200..300).contains(&code) => {
                self.transmits.push_back(Message::Response(response));
                return Ok(());
            }
            _ => return Err(TxError::WrongState),
        }
        self.transmits
            .push_back(Message::Response(response.clone()));
        if code < 200 {
            self.timers.clear(Timer::Trying100);
            self.last_provisional = Some(response);
            self.state = ServerState::Proceeding;
            return Ok(());
        }
        self.timers.clear_all();
        if self.invite && code < 300 {
            self.state = ServerState::Accepted;
            self.timers.set(Timer::L, now + self.config.timeout());
        } else if self.invite {
            self.state = ServerState::Completed;
            if !self.reliable {
                self.timers.set(Timer::G, now + self.config.t1);
            }
            self.timers.set(Timer::H, now + self.config.timeout());
        } else if self.reliable {
            self.last_final = Some(response);
            self.terminate();
            return Ok(());
        } else {
            self.state = ServerState::Completed;
            self.timers.set(Timer::J, now + self.config.timeout());
        }
        self.last_final = Some(response);
        Ok(())
    }

    /// Fires every timer due at `now`. Safe to call early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        for _ in 0..128 {
            let Some((timer, at)) = self.timers.pop_due(now) else {
                return;
            };
            match timer {
                Timer::Trying100
                    if self.state == ServerState::Proceeding && self.last_provisional.is_none() =>
                {
                    self.send_trying();
                }
                Timer::G => {
                    self.resend_final();
                    // §17.2.1: doubling capped at T2.
                    self.interval = self.interval.saturating_mul(2).min(self.config.t2);
                    self.timers.set(Timer::G, at + self.interval);
                }
                Timer::H => {
                    self.events.push_back(TxEvent::Timeout);
                    self.terminate();
                }
                Timer::I | Timer::J | Timer::L => self.terminate(),
                _ => {}
            }
        }
    }

    /// The transport failed to send (§17.2.4).
    pub fn handle_transport_error(&mut self, _now: Instant) {
        if self.state != ServerState::Terminated {
            self.events.push_back(TxEvent::TransportError);
            self.terminate();
        }
    }

    fn send_trying(&mut self) {
        if let Ok(trying) = Response::from_request(&self.request, 100, None) {
            self.transmits.push_back(Message::Response(trying.clone()));
            self.last_provisional = Some(trying);
        }
        self.timers.clear(Timer::Trying100);
    }

    fn resend_final(&mut self) {
        if let Some(f) = &self.last_final {
            self.transmits.push_back(Message::Response(f.clone()));
        }
    }

    fn terminate(&mut self) {
        self.timers.clear_all();
        self.state = ServerState::Terminated;
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
    /// The earliest deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next().map(|(_, at)| at)
    }
    /// The earliest deadline with its timer name.
    pub fn next_timer(&self) -> Option<(Timer, Instant)> {
        self.timers.next()
    }
    /// The current state.
    pub fn state(&self) -> ServerState {
        self.state
    }
    /// The request that created the transaction.
    pub fn request(&self) -> &Request {
        &self.request
    }
}
