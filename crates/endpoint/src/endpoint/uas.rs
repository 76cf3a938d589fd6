//! The called side (UAS): an incoming INVITE's offer answered through the session (a plain-RTP offer only under
//! best effort), 180/183/200, binding our answer to the port (our ClientHello follows), delayed offer (F-6.4).

use super::*;

impl Endpoint {
    /// Sends 180 Ringing for an incoming call.
    pub fn ring(&mut self, now: Instant, call: CallId) -> Result<(), Error> {
        self.ua.ring(now, call, 180, None)?;
        self.pump(now);
        Ok(())
    }

    /// Sends 183 with our answer (early media, F-6.2) and starts the DTLS handshake (our ClientHello follows
    /// the 183).
    pub fn early_media(&mut self, now: Instant, call: CallId) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        if c.uac || !c.phase.is_setup() {
            return Err(Error::WrongState);
        }
        if c.delayed_offer {
            // F-6.4: our offer goes in a reliable 183; the caller answers in its PRACK.
            if c.early_offer_sent {
                return Err(Error::WrongState);
            }
            let (sdp, pending) = {
                let mut fill = fill_from(&mut self.rng);
                c.neg
                    .offer(c.port.local_addr().port(), Renew::Keep, &mut fill)?
            };
            if let Err(e) = self.ua.ring(now, call, 183, Some(sdp.write().into_bytes())) {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.neg.cancel_offer();
                }
                return Err(e.into());
            }
            if let Some(c) = self.calls.get_mut(&call) {
                c.port.listen(true);
                c.pending_in_2xx = Some(pending);
                c.early_offer_sent = true;
            }
            self.pump(now);
            return Ok(());
        }
        let body = c
            .answer
            .as_ref()
            .map(|a| a.0.clone())
            .ok_or(Error::WrongState)?;
        self.ua.ring(now, call, 183, Some(body))?;
        self.pump(now);
        self.bind_uas(now, call)?;
        self.pump(now);
        Ok(())
    }

    /// Answers an incoming call with 200 and our answer (or our offer, for a delayed offer); as the DTLS client
    /// (default `setup:active`) our ClientHello follows the 200 at once.
    pub fn answer(&mut self, now: Instant, call: CallId) -> Result<(), Error> {
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        if c.uac || !c.phase.is_setup() {
            return Err(Error::WrongState);
        }
        let body = if c.delayed_offer && c.early_offer_sent {
            // The offer/answer finished in the 183 and its PRACK: the 200 carries no SDP.
            None
        } else if c.delayed_offer {
            let mut fill = fill_from(&mut self.rng);
            let (mut sdp, pending) =
                c.neg
                    .offer(c.port.local_addr().port(), Renew::Keep, &mut fill)?;
            drop(fill);
            c.port.listen(true);
            c.pending_in_2xx = Some(pending);
            self.offer_rtcp_component(now, call, &mut sdp);
            Some(sdp.write().into_bytes())
        } else {
            Some(
                c.answer
                    .as_ref()
                    .map(|a| a.0.clone())
                    .ok_or(Error::WrongState)?,
            )
        };
        self.ua.answer(now, call, body)?;
        let deadline = now + self.cfg.media_timeout;
        if let Some(c) = self.calls.get_mut(&call) {
            c.winner = Some(Self::UAS_FORK);
            c.phase.answer(Some(deadline));
        }
        self.events.push_back(Event::Answered {
            call,
            fork: Self::UAS_FORK,
        });
        self.pump(now);
        if !self.calls.get(&call).is_some_and(|c| c.delayed_offer) {
            self.bind_uas(now, call)?;
        }
        self.check_established(call);
        self.pump(now);
        Ok(())
    }

    /// Rejects an incoming call (486, 603, ...).
    pub fn reject(&mut self, now: Instant, call: CallId, status: u16) -> Result<(), Error> {
        self.ua.reject(now, call, status)?;
        self.pump(now);
        Ok(())
    }

    /// UAS: bind our answer's outcome to the port (ClientHello when we are active).
    pub(super) fn bind_uas(&mut self, now: Instant, call: CallId) -> Result<(), Error> {
        let Some(c) = self.calls.get_mut(&call) else {
            return Err(Error::UnknownCall);
        };
        if c.peer_bound {
            return Ok(());
        }
        if let Some((_, n)) = c.answer.as_ref().filter(|a| !a.1.encrypted()) {
            let (n, remote) = match &n.kind {
                LegKind::Plain { remote } => (n.clone(), *remote),
                LegKind::Dtls(_) => return Err(Error::WrongState),
            };
            self.start_plain(call, Self::UAS_FORK, remote, &n);
            return Ok(());
        }
        let Some(d) = c.answer.as_ref().and_then(|a| a.1.dtls()).cloned() else {
            return Err(Error::WrongState);
        };
        let mf = c.ensure_fork(Self::UAS_FORK);
        c.port
            .set_peer(now, mf, peer_params(&d, c.port.ice().is_some()))?;
        if let (Some(r), Some(addr)) = (c.rtcp.as_mut(), Self::rtcp_addr(&d)) {
            let mut params = peer_params(&d, false);
            params.addr = Some(addr);
            r.set_peer(now, mf, params)?;
            c.split_rtcp();
        }
        c.peer_bound = true;
        Ok(())
    }

    pub(super) fn on_incoming(
        &mut self,
        now: Instant,
        call: CallId,
        from: String,
        offer: Option<Vec<u8>>,
    ) {
        // RFC 8224 §6 verification service (F-5.4, I-2): before any media state exists. A certificate not
        // in the cache parks the INVITE (its 100 Trying goes out) until the driver fetched it (issue 12 item 7).
        let mut sec = Security::new(&self.fingerprint);
        let checked = self.verify_or_park(now, call, || ParkKind::Incoming {
            from: from.clone(),
            offer: offer.clone(),
        });
        let Ok(checked) = checked else {
            return;
        };
        if let Some((verdict, from_change, _)) = checked {
            if let Disposition::Reject { code, .. } = verdict.disposition(self.identity_policy()) {
                let _ = self.ua.reject(now, call, code);
                return;
            }
            sec.peer = verdict;
            sec.peer_from_change = from_change;
        }
        sec.peer_fps = offer.as_deref().map(sdp_fingerprints).unwrap_or_default();
        let mut neg = match self.negotiator() {
            Ok(n) => n,
            Err(_) => {
                let _ = self.ua.reject(now, call, 500);
                return;
            }
        };
        let delayed = offer.as_ref().is_none_or(|b| b.is_empty());
        // A body that is not SDP is refused before any media state exists (floods stay cheap).
        let offer = match offer.filter(|b| !b.is_empty()).map(|b| Sdp::parse(&b)) {
            Some(Err(_)) => {
                let _ = self.ua.reject(now, call, 488);
                return;
            }
            Some(Ok(sdp)) => Some(sdp),
            None => None,
        };
        let mut port = match self.new_port(now) {
            Ok(p) => p,
            Err(_) => {
                let _ = self.ua.reject(now, call, 503);
                return;
            }
        };
        let local = port.local_addr();
        if let Some(mode) = self.cfg.ice {
            if ice::enable(now, mode, &mut port, &mut neg, false).is_err() {
                self.free_sockets.push_front(local);
                let _ = self.ua.reject(now, call, 500);
                return;
            }
        }
        let mut answer = None;
        let mut rtcp = None;
        if let Some(sdp) = offer {
            let result = {
                let mut fill = fill_from(&mut self.rng);
                neg.answer(&sdp, local.port(), &mut fill)
            };
            let ok = result.ok().map(|(mut a, o)| {
                if self.cfg.rtcp_fallback && o.dtls().is_some_and(|d| !d.rtcp_mux) {
                    rtcp = self.rtcp_port(now, &mut a);
                }
                (a.write().into_bytes(), o)
            });
            match ok {
                Some(a) => answer = Some(a),
                None => {
                    // Not DTLS-SRTP (secure-only: plain RTP is never accepted silently), or malformed:
                    // refuse, no call.
                    self.free_sockets.push_front(local);
                    let _ = self.ua.reject(now, call, 488);
                    return;
                }
            }
        }
        self.owners.insert(local, call);
        if let Some(r) = rtcp.as_mut() {
            Call::share_identity(&port, r, true);
        }
        if let Some(r) = &rtcp {
            self.owners.insert(r.local_addr(), call);
        }
        self.calls.insert(
            call,
            Call {
                uac: false,
                neg,
                pending: None,
                pending_in_2xx: None,
                reoffer: None,
                forks: Vec::new(),
                next_media_fork: 0,
                port,
                next_port: None,
                retiring: Vec::new(),
                rtcp,
                plain: None,
                profiles: Vec::new(),
                send_blocked: 0,
                recv_blocked: 0,
                winner: None,
                answer,
                peer_bound: false,
                early_offer_sent: false,
                delayed_offer: delayed,
                phase: Phase::Incoming,
                sec,
            },
        );
        self.events.push_back(Event::IncomingCall {
            call,
            from,
            delayed_offer: delayed,
        });
        // F-8.6a: a failed Identity is shown as such from the start (BestEffort let the call proceed).
        self.report_security(call);
    }

    /// UAS delayed offer: the ACK carries the answer to the offer in our 2xx.
    pub(super) fn on_answer_to_2xx_offer(&mut self, now: Instant, call: CallId, body: &[u8]) {
        // The answer in an ACK/PRACK to our offer: a fingerprint change is an identity event (issue 12 item
        // 3); refused under Required, the call ends below as not secure.
        let refused = match self.peer_fps_change(call, Some(body)) {
            Some(Some(fps)) => !self.on_peer_fps_changed(now, call, fps, None, false),
            _ => false,
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if refused {
            c.pending_in_2xx = None;
            c.phase.terminate(EndReason::NotSecure);
            let _ = self.ua.hangup(now, call);
            return;
        }
        let Some(pending) = c.pending_in_2xx.take() else {
            return;
        };
        let fork = if c.uac {
            c.winner.unwrap_or(Self::UAS_FORK)
        } else {
            Self::UAS_FORK
        };
        let outcome = Sdp::parse(body)
            .ok()
            .and_then(|sdp| c.neg.apply_answer(pending, &sdp).ok());
        if let Some((remote, n)) = outcome.as_ref().and_then(|n| match n.kind {
            LegKind::Plain { remote } => Some((remote, n.clone())),
            LegKind::Dtls(_) => None,
        }) {
            // Best effort (R-ALLOW-RTP): a plain-RTP answer to the offer in our 2xx. A plain call stays plain;
            // a DTLS-SRTP call never falls back mid-call.
            match c.plain.as_mut() {
                Some(p) => {
                    p.update(remote, n.payloads.clone(), n.permits);
                    if c.phase.is_established() {
                        self.events.push_back(Event::Modified {
                            call,
                            renewed: false,
                        });
                    }
                }
                None if !c.peer_bound => self.start_plain(call, fork, remote, &n),
                None => {
                    c.phase.terminate(EndReason::NotSecure);
                    let _ = self.ua.hangup(now, call);
                }
            }
            return;
        }
        let first = !c.peer_bound;
        let mut split = false;
        let bound = outcome
            .and_then(|o| o.dtls().cloned())
            .filter(|_| c.plain.is_none())
            .map(|d| {
                let mf = c.ensure_fork(fork);
                let renewed = d.association.is_new();
                if first && !d.rtcp_mux {
                    // D-3b: the caller refused rtcp-mux in its answer to our delayed offer.
                    if let (Some(r), Some(addr)) = (c.rtcp.as_mut(), Self::rtcp_addr(&d)) {
                        let mut params = peer_params(&d, false);
                        params.addr = Some(addr);
                        if r.set_peer(now, mf, params).is_ok() {
                            c.split_rtcp();
                            split = true;
                        }
                    }
                }
                (
                    c.port
                        .set_peer(now, mf, peer_params(&d, c.port.ice().is_some()))
                        .is_ok(),
                    renewed,
                )
            });
        // the answer muxed (or failed): the offered RTCP component is not used
        let unused_rtcp = if first && !split { c.rtcp.take() } else { None };
        match bound {
            Some((true, renewed)) => {
                c.peer_bound = true;
                if c.phase.is_established() {
                    self.events.push_back(Event::Modified { call, renewed });
                }
            }
            _ => {
                c.phase.terminate(EndReason::NotSecure);
                let _ = self.ua.hangup(now, call);
            }
        }
        if let Some(r) = unused_rtcp {
            self.release_port(&r);
        }
    }

    /// D-3b for an offer we make in our 2xx (delayed offer): the RTCP component's port, `a=rtcp:PORT`, in
    /// case the caller's answer refuses rtcp-mux (used when it does, released when it muxes).
    fn offer_rtcp_component(&mut self, now: Instant, call: CallId, sdp: &mut Sdp) {
        if !self.cfg.rtcp_fallback || self.calls.get(&call).is_none_or(|c| c.rtcp.is_some()) {
            return;
        }
        let Some(mut r) = self.rtcp_port(now, sdp) else {
            return;
        };
        self.owners.insert(r.local_addr(), call);
        if let Some(c) = self.calls.get_mut(&call) {
            Call::share_identity(&c.port, &mut r, true);
            c.rtcp = Some(r);
        }
    }
}
