//! The calling side (UAC): dial, each fork's answer (183 with SDP or 2xx) on its own copy of the session
//! (F-6.3, T-8a), a delayed offer answered in the PRACK or ACK (F-6.4), and the final answer.

use super::*;

impl Endpoint {
    /// Calls `target` (e.g. `sip:bob@127.0.0.1:5070`). The media port listens before the INVITE leaves (F-5.8).
    pub fn dial(&mut self, now: Instant, target: &str, opts: CallOptions) -> Result<CallId, Error> {
        if opts.anonymous {
            // F-6.1b/e: a fresh certificate for this call only, nothing identifying in it.
            let cert = dtlsrtp_dtls::Certificate::anonymous(dtlsrtp_dtls::KeyType::EcdsaP256)?;
            let fp = cert.fingerprint(HashFunction::Sha256)?;
            self.call_cert = Some((cert, fp));
        }
        let r = self.dial_inner(now, target, &opts);
        self.call_cert = None;
        r
    }

    pub(super) fn dial_inner(
        &mut self,
        now: Instant,
        target: &str,
        opts: &CallOptions,
    ) -> Result<CallId, Error> {
        let uri = SipUri::parse(target)?;
        let local_fp = self
            .call_cert
            .as_ref()
            .map_or(&self.fingerprint, |c| &c.1)
            .clone();
        let mut neg = self.negotiator()?;
        let mut port = self.new_port(now)?;
        let local = port.local_addr();
        if let Some(mode) = self.cfg.ice {
            if let Err(e) = ice::enable(now, mode, &mut port, &mut neg, true) {
                self.free_sockets.push_front(local);
                return Err(e);
            }
        }
        let mut rtcp = None;
        let (body, pending) = if opts.delayed_offer {
            (None, None)
        } else {
            let created = {
                let mut fill = fill_from(&mut self.rng);
                neg.offer(local.port(), Renew::Keep, &mut fill)
            };
            let (mut sdp, pending) = match created {
                Ok(x) => x,
                Err(e) => {
                    self.free_sockets.push_front(local);
                    return Err(e.into());
                }
            };
            if self.cfg.rtcp_fallback {
                rtcp = self.rtcp_port(now, &mut sdp);
            }
            port.listen(true);
            (Some(sdp.write().into_bytes()), Some(pending))
        };
        let extras = self.invite_extras(now, &uri, body.as_deref(), opts.anonymous);
        let call = match self.ua.call_with(now, &uri, body, &extras) {
            Ok(c) => c,
            Err(e) => {
                self.free_sockets.push_front(local);
                if let Some(r) = rtcp {
                    self.free_sockets.push_front(r.local_addr());
                }
                return Err(e.into());
            }
        };
        self.owners.insert(local, call);
        if let Some(r) = rtcp.as_mut() {
            Call::share_identity(&port, r, true);
        }
        if let Some(r) = &rtcp {
            self.owners.insert(r.local_addr(), call);
        }
        // T-8a: until NoMoreAnswers, a certificate no fork names yet waits for its answer.
        port.set_more_answers(now, true);
        if let Some(r) = rtcp.as_mut() {
            r.set_more_answers(now, true);
        }
        self.calls.insert(
            call,
            Call {
                uac: true,
                neg,
                pending,
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
                answer: None,
                peer_bound: false,
                early_offer_sent: false,
                delayed_offer: opts.delayed_offer,
                phase: Phase::Dialing,
                sec: Security {
                    anon_cert: self.call_cert.clone(),
                    ..Security::new(&local_fp)
                },
            },
        );
        self.pump(now);
        Ok(call)
    }

