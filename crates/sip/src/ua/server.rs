//! UAS side (RFC 3261 §8.2, §13.3, §12.2.2, §9.2, §15; RFC 3262 §3): request validation with the right status,
//! incoming calls, 1xx (reliable with 100rel), 2xx retransmitted until ACK, CANCEL → 487, BYE, PRACK, OPTIONS.

use std::net::SocketAddr;
use std::time::Instant;

use super::transport::token;
use super::{
    body_opt, client, modify, Call, CallId, Core, EndReason, Event, Fork, ForkId, OfferState,
    OkRetx, RelProv, TransportKind, UaError, UasInvite, UserAgent,
};
use crate::dialog::{Dialog, DialogState};
use crate::header::HeaderName;
use crate::message::{Request, Response};
use crate::method::Method;
use crate::transaction::{Admission, Incoming, ServerKey};

/// Methods the UA accepts (the rest get 405 with Allow, RFC 3261 §8.2.1).
fn allowed(m: &Method) -> bool {
    matches!(
        m,
        Method::Invite
            | Method::Ack
            | Method::Bye
            | Method::Cancel
            | Method::Options
            | Method::Prack
            | Method::Update
    )
}

/// Answers a server transaction: status, To tag, Supported/Allow/Server, extra headers.
pub(super) fn respond(
    core: &mut Core,
    now: Instant,
    key: &ServerKey,
    req: &Request,
    status: u16,
    tag: Option<&str>,
    extra: &[(HeaderName, &str)],
) -> Result<(), UaError> {
    let mut resp = Response::from_request(req, status, tag)?;
    if status > 100 {
        core.add_common(&mut resp.headers, false)?;
    }
    for (n, v) in extra {
        resp.headers.add(n.clone(), v)?;
    }
    core.layer.respond(now, key, resp)?;
    Ok(())
}

/// [`respond`] with a final response that ends the transaction at once (RFC 3261 §8.2.7; R-2): for requests
/// refused before any state exists and for out-of-dialog OPTIONS, which need no Timer J/H-long memory. Their
/// retransmissions are answered from a short, bounded cache in the transaction layer.
fn respond_brief(
    core: &mut Core,
    now: Instant,
    key: &ServerKey,
    req: &Request,
    status: u16,
    tag: Option<&str>,
    extra: &[(HeaderName, &str)],
) -> Result<(), UaError> {
    let mut resp = Response::from_request(req, status, tag)?;
    core.add_common(&mut resp.headers, false)?;
    for (n, v) in extra {
        resp.headers.add(n.clone(), v)?;
    }
    core.layer.respond_stateless(now, key, resp)?;
    Ok(())
}

/// Requests of a live dialog (and CANCELs of a live INVITE) use the transaction table's dialog reserve, so a
/// flood of new requests never refuses them.
fn admission(ua: &UserAgent, req: &Request) -> Admission {
    let in_dialog = match (
        req.headers.call_id(),
        req.headers.to().and_then(|t| t.tag()),
    ) {
        (Some(cid), Some(tag)) => ua.by_dialog.contains_key(&(cid.to_owned(), tag.to_owned())),
        _ => false,
    };
    if in_dialog || (req.method == Method::Cancel && ua.core.layer.invite_for_cancel(req).is_some())
    {
        Admission::Dialog
    } else {
        Admission::New
    }
}

/// A response to an out-of-dialog request gets a To tag when it had none (§8.2.6.2).
fn fresh_tag(core: &mut Core, req: &Request) -> Option<String> {
    match req.headers.to().and_then(|t| t.tag()) {
        Some(_) => None,
        None => Some(token(&mut core.rng, 8)),
    }
}

pub(super) fn on_request(
    ua: &mut UserAgent,
    now: Instant,
    transport: TransportKind,
    remote: SocketAddr,
    req: Request,
) {
    let admission = admission(ua, &req);
    match ua
        .core
        .layer
        .handle_request_as(now, req, remote, transport.is_reliable(), admission)
    {
        Incoming::New(key, req) => {
            ua.core.srv_transport.insert(key.clone(), transport);
            new_request(ua, now, transport, remote, key, req)
        }
        Incoming::UnmatchedAck(ack) => on_unmatched_ack(ua, now, ack),
        Incoming::Overloaded(req) => {
            // No transaction: a stateless 503 (§21.5.4).
            let tag = fresh_tag(&mut ua.core, &req);
            if let Ok(mut r) = Response::from_request(&req, 503, tag.as_deref()) {
                let _ = r.headers.add(HeaderName::Other("Retry-After".into()), "5");
                ua.core.emit_bytes(transport, remote, r.to_bytes());
            }
        }
        Incoming::Absorbed => {}
    }
    ua.pump(now);
}

