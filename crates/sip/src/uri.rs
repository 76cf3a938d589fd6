//! SIP and SIPS URIs (RFC 3261 §19.1, §25.1), kept byte-exact: parsing records the text, formatting writes it back.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::UriError;

/// The host part: a domain name, an IPv4 address or an IPv6 reference (`[..]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name (compare case-insensitively).
    Domain(Box<str>),
    /// IPv4 address.
    Ipv4(Ipv4Addr),
    /// IPv6 address (written in brackets).
    Ipv6(Ipv6Addr),
}

impl Host {
    /// Parses `hostname / IPv4address / IPv6reference`.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(UriError::Ipv6)?;
            return inner.parse().map(Self::Ipv6).map_err(|_| UriError::Ipv6);
        }
        if s.is_empty()
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(UriError::Host);
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return s.parse().map(Self::Ipv4).map_err(|_| UriError::Host);
        }
        Ok(Self::Domain(s.into()))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(d) => f.write_str(d),
            Self::Ipv4(a) => write!(f, "{a}"),
            Self::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A `sip:` or `sips:` URI. User, password, parameter values and headers are kept escaped, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    raw: Box<str>,
    secure: bool,
    user: Option<Box<str>>,
    password: Option<Box<str>>,
    host: Host,
    port: Option<u16>,
    params: Vec<(Box<str>, Option<Box<str>>)>,
    headers: Vec<(Box<str>, Box<str>)>,
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// Checks that every byte is allowed or a valid `%XX` escape.
fn check_chars(s: &str, extra: &[u8], err: UriError) -> Result<(), UriError> {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err(UriError::Escape);
            }
            i += 3;
            continue;
        }
        if !(is_unreserved(c) || extra.contains(&c)) {
            return Err(err);
        }
        i += 1;
    }
    Ok(())
}

const USER_EXTRA: &[u8] = b"&=+$,;?/";
const PASSWORD_EXTRA: &[u8] = b"&=+$,";
const PARAM_EXTRA: &[u8] = b"[]/:&+$";
const HEADER_EXTRA: &[u8] = b"[]/?:+$";

impl SipUri {
    /// Parses a SIP or SIPS URI; the scheme is case-insensitive.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        let colon = s.find(':').ok_or(UriError::NoScheme)?;
        let (scheme, rest) = (
            s.get(..colon).unwrap_or(""),
            s.get(colon + 1..).unwrap_or(""),
        );
        if !is_scheme(scheme) {
            return Err(UriError::NoScheme);
        }
        let secure = if scheme.eq_ignore_ascii_case("sip") {
            false
        } else if scheme.eq_ignore_ascii_case("sips") {
            true
        } else {
            return Err(UriError::NotSip);
        };
        // userinfo ends at the first '@': '@' is legal nowhere else in a SIP URI (§25.1).
        let (userinfo, hostpart) = match rest.find('@') {
            Some(at) => (
                Some(rest.get(..at).unwrap_or("")),
                rest.get(at + 1..).unwrap_or(""),
            ),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.find(':') {
                    Some(c) => (
                        ui.get(..c).unwrap_or(""),
                        Some(ui.get(c + 1..).unwrap_or("")),
                    ),
                    None => (ui, None),
                };
                if u.is_empty() {
                    return Err(UriError::UserInfo);
                }
                check_chars(u, USER_EXTRA, UriError::UserInfo)?;
                if let Some(p) = p {
                    check_chars(p, PASSWORD_EXTRA, UriError::UserInfo)?;
                }
                (Some(u.into()), p.map(Into::into))
            }
        };
        let (hostport, tail) = match hostpart.find([';', '?']) {
            Some(i) => (
                hostpart.get(..i).unwrap_or(""),
                hostpart.get(i..).unwrap_or(""),
            ),
            None => (hostpart, ""),
        };
        let (host, port) = split_hostport(hostport)?;
        let (param_str, header_str) = match tail.find('?') {
            Some(i) => (
                tail.get(..i).unwrap_or(""),
                Some(tail.get(i + 1..).unwrap_or("")),
            ),
            None => (tail, None),
        };
        let mut params = Vec::new();
        for p in param_str.split(';').skip(1) {
            let (n, v) = match p.find('=') {
                Some(i) => (p.get(..i).unwrap_or(""), Some(p.get(i + 1..).unwrap_or(""))),
                None => (p, None),
            };
            if n.is_empty() || v.is_some_and(str::is_empty) {
                return Err(UriError::Param);
            }
            check_chars(n, PARAM_EXTRA, UriError::Param)?;
            if let Some(v) = v {
                check_chars(v, PARAM_EXTRA, UriError::Param)?;
            }
            params.push((n.into(), v.map(Into::into)));
        }
        let mut headers = Vec::new();
        if let Some(h) = header_str {
            for kv in h.split('&') {
                let i = kv.find('=').ok_or(UriError::Headers)?;
                let (n, v) = (kv.get(..i).unwrap_or(""), kv.get(i + 1..).unwrap_or(""));
                if n.is_empty() {
                    return Err(UriError::Headers);
                }
                check_chars(n, HEADER_EXTRA, UriError::Headers)?;
                check_chars(v, HEADER_EXTRA, UriError::Headers)?;
                headers.push((n.into(), v.into()));
            }
        }
        Ok(Self {
            raw: s.into(),
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// Builds `sip:[user@]host[:port]` (or `sips:`).
    pub fn new(
        secure: bool,
        user: Option<&str>,
        host: Host,
        port: Option<u16>,
    ) -> Result<Self, UriError> {
        let mut s = String::from(if secure { "sips:" } else { "sip:" });
        if let Some(u) = user {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&host.to_string());
        if let Some(p) = port {
            s.push_str(&format!(":{p}"));
        }
        Self::parse(&s)
    }

    /// A copy with `;name[=value]` set (appended, or replacing an existing one).
    pub fn with_param(&self, name: &str, value: Option<&str>) -> Result<Self, UriError> {
        let mut s = format!("{}:", if self.secure { "sips" } else { "sip" });
        if let Some(u) = &self.user {
            s.push_str(u);
            if let Some(p) = &self.password {
                s.push(':');
                s.push_str(p);
            }
            s.push('@');
        }
        s.push_str(&self.host.to_string());
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        let mut replaced = false;
        for (n, v) in &self.params {
            let v = if n.eq_ignore_ascii_case(name) {
                replaced = true;
                value
            } else {
                v.as_deref()
            };
            push_param(
                &mut s,
                if n.eq_ignore_ascii_case(name) {
                    name
                } else {
                    n
                },
                v,
            );
        }
        if !replaced {
            push_param(&mut s, name, value);
        }
        for (i, (n, v)) in self.headers.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(&format!("{n}={v}"));
        }
        Self::parse(&s)
    }

    /// `sips:` scheme.
    pub fn is_secure(&self) -> bool {
        self.secure
    }
    /// The user part, still escaped.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
    /// The password part, still escaped.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }
    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }
    /// The explicit port.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// A uri-parameter: `None` absent, `Some(None)` present without value (e.g. `lr`).
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }
    /// All uri-parameters in order.
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.params.iter().map(|(n, v)| (&**n, v.as_deref()))
    }
    /// The `?` headers in order, still escaped.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (&**n, &**v))
    }
    /// True when `?headers` are present.
    pub fn has_headers(&self) -> bool {
        !self.headers.is_empty()
    }
    /// The `transport` parameter.
    pub fn transport(&self) -> Option<&str> {
        self.param("transport").flatten()
    }
    /// The URI text exactly as parsed or built.
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

