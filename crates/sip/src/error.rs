//! Typed parse errors, each mapped to the status code a UAS answers with (RFC 3261 §8.2, §21; RFC 4475 §3.1.2).

/// What went wrong inside one header field value.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The value is empty where the grammar needs one.
    #[error("empty value")]
    Empty,
    /// The value does not follow the header's grammar.
    #[error("syntax error")]
    Syntax,
    /// An element of a comma-separated list is empty (`a,,b`).
    #[error("empty list element")]
    EmptyElement,
    /// A `;` not followed by a parameter name.
    #[error("empty parameter")]
    EmptyParam,
    /// A quoted string without its closing quote (RFC 4475 §3.1.2.6).
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A display name that is neither tokens nor a quoted string (RFC 4475 §3.1.2.15).
    #[error("invalid display name")]
    DisplayName,
    /// A URI outside `<>` that contains `,`, `;` or `?` (RFC 3261 §20.10, RFC 4475 §3.1.2.13).
    #[error("URI with reserved characters must be enclosed in <>")]
    UnbracketedUri,
    /// Whitespace inside `<` `>` around an addr-spec (RFC 4475 §3.1.2.14).
    #[error("whitespace inside <>")]
    SpaceInBrackets,
    /// A number outside its legal range (CSeq ≥ 2^31, Max-Forwards > 255, RFC 4475 §3.1.2.4).
    #[error("number out of range")]
    OutOfRange,
    /// The URI inside the header is malformed.
    #[error("bad URI: {0}")]
    Uri(#[from] UriError),
    /// The field is not valid UTF-8.
    #[error("not UTF-8")]
    Utf8,
    /// A Date that is not an RFC 1123 date in GMT (RFC 3261 §20.17, RFC 4475 §3.1.2.12).
    #[error("date not in GMT")]
    DateNotGmt,
}

/// What went wrong inside a SIP or SIPS URI (RFC 3261 §19.1, §25.1).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// No `scheme:` prefix.
    #[error("missing scheme")]
    NoScheme,
    /// The scheme is not `sip` or `sips`.
    #[error("not a sip or sips URI")]
    NotSip,
    /// Illegal character in the user or password part.
    #[error("bad userinfo")]
    UserInfo,
    /// Empty or illegal host.
    #[error("bad host")]
    Host,
    /// Bad IPv6 reference.
    #[error("bad IPv6 reference")]
    Ipv6,
    /// Port empty, not a number or above 65535.
    #[error("bad port")]
    Port,
    /// Bad uri-parameter.
    #[error("bad parameter")]
    Param,
    /// Bad header part after `?`.
    #[error("bad header part")]
    Headers,
    /// A `%` not followed by two hex digits.
    #[error("bad escape")]
    Escape,
}

/// Why a message was refused. [`ParseError::status_code`] gives the response for a request.
///
/// For responses there is nobody to answer: a malformed response is dropped (RFC 3261 §18.1.2).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The message (or the buffered stream data) exceeds the configured size limit.
    #[error("message larger than {limit} bytes")]
    MessageTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// More header fields than the configured limit.
    #[error("more than {limit} header fields")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// Nothing but whitespace.
    #[error("empty message")]
    Empty,
    /// The request or status line does not have its three parts separated by single spaces.
    #[error("malformed start line")]
    StartLine,
    /// The method is not a token.
    #[error("invalid method")]
    Method,
    /// A well-formed SIP version other than 2.0 (RFC 4475 §3.1.2.16).
    #[error("unsupported SIP version")]
    UnsupportedVersion,
    /// The status code is not three digits from 100 to 699 (RFC 4475 §3.1.2.19).
    #[error("invalid status code")]
    StatusCode,
    /// The Request-URI is malformed (RFC 4475 §3.1.2.7, §3.1.2.8).
    #[error("malformed Request-URI: {0}")]
    RequestUri(UriError),
    /// The Request-URI is a valid absolute URI with a scheme other than sip/sips (RFC 4475 §3.3.2).
    #[error("unsupported URI scheme")]
    UnsupportedUriScheme,
    /// The Request-URI carries `?headers`, forbidden there (RFC 3261 §19.1.5, RFC 4475 §3.1.2.11).
    #[error("headers in Request-URI")]
    RequestUriHeaders,
    /// A header line without a colon, with a bad name, or a continuation line before any header.
    #[error("malformed header line")]
    HeaderLine,
    /// A known header whose value breaks its grammar.
    #[error("invalid {name} header: {error}")]
    Header {
        /// Which header (its canonical name).
        name: &'static str,
        /// What is wrong with it.
        error: HeaderError,
    },
    /// A mandatory header is absent (RFC 3261 §8.1.1, RFC 4475 §3.3.1).
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A single-valued header appears more than once (RFC 4475 §3.3.8, §3.3.9).
    #[error("{0} header appears more than once")]
    DuplicateHeader(&'static str),
    /// CSeq method differs from the request method (RFC 4475 §3.1.2.17, §3.1.2.18).
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    /// A message on a stream transport without Content-Length (RFC 3261 §18.3).
    #[error("missing Content-Length on a stream transport")]
    MissingContentLength,
    /// Content-Length is larger than the bytes that came (RFC 4475 §3.1.2.2).
    #[error("body shorter than Content-Length {declared}")]
    BodyTruncated {
        /// The Content-Length value.
        declared: usize,
    },
    /// The start line or a typed header is not UTF-8.
    #[error("not UTF-8")]
    Utf8,
}

impl ParseError {
    /// The status code a UAS answers a request with (RFC 3261 §21; RFC 4475 §3.1.2, §3.3).
    ///
    /// 483 Too Many Hops is not here: Max-Forwards 0 parses fine and is the UA's decision.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::MessageTooLarge { .. } | Self::TooManyHeaders { .. } => 413,
            Self::UnsupportedVersion => 505,
            Self::UnsupportedUriScheme => 416,
            Self::Empty
            | Self::StartLine
            | Self::Method
            | Self::StatusCode
            | Self::RequestUri(_)
            | Self::RequestUriHeaders
            | Self::HeaderLine
            | Self::Header { .. }
            | Self::MissingHeader(_)
            | Self::DuplicateHeader(_)
            | Self::CSeqMethodMismatch
            | Self::MissingContentLength
            | Self::BodyTruncated { .. }
            | Self::Utf8 => 400,
        }
    }

    /// True when the stream can no longer be framed and the connection must be closed.
    pub fn is_fatal_for_stream(&self) -> bool {
        matches!(
            self,
            Self::MessageTooLarge { .. } | Self::TooManyHeaders { .. } | Self::MissingContentLength
        )
    }
}
