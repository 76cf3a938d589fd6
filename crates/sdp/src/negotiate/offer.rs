//! Offers (T-5.2a, T-5.5a/b, B-1) and applying their answers (T-5.4, F-5.9, B-2, B-3), plus the SDP builders
//! shared with the answerer.

use dtlsrtp_types::Rng;
use std::net::IpAddr;

use super::assoc::{decide, AssocSnapshot, HandshakeRole};
use super::codec::{remote_codecs, Codec};
use super::{
    AnswerError, AnswerRejected, Config, ConfigError, Current, DtlsMedia, IceConfig, LocalMedia,
    MediaOutcome, MediaState, Negotiator, Offered, PendingOffer, PlainRtpMedia, RejectReason,
    RemoteIce, Renew, RtpPolicy,
};
use crate::attr::{Attribute, Direction, MediaLine, Proto, Setup, TlsId};
use crate::fingerprint::{preferred_set, Fingerprint};
use crate::model::{Line, Media, Sdp};

pub(super) fn line(kind: char, text: &str) -> Result<Line, ConfigError> {
    Line::new(kind, text).map_err(ConfigError::Invalid)
}

pub(super) fn same_set(a: &[Fingerprint], b: &[Fingerprint]) -> bool {
    a.len() == b.len() && a.iter().all(|f| b.contains(f)) && b.iter().all(|f| a.contains(f))
}

