//! Answering offers (RFC 8842 §5.3; T-5.3a..f, T-5.1b, F-5.13, B-2, B-3; RFC 3264 §6).

use super::assoc::{decide, AssocSnapshot, HandshakeRole};
use super::codec::{intersect, remote_codecs, Codec};
use super::offer::{
    answer_direction, effective_tls_id, line, push_codecs, push_dtls, push_ice, remote_ice,
    remote_rtcp_port, same_set, setup_of,
};
use super::{
    Answer, AnswerSetup, ConfigError, Current, DtlsMedia, LocalMedia, MediaOutcome, MediaState,
    Negotiator, OfferError, PlainRtpMedia, RejectPolicy, RejectReason, RtpPolicy,
};
use crate::attr::{Attribute, MediaLine, Proto, Setup, TlsId};
use crate::fingerprint::{preferred_set, Fingerprint, HashFunction};
use crate::model::{Media, Sdp};
use dtlsrtp_types::Rng;

/// How an offered m-line can be served.
enum Plan {
    /// DTLS-SRTP with this proto; `acfg` = (pcfg number, tcap number) when chosen by capability negotiation.
    Dtls {
        proto: Proto,
        acfg: Option<(u32, u32)>,
    },
    /// Plain RTP/AVP(F).
    Plain,
    /// Reject.
    Reject(RejectReason),
}

/// RFC 5939: the most preferred (lowest-numbered) potential configuration whose transport is UDP DTLS-SRTP.
/// Configurations that also need attribute capabilities (`a=` lists) are not chosen (not supported here).
fn capneg_choice(offer: &Sdp, i: usize) -> Option<(u32, u32, Proto)> {
    let m = offer.media().get(i)?;
    let tcaps: Vec<_> = m
        .attributes()
        .chain(offer.attributes())
        .filter_map(|a| match a {
            Attribute::Tcap(t) => Some(t),
            _ => None,
        })
        .collect();
    let mut pcfgs: Vec<_> = m
        .attributes()
        .filter_map(|a| match a {
            Attribute::Pcfg(p) if p.attributes.is_none() => Some(p),
            _ => None,
        })
        .collect();
    pcfgs.sort_by_key(|p| p.number);
    pcfgs.iter().find_map(|p| {
        p.transports.iter().find_map(|&t| {
            let proto = tcaps.iter().find_map(|c| c.get(t))?;
            proto
                .is_udp_dtls_srtp()
                .then(|| (p.number, t, proto.clone()))
        })
    })
}

/// Our fingerprints for an answer: sha-256 always (P-5.1b) plus every configured one whose hash the offerer
/// used (so a legacy sha-1-only offerer finds one it knows), in configuration order.
fn answer_fingerprints(ours: &[Fingerprint], offered: &[Fingerprint]) -> Vec<Fingerprint> {
    ours.iter()
        .filter(|f| {
            f.hash() == HashFunction::Sha256 || offered.iter().any(|o| o.hash() == f.hash())
        })
        .cloned()
        .collect()
}

fn rejected_media(ml: &MediaLine, mid: Option<&str>) -> Result<Media, ConfigError> {
    let mut m = Media::new(MediaLine {
        port: 0,
        port_count: None,
        ..ml.clone()
    });
    if let Some(mid) = mid {
        m.push(line('a', &format!("mid:{mid}"))?);
    }
    Ok(m)
}

struct Served {
    media: Media,
    state: MediaState,
    current: Option<Current>,
}

