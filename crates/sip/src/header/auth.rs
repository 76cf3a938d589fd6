//! WWW-Authenticate / Proxy-Authenticate challenges and Authorization / Proxy-Authorization credentials
//! (RFC 3261 §20.7, §20.27, §22.4; RFC 7616 digest parameters). Unknown schemes parse too (RFC 4475 §3.3.7).

use std::fmt;

use super::lex::{is_token, is_token_byte, quote, quoted, unquote};
use super::params::skip_ws;
use crate::error::HeaderError;

/// `scheme auth-param *(, auth-param)`: the same shape serves challenges and credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams {
    /// Scheme as written (`Digest`).
    pub scheme: Box<str>,
    /// (name, value as written: quoted values keep their quotes).
    pub params: Vec<(Box<str>, Box<str>)>,
}

impl AuthParams {
    pub(crate) fn parse(s: &str) -> Result<Self, HeaderError> {
        let n = s.bytes().take_while(|&b| is_token_byte(b)).count();
        let scheme = s.get(..n).unwrap_or("");
        if scheme.is_empty() {
            return Err(HeaderError::Syntax);
        }
        let mut rest = skip_ws(s.get(n..).unwrap_or(""));
        let mut params = Vec::new();
        while !rest.is_empty() {
            let n = rest.bytes().take_while(|&b| is_token_byte(b)).count();
            let name = rest.get(..n).unwrap_or("");
            if name.is_empty() {
                return Err(HeaderError::EmptyParam);
            }
            rest = skip_ws(rest.get(n..).unwrap_or(""));
            rest = skip_ws(rest.strip_prefix('=').ok_or(HeaderError::Syntax)?);
            let (value, after) = if rest.starts_with('"') {
                quoted(rest)?
            } else {
                let n = rest
                    .bytes()
                    .take_while(|&b| is_token_byte(b) || b == b'/' || b == b':')
                    .count();
                match (rest.get(..n), rest.get(n..)) {
                    (Some(v), Some(a)) if !v.is_empty() => (v, a),
                    _ => return Err(HeaderError::Syntax),
                }
            };
            params.push((name.into(), value.into()));
            rest = skip_ws(after);
            if let Some(r) = rest.strip_prefix(',') {
                rest = skip_ws(r);
                if rest.is_empty() {
                    return Err(HeaderError::EmptyElement);
                }
            } else if !rest.is_empty() {
                return Err(HeaderError::Syntax);
            }
        }
        Ok(Self {
            scheme: scheme.into(),
            params,
        })
    }

    /// A new value with the given scheme and no params.
    pub fn new(scheme: &str) -> Self {
        Self {
            scheme: scheme.into(),
            params: Vec::new(),
        }
    }

    /// Appends a parameter written as a quoted-string.
    pub fn push_quoted(&mut self, name: &str, value: &str) {
        self.params.push((name.into(), quote(value).into()));
    }

    /// Appends a parameter written as a token (caller guarantees token syntax; otherwise it is quoted).
    pub fn push_token(&mut self, name: &str, value: &str) {
        let v = if is_token(value) {
            value.to_owned()
        } else {
            quote(value)
        };
        self.params.push((name.into(), v.into()));
    }

    /// True for the Digest scheme.
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }

    /// A parameter, unquoted.
    pub fn get(&self, name: &str) -> Option<String> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| {
                if v.starts_with('"') {
                    unquote(v)
                } else {
                    v.to_string()
                }
            })
    }
    /// `realm`
    pub fn realm(&self) -> Option<String> {
        self.get("realm")
    }
    /// `nonce`
    pub fn nonce(&self) -> Option<String> {
        self.get("nonce")
    }
    /// `opaque`
    pub fn opaque(&self) -> Option<String> {
        self.get("opaque")
    }
    /// `algorithm` (MD5 when absent, RFC 3261 §22.4)
    pub fn algorithm(&self) -> Option<String> {
        self.get("algorithm")
    }
    /// `qop` (challenge: quoted list of options; credentials: one token)
    pub fn qop(&self) -> Option<String> {
        self.get("qop")
    }
    /// `stale=true`
    pub fn stale(&self) -> bool {
        self.get("stale")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

impl fmt::Display for AuthParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        for (i, (n, v)) in self.params.iter().enumerate() {
            write!(f, "{}{n}={v}", if i == 0 { " " } else { ", " })?;
        }
        Ok(())
    }
}
