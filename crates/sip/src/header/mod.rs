//! Header fields: each kept as its exact bytes plus, for the headers the stack uses, a typed value parsed once.
//!
//! Unknown headers (and Identity, Subject, Date, ...) are kept verbatim, in order, and written back byte-exact.

pub(crate) mod lex;

mod addr;
mod auth;
mod misc;
mod name;
mod params;
mod via;

pub use addr::{Contact, NameAddr};
pub use auth::AuthParams;
pub use misc::{CSeq, MediaType, RAck, CSEQ_MAX};
pub use name::HeaderName;
pub use params::Params;
pub use via::{Rport, Transport, Via, MAGIC_COOKIE};

use crate::error::{HeaderError, ParseError};
use lex::{is_token, is_word_byte, split_commas, unfold};

/// The parsed form of one header field.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypedValue {
    /// Via: one or more values.
    Via(Vec<Via>),
    /// From or To.
    Addr(NameAddr),
    /// Contact: one or more values.
    Contact(Vec<Contact>),
    /// Route or Record-Route: one or more values.
    Route(Vec<NameAddr>),
    /// Call-ID.
    CallId(Box<str>),
    /// CSeq.
    CSeq(CSeq),
    /// Max-Forwards, Content-Length, RSeq, Expires.
    Number(u32),
    /// Supported, Require, Proxy-Require, Unsupported, Allow: option tags or methods.
    Tokens(Vec<Box<str>>),
    /// RAck.
    RAck(RAck),
    /// Content-Type.
    ContentType(MediaType),
    /// WWW-Authenticate, Proxy-Authenticate, Authorization, Proxy-Authorization.
    Auth(AuthParams),
    /// Any other header: kept only as bytes.
    Raw,
}

/// One header field: its exact bytes (name, colon, value, folds; no final CRLF) and its typed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField {
    name: HeaderName,
    raw: Box<[u8]>,
    value_start: usize,
    typed: TypedValue,
}

impl HeaderField {
    /// Parses one (possibly folded) header line without its terminating line break.
    pub(crate) fn parse_line(raw: &[u8]) -> Result<Self, ParseError> {
        let colon = raw
            .iter()
            .position(|&b| b == b':')
            .ok_or(ParseError::HeaderLine)?;
        let name_bytes = raw.get(..colon).ok_or(ParseError::HeaderLine)?;
        let name_end = name_bytes
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(0, |p| p + 1);
        let name = std::str::from_utf8(name_bytes.get(..name_end).unwrap_or(b""))
            .map_err(|_| ParseError::HeaderLine)?;
        if !is_token(name) {
            return Err(ParseError::HeaderLine);
        }
        let name = HeaderName::from_wire(name);
        let value = raw.get(colon + 1..).unwrap_or(b"");
        let typed = parse_typed(&name, value).map_err(|error| ParseError::Header {
            name: name.static_name(),
            error,
        })?;
        Ok(Self {
            name,
            raw: raw.into(),
            value_start: colon + 1,
            typed,
        })
    }

    /// Builds `Name: value` from a canonical name and a value, parsing it like a received one.
    /// A value with CR or LF is refused: it would inject header lines.
    pub fn new(name: HeaderName, value: &str) -> Result<Self, HeaderError> {
        if value.contains(['\r', '\n']) || !is_token(name.as_str()) {
            return Err(HeaderError::Syntax);
        }
        let line = format!("{}: {}", name.as_str(), value);
        let typed = parse_typed(&name, value.as_bytes())?;
        let value_start = name.as_str().len() + 1;
        Ok(Self {
            name,
            raw: line.into_bytes().into(),
            value_start,
            typed,
        })
    }

    /// The header name (compact forms mapped to the long name).
    pub fn name(&self) -> &HeaderName {
        &self.name
    }
    /// The exact bytes of the field as received or built, without the final CRLF.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }
    /// The value bytes after the colon, exactly as received (leading whitespace and folds included).
    pub fn raw_value(&self) -> &[u8] {
        self.raw.get(self.value_start..).unwrap_or(b"")
    }
    /// The value unfolded and trimmed (lossy for non-UTF-8 bytes).
    pub fn value(&self) -> String {
        unfold(self.raw_value())
            .map(|v| v.into_owned())
            .unwrap_or_else(|_| String::from_utf8_lossy(self.raw_value()).trim().to_owned())
    }
    /// The typed value.
    pub fn typed(&self) -> &TypedValue {
        &self.typed
    }
}

