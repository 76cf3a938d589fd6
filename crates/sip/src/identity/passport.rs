//! PASSporT (RFC 8225): the JWS header and claims, their deterministic JSON form, ES256 signing and the
//! `mky` claim that carries the SDP fingerprints (RFC 8225 §5.2.2, RFC 8224 §12.1; I-2, F-5.4).
//!
//! # Deterministic JSON (RFC 8225 §9)
//! Members of every object are written in lexicographic order of their names (Unicode code points; all our
//! names are ASCII), with no whitespace before or after any token, strings escaped only where JSON requires
//! it (`"`, `\`, control characters). Header member order: `alg, ppt, typ, x5u`; payload: `dest, iat, mky,
//! orig`; `dest`: `tn, uri`; each `mky` element: `alg, dig`.
//!
//! # `mky`
//! One `{"alg": hash, "dig": digest}` per `a=fingerprint` of the SDP, `alg` the lower-case hash function name
//! (`sha-256`), `dig` the digest as upper-case hexadecimal **without colons** (RFC 8225 §5.2.2: "For the
//! "dig" key value, the hash value MUST be the hexadecimal value without any colons"; its example has
//! `"dig":"021ACC5427ABEB9C…"` for `a=fingerprint:sha-256 02:1A:CC:54:27:AB:EB:9C:…`). The array is sorted
//! lexicographically by `alg`, then `dig`, each object with `alg` before `dig`, and a fingerprint repeated in
//! the SDP (session and media level) is listed once. The verifier compares the received `mky` as a set
//! against the fingerprints of the SDP it received, so the order of `a=fingerprint` lines in the SDP does not
//! matter.
//!
//! Provenance: the sentence and example quoted above were read for this work in the authors' source of the
//! document, draft-ietf-stir-passport-08 (its "MUST be the hexadecimal value without any colons" sentence, the
//! two fingerprints and the `021ACC…`/`4AADB9…` digests; -05 says the same, and issue 12 reports that -11 does
//! too). The published RFC 8225 text itself could not be retrieved here (only its first page); nothing found
//! suggests the rule changed in publication. Older releases of this crate emitted `dig` with colons (the RFC
//! 8122 fingerprint form); the verifier still accepts that form, in any letter case, because it compares the
//! digest bytes ([`MediaKey`] keeps the colon form internally, for comparison and for the peer-key cache
//! file). Only the compact form, whose payload the verifier rebuilds, depends on the emitted form.

use openssl::bn::BigNum;
use openssl::ec::EcKeyRef;
use openssl::ecdsa::EcdsaSig;
use openssl::pkey::{HasPublic, Private};
use openssl::sha::sha256;
use serde_json::Value;

use super::b64;

/// The only signature algorithm we sign with and accept (RFC 8225 §8: ES256 is mandatory to implement).
pub const ES256: &str = "ES256";
/// The JWS `typ` of a PASSporT.
pub const TYP_PASSPORT: &str = "passport";

/// A media key fingerprint as `mky` carries it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MediaKey {
    /// Hash function name, lower case (`sha-256`).
    pub alg: String,
    /// Digest as upper-case colon-separated hex (`AB:CD:..`): the comparison form. The PASSporT carries it
    /// without colons ([`MediaKey::wire_dig`], RFC 8225 §5.2.2).
    pub dig: String,
}

impl MediaKey {
    /// From an SDP fingerprint given as (hash function name, digest bytes).
    pub fn from_fingerprint(hash: &str, digest: &[u8]) -> Self {
        Self {
            alg: hash.to_ascii_lowercase(),
            dig: colon_hex(digest),
        }
    }

    /// `dig` as RFC 8225 §5.2.2 writes it in the claim: upper-case hexadecimal without colons.
    pub fn wire_dig(&self) -> String {
        self.dig.chars().filter(|&c| c != ':').collect()
    }

