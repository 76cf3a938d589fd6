//! Lexical helpers shared by the header parsers (RFC 3261 §25.1). All total: no panics on any input.

use crate::error::HeaderError;

/// `token` characters (RFC 3261 §25.1).
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// `word` characters (RFC 3261 §25.1), used by Call-ID.
pub(crate) fn is_word_byte(b: u8) -> bool {
    is_token_byte(b)
        || matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'{'
                | b'}'
        )
}

pub(crate) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Replaces every line fold (CRLF or LF followed by whitespace) with one space and trims (RFC 3261 §7.3.1).
pub(crate) fn unfold(raw: &[u8]) -> Result<std::borrow::Cow<'_, str>, HeaderError> {
    if !raw.iter().any(|&b| b == b'\r' || b == b'\n') {
        // fast path: one physical line, borrow it
        let s = std::str::from_utf8(raw).map_err(|_| HeaderError::Utf8)?;
        return Ok(std::borrow::Cow::Borrowed(
            s.trim_matches(|c| c == ' ' || c == '\t'),
        ));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'\r' | b'\n' => {
                // skip the line break; the following whitespace stays (one fold = some LWS)
                if b == b'\r' && raw.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                out.push(b' ');
            }
            _ => out.push(b),
        }
        i += 1;
    }
    let s = String::from_utf8(out).map_err(|_| HeaderError::Utf8)?;
    Ok(std::borrow::Cow::Owned(
        s.trim_matches(|c| c == ' ' || c == '\t').to_owned(),
    ))
}

/// Splits a header value on top-level commas, outside quotes and `<>` (RFC 3261 §7.3.1).
pub(crate) fn split_commas(s: &str) -> Result<Vec<&str>, HeaderError> {
    let mut parts = Vec::new();
    let bytes = s.as_bytes();
    let (mut start, mut in_quote, mut angle, mut i) = (0usize, false, false, 0usize);
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' if in_quote => i += 1,
            b'"' => in_quote = !in_quote,
            b'<' if !in_quote => angle = true,
            b'>' if !in_quote => angle = false,
            b',' if !in_quote && !angle => {
                parts.push(
                    s.get(start..i)
                        .ok_or(HeaderError::Syntax)?
                        .trim_matches(is_lws_char),
                );
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if in_quote {
        return Err(HeaderError::UnterminatedQuote);
    }
    parts.push(
        s.get(start..)
            .ok_or(HeaderError::Syntax)?
            .trim_matches(is_lws_char),
    );
    if parts.iter().any(|p| p.is_empty()) {
        return Err(HeaderError::EmptyElement);
    }
    Ok(parts)
}

pub(crate) fn is_lws_char(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Reads a quoted-string at the start of `s` (which must begin with `"`).
/// Returns (the quoted string with its quotes, the rest).
pub(crate) fn quoted(s: &str) -> Result<(&str, &str), HeaderError> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return Err(HeaderError::Syntax);
    }
    let mut i = 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => {
                // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
                match bytes.get(i + 1) {
                    Some(&n) if n <= 0x7f && n != b'\n' && n != b'\r' => i += 2,
                    _ => return Err(HeaderError::Syntax),
                }
                continue;
            }
            b'"' => {
                let end = i + 1;
                return match (s.get(..end), s.get(end..)) {
                    (Some(q), Some(rest)) => Ok((q, rest)),
                    _ => Err(HeaderError::Syntax),
                };
            }
            _ => i += 1,
        }
    }
    Err(HeaderError::UnterminatedQuote)
}

/// Removes the quotes and the backslash escapes of a quoted-string.
pub(crate) fn unquote(q: &str) -> String {
    let inner = q
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(q);
    let mut out = String::with_capacity(inner.len());
    let mut esc = false;
    for c in inner.chars() {
        if esc {
            out.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// Quotes `s` as a quoted-string, escaping `"` and `\`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Parses a decimal number of at most `max`, rejecting empty, non-digit and overlarge values.
pub(crate) fn number(s: &str, max: u64) -> Result<u64, HeaderError> {
    if s.is_empty() {
        return Err(HeaderError::Empty);
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return Err(HeaderError::Syntax);
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(HeaderError::OutOfRange)?;
    }
    if v > max {
        return Err(HeaderError::OutOfRange);
    }
    Ok(v)
}

/// Parses delta-seconds, saturating at u32::MAX (lenient: RFC 4475 §3.1.2.4 lets expiry overflow be clamped).
pub(crate) fn delta_seconds(s: &str) -> Result<u32, HeaderError> {
    match number(s, u64::from(u32::MAX)) {
        Ok(v) => Ok(u32::try_from(v).unwrap_or(u32::MAX)),
        Err(HeaderError::OutOfRange) => Ok(u32::MAX),
        Err(e) => Err(e),
    }
}