    /// UAC: a fork's answer (183 with SDP or 2xx) applied to its own negotiator clone and bound to the port.
    /// Returns whether it was bound.
    pub(super) fn apply_fork_answer(
        &mut self,
        now: Instant,
        call: CallId,
        fork: ForkId,
        body: &[u8],
    ) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if !c.uac || c.fork(fork).is_some_and(|f| f.neg.is_some()) {
            return c.fork(fork).is_some_and(|f| f.neg.is_some());
        }
        let Some(pending) = c.pending.as_ref().map(PendingOffer::fork) else {
            return false;
        };
        let Ok(sdp) = Sdp::parse(body) else {
            return false;
        };
        let mut neg = c.neg.clone();
        let Ok(outcome) = neg.apply_answer(pending, &sdp) else {
            return false;
        };
        let Some(d) = outcome.dtls().cloned() else {
            // Plain RTP (the policy allowed it, or the negotiator would have refused): bound at the answer.
            c.ensure_fork(fork);
            if let Some(f) = c.fork_mut(fork) {
                f.neg = Some((neg, outcome));
            }
            return true;
        };
        let mf = c.ensure_fork(fork);
        if let Some(f) = c.fork_mut(fork) {
            f.peer_fps = sdp_fingerprints(body);
        }
        if c.port
            .set_peer(now, mf, peer_params(&d, c.port.ice().is_some()))
            .is_err()
        {
            return false;
        }
        if !d.rtcp_mux {
            // D-3b: the RTCP component gets its own association, towards the peer's RTCP port.
            if let (Some(r), Some(addr)) = (c.rtcp.as_mut(), Self::rtcp_addr(&d)) {
                let mut params = peer_params(&d, false);
                params.addr = Some(addr);
                let _ = r.set_peer(now, mf, params);
            }
        }
        if let Some(f) = c.fork_mut(fork) {
            f.neg = Some((neg, outcome));
            f.rtcp_mux = d.rtcp_mux;
        }
        true
    }

    /// UAC, delayed offer: the offer came in a reliable 1xx of `fork`; our answer goes in the PRACK (F-6.4).
    pub(super) fn answer_early_offer(
        &mut self,
        now: Instant,
        call: CallId,
        fork: ForkId,
        body: &[u8],
    ) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if c.peer_bound {
            return true;
        }
        let port = c.port.local_addr().port();
        let res = Sdp::parse(body).ok().and_then(|sdp| {
            let mut fill = fill_from(&mut self.rng);
            let (a, n) = c.neg.answer(&sdp, port, &mut fill).ok()?;
            let d = n.dtls()?.clone();
            Some((a.write().into_bytes(), d))
        });
        let Some((ans, d)) = res else {
            return false;
        };
        if self.ua.prack(now, call, fork, ans).is_err() {
            return false;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        let mf = c.ensure_fork(fork);
        let bound = c
            .port
            .set_peer(now, mf, peer_params(&d, c.port.ice().is_some()))
            .is_ok();
        c.peer_bound = bound;
        bound
    }

    pub(super) fn on_answered(
        &mut self,
        now: Instant,
        call: CallId,
        fork: ForkId,
        body: Option<Vec<u8>>,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.winner = Some(fork);
        c.phase.answer(None);
        let body = body.filter(|b| !b.is_empty());
        let mut delayed_plain = None;
        let ok = if c.delayed_offer && c.peer_bound && body.is_none() {
            // F-6.4: the offer came in a reliable 1xx and our PRACK answered it: nothing to negotiate here.
            true
        } else if c.delayed_offer {
            // F-6.4: the 2xx carries the offer; our answer goes in the ACK.
            let port = c.port.local_addr().port();
            let mut fill = fill_from(&mut self.rng);
            let mut res = body
                .as_ref()
                .and_then(|b| Sdp::parse(b).ok())
                .and_then(|sdp| c.neg.answer(&sdp, port, &mut fill).ok());
            drop(fill);
            // D-3b: the 2xx offer refuses rtcp-mux: our answer names an RTCP component port (a=rtcp).
            let mut rtcp = match res.as_mut() {
                Some((a, n)) if self.cfg.rtcp_fallback && n.dtls().is_some_and(|d| !d.rtcp_mux) => {
                    self.rtcp_port(now, a)
                }
                _ => None,
            };
            let Some(c) = self.calls.get_mut(&call) else {
                return;
            };
            let res = res.map(|(a, n)| (a.write().into_bytes(), n));
            match res {
                Some((ans, n)) => {
                    let bound = match &n.kind {
                        LegKind::Dtls(d) => {
                            let mf = c.ensure_fork(fork);
                            if let (Some(mut r), Some(addr)) = (rtcp.take(), Self::rtcp_addr(d)) {
                                Call::share_identity(&c.port, &mut r, true);
                                let mut params = peer_params(d, false);
                                params.addr = Some(addr);
                                let _ = r.set_peer(now, mf, params);
                                self.owners.insert(r.local_addr(), call);
                                c.rtcp = Some(r);
                                if let Some(f) = c.fork_mut(fork) {
                                    f.rtcp_mux = false;
                                }
                            }
                            c.port
                                .set_peer(now, mf, peer_params(d, c.port.ice().is_some()))
                                .is_ok()
                        }
                        // Best effort: the 2xx offered plain RTP (the negotiator refuses it otherwise).
                        LegKind::Plain { remote } => {
                            delayed_plain = Some((*remote, n.clone()));
                            true
                        }
                    };
                    let _ = self.ua.ack(now, call, ans);
                    if let Some(r) = rtcp.take() {
                        self.free_sockets.push_front(r.local_addr());
                    }
                    bound
                }
                None => false,
            }
        } else {
            let early = c.fork(fork).is_some_and(|f| f.neg.is_some());
            early
                || body
                    .as_ref()
                    .is_some_and(|b| self.apply_fork_answer(now, call, fork, b))
        };
        let mut unused_rtcp = None;
        let mut plain = delayed_plain;
        if let Some(c) = self.calls.get_mut(&call) {
            if let Some((n, outcome)) = c.fork_mut(fork).and_then(|f| f.neg.take()) {
                c.neg = n;
                if let LegKind::Plain { remote } = outcome.kind {
                    plain = Some((remote, outcome));
                }
            }
            c.pending = None;
            if c.fork(fork).is_none_or(|f| f.rtcp_mux) || plain.is_some() {
                unused_rtcp = c.rtcp.take();
            } else {
                c.split_rtcp();
            }
        }
        if let Some((remote, outcome)) = plain {
            // Best effort fell back (R-ALLOW-RTP, RFC 5763 §6.11): plain RTP on the call's socket.
            self.start_plain(call, fork, remote, &outcome);
        }
        if let Some(r) = unused_rtcp {
            self.release_port(&r);
        }
        if ok {
            self.events.push_back(Event::Answered { call, fork });
            self.on_final_answer(now, call, fork);
            self.check_established(call);
        } else {
            // Plain RTP or unusable answer under secure-only: end the call (BYE).
            if let Some(c) = self.calls.get_mut(&call) {
                c.phase.terminate(EndReason::NotSecure);
            }
            let _ = self.ua.hangup(now, call);
        }
    }
}
