//! The SDP model, parser and writer (RFC 8866).
//!
//! Every line is kept, in order, with its original text; typed values are derived from that text at parse
//! time. The writer emits each line's text followed by CRLF, so attributes this crate does not know survive a
//! round trip byte-exact, and `parse(write(x)) == x` for every parsed `x`. Input may end lines with CRLF or LF.

use core::fmt;

use crate::attr::{
    Attribute, ConnectionData, Direction, LineError, MediaLine, Origin, Setup, TlsId,
};
use crate::fingerprint::Fingerprint;

/// Default maximum body size accepted by [`Sdp::parse`]: 64 KiB, far above any real SDP (a Chromium offer with
/// simulcast video is about 10 KiB) and small enough to bound the work a hostile peer can cause.
pub const DEFAULT_MAX_LEN: usize = 64 * 1024;

/// Parser settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Maximum body length in bytes ([`DEFAULT_MAX_LEN`]).
    pub max_len: usize,
    /// Accept m= lines whose transport protocol is not one we know (kept as [`crate::attr::Proto::Other`]); an answerer
    /// then rejects such an m-line with port 0 (RFC 3264 §6). Off by default: unknown protocols are an error.
    pub accept_unknown_proto: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            max_len: DEFAULT_MAX_LEN,
            accept_unknown_proto: false,
        }
    }
}

impl ParseOptions {
    /// With another size limit.
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// Accepting unknown m= line protocols.
    pub fn accepting_unknown_proto(mut self) -> Self {
        self.accept_unknown_proto = true;
        self
    }
}

/// Why a body could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The body exceeds [`ParseOptions::max_len`].
    #[error("body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// The body is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// The first line is not `v=`.
    #[error("first line is not v=")]
    MissingVersion,
    /// A mandatory session-level line (`o=`, `s=`, `t=`) is missing.
    #[error("missing {0}= line")]
    MissingLine(char),
    /// A session-level line that may appear once appears twice (`v=`, `o=`, `s=`).
    #[error("duplicate {0}= line")]
    Duplicate(char),
    /// A line is wrong in itself.
    #[error("{0}")]
    Line(LineError),
}

/// A parse error: what is wrong and on which line (1-based; the line where the limit was crossed for
/// [`ParseErrorKind::TooLarge`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("SDP line {line}: {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// The typed value of a line, derived from its text.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value {
    /// A line whose value this crate does not interpret (`s=`, `i=`, `b=`, ...).
    Raw,
    /// `o=`.
    Origin(Origin),
    /// `c=`.
    Connection(ConnectionData),
    /// `a=`.
    Attribute(Attribute),
    /// `m=`.
    Media(MediaLine),
}

/// One line: its type letter, its text after `=` (written back unchanged) and its typed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    kind: u8,
    text: String,
    value: Value,
}

const TYPES: &[u8] = b"vosiuepcbtrzkam";

impl Line {
    /// Parses one line (without its line ending).
    pub fn parse(line: &str, opts: &ParseOptions) -> Result<Self, LineError> {
        let bytes = line.as_bytes();
        let (Some(&kind), Some(&b'=')) = (bytes.first(), bytes.get(1)) else {
            return Err(LineError::Malformed);
        };
        if bytes.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
            return Err(LineError::Malformed);
        }
        if !TYPES.contains(&kind) {
            return Err(if kind.is_ascii_lowercase() {
                LineError::UnknownType
            } else {
                LineError::Malformed
            });
        }
        let text = line.get(2..).ok_or(LineError::Malformed)?;
        let value = match kind {
            b'v' if text != "0" => return Err(LineError::BadVersion),
            b'o' => Value::Origin(text.parse()?),
            b'c' => Value::Connection(text.parse()?),
            b't' => {
                let mut it = text.split(' ');
                let num = |s: Option<&str>| {
                    s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                };
                if !num(it.next()) || !num(it.next()) || it.next().is_some() {
                    return Err(LineError::BadTiming);
                }
                Value::Raw
            }
            b'a' => Value::Attribute(Attribute::parse(text)?),
            b'm' => Value::Media(MediaLine::parse(text, opts.accept_unknown_proto)?),
            _ => Value::Raw,
        };
        Ok(Self {
            kind,
            text: text.to_owned(),
            value,
        })
    }

    /// A line of any type, parsed from `text` (for builders).
    pub fn new(kind: char, text: &str) -> Result<Self, LineError> {
        let mut s = String::with_capacity(text.len() + 2);
        s.push(kind);
        s.push('=');
        s.push_str(text);
        Self::parse(
            &s,
            &ParseOptions {
                accept_unknown_proto: true,
                ..ParseOptions::default()
            },
        )
    }

    /// The type letter.
    pub fn kind(&self) -> char {
        char::from(self.kind)
    }

    /// The text after `=`, exactly as received.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The typed value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The attribute, for `a=` lines.
    pub fn attribute(&self) -> Option<&Attribute> {
        match &self.value {
            Value::Attribute(a) => Some(a),
            _ => None,
        }
    }

    /// The attribute name of an `a=` line.
    pub fn attribute_name(&self) -> Option<&str> {
        (self.kind == b'a').then(|| {
            self.text
                .split_once(':')
                .map_or(self.text.as_str(), |(n, _)| n)
        })
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", char::from(self.kind), self.text)
    }
}

