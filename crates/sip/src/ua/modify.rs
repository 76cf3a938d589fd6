//! Session modification (RFC 3261 §14, RFC 3311 UPDATE, F-6.6): re-INVITE and UPDATE in both directions, target
//! refresh, the offer/answer state per call, glare (491) and overlapping requests (500 with Retry-After).

use std::time::Instant;

use super::{
    body_opt, client, server, Call, CallId, Core, Event, ForkId, InMod, ModifyKind, OfferState,
    OutMod, Purpose, RequestExtras, UaError, UserAgent,
};
use crate::dialog::DialogState;
use crate::header::HeaderName;
use crate::message::{Request, Response};
use crate::method::Method;
use crate::transaction::{ServerKey, TxEvent};

fn method(kind: ModifyKind) -> Method {
    match kind {
        ModifyKind::Reinvite => Method::Invite,
        ModifyKind::Update => Method::Update,
    }
}

impl UserAgent {
    /// Sends a re-INVITE or UPDATE in the call's dialog with an offer (`None`: a re-INVITE asking the peer to
    /// offer in its 2xx, or an UPDATE that only refreshes the target). Refused with [`UaError::Pending`] while
    /// another offer or INVITE transaction is outstanding (RFC 3261 §14.1, RFC 3311 §5.1).
    pub fn modify(
        &mut self,
        now: Instant,
        call: CallId,
        kind: ModifyKind,
        body: Option<Vec<u8>>,
    ) -> Result<(), UaError> {
        self.modify_with(now, call, kind, body, &RequestExtras::default())
    }

    /// [`UserAgent::modify`] with extra header fields (e.g. the RFC 4916 connected-identity UPDATE:
    /// `Supported: from-change` and `Identity`, I-3).
    pub fn modify_with(
        &mut self,
        now: Instant,
        call: CallId,
        kind: ModifyKind,
        body: Option<Vec<u8>>,
        extras: &RequestExtras,
    ) -> Result<(), UaError> {
        let r = self
            .with_call(call, |core, c| {
                send_modify(core, c, now, kind, body, extras)
            })
            .ok_or(UaError::UnknownCall)?;
        self.pump(now);
        r
    }

    /// Accepts the peer's re-INVITE or UPDATE with 200 and `body` (the answer; or our offer for a bodiless
    /// re-INVITE, answered in the ACK). A re-INVITE's 2xx is retransmitted until its ACK.
    pub fn accept_modify(
        &mut self,
        now: Instant,
        call: CallId,
        body: Option<Vec<u8>>,
    ) -> Result<(), UaError> {
        let r = self
            .with_call(call, |core, c| {
                let m = c.in_mod.take().ok_or(UaError::WrongState)?;
                if body.is_some() {
                    let next = match c.oa(m.fork) {
                        OfferState::RemoteOffer => OfferState::Stable,
                        _ => OfferState::LocalOffer,
                    };
                    c.set_oa(m.fork, next);
                }
                let mut resp = Response::from_request(&m.request, 200, None)?;
                resp.headers
                    .add(HeaderName::Contact, &core.contact(c.transport)?)?;
                core.add_common(&mut resp.headers, false)?;
                Core::set_sdp(&mut resp.headers, &mut resp.body, body)?;
                core.layer.respond(now, &m.key, resp.clone())?;
                if m.kind == ModifyKind::Reinvite {
                    let cseq = m.request.headers.cseq().map_or(0, |s| s.seq);
                    server::start_ok_retx(core, c, now, m.key, resp, cseq);
                }
                Ok(())
            })
            .ok_or(UaError::UnknownCall)?;
        self.pump(now);
        r
    }

    /// Rejects the peer's re-INVITE or UPDATE (488 Not Acceptable Here, 491...); the session stays as it was.
    pub fn reject_modify(
        &mut self,
        now: Instant,
        call: CallId,
        status: u16,
    ) -> Result<(), UaError> {
        if !(300..700).contains(&status) {
            return Err(UaError::Status(status));
        }
        let r = self
            .with_call(call, |core, c| {
                let m = c.in_mod.take().ok_or(UaError::WrongState)?;
                if c.oa(m.fork) == OfferState::RemoteOffer {
                    c.set_oa(m.fork, OfferState::Stable);
                }
                server::respond(core, now, &m.key, &m.request, status, None, &[])
            })
            .ok_or(UaError::UnknownCall)?;
        self.pump(now);
        r
    }
}

fn send_modify(
    core: &mut Core,
    c: &mut Call,
    now: Instant,
    kind: ModifyKind,
    body: Option<Vec<u8>>,
    extras: &RequestExtras,
) -> Result<(), UaError> {
    let fid = c.current_id().ok_or(UaError::NoDialog)?;
    if c.out_mod.is_some()
        || c.in_mod.is_some()
        || c.ack_pending.is_some()
        || (body.is_some() && c.oa(fid) != OfferState::Stable)
    {
        return Err(UaError::Pending);
    }
    if kind == ModifyKind::Reinvite && (c.ok_retx.is_some() || c.rel.is_some()) {
        return Err(UaError::Pending);
    }
    let t = c.transport;
    let via = core.via(t)?;
    let contact = core.contact(t)?;
    let id = c.id;
    let f = c.current().ok_or(UaError::NoDialog)?;
    if kind == ModifyKind::Reinvite && f.dialog.state != DialogState::Confirmed {
        return Err(UaError::NoDialog);
    }
    let mut req = f
        .dialog
        .build_request(method(kind), &via, Some(&contact), None)?;
    core.add_common(&mut req.headers, true)?;
    extras.apply(&mut req.headers)?;
    let offered = body.is_some();
    Core::set_sdp(&mut req.headers, &mut req.body, body)?;
    let hop = core.dialog_hop(&f.dialog)?;
    core.send_request(now, req, hop, (Some(id), Purpose::Modify(kind)))?;
    c.out_mod = Some(OutMod { kind, offered });
    if offered {
        c.set_oa(fid, OfferState::LocalOffer);
    }
    Ok(())
}

