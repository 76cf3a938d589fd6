//! SIP Identity for DTLS-SRTP (RFC 8224, RFC 8225; RFC 5763 §5, §8): the building blocks the endpoint wires
//! into calls. Requirement IDs: F-5.4, F-8.0, F-8.1b, F-8.4b, F-8.5, F-8.6a/b, F-6.1d, I-1..I-3, P-7b.
//!
//! - [`passport`]: PASSporT header and claims in deterministic JSON, the `mky` claim listing every SDP
//!   fingerprint (I-2), ES256 with the JWS r||s signature.
//! - [`IdentityHeader`]: the Identity header field value, full and compact (`header..signature`) forms.
//! - [`AuthService`]: signs a request (INVITE, or the RFC 4916 UPDATE of I-3) from its From, To, SDP
//!   fingerprints and the time given by the caller.
//! - [`Verifier`]: fetches the certificate through a [`CertResolver`] (the caller's I/O, run by the driver
//!   off its loop; the CLI's resolves `file:///` under given directories), chains it to the user's [`TrustAnchors`] at the given time, checks the signature, `iat`
//!   freshness (60 s both ways by default), orig/dest against From/To and `mky` against the received SDP.
//!   The [`Verdict`] maps to RFC 8224 status codes, or lets the call proceed unverified under
//!   [`IdentityPolicy::BestEffort`].
//! - [`CallSecurityState`] / [`call_security_state`]: what the UI shows per call (F-8.0, F-8.1b, F-8.6a).
//! - [`PeerKeyCache`]: continuity of authentication, peer fingerprints per identity (F-8.4b, P-7b).
//! - [`Sas`]: a 64-bit short authentication string over both fingerprints (F-8.5).
//! - [`anonymize`]: `Privacy: id` and no identifying header fields (F-6.1d).
//!
//! Nothing here reads a clock, a file or a socket: `now_unix` (seconds since the Unix epoch) is an argument,
//! certificates come through a [`CertResolver`], the peer-key cache file is text in and out.
//!
//! ```
//! use dtlsrtp_sip::identity::{call_security_state, CallSecurityState, IdentityHeader, Sas, Verdict};
//!
//! // an Identity header field value, compact form, certificate on loopback HTTP
//! let h = IdentityHeader::parse(
//!     "eyJhbGciOiJFUzI1NiJ9..c2ln;info=<http://127.0.0.1:8080/alice.pem>;alg=ES256",
//! )
//! .unwrap();
//! assert!(h.is_compact());
//! assert_eq!(h.info, "http://127.0.0.1:8080/alice.pem");
//!
//! // a call whose media matched the SDP fingerprint but whose Identity was stripped: encrypted, and
//! // never shown as verified (F-8.0, F-8.6a)
//! let state = call_security_state(true, &Verdict::Absent, None);
//! assert_eq!(state, CallSecurityState::EncryptedUnauthenticated);
//!
//! // the SAS both users read aloud: the same on both ends
//! let (ours, theirs) = ([0x11u8; 32], [0x22u8; 32]);
//! let a = Sas::new(("sha-256", &ours), ("sha-256", &theirs));
//! let b = Sas::new(("sha-256", &theirs), ("sha-256", &ours));
//! assert_eq!(a.to_string(), b.to_string());
//! assert_eq!(a.to_string().len(), 24); // "dddd dddd dddd dddd dddd"
//! ```

mod anon;
pub mod b64;
mod continuity;
mod header;
pub mod passport;
mod sas;
mod service;
mod ui;

pub use anon::{anonymize, ANONYMOUS_FROM_URI, PRIVACY_ID};
pub use continuity::{CacheFileError, Continuity, PeerKeyCache};
pub use header::{IdentityHeader, IdentityHeaderError};
pub use passport::{MediaKey, Party};
pub use sas::Sas;
pub use service::{
    AuthService, Authority, CertResolver, Disposition, IdentityPolicy, RequestFacts, ResolveError,
    SetupError, TrustAnchors, Verdict, VerifiedIdentity, Verifier, DEFAULT_FRESHNESS_SECS,
    MAX_IDENTITY_HEADERS,
};
pub use ui::{call_security_state, CallSecurityState};

