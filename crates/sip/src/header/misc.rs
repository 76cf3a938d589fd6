//! Small typed values: CSeq, RAck, Content-Type (RFC 3261 §20; RFC 3262 §7).

use std::fmt;

use super::lex::{is_token, number};
use super::params::{skip_ws, Params};
use crate::error::HeaderError;
use crate::method::Method;

/// Largest CSeq number: less than 2^31 (RFC 3261 §8.1.1.5).
pub const CSEQ_MAX: u32 = (1 << 31) - 1;

/// `CSeq: <number> <method>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number, < 2^31.
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl CSeq {
    pub(crate) fn parse(s: &str) -> Result<Self, HeaderError> {
        let mut it = s.split([' ', '\t']).filter(|p| !p.is_empty());
        let (n, m) = (
            it.next().ok_or(HeaderError::Empty)?,
            it.next().ok_or(HeaderError::Syntax)?,
        );
        if it.next().is_some() {
            return Err(HeaderError::Syntax);
        }
        let seq =
            u32::try_from(number(n, u64::from(CSEQ_MAX))?).map_err(|_| HeaderError::OutOfRange)?;
        let method = Method::parse(m).ok_or(HeaderError::Syntax)?;
        Ok(Self { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// `RAck: <rseq> <cseq> <method>` (RFC 3262 §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RAck {
    /// The RSeq being acknowledged.
    pub rseq: u32,
    /// CSeq number of the request the response belongs to.
    pub cseq: u32,
    /// Its method.
    pub method: Method,
}

impl RAck {
    pub(crate) fn parse(s: &str) -> Result<Self, HeaderError> {
        let mut it = s.split([' ', '\t']).filter(|p| !p.is_empty());
        let (a, b, m) = (
            it.next().ok_or(HeaderError::Empty)?,
            it.next().ok_or(HeaderError::Syntax)?,
            it.next().ok_or(HeaderError::Syntax)?,
        );
        if it.next().is_some() {
            return Err(HeaderError::Syntax);
        }
        let rseq =
            u32::try_from(number(a, u64::from(u32::MAX))?).map_err(|_| HeaderError::OutOfRange)?;
        let cseq =
            u32::try_from(number(b, u64::from(CSEQ_MAX))?).map_err(|_| HeaderError::OutOfRange)?;
        Ok(Self {
            rseq,
            cseq,
            method: Method::parse(m).ok_or(HeaderError::Syntax)?,
        })
    }
}

impl fmt::Display for RAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.rseq, self.cseq, self.method)
    }
}

/// `Content-Type: type/subtype *(;param)` (RFC 3261 §20.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// Top-level type, as written.
    pub kind: Box<str>,
    /// Subtype, as written.
    pub subtype: Box<str>,
    /// Parameters (boundary, charset...).
    pub params: Params,
}

impl MediaType {
    pub(crate) fn parse(s: &str) -> Result<Self, HeaderError> {
        let slash = s.find('/').ok_or(HeaderError::Syntax)?;
        let kind = s.get(..slash).unwrap_or("").trim_end();
        let rest = skip_ws(s.get(slash + 1..).unwrap_or(""));
        let n = rest
            .bytes()
            .take_while(|&b| super::lex::is_token_byte(b))
            .count();
        let subtype = rest.get(..n).unwrap_or("");
        if !is_token(kind) || !is_token(subtype) {
            return Err(HeaderError::Syntax);
        }
        let params = Params::parse(rest.get(n..).unwrap_or(""))?;
        Ok(Self {
            kind: kind.into(),
            subtype: subtype.into(),
            params,
        })
    }

    /// True when this is `type/subtype`, case-insensitively.
    pub fn is(&self, kind: &str, subtype: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind) && self.subtype.eq_ignore_ascii_case(subtype)
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.kind, self.subtype, self.params)
    }
}

/// Checks an RFC 1123 date ends in GMT (RFC 3261 §20.17: `SIP-date = rfc1123-date`, always GMT).
pub(crate) fn check_date(s: &str) -> Result<(), HeaderError> {
    let parts: Vec<&str> = s.split([' ', '\t']).filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [wkday, day, month, year, time, "GMT"]
            if wkday.ends_with(',')
                && day.len() == 2
                && day.bytes().all(|b| b.is_ascii_digit())
                && month.len() == 3
                && year.len() == 4
                && year.bytes().all(|b| b.is_ascii_digit())
                && time.len() == 8 =>
        {
            Ok(())
        }
        [.., last] if *last != "GMT" => Err(HeaderError::DateNotGmt),
        _ => Err(HeaderError::Syntax),
    }
}
