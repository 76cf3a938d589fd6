//! HTTP Digest as a SIP client (RFC 3261 §22.4, RFC 2617, RFC 7616, RFC 8760): MD5 and SHA-256, their `-sess`
//! variants, qop `auth` (and the RFC 2069 form without qop, only when [`Credentials::allow_legacy_digest`]).
//! The password never reaches Debug output.
//!
//! Credentials are bound (issue 12 item 11): [`Credentials::choose`] answers only a challenge for their realm
//! ([`Credentials::realm`], or the realm the UA learned from the registrar they were configured for), never the
//! RFC 2069 form unless allowed, and prefers SHA-256 (RFC 8760 §2.4). Which party may challenge at all (the
//! configured registrar or outbound proxy) is the UA's check ([`crate::ua`]).

use std::fmt;

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::header::AuthParams;

/// A digest algorithm (RFC 8760 §2).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5 (the default when the challenge has no `algorithm`).
    Md5,
    /// MD5-sess.
    Md5Sess,
    /// SHA-256.
    Sha256,
    /// SHA-256-sess.
    Sha256Sess,
}

impl Algorithm {
    /// Parses an `algorithm` value; `None` for unsupported ones (SHA-512-256, ...).
    pub fn parse(s: &str) -> Option<Self> {
        [
            ("MD5", Self::Md5),
            ("MD5-sess", Self::Md5Sess),
            ("SHA-256", Self::Sha256),
            ("SHA-256-sess", Self::Sha256Sess),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, a)| a)
    }
    /// The token as written in credentials.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }
    fn hash(self, data: &str) -> String {
        match self {
            Self::Md5 | Self::Md5Sess => hex(&Md5::digest(data.as_bytes())),
            Self::Sha256 | Self::Sha256Sess => hex(&Sha256::digest(data.as_bytes())),
        }
    }
    fn sess(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }
    /// Preference when a 401 offers several challenges: SHA-256 first (RFC 8760 §2.4).
    fn rank(self) -> u8 {
        match self {
            Self::Sha256 | Self::Sha256Sess => 2,
            Self::Md5 | Self::Md5Sess => 1,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(H[usize::from(b >> 4)]));
        s.push(char::from(H[usize::from(b & 15)]));
    }
    s
}

/// Username and password, and what they may answer. Debug shows no password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Username.
    pub username: String,
    /// Password (redacted in Debug).
    pub password: String,
    /// The realm these credentials are for: a challenge for any other realm is not answered. `None`: the realm
    /// of the first challenge from the registrar they are used with (the server the user configured), learned
    /// and then enforced; an INVITE challenge needs this realm or one a registrar taught.
    pub realm: Option<String>,
    /// Answer RFC 2069 challenges (no `qop`, so no client nonce and no nonce count): off by default, because
    /// such a response can be replayed and precomputed by whoever picks the nonce.
    pub allow_legacy_digest: bool,
}

impl Credentials {
    /// Credentials with no fixed realm (learned from the registrar) and no RFC 2069 answers.
    pub fn new(username: &str, password: &str) -> Self {
        Self {
            username: username.to_owned(),
            password: password.to_owned(),
            realm: None,
            allow_legacy_digest: false,
        }
    }

    /// The realm a challenge must carry: the configured one, else `learned`.
    pub fn bound_realm<'a>(&'a self, learned: Option<&'a str>) -> Option<&'a str> {
        self.realm.as_deref().or(learned)
    }

    /// The challenge to answer among `challenges` (RFC 8760 §2.4: SHA-256 before MD5): one for `realm` (any
    /// realm when `None`, for a first challenge from the configured registrar), with `qop=auth` unless
    /// [`Self::allow_legacy_digest`]. `None`: nothing we may answer (the request then fails with the
    /// challenge's status).
    pub fn choose<'a>(
        &self,
        challenges: impl Iterator<Item = &'a AuthParams>,
        realm: Option<&str>,
    ) -> Option<Challenge> {
        challenges
            .filter_map(Challenge::from_params)
            .filter(|c| realm.is_none_or(|r| c.realm == r))
            .filter(|c| c.qop_auth || self.allow_legacy_digest)
            .max_by_key(|c| (c.algorithm.rank(), c.qop_auth))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("realm", &self.realm)
            .field("allow_legacy_digest", &self.allow_legacy_digest)
            .finish()
    }
}

/// A usable Digest challenge from WWW-Authenticate or Proxy-Authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// realm
    pub realm: String,
    /// nonce
    pub nonce: String,
    /// opaque, echoed back
    pub opaque: Option<String>,
    /// algorithm
    pub algorithm: Algorithm,
    /// true when `qop` offers `auth` (then we use it); false for the RFC 2069 form
    pub qop_auth: bool,
    /// stale=true: the previous credentials were right, the nonce expired
    pub stale: bool,
}

