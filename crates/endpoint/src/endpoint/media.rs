//! A call's media legs: the socket pool's ports, the session per call, sending (direction-gated, counted),
//! media events (DTLS, fingerprints, RTP/RTCP), the plain-RTP leg of a best-effort call, stats and teardown.

use super::*;

impl Endpoint {
    pub(super) fn new_port(&mut self, now: Instant) -> Result<MediaPort, Error> {
        let local = self.free_sockets.pop_front().ok_or(Error::NoMediaSocket)?;
        let cert = self
            .call_cert
            .as_ref()
            .map_or(&self.cfg.certificate, |c| &c.0)
            .clone();
        let mut dtls = dtlsrtp_dtls::Config::new(cert, CookieSecret::new(self.rng.block()));
        if let Some(t) = self.cfg.dtls_initial_retransmit {
            dtls.initial_retransmit = t;
        }
        if !self.cfg.srtp_profiles.is_empty() {
            dtls.srtp_profiles.clone_from(&self.cfg.srtp_profiles);
        }
        dtls.key_log.clone_from(&self.cfg.key_log);
        let mut pcfg = MediaPortConfig::new(local, dtls, self.rng.block());
        pcfg.rekey_grace = self.cfg.rekey_grace;
        pcfg.rekey_interval = self.cfg.rekey_interval;
        match MediaPort::new(now, pcfg) {
            Ok(mut p) => {
                let (at, since_unix) = *self.ntp_anchor.get_or_insert(
                    self.cfg
                        .wall_clock
                        .unwrap_or((now, std::time::Duration::ZERO)),
                );
                p.set_wall_clock(at, since_unix);
                Ok(p)
            }
            Err(e) => {
                self.free_sockets.push_front(local);
                Err(e.into())
            }
        }
    }

    /// D-3b: a second port for the RTCP component, announced as `a=rtcp:PORT` on the audio m-line.
    pub(super) fn rtcp_port(&mut self, now: Instant, sdp: &mut Sdp) -> Option<MediaPort> {
        let mut p = self.new_port(now).ok()?;
        let line = dtlsrtp_sdp::Line::new('a', &format!("rtcp:{}", p.local_addr().port())).ok();
        match (line, sdp.media_mut().first_mut()) {
            (Some(l), Some(m)) => {
                m.push(l);
                p.listen(true);
                Some(p)
            }
            _ => {
                self.free_sockets.push_front(p.local_addr());
                None
            }
        }
    }

    pub(super) fn rtcp_addr(d: &DtlsMedia) -> Option<SocketAddr> {
        let ip = d.remote_address.as_deref()?.parse::<IpAddr>().ok()?;
        Some(SocketAddr::new(ip, d.remote_rtcp_port?))
    }

    /// Closes and releases the superseded ports whose grace period (F-6.8) is over.
    pub(super) fn retire_ports(&mut self, now: Instant) {
        let mut done = Vec::new();
        for c in self.calls.values_mut() {
            let (over, keep): (Vec<_>, Vec<_>) = c.retiring.drain(..).partition(|r| now >= r.1);
            c.retiring = keep;
            for (mut p, _) in over {
                for f in &c.forks {
                    let _ = p.close_fork(now, f.media);
                }
                let local = p.local_addr();
                while let Some(t) = p.poll_transmit() {
                    self.out.push_back(Transmit {
                        local,
                        remote: t.remote,
                        transport: TransportKind::Udp,
                        bytes: t.bytes,
                    });
                }
                done.push(p);
            }
        }
        for p in &done {
            self.release_port(p);
        }
    }

    pub(super) fn release_port(&mut self, port: &MediaPort) {
        let local = port.local_addr();
        self.owners.remove(&local);
        self.events.push_back(Event::MediaSocketReleased { local });
    }

    pub(super) fn negotiator(&mut self) -> Result<Session, Error> {
        let fp = self
            .call_cert
            .as_ref()
            .map_or(&self.fingerprint, |c| &c.1)
            .clone();
        let mut c = dtlsrtp_sdp::Config::new(self.cfg.media_ip, vec![fp]);
        c.profile = self.cfg.profile;
        let best_effort = self.cfg.srtp_policy == crate::SrtpPolicy::BestEffort;
        c.rtp_policy = if best_effort {
            RtpPolicy::AllowRtp
        } else {
            self.cfg.policy
        };
        c.best_effort = self.cfg.best_effort || best_effort;
        c.answer_setup = self.cfg.answer_setup;
        let mut fill = fill_from(&mut self.rng);
        let codecs = dtlsrtp_session::with_telephone_event(self.cfg.codecs.clone());
        Ok(Session::new(c, codecs, None, &mut fill)?)
    }

