//! Timers of the agent: retransmissions, check pacing (Ta) and consent freshness (RFC 7675).

use std::time::{Duration, Instant};

use super::*;

impl IceAgent {
    // ---- timers and sending --------------------------------------------------------------------------------

    pub(super) fn drive(&mut self, now: Instant) {
        self.retransmit(now);
        if self.nominate_at.is_some_and(|t| t <= now) {
            self.maybe_nominate(now);
            // Nothing to nominate any more (role changed, already nominated): drop the timer.
            if self.nominate_at.is_some_and(|t| t <= now) {
                self.nominate_at = None;
            }
        }
        self.pace(now);
        self.consent_tick(now);
    }

    pub(super) fn retransmit(&mut self, now: Instant) {
        let mut timed_out = Vec::new();
        for t in &mut self.txs {
            if t.next_at > now {
                continue;
            }
            if t.retransmits >= self.config.max_retransmits || t.cancelled {
                timed_out.push(t.tid);
                continue;
            }
            t.retransmits += 1;
            t.rto = t.rto.saturating_mul(2);
            // RFC 8489 §6.2.1: after the last request, wait Rm (16) × the initial RTO, not another doubling.
            let wait = if t.retransmits >= self.config.max_retransmits {
                self.config.initial_rto.saturating_mul(16)
            } else {
                t.rto
            };
            t.next_at = now + wait;
            self.transmits.push_back(Transmit {
                local: t.local,
                remote: t.remote,
                bytes: t.bytes.clone(),
            });
        }
        for tid in timed_out {
            let Some(i) = self.txs.iter().position(|t| t.tid == tid) else {
                continue;
            };
            let t = self.txs.remove(i);
            let replaced = self.txs.iter().any(|o| {
                o.local == t.local && o.remote == t.remote && matches!(o.kind, TxKind::Check { .. })
            });
            if let (TxKind::Check { .. }, false, false) = (t.kind, t.cancelled, replaced) {
                if let Some(p) = self
                    .find_pair(t.local, t.remote)
                    .and_then(|i| self.pairs.get_mut(i))
                {
                    p.state = PairState::Failed;
                }
                self.maybe_nominate(now);
                self.check_failed_all();
            }
        }
    }

    /// Send at most one check per Ta: a triggered check first, else the best Waiting pair, else unfreeze.
    pub(super) fn pace(&mut self, now: Instant) {
        if self.next_pace.is_some_and(|t| t > now) {
            return;
        }
        self.next_pace = None;
        if self.config.mode == IceMode::Lite || self.remote_creds.is_none() {
            return;
        }
        let Some(idx) = self.next_pair_to_check() else {
            return;
        };
        self.send_check(now, idx);
        self.next_pace = Some(now + self.config.ta);
    }

