//! Rekeying on one port (RFC 5763 §6.8, RFC 5764 §4.3–4.4, RFC 8842 §5.5): make-before-break switch-over with a
//! grace period for the old keys (F-6.8, D-4.3, T-5.5c), packets held while a renewing handshake finishes, and
//! the proactive [`MediaEvent::RekeyDue`] before a key's lifetime ends or on an interval (D-4.4).

use std::net::SocketAddr;
use std::time::Instant;

use dtlsrtp_srtp::KeyStatus;

use super::{CloseReason, Held, MediaEvent, MediaPort, RekeyReason, MAX_HELD};

impl MediaPort {
    /// Association `i` was just verified and keyed: sending switches to it at once (it is the newest verified
    /// association of its fork, [`Self::sending_assoc`]); the older ones of the fork keep decrypting until
    /// `now + rekey_grace` (F-6.8, T-5.5c). Packets held for it are retried.
    pub(super) fn on_keyed(&mut self, now: Instant, i: usize) {
        let Some(a) = self.assocs.get_mut(i) else {
            return;
        };
        a.verified_at = Some(now);
        let (id, fork) = (a.id, a.fork);
        let until = now + self.rekey_grace;
        if let Some(f) = fork {
            for o in &mut self.assocs {
                if o.fork == Some(f) && !o.closed && o.id < id {
                    o.retire_at = Some(o.retire_at.map_or(until, |t| t.min(until)));
                }
            }
        }
        self.replay_held(now);
    }

    /// The newer association `i` authenticated its first packet: the peer has switched, so old-key packets
    /// still in flight arrive within the grace from now (extends the deadline when the peer switched late).
    pub(super) fn on_first_traffic(&mut self, now: Instant, i: usize) {
        let Some(a) = self.assocs.get(i) else {
            return;
        };
        let (id, Some(f)) = (a.id, a.fork) else {
            return;
        };
        let until = now + self.rekey_grace;
        for o in &mut self.assocs {
            if o.fork == Some(f) && !o.closed && o.id < id {
                o.retire_at = Some(o.retire_at.map_or(until, |t| t.max(until)));
            }
        }
    }

    /// Closes superseded associations whose grace period is over.
    pub(super) fn retire_superseded(&mut self, now: Instant) {
        for i in 0..self.assocs.len() {
            let due = self
                .assocs
                .get(i)
                .is_some_and(|a| !a.closed && a.retire_at.is_some_and(|t| t <= now));
            if due {
                self.close_assoc(now, i, CloseReason::Superseded);
            }
        }
        let grace = self.rekey_grace;
        self.held.retain(|h| now < h.at + grace);
    }

    /// Whether an SRTP packet that no keyed association authenticated may be held: some association from
    /// the same remote is still handshaking or waiting for its fingerprint (a renewal in progress).
    pub(super) fn hold(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        bytes: &[u8],
        rtcp: bool,
    ) -> bool {
        let renewing = self
            .assocs
            .iter()
            .any(|a| !a.closed && a.srtp.is_none() && a.remote == remote);
        if !renewing {
            return false;
        }
        if self.held.len() >= MAX_HELD {
            self.held.pop_front();
            self.counters.held_dropped += 1;
        }
        self.counters.held += 1;
        self.held.push_back(Held {
            at: now,
            remote,
            bytes: bytes.to_vec(),
            rtcp,
        });
        true
    }

    /// Retries the held packets once (a packet failing again is dropped and counted as usual).
    fn replay_held(&mut self, now: Instant) {
        let held: Vec<Held> = self.held.drain(..).collect();
        for h in held {
            self.replaying = true;
            self.on_srtp(now, h.remote, &h.bytes, h.rtcp);
            self.replaying = false;
        }
    }

    /// D-4.4: whether association `i`'s keys are near their lifetime (either direction, SRTP or SRTCP).
    pub(super) fn check_key_limit(&mut self, i: usize) {
        let Some(a) = self.assocs.get_mut(i) else {
            return;
        };
        let near = a.srtp.as_ref().is_some_and(|s| {
            s.tx.key_status() >= KeyStatus::NearLimit || s.rx.key_status() >= KeyStatus::NearLimit
        });
        if !near || a.rekey_due_sent || a.retire_at.is_some() || a.closed {
            return;
        }
        if let Some(fork) = a.fork {
            a.rekey_due_sent = true;
            self.events.push_back(MediaEvent::RekeyDue {
                fork,
                assoc: a.id,
                reason: RekeyReason::KeyLimit,
            });
        }
    }

    /// D-4.4 and [`super::MediaPortConfig::rekey_interval`]: emits [`MediaEvent::RekeyDue`] for associations
    /// whose keys are near their limit or whose interval elapsed.
    pub(super) fn check_rekey_due(&mut self, now: Instant) {
        for i in 0..self.assocs.len() {
            self.check_key_limit(i);
            let Some(a) = self.assocs.get_mut(i) else {
                continue;
            };
            let due = self
                .rekey_interval
                .zip(a.verified_at)
                .is_some_and(|(iv, t)| now >= t + iv);
            if !due || a.rekey_due_sent || a.retire_at.is_some() || a.closed || a.srtp.is_none() {
                continue;
            }
            if let Some(fork) = a.fork {
                a.rekey_due_sent = true;
                self.events.push_back(MediaEvent::RekeyDue {
                    fork,
                    assoc: a.id,
                    reason: RekeyReason::Interval,
                });
            }
        }
    }
}
