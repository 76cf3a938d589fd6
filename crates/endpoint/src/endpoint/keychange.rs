//! A peer's fingerprints changing in a call (RFC 5763 §8, RFC 8224 §12.1; issue 12 item 3).
//!
//! Any offer or answer from the peer (an incoming re-INVITE or UPDATE, the answer to our re-offer, the answer
//! in the ACK/PRACK to an offer in our 2xx) whose fingerprint set differs from the one the call was verified
//! against is an identity event: only an Identity on that request whose `mky` covers exactly the new
//! fingerprints keeps the call authenticated (RFC 8224 on the re-INVITE, RFC 4916 on an UPDATE). Otherwise the
//! call drops to *encrypted, unauthenticated peer*; either way the SAS is recomputed over the new
//! fingerprints and [`Event::Security`] and [`Event::PeerKeyChanged`] are emitted. Under
//! [`IdentityPolicy::Required`] such an offer is refused (488 without an Identity, the RFC 8224 code of a
//! failed one) and the call keeps its association and state untouched; an answer (which cannot carry an
//! Identity) is not used.

use std::time::Instant;

use dtlsrtp_sip::identity::passport::mky_for;

use super::{
    sdp_fingerprints, CallSecurityState, Endpoint, IdentityError, IdentityPolicy, Verdict,
};
use crate::{CallId, Event};

type Fps = Vec<(String, Vec<u8>)>;

impl Endpoint {
    /// The peer's new fingerprints when `body` (an offer or answer from the peer) changes them: `None` for an
    /// unknown call, `Some(None)` when nothing changed (no body, no fingerprint in it, the same set, or no
    /// fingerprints known yet: then they become the call's).
    pub(super) fn peer_fps_change(
        &mut self,
        call: CallId,
        body: Option<&[u8]>,
    ) -> Option<Option<Fps>> {
        let c = self.calls.get_mut(&call)?;
        let Some(body) = body.filter(|b| !b.is_empty()) else {
            return Some(None);
        };
        let new = sdp_fingerprints(body);
        if new.is_empty() {
            // not DTLS-SRTP: negotiation refuses it
            return Some(None);
        }
        let base = if c.sec.peer_fps.is_empty() {
            c.winner
                .and_then(|w| c.fork(w))
                .map(|f| f.peer_fps.clone())
                .unwrap_or_default()
        } else {
            c.sec.peer_fps.clone()
        };
        if base.is_empty() {
            c.sec.peer_fps = new;
            return Some(None);
        }
        if mky_for(&base) == mky_for(&new) {
            return Some(None);
        }
        Some(Some(new))
    }

    /// Applies a fingerprint change (module docs). `checked` is the verdict on the request (`None` for an
    /// answer, or without identity configuration); `request`: refuse it with a response when the policy
    /// says so. Returns false when refused: nothing about the call changed.
    pub(super) fn on_peer_fps_changed(
        &mut self,
        now: Instant,
        call: CallId,
        fps: Fps,
        checked: Option<(Verdict, bool, bool)>,
        request: bool,
    ) -> bool {
        let verdict = match checked.map(|c| c.0) {
            Some(Verdict::Verified(v)) if v.covers_fingerprints => Verdict::Verified(v),
            Some(Verdict::Verified(_)) => Verdict::Failed(IdentityError::MkyMissing),
            Some(v) => v,
            None => Verdict::Absent,
        };
        let identity_on = self.cfg.identity.is_some();
        if identity_on
            && self.identity_policy() == IdentityPolicy::Required
            && verdict.verified().is_none()
        {
            if request {
                let code = match &verdict {
                    Verdict::Failed(e) => e.status_code(),
                    _ => 488,
                };
                let _ = self.ua.reject_modify(now, call, code);
            }
            return false;
        }
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        let was = match c.sec.shown.as_ref().map(|s| &s.0) {
            Some(CallSecurityState::EncryptedToVerifiedIdentity { uri }) => Some(uri.clone()),
            _ => None,
        };
        let now_uri = verdict.verified().map(|v| v.orig.as_str().to_owned());
        c.sec.peer_fps.clone_from(&fps);
        if let Some(f) = c.winner.and_then(|w| c.fork_mut(w)) {
            f.peer_fps.clone_from(&fps);
        }
        // the old verdicts were about the old keys: only this request's counts now
        c.sec.peer = Verdict::Absent;
        c.sec.connected = match verdict {
            Verdict::Absent => None,
            v => Some(v),
        };
        let before = self.events.len();
        self.report_security(call);
        let reported = self
            .events
            .iter()
            .skip(before)
            .any(|e| matches!(e, Event::PeerKeyChanged { call: c, .. } if *c == call));
        if !reported {
            self.events.push_back(Event::PeerKeyChanged {
                call,
                identity: was.or(now_uri).unwrap_or_default(),
            });
        }
        true
    }
}