    /// The call's media state.
    pub fn stats(&self, call: CallId) -> Option<CallStats> {
        let c = self.calls.get(&call)?;
        let associations = c.port.associations();
        let forks = associations
            .iter()
            .map(|a| (a.fork.and_then(|f| c.sip_fork(f)), a.remote))
            .collect();
        let security = c.media_security();
        let plain = c.plain.as_ref().map(PlainLeg::counters);
        Some(CallStats {
            encrypted: c.plain.is_none(),
            profile: security.map(|s| s.0),
            role: security.map(|s| s.1),
            plain,
            on_hold: c.neg.on_hold(),
            may_send: c.neg.permits().send,
            may_receive: c.neg.permits().recv,
            send_blocked: c.send_blocked + plain.map_or(0, |p| p.send_blocked),
            recv_blocked: c.recv_blocked + plain.map_or(0, |p| p.recv_blocked),
            rtcp_associations: c
                .rtcp
                .as_ref()
                .map(MediaPort::associations)
                .unwrap_or_default(),
            local: c.port.local_addr(),
            counters: c.port.counters(),
            associations,
            forks,
        })
    }

    /// Sends one RTP packet on the call (the winning fork; before the answer, the most recent early fork).
    /// Refused until keys exist and the fingerprint is verified (fail closed).
    pub fn send_rtp(
        &mut self,
        now: Instant,
        call: CallId,
        pt: u8,
        marker: bool,
        ts: u32,
        payload: &[u8],
    ) -> Result<(), Error> {
        if !self.calls.contains_key(&call) {
            return Err(Error::UnknownCall);
        }
        if !self.dtmf_admit(now, call, pt, ts) {
            // RFC 4733 §2.5.1.6: a telephone-event is being sent in place of this audio (counted).
            return Ok(());
        }
        let c = self.calls.get_mut(&call).ok_or(Error::UnknownCall)?;
        if let Some(p) = c.plain.as_mut() {
            // RFC 3264 §6.1: the leg drops (and counts) what the direction does not allow.
            p.send_rtp(now, pt, marker, ts, payload)
                .map_err(|_| Error::WrongState)?;
            self.drain_media();
            return Ok(());
        }
        let fork = c
            .winner
            .and_then(|w| c.fork(w))
            .or_else(|| c.forks.iter().rev().find(|f| f.verified))
            .map(|f| f.media)
            .ok_or(Error::WrongState)?;
        if !c.neg.permits().send {
            // recvonly/inactive (hold): nothing leaves; the send is dropped and counted.
            c.send_blocked += 1;
            return Ok(());
        }
        c.port.send_rtp(now, fork, pt, marker, ts, payload)?;
        self.drain_media();
        Ok(())
    }

    /// [`Self::send_rtp`] without the marker bit: one audio frame.
    pub fn send_audio(
        &mut self,
        now: Instant,
        call: CallId,
        pt: u8,
        ts: u32,
        payload: &[u8],
    ) -> Result<(), Error> {
        self.send_rtp(now, call, pt, false, ts, payload)
    }

    /// Best effort fell back to plain RTP on `fork` (R-ALLOW-RTP, RFC 5763 §6.11): the call's socket carries a
    /// [`PlainLeg`] instead of DTLS-SRTP; the DTLS port stops listening. The call counts as verified at once
    /// (nothing to verify) and [`Event::MediaSecurity`] says it is NOT encrypted.
    pub(super) fn start_plain(
        &mut self,
        call: CallId,
        fork: ForkId,
        remote: Option<SocketAddr>,
        n: &Negotiated,
    ) {
        let b = self.rng.block();
        let ssrc = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let seq = u16::from_be_bytes([b[4], b[5]]) & 0x7fff;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.port.listen(false);
        let mut leg = PlainLeg::new(c.port.local_addr(), remote, ssrc, seq, n.payloads.clone());
        leg.set_permits(n.permits);
        c.plain = Some(leg);
        c.ensure_fork(fork);
        if let Some(f) = c.fork_mut(fork) {
            f.verified = true;
        }
        c.peer_bound = true;
    }

