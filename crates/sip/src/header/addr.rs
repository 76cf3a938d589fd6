//! name-addr / addr-spec values: From, To, Contact, Route, Record-Route (RFC 3261 §20.10, §20.20, §20.39).

use std::fmt;

use super::lex::{is_token_byte, is_wsp, quote, quoted, unquote};
use super::params::{skip_ws, Params};
use crate::error::HeaderError;
use crate::uri::Uri;

/// `[display-name] <URI> *(;param)` or `addr-spec *(;param)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name as written: a quoted-string with its quotes, or the tokens.
    pub display: Option<Box<str>>,
    /// The URI.
    pub uri: Uri,
    /// Header parameters (tag, expires, q, ...), not URI parameters.
    pub params: Params,
    /// True when the URI was (or is to be) written in `<>`.
    pub bracketed: bool,
}

impl NameAddr {
    /// `<uri>` without display name or parameters.
    pub fn new(uri: Uri) -> Self {
        Self {
            display: None,
            uri,
            params: Params::new(),
            bracketed: true,
        }
    }

    /// Sets the display name (quoted when written).
    pub fn with_display_name(mut self, name: &str) -> Self {
        self.display = Some(quote(name).into());
        self
    }

    /// Parses one name-addr or addr-spec with its parameters.
    pub fn parse(s: &str) -> Result<Self, HeaderError> {
        let s = skip_ws(s);
        let (display, rest) = if s.starts_with('"') {
            let (q, rest) = quoted(s)?;
            let rest = skip_ws(rest);
            if !rest.starts_with('<') {
                return Err(HeaderError::DisplayName);
            }
            (Some(q), rest)
        } else if let Some(lt) = s.find('<') {
            let dn = s.get(..lt).unwrap_or("").trim_end_matches([' ', '\t']);
            // display-name = *(token LWS): only token characters and whitespace (RFC 4475 §3.1.2.15)
            if !dn.bytes().all(|b| is_token_byte(b) || is_wsp(b)) {
                return Err(HeaderError::DisplayName);
            }
            (
                if dn.is_empty() { None } else { Some(dn) },
                s.get(lt..).unwrap_or(""),
            )
        } else {
            (None, s)
        };
        if let Some(inner) = rest.strip_prefix('<') {
            let gt = inner.find('>').ok_or(HeaderError::Syntax)?;
            let uri = inner.get(..gt).unwrap_or("");
            if uri.starts_with([' ', '\t']) || uri.ends_with([' ', '\t']) {
                return Err(HeaderError::SpaceInBrackets);
            }
            let uri = Uri::parse(uri)?;
            let params = Params::parse(inner.get(gt + 1..).unwrap_or(""))?;
            return Ok(Self {
                display: display.map(Into::into),
                uri,
                params,
                bracketed: true,
            });
        }
        // addr-spec: the URI ends at whitespace or ';' and may not contain ',', '?' (RFC 3261 §20.10).
        let n = rest
            .bytes()
            .take_while(|&b| !is_wsp(b) && b != b';')
            .count();
        let uri_s = rest.get(..n).unwrap_or("");
        if uri_s.is_empty() {
            return Err(HeaderError::Empty);
        }
        if uri_s.contains(['?', ',']) {
            return Err(HeaderError::UnbracketedUri);
        }
        let uri = Uri::parse(uri_s)?;
        let params = Params::parse(rest.get(n..).unwrap_or(""))?;
        Ok(Self {
            display: None,
            uri,
            params,
            bracketed: false,
        })
    }

    /// The display name without quotes and escapes.
    pub fn display_name(&self) -> Option<String> {
        let d = self.display.as_deref()?;
        Some(if d.starts_with('"') {
            unquote(d)
        } else {
            d.to_owned()
        })
    }
    /// The `tag` parameter (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }
    /// Sets the `tag` parameter.
    pub fn set_tag(&mut self, tag: &str) {
        self.params.set("tag", Some(tag));
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{d} ")?;
        }
        // A URI with parameters or headers must be bracketed so its ';' is not read as a header param.
        if self.bracketed
            || self.display.is_some()
            || self.uri.to_string().contains([';', '?', ','])
        {
            write!(f, "<{}>{}", self.uri, self.params)
        } else {
            write!(f, "{}{}", self.uri, self.params)
        }
    }
}

/// One Contact value: `*` (REGISTER removal, RFC 3261 §10.2.2) or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// `Contact: *`
    Star,
    /// An address with params (expires, q, +sip.instance...).
    Addr(NameAddr),
}

impl Contact {
    pub(crate) fn parse(s: &str) -> Result<Self, HeaderError> {
        if s.trim() == "*" {
            return Ok(Self::Star);
        }
        NameAddr::parse(s).map(Self::Addr)
    }
    /// The address (None for `*`).
    pub fn addr(&self) -> Option<&NameAddr> {
        match self {
            Self::Star => None,
            Self::Addr(a) => Some(a),
        }
    }
    /// The `expires` parameter in seconds, saturated at u32::MAX (lenient, RFC 4475 §3.1.2.4).
    pub fn expires(&self) -> Option<u32> {
        self.addr()?
            .params
            .value("expires")
            .and_then(|v| super::lex::delta_seconds(v).ok())
    }
}

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Star => f.write_str("*"),
            Self::Addr(a) => a.fmt(f),
        }
    }
}
