//! Framing SIP over a stream transport (TCP/TLS, RFC 3261 §18.3): whole messages by Content-Length,
//! keep-alive CRLFs skipped (RFC 5626 §3.5.1), oversize refused.

use super::parse::{parse, Framing, Limits};
use super::Message;
use crate::error::ParseError;

/// One item taken out of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// A complete message.
    Message(Message),
    /// A double-CRLF keep-alive ping (answer with a single CRLF pong, RFC 5626 §4.4.1).
    KeepAlivePing,
    /// A message with correct framing but malformed content: answer 400 (or drop a response); the stream goes on.
    Malformed {
        /// Why it was refused.
        error: ParseError,
        /// Its bytes, for [`crate::error_response`].
        bytes: Vec<u8>,
    },
}

/// Buffers stream bytes and cuts them into messages.
///
/// ```
/// use dtlsrtp_sip::{Framed, StreamFramer};
/// let mut f = StreamFramer::default();
/// f.push(b"\r\n\r\nOPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n");
/// assert_eq!(f.next_message(), Some(Ok(Framed::KeepAlivePing)));
/// assert_eq!(f.next_message(), None); // waiting for the rest
/// f.push(b"To: <sip:a@example.com>\r\nFrom: <sip:b@example.com>;tag=1\r\nCall-ID: c\r\n");
/// f.push(b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
/// assert!(matches!(f.next_message(), Some(Ok(Framed::Message(_)))));
/// ```
#[derive(Debug, Clone, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
    limits: Limits,
    failed: Option<ParseError>,
    /// Bytes already searched for the end of the header section (keeps byte-at-a-time input linear).
    scanned: usize,
}

impl StreamFramer {
    /// A framer with the given limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            buf: Vec::new(),
            limits,
            failed: None,
            scanned: 0,
        }
    }

    /// Appends bytes read from the stream. After a fatal error the bytes are ignored.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes buffered and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next item: `None` when more bytes are needed; `Some(Err(_))` is fatal (oversize, no Content-Length):
    /// the connection must be closed, and every later call returns the same error.
    pub fn next_message(&mut self) -> Option<Result<Framed, ParseError>> {
        if let Some(e) = self.failed {
            return Some(Err(e));
        }
        // Keep-alive: CRLFCRLF between messages is a ping; a lone CRLF (a pong) or stray LF is skipped.
        loop {
            if self.buf.starts_with(b"\r\n\r\n") {
                self.buf.drain(..4);
                self.scanned = 0;
                return Some(Ok(Framed::KeepAlivePing));
            }
            if self.buf.len() < 4 && !self.buf.is_empty() && b"\r\n\r\n".starts_with(&self.buf) {
                return None; // maybe a ping that is not complete yet
            }
            if self.buf.starts_with(b"\r\n") {
                self.buf.drain(..2);
                self.scanned = 0;
            } else if self.buf.first() == Some(&b'\n') {
                self.buf.drain(..1);
                self.scanned = 0;
            } else {
                break;
            }
        }
        let Some(head_end) = find_head_end(&self.buf, self.scanned.saturating_sub(3)) else {
            self.scanned = self.buf.len();
            if self.buf.len() > self.limits.max_message_size {
                return Some(Err(self.fail(ParseError::MessageTooLarge {
                    limit: self.limits.max_message_size,
                })));
            }
            return None;
        };
        let content_length = match content_length(self.buf.get(..head_end).unwrap_or(b"")) {
            Ok(Some(n)) => n,
            Ok(None) => return Some(Err(self.fail(ParseError::MissingContentLength))),
            Err(e) => return Some(Err(self.fail(e))),
        };
        let total = match head_end.checked_add(content_length) {
            Some(t) if t <= self.limits.max_message_size => t,
            _ => {
                return Some(Err(self.fail(ParseError::MessageTooLarge {
                    limit: self.limits.max_message_size,
                })))
            }
        };
        if self.buf.len() < total {
            return None;
        }
        let bytes: Vec<u8> = self.buf.drain(..total).collect();
        self.scanned = 0;
        Some(Ok(match parse(&bytes, &self.limits, Framing::Stream) {
            Ok((m, _)) => Framed::Message(m),
            Err(e) if e.is_fatal_for_stream() => return Some(Err(self.fail(e))),
            Err(error) => Framed::Malformed { error, bytes },
        }))
    }

    fn fail(&mut self, e: ParseError) -> ParseError {
        self.failed = Some(e);
        self.buf.clear();
        self.scanned = 0;
        e
    }
}

/// Index just past the empty line ending the header section (CRLFCRLF or LFLF), if present.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(rel) = buf
        .get(i..)
        .and_then(|r| r.iter().position(|&b| b == b'\n'))
    {
        let nl = i + rel;
        let next = nl + 1;
        match buf.get(next) {
            Some(b'\n') => return Some(next + 1),
            Some(b'\r') if buf.get(next + 1) == Some(&b'\n') => return Some(next + 2),
            _ => {}
        }
        i = next;
    }
    None
}

/// The Content-Length (or `l`) of a header section; an error for a malformed or repeated one.
fn content_length(head: &[u8]) -> Result<Option<usize>, ParseError> {
    let mut found = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line.get(..colon).unwrap_or(b"");
        let name = name
            .get(
                ..name
                    .iter()
                    .rposition(|&b| b != b' ' && b != b'\t')
                    .map_or(0, |p| p + 1),
            )
            .unwrap_or(b"");
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            if found.is_some() {
                return Err(ParseError::DuplicateHeader("Content-Length"));
            }
            let v = std::str::from_utf8(line.get(colon + 1..).unwrap_or(b""))
                .map_err(|_| ParseError::Utf8)?;
            let v = v.trim_matches([' ', '\t']);
            if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::Header {
                    name: "Content-Length",
                    error: crate::error::HeaderError::Syntax,
                });
            }
            found = Some(v.parse::<usize>().map_err(|_| ParseError::Header {
                name: "Content-Length",
                error: crate::error::HeaderError::OutOfRange,
            })?);
        }
    }
    Ok(found)
}