use crate::uri::Uri;

/// Why an Identity header did not verify. [`IdentityError::status_code`] gives the RFC 8224 response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// No Identity header where policy requires one (428 Use Identity Header).
    #[error("no Identity header")]
    Missing,
    /// The header field value is malformed (438) or its `info` is missing or unusable (436).
    #[error("Identity header: {0}")]
    Header(IdentityHeaderError),
    /// The PASSporT is malformed: base64url, JSON, claims (438).
    #[error("PASSporT: {0}")]
    Passport(passport::PassportError),
    /// `alg` other than ES256, or a certificate key that is not P-256 (437 Unsupported Credential).
    #[error("unsupported algorithm or key type")]
    UnsupportedAlg,
    /// The PASSporT's `x5u` differs from the header's `info` (438).
    #[error("x5u differs from info")]
    X5uMismatch,
    /// The PASSporT's `ppt` differs from the header's `ppt` parameter (438).
    #[error("ppt differs between header field and PASSporT")]
    PptMismatch,
    /// A `ppt` extension this verifier does not support (RFC 8225 §8: fail; 438).
    #[error("unsupported ppt extension")]
    UnsupportedPpt,
    /// The certificate at `info` could not be fetched (436 Bad Identity Info).
    #[error("certificate not fetched: {0}")]
    InfoUnreachable(ResolveError),
    /// What `info` points to is not a certificate (436 Bad Identity Info).
    #[error("info does not point to a certificate")]
    BadCertificate,
    /// The certificate does not chain to a trust anchor, or is expired at `now` (437 Unsupported
    /// Credential).
    #[error("certificate not trusted")]
    UntrustedCertificate,
    /// The ES256 signature does not verify (438).
    #[error("bad signature")]
    BadSignature,
    /// `iat` outside the freshness window: a replay or a wrong clock (403 Stale Date, RFC 8224 §6.2.2).
    #[error("stale PASSporT: iat {iat}, now {now}")]
    Stale {
        /// The claimed `iat`.
        iat: u64,
        /// The verifier's time.
        now: u64,
    },
    /// The certificate may not assert the orig identity: no subjectAltName names it, or a telephone number
    /// without a policy that trusts the signer for numbers (438, RFC 8224 §6.2, F-8.6c).
    #[error("certificate not authoritative for orig")]
    NotAuthoritative,
    /// `orig` is not the From identity (438).
    #[error("orig does not match From")]
    OrigMismatch,
    /// The To identity is not in `dest` (438).
    #[error("dest does not match To")]
    DestMismatch,
    /// The SDP has fingerprints but the PASSporT has no `mky` (438, I-2).
    #[error("mky missing although the SDP has fingerprints")]
    MkyMissing,
    /// `mky` does not list exactly the SDP's fingerprints: a rewritten a=fingerprint (438, I-2).
    #[error("mky does not match the SDP fingerprints")]
    MkyMismatch,
    /// A compact-form PASSporT but no Date header to rebuild `iat` from (438).
    #[error("compact PASSporT without a Date header")]
    CompactWithoutDate,
}

impl IdentityError {
    /// The RFC 8224 response code: 428, 436, 437, 438, or 403 for a stale `iat`.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Missing => 428,
            Self::Header(h) => h.status_code(),
            Self::InfoUnreachable(_) | Self::BadCertificate => 436,
            Self::UnsupportedAlg | Self::UntrustedCertificate => 437,
            Self::Stale { .. } => 403,
            Self::Passport(_)
            | Self::X5uMismatch
            | Self::PptMismatch
            | Self::UnsupportedPpt
            | Self::BadSignature
            | Self::OrigMismatch
            | Self::NotAuthoritative
            | Self::DestMismatch
            | Self::MkyMissing
            | Self::MkyMismatch
            | Self::CompactWithoutDate => 438,
        }
    }

    /// The reason phrase RFC 8224 gives that code.
    pub fn reason_phrase(&self) -> &'static str {
        match self.status_code() {
            428 => "Use Identity Header",
            436 => "Bad Identity Info",
            437 => "Unsupported Credential",
            403 => "Stale Date",
            _ => "Invalid Identity Header",
        }
    }
}

