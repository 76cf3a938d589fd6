//! The DTLS side of the port: which association a DTLS datagram belongs to (or starts), fingerprint binding per
//! fork (F-6.3, F-5.15, T-8a), key installation behind the gate, closing, and following the ICE selection.

use std::net::SocketAddr;
use std::time::Instant;

use dtlsrtp_dtls::{
    verify_fingerprint, DtlsError, Event as DtlsEvent, Fingerprint, GateState, HelloCheck,
    State as DtlsState,
};
use dtlsrtp_srtp::{DtlsRole, SrtpContext};

use super::{is_client_hello, CloseReason, Fork, ForkId, MediaEvent, MediaPort, Srtp, Transmit};
use crate::ice::IceEvent;

impl MediaPort {
    pub(super) fn on_dtls(&mut self, now: Instant, remote: SocketAddr, bytes: &[u8]) {
        let ice_valid = match self.ice.as_ref() {
            Some(ice) => {
                if !ice.is_valid_pair(self.local, remote) {
                    self.counters.dtls_refused += 1;
                    return;
                }
                true
            }
            None => false,
        };
        let current = self
            .assocs
            .iter()
            .enumerate()
            .filter(|(_, a)| a.remote == remote && !a.closed)
            .max_by_key(|(_, a)| a.id)
            .map(|(i, _)| i);
        if let Some(i) = current {
            let renew = self.assocs.get(i).is_some_and(|a| {
                a.dtls.state() == DtlsState::Connected
                    && a.fork.is_some_and(|f| {
                        self.forks
                            .iter()
                            .any(|k| k.id == f && k.renew_pending && k.role == DtlsRole::Server)
                    })
            });
            if !(renew && is_client_hello(bytes)) {
                self.refresh_expected(i);
                if let Some(a) = self.assocs.get_mut(i) {
                    a.dtls.handle_datagram(now, bytes);
                }
                return;
            }
            if !self.admit_client_hello(remote, bytes, ice_valid) {
                return;
            }
            // A fresh ClientHello on the 3-tuple of a connected association whose fork is being renewed:
            // a new association; the old one keeps receiving (T-5.5c).
            if let Some(f) = self
                .assocs
                .get(i)
                .and_then(|a| a.fork)
                .and_then(|f| self.forks.iter_mut().find(|k| k.id == f))
            {
                f.renew_pending = false;
            }
        } else if !(self.listening && (!self.locked || ice_valid) && is_client_hello(bytes)) {
            // Not listening, not a ClientHello, or locked: the final fork is verified and no new association
            // is expected, so a stranger's ClientHello creates no state (item 2, P-6.2c).
            self.counters.dtls_refused += 1;
            return;
        } else if !self.admit_client_hello(remote, bytes, ice_valid) {
            return;
        }
        match self.new_assoc(now, DtlsRole::Server, remote, None, ice_valid) {
            Ok(i) => {
                self.refresh_expected(i);
                if let Some(a) = self.assocs.get_mut(i) {
                    a.dtls.handle_datagram(now, bytes);
                }
            }
            Err(_) => self.counters.dtls_refused += 1,
        }
    }

    /// R-1 (RFC 6347 §4.2.1): whether a ClientHello from an address without an association may create one.
    /// Without ICE the cookie is checked statelessly first: no cookie or a wrong one is answered with a
    /// HelloVerifyRequest and creates nothing; only a ClientHello whose cookie proves the sender receives at
    /// `remote` gets an association. With ICE the pair is already proved (only valid pairs reach this point and
    /// the association runs without the cookie exchange). Then the bounds: at most `max_handshakes_per_ip`
    /// unbound handshakes per source IP and `max_associations` in total; beyond them the ClientHello is
    /// refused (counted), and no association is ever evicted to make room, so a flood cannot push out a
    /// handshake whose cookie verified (the peer retransmits; its handshake times out if it never completes).
    fn admit_client_hello(&mut self, remote: SocketAddr, bytes: &[u8], ice_valid: bool) -> bool {
        if !ice_valid {
            match self.ctx.check_client_hello(remote, bytes) {
                HelloCheck::Accept => {}
                HelloCheck::Verify { reply, bad_cookie } => {
                    self.counters.hello_verify_sent += 1;
                    if bad_cookie {
                        self.counters.hello_bad_cookie += 1;
                    }
                    self.transmits.push_back(Transmit {
                        remote,
                        bytes: reply,
                    });
                    return false;
                }
                _ => {
                    self.counters.hello_malformed += 1;
                    return false;
                }
            }
        }
        let ip = remote.ip();
        let from_ip = self
            .assocs
            .iter()
            .filter(|a| {
                !a.closed
                    && a.fork.is_none()
                    && a.remote.ip() == ip
                    && a.dtls.state() == DtlsState::Handshaking
            })
            .count();
        if from_ip >= self.max_handshakes_per_ip || self.live() >= self.max_associations {
            self.counters.handshakes_refused += 1;
            return false;
        }
        true
    }