impl Negotiator {
    /// Answers an offer with our local `media` (each offered m-line takes the first unused local stream of its
    /// media type; without one it is rejected).
    ///
    /// DTLS m-lines: `actpass` → [`AnswerSetup`] (active by default, F-5.10) for a new association, the current
    /// role when the offer keeps the association (T-5.3c); a legacy `active` → passive, `passive` → active
    /// (T-5.3f); `holdconn` (T-5.1b) or no fingerprint (F-5.13) → port 0 or [`OfferError::Refused`] per
    /// [`RejectPolicy`]. The proto is mirrored; `a=tls-id` only if the offer had one (T-5.3d), the previous one
    /// to keep, a fresh one for a new association (T-5.3a); our fingerprints in sha-256 and in the offerer's
    /// hash when we have it; the codec intersection; `a=rtcp-mux` when offered; ICE attributes; BUNDLE
    /// mirrored. A best-effort offer (RTP/AVP with `a=tcap`/`a=pcfg`) is answered with DTLS and `a=acfg`
    /// (B-2); a plain RTP/AVP offer only under [`RtpPolicy::AllowRtp`] (B-3).
    ///
    /// On success the offer/answer is complete. On error nothing changes; [`OfferError::sip_status`] gives the
    /// response code.
    pub fn answer(
        &mut self,
        offer: &Sdp,
        media: &[LocalMedia],
        rng: &mut dyn Rng,
    ) -> Result<Answer, OfferError> {
        if self.outstanding.is_some() {
            return Err(OfferError::Glare);
        }
        let version = self.version + 1;
        let mut sdp = self.session_header(version)?;
        let mut used = vec![false; media.len()];
        let mut outcomes = Vec::with_capacity(offer.media().len());
        let mut current = Vec::with_capacity(offer.media().len());
        let mut first_reject = None;
        let mut accepted_mids = Vec::new();
        for i in 0..offer.media().len() {
            let served = self.serve(offer, i, media, &mut used, rng)?;
            let mid = offer.media().get(i).and_then(Media::mid).map(str::to_owned);
            if let MediaState::Rejected(r) = &served.state {
                first_reject.get_or_insert(*r);
            } else if let Some(m) = &mid {
                accepted_mids.push(m.clone());
            }
            sdp.push_media(served.media);
            outcomes.push(MediaOutcome {
                index: i,
                mid,
                state: served.state,
            });
            current.push(served.current);
        }
        if outcomes
            .iter()
            .all(|o| matches!(o.state, MediaState::Rejected(_)))
        {
            return Err(OfferError::NothingAcceptable(
                first_reject.unwrap_or(RejectReason::NoLocalMedia),
            ));
        }
        for group in offer.bundle_groups() {
            let mids: Vec<&str> = group
                .iter()
                .filter(|g| accepted_mids.iter().any(|a| a == *g))
                .map(String::as_str)
                .collect();
            if !mids.is_empty() {
                sdp.push_session(line('a', &format!("group:BUNDLE {}", mids.join(" ")))?);
            }
        }
        self.version = version;
        self.current = current;
        Ok(Answer {
            sdp,
            media: outcomes,
        })
    }

    fn reject_or_refuse(
        &self,
        i: usize,
        ml: &MediaLine,
        mid: Option<&str>,
        r: RejectReason,
    ) -> Result<Served, OfferError> {
        let policy_applies = matches!(
            r,
            RejectReason::HoldConn
                | RejectReason::MissingFingerprint
                | RejectReason::NoUsableFingerprint
        );
        if policy_applies && self.config.reject_policy == RejectPolicy::RefuseOffer {
            return Err(OfferError::Refused {
                media: i,
                reason: r,
            });
        }
        Ok(Served {
            media: rejected_media(ml, mid)?,
            state: MediaState::Rejected(r),
            current: None,
        })
    }