fn parse_typed(name: &HeaderName, value: &[u8]) -> Result<TypedValue, HeaderError> {
    use HeaderName as H;
    let needs_text = !matches!(
        name,
        H::Other(_)
            | H::Subject
            | H::Identity
            | H::ContentEncoding
            | H::Event
            | H::AllowEvents
            | H::ReferTo
            | H::ReferredBy
            | H::SessionExpires
            | H::Timestamp
    );
    if !needs_text {
        return Ok(TypedValue::Raw);
    }
    let v = unfold(value)?;
    let v: &str = &v;
    Ok(match name {
        H::Via => TypedValue::Via(
            split_commas(nonempty(v)?)?
                .into_iter()
                .map(Via::parse)
                .collect::<Result<_, _>>()?,
        ),
        H::From | H::To => TypedValue::Addr(NameAddr::parse(nonempty(v)?)?),
        H::Contact => TypedValue::Contact(
            split_commas(nonempty(v)?)?
                .into_iter()
                .map(Contact::parse)
                .collect::<Result<_, _>>()?,
        ),
        H::Route | H::RecordRoute => TypedValue::Route(
            split_commas(nonempty(v)?)?
                .into_iter()
                .map(NameAddr::parse)
                .collect::<Result<_, _>>()?,
        ),
        H::CallId => {
            let v = nonempty(v)?;
            if !v.bytes().all(|b| is_word_byte(b) || b == b'@')
                || v.bytes().filter(|&b| b == b'@').count() > 1
            {
                return Err(HeaderError::Syntax);
            }
            TypedValue::CallId(v.into())
        }
        H::CSeq => TypedValue::CSeq(CSeq::parse(v)?),
        // Max-Forwards = 1*DIGIT, 0..=255 in practice (RFC 4475 §3.1.2.4 treats 300 as out of range)
        H::MaxForwards => TypedValue::Number(num32(lex::number(v, 255)?)?),
        H::ContentLength => TypedValue::Number(num32(lex::number(v, u64::from(u32::MAX))?)?),
        H::RSeq => TypedValue::Number(num32(lex::number(v, u64::from(u32::MAX))?)?),
        H::Expires => TypedValue::Number(lex::delta_seconds(v)?),
        H::Supported | H::Require | H::ProxyRequire | H::Unsupported | H::Allow => {
            if v.is_empty() {
                TypedValue::Tokens(Vec::new())
            } else {
                let parts = split_commas(v)?;
                if !parts.iter().all(|p| is_token(p)) {
                    return Err(HeaderError::Syntax);
                }
                TypedValue::Tokens(parts.into_iter().map(Into::into).collect())
            }
        }
        H::RAck => TypedValue::RAck(RAck::parse(v)?),
        H::ContentType => TypedValue::ContentType(MediaType::parse(v)?),
        H::WwwAuthenticate | H::ProxyAuthenticate | H::Authorization | H::ProxyAuthorization => {
            TypedValue::Auth(AuthParams::parse(v)?)
        }
        H::Date => {
            misc::check_date(v)?;
            TypedValue::Raw
        }
        _ => TypedValue::Raw,
    })
}

fn nonempty(v: &str) -> Result<&str, HeaderError> {
    if v.is_empty() {
        Err(HeaderError::Empty)
    } else {
        Ok(v)
    }
}

fn num32(v: u64) -> Result<u32, HeaderError> {
    u32::try_from(v).map_err(|_| HeaderError::OutOfRange)
}

/// The header section: fields in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<HeaderField>,
}

