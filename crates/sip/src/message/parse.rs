//! The parser (RFC 3261 §7, §18.3, §25; tolerances from RFC 4475 §3.1.1). Total: no input panics.

use super::{Message, Request, Response};
use crate::error::{ParseError, UriError};
use crate::header::{HeaderField, HeaderName, Headers};
use crate::method::Method;
use crate::uri::SipUri;

/// Size limits applied before and during parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message (start line + headers + body) accepted, in bytes. Default 65 535 (the UDP maximum).
    pub max_message_size: usize,
    /// Most header fields (lines, after unfolding) accepted. Default 128.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 65_535,
            max_headers: 128,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// UDP: body to the datagram end when Content-Length is absent.
    Datagram,
    /// TCP/TLS: Content-Length required (RFC 3261 §18.3, §20.14).
    Stream,
}

enum Start {
    Request(Method, SipUri),
    Response(u16, String),
}

/// Splits `data[pos..]` at the next LF: (line start, line end before CR LF, start of the next line).
fn next_line(data: &[u8], pos: usize) -> (usize, usize, usize) {
    let rest = data.get(pos..).unwrap_or(b"");
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let end = pos + i;
            let line_end = if i > 0 && data.get(end - 1) == Some(&b'\r') {
                end - 1
            } else {
                end
            };
            (pos, line_end, end + 1)
        }
        None => (pos, data.len(), data.len()),
    }
}

/// Parses one message. Returns it and the number of bytes it used (including skipped leading CRLFs).
pub(crate) fn parse(
    data: &[u8],
    limits: &Limits,
    framing: Framing,
) -> Result<(Message, usize), ParseError> {
    if data.len() > limits.max_message_size && framing == Framing::Datagram {
        return Err(ParseError::MessageTooLarge {
            limit: limits.max_message_size,
        });
    }
    // RFC 3261 §7.5: ignore CRLFs before the start line.
    let mut pos = data
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if pos >= data.len() {
        return Err(ParseError::Empty);
    }
    let (s, e, next) = next_line(data, pos);
    let start_line = data.get(s..e).unwrap_or(b"");
    pos = next;
    let is_response = start_line.len() >= 4
        && start_line
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"));
    let start = if is_response {
        let (status, reason) = status_line(start_line)?;
        Start::Response(status, reason)
    } else {
        let (method, uri) = request_line(start_line)?;
        Start::Request(method, uri)
    };

    // Header lines with their continuation lines (RFC 3261 §7.3.1 folding).
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut body_start = data.len();
    while pos < data.len() {
        let (s, e, next) = next_line(data, pos);
        if s == e {
            body_start = next;
            break;
        }
        let first = data.get(s).copied().unwrap_or(b' ');
        if first == b' ' || first == b'\t' {
            let last = spans.last_mut().ok_or(ParseError::HeaderLine)?;
            last.1 = e;
        } else {
            if spans.len() >= limits.max_headers {
                return Err(ParseError::TooManyHeaders {
                    limit: limits.max_headers,
                });
            }
            spans.push((s, e));
        }
        pos = next;
        // Lenient (documented): a header section that ends with the data and no empty line is accepted.
        body_start = pos;
    }

    let mut headers = Headers::new();
    for (s, e) in spans {
        headers.push(HeaderField::parse_line(data.get(s..e).unwrap_or(b""))?);
    }

    let body_len = match headers.count(HeaderName::ContentLength) {
        0 => match framing {
            Framing::Datagram => data.len().saturating_sub(body_start),
            Framing::Stream => return Err(ParseError::MissingContentLength),
        },
        1 => headers.content_length().map_or(0, |n| n as usize),
        _ => return Err(ParseError::DuplicateHeader("Content-Length")),
    };
    let end = body_start
        .checked_add(body_len)
        .ok_or(ParseError::BodyTruncated { declared: body_len })?;
    let body = data
        .get(body_start..end)
        .ok_or(ParseError::BodyTruncated { declared: body_len })?
        .to_vec();

    let msg = match start {
        Start::Response(status, reason) => Message::Response(Response {
            status,
            reason,
            headers,
            body,
        }),
        Start::Request(method, uri) => Message::Request(Request {
            method,
            uri,
            headers,
            body,
        }),
    };
    check_headers(&msg)?;
    Ok((msg, end))
}

