//! SIP requests and responses (RFC 3261 §7): model, parser ([`Message::parse`]), writer
//! ([`Message::to_bytes`]) and a stream framer ([`StreamFramer`]).

pub(crate) mod build;
pub(crate) use build as build_helpers;
mod framer;
mod parse;

pub use framer::{Framed, StreamFramer};
pub use parse::Limits;

use crate::error::ParseError;
use crate::header::{HeaderName, Headers};
use crate::method::Method;
use crate::uri::SipUri;

/// A request: `Method SP Request-URI SP SIP/2.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI (sip or sips only; other schemes are refused with 416 at parse time).
    pub uri: SipUri,
    /// The header fields.
    pub headers: Headers,
    /// The body (exactly Content-Length bytes when that header is present).
    pub body: Vec<u8>,
}

/// A response: `SIP/2.0 SP Status-Code SP Reason-Phrase`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, 100..=699.
    pub status: u16,
    /// Reason phrase (may be empty; non-UTF-8 bytes are replaced).
    pub reason: String,
    /// The header fields.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// Parses one message from a datagram with default [`Limits`]: the body runs to Content-Length, or to the end
    /// of the datagram when that header is absent (RFC 3261 §18.3). Bytes after Content-Length are discarded.
    pub fn parse(data: &[u8]) -> Result<Self, ParseError> {
        Self::parse_with(data, &Limits::default())
    }

    /// [`Message::parse`] with explicit limits.
    pub fn parse_with(data: &[u8], limits: &Limits) -> Result<Self, ParseError> {
        parse::parse(data, limits, parse::Framing::Datagram).map(|(m, _)| m)
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        match self {
            Self::Request(r) => &r.headers,
            Self::Response(r) => &r.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        match self {
            Self::Request(r) => &r.body,
            Self::Response(r) => &r.body,
        }
    }

    /// The message on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Request(r) => r.to_bytes(),
            Self::Response(r) => r.to_bytes(),
        }
    }

    /// The request, if it is one.
    pub fn as_request(&self) -> Option<&Request> {
        match self {
            Self::Request(r) => Some(r),
            Self::Response(_) => None,
        }
    }

    /// The response, if it is one.
    pub fn as_response(&self) -> Option<&Response> {
        match self {
            Self::Response(r) => Some(r),
            Self::Request(_) => None,
        }
    }
}

fn write_tail(headers: &Headers, body: &[u8], out: &mut Vec<u8>) {
    for f in headers.iter() {
        out.extend_from_slice(f.raw());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

impl Request {
    /// Writes the request; unchanged parsed headers come out byte-exact.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.uri.as_str().as_bytes());
        out.extend_from_slice(b" SIP/2.0\r\n");
        write_tail(&self.headers, &self.body, out);
    }

    /// The request on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        self.write_to(&mut out);
        out
    }
}

impl Response {
    /// Writes the response; unchanged parsed headers come out byte-exact.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("SIP/2.0 {} ", self.status).as_bytes());
        // CR/LF in a reason set by the caller would inject lines: written as spaces.
        out.extend(
            self.reason
                .bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        out.extend_from_slice(b"\r\n");
        write_tail(&self.headers, &self.body, out);
    }

    /// The response on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        self.write_to(&mut out);
        out
    }

    /// True for 1xx.
    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }
}

/// Sets the body and its Content-Length (and Content-Type when given).
fn set_body(
    headers: &mut Headers,
    body: &mut Vec<u8>,
    content_type: Option<&str>,
    new: Vec<u8>,
) -> Result<(), crate::error::HeaderError> {
    if let Some(ct) = content_type {
        headers.set(HeaderName::ContentType, ct)?;
    }
    headers.set(HeaderName::ContentLength, &new.len().to_string())?;
    *body = new;
    Ok(())
}