fn new_request(
    ua: &mut UserAgent,
    now: Instant,
    transport: TransportKind,
    remote: SocketAddr,
    key: ServerKey,
    req: Request,
) {
    let core = &mut ua.core;
    let tag = fresh_tag(core, &req);
    let tag = tag.as_deref();
    // §8.2 order: method, then extensions, then content; 483 first as no UA work is wanted for it.
    // Refusals before any state exists are answered statelessly (respond_brief, R-2).
    if req.headers.max_forwards() == Some(0) {
        let _ = respond_brief(core, now, &key, &req, 483, tag, &[]);
        return;
    }
    if !allowed(&req.method) {
        let _ = respond_brief(core, now, &key, &req, 405, tag, &[]);
        return;
    }
    if req.method != Method::Cancel {
        let use_100rel = core.cfg.use_100rel;
        let unknown: Vec<&str> = req
            .headers
            .require()
            .filter(|t| !(use_100rel && t.eq_ignore_ascii_case("100rel")))
            .collect();
        if !unknown.is_empty() {
            let list = unknown.join(", ");
            let _ = respond_brief(
                core,
                now,
                &key,
                &req,
                420,
                tag,
                &[(HeaderName::Unsupported, &list)],
            );
            return;
        }
    }
    let sdp = req
        .headers
        .content_type()
        .is_some_and(|t| t.is("application", "sdp"));
    let carries_sdp = matches!(req.method, Method::Invite | Method::Update | Method::Prack);
    if carries_sdp && !req.body.is_empty() && !sdp {
        let accept = [(HeaderName::Other("Accept".into()), "application/sdp")];
        let _ = respond_brief(core, now, &key, &req, 415, tag, &accept);
        return;
    }
    if req.method == Method::Cancel {
        on_cancel(ua, now, key, req);
        return;
    }
    if let Some(to_tag) = req.headers.to().and_then(|t| t.tag()) {
        let found = req
            .headers
            .call_id()
            .and_then(|cid| ua.by_dialog.get(&(cid.to_owned(), to_tag.to_owned())))
            .copied();
        match found {
            Some(id) => {
                ua.with_call(id, |core, c| in_dialog(core, c, now, key, req));
            }
            None => {
                let _ = respond_brief(&mut ua.core, now, &key, &req, 481, None, &[]);
            }
        }
        return;
    }
    match req.method {
        Method::Invite if ua.calls.len() >= core.cfg.max_calls => {
            let ra = [(HeaderName::Other("Retry-After".into()), "5")];
            let _ = respond_brief(core, now, &key, &req, 503, tag, &ra);
        }
        Method::Invite if merged(&ua.calls, &req) => {
            // §8.2.2.2: the same request reached us again by another path (a forking proxy).
            let _ = respond_brief(core, now, &key, &req, 482, tag, &[]);
        }
        Method::Invite => new_call(ua, now, transport, remote, key, req),
        Method::Options => {
            // Out of dialog, OPTIONS changes nothing: answered statelessly.
            let accept = [(HeaderName::Other("Accept".into()), "application/sdp")];
            let _ = respond_brief(core, now, &key, &req, 200, tag, &accept);
        }
        _ => {
            let _ = respond_brief(core, now, &key, &req, 481, tag, &[]);
        }
    }
}

/// A tagless INVITE whose Call-ID, From tag and CSeq match a call we are already answering (RFC 3261 §8.2.2.2).
fn merged(calls: &std::collections::HashMap<CallId, Call>, req: &Request) -> bool {
    let (Some(cid), Some(ftag), Some(seq)) = (
        req.headers.call_id(),
        req.headers.from().and_then(|f| f.tag()),
        req.headers.cseq().map(|s| s.seq),
    ) else {
        return false;
    };
    calls.values().any(|c| {
        c.uas.as_ref().is_some_and(|u| {
            u.request.headers.call_id() == Some(cid)
                && u.request.headers.from().and_then(|f| f.tag()) == Some(ftag)
                && u.request.headers.cseq().map(|s| s.seq) == Some(seq)
        })
    })
}

