//! Generic parameters (`;name[=value]`, RFC 3261 §25.1 `generic-param`), kept in order with their case.

use std::fmt;

use super::lex::{is_token_byte, is_wsp, quoted};
use crate::error::HeaderError;

/// An ordered list of parameters. Names compare case-insensitively; values are kept as written
/// (a quoted value keeps its quotes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(Box<str>, Option<Box<str>>)>);

impl Params {
    /// An empty list.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The value of `name`: `None` when absent, `Some(None)` when present without a value.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    /// The value of `name` when present with a value.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten()
    }

    /// True when `name` is present (with or without value).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets (replaces or appends) a parameter.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let v = value.map(Into::into);
        if let Some(slot) = self
            .0
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            slot.1 = v;
        } else {
            self.0.push((name.into(), v));
        }
    }

    /// Removes a parameter.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Iterates over (name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.0.iter().map(|(n, v)| (&**n, v.as_deref()))
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses `*(SEMI generic-param)` with LWS allowed around `;` and `=` (RFC 4475 §3.1.1.1).
    pub(crate) fn parse(mut s: &str) -> Result<Self, HeaderError> {
        let mut out = Vec::new();
        loop {
            s = skip_ws(s);
            if s.is_empty() {
                return Ok(Self(out));
            }
            s = s.strip_prefix(';').ok_or(HeaderError::Syntax)?;
            s = skip_ws(s);
            let n = s.bytes().take_while(|&b| is_token_byte(b)).count();
            let (name, rest) = split(s, n)?;
            if name.is_empty() {
                return Err(HeaderError::EmptyParam);
            }
            s = skip_ws(rest);
            let value = if let Some(after) = s.strip_prefix('=') {
                let after = skip_ws(after);
                let (v, rest) = gen_value(after)?;
                s = rest;
                Some(v.into())
            } else {
                None
            };
            out.push((name.into(), value));
        }
    }
}

/// `gen-value = token / host / quoted-string`, with `:` accepted for bare IPv6 `received` values.
fn gen_value(s: &str) -> Result<(&str, &str), HeaderError> {
    if s.starts_with('"') {
        return quoted(s);
    }
    let n = s
        .bytes()
        .take_while(|&b| is_token_byte(b) || matches!(b, b':' | b'[' | b']'))
        .count();
    if n == 0 {
        return Err(HeaderError::Syntax);
    }
    split(s, n)
}

fn split(s: &str, n: usize) -> Result<(&str, &str), HeaderError> {
    match (s.get(..n), s.get(n..)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(HeaderError::Syntax),
    }
}

pub(crate) fn skip_ws(s: &str) -> &str {
    let n = s.bytes().take_while(|&b| is_wsp(b)).count();
    s.get(n..).unwrap_or("")
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, v) in &self.0 {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}