/// One media description: its m= line and the lines after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    /// The m= line's text after `m=`, as received (written back unchanged).
    m_text: String,
    mline: MediaLine,
    lines: Vec<Line>,
}

impl Media {
    /// A media description from an m= line value.
    pub fn new(mline: MediaLine) -> Self {
        Self {
            m_text: mline.to_string(),
            mline,
            lines: Vec::new(),
        }
    }

    /// The m= line.
    pub fn media_line(&self) -> &MediaLine {
        &self.mline
    }

    /// The lines after the m= line, in order.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// Appends a line.
    pub fn push(&mut self, line: Line) {
        self.lines.push(line);
    }

    /// Every attribute of this media description, in order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.lines.iter().filter_map(Line::attribute)
    }

    /// The media-level `c=`, if any.
    pub fn connection(&self) -> Option<&ConnectionData> {
        connection(&self.lines)
    }

    /// `a=setup` at media level.
    pub fn setup(&self) -> Option<Setup> {
        setup(&self.lines)
    }

    /// `a=fingerprint` lines at media level with a known hash (P-5.1a: a list, not one value).
    pub fn fingerprints(&self) -> Vec<Fingerprint> {
        fingerprints(&self.lines)
    }

    /// `a=tls-id` (media level only, RFC 8842 §4).
    pub fn tls_id(&self) -> Option<&TlsId> {
        self.attributes().find_map(|a| match a {
            Attribute::TlsId(t) => Some(t),
            _ => None,
        })
    }

    /// `a=mid`.
    pub fn mid(&self) -> Option<&str> {
        self.attributes().find_map(|a| match a {
            Attribute::Mid(m) => Some(m.as_str()),
            _ => None,
        })
    }

    /// Whether `a=rtcp-mux` is present.
    pub fn rtcp_mux(&self) -> bool {
        self.attributes().any(|a| matches!(a, Attribute::RtcpMux))
    }

    /// The media direction (default sendrecv; RFC 8866 §6.7; media level overrides session level).
    pub fn direction(&self) -> Option<Direction> {
        direction(&self.lines)
    }

    /// `a=ice-ufrag` at media level.
    pub fn ice_ufrag(&self) -> Option<&str> {
        ice_ufrag(&self.lines)
    }

    /// `a=ice-pwd` at media level.
    pub fn ice_pwd(&self) -> Option<&str> {
        ice_pwd(&self.lines)
    }
}

pub(crate) fn connection(lines: &[Line]) -> Option<&ConnectionData> {
    lines.iter().find_map(|l| match &l.value {
        Value::Connection(c) => Some(c),
        _ => None,
    })
}

pub(crate) fn setup(lines: &[Line]) -> Option<Setup> {
    lines
        .iter()
        .filter_map(Line::attribute)
        .find_map(|a| match a {
            Attribute::Setup(s) => Some(*s),
            _ => None,
        })
}

