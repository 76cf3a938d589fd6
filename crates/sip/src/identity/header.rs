//! The Identity header field value (RFC 8224 §4.1):
//!
//! ```text
//! Identity = "Identity" HCOLON signed-identity-digest SEMI ident-info *( SEMI ident-info-params )
//! signed-identity-digest = 1*(base64-char / ".")
//! ident-info = "info" EQUAL ident-info-uri        ident-info-uri = LAQUOT absoluteURI RAQUOT
//! ident-info-params = ident-info-alg / ident-type / ident-info-extension
//! ident-info-alg = "alg" EQUAL token              ident-type = "ppt" EQUAL token
//! ```
//!
//! The digest is the PASSporT in compact serialisation, either full (`header.payload.signature`) or in the
//! RFC 8224 §7.3 compact form with the payload left out (`header..signature`), which the verifier rebuilds
//! from the request. Parsing never panics on any input (a proptest drives it with garbage).

use std::fmt;

use super::passport::SplitJws;

/// Why an Identity header value was refused. [`IdentityHeaderError::status_code`] says how to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityHeaderError {
    /// The signed-identity-digest is empty, has a character outside base64url and `.`, or is not three
    /// dot-separated parts.
    #[error("bad signed-identity-digest")]
    Digest,
    /// A parameter is malformed (no name, bad `info` brackets, bad token value, repeated).
    #[error("bad Identity parameter")]
    Param,
    /// No `info` parameter.
    #[error("no info parameter")]
    NoInfo,
    /// `info` is not an absolute `file:`, `http:` or `https:` URI.
    #[error("info URI scheme not supported")]
    InfoScheme,
}

impl IdentityHeaderError {
    /// RFC 8224 status: 436 Bad Identity Info for `info` problems, 438 Invalid Identity Header otherwise.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::NoInfo | Self::InfoScheme => 436,
            Self::Digest | Self::Param => 438,
        }
    }
}

/// One Identity header field value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeader {
    /// The PASSporT, full or compact (`header..signature`).
    pub passport: String,
    /// The certificate URL from `info=<..>`, without the angle brackets.
    pub info: String,
    /// `alg` (ES256 for ours).
    pub alg: Option<String>,
    /// `ppt`.
    pub ppt: Option<String>,
    /// Other parameters, in order, name and optional value as written.
    pub extensions: Vec<(String, Option<String>)>,
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

fn info_scheme_ok(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("file:///") || lower.starts_with("http://") || lower.starts_with("https://"))
        && !url
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'<' || b == b'>')
}

impl IdentityHeader {
    /// True for the `header..signature` form.
    pub fn is_compact(&self) -> bool {
        SplitJws::split(&self.passport).is_ok_and(|s| s.is_compact())
    }

    /// Parses a header field value (what follows `Identity:`), with leading/trailing whitespace and linear
    /// whitespace around `;` and `=` allowed.
    pub fn parse(value: &str) -> Result<Self, IdentityHeaderError> {
        let value = value.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r' || c == '\n');
        let (digest, mut rest) = match value.find(';') {
            Some(i) => (value.get(..i).unwrap_or(""), value.get(i..).unwrap_or("")),
            None => (value, ""),
        };
        let digest = digest.trim_end_matches([' ', '\t']);
        if digest.is_empty()
            || !digest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            || SplitJws::split(digest).is_err()
        {
            return Err(IdentityHeaderError::Digest);
        }
        let mut h = Self {
            passport: digest.to_owned(),
            info: String::new(),
            alg: None,
            ppt: None,
            extensions: Vec::new(),
        };
        let mut have_info = false;
        while let Some(after) = rest.strip_prefix(';') {
            let after = after.trim_start_matches([' ', '\t']);
            let name_end = after
                .find(|c: char| !(c.is_ascii() && is_token_byte(c as u8)))
                .unwrap_or(after.len());
            let name = after.get(..name_end).unwrap_or("");
            if name.is_empty() {
                return Err(IdentityHeaderError::Param);
            }
            let mut tail = after
                .get(name_end..)
                .unwrap_or("")
                .trim_start_matches([' ', '\t']);
            let mut val: Option<String> = None;
            if let Some(t) = tail.strip_prefix('=') {
                let t = t.trim_start_matches([' ', '\t']);
                if let Some(inner) = t.strip_prefix('<') {
                    let end = inner.find('>').ok_or(IdentityHeaderError::Param)?;
                    val = Some(format!("<{}>", inner.get(..end).unwrap_or("")));
                    tail = inner.get(end + 1..).unwrap_or("");
                } else {
                    let end = t.find([';', ' ', '\t']).unwrap_or(t.len());
                    let v = t.get(..end).unwrap_or("");
                    if !is_token(v) {
                        return Err(IdentityHeaderError::Param);
                    }
                    val = Some(v.to_owned());
                    tail = t.get(end..).unwrap_or("");
                }
            }
            tail = tail.trim_start_matches([' ', '\t']);
            if !tail.is_empty() && !tail.starts_with(';') {
                return Err(IdentityHeaderError::Param);
            }
            rest = tail;
            let lname = name.to_ascii_lowercase();
            match lname.as_str() {
                "info" => {
                    if have_info {
                        return Err(IdentityHeaderError::Param);
                    }
                    let v = val.ok_or(IdentityHeaderError::Param)?;
                    let url = v
                        .strip_prefix('<')
                        .and_then(|x| x.strip_suffix('>'))
                        .ok_or(IdentityHeaderError::Param)?;
                    if !info_scheme_ok(url) {
                        return Err(IdentityHeaderError::InfoScheme);
                    }
                    h.info = url.to_owned();
                    have_info = true;
                }
                "alg" | "ppt" => {
                    let v = val
                        .filter(|v| is_token(v))
                        .ok_or(IdentityHeaderError::Param)?;
                    let slot = if lname == "alg" {
                        &mut h.alg
                    } else {
                        &mut h.ppt
                    };
                    if slot.is_some() {
                        return Err(IdentityHeaderError::Param);
                    }
                    *slot = Some(v);
                }
                _ => h.extensions.push((name.to_owned(), val)),
            }
        }
        if !rest.is_empty() {
            return Err(IdentityHeaderError::Param);
        }
        if !have_info {
            return Err(IdentityHeaderError::NoInfo);
        }
        Ok(h)
    }
}

