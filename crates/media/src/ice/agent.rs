//! The ICE agent state machine.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod requests;
mod timers;

use super::{
    pair_priority, Candidate, CandidateKind, FillBytes, IceConfig, IceCredentials, IceError,
    IceEvent, IceMode, IceRole, IceState, Nomination, Transmit,
};
use crate::stun::{
    error_code, Class, IntegrityKey, Message, MessageBuilder, MessageType, Method, StunError,
    TransactionId,
};

/// The check list limit (RFC 8445 §6.1.2.5 suggests 100): beyond it new pairs are not formed.
const MAX_PAIRS: usize = 100;

/// Counters of what the agent answered and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IceStats {
    /// Binding requests answered with a success response.
    pub requests_accepted: u64,
    /// Requests answered 400 (no USERNAME or MESSAGE-INTEGRITY).
    pub rejected_bad_request: u64,
    /// Requests answered 401 (wrong ufrag or MESSAGE-INTEGRITY).
    pub rejected_unauthenticated: u64,
    /// Requests answered 420 (unknown comprehension-required attributes).
    pub rejected_unknown_attribute: u64,
    /// Requests answered 487 (role conflict, we keep our role).
    pub rejected_role_conflict: u64,
    /// Responses dropped (no transaction, or failed integrity).
    pub responses_dropped: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PairState {
    Frozen,
    Waiting,
    InProgress,
    Succeeded,
    Failed,
}

#[derive(Clone, Debug)]
struct Pair {
    local: SocketAddr,
    remote: SocketAddr,
    local_priority: u32,
    remote_priority: u32,
    foundation: (String, String),
    state: PairState,
    /// Controlling: the next check on this pair carries USE-CANDIDATE (regular nomination).
    nominate: bool,
    /// Controlled: USE-CANDIDATE arrived before the pair was valid; nominate when our check succeeds.
    nominate_on_success: bool,
    nominated: bool,
    /// Consent expired or was revoked on this pair: final until an ICE restart (RFC 7675 §5.1).
    consent_lost: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxKind {
    Check {
        use_candidate: bool,
        sent_as: IceRole,
    },
    Consent,
}

#[derive(Clone, Debug)]
struct Transaction {
    tid: TransactionId,
    local: SocketAddr,
    remote: SocketAddr,
    kind: TxKind,
    bytes: Vec<u8>,
    retransmits: u32,
    rto: Duration,
    next_at: Instant,
    /// Replaced by a triggered check (RFC 8445 §7.3.1.4): no more retransmissions, a late response still counts,
    /// and its expiry does not fail the pair.
    cancelled: bool,
}

#[derive(Clone, Copy, Debug)]
struct Consent {
    local: SocketAddr,
    remote: SocketAddr,
    last_ok: Instant,
    next_check: Instant,
}

/// A sans-IO ICE agent for one component (RTP and RTCP muxed). See the [module docs](super).
pub struct IceAgent {
    config: IceConfig,
    fill: FillBytes,
    local_creds: IceCredentials,
    local_key: IntegrityKey,
    remote_key: Option<IntegrityKey>,
    remote_creds: Option<IceCredentials>,
    role: IceRole,
    tie_breaker: u64,
    locals: Vec<Candidate>,
    remotes: Vec<Candidate>,
    pairs: Vec<Pair>,
    triggered: VecDeque<usize>,
    txs: Vec<Transaction>,
    next_pace: Option<Instant>,
    /// Controlling, regular nomination: nominate the best valid pair by then even if better ones are pending.
    nominate_at: Option<Instant>,
    last_now: Instant,
    selected: Option<(SocketAddr, SocketAddr)>,
    consent: Option<Consent>,
    failed_reported: bool,
    transmits: VecDeque<Transmit>,
    events: VecDeque<IceEvent>,
    stats: IceStats,
}

impl std::fmt::Debug for IceAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceAgent")
            .field("mode", &self.config.mode)
            .field("role", &self.role)
            .field("local_creds", &self.local_creds)
            .field("pairs", &self.pairs.len())
            .field("selected", &self.selected)
            .finish_non_exhaustive()
    }
}