pub(crate) fn fingerprints(lines: &[Line]) -> Vec<Fingerprint> {
    lines
        .iter()
        .filter_map(Line::attribute)
        .filter_map(|a| match a {
            Attribute::Fingerprint(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

pub(crate) fn has_any_fingerprint(lines: &[Line]) -> bool {
    lines.iter().filter_map(Line::attribute).any(|a| {
        matches!(
            a,
            Attribute::Fingerprint(_) | Attribute::FingerprintUnknownHash
        )
    })
}

pub(crate) fn direction(lines: &[Line]) -> Option<Direction> {
    lines
        .iter()
        .filter_map(Line::attribute)
        .find_map(|a| match a {
            Attribute::Direction(d) => Some(*d),
            _ => None,
        })
}

pub(crate) fn ice_ufrag(lines: &[Line]) -> Option<&str> {
    lines
        .iter()
        .filter_map(Line::attribute)
        .find_map(|a| match a {
            Attribute::IceUfrag(u) => Some(u.as_str()),
            _ => None,
        })
}

pub(crate) fn ice_pwd(lines: &[Line]) -> Option<&str> {
    lines
        .iter()
        .filter_map(Line::attribute)
        .find_map(|a| match a {
            Attribute::IcePwd(u) => Some(u.as_str()),
            _ => None,
        })
}

/// A session description: session-level lines, then media descriptions, each in their original order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sdp {
    session: Vec<Line>,
    media: Vec<Media>,
}

impl Sdp {
    /// Parses a body with [`ParseOptions::default`].
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        Self::parse_with(body, &ParseOptions::default())
    }

    /// Parses a body.
    pub fn parse_with(body: &[u8], opts: &ParseOptions) -> Result<Self, ParseError> {
        if body.len() > opts.max_len {
            let head = body.get(..opts.max_len).unwrap_or(body);
            let line = head.iter().filter(|&&b| b == b'\n').count() + 1;
            return Err(ParseError {
                line,
                kind: ParseErrorKind::TooLarge {
                    limit: opts.max_len,
                },
            });
        }
        let text = match core::str::from_utf8(body) {
            Ok(t) => t,
            Err(e) => {
                let head = body.get(..e.valid_up_to()).unwrap_or(&[]);
                let line = head.iter().filter(|&&b| b == b'\n').count() + 1;
                return Err(ParseError {
                    line,
                    kind: ParseErrorKind::NotUtf8,
                });
            }
        };
        let mut raw: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        while raw.last().is_some_and(|l| l.is_empty()) {
            raw.pop();
        }
        let err = |line: usize, kind: ParseErrorKind| ParseError { line, kind };
        if !raw.first().is_some_and(|l| l.starts_with("v=")) {
            return Err(err(1, ParseErrorKind::MissingVersion));
        }
        let mut sdp = Sdp {
            session: Vec::new(),
            media: Vec::new(),
        };
        let (mut seen_o, mut seen_s, mut seen_t) = (false, false, false);
        for (i, l) in raw.iter().enumerate() {
            let n = i + 1;
            let line = Line::parse(l, opts).map_err(|e| err(n, ParseErrorKind::Line(e)))?;
            match (line.kind, sdp.media.last_mut()) {
                (b'm', _) => {
                    let Value::Media(mline) = line.value else {
                        return Err(err(n, ParseErrorKind::Line(LineError::BadMedia)));
                    };
                    sdp.media.push(Media {
                        m_text: line.text,
                        mline,
                        lines: Vec::new(),
                    });
                }
                (b'v' | b'o' | b's' | b't' | b'z' | b'r' | b'u' | b'e' | b'p', Some(_)) => {
                    // RFC 8866 §5: these appear only at session level (k= is allowed in media too).
                    return Err(err(n, ParseErrorKind::Line(LineError::Malformed)));
                }
                (_, Some(m)) => m.lines.push(line),
                (kind, None) => {
                    let dup = |seen: &mut bool, c: char| {
                        if core::mem::replace(seen, true) {
                            Err(err(n, ParseErrorKind::Duplicate(c)))
                        } else {
                            Ok(())
                        }
                    };
                    match kind {
                        b'v' if i > 0 => return Err(err(n, ParseErrorKind::Duplicate('v'))),
                        b'o' => dup(&mut seen_o, 'o')?,
                        b's' => dup(&mut seen_s, 's')?,
                        b't' => seen_t = true,
                        _ => {}
                    }
                    sdp.session.push(line);
                }
            }
        }
        let end = sdp.session.len() + 1;
        for (seen, c) in [(seen_o, 'o'), (seen_s, 's'), (seen_t, 't')] {
            if !seen {
                return Err(err(end, ParseErrorKind::MissingLine(c)));
            }
        }
        Ok(sdp)
    }

    /// An empty description (for builders); push `v=`, `o=`, `s=`, `t=` first.
    pub fn empty() -> Self {
        Self {
            session: Vec::new(),
            media: Vec::new(),
        }
    }

    /// Session-level lines, in order.
    pub fn session_lines(&self) -> &[Line] {
        &self.session
    }

    /// Appends a session-level line.
    pub fn push_session(&mut self, line: Line) {
        self.session.push(line);
    }

    /// Media descriptions, in order.
    pub fn media(&self) -> &[Media] {
        &self.media
    }

    /// Mutable media descriptions.
    pub fn media_mut(&mut self) -> &mut [Media] {
        &mut self.media
    }

    /// Appends a media description.
    pub fn push_media(&mut self, media: Media) {
        self.media.push(media);
    }

    /// Session-level attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.session.iter().filter_map(Line::attribute)
    }

    /// `o=`.
    pub fn origin(&self) -> Option<&Origin> {
        self.session.iter().find_map(|l| match &l.value {
            Value::Origin(o) => Some(o),
            _ => None,
        })
    }

    /// Session-level `c=`.
    pub fn connection(&self) -> Option<&ConnectionData> {
        connection(&self.session)
    }

    /// Session-level `a=setup`.
    pub fn setup(&self) -> Option<Setup> {
        setup(&self.session)
    }

    /// Session-level fingerprints with a known hash.
    pub fn fingerprints(&self) -> Vec<Fingerprint> {
        fingerprints(&self.session)
    }

    /// Whether `a=ice-lite` is present at session level.
    pub fn ice_lite(&self) -> bool {
        self.attributes().any(|a| matches!(a, Attribute::IceLite))
    }

    /// The `a=group:BUNDLE` groups at session level.
    pub fn bundle_groups(&self) -> impl Iterator<Item = &[String]> {
        self.attributes().filter_map(|a| match a {
            Attribute::Group(g) if g.semantics.eq_ignore_ascii_case("BUNDLE") => {
                Some(g.mids.as_slice())
            }
            _ => None,
        })
    }

    /// The connection address of media `i`: media-level `c=`, else session-level (RFC 8866 §5.7).
    pub fn media_connection(&self, i: usize) -> Option<&ConnectionData> {
        self.media
            .get(i)
            .and_then(Media::connection)
            .or_else(|| self.connection())
    }

    /// The `a=setup` of media `i`: media level, else session level.
    pub fn media_setup(&self, i: usize) -> Option<Setup> {
        self.media
            .get(i)
            .and_then(Media::setup)
            .or_else(|| self.setup())
    }

    /// The fingerprints that apply to media `i` (P-5d): the media-level ones if it has any `a=fingerprint`
    /// line, else the session-level ones.
    pub fn media_fingerprints(&self, i: usize) -> Vec<Fingerprint> {
        match self.media.get(i) {
            Some(m) if has_any_fingerprint(&m.lines) => m.fingerprints(),
            Some(_) => self.fingerprints(),
            None => Vec::new(),
        }
    }

    /// Whether any `a=fingerprint` line (even of an unknown hash) applies to media `i`.
    pub fn media_has_fingerprint_line(&self, i: usize) -> bool {
        self.media
            .get(i)
            .is_some_and(|m| has_any_fingerprint(&m.lines) || has_any_fingerprint(&self.session))
    }

    /// The ICE ufrag of media `i` (media level overrides session level).
    pub fn media_ice_ufrag(&self, i: usize) -> Option<&str> {
        self.media
            .get(i)
            .and_then(Media::ice_ufrag)
            .or_else(|| ice_ufrag(&self.session))
    }

    /// The ICE password of media `i` (media level overrides session level).
    pub fn media_ice_pwd(&self, i: usize) -> Option<&str> {
        self.media
            .get(i)
            .and_then(Media::ice_pwd)
            .or_else(|| ice_pwd(&self.session))
    }

    /// The direction of media `i` (media, else session, else sendrecv).
    pub fn media_direction(&self, i: usize) -> Direction {
        self.media
            .get(i)
            .and_then(Media::direction)
            .or_else(|| direction(&self.session))
            .unwrap_or_default()
    }

    /// The body with CRLF line endings.
    pub fn write(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Sdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.session {
            write!(f, "{l}\r\n")?;
        }
        for m in &self.media {
            write!(f, "m={}\r\n", m.m_text)?;
            for l in &m.lines {
                write!(f, "{l}\r\n")?;
            }
        }
        Ok(())
    }
}

impl core::str::FromStr for Sdp {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::parse(s.as_bytes())
    }
}
