//! `dtlsrtp-session`: one sans-IO offer/answer exchange and its media legs.
//!
//! A [`Session`] owns the negotiator of one SIP call or WHIP/WHEP session: it builds our one local media
//! description ([`Session::local_media`]: the direction comes from the hold state, RFC 3264 §8.4), makes and
//! answers offers, and turns each completed exchange into a [`Negotiated`] for the media leg:
//!
//! - DTLS-SRTP ([`LegKind::Dtls`]): the leg is a `dtlsrtp_media::MediaPort` bound with [`peer_params`] /
//!   [`latching_peer`] (forks, ICE or latching are the port's);
//! - plain RTP ([`LegKind::Plain`], only when the policy allows it, R-ALLOW-RTP, RFC 5763 §6.11): the leg is a
//!   [`PlainLeg`] — RTP to the signalled address with latching, counted drops, NOT encrypted.
//!
//! A [`Leg`] puts both behind one API (direction-gated `send_rtp`, `handle_datagram`, `poll_*`); a driver or the
//! demo builds one per socket and feeds it each [`Negotiated`] with [`Leg::apply`].
//!
//! Every leg has a [`PayloadTable`], [`Permits`] from the direction (sends while not allowed are dropped and
//! counted; nothing is sent while `inactive`), and timers in a named [`Deadlines`] table. Sans-IO: every input
//! takes `now: Instant`; no clock, socket or file is touched.

#![forbid(unsafe_code)]

pub mod deadline;
pub mod direction;
pub mod dtls;
pub mod dtmf;
pub mod leg;
pub mod payload;
pub mod plain;
mod session;

pub use deadline::Deadlines;
pub use direction::{DirectionState, Permits};
pub use dtls::{ice_candidate, ice_negotiator_config, latching_peer, peer_params, rtcp_addr};
pub use dtmf::{with_telephone_event, DtmfCounters, DtmfLeg, TELEPHONE_EVENT};
pub use leg::{DtlsLeg, Leg, LegError, LegEvent, LegMedia};
pub use payload::{g711, PayloadTable};
pub use plain::{PlainCounters, PlainError, PlainEvent, PlainLeg};
pub use session::{AnswerFailure, ApplyError, LegKind, Negotiated, Session};

/// The SDP types the [`Session`] API is expressed in (its config, what `offer`/`answer` produce and take, the
/// negotiated DTLS parameters, the negotiator behind [`Session::negotiator_mut`]), so a caller above the session
/// (the CLI) needs no direct dependency on `dtlsrtp-sdp`. Only these: the rest of the SDP crate stays internal.
pub use dtlsrtp_sdp::attr::Direction;
pub use dtlsrtp_sdp::negotiate::{
    AnswerSetup, Config as SdpConfig, DtlsMedia, HandshakeRole, LocalMedia, Renew,
};
pub use dtlsrtp_sdp::{Codec, Negotiator, PendingOffer, Sdp};