impl IceAgent {
    /// A new agent with local credentials, an initial role and a randomness source. The tie-breaker is drawn now.
    pub fn new(
        now: Instant,
        config: IceConfig,
        local: IceCredentials,
        role: IceRole,
        mut fill: FillBytes,
    ) -> Self {
        let mut tb = [0u8; 8];
        fill.fill(&mut tb);
        Self {
            config: config.sanitized(),
            fill,
            local_key: IntegrityKey::new(local.pwd().as_bytes()),
            remote_key: None,
            local_creds: local,
            remote_creds: None,
            role,
            tie_breaker: u64::from_be_bytes(tb),
            locals: Vec::new(),
            remotes: Vec::new(),
            pairs: Vec::new(),
            triggered: VecDeque::new(),
            txs: Vec::new(),
            next_pace: None,
            nominate_at: None,
            last_now: now,
            selected: None,
            consent: None,
            failed_reported: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: IceStats::default(),
        }
    }

    // ---- getters -------------------------------------------------------------------------------------------

    /// The current role.
    #[must_use]
    pub fn role(&self) -> IceRole {
        self.role
    }

    /// The tie-breaker sent in ICE-CONTROLLING / ICE-CONTROLLED.
    #[must_use]
    pub fn tie_breaker(&self) -> u64 {
        self.tie_breaker
    }

    /// The local credentials (for the SDP).
    #[must_use]
    pub fn local_credentials(&self) -> &IceCredentials {
        &self.local_creds
    }

    /// The local candidates (for the SDP).
    #[must_use]
    pub fn local_candidates(&self) -> &[Candidate] {
        &self.locals
    }

    /// The selected pair `(local, remote)`, if any. Kept across an ICE restart until a new pair is selected.
    #[must_use]
    pub fn selected_pair(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.selected
    }