    /// P-6.2b: tells a handshaking association which fingerprints its peer's certificate must match, when the
    /// port already knows what it would decide at the end of the handshake: the fork's fingerprints for an
    /// association bound to a fork (we are the client); for an unbound one (we are the server) the
    /// fingerprints of every server-side fork, but only once no further answer can come (with more answers
    /// pending, a certificate matching no known fork waits, T-8a). A certificate failing this is refused in
    /// the handshake with a bad_certificate alert, where the same certificate would otherwise be declared a
    /// mismatch right after it ([`Self::bind`]).
    pub(super) fn refresh_expected(&mut self, i: usize) {
        let Some(a) = self.assocs.get(i) else {
            return;
        };
        if a.closed || a.dtls.state() != DtlsState::Handshaking {
            return;
        }
        let expected: Vec<Fingerprint> = match a.fork {
            Some(f) => self
                .forks
                .iter()
                .filter(|k| k.id == f)
                .flat_map(|k| k.fingerprints.iter().cloned())
                .collect(),
            None if a.role == DtlsRole::Server && !self.more_answers => self
                .forks
                .iter()
                .filter(|k| k.role == DtlsRole::Server)
                .flat_map(|k| k.fingerprints.iter().cloned())
                .collect(),
            None => Vec::new(),
        };
        if let Some(a) = self.assocs.get_mut(i) {
            a.dtls.expect_fingerprints(Some(&expected));
        }
    }

    /// Drops association `i` without a word on the wire. (No longer used for eviction: since R-1 no handshake is
    /// evicted to make room; kept for dropping unbound associations.)
    #[allow(dead_code)]
    pub(super) fn discard_assoc(&mut self, i: usize) {
        if let Some(a) = self.assocs.get_mut(i) {
            a.closed = true;
            while a.dtls.poll_transmit().is_some() {}
            while a.dtls.poll_event().is_some() {}
        }
    }

    /// Closes association `i`: close_notify (bad_certificate for a fingerprint mismatch, P-6.2b), SSRC mappings
    /// removed (D-5.1.2c), keys dropped, event.
    pub(super) fn close_assoc(&mut self, now: Instant, i: usize, reason: CloseReason) {
        let Some(a) = self.assocs.get_mut(i) else {
            return;
        };
        if a.closed {
            return;
        }
        a.closed = true;
        match reason {
            CloseReason::PeerClosed | CloseReason::Failed(_) => {}
            // P-6.2b (RFC 8122 §6.2): a certificate matching no fingerprint ends the association with a fatal
            // bad_certificate (42) alert, also when the mismatch was found after the handshake (F-5.8, a
            // re-offer, a stranger). Refused inside the handshake, the association has already failed and sent
            // it; this does nothing then.
            CloseReason::FingerprintMismatch => {
                a.dtls
                    .close_with_alert(now, dtlsrtp_dtls::Alert::BAD_CERTIFICATE);
            }
            _ => a.dtls.close(now),
        }
        a.srtp = None;
        while let Some(d) = a.dtls.poll_transmit() {
            self.transmits.push_back(Transmit {
                remote: a.remote,
                bytes: d,
            });
        }
        while a.dtls.poll_event().is_some() {}
        let (id, fork) = (a.id, a.fork);
        self.ssrc_map.retain(|_, v| *v != id);
        self.events.push_back(MediaEvent::AssociationClosed {
            assoc: id,
            fork,
            reason,
        });
    }

