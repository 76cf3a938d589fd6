//! The authentication service (signs) and the verification service (checks) of RFC 8224 §5 and §6, sans-IO:
//! the time is an argument (`now_unix`, seconds since the Unix epoch) and the certificate at `info` is fetched
//! by a caller-supplied [`CertResolver`].

use std::fmt;

use openssl::ec::EcKey;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private, Public};
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509StoreContext, X509};

use super::b64;
use super::header::IdentityHeader;
use super::passport::{
    es256_sign, es256_verify, mky_for, signing_input, Party, PassportClaims, PassportError,
    PassportHeader, SplitJws, ES256,
};
use super::{normalise_identity, IdentityError};
use crate::uri::Uri;

/// What the services need from a request: its From and To URIs, the Date header as Unix seconds (only used
/// to rebuild a compact-form PASSporT, RFC 8224 §7.3), and the fingerprints of its SDP body as (hash
/// function name, digest bytes), every `a=fingerprint` line at session and media level.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The From URI (orig).
    pub from: &'a Uri,
    /// The To URI (dest).
    pub to: &'a Uri,
    /// The Date header field in Unix seconds, if any.
    pub date: Option<u64>,
    /// The SDP fingerprints (empty when there is no SDP or no fingerprint).
    pub fingerprints: &'a [(String, Vec<u8>)],
}

/// Why the key or certificate given to the authentication service cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The private key is not PEM or DER (PKCS#8 or SEC1) OpenSSL can read.
    #[error("unreadable private key")]
    Key,
    /// The key is not an EC P-256 key (ES256 needs one).
    #[error("the key is not an EC P-256 key")]
    NotP256,
    /// The certificate is not PEM or DER.
    #[error("unreadable certificate")]
    Certificate,
    /// The certificate's public key is not the private key's.
    #[error("the certificate does not hold the key's public half")]
    KeyMismatch,
    /// The `info` URL is not an absolute file:///, http:// or https:// URL.
    #[error("info URL scheme not supported")]
    InfoUrl,
    /// Signing failed inside OpenSSL.
    #[error("signing failed")]
    Sign,
}

/// The authentication service (RFC 8224 §5): holds the signing key and the URL of its certificate.
pub struct AuthService {
    key: EcKey<Private>,
    cert: X509,
    info: String,
    ppt: Option<String>,
}

impl fmt::Debug for AuthService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // the key never reaches Debug output
        f.debug_struct("AuthService")
            .field("info", &self.info)
            .field("ppt", &self.ppt)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn read_certs(bytes: &[u8]) -> Option<Vec<X509>> {
    if let Ok(v) = X509::stack_from_pem(bytes) {
        if !v.is_empty() {
            return Some(v);
        }
    }
    X509::from_der(bytes).ok().map(|c| vec![c])
}

impl AuthService {
    /// From a private key (PEM or DER), its certificate (PEM or DER; the first of a PEM chain) and the URL
    /// where verifiers will fetch that certificate (`info`, also the PASSporT's `x5u`).
    pub fn new(key: &[u8], cert: &[u8], info_url: &str) -> Result<Self, SetupError> {
        let pkey = PKey::private_key_from_pem(key)
            .or_else(|_| PKey::private_key_from_der(key))
            .map_err(|_| SetupError::Key)?;
        let ec = pkey.ec_key().map_err(|_| SetupError::NotP256)?;
        if ec.group().curve_name() != Some(Nid::X9_62_PRIME256V1) {
            return Err(SetupError::NotP256);
        }
        let cert = read_certs(cert)
            .and_then(|v| v.into_iter().next())
            .ok_or(SetupError::Certificate)?;
        let cert_key = cert.public_key().map_err(|_| SetupError::Certificate)?;
        if !pkey.public_eq(&cert_key) {
            return Err(SetupError::KeyMismatch);
        }
        let parsed = IdentityHeader::parse(&format!("a.b.c;info=<{info_url}>"));
        if !parsed.is_ok_and(|h| h.info == info_url) {
            return Err(SetupError::InfoUrl);
        }
        Ok(Self {
            key: ec,
            cert,
            info: info_url.to_owned(),
            ppt: None,
        })
    }

    /// Sets the PASSporT extension (`ppt`, RFC 8225 §8); none by default.
    pub fn with_ppt(mut self, ppt: &str) -> Self {
        self.ppt = Some(ppt.to_owned());
        self
    }

