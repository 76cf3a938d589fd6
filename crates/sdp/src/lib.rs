//! SDP (RFC 8866) and the DTLS-SRTP offer/answer rules (RFC 5763 as updated by RFC 8842, RFC 8122, RFC 5939).
#![forbid(unsafe_code)]

pub mod attr;
pub mod fingerprint;
#[doc(hidden)]
pub mod fuzzing;
pub mod model;
pub mod negotiate;

pub use attr::{Attribute, LineError, Proto, Setup, TlsId, TlsIdError};
pub use fingerprint::{Fingerprint, FingerprintError, HashFunction};
pub use model::{Line, Media, ParseError, ParseErrorKind, ParseOptions, Sdp, Value};
pub use negotiate::{
    Answer, AnswerError, AnswerRejected, Association, Codec, Config, DtlsMedia, HandshakeRole,
    LocalMedia, MediaOutcome, MediaState, Negotiator, NewReason, OfferError, PendingOffer,
    RejectReason, Renew,
};
