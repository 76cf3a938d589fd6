//! [`Session`]: one offer/answer exchange (RFC 3264) over the [`Negotiator`] — our local media description
//! (built in one place, [`Session::local_media`]), the hold state and the directions of the last exchange, and
//! what each completed exchange means for a media leg ([`Negotiated`]).

use std::net::SocketAddr;

use dtlsrtp_sdp::attr::Direction;
use dtlsrtp_sdp::negotiate::{
    self, AnswerRejected, ConfigError, DtlsMedia, LocalMedia, MediaOutcome, MediaState, OfferError,
    PlainRtpMedia, Renew,
};
use dtlsrtp_sdp::{Codec, Negotiator, PendingOffer, Sdp};

use crate::direction::{DirectionState, Permits};
use crate::dtls::rtp_addr;
use crate::payload::PayloadTable;

/// What a completed exchange gives the media leg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// DTLS-SRTP or plain RTP.
    pub kind: LegKind,
    /// The payload types both sides agreed on.
    pub payloads: PayloadTable,
    /// What the direction allows after this exchange.
    pub permits: Permits,
}

/// The kind of leg an exchange negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum LegKind {
    /// DTLS-SRTP: the port binds these parameters.
    Dtls(Box<DtlsMedia>),
    /// Plain RTP (only under the best-effort policy, R-ALLOW-RTP): media is NOT encrypted.
    Plain {
        /// The signalled RTP address.
        remote: Option<SocketAddr>,
    },
}

impl Negotiated {
    /// The DTLS parameters, for a DTLS-SRTP leg.
    pub fn dtls(&self) -> Option<&DtlsMedia> {
        match &self.kind {
            LegKind::Dtls(d) => Some(d),
            LegKind::Plain { .. } => None,
        }
    }

    /// Whether media will be encrypted.
    pub fn encrypted(&self) -> bool {
        matches!(self.kind, LegKind::Dtls(_))
    }
}

/// Why an answer could not be used.
#[derive(Debug)]
pub enum ApplyError {
    /// The answer is not SDP.
    Parse,
    /// The negotiator refused it (the offer stays pending: [`AnswerRejected::into_pending`]).
    Rejected(AnswerRejected),
    /// Every m-line was rejected.
    NoMedia,
}

/// Why an offer could not be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerFailure {
    /// The offer is not SDP (400).
    Parse,
    /// The negotiator refused it ([`OfferError::sip_status`]: 488, 491, 500).
    Refused(OfferError),
    /// The answer has no usable m-line (488).
    NoMedia,
}

impl AnswerFailure {
    /// The SIP status code to refuse the offer with.
    pub fn sip_status(&self) -> u16 {
        match self {
            Self::Parse => 400,
            Self::Refused(e) => e.sip_status(),
            Self::NoMedia => 488,
        }
    }
}

/// One call's (or WHIP session's) offer/answer exchange: the negotiator, the codecs we offer, the stream's
/// `a=mid`, and the direction state. `Clone`: a forked INVITE applies each fork's answer to its own copy.
#[derive(Clone, Debug)]
pub struct Session {
    neg: Negotiator,
    kind: String,
    codecs: Vec<Codec>,
    mid: Option<String>,
    dir: DirectionState,
    /// The payload types of the last completed exchange.
    payloads: Option<PayloadTable>,
}