fn addr_type(a: IpAddr) -> &'static str {
    match a {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

impl Negotiator {
    /// v=, o=, s=, c=, t= (and a=ice-lite) with session version `version`.
    pub(super) fn session_header(&self, version: u64) -> Result<Sdp, ConfigError> {
        let a = self.config.address;
        let mut sdp = Sdp::empty();
        sdp.push_session(line('v', "0")?);
        sdp.push_session(line(
            'o',
            &format!(
                "- {} {} IN {} {}",
                self.session_id,
                version,
                addr_type(a),
                a
            ),
        )?);
        sdp.push_session(line('s', "-")?);
        sdp.push_session(line('c', &format!("IN {} {}", addr_type(a), a))?);
        sdp.push_session(line('t', "0 0")?);
        if self.config.ice.as_ref().is_some_and(|i| i.lite) {
            sdp.push_session(line('a', "ice-lite")?);
        }
        Ok(sdp)
    }
}

pub(super) fn push_codecs(
    m: &mut Media,
    codecs: &[Codec],
    ptime: Option<u32>,
) -> Result<(), ConfigError> {
    for c in codecs {
        m.push(line('a', &c.rtpmap())?);
        if let Some(f) = &c.fmtp {
            m.push(line('a', &format!("fmtp:{} {}", c.pt, f))?);
        }
    }
    if let Some(p) = ptime {
        m.push(line('a', &format!("ptime:{p}"))?);
    }
    Ok(())
}

pub(super) fn push_ice(m: &mut Media, ice: &IceConfig) -> Result<(), ConfigError> {
    m.push(line('a', &format!("ice-ufrag:{}", ice.ufrag))?);
    m.push(line('a', &format!("ice-pwd:{}", ice.pwd))?);
    if !ice.options.is_empty() {
        m.push(line(
            'a',
            &format!("ice-options:{}", ice.options.join(" ")),
        )?);
    }
    for c in &ice.candidates {
        m.push(line('a', &format!("candidate:{c}"))?);
    }
    if ice.end_of_candidates {
        m.push(line('a', "end-of-candidates")?);
    }
    Ok(())
}

pub(super) fn push_dtls(
    m: &mut Media,
    fingerprints: &[Fingerprint],
    setup: Setup,
    tls_id: Option<&TlsId>,
) -> Result<(), ConfigError> {
    for f in fingerprints {
        m.push(line('a', &format!("fingerprint:{f}"))?);
    }
    m.push(line('a', &format!("setup:{}", setup.name()))?);
    if let Some(t) = tls_id {
        m.push(line('a', &format!("tls-id:{t}"))?);
    }
    Ok(())
}

/// The tls-id that applies to media `i`: its own, else (BUNDLE, T-4e) the one on another m-line of its
/// BUNDLE group.
pub(super) fn effective_tls_id(sdp: &Sdp, i: usize) -> Option<TlsId> {
    let m = sdp.media().get(i)?;
    if let Some(t) = m.tls_id() {
        return Some(t.clone());
    }
    let mid = m.mid()?;
    let group = sdp.bundle_groups().find(|g| g.iter().any(|x| x == mid))?;
    sdp.media()
        .iter()
        .filter(|o| o.mid().is_some_and(|x| group.iter().any(|g| g == x)))
        .find_map(|o| o.tls_id().cloned())
}

pub(super) fn remote_ice(sdp: &Sdp, i: usize) -> Option<RemoteIce> {
    let m = sdp.media().get(i)?;
    Some(RemoteIce {
        ufrag: sdp.media_ice_ufrag(i)?.to_owned(),
        pwd: sdp.media_ice_pwd(i)?.to_owned(),
        lite: sdp.ice_lite(),
        candidates: m
            .attributes()
            .filter_map(|a| match a {
                Attribute::Candidate(c) => Some(c.clone()),
                _ => None,
            })
            .collect(),
        end_of_candidates: m
            .attributes()
            .any(|a| matches!(a, Attribute::EndOfCandidates)),
    })
}

pub(super) fn remote_rtcp_port(m: &Media, mux: bool) -> Option<u16> {
    m.attributes()
        .find_map(|a| match a {
            Attribute::Rtcp(r) => Some(r.port),
            _ => None,
        })
        .or_else(|| (!mux).then(|| m.media_line().port.checked_add(1)).flatten())
}

/// Role from the setup value the *peer* sent as answerer (active: peer is client).
fn role_from_answer(setup: Setup) -> HandshakeRole {
    match setup {
        Setup::Active => HandshakeRole::Server,
        _ => HandshakeRole::Client,
    }
}

pub(super) fn setup_of(role: HandshakeRole) -> Setup {
    match role {
        HandshakeRole::Client => Setup::Active,
        HandshakeRole::Server => Setup::Passive,
    }
}

fn check_local(media: &[LocalMedia]) -> Result<(), ConfigError> {
    if media.is_empty() {
        return Err(ConfigError::NoMedia);
    }
    if media.iter().any(|m| m.codecs.is_empty()) {
        return Err(ConfigError::NoCodecs);
    }
    Ok(())
}

impl Negotiator {
    /// Makes an offer (initial or subsequent).
    ///
    /// Every DTLS m-line carries `a=setup:actpass` (T-5.2a, and in every later offer T-5.5), our fingerprints
    /// (sha-256 plus any configured, P-5.1b), `a=tls-id` — the previous one when the association is kept
    /// (T-5.5b), a fresh one (≥ 120 bits from `rng`, T-4b/T-4c) when it is new (T-5.5a) — and `a=rtcp-mux`;
    /// ICE attributes when ICE is on. With [`Config::best_effort`] the actual configuration is `RTP/AVP` with
    /// `a=tcap:1 UDP/TLS/RTP/SAVP RTP/AVP` and `a=pcfg:1 t=1` (B-1, RFC 5763 §7.1).
    ///
    /// A new offer replaces any pending one (its token becomes stale).
    pub fn create_offer(
        &mut self,
        media: &[LocalMedia],
        renew: Renew,
        rng: &mut dyn Rng,
    ) -> Result<(Sdp, PendingOffer), ConfigError> {
        check_local(media)?;
        let version = self.version + 1;
        let mut sdp = self.session_header(version)?;
        let cfg: &Config = &self.config;
        let bundle = cfg.ice.is_some() && media.iter().all(|m| m.mid.is_some());
        if bundle {
            let mids: Vec<&str> = media.iter().filter_map(|m| m.mid.as_deref()).collect();
            sdp.push_session(line('a', &format!("group:BUNDLE {}", mids.join(" ")))?);
        }
        let mut offered = Vec::with_capacity(media.len());
        for (i, lm) in media.iter().enumerate() {
            let prev = self.current.get(i).and_then(Option::as_ref);
            let kept = prev.filter(|p| {
                renew == Renew::Keep && same_set(&p.snapshot.local_fingerprints, &cfg.fingerprints)
            });
            let tls_id = match kept.and_then(|p| p.snapshot.local_tls_id.clone()) {
                Some(t) => t,
                None => TlsId::generate(rng),
            };
            let proto = if cfg.best_effort {
                Proto::RtpAvp
            } else {
                cfg.profile.proto()
            };
            let mut m = Media::new(MediaLine {
                media: lm.kind.clone(),
                port: lm.port,
                port_count: None,
                proto,
                formats: lm.codecs.iter().map(|c| c.pt.to_string()).collect(),
            });
            push_codecs(&mut m, &lm.codecs, cfg.ptime)?;
            m.push(line('a', lm.direction.name())?);
            if let Some(mid) = &lm.mid {
                m.push(line('a', &format!("mid:{mid}"))?);
            }
            if let Some(ice) = &cfg.ice {
                push_ice(&mut m, ice)?;
            }
            // T-4e: with BUNDLE the tls-id goes only on the BUNDLE-tag m-line (the first).
            let write_tls = !bundle || i == 0;
            push_dtls(
                &mut m,
                &cfg.fingerprints,
                Setup::ActPass,
                write_tls.then_some(&tls_id),
            )?;
            m.push(line('a', "rtcp-mux")?);
            if cfg.best_effort {
                m.push(line(
                    'a',
                    &format!("tcap:1 {} RTP/AVP", cfg.profile.proto()),
                )?);
                m.push(line('a', "pcfg:1 t=1")?);
            }
            sdp.push_media(m);
            offered.push(Offered {
                local: lm.clone(),
                tls_id,
                best_effort: cfg.best_effort,
                ice_ufrag: cfg.ice.as_ref().map(|i| i.ufrag.clone()),
            });
        }
        self.version = version;
        let serial = self.next_serial;
        self.next_serial += 1;
        self.outstanding = Some(serial);
        let pending = PendingOffer {
            negotiator: self.id,
            serial,
            offer: sdp.clone(),
            offered,
        };
        Ok((sdp, pending))
    }

    /// Applies the answer to the offer `pending` stands for. On success the offer/answer is complete and the
    /// outcome of every m-line is returned (roles, expected fingerprints, keep/renew). On error nothing changes
    /// and the offer stays pending.
    pub fn apply_answer(
        &mut self,
        pending: PendingOffer,
        answer: &Sdp,
    ) -> Result<Vec<MediaOutcome>, AnswerRejected> {
        match self.evaluate_answer(&pending, answer) {
            Ok((outcomes, current)) => {
                self.current = current;
                self.outstanding = None;
                Ok(outcomes)
            }
            Err(error) => Err(AnswerRejected { error, pending }),
        }
    }

    fn evaluate_answer(
        &self,
        pending: &PendingOffer,
        answer: &Sdp,
    ) -> Result<(Vec<MediaOutcome>, Vec<Option<Current>>), AnswerError> {
        if pending.negotiator != self.id || self.outstanding != Some(pending.serial) {
            return Err(AnswerError::StaleOffer);
        }
        if answer.media().len() != pending.offered.len() {
            return Err(AnswerError::MediaCount {
                offered: pending.offered.len(),
                answered: answer.media().len(),
            });
        }
        let mut outcomes = Vec::new();
        let mut current = Vec::new();
        for (i, (off, am)) in pending.offered.iter().zip(answer.media()).enumerate() {
            let mid = am
                .mid()
                .map(str::to_owned)
                .or_else(|| off.local.mid.clone());
            let (state, cur) = self.answer_media(i, off, am, answer)?;
            outcomes.push(MediaOutcome {
                index: i,
                mid,
                state,
            });
            current.push(cur);
        }
        Ok((outcomes, current))
    }

    fn answer_media(
        &self,
        i: usize,
        off: &Offered,
        am: &Media,
        answer: &Sdp,
    ) -> Result<(MediaState, Option<Current>), AnswerError> {
        let ml = am.media_line();
        if ml.port == 0 {
            return Ok((MediaState::Rejected(RejectReason::PortZero), None));
        }
        if ml.media != off.local.kind {
            return Err(AnswerError::ProtoMismatch(i));
        }
        let codecs: Vec<Codec> = remote_codecs(am)
            .into_iter()
            .filter(|c| off.local.codecs.iter().any(|o| o.same_format(c)))
            .collect();
        let remote_address = answer.media_connection(i).map(|c| c.address.clone());
        let acfg = am.attributes().find_map(|a| match a {
            Attribute::Acfg(x) => Some(x),
            _ => None,
        });
        let mut capneg = false;
        if off.best_effort {
            if ml.proto.is_udp_dtls_srtp() {
                if let Some(a) = acfg {
                    if a.number != 1 || a.transport.is_some_and(|t| t != 1) {
                        return Err(AnswerError::UnknownConfiguration(i));
                    }
                }
                capneg = true;
            } else if ml.proto.is_plain_rtp() && acfg.is_none() {
                // B-3: a legacy answerer ignored tcap/pcfg.
                if self.config.rtp_policy != RtpPolicy::AllowRtp {
                    return Err(AnswerError::PlainRtpNotAllowed(i));
                }
                let plain = PlainRtpMedia {
                    codecs,
                    remote_address,
                    remote_port: ml.port,
                };
                return Ok((MediaState::PlainRtp(plain), None));
            } else {
                return Err(AnswerError::ProtoMismatch(i));
            }
        } else if !ml.proto.is_udp_dtls_srtp() {
            return Err(AnswerError::ProtoMismatch(i));
        }
        // requirements §2.4: a missing setup in an answer is RFC 4145's default for answers (passive).
        let remote_setup = answer.media_setup(i).unwrap_or(Setup::Passive);
        if matches!(remote_setup, Setup::ActPass | Setup::HoldConn) {
            return Err(AnswerError::BadSetup {
                media: i,
                setup: remote_setup,
            });
        }
        let remote_fingerprints = answer.media_fingerprints(i);
        if preferred_set(&remote_fingerprints).is_empty() {
            return Err(AnswerError::MissingFingerprint(i));
        }
        let local_role = role_from_answer(remote_setup);
        let remote_tls_id = effective_tls_id(answer, i);
        let rtcp_mux = am.rtcp_mux();
        let remote_ice = remote_ice(answer, i);
        let snapshot = AssocSnapshot {
            local_role,
            local_fingerprints: self.config.fingerprints.clone(),
            remote_fingerprints: remote_fingerprints.clone(),
            local_tls_id: Some(off.tls_id.clone()),
            remote_tls_id: remote_tls_id.clone(),
            local_transport: (self.config.address.to_string(), off.local.port),
            remote_transport: (remote_address.clone().unwrap_or_default(), ml.port),
            ice: off.ice_ufrag.is_some() && remote_ice.is_some(),
        };
        let prev = self
            .current
            .get(i)
            .and_then(Option::as_ref)
            .map(|c| &c.snapshot);
        let association = decide(prev, &snapshot);
        let dtls = DtlsMedia {
            local_setup: setup_of(local_role),
            remote_setup,
            local_role,
            remote_fingerprints,
            local_tls_id: Some(off.tls_id.clone()),
            remote_tls_id,
            association,
            proto: ml.proto.clone(),
            codecs,
            rtcp_mux,
            remote_address,
            remote_port: ml.port,
            remote_rtcp_port: remote_rtcp_port(am, rtcp_mux),
            remote_ice,
            capneg,
        };
        let cur = Current {
            snapshot,
            local: off.local.clone(),
        };
        Ok((MediaState::Dtls(Box::new(dtls)), Some(cur)))
    }
}

/// The direction an answerer writes, given the offered one and what it wants itself (RFC 3264 §6.1).
pub(super) fn answer_direction(offered: Direction, ours: Direction) -> Direction {
    let can_send = |d: Direction| matches!(d, Direction::SendRecv | Direction::SendOnly);
    let can_recv = |d: Direction| matches!(d, Direction::SendRecv | Direction::RecvOnly);
    let send = can_recv(offered) && can_send(ours);
    let recv = can_send(offered) && can_recv(ours);
    match (send, recv) {
        (true, true) => Direction::SendRecv,
        (true, false) => Direction::SendOnly,
        (false, true) => Direction::RecvOnly,
        (false, false) => Direction::Inactive,
    }
}