    /// Binds waiting associations to forks by fingerprint (F-6.3) and declares mismatches (F-5.15, T-8a).
    pub(super) fn bind_all(&mut self, now: Instant) {
        for i in 0..self.assocs.len() {
            self.bind(now, i);
        }
    }

    /// Whether `fork`'s answer is final: the signalling layer said so, or no further answer can come.
    fn is_final(&self, fork: &Fork) -> bool {
        fork.final_answer || !self.more_answers
    }

    pub(super) fn bind(&mut self, now: Instant, i: usize) {
        let Some(a) = self.assocs.get(i) else {
            return;
        };
        if a.closed || a.fork.is_some() || a.gate.state() != GateState::AwaitingFingerprint {
            return;
        }
        let Some(cert) = a.peer_cert.as_deref() else {
            return;
        };
        let (remote, ice_path) = (a.remote, a.ice_path);
        let candidates = self
            .forks
            .iter()
            .filter(|f| f.role == DtlsRole::Server && !f.fingerprints.is_empty());
        // Prefer the fork whose signalled address is where the ClientHello came from.
        let mut matched = None;
        let mut owner = None;
        let mut known = false;
        for f in candidates {
            known = true;
            let here = f.addr == Some(remote) || (f.ice && ice_path);
            if verify_fingerprint(cert, &f.fingerprints).is_ok()
                && (matched.is_none() || f.addr == Some(remote))
            {
                matched = Some((f.id, f.fingerprints.clone()));
            }
            // F-5.15: the handshake on a final answer's media belongs to that dialog.
            if here && self.is_final(f) {
                owner = Some((f.id, f.fingerprints.clone()));
            }
        }
        match (matched, owner) {
            (Some((fork, fps)), _) | (None, Some((fork, fps))) => {
                // A match binds (F-6.3); no match on the final dialog's own media is its mismatch: the gate
                // rejects, on_gate reports FingerprintMismatch for that fork and tears it down.
                if let Some(a) = self.assocs.get_mut(i) {
                    a.fork = Some(fork);
                    a.pending_since = None;
                    let _ = a.gate.verify(&fps);
                }
                self.on_gate(now, i);
            }
            (None, None) if self.more_answers || !known => {
                // T-8a: another answer may still name this certificate (or none arrived yet): it waits,
                // keys gated, bounded in time and number.
                if let Some(a) = self.assocs.get_mut(i) {
                    a.pending_since.get_or_insert(now);
                }
                self.bound_pending(now, remote);
            }
            (None, None) => self.discard_unmatched(now, i, "no answer names its certificate"),
        }
    }

    /// T-8a bounds: at most `max_pending_per_ip` waiting associations from one IP and `max_pending` in all;
    /// beyond, the oldest one of the IP holding the most goes (a flood from one source only evicts itself).
    fn bound_pending(&mut self, now: Instant, remote: SocketAddr) {
        loop {
            let pending: Vec<(usize, SocketAddr, Instant)> = self
                .assocs
                .iter()
                .enumerate()
                .filter(|(_, a)| !a.closed && a.fork.is_none())
                .filter_map(|(i, a)| a.pending_since.map(|t| (i, a.remote, t)))
                .collect();
            let per_ip = |ip| pending.iter().filter(|p| p.1.ip() == ip).count();
            let victim_ip = if per_ip(remote.ip()) > self.max_pending_per_ip {
                remote.ip()
            } else if pending.len() > self.max_pending {
                match pending
                    .iter()
                    .map(|p| p.1.ip())
                    .max_by_key(|ip| per_ip(*ip))
                {
                    Some(ip) => ip,
                    None => return,
                }
            } else {
                return;
            };
            let Some(&(v, _, _)) = pending
                .iter()
                .filter(|p| p.1.ip() == victim_ip)
                .min_by_key(|p| p.2)
            else {
                return;
            };
            self.discard_unmatched(now, v, "too many waiting associations");
        }
    }