fn check_version(v: &[u8]) -> Result<(), ParseError> {
    if v.eq_ignore_ascii_case(b"SIP/2.0") {
        return Ok(());
    }
    // A well-formed other version gets 505 (RFC 3261 §8.2.2... §21.5.6); anything else is malformed.
    let rest = v.get(4..).unwrap_or(b"");
    let mut parts = rest.split(|&b| b == b'.');
    let ok = matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None)
        if !a.is_empty() && !b.is_empty() && a.iter().chain(b).all(u8::is_ascii_digit));
    if ok && v.get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/")) {
        Err(ParseError::UnsupportedVersion)
    } else {
        Err(ParseError::StartLine)
    }
}

fn status_line(line: &[u8]) -> Result<(u16, String), ParseError> {
    let sp = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ParseError::StartLine)?;
    check_version(line.get(..sp).unwrap_or(b""))?;
    let rest = line.get(sp + 1..).unwrap_or(b"");
    let code = rest.get(..3).ok_or(ParseError::StatusCode)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::StatusCode);
    }
    let reason = match rest.get(3) {
        Some(b' ') => rest.get(4..).unwrap_or(b""),
        // Lenient (documented): "SIP/2.0 100" without the SP before an empty reason.
        None => b"",
        Some(_) => return Err(ParseError::StatusCode),
    };
    let status = code.iter().fold(0u16, |a, &d| a * 10 + u16::from(d - b'0'));
    if !(100..=699).contains(&status) {
        return Err(ParseError::StatusCode);
    }
    Ok((status, String::from_utf8_lossy(reason).into_owned()))
}

fn request_line(line: &[u8]) -> Result<(Method, SipUri), ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::Utf8)?;
    // Exactly three parts separated by single SPs (RFC 4475 §3.1.2.8, §3.1.2.9, §3.1.2.10).
    let mut parts = line.split(' ');
    let (Some(m), Some(u), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::StartLine);
    };
    if m.is_empty() || u.is_empty() || v.is_empty() {
        return Err(ParseError::StartLine);
    }
    check_version(v.as_bytes())?;
    let method = Method::parse(m).ok_or(ParseError::Method)?;
    let uri = match SipUri::parse(u) {
        Ok(uri) => uri,
        Err(UriError::NotSip) => return Err(ParseError::UnsupportedUriScheme),
        Err(e) => return Err(ParseError::RequestUri(e)),
    };
    if uri.has_headers() {
        return Err(ParseError::RequestUriHeaders);
    }
    Ok((method, uri))
}

/// Mandatory and single-valued headers (RFC 3261 §8.1.1, §20; RFC 4475 §3.3.1, §3.3.8, §3.1.2.17).
fn check_headers(msg: &Message) -> Result<(), ParseError> {
    let h = msg.headers();
    for name in [
        HeaderName::To,
        HeaderName::From,
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::Via,
    ] {
        if h.count(name.clone()) == 0 {
            return Err(ParseError::MissingHeader(name.static_name()));
        }
    }
    for name in [
        HeaderName::To,
        HeaderName::From,
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::MaxForwards,
        HeaderName::ContentType,
        HeaderName::Expires,
        HeaderName::RSeq,
        HeaderName::RAck,
    ] {
        if h.count(name.clone()) > 1 {
            return Err(ParseError::DuplicateHeader(name.static_name()));
        }
    }
    if let Message::Request(r) = msg {
        if h.cseq().is_some_and(|c| c.method != r.method) {
            return Err(ParseError::CSeqMethodMismatch);
        }
    }
    Ok(())
}