    fn serve(
        &self,
        offer: &Sdp,
        i: usize,
        media: &[LocalMedia],
        used: &mut [bool],
        rng: &mut dyn Rng,
    ) -> Result<Served, OfferError> {
        let Some(om) = offer.media().get(i) else {
            return Err(OfferError::NothingAcceptable(RejectReason::NoLocalMedia));
        };
        let ml = om.media_line();
        let mid = om.mid();
        if ml.port == 0 {
            return self.reject_or_refuse(i, ml, mid, RejectReason::PortZero);
        }
        let plan = if ml.proto.is_udp_dtls_srtp() {
            Plan::Dtls {
                proto: ml.proto.clone(),
                acfg: None,
            }
        } else if ml.proto.is_plain_rtp() {
            match capneg_choice(offer, i) {
                Some((n, t, proto)) => Plan::Dtls {
                    proto,
                    acfg: Some((n, t)),
                },
                None => Plan::Plain,
            }
        } else if matches!(ml.proto, Proto::RtpSavp | Proto::RtpSavpf) {
            Plan::Reject(RejectReason::SdesNotSupported)
        } else {
            Plan::Reject(RejectReason::UnsupportedProto)
        };
        let (proto, acfg) = match plan {
            Plan::Reject(r) => return self.reject_or_refuse(i, ml, mid, r),
            Plan::Plain if self.config.rtp_policy != RtpPolicy::AllowRtp => {
                return self.reject_or_refuse(i, ml, mid, RejectReason::PlainRtpNotAllowed)
            }
            Plan::Plain => (ml.proto.clone(), None),
            Plan::Dtls { proto, acfg } => (proto, acfg),
        };
        // DTLS prerequisites first: they may refuse the whole offer.
        let offered_setup = offer.media_setup(i).unwrap_or(Setup::Active); // §2.4: absent = active (legacy)
        let remote_fingerprints = offer.media_fingerprints(i);
        let problem = if !proto.is_udp_dtls_srtp() {
            None
        } else if offered_setup == Setup::HoldConn {
            Some(RejectReason::HoldConn)
        } else if !offer.media_has_fingerprint_line(i) {
            Some(RejectReason::MissingFingerprint)
        } else if preferred_set(&remote_fingerprints).is_empty() {
            Some(RejectReason::NoUsableFingerprint)
        } else {
            None
        };
        let (proto, acfg) = match problem {
            None => (proto, acfg),
            // B-3: a best-effort offer whose DTLS configuration is unusable still has its plain RTP actual
            // configuration, allowed by policy.
            Some(_) if acfg.is_some() && self.config.rtp_policy == RtpPolicy::AllowRtp => {
                (ml.proto.clone(), None)
            }
            Some(r) => return self.reject_or_refuse(i, ml, mid, r),
        };
        let is_dtls = proto.is_udp_dtls_srtp();
        let Some(slot) = (0..media.len()).find(|&k| {
            !used.get(k).copied().unwrap_or(true)
                && media.get(k).is_some_and(|l| l.kind == ml.media)
        }) else {
            return self.reject_or_refuse(i, ml, mid, RejectReason::NoLocalMedia);
        };
        let Some(local) = media.get(slot) else {
            return self.reject_or_refuse(i, ml, mid, RejectReason::NoLocalMedia);
        };
        let codecs = intersect(&remote_codecs(om), &local.codecs);
        if codecs.iter().all(Codec::is_event) {
            // Nothing in common, or only RFC 4733 events: no audio codec to carry the call (W-3).
            return self.reject_or_refuse(i, ml, mid, RejectReason::NoCommonCodec);
        }
        let remote_address = offer.media_connection(i).map(|c| c.address.clone());
        let remote_ice = remote_ice(offer, i);
        let our_ice = self.config.ice.as_ref().filter(|_| remote_ice.is_some());
        let remote_tls_id = effective_tls_id(offer, i);
        let local_transport = (self.config.address.to_string(), local.port);
        let remote_transport = (remote_address.clone().unwrap_or_default(), ml.port);
        let ice = our_ice.is_some();
        let prev = self
            .current
            .get(i)
            .and_then(Option::as_ref)
            .map(|c| &c.snapshot)
            .filter(|_| is_dtls);
        // Does the offer keep the association (T-5.5b) or ask for a new one (T-5.5a, T-4d)?
        let offer_keeps = prev.map(|p| {
            let tls_same = match (&p.remote_tls_id, &remote_tls_id) {
                (Some(a), Some(b)) => a == b,
                (None, None) => {
                    (ice && p.ice)
                        || (p.remote_transport == remote_transport
                            && p.local_transport == local_transport)
                }
                _ => false,
            };
            tls_same && same_set(&p.remote_fingerprints, &remote_fingerprints)
        });
        if offer_keeps == Some(false) && self.config.refuse_new_association {
            // T-5.3b: an answerer that will not accept a requested new association rejects the m-line.
            return self.reject_or_refuse(i, ml, mid, RejectReason::NewAssociationRefused);
        }
        let keep = prev.filter(|p| {
            offer_keeps == Some(true) && same_set(&p.local_fingerprints, &self.config.fingerprints)
        });
        if let Some(u) = used.get_mut(slot) {
            *u = true;
        }
        let mut m = Media::new(MediaLine {
            media: ml.media.clone(),
            port: local.port,
            port_count: None,
            proto: proto.clone(),
            formats: codecs.iter().map(|c| c.pt.to_string()).collect(),
        });
        push_codecs(&mut m, &codecs, self.config.ptime)?;
        m.push(line(
            'a',
            answer_direction(offer.media_direction(i), local.direction).name(),
        )?);
        if let Some(mid) = mid {
            m.push(line('a', &format!("mid:{mid}"))?);
        }
        if !is_dtls {
            return Ok(Served {
                media: m,
                state: MediaState::PlainRtp(PlainRtpMedia {
                    codecs,
                    remote_address,
                    remote_port: ml.port,
                }),
                current: None,
            });
        }
        if let Some(ice) = our_ice {
            push_ice(&mut m, ice)?;
        }
        let local_role = match offered_setup {
            Setup::Active => HandshakeRole::Server,
            Setup::Passive => HandshakeRole::Client,
            _ => match (keep, self.config.answer_setup) {
                (Some(p), _) => p.local_role, // T-5.3c
                (None, AnswerSetup::Active) => HandshakeRole::Client,
                (None, AnswerSetup::Passive) => HandshakeRole::Server,
            },
        };
        let local_tls_id: Option<TlsId> = remote_tls_id.as_ref().map(|_| {
            keep.and_then(|p| p.local_tls_id.clone())
                .unwrap_or_else(|| TlsId::generate(rng))
        });
        let ours = answer_fingerprints(&self.config.fingerprints, &remote_fingerprints);
        // T-4e: with BUNDLE, tls-id only on the tag (first accepted m-line of the group).
        let bundled_not_tag = mid.is_some_and(|x| {
            offer
                .bundle_groups()
                .any(|g| g.iter().any(|y| y == x) && g.first().is_some_and(|f| f != x))
        });
        let written_tls = local_tls_id.as_ref().filter(|_| !bundled_not_tag);
        push_dtls(&mut m, &ours, setup_of(local_role), written_tls)?;
        let rtcp_mux = om.rtcp_mux();
        if rtcp_mux {
            m.push(line('a', "rtcp-mux")?);
        }
        if let Some((n, t)) = acfg {
            m.push(line('a', &format!("acfg:{n} t={t}"))?);
        }
        let snapshot = AssocSnapshot {
            local_role,
            local_fingerprints: self.config.fingerprints.clone(),
            remote_fingerprints: remote_fingerprints.clone(),
            local_tls_id: local_tls_id.clone(),
            remote_tls_id: remote_tls_id.clone(),
            local_transport,
            remote_transport,
            ice,
        };
        let association = decide(prev, &snapshot);
        let dtls = DtlsMedia {
            local_setup: setup_of(local_role),
            remote_setup: offered_setup,
            local_role,
            remote_fingerprints,
            local_tls_id,
            remote_tls_id,
            association,
            proto,
            codecs,
            rtcp_mux,
            remote_address,
            remote_port: ml.port,
            remote_rtcp_port: remote_rtcp_port(om, rtcp_mux),
            remote_ice,
            capneg: acfg.is_some(),
        };
        Ok(Served {
            media: m,
            state: MediaState::Dtls(Box::new(dtls)),
            current: Some(Current {
                snapshot,
                local: local.clone(),
            }),
        })
    }
}