    /// Discards waiting associations whose time is up (T-8a).
    pub(super) fn expire_pending(&mut self, now: Instant) {
        for i in 0..self.assocs.len() {
            let due = self.assocs.get(i).is_some_and(|a| {
                !a.closed
                    && a.fork.is_none()
                    && a.pending_since
                        .is_some_and(|t| now >= t + self.pending_timeout)
            });
            if due {
                self.discard_unmatched(now, i, "no answer named its certificate in time");
            }
        }
    }

    /// Item 2, T-8a: an association that no fork vouches for and whose certificate matches nothing is closed
    /// and counted, never reported as a mismatch: a stranger's handshake cannot end a call.
    fn discard_unmatched(&mut self, now: Instant, i: usize, why: &str) {
        let Some(a) = self.assocs.get(i) else {
            return;
        };
        if a.closed {
            return;
        }
        tracing::info!(remote = %a.remote, local = %self.local, why, "DTLS association matching no fingerprint discarded");
        self.counters.unmatched_discarded += 1;
        self.close_assoc(now, i, CloseReason::FingerprintMismatch);
    }

    /// Item 2: once a final fork's association is verified (and no renewal is pending), ClientHellos from new
    /// addresses are refused without state.
    pub(super) fn lock_if_final_verified(&mut self) {
        let verified_final = self.assocs.iter().any(|a| {
            !a.closed
                && a.srtp.is_some()
                && a.fork.is_some_and(|f| {
                    self.forks
                        .iter()
                        .any(|k| k.id == f && self.is_final(k) && !k.renew_pending)
                })
        });
        if verified_final {
            self.locked = true;
        }
    }

    /// Acts on the gate's state after a handshake or a verify.
    pub(super) fn on_gate(&mut self, now: Instant, i: usize) {
        let Some(a) = self.assocs.get_mut(i) else {
            return;
        };
        if a.closed {
            return;
        }
        match a.gate.state() {
            GateState::Verified if a.srtp.is_none() => {
                let Some(c) = a.gate.keys() else {
                    return;
                };
                match SrtpContext::from_keying_material(&c.keys, a.role, &self.srtp_cfg) {
                    Ok((tx, rx)) => {
                        a.srtp = Some(Srtp { tx, rx });
                        if let Some(fork) = a.fork {
                            self.events.push_back(MediaEvent::FingerprintVerified {
                                assoc: a.id,
                                fork,
                                remote: a.remote,
                            });
                        }
                        // A renewal is complete once a new association of the fork is verified (also when
                        // it came from a new address, T-5.1a): the port may lock again.
                        if let Some(f) = a
                            .fork
                            .and_then(|f| self.forks.iter_mut().find(|k| k.id == f))
                        {
                            f.renew_pending = false;
                        }
                        self.lock_if_final_verified();
                        self.on_keyed(now, i);
                    }
                    Err(_) => self.close_assoc(now, i, CloseReason::Failed(DtlsError::Setup)),
                }
            }
            GateState::Rejected(_) => {
                let (id, fork, remote) = (a.id, a.fork, a.remote);
                self.events.push_back(MediaEvent::FingerprintMismatch {
                    assoc: id,
                    fork,
                    remote,
                });
                self.close_assoc(now, i, CloseReason::FingerprintMismatch);
            }
            _ => {}
        }
    }

    /// Drains what the associations and the ICE agent produced, and drops closed associations.
    pub(super) fn after(&mut self, now: Instant) {
        for i in 0..self.assocs.len() {
            let Some(a) = self.assocs.get_mut(i) else {
                continue;
            };
            while let Some(d) = a.dtls.poll_transmit() {
                self.transmits.push_back(Transmit {
                    remote: a.remote,
                    bytes: d,
                });
            }
            while let Some(ev) = self.assocs.get_mut(i).and_then(|a| a.dtls.poll_event()) {
                self.on_dtls_event(now, i, ev);
            }
        }
        self.assocs.retain(|a| !a.closed);
        self.drain_ice(now);
    }