fn new_call(
    ua: &mut UserAgent,
    now: Instant,
    transport: TransportKind,
    remote: SocketAddr,
    key: ServerKey,
    req: Request,
) {
    let core = &mut ua.core;
    let tag = token(&mut core.rng, 8);
    let local_seq = core.rng.u32() & 0xffff;
    let dialog = match Dialog::uas(&req, &tag, local_seq) {
        Ok(d) => d,
        Err(e) => {
            let _ = respond_brief(core, now, &key, &req, e.status_code(), Some(&tag), &[]);
            return;
        }
    };
    let has = |t: &str| {
        req.headers
            .supported()
            .chain(req.headers.require())
            .any(|x| x.eq_ignore_ascii_case(t))
    };
    let peer_100rel = has("100rel");
    let peer_requires_100rel = req
        .headers
        .require()
        .any(|x| x.eq_ignore_ascii_case("100rel"));
    let id = CallId(core.next_id());
    let fork = ForkId(core.next_id());
    let offer = body_opt(&req.body);
    let from = req
        .headers
        .first(HeaderName::From)
        .map(|f| f.value())
        .unwrap_or_default();
    core.srv_owner.insert(key.clone(), id);
    let rseq = (core.rng.u32() & 0xffff) + 1;
    ua.insert_call(Call {
        id,
        uac: false,
        transport,
        hop: (transport, remote),
        call_id: dialog.id.call_id.clone(),
        local_tag: tag,
        invite: None,
        invite_key: None,
        auth_nonce: None,
        got_provisional: false,
        cancel_requested: false,
        cancel_sent: false,
        no_more_answers: true,
        winner: None,
        ack_pending: None,
        uas: Some(UasInvite {
            key,
            request: req,
            peer_100rel,
            peer_requires_100rel,
            rseq,
            final_sent: false,
            provisional_sent: false,
        }),
        rel: None,
        ok_retx: None,
        bye_after_ack: false,
        queued_answer: None,
        forks: vec![Fork {
            id: fork,
            dialog,
            ack: None,
            last_rseq: None,
            ended: false,
            early_oa_done: false,
            prack_pending: None,
            oa: if offer.is_some() {
                OfferState::RemoteOffer
            } else {
                OfferState::Stable
            },
        }],
        out_mod: None,
        in_mod: None,
        invite_offer: false,
        ended: None,
    });
    ua.core.events.push_back(Event::IncomingCall {
        call: id,
        from,
        offer,
    });
}

/// A response to the initial INVITE with our tag; 101–299 carry Contact and the Record-Route (§12.1.1).
fn uas_response(
    core: &Core,
    c: &Call,
    status: u16,
    body: Option<Vec<u8>>,
) -> Result<Response, UaError> {
    let req = &c.uas.as_ref().ok_or(UaError::WrongState)?.request;
    let mut r = Response::from_request(req, status, Some(&c.local_tag))?;
    if (101..300).contains(&status) {
        for rr in req.headers.all(HeaderName::RecordRoute) {
            r.headers.push(rr.clone());
        }
        r.headers
            .add(HeaderName::Contact, &core.contact(c.transport)?)?;
    }
    core.add_common(&mut r.headers, false)?;
    Core::set_sdp(&mut r.headers, &mut r.body, body)?;
    Ok(r)
}