/// RFC 8224 §8.3 canonical telephone number: visual separators (`-`, `.`, `(`, `)`, space) and a leading
/// `+` removed; `None` unless what is left is one or more digits.
pub fn canonical_tn(s: &str) -> Option<String> {
    let s = s.strip_prefix('+').unwrap_or(s);
    let digits: String = s
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' '))
        .collect();
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// The identity a From/To URI asserts, as `orig`/`dest` carry it (RFC 8224 §8): a telephone number for a
/// `tel:` URI, a SIP URI with `user=phone`, or a user part of the form `+digits`; otherwise the URI reduced
/// to `scheme:user@host[:port]` with scheme and host in lower case and every parameter and header removed.
pub fn normalise_identity(uri: &Uri) -> Party {
    match uri {
        Uri::Sip(u) => {
            let user = u.user();
            let phone = u
                .param("user")
                .flatten()
                .is_some_and(|v| v.eq_ignore_ascii_case("phone"));
            if let Some(user) = user {
                let user_nop = user.split(';').next().unwrap_or(user);
                if phone || user_nop.starts_with('+') {
                    if let Some(tn) = canonical_tn(user_nop) {
                        return Party::Tn(tn);
                    }
                }
            }
            let mut s = String::from(if u.is_secure() { "sips:" } else { "sip:" });
            if let Some(user) = user {
                s.push_str(user);
                s.push('@');
            }
            s.push_str(&u.host().to_string().to_ascii_lowercase());
            if let Some(p) = u.port() {
                s.push(':');
                s.push_str(&p.to_string());
            }
            Party::Uri(s)
        }
        Uri::Other(s) => {
            let (scheme, rest) = s.split_once(':').unwrap_or(("", s));
            if scheme.eq_ignore_ascii_case("tel") {
                let number = rest.split(';').next().unwrap_or(rest);
                if let Some(tn) = canonical_tn(number) {
                    return Party::Tn(tn);
                }
            }
            Party::Uri(format!("{}:{rest}", scheme.to_ascii_lowercase()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Party {
        normalise_identity(&Uri::parse(s).unwrap())
    }

    #[test]
    fn normalisation() {
        assert_eq!(
            n("sip:alice@Example.COM;transport=tcp"),
            Party::Uri("sip:alice@example.com".into())
        );
        assert_eq!(
            n("SIP:alice@example.com:5070"),
            Party::Uri("sip:alice@example.com:5070".into())
        );
        assert_eq!(
            n("sips:bob@example.com"),
            Party::Uri("sips:bob@example.com".into())
        );
        assert_eq!(
            n("sip:+1-215-555-1212@example.com;user=phone"),
            Party::Tn("12155551212".into())
        );
        assert_eq!(
            n("tel:+1.215.555.1212;phone-context=x"),
            Party::Tn("12155551212".into())
        );
        assert_eq!(
            n("sip:1000@example.com"),
            Party::Uri("sip:1000@example.com".into())
        );
    }

    #[test]
    fn status_codes() {
        assert_eq!(IdentityError::Missing.status_code(), 428);
        assert_eq!(IdentityError::BadCertificate.status_code(), 436);
        assert_eq!(IdentityError::UntrustedCertificate.status_code(), 437);
        assert_eq!(IdentityError::MkyMismatch.status_code(), 438);
        assert_eq!(
            IdentityError::Stale { iat: 0, now: 100 }.reason_phrase(),
            "Stale Date"
        );
    }
}