    /// The same key as received in a claim, rewritten so that only the bytes named compare: `alg` in lower
    /// case, `dig` as upper-case colon hex whether it came with colons or without (module docs).
    fn normalised(&self) -> Self {
        let bare: String = self.dig.chars().filter(|&c| c != ':').collect();
        let dig = if !bare.is_empty()
            && bare.len() % 2 == 0
            && bare.bytes().all(|b| b.is_ascii_hexdigit())
        {
            let bytes: Vec<u8> = bare
                .as_bytes()
                .chunks(2)
                .map(|p| {
                    let hi = char::from(p.first().copied().unwrap_or(b'0'))
                        .to_digit(16)
                        .unwrap_or(0);
                    let lo = char::from(p.get(1).copied().unwrap_or(b'0'))
                        .to_digit(16)
                        .unwrap_or(0);
                    u8::try_from(hi * 16 + lo).unwrap_or(0)
                })
                .collect();
            colon_hex(&bytes)
        } else {
            self.dig.to_ascii_uppercase()
        };
        Self {
            alg: self.alg.to_ascii_lowercase(),
            dig,
        }
    }
}

/// `AB:CD:..` (RFC 8122 §5), upper case.
pub fn colon_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// The canonical `mky` list for a set of SDP fingerprints: normalised, sorted by (alg, dig), duplicates
/// removed (module docs).
pub fn mky_for(fingerprints: &[(String, Vec<u8>)]) -> Vec<MediaKey> {
    let mut v: Vec<MediaKey> = fingerprints
        .iter()
        .map(|(h, d)| MediaKey::from_fingerprint(h, d))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// An originating or destination identity: a telephone number or a URI (RFC 8225 §5.2.1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Party {
    /// `tn`: a canonical telephone number (digits only, RFC 8224 §8.3).
    Tn(String),
    /// `uri`: a URI (RFC 8224 §8.4, normalised by [`super::normalise_identity`]).
    Uri(String),
}

impl Party {
    /// The text shown to a user: the number or the URI.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Tn(s) | Self::Uri(s) => s,
        }
    }
}

/// The JOSE header of a PASSporT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassportHeader {
    /// `alg`: always ES256 for what we sign.
    pub alg: String,
    /// `ppt`: the PASSporT extension, if any (RFC 8225 §8).
    pub ppt: Option<String>,
    /// `typ`: "passport".
    pub typ: String,
    /// `x5u`: where the signer's certificate is (the same URL as the Identity header's `info`).
    pub x5u: String,
}

/// The claims of a PASSporT we sign and check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassportClaims {
    /// `orig`
    pub orig: Party,
    /// `dest` (one or more)
    pub dest: Vec<Party>,
    /// `iat`: seconds since the Unix epoch.
    pub iat: u64,
    /// `mky`: empty when the request carries no fingerprint (then the claim is left out).
    pub mky: Vec<MediaKey>,
}

/// Why a PASSporT could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PassportError {
    /// Not `header.payload.signature` (three parts, two dots).
    #[error("not a compact JWS (header.payload.signature)")]
    Shape,
    /// A part is not base64url.
    #[error("bad base64url: {0}")]
    Base64(#[from] b64::Base64Error),
    /// A part is not a JSON object.
    #[error("not a JSON object")]
    Json,
    /// The header has no `alg`/`typ`/`x5u`, or one of them is not a string.
    #[error("missing or malformed header member")]
    Header,
    /// `typ` is not "passport".
    #[error("typ is not passport")]
    Typ,
    /// `orig` missing or not `{"tn":..}` / `{"uri":..}`.
    #[error("missing or malformed orig")]
    Orig,
    /// `dest` missing or malformed.
    #[error("missing or malformed dest")]
    Dest,
    /// `iat` missing or not a non-negative integer.
    #[error("missing or malformed iat")]
    Iat,
    /// `mky` present but not an array of `{alg, dig}` strings.
    #[error("malformed mky")]
    Mky,
    /// The signature is not 64 bytes (r || s).
    #[error("ES256 signature is not 64 bytes")]
    SignatureLength,
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl PassportHeader {
    /// A header for what we sign.
    pub fn es256(x5u: &str, ppt: Option<&str>) -> Self {
        Self {
            alg: ES256.into(),
            ppt: ppt.map(Into::into),
            typ: TYP_PASSPORT.into(),
            x5u: x5u.into(),
        }
    }

    /// Deterministic JSON (module docs).
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\"alg\":");
        json_string(&mut s, &self.alg);
        if let Some(ppt) = &self.ppt {
            s.push_str(",\"ppt\":");
            json_string(&mut s, ppt);
        }
        s.push_str(",\"typ\":");
        json_string(&mut s, &self.typ);
        s.push_str(",\"x5u\":");
        json_string(&mut s, &self.x5u);
        s.push('}');
        s
    }

    /// Reads a received header (any member order; unknown members ignored).
    pub fn from_json(bytes: &[u8]) -> Result<Self, PassportError> {
        let v: Value = serde_json::from_slice(bytes).map_err(|_| PassportError::Json)?;
        let obj = v.as_object().ok_or(PassportError::Json)?;
        let get = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
        let ppt = match obj.get("ppt") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(PassportError::Header),
        };
        let h = Self {
            alg: get("alg").ok_or(PassportError::Header)?,
            ppt,
            typ: get("typ").ok_or(PassportError::Header)?,
            x5u: get("x5u").ok_or(PassportError::Header)?,
        };
        if h.typ != TYP_PASSPORT {
            return Err(PassportError::Typ);
        }
        Ok(h)
    }
}