impl UserAgent {
    /// Sends a provisional response (180, 183, ...) to an incoming call, with an optional body (early media,
    /// F-6.2). It is sent reliably (RFC 3262: Require 100rel, RSeq, retransmitted until PRACK) when the caller
    /// supports 100rel and it has a body or the caller requires 100rel.
    pub fn ring(
        &mut self,
        now: Instant,
        call: CallId,
        status: u16,
        body: Option<Vec<u8>>,
    ) -> Result<(), UaError> {
        if !(101..200).contains(&status) {
            return Err(UaError::Status(status));
        }
        let r = self
            .with_call(call, |core, c| {
                let uas = c.uas.as_ref().ok_or(UaError::WrongState)?;
                if uas.final_sent {
                    return Err(UaError::WrongState);
                }
                let reliable = core.cfg.use_100rel
                    && uas.peer_100rel
                    && (body.is_some() || uas.peer_requires_100rel);
                if reliable && c.rel.is_some() {
                    return Err(UaError::Pending);
                }
                let (key, rseq) = (uas.key.clone(), uas.rseq);
                let cseq = uas.request.headers.cseq().map_or(0, |s| s.seq);
                let has_body = body.is_some();
                let mut resp = uas_response(core, c, status, body)?;
                if reliable {
                    resp.headers.add(HeaderName::Require, "100rel")?;
                    resp.headers.add(HeaderName::RSeq, &rseq.to_string())?;
                }
                core.layer.respond(now, &key, resp.clone())?;
                if let Some(u) = c.uas.as_mut() {
                    u.provisional_sent = true;
                }
                if let (true, Some(fid)) = (has_body, c.current_id()) {
                    let next = match c.oa(fid) {
                        OfferState::RemoteOffer => OfferState::Stable,
                        OfferState::Stable if reliable => OfferState::LocalOffer,
                        s => s,
                    };
                    c.set_oa(fid, next);
                }
                if reliable {
                    if let Some(u) = c.uas.as_mut() {
                        u.rseq = u.rseq.wrapping_add(1);
                    }
                    let t1 = core.cfg.timers.t1;
                    let deadline = now + core.cfg.timers.timeout();
                    c.rel = Some(RelProv {
                        response: resp,
                        rseq,
                        cseq,
                        next: if c.transport.is_reliable() {
                            deadline
                        } else {
                            now + t1
                        },
                        interval: t1,
                        deadline,
                    });
                }
                Ok(())
            })
            .ok_or(UaError::UnknownCall)?;
        self.pump(now);
        r
    }

    /// Answers an incoming call with 200 OK and `body`: the answer, or the offer when the INVITE had none
    /// (F-6.4; the answer then arrives in [`Event::AckReceived`]). The 2xx is retransmitted until the ACK.
    pub fn answer(
        &mut self,
        now: Instant,
        call: CallId,
        body: Option<Vec<u8>>,
    ) -> Result<(), UaError> {
        let r = self
            .with_call(call, |core, c| {
                if c.uas.as_ref().is_none_or(|u| u.final_sent) || c.queued_answer.is_some() {
                    return Err(UaError::WrongState);
                }
                // RFC 3262 §3: no 2xx while a reliable provisional with a session description is unacknowledged;
                // the 2xx leaves when its PRACK arrives.
                if c.rel.as_ref().is_some_and(|r| !r.response.body.is_empty()) {
                    c.queued_answer = Some(body);
                    return Ok(());
                }
                answer_call(core, c, now, body)
            })
            .ok_or(UaError::UnknownCall)?;
        self.pump(now);
        r
    }

    /// Rejects an incoming call with a final status 300–699 (486 Busy, 488 Not Acceptable, 603 Decline...).
    pub fn reject(&mut self, now: Instant, call: CallId, status: u16) -> Result<(), UaError> {
        if !(300..700).contains(&status) {
            return Err(UaError::Status(status));
        }
        let r = self
            .with_call(call, |core, c| reject_call(core, c, now, status))
            .ok_or(UaError::UnknownCall)?;
        self.pump(now);
        r
    }
}

fn answer_call(
    core: &mut Core,
    c: &mut Call,
    now: Instant,
    body: Option<Vec<u8>>,
) -> Result<(), UaError> {
    let uas = c.uas.as_ref().ok_or(UaError::WrongState)?;
    if uas.final_sent {
        return Err(UaError::WrongState);
    }
    let key = uas.key.clone();
    let cseq = uas.request.headers.cseq().map_or(0, |s| s.seq);
    let invite_offered = !uas.request.body.is_empty();
    if let (true, Some(fid)) = (body.is_some(), c.current_id()) {
        let next = match c.oa(fid) {
            OfferState::RemoteOffer => OfferState::Stable,
            // The INVITE carried the offer and a reliable 1xx the answer (RFC 3262): the 2xx repeats that
            // answer, it is no new offer (RFC 6337 §3.1.1), so the dialog stays stable (a later UPDATE may offer).
            OfferState::Stable if invite_offered => OfferState::Stable,
            _ => OfferState::LocalOffer,
        };
        c.set_oa(fid, next);
    }
    let resp = uas_response(core, c, 200, body)?;
    core.layer.respond(now, &key, resp.clone())?;
    if let Some(u) = c.uas.as_mut() {
        u.final_sent = true;
    }
    c.rel = None;
    if let Some(f) = c.forks.first_mut() {
        f.dialog.state = DialogState::Confirmed;
    }
    start_ok_retx(core, c, now, key, resp, cseq);
    Ok(())
}