impl fmt::Display for IdentityHeader {
    /// `passport;info=<url>;alg=..;ppt=..;ext..` (the order RFC 8224's examples use).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{};info=<{}>", self.passport, self.info)?;
        if let Some(a) = &self.alg {
            write!(f, ";alg={a}")?;
        }
        if let Some(p) = &self.ppt {
            write!(f, ";ppt={p}")?;
        }
        for (n, v) in &self.extensions {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpYXQiOjF9.c2ln";

    #[test]
    fn i_1_full_and_compact_parse_format_round_trip() {
        for v in [
            format!("{TOKEN};info=<https://cert.example.org/passport.cer>;alg=ES256;ppt=shaken"),
            "eyJhbGciOiJFUzI1NiJ9..c2ln;info=<file:///tmp/a;b.pem>;alg=ES256".to_string(),
            format!("{TOKEN};info=<http://127.0.0.1:8080/c.pem>;alg=ES256;x-ext;y=1"),
        ] {
            let h = IdentityHeader::parse(&v).unwrap();
            assert_eq!(h.to_string(), v);
            assert_eq!(IdentityHeader::parse(&h.to_string()).unwrap(), h);
        }
        let c =
            IdentityHeader::parse("eyJhbGciOiJFUzI1NiJ9..c2ln;info=<file:///tmp/a;b.pem>").unwrap();
        assert!(c.is_compact());
        assert_eq!(c.info, "file:///tmp/a;b.pem");
        let spaced = IdentityHeader::parse(&format!(
            " {TOKEN} ; info = <http://127.0.0.1:1/x> ; alg = ES256 "
        ))
        .unwrap();
        assert_eq!(spaced.alg.as_deref(), Some("ES256"));
        assert!(!spaced.is_compact());
    }

    #[test]
    fn i_1_bad_headers_are_typed() {
        let e = |s: &str| IdentityHeader::parse(s).unwrap_err();
        assert_eq!(e(""), IdentityHeaderError::Digest);
        assert_eq!(e("a.b;info=<http://x/>"), IdentityHeaderError::Digest);
        assert_eq!(e("a+b.c.d;info=<http://x/>"), IdentityHeaderError::Digest);
        assert_eq!(e(TOKEN), IdentityHeaderError::NoInfo);
        assert_eq!(e(&format!("{TOKEN};alg=ES256")).status_code(), 436);
        assert_eq!(
            e(&format!("{TOKEN};info=<ftp://x/>")),
            IdentityHeaderError::InfoScheme
        );
        assert_eq!(
            e(&format!("{TOKEN};info=<http://x/")),
            IdentityHeaderError::Param
        );
        assert_eq!(
            e(&format!("{TOKEN};info=<http://x/>;info=<http://y/>")),
            IdentityHeaderError::Param
        );
        assert_eq!(
            e(&format!("{TOKEN};info=<http://x/>;alg")),
            IdentityHeaderError::Param
        );
        assert_eq!(
            e(&format!("{TOKEN};info=<http://x/>;;")),
            IdentityHeaderError::Param
        );
        assert_eq!(
            e(&format!("{TOKEN};info=<http://x/> junk")),
            IdentityHeaderError::Param
        );
        assert_eq!(
            e(&format!("{TOKEN};info=<http://x/>;alg=\"ES256\"")).status_code(),
            438
        );
    }

    proptest::proptest! {
        #[test]
        fn i_1_garbage_never_panics(s in "\\PC{0,120}") {
            if let Ok(h) = IdentityHeader::parse(&s) {
                // what we accept, we write back in a form that parses to the same value
                proptest::prop_assert_eq!(IdentityHeader::parse(&h.to_string()).unwrap(), h);
            }
        }

        #[test]
        fn i_1_near_miss_headers_never_panic(
            tok in "[A-Za-z0-9_.-]{0,20}",
            params in proptest::collection::vec("[a-z;=<> :/0-9.\"]{0,20}", 0..4),
        ) {
            let s = format!("{tok};info=<http://127.0.0.1/a>{}", params.join(";"));
            if let Ok(h) = IdentityHeader::parse(&s) {
                proptest::prop_assert_eq!(IdentityHeader::parse(&h.to_string()).unwrap(), h);
            }
        }
    }
}