fn push_param(s: &mut String, n: &str, v: Option<&str>) {
    s.push(';');
    s.push_str(n);
    if let Some(v) = v {
        s.push('=');
        s.push_str(v);
    }
}

fn split_hostport(hp: &str) -> Result<(Host, Option<u16>), UriError> {
    let (h, p) = if hp.starts_with('[') {
        let end = hp.find(']').ok_or(UriError::Ipv6)?;
        let after = hp.get(end + 1..).unwrap_or("");
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(UriError::Port),
        };
        (hp.get(..=end).unwrap_or(""), port)
    } else {
        match hp.rfind(':') {
            Some(i) => (
                hp.get(..i).unwrap_or(""),
                Some(hp.get(i + 1..).unwrap_or("")),
            ),
            None => (hp, None),
        }
    };
    let host = Host::parse(h)?;
    let port = match p {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| UriError::Port)?)
        }
        Some(_) => return Err(UriError::Port),
    };
    Ok((host, port))
}

/// Parses `sent-by = host [ COLON port ]` (Via, RFC 3261 §20.42).
pub(crate) fn parse_hostport(hp: &str) -> Result<(Host, Option<u16>), UriError> {
    split_hostport(hp)
}

pub(crate) fn is_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

impl FromStr for SipUri {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Any URI in a name-addr: SIP/SIPS parsed, other schemes kept opaque (RFC 4475 §3.3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    /// sip: or sips:
    Sip(SipUri),
    /// Another absolute URI (tel:, http:, urn:...), kept verbatim.
    Other(Box<str>),
}

impl Uri {
    /// Parses an absolute URI: sip/sips fully, others only checked for a scheme and no whitespace.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        match SipUri::parse(s) {
            Ok(u) => Ok(Self::Sip(u)),
            Err(UriError::NotSip) => {
                if s.bytes()
                    .any(|b| b.is_ascii_whitespace() || b == b'<' || b == b'>' || b == b'"')
                {
                    return Err(UriError::NoScheme);
                }
                Ok(Self::Other(s.into()))
            }
            Err(e) => Err(e),
        }
    }

    /// The SIP URI, if it is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Self::Sip(u) => Some(u),
            Self::Other(_) => None,
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sip(u) => u.fmt(f),
            Self::Other(s) => f.write_str(s),
        }
    }
}
