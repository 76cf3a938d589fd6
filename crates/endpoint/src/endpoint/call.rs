//! One call: its forks (SIP early/confirmed dialogs bound to media forks), its session (offer/answer, hold),
//! its media legs (the DTLS-SRTP port, the RTCP component, a renewing port, or a plain-RTP leg) and its
//! identity state.

use super::*;

/// One fork of a call (an early or confirmed dialog) and its media binding.
pub(super) struct Fork {
    pub(super) sip: ForkId,
    pub(super) media: MFork,
    /// UAC: this fork's session after its answer was applied (F-6.3), and what it negotiated.
    pub(super) neg: Option<(Session, Negotiated)>,
    pub(super) verified: bool,
    /// This fork's answer kept RTCP on the RTP port (RFC 5761).
    pub(super) rtcp_mux: bool,
    /// UAC: the fingerprints of this fork's answer.
    pub(super) peer_fps: Vec<(String, Vec<u8>)>,
    /// UAC: this early dialog's own media failed its fingerprint (F-5.15 if it answers).
    pub(super) mismatched: bool,
}

/// Our outstanding re-offer.
pub(super) struct Reoffer {
    pub(super) pending: PendingOffer,
    /// The new port of a renewing re-offer (T-5.1a).
    pub(super) port: Option<MediaPort>,
}

/// Where a call is (one state, not a bag of flags). A renegotiation in progress is the call's `reoffer` (ours)
/// or `pending_in_2xx` (an offer in our 2xx); the media legs are the session's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// UAC: the INVITE is out; forks may bring early media (each on its own copy of the session).
    Dialing,
    /// UAS: the INVITE arrived (its offer answered, or none: delayed offer); not answered yet.
    Incoming,
    /// Answered (UAC: a 2xx; UAS: our 200 left); the winning fork's media is not verified yet and must be by
    /// the deadline ([`Config::media_timeout`], item 4).
    Answered {
        /// When an unverified call ends with [`EndReason::DtlsFailed`].
        media_deadline: Option<Instant>,
    },
    /// Answered and the winning fork's media verified (or a plain-RTP leg): media flows.
    Established,
    /// We are ending it (BYE, CANCEL or 603 sent) for this reason; the UA's `Terminated` removes the call.
    Terminating(EndReason),
}

impl Phase {
    /// Answered or established.
    pub(super) fn is_answered(self) -> bool {
        matches!(self, Self::Answered { .. } | Self::Established)
    }

    /// Established.
    pub(super) fn is_established(self) -> bool {
        self == Self::Established
    }

    /// Not answered yet (either side).
    pub(super) fn is_setup(self) -> bool {
        matches!(self, Self::Dialing | Self::Incoming)
    }

    /// Why we are ending the call.
    pub(super) fn end_reason(self) -> Option<EndReason> {
        match self {
            Self::Terminating(r) => Some(r),
            _ => None,
        }
    }

    /// The media deadline of an answered, unverified call.
    pub(super) fn media_deadline(self) -> Option<Instant> {
        match self {
            Self::Answered { media_deadline } => media_deadline,
            _ => None,
        }
    }

    /// Dialing/Incoming → Answered (with the media deadline when known); other phases stay.
    pub(super) fn answer(&mut self, media_deadline: Option<Instant>) {
        if self.is_setup() {
            *self = Self::Answered { media_deadline };
        }
    }

    /// Arms the media deadline of an answered call.
    pub(super) fn arm_media_deadline(&mut self, at: Instant) {
        if let Self::Answered { media_deadline } = self {
            *media_deadline = Some(at);
        }
    }

    /// → Terminating(reason), once (false when already terminating).
    pub(super) fn terminate(&mut self, reason: EndReason) -> bool {
        if self.end_reason().is_some() {
            return false;
        }
        *self = Self::Terminating(reason);
        true
    }
}