fn party_json(out: &mut String, p: &Party) {
    match p {
        Party::Tn(t) => {
            out.push_str("{\"tn\":");
            json_string(out, t);
        }
        Party::Uri(u) => {
            out.push_str("{\"uri\":");
            json_string(out, u);
        }
    }
    out.push('}');
}

impl PassportClaims {
    /// Deterministic JSON of the payload (module docs). `mky` is sorted here, whatever order it is in.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\"dest\":{");
        let mut tns: Vec<&str> = self
            .dest
            .iter()
            .filter_map(|p| match p {
                Party::Tn(t) => Some(t.as_str()),
                Party::Uri(_) => None,
            })
            .collect();
        let mut uris: Vec<&str> = self
            .dest
            .iter()
            .filter_map(|p| match p {
                Party::Uri(u) => Some(u.as_str()),
                Party::Tn(_) => None,
            })
            .collect();
        // RFC 8225 §5.2.1: "tn" before "uri", identities within each array in lexicographic order
        tns.sort_unstable();
        uris.sort_unstable();
        let mut first = true;
        for (name, list) in [("tn", &tns), ("uri", &uris)] {
            if list.is_empty() {
                continue;
            }
            if !first {
                s.push(',');
            }
            first = false;
            s.push('"');
            s.push_str(name);
            s.push_str("\":[");
            for (i, v) in list.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                json_string(&mut s, v);
            }
            s.push(']');
        }
        s.push_str("},\"iat\":");
        s.push_str(&self.iat.to_string());
        if !self.mky.is_empty() {
            let mut mky: Vec<MediaKey> = self.mky.iter().map(MediaKey::normalised).collect();
            mky.sort();
            mky.dedup();
            s.push_str(",\"mky\":[");
            for (i, k) in mky.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str("{\"alg\":");
                json_string(&mut s, &k.alg);
                s.push_str(",\"dig\":");
                json_string(&mut s, &k.wire_dig());
                s.push('}');
            }
            s.push(']');
        }
        s.push_str(",\"orig\":");
        party_json(&mut s, &self.orig);
        s.push('}');
        s
    }

    /// Reads a received payload (any member order; unknown claims ignored).
    pub fn from_json(bytes: &[u8]) -> Result<Self, PassportError> {
        let v: Value = serde_json::from_slice(bytes).map_err(|_| PassportError::Json)?;
        let obj = v.as_object().ok_or(PassportError::Json)?;
        let orig = obj
            .get("orig")
            .and_then(Value::as_object)
            .ok_or(PassportError::Orig)?;
        let orig = match (orig.get("tn"), orig.get("uri")) {
            (Some(Value::String(t)), None) => Party::Tn(t.clone()),
            (None, Some(Value::String(u))) => Party::Uri(u.clone()),
            _ => return Err(PassportError::Orig),
        };
        let dest_obj = obj
            .get("dest")
            .and_then(Value::as_object)
            .ok_or(PassportError::Dest)?;
        let mut dest = Vec::new();
        for (name, make) in [
            ("tn", Party::Tn as fn(String) -> Party),
            ("uri", Party::Uri),
        ] {
            match dest_obj.get(name) {
                None => {}
                Some(Value::Array(a)) => {
                    for x in a {
                        dest.push(make(x.as_str().ok_or(PassportError::Dest)?.to_owned()));
                    }
                }
                Some(_) => return Err(PassportError::Dest),
            }
        }
        if dest.is_empty() {
            return Err(PassportError::Dest);
        }
        // a NumericDate is a number; RFC 8225's own §7.1 example quoted it (erratum 5985), so a string of
        // digits is read too (the signature covers the received text either way)
        let iat = match obj.get("iat") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()
            }
            _ => None,
        }
        .ok_or(PassportError::Iat)?;
        let mky = match obj.get("mky") {
            None => Vec::new(),
            Some(Value::Array(a)) => {
                let mut out = Vec::with_capacity(a.len());
                for e in a {
                    let o = e.as_object().ok_or(PassportError::Mky)?;
                    let alg = o.get("alg").and_then(Value::as_str);
                    let dig = o.get("dig").and_then(Value::as_str);
                    match (alg, dig) {
                        (Some(alg), Some(dig)) => out.push(
                            MediaKey {
                                alg: alg.into(),
                                dig: dig.into(),
                            }
                            .normalised(),
                        ),
                        _ => return Err(PassportError::Mky),
                    }
                }
                out.sort();
                out.dedup();
                out
            }
            Some(_) => return Err(PassportError::Mky),
        };
        Ok(Self {
            orig,
            dest,
            iat,
            mky,
        })
    }
}