macro_rules! list_getter {
    ($(#[$doc:meta])* $fn:ident, $name:ident, $variant:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $fn(&self) -> impl Iterator<Item = &$ty> {
            self.all(HeaderName::$name).flat_map(|f| match &f.typed {
                TypedValue::$variant(v) => v.as_slice(),
                _ => &[],
            })
        }
    };
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }
    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &HeaderField> {
        self.fields.iter()
    }
    /// Number of fields (lines, not values).
    pub fn len(&self) -> usize {
        self.fields.len()
    }
    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
    /// Appends a field.
    pub fn push(&mut self, field: HeaderField) {
        self.fields.push(field);
    }
    /// Appends `name: value`, parsed like a received field.
    pub fn add(&mut self, name: HeaderName, value: &str) -> Result<(), HeaderError> {
        self.fields.push(HeaderField::new(name, value)?);
        Ok(())
    }
    /// Inserts a field before all others (a new top Via).
    pub fn push_front(&mut self, field: HeaderField) {
        self.fields.insert(0, field);
    }
    /// Replaces every field of this name with one `name: value` at the first one's place (or at the end).
    pub fn set(&mut self, name: HeaderName, value: &str) -> Result<(), HeaderError> {
        let field = HeaderField::new(name, value)?;
        match self.fields.iter().position(|f| f.name == field.name) {
            Some(i) => {
                let n = field.name.clone();
                if let Some(slot) = self.fields.get_mut(i) {
                    *slot = field;
                }
                let mut seen = 0usize;
                self.fields.retain(|f| {
                    if f.name != n {
                        return true;
                    }
                    seen += 1;
                    seen == 1
                });
            }
            None => self.fields.push(field),
        }
        Ok(())
    }
    /// Removes every field of this name.
    pub fn remove(&mut self, name: &HeaderName) {
        self.fields.retain(|f| &f.name != name);
    }
    /// Every field of this name.
    pub fn all(&self, name: HeaderName) -> impl Iterator<Item = &HeaderField> {
        self.fields.iter().filter(move |f| f.name == name)
    }
    /// The first field of this name.
    pub fn first(&self, name: HeaderName) -> Option<&HeaderField> {
        self.fields.iter().find(|f| f.name == name)
    }
    /// Number of fields of this name.
    pub(crate) fn count(&self, name: HeaderName) -> usize {
        self.all(name).count()
    }

    list_getter!(
        /// All Via values, top first (RFC 3261 §20.42).
        via, Via, Via, Via
    );
    list_getter!(
        /// All Contact values.
        contacts, Contact, Contact, Contact
    );
    list_getter!(
        /// All Route values, in order.
        routes, Route, Route, NameAddr
    );
    list_getter!(
        /// All Record-Route values, in order.
        record_routes, RecordRoute, Route, NameAddr
    );

    /// The top Via.
    pub fn top_via(&self) -> Option<&Via> {
        self.via().next()
    }
    /// Rewrites the top Via value in place (e.g. to add `received`/`rport`, RFC 3581 §4).
    pub fn update_top_via(&mut self, f: impl FnOnce(&mut Via)) -> Result<(), HeaderError> {
        let Some(i) = self.fields.iter().position(|h| h.name == HeaderName::Via) else {
            return Err(HeaderError::Empty);
        };
        let Some(TypedValue::Via(vias)) = self.fields.get(i).map(|h| h.typed.clone()) else {
            return Err(HeaderError::Syntax);
        };
        let mut vias = vias;
        if let Some(top) = vias.first_mut() {
            f(top);
        }
        let value = vias
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let field = HeaderField::new(HeaderName::Via, &value)?;
        if let Some(slot) = self.fields.get_mut(i) {
            *slot = field;
        }
        Ok(())
    }
    /// Removes the top Via value (a proxy or UAC receiving a response, RFC 3261 §18.1.2).
    pub fn pop_top_via(&mut self) -> Result<(), HeaderError> {
        let Some(i) = self.fields.iter().position(|h| h.name == HeaderName::Via) else {
            return Err(HeaderError::Empty);
        };
        let rest: Vec<Via> = match self.fields.get(i).map(|h| &h.typed) {
            Some(TypedValue::Via(v)) => v.iter().skip(1).cloned().collect(),
            _ => return Err(HeaderError::Syntax),
        };
        if rest.is_empty() {
            self.fields.remove(i);
        } else {
            let value = rest
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let field = HeaderField::new(HeaderName::Via, &value)?;
            if let Some(slot) = self.fields.get_mut(i) {
                *slot = field;
            }
        }
        Ok(())
    }

    fn addr(&self, name: HeaderName) -> Option<&NameAddr> {
        match &self.first(name)?.typed {
            TypedValue::Addr(a) => Some(a),
            _ => None,
        }
    }
    fn number(&self, name: HeaderName) -> Option<u32> {
        match &self.first(name)?.typed {
            TypedValue::Number(n) => Some(*n),
            _ => None,
        }
    }
    fn tokens(&self, name: HeaderName) -> impl Iterator<Item = &str> {
        self.all(name)
            .flat_map(|f| match &f.typed {
                TypedValue::Tokens(t) => t.as_slice(),
                _ => &[],
            })
            .map(|t| &**t)
    }
    fn auth(&self, name: HeaderName) -> impl Iterator<Item = &AuthParams> {
        self.all(name).filter_map(|f| match &f.typed {
            TypedValue::Auth(a) => Some(a),
            _ => None,
        })
    }

    /// From.
    pub fn from(&self) -> Option<&NameAddr> {
        self.addr(HeaderName::From)
    }
    /// To.
    pub fn to(&self) -> Option<&NameAddr> {
        self.addr(HeaderName::To)
    }
    /// Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        match &self.first(HeaderName::CallId)?.typed {
            TypedValue::CallId(c) => Some(c),
            _ => None,
        }
    }
    /// CSeq.
    pub fn cseq(&self) -> Option<&CSeq> {
        match &self.first(HeaderName::CSeq)?.typed {
            TypedValue::CSeq(c) => Some(c),
            _ => None,
        }
    }
    /// Max-Forwards.
    pub fn max_forwards(&self) -> Option<u32> {
        self.number(HeaderName::MaxForwards)
    }
    /// Content-Length.
    pub fn content_length(&self) -> Option<u32> {
        self.number(HeaderName::ContentLength)
    }
    /// Expires (saturated at u32::MAX).
    pub fn expires(&self) -> Option<u32> {
        self.number(HeaderName::Expires)
    }
    /// RSeq (RFC 3262 §7.1).
    pub fn rseq(&self) -> Option<u32> {
        self.number(HeaderName::RSeq)
    }
    /// RAck (RFC 3262 §7.2).
    pub fn rack(&self) -> Option<&RAck> {
        match &self.first(HeaderName::RAck)?.typed {
            TypedValue::RAck(r) => Some(r),
            _ => None,
        }
    }
    /// Content-Type.
    pub fn content_type(&self) -> Option<&MediaType> {
        match &self.first(HeaderName::ContentType)?.typed {
            TypedValue::ContentType(m) => Some(m),
            _ => None,
        }
    }
    /// Supported option tags.
    pub fn supported(&self) -> impl Iterator<Item = &str> {
        self.tokens(HeaderName::Supported)
    }
    /// Require option tags.
    pub fn require(&self) -> impl Iterator<Item = &str> {
        self.tokens(HeaderName::Require)
    }
    /// Proxy-Require option tags.
    pub fn proxy_require(&self) -> impl Iterator<Item = &str> {
        self.tokens(HeaderName::ProxyRequire)
    }
    /// Unsupported option tags.
    pub fn unsupported(&self) -> impl Iterator<Item = &str> {
        self.tokens(HeaderName::Unsupported)
    }
    /// Allow methods.
    pub fn allow(&self) -> impl Iterator<Item = &str> {
        self.tokens(HeaderName::Allow)
    }
    /// WWW-Authenticate challenges.
    pub fn www_authenticate(&self) -> impl Iterator<Item = &AuthParams> {
        self.auth(HeaderName::WwwAuthenticate)
    }
    /// Proxy-Authenticate challenges.
    pub fn proxy_authenticate(&self) -> impl Iterator<Item = &AuthParams> {
        self.auth(HeaderName::ProxyAuthenticate)
    }
    /// Authorization credentials.
    pub fn authorization(&self) -> impl Iterator<Item = &AuthParams> {
        self.auth(HeaderName::Authorization)
    }
    /// Proxy-Authorization credentials.
    pub fn proxy_authorization(&self) -> impl Iterator<Item = &AuthParams> {
        self.auth(HeaderName::ProxyAuthorization)
    }
}
