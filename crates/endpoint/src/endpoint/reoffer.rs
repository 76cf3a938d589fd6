//! Modifications (F-6.6): our re-INVITE/UPDATE (keep, hold/resume, rekey with a new port, T-5.1a) and the
//! peer's, answered with the direction of our hold state (RFC 3264 §8.4).

use super::*;

impl Endpoint {
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
        let before = c.neg.on_hold();
        c.neg.set_hold(on);
        let r = self.reoffer(now, call, false, ModifyKind::Reinvite);
        if r.is_err() {
            if let Some(c) = self.calls.get_mut(&call) {
                c.neg.set_hold(before);
            }
        }
        r
    }

    /// Rekey: a re-INVITE with a new tls-id on a new port (T-5.5a, T-5.1a); the old association carries
    /// media until the new one is verified.
    pub fn rekey(&mut self, now: Instant, call: CallId) -> Result<(), Error> {
        self.reoffer(now, call, true, ModifyKind::Reinvite)
    }

    pub(super) fn reoffer(
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
        if let Some(p) = new_port.as_mut() {
            Call::share_identity(&c.port, p, false);
        }
        let port_no = new_port
            .as_ref()
            .map_or(c.port.local_addr().port(), |p| p.local_addr().port());
        let how = if renew { Renew::All } else { Renew::Keep };
        let created = {
            let mut fill = fill_from(&mut self.rng);
            c.neg.offer(port_no, how, &mut fill)
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

    pub(super) fn on_modify_request(&mut self, now: Instant, call: CallId, body: Option<Vec<u8>>) {
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
        let port = c.port.local_addr().port();
        let mut fill = fill_from(&mut self.rng);
        match body.filter(|b| !b.is_empty()) {
            None => {
                // A re-INVITE without offer: we offer in the 2xx (keep), the answer comes in the ACK.
                match c.neg.offer(port, Renew::Keep, &mut fill) {
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
                // A plain call stays plain and a DTLS-SRTP call stays encrypted: never a silent downgrade.
                let plain_call = c.plain.is_some();
                let mut trial = c.neg.clone();
                let res = trial
                    .answer_bytes(&b, port, &mut fill)
                    .map_err(|e| e.sip_status())
                    .and_then(|(a, n)| match (&n.kind, plain_call) {
                        (LegKind::Dtls(_), false) | (LegKind::Plain { .. }, true) => Ok((a, n)),
                        _ => Err(488),
                    });
                match res {
                    Ok((a, n)) => {
                        c.neg = trial;
                        let d = n.dtls().cloned();
                        let fork = c.winner.unwrap_or(Self::UAS_FORK);
                        let mf = c.ensure_fork(fork);
                        let renewed = d.as_ref().is_some_and(|d| d.association.is_new());
                        if let Some(d) = d {
                            let _ =
                                c.port
                                    .set_peer(now, mf, peer_params(&d, c.port.ice().is_some()));
                        }
                        if let (Some(p), LegKind::Plain { remote }) = (c.plain.as_mut(), &n.kind) {
                            p.update(*remote, n.payloads.clone(), n.permits);
                        }
                        let _ = self
                            .ua
                            .accept_modify(now, call, Some(a.write().into_bytes()));
                        self.events.push_back(Event::Modified { call, renewed });
                    }
                    Err(status) => {
                        let _ = self.ua.reject_modify(now, call, status);
                    }
                }
            }
        }
    }

    pub(super) fn on_modify_answered(&mut self, now: Instant, call: CallId, body: Option<Vec<u8>>) {
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
        let plain_call = c.plain.is_some();
        let mut trial = c.neg.clone();
        let outcome = body
            .as_deref()
            .and_then(|b| Sdp::parse(b).ok())
            .and_then(|sdp| trial.apply_answer(r.pending, &sdp).ok());
        let fork = c.winner.unwrap_or(Self::UAS_FORK);
        let mf = c.ensure_fork(fork);
        if let (Some(n), Some(p)) = (outcome.as_ref(), c.plain.as_mut()) {
            if let LegKind::Plain { remote } = &n.kind {
                p.update(*remote, n.payloads.clone(), n.permits);
                c.neg = trial;
                if let Some(p) = r.port.take() {
                    self.release_port(&p);
                }
                self.events.push_back(Event::Modified {
                    call,
                    renewed: false,
                });
                return;
            }
        }
        let outcome = outcome.filter(|_| !plain_call);
        let Some(d) = outcome.and_then(|n| n.dtls().cloned()) else {
            c.neg.cancel_offer();
            if let Some(p) = r.port.take() {
                self.release_port(&p);
            }
            self.events
                .push_back(Event::ModifyFailed { call, status: 488 });
            return;
        };
        c.neg = trial;
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
}