impl Session {
    /// A session with one audio stream of `codecs` (preference order), `a=mid` when given.
    pub fn new(
        config: negotiate::Config,
        codecs: Vec<Codec>,
        mid: Option<String>,
        fill: &mut dyn dtlsrtp_types::Rng,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            neg: Negotiator::new(config, fill)?,
            kind: "audio".into(),
            codecs,
            mid,
            dir: DirectionState::default(),
            payloads: None,
        })
    }

    /// A one-way session (WHIP publish: `sendonly`, WHEP play: `recvonly`).
    pub fn set_fixed_direction(&mut self, d: Option<Direction>) {
        self.dir.fixed = d;
    }

    /// THE local media description: our one audio m-line on `port`, the direction from the hold state
    /// ([`DirectionState::for_offer`] when `offer`, else [`DirectionState::for_answer`]).
    pub fn local_media(&self, port: u16, offer: bool) -> LocalMedia {
        LocalMedia {
            kind: self.kind.clone(),
            port,
            codecs: self.codecs.clone(),
            direction: if offer {
                self.dir.for_offer()
            } else {
                self.dir.for_answer()
            },
            mid: self.mid.clone(),
        }
    }

    /// Our offer with media on `port` (`Renew::All` for a new association, T-5.5a).
    pub fn offer(
        &mut self,
        port: u16,
        renew: Renew,
        fill: &mut dyn dtlsrtp_types::Rng,
    ) -> Result<(Sdp, PendingOffer), ConfigError> {
        let media = self.local_media(port, true);
        self.neg.create_offer(&[media], renew, fill)
    }

    /// Applies the peer's answer to `pending`: the exchange is complete, the leg gets [`Negotiated`].
    pub fn apply_answer(
        &mut self,
        pending: PendingOffer,
        answer: &Sdp,
    ) -> Result<Negotiated, ApplyError> {
        let offered: Vec<Direction> = (0..pending.offer().media().len())
            .map(|i| pending.offer().media_direction(i))
            .collect();
        let outcomes = self
            .neg
            .apply_answer(pending, answer)
            .map_err(ApplyError::Rejected)?;
        let (i, n) = first_usable(&outcomes).ok_or(ApplyError::NoMedia)?;
        let ours = offered.get(i).copied().unwrap_or_default();
        self.dir.completed(ours, answer.media_direction(i));
        self.payloads = Some(n.payloads.clone());
        Ok(n.with_permits(self.dir.permits()))
    }

    /// Our answer to the peer's offer, with media on `port`.
    pub fn answer(
        &mut self,
        offer: &Sdp,
        port: u16,
        fill: &mut dyn dtlsrtp_types::Rng,
    ) -> Result<(Sdp, Negotiated), AnswerFailure> {
        let media = self.local_media(port, false);
        let a = self
            .neg
            .answer(offer, &[media], fill)
            .map_err(AnswerFailure::Refused)?;
        let (i, n) = first_usable(&a.media).ok_or(AnswerFailure::NoMedia)?;
        self.dir
            .completed(a.sdp.media_direction(i), offer.media_direction(i));
        self.payloads = Some(n.payloads.clone());
        Ok((a.sdp, n.with_permits(self.dir.permits())))
    }

    /// [`Self::answer`] of an offer's bytes.
    pub fn answer_bytes(
        &mut self,
        offer: &[u8],
        port: u16,
        fill: &mut dyn dtlsrtp_types::Rng,
    ) -> Result<(Sdp, Negotiated), AnswerFailure> {
        let sdp = Sdp::parse(offer).map_err(|_| AnswerFailure::Parse)?;
        self.answer(&sdp, port, fill)
    }

    /// Forget our outstanding offer (refused, or its transaction failed).
    pub fn cancel_offer(&mut self) {
        self.neg.cancel_offer();
    }

    /// Hold (RFC 3264 §8.4) on or off: later offers and answers carry the new direction.
    pub fn set_hold(&mut self, on: bool) {
        self.dir.hold = on;
    }

    /// Whether we hold.
    pub fn on_hold(&self) -> bool {
        self.dir.hold
    }

    /// The direction state.
    pub fn direction(&self) -> &DirectionState {
        &self.dir
    }

    /// What the legs may do after the last exchange.
    pub fn permits(&self) -> Permits {
        self.dir.permits()
    }

    /// The payload types the last completed exchange agreed on (the peer's numbers: what we send with).
    pub fn payloads(&self) -> Option<&PayloadTable> {
        self.payloads.as_ref()
    }

    /// The codecs we offer and answer with (our numbers: what the peer sends us).
    pub fn codecs(&self) -> &[Codec] {
        &self.codecs
    }

    /// The negotiator (configuration, pending-offer state).
    /// The negotiator, to change its configuration (e.g. ICE credentials once the port's agent exists).
    pub fn negotiator_mut(&mut self) -> &mut Negotiator {
        &mut self.neg
    }

    /// The negotiator.
    pub fn negotiator(&self) -> &Negotiator {
        &self.neg
    }
}

impl Negotiated {
    fn with_permits(mut self, permits: Permits) -> Self {
        self.permits = permits;
        self
    }
}

/// The first m-line that is not rejected, as the leg it asks for.
fn first_usable(outcomes: &[MediaOutcome]) -> Option<(usize, Negotiated)> {
    outcomes.iter().find_map(|o| {
        let (kind, codecs) = match &o.state {
            MediaState::Dtls(d) => (LegKind::Dtls(d.clone()), d.codecs.clone()),
            MediaState::PlainRtp(PlainRtpMedia {
                codecs,
                remote_address,
                remote_port,
            }) => (
                LegKind::Plain {
                    remote: rtp_addr(remote_address.as_deref(), *remote_port),
                },
                codecs.clone(),
            ),
            _ => return None,
        };
        Some((
            o.index,
            Negotiated {
                kind,
                payloads: PayloadTable::new(codecs),
                permits: Permits::BOTH,
            },
        ))
    })
}