pub(super) fn on_response_event(
    core: &mut Core,
    c: &mut Call,
    now: Instant,
    kind: ModifyKind,
    ev: TxEvent,
) {
    let _ = now;
    match ev {
        TxEvent::Response(r) if r.status < 200 => {}
        TxEvent::Response(r) if r.status < 300 => {
            let seq = r.headers.cseq().map_or(0, |s| s.seq);
            let Some(m) = c.out_mod.take() else {
                // A re-INVITE 2xx retransmission (RFC 6026 Accepted): resend our ACK.
                client::resend_ack(core, c, &r, seq);
                return;
            };
            let Some(fid) = c.current().map(|f| {
                f.dialog.refresh_target(&r);
                f.id
            }) else {
                return;
            };
            let body = body_opt(&r.body);
            if m.offered {
                c.set_oa(fid, OfferState::Stable);
            }
            if kind == ModifyKind::Reinvite {
                if !m.offered && body.is_some() {
                    c.set_oa(fid, OfferState::RemoteOffer);
                    c.ack_pending = Some(seq);
                } else {
                    let _ = client::send_ack(core, c, fid, seq, None);
                }
            }
            core.events.push_back(Event::ModifyAnswered {
                call: c.id,
                kind,
                body,
            });
        }
        TxEvent::Response(r) => rejected(core, c, kind, r.status),
        TxEvent::Timeout => rejected(core, c, kind, 408),
        TxEvent::TransportError => rejected(core, c, kind, 503),
        _ => {}
    }
}

fn rejected(core: &mut Core, c: &mut Call, kind: ModifyKind, status: u16) {
    let Some(m) = c.out_mod.take() else { return };
    if let Some(fid) = c
        .current_id()
        .filter(|f| m.offered && c.oa(*f) == OfferState::LocalOffer)
    {
        c.set_oa(fid, OfferState::Stable);
    }
    core.events.push_back(Event::ModifyRejected {
        call: c.id,
        kind,
        status,
    });
}

/// 500 with Retry-After (RFC 3261 §14.2, RFC 3311 §5.2): a request overlaps one we are still handling.
fn overlap(core: &mut Core, now: Instant, key: &ServerKey, req: &Request) {
    let after = (core.rng.u32() % 10).to_string();
    let ra = [(HeaderName::Other("Retry-After".into()), after.as_str())];
    let _ = server::respond(core, now, key, req, 500, None, &ra);
}

pub(super) fn on_reinvite(
    core: &mut Core,
    c: &mut Call,
    now: Instant,
    fid: ForkId,
    key: ServerKey,
    req: Request,
) {
    // §14.2 glare: we have our own INVITE (or an offer) outstanding → 491.
    if c.out_mod
        .as_ref()
        .is_some_and(|m| m.kind == ModifyKind::Reinvite || m.offered)
    {
        let _ = server::respond(core, now, &key, &req, 491, None, &[]);
        return;
    }
    let initial_pending = c.uas.as_ref().is_some_and(|u| !u.final_sent);
    if c.in_mod.is_some()
        || c.ok_retx.is_some()
        || initial_pending
        || c.oa(fid) != OfferState::Stable
        || c.ack_pending.is_some()
    {
        overlap(core, now, &key, &req);
        return;
    }
    start_in_mod(core, c, fid, key, req, ModifyKind::Reinvite);
}

pub(super) fn on_update(
    core: &mut Core,
    c: &mut Call,
    now: Instant,
    fid: ForkId,
    key: ServerKey,
    req: Request,
) {
    let has_offer = !req.body.is_empty();
    let oa = c.oa(fid);
    // RFC 3311 §5.2: an offer while ours is outstanding → 491; while theirs is unanswered → 500.
    if has_offer && oa == OfferState::LocalOffer {
        let _ = server::respond(core, now, &key, &req, 491, None, &[]);
        return;
    }
    if c.in_mod.is_some() || (has_offer && oa == OfferState::RemoteOffer) {
        overlap(core, now, &key, &req);
        return;
    }
    start_in_mod(core, c, fid, key, req, ModifyKind::Update);
}

fn start_in_mod(
    core: &mut Core,
    c: &mut Call,
    fid: ForkId,
    key: ServerKey,
    req: Request,
    kind: ModifyKind,
) {
    if let Some(f) = c.fork_mut(fid) {
        f.dialog.refresh_target(&req);
    }
    let body = body_opt(&req.body);
    if body.is_some() {
        c.set_oa(fid, OfferState::RemoteOffer);
    }
    if kind == ModifyKind::Reinvite {
        core.srv_owner.insert(key.clone(), c.id);
    }
    c.in_mod = Some(InMod {
        kind,
        fork: fid,
        key,
        request: req,
    });
    core.events.push_back(Event::ModifyRequest {
        call: c.id,
        kind,
        body,
    });
}