/// Starts retransmitting our 2xx to an INVITE until its ACK (Timer G style, T1 doubling to T2; Timer H style
/// give-up at 64*T1). On TCP/TLS only the give-up runs.
pub(super) fn start_ok_retx(
    core: &Core,
    c: &mut Call,
    now: Instant,
    key: ServerKey,
    response: Response,
    cseq: u32,
) {
    let t1 = core.cfg.timers.t1;
    c.ok_retx = Some(OkRetx {
        key,
        response,
        cseq,
        next: (!c.transport.is_reliable()).then_some(now + t1),
        interval: t1,
        deadline: now + core.cfg.timers.timeout(),
    });
}

pub(super) fn reject_call(
    core: &mut Core,
    c: &mut Call,
    now: Instant,
    status: u16,
) -> Result<(), UaError> {
    let uas = c.uas.as_ref().ok_or(UaError::WrongState)?;
    if uas.final_sent {
        return Err(UaError::WrongState);
    }
    let key = uas.key.clone();
    // A call refused before it rang (policy, a body that is not SDP, busy) needs no Timer G/H-long transaction:
    // the refusal is stateless, so a flood of refused INVITEs does not fill the table. A call that rang
    // (or is cancelled: 487) keeps the full RFC 3261 §17.2.1 transaction.
    let brief = !uas.provisional_sent && status != 487;
    let resp = uas_response(core, c, status, None)?;
    if brief {
        core.layer.respond_stateless(now, &key, resp)?;
    } else {
        core.layer.respond(now, &key, resp)?;
    }
    if let Some(u) = c.uas.as_mut() {
        u.final_sent = true;
    }
    c.rel = None;
    c.ended = Some(if status == 487 {
        EndReason::Cancelled
    } else {
        EndReason::Local
    });
    Ok(())
}

fn on_cancel(ua: &mut UserAgent, now: Instant, key: ServerKey, req: Request) {
    let target = ua.core.layer.invite_for_cancel(&req);
    let call = target
        .as_ref()
        .and_then(|k| ua.core.srv_owner.get(k))
        .copied();
    let Some(id) = call else {
        let tag = fresh_tag(&mut ua.core, &req);
        let _ = respond_brief(&mut ua.core, now, &key, &req, 481, tag.as_deref(), &[]);
        return;
    };
    ua.with_call(id, |core, c| {
        let tag = c.local_tag.clone();
        let _ = respond(core, now, &key, &req, 200, Some(&tag), &[]);
        // §9.2: the INVITE is answered 487 if no final response went out yet.
        if c.uas
            .as_ref()
            .is_some_and(|u| !u.final_sent && Some(&u.key) == target.as_ref())
        {
            let _ = reject_call(core, c, now, 487);
        } else if let Some(m) = c.in_mod.take_if(|m| Some(&m.key) == target.as_ref()) {
            // A cancelled re-INVITE: 487, the session stays as it was.
            if c.oa(m.fork) == OfferState::RemoteOffer {
                c.set_oa(m.fork, OfferState::Stable);
            }
            let _ = respond(core, now, &m.key, &m.request, 487, None, &[]);
            core.events.push_back(Event::ModifyCancelled { call: c.id });
        }
    });
}

fn in_dialog(core: &mut Core, c: &mut Call, now: Instant, key: ServerKey, req: Request) {
    let fork = req
        .headers
        .from()
        .and_then(|f| f.tag())
        .and_then(|t| c.fork_by_tag(t));
    let Some(fid) = fork.filter(|id| c.forks.iter().any(|f| f.id == *id && !f.ended)) else {
        let _ = respond(core, now, &key, &req, 481, None, &[]);
        return;
    };
    if let Some(f) = c.fork_mut(fid) {
        if let Err(e) = f.dialog.accept_remote_cseq(&req) {
            let _ = respond(core, now, &key, &req, e.status_code(), None, &[]);
            return;
        }
    }
    match req.method {
        Method::Bye => {
            let _ = respond(core, now, &key, &req, 200, None, &[]);
            if c.uas.as_ref().is_some_and(|u| !u.final_sent) {
                let _ = reject_call(core, c, now, 487);
            }
            let current = c.current().map(|f| f.id);
            if current == Some(fid) || current.is_none() {
                c.ended = Some(EndReason::RemoteBye);
            } else if let Some(f) = c.fork_mut(fid) {
                f.ended = true;
                core.events.push_back(Event::ForkEnded {
                    call: c.id,
                    fork: fid,
                });
            }
        }
        Method::Invite => modify::on_reinvite(core, c, now, fid, key, req),
        Method::Update => modify::on_update(core, c, now, fid, key, req),
        Method::Prack => on_prack(core, c, now, key, req),
        Method::Options => {
            let _ = respond(core, now, &key, &req, 200, None, &[]);
        }
        _ => {
            let _ = respond(core, now, &key, &req, 405, None, &[]);
        }
    }
}