    /// The certificate (DER), e.g. to serve it at `info`.
    pub fn certificate_der(&self) -> Vec<u8> {
        self.cert.to_der().unwrap_or_default()
    }

    /// The claims this service signs for a request: orig from From, dest from To (normalised, RFC 8224 §8),
    /// `iat = now_unix`, `mky` from every SDP fingerprint (RFC 8224 §12.1, I-2).
    pub fn claims_for(&self, req: &RequestFacts<'_>, now_unix: u64) -> PassportClaims {
        PassportClaims {
            orig: normalise_identity(req.from),
            dest: vec![normalise_identity(req.to)],
            iat: now_unix,
            mky: mky_for(req.fingerprints),
        }
    }

    /// Signs a request (an INVITE, or the RFC 4916 UPDATE, I-3) and returns its Identity header in the full
    /// form. `now_unix` is the wall clock, read by the caller; it should also write a Date header with it.
    pub fn sign(
        &self,
        req: &RequestFacts<'_>,
        now_unix: u64,
    ) -> Result<IdentityHeader, SetupError> {
        self.sign_claims(&self.claims_for(req, now_unix), false)
    }

    /// The same in the RFC 8224 §7.3 compact form (`header..signature`); the verifier rebuilds the payload
    /// from From, To, Date and the SDP, so the caller must send a Date header equal to `now_unix`.
    pub fn sign_compact(
        &self,
        req: &RequestFacts<'_>,
        now_unix: u64,
    ) -> Result<IdentityHeader, SetupError> {
        self.sign_claims(&self.claims_for(req, now_unix), true)
    }

    /// Signs the given claims (for tests of the verifier and for callers that build their own claims).
    pub fn sign_claims(
        &self,
        claims: &PassportClaims,
        compact: bool,
    ) -> Result<IdentityHeader, SetupError> {
        let header = PassportHeader::es256(&self.info, self.ppt.as_deref());
        let input = signing_input(&header, claims);
        let sig = es256_sign(input.as_bytes(), &self.key).map_err(|_| SetupError::Sign)?;
        let passport = if compact {
            let dot = input.find('.').unwrap_or(input.len());
            format!("{}..{}", input.get(..dot).unwrap_or(""), b64::encode(&sig))
        } else {
            format!("{input}.{}", b64::encode(&sig))
        };
        Ok(IdentityHeader {
            passport,
            info: self.info.clone(),
            alg: Some(ES256.to_owned()),
            ppt: self.ppt.clone(),
            extensions: Vec::new(),
        })
    }
}

/// Why fetching the certificate at `info` failed (the resolver's answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The resolver does not handle this URL scheme or host.
    #[error("URL not supported by this resolver")]
    Unsupported,
    /// Not found or not reachable.
    #[error("certificate not reachable")]
    Unreachable,
    /// The response is bigger than the resolver accepts.
    #[error("certificate too large")]
    TooLarge,
}

/// Fetches the certificate (PEM chain or DER) at an `info` URL. The caller does the I/O; the verifier asks
/// once per Identity header. Implementations should bound time and size.
pub trait CertResolver {
    /// The bytes at `url` (PEM, leaf first then intermediates, or one DER certificate).
    fn fetch(&mut self, url: &str) -> Result<Vec<u8>, ResolveError>;
}

/// The certificates the user trusts to sign identities (`--trust-anchor`).
#[derive(Clone, Default)]
pub struct TrustAnchors {
    certs: Vec<X509>,
}

impl fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustAnchors")
            .field("count", &self.certs.len())
            .finish()
    }
}

impl TrustAnchors {
    /// No anchors: nothing verifies.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every certificate of a PEM bundle (or one DER certificate). Returns how many were added.
    pub fn add(&mut self, bytes: &[u8]) -> Result<usize, SetupError> {
        let v = read_certs(bytes).ok_or(SetupError::Certificate)?;
        let n = v.len();
        self.certs.extend(v);
        Ok(n)
    }

    /// Number of anchors.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    fn store(&self, now_unix: u64) -> Option<X509Store> {
        let mut b = X509StoreBuilder::new().ok()?;
        for c in &self.certs {
            b.add_cert(c.clone()).ok()?;
        }
        let mut p = X509VerifyParam::new().ok()?;
        // validity is checked at the injected time, not OpenSSL's clock (sans-IO)
        p.set_time(now_unix.try_into().ok()?);
        b.set_param(&p).ok()?;
        Some(b.build())
    }

    /// Checks that `chain[0]` chains to an anchor at `now_unix` (the rest of `chain` are intermediates).
    fn verify(&self, chain: &[X509], now_unix: u64) -> bool {
        let Some((leaf, rest)) = chain.split_first() else {
            return false;
        };
        let Some(store) = self.store(now_unix) else {
            return false;
        };
        let Ok(mut stack) = Stack::new() else {
            return false;
        };
        for c in rest {
            if stack.push(c.clone()).is_err() {
                return false;
            }
        }
        let Ok(mut ctx) = X509StoreContext::new() else {
            return false;
        };
        ctx.init(&store, leaf, &stack, |c| c.verify_cert())
            .unwrap_or(false)
    }
}

