//! UAC side of calls (RFC 3261 §13.2, §9.1, §15; RFC 3262 §4): INVITE with or without an offer, one early dialog
//! per To-tag (F-6.3, T-8a), first 2xx wins and later 2xx get ACK + BYE (§13.2.2.4), ACK for 2xx built here and
//! resent on 2xx retransmissions, PRACK for reliable provisionals, CANCEL, BYE.

use std::time::Instant;

use super::transport::token;
use super::{
    body_opt, modify, Call, CallId, Core, EndReason, Event, Fork, ForkId, OfferState, Purpose,
    RequestExtras, UaError, UserAgent,
};
use crate::dialog::Dialog;
use crate::header::{HeaderName, NameAddr};
use crate::message::{Request, Response};
use crate::method::Method;
use crate::transaction::ClientKey;
use crate::transaction::{build_cancel, TxEvent};
use crate::uri::{SipUri, Uri};

impl UserAgent {
    /// Calls `target` with an SDP offer (`None`: delayed offer, F-6.4; the offer comes in the 2xx and
    /// [`UserAgent::ack`] carries the answer). The INVITE is queued at once.
    pub fn call(
        &mut self,
        now: Instant,
        target: &SipUri,
        offer: Option<Vec<u8>>,
    ) -> Result<CallId, UaError> {
        self.call_with(now, target, offer, &RequestExtras::default())
    }

    /// [`UserAgent::call`] with `extras`: the INVITE made anonymous first ([`crate::identity::anonymize`]:
    /// `Privacy: id`, anonymous From, F-6.1), then each extra header field set (replacing one of the same
    /// name), e.g. `Identity`, `Date`, `Supported: 100rel, from-change` (RFC 8224, RFC 4916).
    pub fn call_with(
        &mut self,
        now: Instant,
        target: &SipUri,
        offer: Option<Vec<u8>>,
        extras: &RequestExtras,
    ) -> Result<CallId, UaError> {
        let core = &mut self.core;
        let hop = core.resolve(target)?;
        let tag = token(&mut core.rng, 8);
        let call_id = token(&mut core.rng, 16);
        let seq = (core.rng.u32() & 0xffff) + 1;
        let mut req = Request::new(Method::Invite, target.clone());
        let h = &mut req.headers;
        h.add(HeaderName::Via, &core.via(hop.0)?)?;
        h.add(HeaderName::MaxForwards, "70")?;
        let from_uri = SipUri::parse(&format!("sip:{}@{}", core.cfg.user, core.cfg.domain))
            .map_err(|e| UaError::Header(e.into()))?;
        let mut from = NameAddr::new(Uri::Sip(from_uri));
        from.set_tag(&tag);
        h.add(HeaderName::From, &from.to_string())?;
        h.add(
            HeaderName::To,
            &NameAddr::new(Uri::Sip(target.clone())).to_string(),
        )?;
        h.add(HeaderName::CallId, &call_id)?;
        h.add(HeaderName::CSeq, &format!("{seq} INVITE"))?;
        h.add(HeaderName::Contact, &core.contact(hop.0)?)?;
        core.add_common(h, true)?;
        extras.apply(h)?;
        let oa = if offer.is_some() {
            OfferState::LocalOffer
        } else {
            OfferState::Stable
        };
        Core::set_sdp(&mut req.headers, &mut req.body, offer)?;
        let id = CallId(core.next_id());
        let key = core.send_request(now, req.clone(), hop, (Some(id), Purpose::Invite))?;
        self.insert_call(Call {
            id,
            uac: true,
            transport: hop.0,
            hop,
            call_id,
            local_tag: tag,
            invite: Some(req),
            invite_key: Some(key),
            auth_nonce: None,
            got_provisional: false,
            cancel_requested: false,
            cancel_sent: false,
            no_more_answers: false,
            winner: None,
            ack_pending: None,
            uas: None,
            rel: None,
            ok_retx: None,
            bye_after_ack: false,
            queued_answer: None,
            forks: Vec::new(),
            out_mod: None,
            in_mod: None,
            invite_offer: oa == OfferState::LocalOffer,
            ended: None,
        });
        self.pump(now);
        Ok(id)
    }