fn on_prack(core: &mut Core, c: &mut Call, now: Instant, key: ServerKey, req: Request) {
    let matches = match (req.headers.rack(), &c.rel) {
        (Some(ra), Some(rel)) => {
            ra.rseq == rel.rseq && ra.cseq == rel.cseq && ra.method == Method::Invite
        }
        _ => false,
    };
    if !matches {
        // RFC 3262 §3: no unacknowledged reliable provisional matches.
        let _ = respond(core, now, &key, &req, 481, None, &[]);
        return;
    }
    c.rel = None;
    let _ = respond(core, now, &key, &req, 200, None, &[]);
    let body = body_opt(&req.body);
    if let Some(fid) = c
        .current_id()
        .filter(|f| body.is_some() && c.oa(*f) == OfferState::LocalOffer)
    {
        c.set_oa(fid, OfferState::Stable);
    }
    core.events
        .push_back(Event::PrackReceived { call: c.id, body });
    if let Some(answer) = c.queued_answer.take() {
        let _ = answer_call(core, c, now, answer);
    }
}

fn on_unmatched_ack(ua: &mut UserAgent, now: Instant, ack: Request) {
    let (Some(cid), Some(tag)) = (
        ack.headers.call_id(),
        ack.headers.to().and_then(|t| t.tag()),
    ) else {
        return;
    };
    let Some(&id) = ua.by_dialog.get(&(cid.to_owned(), tag.to_owned())) else {
        return;
    };
    ua.with_call(id, |core, c| on_ack(core, c, now, ack));
}

/// The ACK for our 2xx (initial INVITE or re-INVITE): stops retransmission; delivers the answer if it has one.
pub(super) fn on_ack(core: &mut Core, c: &mut Call, now: Instant, ack: Request) {
    let fork = c
        .forks
        .iter()
        .find(|f| f.dialog.matches_request(&ack))
        .map(|f| f.id);
    let seq = ack.headers.cseq().map(|s| s.seq);
    let Some(fid) = fork.filter(|_| c.ok_retx.as_ref().map(|o| o.cseq) == seq) else {
        return; // a retransmitted ACK, or not ours
    };
    c.ok_retx = None;
    if c.bye_after_ack {
        let _ = client::send_bye(core, c, now, fid);
        c.ended = Some(EndReason::Local);
        return;
    }
    let body = body_opt(&ack.body);
    if body.is_some() && c.oa(fid) == OfferState::LocalOffer {
        c.set_oa(fid, OfferState::Stable);
    }
    core.events
        .push_back(Event::AckReceived { call: c.id, body });
}

/// The UA core's own timers for one call: 2xx and reliable 1xx retransmission.
pub(super) fn on_timer(core: &mut Core, c: &mut Call, now: Instant) {
    let t2 = core.cfg.timers.t2;
    if let Some(o) = c.ok_retx.as_mut() {
        if now >= o.deadline {
            // §13.3.1.4: no ACK: confirm and then terminate the dialog with BYE.
            c.ok_retx = None;
            if let Some(fid) = c.current().map(|f| f.id) {
                let _ = client::send_bye(core, c, now, fid);
            }
            c.ended = Some(if c.bye_after_ack {
                EndReason::Local
            } else {
                EndReason::AckTimeout
            });
        } else if let Some(next) = o.next.filter(|n| *n <= now) {
            let _ = core.layer.respond(now, &o.key, o.response.clone());
            o.interval = o.interval.saturating_mul(2).min(t2);
            o.next = Some(next + o.interval);
        }
    }
    let key = c.uas.as_ref().map(|u| u.key.clone());
    if let (Some(r), Some(key)) = (c.rel.as_mut(), key) {
        if now >= r.deadline {
            // RFC 3262 §3: no PRACK within 64*T1: reject the INVITE with a 5xx.
            c.rel = None;
            if reject_call(core, c, now, 504).is_ok() {
                c.ended = Some(EndReason::Timeout);
            }
        } else if r.next <= now {
            let _ = core.layer.respond(now, &key, r.response.clone());
            r.interval = r.interval.saturating_mul(2);
            r.next += r.interval;
        }
    }
}