/// What to do when identity verification fails or the header is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdentityPolicy {
    /// Reject: a missing Identity gets 428, a failed one its RFC 8224 code (F-8.6b, secure-only).
    Required,
    /// Let the call proceed, marked unverified (the UI never shows it as verified, F-8.6a).
    #[default]
    BestEffort,
}

/// A successfully verified PASSporT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The asserted originator (orig), which matched the From header.
    pub orig: Party,
    /// `iat`.
    pub iat: u64,
    /// True when the request's SDP had fingerprints and `mky` listed exactly them (I-2). Only then does the
    /// identity vouch for the media keys.
    pub covers_fingerprints: bool,
    /// The certificate URL the signature was checked with.
    pub info: String,
}

/// The result of verifying a request's Identity header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No Identity header field.
    Absent,
    /// One header verified.
    Verified(VerifiedIdentity),
    /// Every header failed; the error of the first one.
    Failed(IdentityError),
}

/// What the UA does with a request after verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Go on with the call; `verified` says whether the peer identity is verified.
    Proceed {
        /// The identity verified.
        verified: bool,
    },
    /// Answer with this status code and reason phrase.
    Reject {
        /// 403, 428, 436, 437 or 438.
        code: u16,
        /// The RFC 8224 reason phrase.
        reason: &'static str,
    },
}

impl Verdict {
    /// The identity, when verified.
    pub fn verified(&self) -> Option<&VerifiedIdentity> {
        match self {
            Self::Verified(v) => Some(v),
            _ => None,
        }
    }

    /// What to do under `policy`.
    pub fn disposition(&self, policy: IdentityPolicy) -> Disposition {
        match (self, policy) {
            (Self::Verified(_), _) => Disposition::Proceed { verified: true },
            (_, IdentityPolicy::BestEffort) => Disposition::Proceed { verified: false },
            (Self::Absent, IdentityPolicy::Required) => {
                let e = IdentityError::Missing;
                Disposition::Reject {
                    code: e.status_code(),
                    reason: e.reason_phrase(),
                }
            }
            (Self::Failed(e), IdentityPolicy::Required) => Disposition::Reject {
                code: e.status_code(),
                reason: e.reason_phrase(),
            },
        }
    }
}

/// The verification service (RFC 8224 §6).
#[derive(Debug, Clone)]
pub struct Verifier {
    anchors: TrustAnchors,
    freshness_secs: u64,
    supported_ppt: Vec<String>,
    authority: Authority,
}

/// Which identities a certificate under the trust anchors may assert (RFC 8224 §6.2: the verifier checks that
/// the credential is authoritative for the identity in orig).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// A URI identity needs the certificate to name it: a subjectAltName URI equal to it, or a dNSName equal
    /// (case-insensitively, no wildcards) to its host. A telephone number is refused unless
    /// `trust_tn` (F-8.6c: no E.164 number is shown as verified unless policy trusts the signer for numbers;
    /// RFC 8226 TNAuthList is not implemented).
    SubjectAltName {
        /// Let any trusted certificate assert telephone numbers.
        trust_tn: bool,
    },
    /// Any certificate under the anchors may assert any identity (a closed deployment with its own CA,
    /// F-8.7).
    AnyTrusted,
}

impl Default for Authority {
    fn default() -> Self {
        Self::SubjectAltName { trust_tn: false }
    }
}

/// How many Identity header fields of one request are examined (issue 12 item 7): a request with more has
/// the rest ignored, so 100 headers cost no more than two (certificate fetches included).
pub const MAX_IDENTITY_HEADERS: usize = 2;

/// The default `iat` window: 60 s either way (RFC 8224 §6.2.2 step 3 suggests a minute).
pub const DEFAULT_FRESHNESS_SECS: u64 = 60;