    /// Ends a call: CANCEL before a final response (sent once a provisional arrived, RFC 3261 §9.1; a 2xx that
    /// still comes gets ACK + BYE), BYE after the 2xx (as callee: once our 2xx is ACKed, §15), or 603 when we are
    /// the UAS and have not answered. [`Event::Terminated`] follows.
    pub fn hangup(&mut self, now: Instant, call: CallId) -> Result<(), UaError> {
        let r = self
            .with_call(call, |core, c| hangup(core, c, now))
            .ok_or(UaError::UnknownCall)?;
        self.pump(now);
        r
    }

    /// Sends the ACK carrying the answer to an offer that came in a 2xx (delayed offer, F-6.4; or a bodiless
    /// re-INVITE).
    pub fn ack(&mut self, now: Instant, call: CallId, answer: Vec<u8>) -> Result<(), UaError> {
        let r = self
            .with_call(call, |core, c| {
                let cseq = c.ack_pending.ok_or(UaError::WrongState)?;
                let fork = c.current().map(|f| f.id).ok_or(UaError::NoDialog)?;
                send_ack(core, c, fork, cseq, Some(answer))?;
                c.ack_pending = None;
                c.set_oa(fork, OfferState::Stable);
                Ok(())
            })
            .ok_or(UaError::UnknownCall)?;
        self.pump(now);
        r
    }

    /// Sends the PRACK carrying the answer to an offer that came in a reliable provisional of `fork` (delayed
    /// offer, F-6.4: "answer in ACK or PRACK").
    pub fn prack(
        &mut self,
        now: Instant,
        call: CallId,
        fork: ForkId,
        answer: Vec<u8>,
    ) -> Result<(), UaError> {
        let r = self
            .with_call(call, |core, c| {
                let f = c.fork_mut(fork).ok_or(UaError::NoDialog)?;
                let (rseq, cseq) = f.prack_pending.ok_or(UaError::WrongState)?;
                send_prack(core, c, now, fork, rseq, cseq, Some(answer))?;
                if let Some(f) = c.fork_mut(fork) {
                    f.prack_pending = None;
                    f.oa = OfferState::Stable;
                    f.early_oa_done = true;
                }
                Ok(())
            })
            .ok_or(UaError::UnknownCall)?;
        self.pump(now);
        r
    }

    /// A response no transaction matched: a 2xx retransmission after the INVITE transaction ended (RFC 6026 §8.4).
    pub(super) fn on_stray_response(&mut self, now: Instant, r: Response) {
        if !(200..300).contains(&r.status)
            || r.headers.cseq().map(|c| &c.method) != Some(&Method::Invite)
        {
            return;
        }
        let (Some(cid), Some(tag)) = (r.headers.call_id(), r.headers.from().and_then(|f| f.tag()))
        else {
            return;
        };
        let Some(&id) = self.by_dialog.get(&(cid.to_owned(), tag.to_owned())) else {
            return;
        };
        self.with_call(id, |core, c| on_2xx(core, c, now, r));
    }
}

fn hangup(core: &mut Core, c: &mut Call, now: Instant) -> Result<(), UaError> {
    if c.uac && c.winner.is_none() {
        c.cancel_requested = true;
        if c.got_provisional {
            send_cancel(core, c, now)?;
        }
        return Ok(());
    }
    if !c.uac && c.uas.as_ref().is_some_and(|u| !u.final_sent) {
        return super::server::reject_call(core, c, now, 603);
    }
    if !c.uac && c.ok_retx.is_some() {
        // §15: the callee sends BYE only after the ACK of its 2xx (or when it never comes).
        c.bye_after_ack = true;
        return Ok(());
    }
    let fork = c.current().map(|f| f.id).ok_or(UaError::NoDialog)?;
    if let Some(cseq) = c.ack_pending.take() {
        // The 2xx (delayed offer) still waits for its ACK: the ACK goes first (§15.1.1).
        send_ack(core, c, fork, cseq, None)?;
    }
    send_bye(core, c, now, fork)?;
    c.ok_retx = None;
    c.ended = Some(EndReason::Local);
    Ok(())
}

fn send_cancel(core: &mut Core, c: &mut Call, now: Instant) -> Result<(), UaError> {
    if c.cancel_sent {
        return Ok(());
    }
    let Some(invite) = &c.invite else {
        return Err(UaError::WrongState);
    };
    let cancel = build_cancel(invite);
    core.send_request(now, cancel, c.hop, (Some(c.id), Purpose::Cancel))?;
    c.cancel_sent = true;
    Ok(())
}