pub(super) struct Call {
    pub(super) uac: bool,
    /// UAC before the answer: the session that made the offer (cloned per fork). After the answer (or UAS):
    /// the dialog's session (negotiator, hold state, directions).
    pub(super) neg: Session,
    /// UAC: the initial offer's token.
    pub(super) pending: Option<PendingOffer>,
    /// UAS delayed offer / bodiless re-INVITE: the offer we put in our 2xx.
    pub(super) pending_in_2xx: Option<PendingOffer>,
    pub(super) reoffer: Option<Reoffer>,
    pub(super) forks: Vec<Fork>,
    pub(super) next_media_fork: u32,
    pub(super) port: MediaPort,
    /// A renewed association's port until it is verified.
    pub(super) next_port: Option<MediaPort>,
    /// F-6.8 make-before-break: superseded ports after a renewal switched sending to the new one; each keeps
    /// receiving (decrypting packets in flight under the old keys) until its deadline (`retire`, `now +
    /// Config::rekey_grace`), then it is closed and released.
    pub(super) retiring: Vec<(MediaPort, Instant)>,
    /// D-3b: the RTCP component's port (its own DTLS association) for a peer that refuses rtcp-mux. Offered as
    /// `a=rtcp:PORT` fallback (RFC 5761 §5.1.3); released when the winning answer muxes.
    pub(super) rtcp: Option<MediaPort>,
    /// Best effort fell back to plain RTP (R-ALLOW-RTP): the leg that carries the call's media instead of the
    /// DTLS-SRTP port (on the same socket). NOT encrypted.
    pub(super) plain: Option<PlainLeg>,
    /// The SRTP profile and our DTLS role of each association that connected (by socket and id).
    pub(super) profiles: Vec<(SocketAddr, dtlsrtp_media::AssocId, SrtpProfile, DtlsRole)>,
    /// RTP sends the direction refused (recvonly/inactive): dropped, counted.
    pub(super) send_blocked: u64,
    /// Received RTP the direction refused (sendonly/inactive): dropped, counted.
    pub(super) recv_blocked: u64,
    pub(super) winner: Option<ForkId>,
    /// UAS: our answer (for the 183 and the 200), and its outcome to bind when we answer.
    pub(super) answer: Option<(Vec<u8>, Negotiated)>,
    pub(super) peer_bound: bool,
    /// UAS delayed offer: our offer already went in a reliable 183 (its answer comes in the PRACK).
    pub(super) early_offer_sent: bool,
    pub(super) delayed_offer: bool,
    /// Where the call is.
    pub(super) phase: Phase,
    /// Identity and security state (issue 8).
    pub(super) sec: Security,
}

/// A call's identity state.
pub(super) struct Security {
    /// UAS: the verdict on the caller's INVITE. UAC: [`Verdict::Absent`] (responses carry no Identity).
    pub(super) peer: Verdict,
    /// UAC: the verdict on the callee's RFC 4916 UPDATE (I-3).
    pub(super) connected: Option<Verdict>,
    /// The peer's SDP fingerprints the media is verified against (UAS: the offer's; UAC: the winning
    /// answer's).
    pub(super) peer_fps: Vec<(String, Vec<u8>)>,
    /// Our fingerprint in this call's SDP (the anonymous certificate's for an anonymous call).
    pub(super) local_fp: (String, Vec<u8>),
    /// UAS: the caller supports `from-change` (RFC 4916): we send the connected-identity UPDATE after the ACK.
    pub(super) peer_from_change: bool,
    /// The connected-identity UPDATE has been sent.
    pub(super) update_sent: bool,
    /// The last state and SAS reported.
    pub(super) shown: Option<(CallSecurityState, Option<String>)>,
    /// An anonymous call's own certificate (renewed associations use it too).
    pub(super) anon_cert: Option<(dtlsrtp_dtls::Certificate, dtlsrtp_sdp::Fingerprint)>,
}

impl Security {
    pub(super) fn new(local_fp: &dtlsrtp_sdp::Fingerprint) -> Self {
        Self {
            peer: Verdict::Absent,
            connected: None,
            peer_fps: Vec::new(),
            local_fp: fp_pair(local_fp),
            peer_from_change: false,
            update_sent: false,
            shown: None,
            anon_cert: None,
        }
    }
}

pub(super) fn fp_pair(f: &dtlsrtp_sdp::Fingerprint) -> (String, Vec<u8>) {
    (f.hash().name().to_owned(), f.digest().to_vec())
}

/// Every `a=fingerprint` of an SDP body, session and media level, as (hash name, digest) (RFC 8224 §12.1:
/// what `mky` lists). Lines that do not parse are skipped (they cannot match a certificate either).
pub(super) fn sdp_fingerprints(body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let text = String::from_utf8_lossy(body);
    text.lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix("a=fingerprint:"))
        .filter_map(|v| v.trim().parse::<dtlsrtp_sdp::Fingerprint>().ok())
        .map(|f| fp_pair(&f))
        .collect()
}