    /// The overall state.
    #[must_use]
    pub fn state(&self) -> IceState {
        if self.selected.is_some() {
            IceState::Connected
        } else if self.pairs.iter().any(|p| p.consent_lost) {
            IceState::Disconnected
        } else if self.failed_reported {
            IceState::Failed
        } else if self.pairs.is_empty() {
            IceState::New
        } else {
            IceState::Checking
        }
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> IceStats {
        self.stats
    }

    /// Whether a pair `(local, remote)` passed a connectivity check (or, for ICE-lite, sent an authenticated check).
    #[must_use]
    pub fn is_valid_pair(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        self.pairs
            .iter()
            .any(|p| p.local == local && p.remote == remote && p.state == PairState::Succeeded)
    }

    // ---- configuration (from SDP) --------------------------------------------------------------------------

    /// Add a local host candidate (the address of a socket the driver owns). Returns the candidate for the SDP.
    pub fn add_local_candidate(&mut self, addr: SocketAddr) -> Candidate {
        if let Some(c) = self.locals.iter().find(|c| c.addr == addr) {
            return c.clone();
        }
        let pref = u16::MAX.saturating_sub(u16::try_from(self.locals.len()).unwrap_or(u16::MAX));
        let c = Candidate::host(addr, pref);
        self.locals.push(c.clone());
        let remotes = self.remotes.clone();
        for r in &remotes {
            self.add_pair(&c, r);
        }
        self.schedule();
        c
    }

    /// Set the remote credentials from the remote SDP (`a=ice-ufrag`, `a=ice-pwd`).
    ///
    /// Consent (RFC 7675) is only checked while remote credentials are known: without them (ICE-lite peers that
    /// never get them, or the middle of an ICE restart) no check can be authenticated, so the expiry timer pauses,
    /// and it starts afresh, with a check at once, when they arrive.
    pub fn set_remote_credentials(&mut self, creds: IceCredentials) {
        if self.remote_creds.is_none() {
            let now = self.last_now;
            if let Some(c) = self.consent.as_mut() {
                c.last_ok = c.last_ok.max(now);
                c.next_check = now;
            }
        }
        self.remote_key = Some(IntegrityKey::new(creds.pwd().as_bytes()));
        self.remote_creds = Some(creds);
        self.schedule();
    }

    /// Add a remote candidate from the remote SDP (or trickled). Pairs with every local candidate of the same
    /// address family.
    pub fn add_remote_candidate(&mut self, cand: Candidate) {
        if let Some(r) = self.remotes.iter_mut().find(|r| r.addr == cand.addr) {
            // A signalled candidate replaces a peer-reflexive one learnt earlier (RFC 8445 §7.3.1.3).
            if r.kind == CandidateKind::PeerReflexive && cand.kind != CandidateKind::PeerReflexive {
                for p in self.pairs.iter_mut().filter(|p| p.remote == cand.addr) {
                    p.remote_priority = cand.priority;
                    p.foundation.1.clone_from(&cand.foundation);
                }
                *r = cand;
            }
            return;
        }
        if self.remotes.len() >= MAX_PAIRS {
            return;
        }
        self.remotes.push(cand.clone());
        let locals = self.locals.clone();
        for l in &locals {
            self.add_pair(l, &cand);
        }
        self.failed_reported = false;
        self.schedule();
    }

    /// ICE restart (RFC 8445 §9) with new local credentials: forgets remote credentials, remote candidates, pairs
    /// and checks, and keeps the role, the tie-breaker and the selected pair (media keeps flowing on it until a new
    /// pair is selected). Nothing above ICE is touched: the DTLS association survives (T-3.3).
    pub fn restart(&mut self, new_local: IceCredentials) {
        self.local_key = IntegrityKey::new(new_local.pwd().as_bytes());
        self.local_creds = new_local;
        self.remote_key = None;
        self.remote_creds = None;
        self.remotes.clear();
        self.pairs.clear();
        self.triggered.clear();
        self.txs.clear();
        self.next_pace = None;
        self.nominate_at = None;
        self.failed_reported = false;
    }

    // ---- inputs --------------------------------------------------------------------------------------------

    /// A STUN datagram arrived on `local` from `remote` (the demultiplexer said STUN).
    pub fn handle_stun(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), IceError> {
        self.last_now = now;
        let msg = Message::decode(bytes)?;
        if msg.msg_type.method != Method::BINDING {
            return Err(IceError::NotBinding(msg.msg_type.method.0));
        }
        let result = match msg.class() {
            Class::Request => {
                self.on_request(now, local, remote, &msg);
                Ok(())
            }
            Class::Indication => Ok(()), // keepalive
            Class::Success | Class::Error => self.on_response(now, local, remote, &msg),
        };
        self.drive(now);
        result
    }

    /// Timers: retransmissions, check pacing, consent checks and expiry. Safe to call early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        self.drive(now);
    }