/// ACK for a 2xx (§13.2.2.4): a new transaction-less request in the dialog with the INVITE's CSeq number.
pub(super) fn send_ack(
    core: &mut Core,
    c: &mut Call,
    fork: ForkId,
    cseq: u32,
    body: Option<Vec<u8>>,
) -> Result<(), UaError> {
    let t = c.transport;
    let via = core.via(t)?;
    let f = c.fork_mut(fork).ok_or(UaError::NoDialog)?;
    let mut ack = f
        .dialog
        .build_request(Method::Ack, &via, None, Some(cseq))?;
    Core::set_sdp(&mut ack.headers, &mut ack.body, body)?;
    let hop = core.dialog_hop(&f.dialog)?;
    core.emit_bytes(hop.0, hop.1, ack.to_bytes());
    f.ack = Some(ack);
    Ok(())
}

pub(super) fn send_bye(
    core: &mut Core,
    c: &mut Call,
    now: Instant,
    fork: ForkId,
) -> Result<(), UaError> {
    let t = c.transport;
    let via = core.via(t)?;
    let f = c.fork_mut(fork).ok_or(UaError::NoDialog)?;
    let mut bye = f.dialog.build_request(Method::Bye, &via, None, None)?;
    core.add_common(&mut bye.headers, true)?;
    let hop = core.dialog_hop(&f.dialog)?;
    f.ended = true;
    core.send_request(now, bye, hop, (Some(c.id), Purpose::Bye))?;
    Ok(())
}

/// The fork of a response with a To tag, created from it when new.
fn fork_for(core: &mut Core, c: &mut Call, r: &Response) -> Option<ForkId> {
    let tag = r.headers.to()?.tag()?;
    if let Some(id) = c.fork_by_tag(tag) {
        return Some(id);
    }
    let dialog = Dialog::uac(c.invite.as_ref()?, r).ok()?;
    let id = ForkId(core.next_id());
    c.forks.push(Fork {
        id,
        dialog,
        ack: None,
        last_rseq: None,
        ended: false,
        early_oa_done: false,
        prack_pending: None,
        oa: if c.invite_offer {
            OfferState::LocalOffer
        } else {
            OfferState::Stable
        },
    });
    Some(id)
}

pub(super) fn on_event(
    core: &mut Core,
    c: &mut Call,
    now: Instant,
    key: &ClientKey,
    purpose: Purpose,
    ev: TxEvent,
) {
    match purpose {
        // A challenged INVITE's old transaction finishes on its own; only the live one speaks for the call.
        Purpose::Invite if c.invite_key.as_ref() == Some(key) => on_invite_event(core, c, now, ev),
        Purpose::Invite => {}
        Purpose::Modify(kind) => modify::on_response_event(core, c, now, kind, ev),
        Purpose::Bye | Purpose::Cancel | Purpose::Prack | Purpose::Register(_) => {}
    }
}

fn on_invite_event(core: &mut Core, c: &mut Call, now: Instant, ev: TxEvent) {
    match ev {
        TxEvent::Response(r) if r.status < 200 => on_provisional(core, c, now, r),
        TxEvent::Response(r) if r.status < 300 => on_2xx(core, c, now, r),
        TxEvent::Response(r)
            if c.winner.is_none()
                && !c.cancel_requested
                && matches!(r.status, 401 | 407)
                && retry_with_auth(core, c, now, &r).is_ok() => {}
        TxEvent::Response(r) if c.winner.is_none() => {
            let reason = if c.cancel_requested && r.status == 487 {
                EndReason::Cancelled
            } else {
                EndReason::Rejected(r.status)
            };
            fail(core, c, reason);
        }
        TxEvent::Timeout if c.winner.is_none() => fail(core, c, EndReason::Timeout),
        TxEvent::TransportError if c.winner.is_none() => fail(core, c, EndReason::TransportError),
        TxEvent::Terminated => {
            // The INVITE transaction is over (Timer M after the 2xx): the other early dialogs end (§13.2.2.4).
            end_forks(core, c);
            no_more_answers(core, c);
            if c.winner.is_none() && c.ended.is_none() {
                // e.g. a 2xx we could not use (no Contact): nothing more can come
                c.ended = Some(EndReason::Timeout);
            }
        }
        _ => {}
    }
}