/// `base64url(header) "." base64url(payload)`: the JWS signing input.
pub fn signing_input(header: &PassportHeader, claims: &PassportClaims) -> String {
    let mut s = b64::encode(header.to_json().as_bytes());
    s.push('.');
    s.push_str(&b64::encode(claims.to_json().as_bytes()));
    s
}

/// Why signing failed (an OpenSSL failure; nothing a peer can cause).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ECDSA signing failed")]
pub struct SignError;

/// ES256 over `input`: ECDSA P-256 with SHA-256, the signature as JWS wants it: r || s, 32 bytes each
/// (RFC 7518 §3.4), not DER.
pub fn es256_sign(input: &[u8], key: &EcKeyRef<Private>) -> Result<[u8; 64], SignError> {
    let digest = sha256(input);
    let sig = EcdsaSig::sign(&digest, key).map_err(|_| SignError)?;
    let r = sig.r().to_vec_padded(32).map_err(|_| SignError)?;
    let s = sig.s().to_vec_padded(32).map_err(|_| SignError)?;
    let mut out = [0u8; 64];
    let (a, b) = out.split_at_mut(32);
    a.copy_from_slice(&r);
    b.copy_from_slice(&s);
    Ok(out)
}

/// Checks an ES256 signature (r || s, 64 bytes). False on any malformed or wrong signature.
pub fn es256_verify<T: HasPublic>(input: &[u8], sig: &[u8], key: &EcKeyRef<T>) -> bool {
    if sig.len() != 64 {
        return false;
    }
    let (r, s) = sig.split_at(32);
    let (Ok(r), Ok(s)) = (BigNum::from_slice(r), BigNum::from_slice(s)) else {
        return false;
    };
    let Ok(sig) = EcdsaSig::from_private_components(r, s) else {
        return false;
    };
    sig.verify(&sha256(input), key).unwrap_or(false)
}

/// A compact-serialised PASSporT split into its parts (base64url text kept as received: the signature covers
/// that text, not a re-serialisation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitJws<'a> {
    /// First part (header), base64url.
    pub header_b64: &'a str,
    /// Second part (payload), base64url; empty in the RFC 8224 §7.3 compact form.
    pub payload_b64: &'a str,
    /// Third part (signature), base64url.
    pub signature_b64: &'a str,
}

