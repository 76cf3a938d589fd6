//! Trust decisions of a call's media (issue 12): which fingerprint mismatch ends a call (F-5.15, T-8a), the
//! final answer's fork, and a DTLS handshake that fails or never verifies on the answered dialog (item 4).

use std::net::SocketAddr;
use std::time::Instant;

use super::Endpoint;
use crate::{CallId, EndReason, Event, ForkId};

impl Endpoint {
    /// T-8a, F-5.15: the 2xx of `fork` arrived and was bound. Its fork is final on the media ports (a handshake
    /// from its signalled address that does not match is its mismatch at once); an early dialog of the same
    /// fork whose media already failed its fingerprint ends the call now; the media deadline starts (item 4).
    pub(super) fn on_final_answer(&mut self, now: Instant, call: CallId, fork: ForkId) {
        let timeout = self.cfg.media_timeout;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.phase.arm_media_deadline(now + timeout);
        let Some(f) = c.fork(fork) else {
            return;
        };
        let (mf, mismatched) = (f.media, f.mismatched);
        if mismatched {
            self.end_call(now, call, EndReason::FingerprintMismatch);
            return;
        }
        let _ = c.port.set_final_answer(now, mf);
        if let Some(r) = c.rtcp.as_mut() {
            let _ = r.set_final_answer(now, mf);
        }
    }

    /// A media port reported a fingerprint mismatch on `sip`'s media (the fork it belongs to; None: a fork the
    /// call no longer has). F-5.15: on the answered dialog (or the only dialog of an incoming call) it ends
    /// the call with BYE; on another early dialog it is remembered (fatal if that dialog answers, T-8a).
    pub(super) fn on_fingerprint_mismatch(
        &mut self,
        now: Instant,
        call: CallId,
        sip: Option<ForkId>,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(sip) = sip else {
            // Nobody's association (a stranger or a forgotten fork): nothing to end (item 2).
            return;
        };
        self.events.push_back(Event::FingerprintMismatch {
            call,
            fork: Some(sip),
        });
        if !c.uac || c.winner == Some(sip) {
            self.end_call(now, call, EndReason::FingerprintMismatch);
        } else if let Some(f) = c.fork_mut(sip) {
            f.mismatched = true;
        }
    }

    /// Item 4: a handshake on `sip`'s media failed. On the answered dialog (or an incoming call's only one),
    /// when the fork has no verified media and no other association in progress, the call ends
    /// ([`EndReason::DtlsFailed`]): BYE after the answer, 603/CANCEL before.
    pub(super) fn on_dtls_failed(
        &mut self,
        now: Instant,
        call: CallId,
        local: SocketAddr,
        sip: Option<ForkId>,
    ) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let Some(sip) = sip else {
            return;
        };
        let ours = if c.uac {
            c.winner == Some(sip)
        } else {
            sip == Self::UAS_FORK
        };
        let Some(f) = c.fork(sip) else {
            return;
        };
        if !ours || f.verified || c.port.local_addr() != local {
            return;
        }
        let mf = f.media;
        let other = c
            .port
            .associations()
            .iter()
            .any(|a| a.fork == Some(mf) || a.fork.is_none());
        if !other {
            self.end_call(now, call, EndReason::DtlsFailed);
        }
    }

    /// Item 4: answered calls whose media is still not verified at their deadline end with
    /// [`EndReason::DtlsFailed`].
    pub(super) fn check_media_deadlines(&mut self, now: Instant) {
        let due: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.phase.media_deadline().is_some_and(|d| now >= d))
            .map(|(id, _)| *id)
            .collect();
        for call in due {
            self.end_call(now, call, EndReason::DtlsFailed);
        }
    }

    /// Ends a call for a media reason: BYE (CANCEL or 603 before the answer), once.
    fn end_call(&mut self, now: Instant, call: CallId, reason: EndReason) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !c.phase.terminate(reason) {
            return;
        }
        let _ = self.ua.hangup(now, call);
    }
}