    pub(super) fn next_pair_to_check(&mut self) -> Option<usize> {
        while let Some(i) = self.triggered.pop_front() {
            // Waiting pairs, and valid pairs the controlling agent is about to nominate (they stay valid meanwhile).
            if self.pairs.get(i).is_some_and(|p| {
                p.state == PairState::Waiting || p.nominate && p.state == PairState::Succeeded
            }) {
                return Some(i);
            }
        }
        if self.pairs.iter().any(|p| p.nominated) {
            // Ordinary checks stop once this generation nominated a pair (a pair kept across an ICE restart
            // does not count: the new generation checks afresh).
            return None;
        }
        let role = self.role;
        let waiting = self
            .pairs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.state == PairState::Waiting)
            .max_by_key(|(_, p)| pair_prio(role, p))
            .map(|(i, _)| i);
        if waiting.is_some() {
            return waiting;
        }
        // No Waiting pair: unfreeze the best Frozen one (RFC 8445 §6.1.4.2).
        let frozen = self
            .pairs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.state == PairState::Frozen)
            .max_by_key(|(_, p)| pair_prio(role, p))
            .map(|(i, _)| i);
        frozen
    }

    pub(super) fn send_check(&mut self, now: Instant, idx: usize) {
        let Some(remote_creds) = self.remote_creds.clone() else {
            return;
        };
        let role = self.role;
        let aggressive = self.config.nomination == Nomination::Aggressive;
        let Some(p) = self.pairs.get_mut(idx) else {
            return;
        };
        if p.state != PairState::Succeeded {
            p.state = PairState::InProgress;
        }
        let use_candidate = role == IceRole::Controlling && (aggressive || p.nominate);
        let (local, remote) = (p.local, p.remote);
        // PRIORITY: what a peer-reflexive candidate of ours would get (RFC 8445 §7.1.1).
        let prflx_priority = (CandidateKind::PeerReflexive.type_preference() << 24)
            | (p.local_priority & 0x00FF_FFFF);
        let tid = self.new_tid();
        let mut b = MessageBuilder::new(MessageType::BINDING_REQUEST, tid);
        b.username(&format!(
            "{}:{}",
            remote_creds.ufrag(),
            self.local_creds.ufrag()
        ))
        .priority(prflx_priority);
        match role {
            IceRole::Controlling => b.ice_controlling(self.tie_breaker),
            IceRole::Controlled => b.ice_controlled(self.tie_breaker),
        };
        if use_candidate {
            b.use_candidate();
        }
        let Some(key) = self.remote_key.as_ref() else {
            return;
        };
        b.message_integrity_with(key).fingerprint();
        let Ok(bytes) = b.finish() else { return };
        self.start_tx(
            now,
            tid,
            local,
            remote,
            TxKind::Check {
                use_candidate,
                sent_as: role,
            },
            bytes,
        );
    }

    pub(super) fn start_tx(
        &mut self,
        now: Instant,
        tid: TransactionId,
        local: SocketAddr,
        remote: SocketAddr,
        kind: TxKind,
        bytes: Vec<u8>,
    ) {
        self.transmits.push_back(Transmit {
            local,
            remote,
            bytes: bytes.clone(),
        });
        let rto = self.config.initial_rto;
        self.txs.push(Transaction {
            tid,
            local,
            remote,
            kind,
            bytes,
            retransmits: 0,
            rto,
            next_at: now + rto,
            cancelled: false,
        });
    }

    /// RFC 7675 §5.1: a consent check every ~5 s (randomised), expiry after 30 s without an authenticated response.
    pub(super) fn consent_tick(&mut self, now: Instant) {
        let Some(c) = self.consent else { return };
        let Some(remote_creds) = self.remote_creds.clone() else {
            return; // nothing can be checked: the expiry timer pauses (see set_remote_credentials)
        };
        if now >= c.last_ok + self.config.consent_timeout {
            self.lose_consent();
            return;
        }
        if now < c.next_check {
            return;
        }
        let next = now + self.consent_jitter();
        if let Some(cm) = self.consent.as_mut() {
            cm.next_check = next;
        }
        let tid = self.new_tid();
        let mut b = MessageBuilder::new(MessageType::BINDING_REQUEST, tid);
        b.username(&format!(
            "{}:{}",
            remote_creds.ufrag(),
            self.local_creds.ufrag()
        ));
        if let Some(p) = self
            .find_pair(c.local, c.remote)
            .and_then(|i| self.pairs.get(i))
        {
            b.priority(
                (CandidateKind::PeerReflexive.type_preference() << 24)
                    | (p.local_priority & 0x00FF_FFFF),
            );
        }
        match self.role {
            IceRole::Controlling => b.ice_controlling(self.tie_breaker),
            IceRole::Controlled => b.ice_controlled(self.tie_breaker),
        };
        let Some(key) = self.remote_key.as_ref() else {
            return;
        };
        b.message_integrity_with(key).fingerprint();
        let Ok(bytes) = b.finish() else { return };
        // One consent transaction at a time; a new one replaces a stale one.
        self.txs.retain(|t| t.kind != TxKind::Consent);
        self.start_tx(now, tid, c.local, c.remote, TxKind::Consent, bytes);
    }

    /// Consent expired or was revoked: media must stop on the selected pair (RFC 7675 §5.1, §5.2).
    pub(super) fn lose_consent(&mut self) {
        let Some(c) = self.consent.take() else { return };
        self.selected = None;
        // Lost consent is final for that pair (RFC 7675 §5.1): only an ICE restart brings it back.
        if let Some(p) = self
            .find_pair(c.local, c.remote)
            .and_then(|i| self.pairs.get_mut(i))
        {
            p.state = PairState::Failed;
            p.nominated = false;
            p.consent_lost = true;
        }
        self.txs.retain(|t| t.kind != TxKind::Consent);
        self.events.push_back(IceEvent::ConsentExpired {
            local: c.local,
            remote: c.remote,
        });
    }

    pub(super) fn consent_jitter(&mut self) -> Duration {
        let mut r = [0u8; 2];
        self.fill.fill(&mut r);
        // Uniform in [0.8, 1.2] × interval (RFC 7675 §5.1).
        let permille = 800 + u32::from(u16::from_be_bytes(r)) % 401;
        self.config.consent_interval.saturating_mul(permille) / 1000
    }
}
