//! `dtlsrtp-sip`: SIP messages, URIs, stream framing and sans-IO transactions for the dtlsrtp user agent.
//!
//! - [`Message::parse`] / [`Message::to_bytes`]: RFC 3261 §7 and §25 messages with compact header forms, folding,
//!   repeated and comma-separated headers. Unknown headers (Identity included) are written back byte-exact.
//!   Errors are typed and [`ParseError::status_code`] says how to answer (400, 413, 416, 505).
//! - [`StreamFramer`]: TCP/TLS framing by Content-Length with keep-alive CRLFs.
//! - [`transaction`]: the four RFC 3261 §17 state machines (with RFC 6026 Accepted) and a transaction table,
//!   sans-IO: `handle_*(now, ..)`, `poll_transmit`, `poll_event`, `poll_timeout`.
//! - [`dialog`]: RFC 3261 §12 dialogs (UAC/UAS creation, route sets, remote targets, CSeq, in-dialog requests).
//! - [`digest`]: client Digest authentication (RFC 2617, RFC 7616, RFC 8760: MD5, SHA-256, qop=auth).
//! - [`ua`]: the [`ua::UserAgent`] core over the transaction layer: calls as UAC and UAS, one early dialog per
//!   forked To-tag (F-6.3, T-8a), early media with 100rel/PRACK (RFC 3262), delayed offer (F-6.4), re-INVITE and
//!   UPDATE (RFC 3311) with glare handling, CANCEL, BYE, OPTIONS, REGISTER with digest; transport-aware
//!   (UDP, TCP, TLS) and sans-IO like the rest. SDP bodies are opaque bytes here.
//!
//! ```
//! use dtlsrtp_sip::{Message, Method, Rport};
//!
//! let raw = b"INVITE sip:bob@example.com SIP/2.0\r\n\
//! v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport\r\n\
//! Max-Forwards: 70\r\n\
//! t: Bob <sip:bob@example.com>\r\n\
//! f: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n\
//! i: a84b4c76e66710@pc33.example.com\r\n\
//! CSeq: 314159 INVITE\r\n\
//! Identity: opaque-passport-stays-as-it-came\r\n\
//! l: 0\r\n\r\n";
//! let msg = Message::parse(raw).unwrap();
//! let req = msg.as_request().unwrap();
//! assert_eq!(req.method, Method::Invite);
//! let via = req.headers.top_via().unwrap();
//! assert_eq!(via.branch(), Some("z9hG4bK776asdhds"));
//! assert_eq!(via.rport(), Some(Rport::Requested));
//! assert_eq!(req.headers.from().unwrap().tag(), Some("1928301774"));
//! assert_eq!(req.headers.cseq().unwrap().seq, 314159);
//! assert_eq!(msg.to_bytes(), raw); // byte-exact
//!
//! let bad = b"OPTIONS sip:a@example.com SIP/7.0\r\n\r\n";
//! assert_eq!(Message::parse(bad).unwrap_err().status_code(), 505);
//! ```
//!
//! # Why our own parser
//! A SIP crate could have provided the message types (ARCHITECTURE.md §1). We need byte-exact write-back of
//! headers we do not touch (Identity signs them, RFC 8224), errors that are data and map to a status code, no
//! panic on any input, and no I/O or clock. `rsip`'s errors are `String`s (`Error::ParseError(String)`, ...);
//! `ezk-sip-types` is built for the ezk stack and re-serialises what it parses. So the parser is ours: every
//! field keeps its bytes, and the headers the stack uses get a typed value parsed once.
//!
//! # Deliberate leniencies (RFC 4475 §3.1.1 asks for tolerance; these go a little further)
//! - CRLF before the start line is skipped; LF alone ends lines (RFC 3261 §7.5, §7.3.1).
//! - A datagram whose header section ends with the data and no empty line is accepted with an empty body
//!   (the RFC 4475 archive's own `baddn.dat` lacks the final CRLF).
//! - `SIP/2.0 100` without the space before an empty reason phrase is accepted.
//! - Expires and Contact `expires` values above 2^32-1 saturate (RFC 4475 §3.1.2.4 allows defaulting them);
//!   CSeq (< 2^31) and Max-Forwards (<= 255) overflow are errors.
//! - Any `sip`/`sips` scheme case is accepted; non-SIP URIs are kept opaque in From/To/Contact/Route
//!   (RFC 4475 §3.3.4) but refused with 416 in the Request-URI (§3.3.2, §3.3.3).
#![forbid(unsafe_code)]

pub mod dialog;
pub mod digest;
pub mod error;
pub mod header;
pub mod identity;
mod message;
mod method;
pub mod transaction;
pub mod ua;
pub mod uri;

pub use error::{HeaderError, ParseError, UriError};
pub use header::{
    AuthParams, CSeq, Contact, HeaderField, HeaderName, Headers, MediaType, NameAddr, Params, RAck,
    Rport, Transport, TypedValue, Via,
};
pub use message::build_helpers::{error_response, reason_phrase};
pub use message::{Framed, Limits, Message, Request, Response, StreamFramer};
pub use method::Method;
pub use uri::{Host, SipUri, Uri};

/// Fuzz entry point: parses `data` as a datagram and, cut into small chunks, as a stream. Never panics on any
/// input; the only assertion is the writer's round trip (what we write parses back to the same bytes), a bug if
/// it ever fails.
#[doc(hidden)]
pub fn fuzz_parse(data: &[u8]) {
    match Message::parse(data) {
        Ok(m) => {
            let out = m.to_bytes();
            let again = Message::parse(&out).map(|m| m.to_bytes());
            assert_eq!(
                again.as_deref(),
                Ok(&out[..]),
                "write → parse → write must be stable"
            );
        }
        Err(e) => {
            let _ = error_response(data, e.status_code());
        }
    }
    let mut f = StreamFramer::new(Limits {
        max_message_size: 4096,
        max_headers: 64,
    });
    for chunk in data.chunks(7) {
        f.push(chunk);
        // bounded: each Ok item consumes at least one byte of the buffer
        for _ in 0..data.len() + 1 {
            match f.next_message() {
                Some(Ok(Framed::Message(m))) => {
                    let _ = m.to_bytes();
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            }
        }
    }
}