    // ---- outputs -------------------------------------------------------------------------------------------

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<IceEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline: next paced check, a retransmission, the next consent check or consent expiry.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let tx = self.txs.iter().map(|t| t.next_at).min();
        let consent = self
            .consent
            .filter(|_| self.remote_creds.is_some())
            .map(|c| c.next_check.min(c.last_ok + self.config.consent_timeout));
        [self.next_pace, self.nominate_at, tx, consent]
            .into_iter()
            .flatten()
            .min()
    }

    // ---- responses -----------------------------------------------------------------------------------------

    fn on_response(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        m: &Message<'_>,
    ) -> Result<(), IceError> {
        let Some(ti) = self.txs.iter().position(|t| t.tid == m.transaction_id) else {
            self.stats.responses_dropped += 1;
            return Err(IceError::UnknownTransaction);
        };
        let Some(remote_key) = self.remote_key.clone() else {
            self.stats.responses_dropped += 1;
            return Err(IceError::UnknownTransaction);
        };
        // Success responses must carry valid integrity; error responses only if they carry any (401 cannot).
        if (m.class() == Class::Success || m.has_integrity())
            && m.verify_integrity_with(&remote_key).is_err()
        {
            self.stats.responses_dropped += 1;
            return Err(IceError::ResponseIntegrity);
        }
        let tx = self.txs.remove(ti);
        let pair = self.find_pair(tx.local, tx.remote);
        // Non-symmetric addresses fail the check (RFC 8445 §7.2.5.2.1).
        let symmetric = tx.local == local && tx.remote == remote;
        match (tx.kind, m.class()) {
            (TxKind::Consent, Class::Success) if symmetric => {
                if let Some(c) = self
                    .consent
                    .as_mut()
                    .filter(|c| c.local == local && c.remote == remote)
                {
                    c.last_ok = now;
                }
            }
            // RFC 7675 §5.2: a 403 (Forbidden) answer to a consent check revokes consent at once.
            (TxKind::Consent, Class::Error)
                if m.error_code.map(|e| e.code) == Some(error_code::FORBIDDEN) =>
            {
                self.lose_consent();
            }
            (TxKind::Consent, _) => {}
            (TxKind::Check { sent_as, .. }, Class::Error)
                if m.error_code.map(|e| e.code) == Some(error_code::ROLE_CONFLICT) =>
            {
                // RFC 8445 §7.2.5.1: switch to the role opposite the one we sent, and check again.
                let new = match sent_as {
                    IceRole::Controlling => IceRole::Controlled,
                    IceRole::Controlled => IceRole::Controlling,
                };
                self.set_role(new);
                if let Some(i) = pair {
                    if let Some(p) = self.pairs.get_mut(i) {
                        p.state = PairState::Waiting;
                    }
                    self.triggered.push_back(i);
                    self.schedule();
                }
            }
            (TxKind::Check { use_candidate, .. }, Class::Success) if symmetric => {
                if let Some(i) = pair {
                    self.check_succeeded(now, i, use_candidate);
                }
            }
            (TxKind::Check { .. }, _) => {
                if let Some(p) = pair.and_then(|i| self.pairs.get_mut(i)) {
                    p.state = PairState::Failed;
                }
                self.maybe_nominate(now);
                self.check_failed_all();
            }
        }
        self.update_selected(now);
        Ok(())
    }

    fn check_succeeded(&mut self, now: Instant, idx: usize, use_candidate: bool) {
        let Some(p) = self.pairs.get_mut(idx) else {
            return;
        };
        p.state = PairState::Succeeded;
        if use_candidate || p.nominate_on_success && self.role == IceRole::Controlled {
            p.nominated = true;
        }
        let foundation = p.foundation.clone();
        let (l, r) = (p.local, p.remote);
        // Unfreeze pairs with the same foundation (RFC 8445 §7.2.5.3.3).
        for q in &mut self.pairs {
            if q.state == PairState::Frozen && q.foundation == foundation {
                q.state = PairState::Waiting;
            }
        }
        // A successful check on the selected pair is also consent (RFC 7675 §5.1).
        if let Some(c) = self
            .consent
            .as_mut()
            .filter(|c| c.local == l && c.remote == r)
        {
            c.last_ok = now;
        }
        self.maybe_nominate(now);
        self.schedule();
    }

    /// Regular nomination (RFC 8445 §8.1.1): once the best valid pair can no longer be beaten by a pending check,
    /// the controlling agent repeats its check with USE-CANDIDATE.
    fn maybe_nominate(&mut self, now: Instant) {
        if self.role != IceRole::Controlling
            || self.config.mode == IceMode::Lite
            || self.config.nomination == Nomination::Aggressive
            || self
                .pairs
                .iter()
                .any(|p| (p.nominate || p.nominated) && p.state != PairState::Failed)
        {
            return;
        }
        let role = self.role;
        let prio = |p: &Pair| pair_prio(role, p);
        let Some((best, best_prio)) = self
            .pairs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.state == PairState::Succeeded)
            .map(|(i, p)| (i, prio(p)))
            .max_by_key(|(_, pr)| *pr)
        else {
            return;
        };
        let pending_better = self.pairs.iter().any(|p| {
            matches!(
                p.state,
                PairState::Frozen | PairState::Waiting | PairState::InProgress
            ) && prio(p) > best_prio
        });
        if pending_better {
            let at = *self
                .nominate_at
                .get_or_insert(now + self.config.nomination_delay);
            if now < at {
                return;
            }
        }
        self.nominate_at = None;
        if let Some(p) = self.pairs.get_mut(best) {
            p.nominate = true; // the pair stays Succeeded (valid) while the USE-CANDIDATE check runs
        }
        self.triggered.push_back(best);
        self.schedule();
    }

    fn check_failed_all(&mut self) {
        if !self.failed_reported
            && self.selected.is_none()
            && !self.pairs.is_empty()
            && self.pairs.iter().all(|p| p.state == PairState::Failed)
        {
            self.failed_reported = true;
            self.events.push_back(IceEvent::Failed);
        }
    }

    /// Select the highest-priority nominated valid pair (aggressive nomination may nominate several, T-6a).
    fn update_selected(&mut self, now: Instant) {
        let role = self.role;
        let best = self
            .pairs
            .iter()
            .filter(|p| p.nominated && p.state == PairState::Succeeded)
            .max_by_key(|p| pair_prio(role, p))
            .map(|p| (p.local, p.remote));
        let Some((local, remote)) = best else { return };
        let same = self.selected == Some((local, remote));
        if !same {
            self.selected = Some((local, remote));
            self.events
                .push_back(IceEvent::SelectedPair { local, remote });
        }
        if !same || self.consent.is_none() {
            let next_check = now + self.consent_jitter();
            self.consent = Some(Consent {
                local,
                remote,
                last_ok: now,
                next_check,
            });
        }
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    fn new_tid(&mut self) -> TransactionId {
        let mut t = [0u8; 12];
        self.fill.fill(&mut t);
        TransactionId(t)
    }

    fn find_pair(&self, local: SocketAddr, remote: SocketAddr) -> Option<usize> {
        self.pairs
            .iter()
            .position(|p| p.local == local && p.remote == remote)
    }

    fn add_pair(&mut self, l: &Candidate, r: &Candidate) {
        if l.addr.is_ipv4() != r.addr.is_ipv4()
            || self.find_pair(l.addr, r.addr).is_some()
            || self.pairs.len() >= MAX_PAIRS
        {
            return;
        }
        let foundation = (l.foundation.clone(), r.foundation.clone());
        // The first pair of a foundation starts Waiting, the others Frozen (RFC 8445 §6.1.2.6).
        let state = if self.pairs.iter().any(|p| p.foundation == foundation) {
            PairState::Frozen
        } else {
            PairState::Waiting
        };
        self.pairs.push(Pair {
            local: l.addr,
            remote: r.addr,
            local_priority: l.priority,
            remote_priority: r.priority,
            foundation,
            state,
            nominate: false,
            nominate_on_success: false,
            nominated: false,
            consent_lost: false,
        });
    }

    /// Make sure the pacer runs: at once if it is idle.
    fn schedule(&mut self) {
        if self.next_pace.is_none() && self.config.mode == IceMode::Full {
            self.next_pace = Some(self.last_now);
        }
    }
}

fn pair_prio(role: IceRole, p: &Pair) -> u64 {
    match role {
        IceRole::Controlling => pair_priority(p.local_priority, p.remote_priority),
        IceRole::Controlled => pair_priority(p.remote_priority, p.local_priority),
    }
}