    pub(super) fn on_dtls_event(&mut self, now: Instant, i: usize, ev: DtlsEvent) {
        let Some(a) = self.assocs.get_mut(i) else {
            return;
        };
        match ev {
            DtlsEvent::PeerCertificate(der) => a.peer_cert = Some(der),
            DtlsEvent::Connected(c) => {
                let cert = a.peer_cert.clone().unwrap_or_default();
                self.events.push_back(MediaEvent::DtlsConnected {
                    assoc: a.id,
                    remote: a.remote,
                    profile: c.profile,
                });
                a.gate.on_handshake(cert, c);
                self.bind(now, i);
                self.on_gate(now, i);
            }
            DtlsEvent::Closed => self.close_assoc(now, i, CloseReason::PeerClosed),
            DtlsEvent::Failed(e) => {
                // Item 4: a failed handshake on a fork's signalled media address is that fork's failure, so
                // the signalling layer can end the call (an unbound one elsewhere is nobody's).
                if a.fork.is_none() {
                    let (remote, ice_path) = (a.remote, a.ice_path);
                    let owner = self
                        .forks
                        .iter()
                        .find(|f| f.addr == Some(remote) || (f.ice && ice_path))
                        .map(|f| f.id);
                    if let Some(a) = self.assocs.get_mut(i) {
                        a.fork = owner;
                    }
                }
                if e != DtlsError::CertificateRejected {
                    self.close_assoc(now, i, CloseReason::Failed(e));
                    return;
                }
                // P-6.2b: refused inside the handshake with bad_certificate (the port told it what to expect).
                // On a fork's own media that is the fork's mismatch, as if found after the handshake (F-5.15);
                // from anywhere else it is a stranger's handshake: discarded and counted, never fatal.
                let Some(a) = self.assocs.get(i) else {
                    return;
                };
                let (id, fork, remote) = (a.id, a.fork, a.remote);
                if fork.is_some() {
                    self.events.push_back(MediaEvent::FingerprintMismatch {
                        assoc: id,
                        fork,
                        remote,
                    });
                } else {
                    tracing::info!(%remote, local = %self.local, "DTLS handshake refused: its certificate matches no fingerprint");
                    self.counters.unmatched_discarded += 1;
                }
                self.close_assoc(now, i, CloseReason::FingerprintMismatch);
            }
            _ => {}
        }
    }

    pub(super) fn drain_ice(&mut self, now: Instant) {
        let Some(ice) = self.ice.as_mut() else {
            return;
        };
        let mut events = Vec::new();
        while let Some(t) = ice.poll_transmit() {
            self.transmits.push_back(Transmit {
                remote: t.remote,
                bytes: t.bytes,
            });
        }
        while let Some(e) = ice.poll_event() {
            events.push(e);
        }
        for e in events {
            match e {
                IceEvent::SelectedPair { remote, .. } => {
                    self.ice_path_ok = true;
                    self.events.push_back(MediaEvent::IceSelected { remote });
                    // Media and DTLS follow the selected pair; the association is kept (T-3.3).
                    let ice_forks: Vec<(ForkId, DtlsRole)> = self
                        .forks
                        .iter()
                        .filter(|f| f.ice)
                        .map(|f| (f.id, f.role))
                        .collect();
                    for (fork, role) in ice_forks {
                        let mut has = false;
                        for a in &mut self.assocs {
                            if a.fork == Some(fork) && !a.closed {
                                a.remote = remote;
                                has = true;
                            }
                        }
                        if !has && role == DtlsRole::Client {
                            let _ = self.start_client(now, fork, remote);
                        }
                    }
                }
                IceEvent::ConsentExpired { remote, .. } => {
                    self.ice_path_ok = false;
                    self.events
                        .push_back(MediaEvent::IceConsentExpired { remote });
                }
                IceEvent::Failed => {
                    self.ice_path_ok = false;
                    self.events.push_back(MediaEvent::IceFailed);
                }
                _ => {}
            }
        }
        // A client association started above has a ClientHello to send.
        for a in &mut self.assocs {
            while let Some(d) = a.dtls.poll_transmit() {
                self.transmits.push_back(Transmit {
                    remote: a.remote,
                    bytes: d,
                });
            }
        }
    }
}
