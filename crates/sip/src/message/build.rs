//! Building requests and responses (RFC 3261 §8.1.1, §8.2.6).

use super::{set_body, Request, Response};
use crate::error::HeaderError;
use crate::header::{HeaderField, HeaderName, Headers};
use crate::method::Method;
use crate::uri::SipUri;

/// The default reason phrase for a status code (RFC 3261 §21, RFC 3262, RFC 3311 and common extensions).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => match status / 100 {
            1 => "Session Progress",
            2 => "OK",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

impl Request {
    /// A request with no headers and no body; add Via, To, From, Call-ID, CSeq, Max-Forwards (§8.1.1).
    pub fn new(method: Method, uri: SipUri) -> Self {
        Self {
            method,
            uri,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// Sets the body with its Content-Type, and Content-Length.
    pub fn set_body(
        &mut self,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<(), HeaderError> {
        set_body(&mut self.headers, &mut self.body, content_type, body)
    }
}

impl Response {
    /// A response to `req` (RFC 3261 §8.2.6.2): Via (all), From, Call-ID and CSeq copied byte-exact, To copied
    /// with `to_tag` added when given and the request had none, Timestamp echoed for 100 (§8.2.6.1),
    /// and `Content-Length: 0`.
    pub fn from_request(
        req: &Request,
        status: u16,
        to_tag: Option<&str>,
    ) -> Result<Self, HeaderError> {
        let mut headers = Headers::new();
        for f in req.headers.iter() {
            match f.name() {
                HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                    headers.push(f.clone())
                }
                HeaderName::Timestamp if status == 100 => headers.push(f.clone()),
                HeaderName::To => match (to_tag, req.headers.to()) {
                    (Some(tag), Some(to)) if to.tag().is_none() => {
                        let mut to = to.clone();
                        to.set_tag(tag);
                        headers.push(HeaderField::new(HeaderName::To, &to.to_string())?);
                    }
                    _ => headers.push(f.clone()),
                },
                _ => {}
            }
        }
        headers.add(HeaderName::ContentLength, "0")?;
        Ok(Self {
            status,
            reason: reason_phrase(status).to_owned(),
            headers,
            body: Vec::new(),
        })
    }

    /// Sets the body with its Content-Type, and Content-Length.
    pub fn set_body(
        &mut self,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<(), HeaderError> {
        set_body(&mut self.headers, &mut self.body, content_type, body)
    }
}

/// A stateless error response built from the raw bytes of a request that failed to parse (RFC 3261 §8.2,
/// RFC 4475 §3.1.2): the Via, From, To, Call-ID and CSeq lines are copied verbatim. `None` when the bytes do not
/// look like a request or those header lines are missing — then the message is dropped.
pub fn error_response(data: &[u8], status: u16) -> Option<Vec<u8>> {
    let limited = data.get(..data.len().min(65_535)).unwrap_or(data);
    let text = limited.split(|&b| b == b'\n');
    let mut lines = text
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .skip_while(|l| l.is_empty());
    let first = lines.next()?;
    if first.len() < 4
        || first
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    {
        return None;
    }
    let wanted = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ];
    let mut found = [false; 5];
    let mut out = format!("SIP/2.0 {status} {}\r\n", reason_phrase(status)).into_bytes();
    let mut copying = false;
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            // a folded continuation of the previous header
            if copying {
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
            }
            continue;
        }
        copying = false;
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let Ok(name) = std::str::from_utf8(line.get(..colon).unwrap_or(b"")) else {
            continue;
        };
        let name = HeaderName::from_wire(name.trim_end());
        if let Some(i) = wanted.iter().position(|w| *w == name) {
            if let Some(f) = found.get_mut(i) {
                *f = true;
            }
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
            copying = true;
        }
    }
    if !found.iter().all(|&f| f) {
        return None;
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Some(out)
}