/// RFC 3261 §22.2: resend the INVITE with credentials for the challenge, CSeq + 1, a new branch.
fn retry_with_auth(
    core: &mut Core,
    c: &mut Call,
    now: Instant,
    r: &Response,
) -> Result<(), UaError> {
    let creds = core.cfg.credentials.clone().ok_or(UaError::WrongState)?;
    let proxy = r.status == 407;
    // Issue 12 item 11: only the configured outbound proxy or a registrar we are registered at may ask, the
    // challenge must come back from that very address, and carry the bound realm (configured, or the one that
    // registrar accepted); the RFC 2069 form only when allowed.
    let hop = c.hop.1;
    let learned = core.registrars.get(&hop);
    let trusted = core.cfg.outbound_proxy.is_some_and(|p| p.1 == hop) || learned.is_some();
    let from_hop = c
        .invite_key
        .as_ref()
        .and_then(|k| core.response_source(k))
        .is_some_and(|src| src == c.hop);
    let realm = creds
        .bound_realm(learned.and_then(|l| l.as_deref()))
        .ok_or(UaError::WrongState)?;
    if !trusted || !from_hop {
        return Err(UaError::WrongState);
    }
    let ch = if proxy {
        creds.choose(r.headers.proxy_authenticate(), Some(realm))
    } else {
        creds.choose(r.headers.www_authenticate(), Some(realm))
    }
    .ok_or(UaError::WrongState)?;
    if c.auth_nonce.is_some() && !ch.stale {
        return Err(UaError::WrongState); // challenged again after our credentials: refused
    }
    let mut req = c.invite.clone().ok_or(UaError::WrongState)?;
    let seq = req.headers.cseq().map_or(0, |s| s.seq).wrapping_add(1) & crate::header::CSEQ_MAX;
    req.headers.set(HeaderName::Via, &core.via(c.hop.0)?)?;
    req.headers
        .set(HeaderName::CSeq, &format!("{seq} INVITE"))?;
    let cnonce = token(&mut core.rng, 8);
    let auth = ch.authorize(&creds, "INVITE", req.uri.as_str(), &cnonce, 1);
    let name = if proxy {
        HeaderName::ProxyAuthorization
    } else {
        HeaderName::Authorization
    };
    req.headers.set(name, &auth.to_string())?;
    let key = core.send_request(now, req.clone(), c.hop, (Some(c.id), Purpose::Invite))?;
    c.auth_nonce = Some(ch.nonce);
    c.invite = Some(req);
    c.invite_key = Some(key);
    c.got_provisional = false;
    Ok(())
}

fn fail(core: &mut Core, c: &mut Call, reason: EndReason) {
    end_forks(core, c);
    no_more_answers(core, c);
    c.ended = Some(reason);
}

fn end_forks(core: &mut Core, c: &mut Call) {
    let winner = c.winner;
    for f in c
        .forks
        .iter_mut()
        .filter(|f| !f.ended && Some(f.id) != winner)
    {
        f.ended = true;
        core.events.push_back(Event::ForkEnded {
            call: c.id,
            fork: f.id,
        });
    }
}

fn no_more_answers(core: &mut Core, c: &mut Call) {
    if !c.no_more_answers {
        c.no_more_answers = true;
        core.events.push_back(Event::NoMoreAnswers { call: c.id });
    }
}

fn on_provisional(core: &mut Core, c: &mut Call, now: Instant, r: Response) {
    c.got_provisional = true;
    if c.cancel_requested && !c.cancel_sent {
        let _ = send_cancel(core, c, now);
    }
    if r.status == 100 {
        return;
    }
    let fork = fork_for(core, c, &r);
    // RFC 3262 §4: a reliable provisional is PRACKed once; retransmissions (same or lower RSeq) are dropped.
    let reliable = r
        .headers
        .require()
        .any(|t| t.eq_ignore_ascii_case("100rel"));
    if let (true, Some(rseq), Some(fid)) = (reliable, r.headers.rseq(), fork) {
        let invite_seq = r.headers.cseq().map_or(0, |s| s.seq);
        let Some(f) = c.fork_mut(fid) else { return };
        if f.last_rseq.is_some_and(|l| rseq <= l) {
            return;
        }
        f.last_rseq = Some(rseq);
        match (r.body.is_empty(), f.oa, f.early_oa_done) {
            // An answer in a reliable provisional completes this early dialog's offer/answer (RFC 3262 §5).
            (false, OfferState::LocalOffer, _) => {
                f.oa = OfferState::Stable;
                f.early_oa_done = true;
            }
            // Delayed offer (F-6.4): the offer came in the reliable provisional; the user answers in the PRACK.
            (false, OfferState::Stable, false) => {
                f.oa = OfferState::RemoteOffer;
                f.prack_pending = Some((rseq, invite_seq));
            }
            _ => {}
        }
        if f.prack_pending.is_none() {
            let _ = send_prack(core, c, now, fid, rseq, invite_seq, None);
        }
    }
    core.events.push_back(Event::Provisional {
        call: c.id,
        fork,
        status: r.status,
        body: body_opt(&r.body),
    });
}