impl Verifier {
    /// A verifier trusting `anchors`, with the default freshness window.
    pub fn new(anchors: TrustAnchors) -> Self {
        Self {
            anchors,
            freshness_secs: DEFAULT_FRESHNESS_SECS,
            supported_ppt: Vec::new(),
            authority: Authority::default(),
        }
    }

    /// Sets which identities a trusted certificate may assert (default: what its subjectAltName names).
    pub fn with_authority(mut self, authority: Authority) -> Self {
        self.authority = authority;
        self
    }

    /// Accepts PASSporTs with this `ppt` extension (RFC 8225 §8: relying parties MUST fail a PASSporT whose
    /// `ppt` they do not support; none is supported by default). The extension's own claims are not checked
    /// here.
    pub fn with_supported_ppt(mut self, ppt: &str) -> Self {
        self.supported_ppt.push(ppt.to_owned());
        self
    }

    /// Sets the freshness window: `iat` may be at most this many seconds before or after `now`.
    pub fn with_freshness(mut self, secs: u64) -> Self {
        self.freshness_secs = secs;
        self
    }

    /// Verifies the request's Identity header field values (the first [`MAX_IDENTITY_HEADERS`]; the request
    /// is verified when one is). `now_unix` is the wall clock read by the caller.
    pub fn verify_request(
        &self,
        identity_values: &[&str],
        req: &RequestFacts<'_>,
        now_unix: u64,
        resolver: &mut dyn CertResolver,
    ) -> Verdict {
        let mut first_err = None;
        for v in identity_values.iter().take(MAX_IDENTITY_HEADERS) {
            match self.verify_one(v, req, now_unix, resolver) {
                Ok(id) => return Verdict::Verified(id),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            None => Verdict::Absent,
            Some(e) => Verdict::Failed(e),
        }
    }

    /// Verifies one Identity header field value. The checks, in order: syntax (438/436), `alg` (437),
    /// PASSporT header (`typ`, `alg`, `x5u` equal to `info`, `ppt` equal to the header's and supported: 438),
    /// `iat` within the window (403 Stale Date), orig = From and To in dest after normalisation (438), `mky`
    /// = the SDP's fingerprints (438; a request with fingerprints and no `mky` also fails, I-2), then the
    /// certificate fetch (436), its chain to an anchor at `now` (437) and the ES256 signature (438).
    pub fn verify_one(
        &self,
        value: &str,
        req: &RequestFacts<'_>,
        now_unix: u64,
        resolver: &mut dyn CertResolver,
    ) -> Result<VerifiedIdentity, IdentityError> {
        let h = IdentityHeader::parse(value).map_err(IdentityError::Header)?;
        if let Some(alg) = &h.alg {
            if alg != ES256 {
                return Err(IdentityError::UnsupportedAlg);
            }
        }
        let jws = SplitJws::split(&h.passport).map_err(IdentityError::Passport)?;
        let header_bytes =
            b64::decode(jws.header_b64).map_err(|e| IdentityError::Passport(e.into()))?;
        let pheader = PassportHeader::from_json(&header_bytes).map_err(IdentityError::Passport)?;
        if pheader.alg != ES256 {
            return Err(IdentityError::UnsupportedAlg);
        }
        if pheader.x5u != h.info {
            return Err(IdentityError::X5uMismatch);
        }
        if pheader.ppt != h.ppt {
            return Err(IdentityError::PptMismatch);
        }
        if let Some(ppt) = &pheader.ppt {
            if !self.supported_ppt.iter().any(|p| p == ppt) {
                return Err(IdentityError::UnsupportedPpt);
            }
        }
        let sig = b64::decode(jws.signature_b64).map_err(|e| IdentityError::Passport(e.into()))?;
        if sig.len() != 64 {
            return Err(IdentityError::Passport(PassportError::SignatureLength));
        }
        // the payload: as received (full form) or rebuilt from the request (compact form)
        let (claims, input) = if jws.is_compact() {
            let iat = req.date.ok_or(IdentityError::CompactWithoutDate)?;
            let claims = PassportClaims {
                orig: normalise_identity(req.from),
                dest: vec![normalise_identity(req.to)],
                iat,
                mky: mky_for(req.fingerprints),
            };
            let input = format!(
                "{}.{}",
                jws.header_b64,
                b64::encode(claims.to_json().as_bytes())
            );
            (claims, input)
        } else {
            let payload =
                b64::decode(jws.payload_b64).map_err(|e| IdentityError::Passport(e.into()))?;
            let claims = PassportClaims::from_json(&payload).map_err(IdentityError::Passport)?;
            (claims, format!("{}.{}", jws.header_b64, jws.payload_b64))
        };
        // The claim checks come before the certificate fetch: they are cheap, and a replayed or mis-addressed
        // PASSporT then never makes us fetch anything. Passing them means nothing until the signature does.
        if claims.iat.abs_diff(now_unix) > self.freshness_secs {
            return Err(IdentityError::Stale {
                iat: claims.iat,
                now: now_unix,
            });
        }
        if !same_party(&claims.orig, &normalise_identity(req.from)) {
            return Err(IdentityError::OrigMismatch);
        }
        let to = normalise_identity(req.to);
        if !claims.dest.iter().any(|d| same_party(d, &to)) {
            return Err(IdentityError::DestMismatch);
        }
        let sdp_keys = mky_for(req.fingerprints);
        if claims.mky.is_empty() && !sdp_keys.is_empty() {
            return Err(IdentityError::MkyMissing);
        }
        if claims.mky != sdp_keys {
            return Err(IdentityError::MkyMismatch);
        }
        // the certificate, its chain to an anchor at `now`, and the signature
        let bytes = resolver
            .fetch(&h.info)
            .map_err(IdentityError::InfoUnreachable)?;
        let chain = read_certs(&bytes).ok_or(IdentityError::BadCertificate)?;
        if !self.anchors.verify(&chain, now_unix) {
            return Err(IdentityError::UntrustedCertificate);
        }
        let key: EcKey<Public> = chain
            .first()
            .and_then(|c| c.public_key().ok())
            .and_then(|k| k.ec_key().ok())
            .filter(|k| k.group().curve_name() == Some(Nid::X9_62_PRIME256V1))
            .ok_or(IdentityError::UnsupportedAlg)?;
        if !es256_verify(input.as_bytes(), &sig, &key) {
            return Err(IdentityError::BadSignature);
        }
        let leaf = chain.first().ok_or(IdentityError::BadCertificate)?;
        if !authoritative(self.authority, leaf, &claims.orig) {
            return Err(IdentityError::NotAuthoritative);
        }
        Ok(VerifiedIdentity {
            orig: claims.orig,
            iat: claims.iat,
            covers_fingerprints: !sdp_keys.is_empty(),
            info: h.info,
        })
    }
}

/// Whether `leaf` may assert `orig` under `policy` ([`Authority`]).
fn authoritative(policy: Authority, leaf: &X509, orig: &Party) -> bool {
    let trust_tn = match policy {
        Authority::AnyTrusted => return true,
        Authority::SubjectAltName { trust_tn } => trust_tn,
    };
    let uri = match orig {
        Party::Tn(_) => return trust_tn,
        Party::Uri(u) => u,
    };
    let host = Uri::parse(uri)
        .ok()
        .and_then(|u| match u.as_sip().map(|s| s.host()) {
            Some(crate::uri::Host::Domain(d)) => Some(d.to_string()),
            _ => None,
        });
    let Some(names) = leaf.subject_alt_names() else {
        return false;
    };
    names.iter().any(|n| {
        n.uri().is_some_and(|u| u.eq_ignore_ascii_case(uri))
            || n.dnsname()
                .zip(host.as_deref())
                .is_some_and(|(d, h)| d.eq_ignore_ascii_case(h))
    })
}

/// Compares a claimed party with one derived from a header: telephone numbers digit for digit (after the
/// RFC 8224 §8.3 canonicalisation of the claim too), URIs after the same normalisation.
fn same_party(claim: &Party, from_header: &Party) -> bool {
    let claim = match claim {
        Party::Tn(t) => Party::Tn(super::canonical_tn(t).unwrap_or_else(|| t.clone())),
        Party::Uri(u) => match Uri::parse(u) {
            Ok(uri) => normalise_identity(&uri),
            Err(_) => Party::Uri(u.clone()),
        },
    };
    &claim == from_header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_under_policies() {
        let f = Verdict::Failed(IdentityError::MkyMismatch);
        assert_eq!(
            f.disposition(IdentityPolicy::Required),
            Disposition::Reject {
                code: 438,
                reason: "Invalid Identity Header"
            }
        );
        assert_eq!(
            f.disposition(IdentityPolicy::BestEffort),
            Disposition::Proceed { verified: false }
        );
        assert_eq!(
            Verdict::Absent.disposition(IdentityPolicy::Required),
            Disposition::Reject {
                code: 428,
                reason: "Use Identity Header"
            }
        );
    }
}