impl Call {
    pub(super) fn fork(&self, sip: ForkId) -> Option<&Fork> {
        self.forks.iter().find(|f| f.sip == sip)
    }
    pub(super) fn fork_mut(&mut self, sip: ForkId) -> Option<&mut Fork> {
        self.forks.iter_mut().find(|f| f.sip == sip)
    }
    pub(super) fn sip_fork(&self, media: MFork) -> Option<ForkId> {
        self.forks.iter().find(|f| f.media == media).map(|f| f.sip)
    }
    pub(super) fn ensure_fork(&mut self, sip: ForkId) -> MFork {
        if let Some(f) = self.fork(sip) {
            return f.media;
        }
        self.next_media_fork += 1;
        let media = MFork(self.next_media_fork);
        self.forks.push(Fork {
            sip,
            media,
            neg: None,
            verified: false,
            rtcp_mux: true,
            peer_fps: Vec::new(),
            mismatched: false,
        });
        media
    }
    /// The SRTP profile and our DTLS role of the winning fork's verified association; `None` for a plain-RTP
    /// call (or before any association connected).
    pub(super) fn media_security(&self) -> Option<(SrtpProfile, DtlsRole)> {
        if self.plain.is_some() {
            return None;
        }
        let mf = self.winner.and_then(|w| self.fork(w)).map(|f| f.media);
        let local = self.port.local_addr();
        let assocs = self.port.associations();
        let ours = assocs
            .iter()
            .find(|a| a.fork.is_some() && a.fork == mf)
            .or(assocs.first());
        ours.and_then(|a| {
            self.profiles
                .iter()
                .rev()
                .find(|p| p.0 == local && p.1 == a.id)
                .map(|p| (p.2, p.3))
        })
        .or_else(|| self.profiles.last().map(|p| (p.2, p.3)))
    }

    pub(super) fn ports_mut(&mut self) -> impl Iterator<Item = &mut MediaPort> {
        std::iter::once(&mut self.port)
            .chain(self.next_port.as_mut())
            .chain(self.rtcp.as_mut())
            .chain(self.reoffer.as_mut().and_then(|r| r.port.as_mut()))
            .chain(self.retiring.iter_mut().map(|r| &mut r.0))
    }

    /// RTCP hygiene: one CNAME per call (RFC 7022, random; the main port's) on `p` (the RTCP component's
    /// port, a renewed association's port) and, with `ssrc`, the call's SSRC (the RTCP component). A renewed
    /// association keeps its own SSRC: the peer maps an SSRC to one association (D-5.1.2c), and the old one
    /// still receives during the grace period; the shared CNAME ties the two sources together.
    pub(super) fn share_identity(main: &MediaPort, p: &mut MediaPort, ssrc: bool) {
        p.set_cname(main.cname().to_owned());
        if ssrc {
            p.set_local_ssrc(main.local_ssrc());
        }
    }

    /// RFC 5761 §5.1.3 fallback taken (the final answer does not mux): RTCP travels on the RTCP component's
    /// port, for the RTP port's SSRC: the RTP port hands its reports over ([`Self::shuttle_rtcp`]) and the
    /// RTCP port only carries them (RFC 3550 §11, RFC 5764 §4.1).
    pub(super) fn split_rtcp(&mut self) {
        if let Some(r) = self.rtcp.as_mut() {
            self.port.set_rtcp_mux(dtlsrtp_media::RtcpMux::RtpComponent);
            r.set_rtcp_mux(dtlsrtp_media::RtcpMux::RtcpComponent);
        }
    }

    /// Moves the RTP port's RTCP (reports, BYE) to the RTCP component's port, which protects and sends it.
    pub(super) fn shuttle_rtcp(&mut self, now: Instant) {
        let Some(r) = self.rtcp.as_mut() else {
            return;
        };
        while let Some((fork, compound)) = self.port.poll_rtcp() {
            let _ = r.send_rtcp(now, fork, &compound);
        }
    }

    /// A superseded port still in its grace period.
    pub(super) fn is_retiring(&self, local: SocketAddr) -> bool {
        self.retiring.iter().any(|r| r.0.local_addr() == local)
    }
}