impl Challenge {
    /// Reads one challenge; `None` when it is not Digest, lacks realm/nonce, has an unsupported algorithm, or
    /// offers only qop values other than `auth` (auth-int needs the body hash; we do not offer it).
    pub fn from_params(p: &AuthParams) -> Option<Self> {
        if !p.is_digest() {
            return None;
        }
        let algorithm = match p.algorithm() {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(&a)?,
        };
        let qop_auth = match p.qop() {
            None => false,
            Some(q) => {
                if !q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")) {
                    return None;
                }
                true
            }
        };
        Some(Self {
            realm: p.realm()?,
            nonce: p.nonce()?,
            opaque: p.opaque(),
            algorithm,
            qop_auth,
            stale: p.stale(),
        })
    }

    /// The strongest usable challenge among several (RFC 8760 §2.4: the client picks the one it prefers).
    pub fn best<'a>(challenges: impl Iterator<Item = &'a AuthParams>) -> Option<Self> {
        challenges
            .filter_map(Self::from_params)
            .max_by_key(|c| c.algorithm.rank())
    }

    /// The `response` value (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1).
    pub fn response(
        &self,
        creds: &Credentials,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> String {
        let alg = self.algorithm;
        let mut ha1 = alg.hash(&format!(
            "{}:{}:{}",
            creds.username, self.realm, creds.password
        ));
        if alg.sess() {
            ha1 = alg.hash(&format!("{ha1}:{}:{cnonce}", self.nonce));
        }
        let ha2 = alg.hash(&format!("{method}:{uri}"));
        if self.qop_auth {
            alg.hash(&format!(
                "{ha1}:{}:{nc:08x}:{cnonce}:auth:{ha2}",
                self.nonce
            ))
        } else {
            alg.hash(&format!("{ha1}:{}:{ha2}", self.nonce))
        }
    }

    /// The Authorization / Proxy-Authorization value for a request.
    pub fn authorize(
        &self,
        creds: &Credentials,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> AuthParams {
        let mut a = AuthParams::new("Digest");
        a.push_quoted("username", &creds.username);
        a.push_quoted("realm", &self.realm);
        a.push_quoted("nonce", &self.nonce);
        a.push_quoted("uri", uri);
        a.push_quoted("response", &self.response(creds, method, uri, cnonce, nc));
        a.push_token("algorithm", self.algorithm.as_str());
        if self.qop_auth {
            a.push_token("qop", "auth");
            a.push_token("nc", &format!("{nc:08x}"));
            a.push_quoted("cnonce", cnonce);
        }
        if let Some(o) = &self.opaque {
            a.push_quoted("opaque", o);
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(realm: &str, nonce: &str, alg: Algorithm) -> Challenge {
        Challenge {
            realm: realm.into(),
            nonce: nonce.into(),
            opaque: None,
            algorithm: alg,
            qop_auth: true,
            stale: false,
        }
    }

    #[test]
    fn rfc2617_section_3_5_example() {
        let c = ch(
            "testrealm@host.com",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Algorithm::Md5,
        );
        let creds = Credentials::new("Mufasa", "Circle Of Life");
        assert_eq!(
            c.response(&creds, "GET", "/dir/index.html", "0a4f113b", 1),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    #[test]
    fn rfc7616_section_3_9_1_md5_and_sha256() {
        let creds = Credentials::new("Mufasa", "Circle of Life");
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let md5 = ch("http-auth@example.org", nonce, Algorithm::Md5);
        assert_eq!(
            md5.response(&creds, "GET", "/dir/index.html", cnonce, 1),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        let sha = ch("http-auth@example.org", nonce, Algorithm::Sha256);
        assert_eq!(
            sha.response(&creds, "GET", "/dir/index.html", cnonce, 1),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn best_prefers_sha256_and_skips_unusable() {
        let a = AuthParams::parse("Digest realm=\"r\", nonce=\"n\", qop=\"auth\"").unwrap();
        let b =
            AuthParams::parse("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256, qop=\"auth\"")
                .unwrap();
        let c =
            AuthParams::parse("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256").unwrap();
        let d = AuthParams::parse("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"").unwrap();
        let best = Challenge::best([&a, &b, &c, &d].into_iter()).unwrap();
        assert_eq!(best.algorithm, Algorithm::Sha256);
        assert!(Challenge::from_params(&c).is_none());
        assert!(Challenge::from_params(&d).is_none());
        let creds = Credentials::new("u", "secret-pw");
        assert!(!format!("{creds:?}").contains("secret-pw"));
        let auth = best
            .authorize(&creds, "REGISTER", "sip:r", "cn", 1)
            .to_string();
        assert!(
            auth.starts_with("Digest username=\"u\", realm=\"r\""),
            "{auth}"
        );
        assert!(auth.contains("algorithm=SHA-256") && auth.contains("nc=00000001"));
    }

    fn params(v: &str) -> AuthParams {
        AuthParams::parse(v).unwrap()
    }

    #[test]
    fn sec_digest_choose_binds_realm_refuses_rfc2069_prefers_sha256() {
        let mut creds = Credentials::new("u", "pw");
        let md5 = params("Digest realm=\"r\", nonce=\"n\", qop=\"auth\"");
        let sha = params("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256, qop=\"auth\"");
        let other = params("Digest realm=\"evil\", nonce=\"n\", algorithm=SHA-256, qop=\"auth\"");
        let legacy = params("Digest realm=\"r\", nonce=\"n\"");
        // SHA-256 first; a foreign realm is skipped even when it is the stronger offer
        let got = creds.choose([&md5, &sha].into_iter(), Some("r")).unwrap();
        assert_eq!(got.algorithm, Algorithm::Sha256);
        let got = creds.choose([&other, &md5].into_iter(), Some("r")).unwrap();
        assert_eq!((got.realm.as_str(), got.algorithm), ("r", Algorithm::Md5));
        assert!(creds.choose([&other].into_iter(), Some("r")).is_none());
        // RFC 2069 (no qop): refused unless allowed
        assert!(creds.choose([&legacy].into_iter(), Some("r")).is_none());
        assert!(creds.choose([&legacy].into_iter(), None).is_none());
        creds.allow_legacy_digest = true;
        let got = creds.choose([&legacy].into_iter(), Some("r")).unwrap();
        assert!(!got.qop_auth);
        // with qop offered too, qop wins
        assert!(
            creds
                .choose([&legacy, &md5].into_iter(), Some("r"))
                .unwrap()
                .qop_auth
        );
        // the configured realm beats a learned one
        creds.realm = Some("r".into());
        assert_eq!(creds.bound_realm(Some("evil")), Some("r"));
        assert!(!format!("{creds:?}").contains("pw\""));
    }
}
