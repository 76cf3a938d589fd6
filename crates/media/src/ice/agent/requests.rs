//! Answering Binding requests: authentication (400/401), 420, role conflicts (487), ICE-lite learning and full
//! ICE triggered checks (RFC 8445 §7.3).

use std::net::SocketAddr;
use std::time::Instant;

use super::*;

impl IceAgent {
    pub(super) fn respond_error(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        m: &Message<'_>,
        code: u16,
        sign: bool,
    ) {
        let reason = match code {
            error_code::BAD_REQUEST => "Bad Request",
            error_code::UNAUTHENTICATED => "Unauthenticated",
            error_code::UNKNOWN_ATTRIBUTE => "Unknown Attribute",
            error_code::ROLE_CONFLICT => "Role Conflict",
            _ => "Error",
        };
        let mut b = MessageBuilder::new(MessageType::BINDING_ERROR, m.transaction_id);
        b.error_code(code, reason);
        if code == error_code::UNKNOWN_ATTRIBUTE {
            b.unknown_attributes(&m.unknown_required);
        }
        if sign {
            b.message_integrity_with(&self.local_key);
        }
        b.fingerprint();
        self.push_transmit(local, remote, b.finish());
    }

    pub(super) fn push_transmit(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: Result<Vec<u8>, StunError>,
    ) {
        if let Ok(bytes) = bytes {
            self.transmits.push_back(Transmit {
                local,
                remote,
                bytes,
            });
        }
    }

    pub(super) fn on_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        m: &Message<'_>,
    ) {
        // RFC 8489 §9.1.3: short-term credentials need USERNAME and MESSAGE-INTEGRITY, else 400.
        let Some(username) = m.username.filter(|_| m.has_integrity()) else {
            self.stats.rejected_bad_request += 1;
            self.respond_error(local, remote, m, error_code::BAD_REQUEST, false);
            return;
        };
        // USERNAME is "<our ufrag>:<their ufrag>" (RFC 8445 §7.2.2); wrong ufrag or HMAC → 401 without integrity.
        let ours = username.split(':').next().unwrap_or_default();
        if ours != self.local_creds.ufrag() || m.verify_integrity_with(&self.local_key).is_err() {
            self.stats.rejected_unauthenticated += 1;
            self.respond_error(local, remote, m, error_code::UNAUTHENTICATED, false);
            return;
        }
        if !m.unknown_required.is_empty() {
            self.stats.rejected_unknown_attribute += 1;
            self.respond_error(local, remote, m, error_code::UNKNOWN_ATTRIBUTE, true);
            return;
        }
        // Role conflict (RFC 8445 §7.3.1.1).
        match (self.role, m.ice_controlling, m.ice_controlled) {
            (IceRole::Controlling, Some(theirs), _) => {
                if self.tie_breaker >= theirs {
                    self.stats.rejected_role_conflict += 1;
                    self.respond_error(local, remote, m, error_code::ROLE_CONFLICT, true);
                    return;
                }
                self.set_role(IceRole::Controlled);
            }
            (IceRole::Controlled, _, Some(theirs)) => {
                // A lite agent never takes the controlling role against a full peer (RFC 8445 §6.1.1): 487 makes
                // the full agent switch instead.
                if self.tie_breaker >= theirs && self.config.mode == IceMode::Full {
                    self.set_role(IceRole::Controlling);
                } else {
                    self.stats.rejected_role_conflict += 1;
                    self.respond_error(local, remote, m, error_code::ROLE_CONFLICT, true);
                    return;
                }
            }
            _ => {}
        }
        self.stats.requests_accepted += 1;
        let mut b = MessageBuilder::new(MessageType::BINDING_SUCCESS, m.transaction_id);
        b.xor_mapped_address(remote)
            .message_integrity_with(&self.local_key)
            .fingerprint();
        self.push_transmit(local, remote, b.finish());

        let use_candidate = m.use_candidate && self.role == IceRole::Controlled;
        match self.config.mode {
            IceMode::Lite => self.lite_learn(local, remote, m.priority.unwrap_or(0), use_candidate),
            IceMode::Full => {
                self.full_triggered(local, remote, m.priority.unwrap_or(0), use_candidate)
            }
        }
        self.update_selected(now);
    }

    /// ICE-lite: an authenticated check makes the pair valid; USE-CANDIDATE nominates it (RFC 8445 §7.3.1.5).
    pub(super) fn lite_learn(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        prio: u32,
        use_candidate: bool,
    ) {
        let idx = match self.find_pair(local, remote) {
            Some(i) => i,
            None if self.pairs.len() >= MAX_PAIRS => return,
            None => {
                let local_priority = self.locals.iter().find(|c| c.addr == local).map_or(
                    crate::ice::candidate_priority(CandidateKind::Host, u16::MAX),
                    |c| c.priority,
                );
                self.pairs.push(Pair {
                    local,
                    remote,
                    local_priority,
                    remote_priority: prio,
                    foundation: (String::new(), String::new()),
                    state: PairState::Succeeded,
                    nominate: false,
                    nominate_on_success: false,
                    nominated: false,
                    consent_lost: false,
                });
                self.pairs.len() - 1
            }
        };
        if let Some(p) = self.pairs.get_mut(idx).filter(|p| !p.consent_lost) {
            p.state = PairState::Succeeded;
            p.nominated |= use_candidate;
        }
    }

    /// Full ICE: learn a peer-reflexive remote, then a triggered check (RFC 8445 §7.3.1.3, §7.3.1.4).
    pub(super) fn full_triggered(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        prio: u32,
        use_candidate: bool,
    ) {
        if !self.remotes.iter().any(|r| r.addr == remote) {
            self.add_remote_candidate(Candidate {
                addr: remote,
                kind: CandidateKind::PeerReflexive,
                priority: prio,
                foundation: format!("prflx-{remote}"),
            });
        }
        let Some(idx) = self.find_pair(local, remote) else {
            return; // not one of our candidates
        };
        let Some(p) = self.pairs.get_mut(idx).filter(|p| !p.consent_lost) else {
            return;
        };
        match p.state {
            PairState::Succeeded if !p.nominate || p.nominated => {
                p.nominated |= use_candidate;
            }
            // RFC 8445 §7.3.1.4: an In-Progress check is cancelled and replaced by a triggered one, so a peer's
            // check (or its retransmission) gets an answer of ours at once instead of after our backoff. The
            // same for our nomination check on a valid pair (the pair stays valid; USE-CANDIDATE goes again).
            PairState::Succeeded
            | PairState::InProgress
            | PairState::Frozen
            | PairState::Waiting
            | PairState::Failed => {
                let nominating = p.state == PairState::Succeeded;
                if p.state == PairState::InProgress || nominating {
                    let (l, r) = (p.local, p.remote);
                    for t in self.txs.iter_mut().filter(|t| {
                        t.local == l && t.remote == r && matches!(t.kind, TxKind::Check { .. })
                    }) {
                        t.cancelled = true;
                    }
                }
                let Some(p) = self.pairs.get_mut(idx) else {
                    return;
                };
                if !nominating {
                    p.state = PairState::Waiting;
                }
                p.nominate_on_success |= use_candidate;
                if !self.triggered.contains(&idx) {
                    self.triggered.push_back(idx);
                }
                self.schedule();
            }
        }
    }

    pub(super) fn set_role(&mut self, role: IceRole) {
        if self.role != role {
            self.role = role;
            self.events.push_back(IceEvent::RoleChanged(role));
        }
    }
}