fn send_prack(
    core: &mut Core,
    c: &mut Call,
    now: Instant,
    fork: ForkId,
    rseq: u32,
    cseq: u32,
    body: Option<Vec<u8>>,
) -> Result<(), UaError> {
    let t = c.transport;
    let via = core.via(t)?;
    let f = c.fork_mut(fork).ok_or(UaError::NoDialog)?;
    let mut prack = f.dialog.build_request(Method::Prack, &via, None, None)?;
    prack
        .headers
        .add(HeaderName::RAck, &format!("{rseq} {cseq} INVITE"))?;
    Core::set_sdp(&mut prack.headers, &mut prack.body, body)?;
    let hop = core.dialog_hop(&f.dialog)?;
    core.send_request(now, prack, hop, (Some(c.id), Purpose::Prack))?;
    Ok(())
}

/// A 2xx to the initial INVITE (or its retransmission, or one from another fork).
fn on_2xx(core: &mut Core, c: &mut Call, now: Instant, r: Response) {
    let seq = r.headers.cseq().map_or(0, |s| s.seq);
    let invite_seq = c
        .invite
        .as_ref()
        .and_then(|i| i.headers.cseq())
        .map_or(0, |s| s.seq);
    if seq != invite_seq {
        // A re-INVITE's 2xx retransmitted: resend its ACK.
        resend_ack(core, c, &r, seq);
        return;
    }
    let Some(fid) = fork_for(core, c, &r) else {
        return;
    };
    match c.winner {
        None => {
            c.winner = Some(fid);
            if let Some(f) = c.fork_mut(fid) {
                f.dialog.confirm_uac(&r);
            }
            if c.cancel_requested {
                // Our CANCEL lost the race: ACK then BYE (§9.1, §15).
                let _ = send_ack(core, c, fid, seq, None);
                let _ = send_bye(core, c, now, fid);
                c.ended = Some(EndReason::Local);
                return;
            }
            let body = body_opt(&r.body);
            let early_done = c.fork_mut(fid).is_some_and(|f| f.early_oa_done);
            if !c.invite_offer && !early_done && body.is_some() {
                // Delayed offer (F-6.4): the 2xx carries the offer; the user answers in the ACK.
                c.set_oa(fid, OfferState::RemoteOffer);
                c.ack_pending = Some(seq);
            } else {
                c.set_oa(fid, OfferState::Stable);
                let _ = send_ack(core, c, fid, seq, None);
            }
            core.events.push_back(Event::Answered {
                call: c.id,
                fork: fid,
                body,
            });
        }
        Some(w) if w == fid => resend_ack(core, c, &r, seq),
        Some(_) => {
            let already = c.fork_mut(fid).is_some_and(|f| f.ack.is_some());
            if already {
                resend_ack(core, c, &r, seq);
                return;
            }
            // §13.2.2.4: a 2xx from another fork after the first: ACK it and BYE that dialog.
            if let Some(f) = c.fork_mut(fid) {
                f.dialog.confirm_uac(&r);
            }
            let _ = send_ack(core, c, fid, seq, None);
            let _ = send_bye(core, c, now, fid);
            core.events.push_back(Event::ForkEnded {
                call: c.id,
                fork: fid,
            });
        }
    }
}

pub(super) fn resend_ack(core: &mut Core, c: &mut Call, r: &Response, seq: u32) {
    let Some(tag) = r.headers.to().and_then(|t| t.tag()) else {
        return;
    };
    let Some(fid) = c.fork_by_tag(tag) else {
        return;
    };
    let Some(f) = c.fork_mut(fid) else { return };
    let Some(ack) = f
        .ack
        .as_ref()
        .filter(|a| a.headers.cseq().map(|s| s.seq) == Some(seq))
    else {
        return;
    };
    let bytes = ack.to_bytes();
    if let Ok(hop) = core.dialog_hop(&f.dialog) {
        core.emit_bytes(hop.0, hop.1, bytes);
    }
}