impl<'a> SplitJws<'a> {
    /// Splits `header.payload.signature` (payload possibly empty).
    pub fn split(token: &'a str) -> Result<Self, PassportError> {
        let mut it = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(PassportError::Shape);
        };
        if h.is_empty() || s.is_empty() {
            return Err(PassportError::Shape);
        }
        Ok(Self {
            header_b64: h,
            payload_b64: p,
            signature_b64: s,
        })
    }

    /// True for the compact form (`header..signature`).
    pub fn is_compact(&self) -> bool {
        self.payload_b64.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8225 Appendix A: the example header and payload (the payload with "iat" as a number, as the
    /// Appendix has it; erratum 5985 fixes the §7.1 copy, which quoted it). Both the JSON text and the
    /// base64url strings are the RFC's, so this checks member order, no whitespace and the encoding.
    #[test]
    fn i_2_rfc8225_appendix_a_header_and_payload() {
        let h = PassportHeader::es256("https://cert.example.org/passport.cer", None);
        assert_eq!(
            h.to_json(),
            r#"{"alg":"ES256","typ":"passport","x5u":"https://cert.example.org/passport.cer"}"#
        );
        assert_eq!(
            b64::encode(h.to_json().as_bytes()),
            "eyJhbGciOiJFUzI1NiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly9jZXJ0LmV4YW1wbGUub3JnL3Bhc3Nwb3J0LmNlciJ9"
        );
        let c = PassportClaims {
            orig: Party::Tn("12155551212".into()),
            dest: vec![Party::Uri("sip:alice@example.com".into())],
            iat: 1_471_375_418,
            mky: vec![],
        };
        assert_eq!(
            c.to_json(),
            r#"{"dest":{"uri":["sip:alice@example.com"]},"iat":1471375418,"orig":{"tn":"12155551212"}}"#
        );
        assert_eq!(
            b64::encode(c.to_json().as_bytes()),
            "eyJkZXN0Ijp7InVyaSI6WyJzaXA6YWxpY2VAZXhhbXBsZS5jb20iXX0sImlhdCI6MTQ3MTM3NTQxOCwib3JpZyI6eyJ0biI6IjEyMTU1NTUxMjEyIn19"
        );
        assert_eq!(
            PassportClaims::from_json(c.to_json().as_bytes()).unwrap(),
            c
        );
    }

    /// Known answer for `mky`, RFC 8225 §5.2.2's own example: an SDP offer with the fingerprints
    /// `a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3E:4B:65:2E:7D:46:3F:54:42:CD:54:F1`
    /// and `a=fingerprint:sha-256 02:1A:CC:54:27:AB:EB:9C:53:3F:3E:4B:65:2E:7D:46:3F:54:42:CD:54:F1:7A:03:A2:7D:F9:B0:7F:46:19:B2`
    /// (in that order) gives the payload whose `mky` is
    /// `[{"alg":"sha-256","dig":"021ACC5427ABEB9C533F3E4B652E7D463F5442CD54F17A03A27DF9B07F4619B2"},
    /// {"alg":"sha-256","dig":"4AADB9B13F82183B540212DF3E5D496B19E57CAB3E4B652E7D463F5442CD54F1"}]`
    /// (hex without colons, sorted by `dig`), with `dest` sip:alice@example.com, `iat` 1443208345 and `orig`
    /// tn 12155551212. The expected JSON is that example in the §9 deterministic form (the RFC's own §9
    /// example, whitespace removed); the base64url string was computed independently (Python
    /// `base64.urlsafe_b64encode`, padding stripped) from that JSON text.
    #[test]
    fn i_2_mky_known_answer_rfc8225_5_2_2() {
        let fp1 = hex_colon("4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3E:4B:65:2E:7D:46:3F:54:42:CD:54:F1");
        let fp2 = hex_colon("02:1A:CC:54:27:AB:EB:9C:53:3F:3E:4B:65:2E:7D:46:3F:54:42:CD:54:F1:7A:03:A2:7D:F9:B0:7F:46:19:B2");
        // given in the RFC's SDP order 4A.., 02.. and with an upper-case hash name: the claim sorts and
        // lower-cases
        let fps = vec![("SHA-256".to_string(), fp1), ("sha-256".to_string(), fp2)];
        let c = PassportClaims {
            orig: Party::Tn("12155551212".into()),
            dest: vec![Party::Uri("sip:alice@example.com".into())],
            iat: 1_443_208_345,
            mky: mky_for(&fps),
        };
        let json = c.to_json();
        assert_eq!(
            json,
            concat!(
                r#"{"dest":{"uri":["sip:alice@example.com"]},"iat":1443208345,"mky":["#,
                r#"{"alg":"sha-256","dig":"021ACC5427ABEB9C533F3E4B652E7D463F5442CD54F17A03A27DF9B07F4619B2"},"#,
                r#"{"alg":"sha-256","dig":"4AADB9B13F82183B540212DF3E5D496B19E57CAB3E4B652E7D463F5442CD54F1"}],"#,
                r#""orig":{"tn":"12155551212"}}"#
            )
        );
        assert!(
            !json.contains("02:1A"),
            "no colons in dig (RFC 8225 §5.2.2)"
        );
        assert_eq!(b64::encode(json.as_bytes()), MKY_KAT_B64);
        assert_eq!(PassportClaims::from_json(json.as_bytes()).unwrap(), c);
    }

    /// Older peers (and earlier releases of this crate) wrote `dig` with colons: such a claim names the same
    /// keys.
    #[test]
    fn i_2_received_dig_with_colons_from_older_peers_compares_equal() {
        let json = concat!(
            r#"{"dest":{"uri":["sip:alice@example.com"]},"iat":1443208345,"mky":["#,
            r#"{"alg":"sha-256","dig":"02:1A:CC:54:27:AB:EB:9C:53:3F:3E:4B:65:2E:7D:46:3F:54:42:CD:54:F1:7A:03:A2:7D:F9:B0:7F:46:19:B2"},"#,
            r#"{"alg":"sha-256","dig":"4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3E:4B:65:2E:7D:46:3F:54:42:CD:54:F1"}],"#,
            r#""orig":{"tn":"12155551212"}}"#
        );
        let c = PassportClaims::from_json(json.as_bytes()).unwrap();
        let fp1 = hex_colon("4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3E:4B:65:2E:7D:46:3F:54:42:CD:54:F1");
        let fp2 = hex_colon("02:1A:CC:54:27:AB:EB:9C:53:3F:3E:4B:65:2E:7D:46:3F:54:42:CD:54:F1:7A:03:A2:7D:F9:B0:7F:46:19:B2");
        assert_eq!(
            c.mky,
            mky_for(&[("sha-256".into(), fp1), ("sha-256".into(), fp2)])
        );
    }

    /// `dig` without colons in lower case, and `alg` in upper case, name the same keys.
    #[test]
    fn i_2_received_dig_without_colons_or_lower_case_compares_equal() {
        let json = concat!(
            r#"{"dest":{"uri":["sip:alice@example.com"]},"iat":"1443208345","mky":["#,
            r#"{"alg":"SHA-256","dig":"4aadb9b13f82183b540212df3e5d496b19e57cab3e4b652e7d463f5442cd54f1"},"#,
            r#"{"alg":"sha-256","dig":"021ACC5427ABEB9C533F3E4B652E7D463F5442CD54F17A03A27DF9B07F4619B2"}],"#,
            r#""orig":{"tn":"12155551212"}}"#
        );
        let c = PassportClaims::from_json(json.as_bytes()).unwrap();
        let fp1 = hex_colon("4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3E:4B:65:2E:7D:46:3F:54:42:CD:54:F1");
        let fp2 = hex_colon("02:1A:CC:54:27:AB:EB:9C:53:3F:3E:4B:65:2E:7D:46:3F:54:42:CD:54:F1:7A:03:A2:7D:F9:B0:7F:46:19:B2");
        assert_eq!(
            c.mky,
            mky_for(&[("sha-256".into(), fp1), ("sha-256".into(), fp2)])
        );
        assert_eq!(c.iat, 1_443_208_345);
        // a digest that is not hex stays as it was (upper-cased) and matches nothing
        let odd = MediaKey {
            alg: "sha-256".into(),
            dig: "xyz".into(),
        }
        .normalised();
        assert_eq!(odd.dig, "XYZ");
    }

    const MKY_KAT_B64: &str = concat!(
        "eyJkZXN0Ijp7InVyaSI6WyJzaXA6YWxpY2VAZXhhbXBsZS5jb20iXX0sImlhdCI6MTQ0MzIwODM0NSwibWt5IjpbeyJhbGci",
        "OiJzaGEtMjU2IiwiZGlnIjoiMDIxQUNDNTQyN0FCRUI5QzUzM0YzRTRCNjUyRTdENDYzRjU0NDJDRDU0RjE3QTAzQTI3REY5",
        "QjA3RjQ2MTlCMiJ9LHsiYWxnIjoic2hhLTI1NiIsImRpZyI6IjRBQURCOUIxM0Y4MjE4M0I1NDAyMTJERjNFNUQ0OTZCMTlF",
        "NTdDQUIzRTRCNjUyRTdENDYzRjU0NDJDRDU0RjEifV0sIm9yaWciOnsidG4iOiIxMjE1NTU1MTIxMiJ9fQ",
    );

    fn hex_colon(s: &str) -> Vec<u8> {
        s.split(':')
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect()
    }

    #[test]
    fn es256_sign_verify_raw_signature() {
        use openssl::ec::{EcGroup, EcKey};
        use openssl::nid::Nid;
        let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let k = EcKey::generate(&g).unwrap();
        let sig = es256_sign(b"a.b", &k).unwrap();
        assert!(es256_verify(b"a.b", &sig, &k));
        assert!(!es256_verify(b"a.c", &sig, &k));
        assert!(!es256_verify(b"a.b", &sig[..63], &k));
        let mut bad = sig;
        bad[5] ^= 1;
        assert!(!es256_verify(b"a.b", &bad, &k));
    }

    /// The JWS form (RFC 7518 §3.4: r || s, 32 bytes each, SHA-256 of the ASCII signing input) checked
    /// against OpenSSL's EVP signer/verifier, which speak DER: ours converts to DER and verifies there, and
    /// an EVP signature converted to r || s verifies with ours.
    #[test]
    fn i_1_es256_jws_form_matches_evp_der() {
        use openssl::ec::{EcGroup, EcKey};
        use openssl::hash::MessageDigest;
        use openssl::nid::Nid;
        use openssl::pkey::PKey;
        use openssl::sign::{Signer, Verifier};
        let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let ec = EcKey::generate(&g).unwrap();
        let pkey = PKey::from_ec_key(ec.clone()).unwrap();
        let input = b"eyJhbGciOiJFUzI1NiJ9.eyJpYXQiOjF9";
        let raw = es256_sign(input, &ec).unwrap();
        let (r, s) = raw.split_at(32);
        let der = EcdsaSig::from_private_components(
            BigNum::from_slice(r).unwrap(),
            BigNum::from_slice(s).unwrap(),
        )
        .unwrap()
        .to_der()
        .unwrap();
        let mut v = Verifier::new(MessageDigest::sha256(), &pkey).unwrap();
        v.update(input).unwrap();
        assert!(v.verify(&der).unwrap());
        let mut signer = Signer::new(MessageDigest::sha256(), &pkey).unwrap();
        signer.update(input).unwrap();
        let der = signer.sign_to_vec().unwrap();
        let sig = EcdsaSig::from_der(&der).unwrap();
        let mut raw2 = sig.r().to_vec_padded(32).unwrap();
        raw2.extend(sig.s().to_vec_padded(32).unwrap());
        assert!(es256_verify(input, &raw2, &ec));
        assert!(!es256_verify(input, &der, &ec), "DER is not the JWS form");
    }

    #[test]
    fn split_shapes() {
        assert!(SplitJws::split("a.b.c").is_ok());
        assert!(SplitJws::split("a..c").unwrap().is_compact());
        assert_eq!(SplitJws::split("a.b"), Err(PassportError::Shape));
        assert_eq!(SplitJws::split("a.b.c.d"), Err(PassportError::Shape));
        assert_eq!(SplitJws::split(".b.c"), Err(PassportError::Shape));
    }

    #[test]
    fn bad_json_is_typed() {
        assert_eq!(PassportClaims::from_json(b"[1]"), Err(PassportError::Json));
        assert_eq!(
            PassportClaims::from_json(br#"{"orig":{"tn":"1"},"dest":{"uri":["a"]},"iat":-1}"#),
            Err(PassportError::Iat)
        );
        assert_eq!(
            PassportClaims::from_json(
                br#"{"orig":{"tn":"1"},"dest":{"uri":["a"]},"iat":1,"mky":[{"alg":"x"}]}"#
            ),
            Err(PassportError::Mky)
        );
        assert_eq!(
            PassportHeader::from_json(br#"{"alg":"ES256","typ":"JWT","x5u":"u"}"#),
            Err(PassportError::Typ)
        );
    }
}