    pub(super) fn on_plain_event(&mut self, now: Instant, call: CallId, e: PlainEvent) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let fork = c.winner;
        match e {
            PlainEvent::Rtp {
                ts,
                pt,
                ref payload,
                ..
            } if self.dtmf_on_rtp(now, call, pt, ts, payload) => {}
            PlainEvent::Rtp {
                ssrc,
                seq,
                ts,
                pt,
                payload,
                ..
            } => self.events.push_back(Event::Rtp {
                call,
                fork,
                ssrc,
                seq,
                ts,
                pt,
                payload,
                verified: false,
            }),
            PlainEvent::Rtcp(report) => self.events.push_back(Event::Stats { call, fork, report }),
            PlainEvent::Latched { .. } => {}
        }
    }

    pub(super) fn check_established(&mut self, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.phase.is_established() || c.phase.end_reason().is_some() {
            return;
        }
        let Some(w) = c.winner else { return };
        if c.fork(w).is_some_and(|f| f.verified) && c.phase.is_answered() {
            c.phase = Phase::Established;
            if c.uac {
                if let Some(f) = c.fork(w) {
                    c.sec.peer_fps = f.peer_fps.clone();
                }
            }
            let security = c.media_security();
            self.events.push_back(Event::MediaSecurity {
                call,
                encrypted: security.is_some(),
                profile: security.map(|s| s.0),
                role: security.map(|s| s.1),
            });
            self.events.push_back(Event::Established { call, fork: w });
            self.report_security(call);
        }
    }

    pub(super) fn drain_media(&mut self) {
        for c in self.calls.values_mut() {
            if let Some(p) = c.plain.as_mut() {
                let local = p.local_addr();
                while let Some(t) = p.poll_transmit() {
                    self.out.push_back(Transmit {
                        local,
                        remote: t.remote,
                        transport: TransportKind::Udp,
                        bytes: t.bytes,
                    });
                }
            }
            let mut ports: Vec<&mut MediaPort> = c.ports_mut().collect();
            for p in ports.iter_mut() {
                let local = p.local_addr();
                while let Some(t) = p.poll_transmit() {
                    self.out.push_back(Transmit {
                        local,
                        remote: t.remote,
                        transport: TransportKind::Udp,
                        bytes: t.bytes,
                    });
                }
            }
        }
    }

    pub(super) fn on_terminated(&mut self, now: Instant, call: CallId, reason: ua::EndReason) {
        self.fetches.drop_call(call);
        self.dtmf_end(call);
        let Some(mut c) = self.calls.remove(&call) else {
            self.events.push_back(Event::Terminated {
                call,
                reason: map_reason(reason),
            });
            return;
        };
        if c.rtcp.is_some() {
            // Non-muxed RTCP: the BYE for the RTP port's SSRC leaves on the RTCP component.
            let _ = c.port.send_bye(now, None, None);
            c.shuttle_rtcp(now);
        }
        let mut ports = vec![c.port];
        ports.extend(c.next_port.take());
        ports.extend(c.rtcp.take());
        ports.extend(c.reoffer.take().and_then(|r| r.port));
        ports.extend(c.retiring.drain(..).map(|r| r.0));
        // RFC 3550 §6.6: the RTCP BYE (and close_notify) go out ahead of the SIP response to the peer's BYE
        // queued in this round, so they arrive while the peer's call (and socket) still exists.
        let mut last = Vec::new();
        for p in &mut ports {
            for f in &c.forks {
                let _ = p.close_fork(now, f.media);
            }
            let local = p.local_addr();
            while let Some(t) = p.poll_transmit() {
                last.push(Transmit {
                    local,
                    remote: t.remote,
                    transport: TransportKind::Udp,
                    bytes: t.bytes,
                });
            }
        }
        for t in last.into_iter().rev() {
            self.out.push_front(t);
        }
        for p in &ports {
            self.release_port(p);
        }
        let reason = c.phase.end_reason().unwrap_or_else(|| map_reason(reason));
        self.events.push_back(Event::Terminated { call, reason });
    }

    pub(super) fn on_media_event(
        &mut self,
        now: Instant,
        call: CallId,
        local: SocketAddr,
        e: MediaEvent,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.is_retiring(local)
            && !matches!(
                e,
                MediaEvent::Rtp(_) | MediaEvent::Rtcp { .. } | MediaEvent::RtcpBye { .. }
            )
        {
            // A superseded port only delivers what was in flight under the old keys.
            return;
        }
        let from_rtcp = c.rtcp.as_ref().is_some_and(|p| p.local_addr() == local);
        if from_rtcp
            && !matches!(
                e,
                MediaEvent::FingerprintMismatch { .. }
                    | MediaEvent::Rtcp { .. }
                    | MediaEvent::RtcpReport { .. }
                    | MediaEvent::RtcpBye { .. }
            )
        {
            // The RTCP component's handshake and verification are internal (its RTCP is reported below).
            return;
        }
        match e {
            MediaEvent::DtlsConnected {
                assoc,
                remote,
                profile,
            } => {
                let port = c.ports_mut().find(|p| p.local_addr() == local);
                let info = port.and_then(|p| p.associations().into_iter().find(|a| a.id == assoc));
                let role = info.as_ref().map(|i| i.role);
                if let Some(r) = role {
                    c.profiles.push((local, assoc, profile, r));
                }
                let fork = info.and_then(|i| i.fork).and_then(|f| c.sip_fork(f));
                if let Some(role) = role {
                    self.events.push_back(Event::DtlsConnected {
                        call,
                        fork,
                        profile,
                        role,
                        remote,
                    });
                }
            }
            MediaEvent::FingerprintVerified { fork, remote, .. } => {
                let Some(sip) = c.sip_fork(fork) else { return };
                if let Some(f) = c.fork_mut(sip) {
                    f.verified = true;
                }
                // A renewed association's port is verified: sending switches to it at once; the old port
                // keeps receiving for the grace period (F-6.8 make-before-break), then it is released.
                if c.next_port
                    .as_ref()
                    .is_some_and(|p| p.local_addr() == local)
                {
                    if let Some(mut next) = c.next_port.take() {
                        if c.rtcp.is_some() {
                            // non-muxed call: the RTCP component (not renewed) carries the new port's RTCP
                            next.set_rtcp_mux(dtlsrtp_media::RtcpMux::RtpComponent);
                        }
                        let old = std::mem::replace(&mut c.port, next);
                        c.retiring.push((old, now + self.cfg.rekey_grace));
                    }
                }
                self.events.push_back(Event::FingerprintVerified {
                    call,
                    fork: sip,
                    remote,
                });
                self.check_established(call);
            }
            MediaEvent::FingerprintMismatch { fork, .. } => {
                let sip = fork.and_then(|f| c.sip_fork(f));
                self.on_fingerprint_mismatch(now, call, sip);
            }
            MediaEvent::AssociationClosed {
                fork: Some(fork),
                reason: dtlsrtp_media::CloseReason::Failed(_),
                ..
            } if !from_rtcp => {
                let sip = c.sip_fork(fork);
                self.on_dtls_failed(now, call, local, sip);
            }
            MediaEvent::Rtp(p) => {
                if !c.neg.permits().recv && c.phase.is_established() {
                    // sendonly/inactive: the peer should not send; dropped, counted.
                    c.recv_blocked += 1;
                    return;
                }
                let fork = p.fork.and_then(|f| c.sip_fork(f));
                if self.dtmf_on_rtp(now, call, p.payload_type, p.timestamp, &p.payload) {
                    return;
                }
                self.events.push_back(Event::Rtp {
                    call,
                    fork,
                    ssrc: p.ssrc,
                    seq: p.sequence,
                    ts: p.timestamp,
                    pt: p.payload_type,
                    payload: p.payload,
                    verified: true,
                });
            }
            MediaEvent::Rtcp { fork, report, .. } => {
                if from_rtcp {
                    // the peer's SR on the RTCP component: LSR/DLSR of the RTP port's next reports
                    c.port.note_remote_rtcp(now, &report);
                }
                let fork = fork.and_then(|f| c.sip_fork(f));
                self.events.push_back(Event::Stats { call, fork, report });
            }
            MediaEvent::RtcpReport { fork, report, .. } => {
                let fork = fork.and_then(|f| c.sip_fork(f));
                self.events
                    .push_back(Event::RtcpReport { call, fork, report });
            }
            MediaEvent::RtcpBye { bye, .. } => self.events.push_back(Event::RtcpBye { call, bye }),
            MediaEvent::SsrcChanged { old, new, .. } => {
                // The RTCP component reports for the RTP port: it sends as the new SSRC too.
                if let Some(r) = c.rtcp.as_mut().filter(|_| !from_rtcp) {
                    r.set_local_ssrc(new);
                }
                self.events.push_back(Event::SsrcChanged { call, old, new });
            }
            MediaEvent::RekeyNeeded { .. } | MediaEvent::RekeyDue { .. } => {
                // The media layer never renegotiates DTLS: new keys come from a renewing re-offer (T-5.5a).
                let _ = self.reoffer(now, call, true, ModifyKind::Reinvite);
            }
            MediaEvent::IceSelected { remote } => self.events.push_back(Event::Ice {
                call,
                remote: Some(remote),
                failed: false,
            }),
            MediaEvent::IceConsentExpired { .. } => self.events.push_back(Event::Ice {
                call,
                remote: None,
                failed: false,
            }),
            MediaEvent::IceFailed => {
                self.events.push_back(Event::Ice {
                    call,
                    remote: None,
                    failed: true,
                });
                let _ = self.hangup(now, call);
            }
            _ => {}
        }
    }
}
