//! SDP (RFC 8866) and the DTLS-SRTP offer/answer rules (RFC 5763 as updated by RFC 8842, RFC 8122, RFC 5939).
//!
//! No I/O, no clock, no global RNG: randomness (session ids, `a=tls-id`) comes from a `&mut dyn Rng`
//! ([`dtlsrtp_types::Rng`]; a seeded CSPRNG or a closure filling octets, T-4c).
//!
//! # Parts
//!
//! - [`model`]: [`Sdp`] keeps every line in order with its original text, so unknown attributes round-trip
//!   byte-exact; CRLF and LF accepted, CRLF written; a size limit ([`ParseOptions`]); errors carry the line
//!   number and a typed [`ParseErrorKind`] / [`LineError`].
//! - [`attr`]: typed values: `a=setup`, `a=fingerprint` (session and media level, several; unknown hash
//!   functions skipped), `a=tls-id` (20–255 characters, T-4a), `a=connection`, `a=rtcp`, `a=rtcp-mux`, the ICE
//!   attributes, `a=mid`, `a=group`, `a=tcap`/`a=pcfg`/`a=acfg` (RFC 5939), `a=crypto` (recognised only),
//!   `a=rtpmap`/`a=fmtp`/`a=ptime`, directions, and the m=, c=, o= lines.
//! - [`negotiate`]: the [`Negotiator`]: offers, answers, the [`PendingOffer`] token, and per m-line outcomes
//!   ([`DtlsMedia`]): both DTLS roles ([`HandshakeRole`]), the remote fingerprints to expect (media level
//!   overrides session level, P-5d; the P-5.1d preferred set), tls-ids, and keep/renew ([`Association`]).
//! - [`fingerprint`]: the `a=fingerprint` value shared with the DTLS crate.
//!
//! # Offers and answers
//!
//! - Every offer, initial or later, says `a=setup:actpass` (T-5.2a, T-5.5a/b) with our fingerprints (sha-256
//!   always, P-5.1b; more by configuration), a tls-id, `a=rtcp-mux`, ICE attributes when ICE is on. With
//!   [`Config::best_effort`] the actual configuration is `RTP/AVP` plus `a=tcap:1 UDP/TLS/RTP/SAVP RTP/AVP` and
//!   `a=pcfg:1 t=1` (RFC 5763 §7.1, B-1); an answer with `a=acfg` selects DTLS (B-2), a plain RTP/AVP answer is
//!   accepted only under [`negotiate::RtpPolicy::AllowRtp`] (B-3).
//! - Answers: `actpass` → `active` by default (F-5.10; `passive` by configuration); legacy `active` → `passive`
//!   and `passive` → `active` (T-5.3f); `holdconn` (T-5.1b) or a DTLS m-line without fingerprint (F-5.13) →
//!   that m-line rejected with port 0, or the whole offer refused ([`OfferError::sip_status`] 488); proto
//!   mirrored; `a=tls-id` only if the offer had one (T-5.3d); sha-256 plus the offerer's hash when we have it;
//!   the codec intersection; `a=rtcp-mux` and BUNDLE mirrored; what Chromium requires of an answer.
//!
//! # Keep or renew (RFC 8842 §3–§5)
//!
//! After every completed offer/answer each DTLS m-line carries an explicit [`Association`]: `Keep` (no
//! handshake, SRTP continues) or `New { reason }`. [`negotiate::decide`] applies, in order:
//!
//! 1. no association before on this m-line → `New { Initial }`;
//! 2. the negotiated roles changed → `New { RolesChanged }` (T-3.1a (a), F-6.6c);
//! 3. a fingerprint added, removed or modified on either side → `New { FingerprintsChanged }` (T-3.1a (b));
//! 4. either tls-id changed → `New { TlsIdChanged }` (T-3.1a (c), T-4b);
//! 5. the peer uses tls-id and nothing above changed → `Keep`, even if addresses, ports or ICE credentials
//!    changed: a transport change that needs a new association comes with a new tls-id (T-3.2), and an ICE
//!    restart alone keeps (T-3.3);
//! 6. a peer without tls-id (T-4d): our or its address/port changed → `New { TransportChanged }` (T-5.4b);
//!    otherwise `Keep` (a ufrag change alone keeps; with ICE, candidate/address changes are ICE's, T-6c).
//!
//! How the messages say it: a re-offer that keeps repeats actpass, the previous tls-id and the unchanged
//! fingerprints (T-5.5b); one that renews ([`Renew::All`], or a new certificate) carries a fresh tls-id
//! (T-5.5a, T-4b) — give it a fresh port too (T-5.1a, T-3.2). The answerer keeps by echoing its previous
//! tls-id, the setup that preserves the current roles and its fingerprints (T-5.3c); when the offer asks for a
//! new association it answers a fresh tls-id (T-5.3a) and its configured role. A tls-id is generated from 16
//! random octets (128 bits ≥ 120, T-4c), base64url.
//!
//! # Example
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use dtlsrtp_sdp::attr::Direction;
//! use dtlsrtp_sdp::negotiate::{Codec, Config, LocalMedia, NewReason, Renew};
//! use dtlsrtp_sdp::{Association, Fingerprint, HandshakeRole, HashFunction, Negotiator, Sdp};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Use the endpoint's CSPRNG here (T-4c); a counter keeps the example deterministic.
//! let mut n = 0u8;
//! let mut fill = |b: &mut [u8]| b.iter_mut().for_each(|x| { n = n.wrapping_add(7); *x = n });
//! let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
//! let alice_fp = Fingerprint::new(HashFunction::Sha256, &[0xA1; 32])?;
//! let bob_fp = Fingerprint::new(HashFunction::Sha256, &[0xB0; 32])?;
//! let media = |port| LocalMedia {
//!     kind: "audio".into(),
//!     port,
//!     codecs: vec![Codec::new(0, "PCMU", 8000, None)],
//!     direction: Direction::SendRecv,
//!     mid: None,
//! };
//! let mut alice = Negotiator::new(Config::new(localhost, vec![alice_fp]), &mut fill)?;
//! let mut bob = Negotiator::new(Config::new(localhost, vec![bob_fp.clone()]), &mut fill)?;
//!
//! // Alice offers (actpass, tls-id, fingerprint); the token ties the answer to this offer.
//! let (offer, pending) = alice.create_offer(&[media(6056)], Renew::Keep, &mut fill)?;
//! let offer = Sdp::parse(offer.write().as_bytes())?; // over SIP
//!
//! // Bob answers active (the default) and will send the ClientHello.
//! let answer = bob.answer(&offer, &[media(12000)], &mut fill)?;
//! let bob_side = answer.media[0].dtls().ok_or("not DTLS")?;
//! assert_eq!(bob_side.local_role, HandshakeRole::Client);
//! assert_eq!(bob_side.association, Association::New { reason: NewReason::Initial });
//!
//! // Alice applies it: she is the DTLS server and expects Bob's certificate to match his fingerprint.
//! let outcome = alice.apply_answer(pending, &answer.sdp)?;
//! let alice_side = outcome[0].dtls().ok_or("not DTLS")?;
//! assert_eq!(alice_side.local_role, HandshakeRole::Server);
//! assert_eq!(alice_side.expected_fingerprints(), vec![&bob_fp]);
//!
//! // A re-INVITE with nothing changed keeps the association on both sides (T-5.5b, T-5.3c).
//! let (offer, pending) = alice.create_offer(&[media(6056)], Renew::Keep, &mut fill)?;
//! let answer = bob.answer(&offer, &[media(12000)], &mut fill)?;
//! assert_eq!(answer.media[0].dtls().ok_or("not DTLS")?.association, Association::Keep);
//! let outcome = alice.apply_answer(pending, &answer.sdp)?;
//! assert_eq!(outcome[0].dtls().ok_or("not DTLS")?.association, Association::Keep);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod attr;
pub use dtlsrtp_types::fingerprint;
#[doc(hidden)]
pub mod fuzzing;
mod lines;
pub mod model;
pub mod negotiate;
mod tls_id;

pub use attr::{Attribute, LineError, Proto, Setup, TlsId, TlsIdError};
pub use fingerprint::{Fingerprint, FingerprintError, HashFunction};
pub use model::{Line, Media, ParseError, ParseErrorKind, ParseOptions, Sdp, Value};
pub use negotiate::{
    Answer, AnswerError, AnswerRejected, Association, Codec, Config, DtlsMedia, HandshakeRole,
    LocalMedia, MediaOutcome, MediaState, Negotiator, NewReason, OfferError, PendingOffer,
    RejectReason, Renew,
};
