//! What an endpoint configures once, and the prepared OpenSSL context built from it.

use core::fmt;
use core::time::Duration;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use dtlsrtp_srtp::SrtpProfile;
use openssl::ex_data::Index;
use openssl::ssl::{
    ClientHelloResponse, SslAlert, SslContext, SslContextBuilder, SslMethod, SslOptions,
    SslSessionCacheMode, SslVerifyMode, SslVersion,
};
use openssl::x509::{X509StoreContext, X509VerifyResult};

use crate::assoc::{binding_of, Shared};
use crate::cert::Certificate;
use crate::error::DtlsError;
use crate::ffi;
use crate::hello::{hello_verify_request, parse_client_hello, HelloCheck};

/// ECDHE suites only (F-8.8, A-R-PFS): AEAD first, then the CBC suites older SIP phones still need.
const CIPHER_LIST: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA";
const GROUPS: &str = "X25519:P-256:P-384";
/// The use_srtp extension type (RFC 5764 §9).
const USE_SRTP: u32 = 14;
/// Cookie length: HMAC-SHA-256 output.
const COOKIE_LEN: usize = 32;

/// A sink for key log lines in the NSS `SSLKEYLOGFILE` format (`CLIENT_RANDOM <hex> <hex>`), for Wireshark.
/// Opt-in; the lines are secrets: write them only where the user asked.
pub trait KeyLog: Send + Sync {
    /// One line, without the trailing newline.
    fn log_line(&self, line: &str);
}

/// The secret the server's cookies (HelloVerifyRequest) are HMACs under. Comes from the caller's seeded CSPRNG,
/// never from a global one, so runs can be reproduced. `Debug` is redacted.
#[derive(Clone)]
pub struct CookieSecret([u8; 32]);

impl CookieSecret {
    /// Wraps 32 secret bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for CookieSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieSecret(<redacted>)")
    }
}

/// Endpoint-wide DTLS settings. Build a [`DtlsContext`] from it once and create every association from that.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Our certificate (one per endpoint for continuity, F-8.4a, or one per anonymous call, F-6.1b).
    pub certificate: Certificate,
    /// use_srtp profiles, most preferred first (D-4.1.1a). A server picks in this order too.
    pub srtp_profiles: Vec<SrtpProfile>,
    /// Largest datagram we send (UDP payload). Every datagram stays within it. Default 1200.
    pub mtu: u16,
    /// First retransmission timeout; doubled on each retransmission up to 60 s (RFC 6347 §4.2.4.1).
    /// Default 1 s.
    pub initial_retransmit: Duration,
    /// The whole handshake must finish within this. Default 30 s.
    pub handshake_timeout: Duration,
    /// Server side: answer the first ClientHello with a HelloVerifyRequest (A-R-DOS). Default on; turn it off
    /// in a second context for paths that ICE already proved.
    pub cookie_exchange: bool,
    /// The cookie secret.
    pub cookie_secret: CookieSecret,
    /// Opt-in key log (SSLKEYLOGFILE format).
    pub key_log: Option<Arc<dyn KeyLog>>,
    /// Session resumption (A-R-REUSE): a server keeps a session cache in its context (stateful, no tickets);
    /// a client can start a new association with [`Association::resume`](crate::Association::resume).
    /// Default off.
    pub session_resumption: bool,
}

impl Config {
    /// Defaults: profiles [`SrtpProfile::DEFAULT_OFFER`], MTU 1200, 1 s initial timer, 30 s limit, cookies on,
    /// no key log.
    pub fn new(certificate: Certificate, cookie_secret: CookieSecret) -> Self {
        Self {
            certificate,
            srtp_profiles: SrtpProfile::DEFAULT_OFFER.to_vec(),
            mtu: 1200,
            initial_retransmit: Duration::from_secs(1),
            handshake_timeout: Duration::from_secs(30),
            cookie_exchange: true,
            cookie_secret,
            key_log: None,
            session_resumption: false,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("certificate", &self.certificate)
            .field("srtp_profiles", &self.srtp_profiles)
            .field("mtu", &self.mtu)
            .field("initial_retransmit", &self.initial_retransmit)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("cookie_exchange", &self.cookie_exchange)
            .field("key_log", &self.key_log.is_some())
            .field("session_resumption", &self.session_resumption)
            .finish_non_exhaustive()
    }
}

/// A prepared OpenSSL context: cheap to clone, shared by every association of an endpoint.
#[derive(Clone)]
pub struct DtlsContext {
    pub(crate) ssl_ctx: SslContext,
    pub(crate) mtu: u16,
    pub(crate) initial_retransmit: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) profiles: Arc<[SrtpProfile]>,
    /// The cookie key when the cookie exchange is on (the association pre-checks echoed cookies).
    pub(crate) cookie_key: Option<Arc<CookieKey>>,
}

impl fmt::Debug for DtlsContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DtlsContext")
            .field("mtu", &self.mtu)
            .field("profiles", &self.profiles)
            .finish_non_exhaustive()
    }
}

/// The SSL ex_data slot holding each association's [`Shared`] state, for the context-level callbacks.
pub(crate) fn shared_index() -> Option<Index<openssl::ssl::Ssl, Arc<Shared>>> {
    static INDEX: OnceLock<Option<Index<openssl::ssl::Ssl, Arc<Shared>>>> = OnceLock::new();
    *INDEX.get_or_init(|| openssl::ssl::Ssl::new_ex_index().ok())
}

/// HMAC-SHA-256 (RFC 2104) keyed once per context: the padded-key states are precomputed, so a cookie costs a
/// few SHA-256 compressions and no OpenSSL provider lookups (OpenSSL 3's EVP HMAC costs ~160k instructions).
#[derive(Clone)]
pub(crate) struct CookieKey {
    inner: openssl::sha::Sha256,
    outer: openssl::sha::Sha256,
}

impl CookieKey {
    pub(crate) fn new(secret: &[u8; 32]) -> Self {
        let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
        for ((i, o), k) in ipad.iter_mut().zip(opad.iter_mut()).zip(secret) {
            *i ^= k;
            *o ^= k;
        }
        let mut inner = openssl::sha::Sha256::new();
        inner.update(&ipad);
        let mut outer = openssl::sha::Sha256::new();
        outer.update(&opad);
        Self { inner, outer }
    }

    /// The cookie for a peer: HMAC-SHA-256(secret, binding).
    pub(crate) fn cookie(&self, binding: &[u8]) -> [u8; COOKIE_LEN] {
        let mut inner = self.inner.clone();
        inner.update(binding);
        let mut outer = self.outer.clone();
        outer.update(&inner.finish());
        outer.finish()
    }
}

/// Our whole certificate check, run where OpenSSL would verify the peer's chain (no chain is built: trust comes
/// from the fingerprint):
/// - abort when use_srtp was not negotiated (D-4.1.1c): by the time the peer's certificate arrives use_srtp is
///   settled, so a client whose server omitted it aborts here, with a handshake_failure alert;
/// - when the association already knows the fingerprints the peer's certificate must match
///   ([`Association::expect_fingerprints`](crate::Association::expect_fingerprints)), a certificate matching none
///   of them is refused here with `X509_V_ERR_CERT_REJECTED`, which OpenSSL 3 sends as a bad_certificate (42)
///   alert (RFC 8122 §6.2, P-6.2b);
/// - otherwise accept it: the [`FingerprintGate`](crate::FingerprintGate) decides once the SDP arrives.
pub(crate) fn check_peer(
    x509ctx: &mut openssl::x509::X509StoreContextRef,
    leaf: Option<&openssl::x509::X509Ref>,
) -> bool {
    let ssl = X509StoreContext::ssl_idx()
        .ok()
        .and_then(|idx| x509ctx.ex_data(idx));
    let Some(ssl) = ssl else { return false };
    let shared = shared_index().and_then(|i| ssl.ex_data(i)).cloned();
    if ssl.selected_srtp_profile().is_none() {
        if let Some(shared) = &shared {
            shared.set_failure(DtlsError::NoCommonSrtpProfile);
        }
        x509ctx.set_error(X509VerifyResult::APPLICATION_VERIFICATION);
        return false;
    }
    let Some(shared) = shared else { return true };
    let Some(expected) = shared.expected() else {
        return true;
    };
    let matches = leaf
        .and_then(|c| c.to_der().ok())
        .is_some_and(|der| crate::cert::verify_fingerprint(&der, &expected).is_ok());
    if matches {
        return true;
    }
    shared.set_failure(DtlsError::CertificateRejected);
    ffi::reject_certificate(x509ctx);
    false
}

/// Whether a ClientHello's use_srtp body offers any of `ours` (RFC 5764 §4.1.1 syntax; malformed → false).
pub(crate) fn offers_common_profile(body: &[u8], ours: &[SrtpProfile]) -> bool {
    let Some((len, rest)) = body.split_first_chunk::<2>() else {
        return false;
    };
    let len = usize::from(u16::from_be_bytes(*len));
    let Some(list) = rest.get(..len) else {
        return false;
    };
    if len < 2 || len % 2 != 0 {
        return false;
    }
    list.chunks_exact(2)
        .filter_map(|c| <[u8; 2]>::try_from(c).ok())
        .filter_map(|c| SrtpProfile::from_code_point(u16::from_be_bytes(c)))
        .any(|p| ours.contains(&p))
}

impl DtlsContext {
    /// Builds the OpenSSL context: DTLS 1.2 only, ECDHE suites only, our certificate, use_srtp in our order,
    /// no tickets, no renegotiation, cookies per config.
    pub fn new(config: &Config) -> Result<Self, DtlsError> {
        let setup = |_| DtlsError::Setup;
        let profiles: Arc<[SrtpProfile]> = config.srtp_profiles.iter().copied().collect();
        if profiles.is_empty() {
            return Err(DtlsError::NoCommonSrtpProfile);
        }
        let mut b = SslContextBuilder::new(SslMethod::dtls()).map_err(setup)?;
        // DTLS 1.2 only: a DTLS 1.0 peer is refused; a ClientHello offering 1.3 and 1.2 gets 1.2.
        b.set_min_proto_version(Some(SslVersion::DTLS1_2))
            .map_err(setup)?;
        b.set_max_proto_version(Some(SslVersion::DTLS1_2))
            .map_err(setup)?;
        b.set_cipher_list(CIPHER_LIST).map_err(setup)?;
        b.set_groups_list(GROUPS).map_err(setup)?;
        b.set_certificate(config.certificate.x509())
            .map_err(setup)?;
        b.set_private_key(config.certificate.key()).map_err(setup)?;
        b.check_private_key().map_err(setup)?;
        let mut opts = SslOptions::NO_QUERY_MTU
            | SslOptions::NO_TICKET
            | SslOptions::NO_RENEGOTIATION
            | SslOptions::CIPHER_SERVER_PREFERENCE;
        if config.cookie_exchange {
            opts |= SslOptions::COOKIE_EXCHANGE;
        }
        b.set_options(opts);
        if config.session_resumption {
            // Server-side cache of this context; the id context is required with client certificates.
            b.set_session_cache_mode(SslSessionCacheMode::SERVER);
            b.set_session_id_context(b"dtlsrtp-dtls").map_err(setup)?;
            b.set_session_cache_size(4096);
        } else {
            b.set_session_cache_mode(SslSessionCacheMode::OFF);
        }
        let srtp: Vec<&str> = profiles.iter().map(|p| p.openssl_name()).collect();
        b.set_tlsext_use_srtp(&srtp.join(":")).map_err(setup)?;

        // Trust is decided by fingerprint (FingerprintGate), never by a CA: no chain verification at all
        // (check_peer replaces X509_verify_cert). The verify mode is set per SSL (the server requires a client
        // certificate).
        b.set_verify(SslVerifyMode::PEER);
        ffi::set_cert_verify(&mut b);

        // Server: refuse a ClientHello without a common use_srtp profile at once, with handshake_failure
        // (D-4.1.1c), instead of continuing as plain DTLS.
        let ours = profiles.clone();
        b.set_client_hello_callback(move |ssl, alert| {
            let ok = ffi::client_hello_ext(ssl, USE_SRTP)
                .is_some_and(|body| offers_common_profile(body, &ours));
            if ok {
                return Ok(ClientHelloResponse::SUCCESS);
            }
            if let Some(shared) = shared_index().and_then(|i| ssl.ex_data(i)) {
                shared.set_failure(DtlsError::NoCommonSrtpProfile);
            }
            *alert = SslAlert::HANDSHAKE_FAILURE;
            Err(openssl::error::ErrorStack::get())
        });

        // Cookies: HMAC-SHA-256 of the peer's transport address under the caller's secret (A-R-DOS).
        // One HMAC per association: the cookie depends only on the secret and the peer address.
        let key = CookieKey::new(&config.cookie_secret.0);
        b.set_cookie_generate_cb(move |ssl, out| {
            let cookie = shared_index()
                .and_then(|i| ssl.ex_data(i))
                .map(|s| s.cookie(&key))
                .ok_or_else(openssl::error::ErrorStack::get)?;
            let n = cookie.len().min(out.len());
            if let (Some(dst), Some(src)) = (out.get_mut(..n), cookie.get(..n)) {
                dst.copy_from_slice(src);
            }
            Ok(n)
        });
        let key = CookieKey::new(&config.cookie_secret.0);
        b.set_cookie_verify_cb(move |ssl, cookie| {
            let Some(expected) = shared_index()
                .and_then(|i| ssl.ex_data(i))
                .map(|s| s.cookie(&key))
            else {
                return false;
            };
            expected.len() == cookie.len() && openssl::memcmp::eq(&expected, cookie)
        });

        if let Some(sink) = config.key_log.clone() {
            b.set_keylog_callback(move |_, line| sink.log_line(line));
        }

        let cookie_key = config
            .cookie_exchange
            .then(|| Arc::new(CookieKey::new(&config.cookie_secret.0)));
        Ok(Self {
            cookie_key,
            ssl_ctx: b.build(),
            mtu: config.mtu,
            initial_retransmit: config.initial_retransmit,
            handshake_timeout: config.handshake_timeout,
            profiles,
        })
    }

    /// The stateless cookie check of a ClientHello from `peer` (R-1, A-R-DOS, RFC 6347 §4.2.1), to run before
    /// any association exists: with the cookie exchange on, a ClientHello whose cookie is the HMAC of `peer`
    /// under the context's secret (compared in constant time) is [`HelloCheck::Accept`]ed; one without a
    /// cookie or with another cookie gets [`HelloCheck::Verify`] with the HelloVerifyRequest to send, and the
    /// caller keeps no state. The association created for an accepted ClientHello
    /// ([`Association::new`](crate::Association::new), server) verifies the same cookie and goes on without a
    /// second HelloVerifyRequest. Without the cookie exchange every well-formed ClientHello is accepted.
    pub fn check_client_hello(&self, peer: SocketAddr, datagram: &[u8]) -> HelloCheck {
        let hello = match parse_client_hello(datagram) {
            Ok(h) => h,
            Err(e) => return HelloCheck::Refuse(e),
        };
        let Some(key) = self.cookie_key.as_deref() else {
            return HelloCheck::Accept;
        };
        let expected = key.cookie(&binding_of(peer));
        if hello.cookie.len() == expected.len() && openssl::memcmp::eq(&expected, hello.cookie) {
            return HelloCheck::Accept;
        }
        HelloCheck::Verify {
            reply: hello_verify_request(&hello, &expected),
            bad_cookie: !hello.cookie.is_empty(),
        }
    }

    /// The profiles we offer or accept, most preferred first.
    pub fn srtp_profiles(&self) -> &[SrtpProfile] {
        &self.profiles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d_4_1_1c_use_srtp_overlap_parser_is_total() {
        let ours = [SrtpProfile::AeadAes128Gcm, SrtpProfile::Aes128CmHmacSha1_80];
        assert!(offers_common_profile(&[0, 4, 0, 8, 0, 1, 0], &ours));
        assert!(!offers_common_profile(&[0, 2, 0, 8, 0], &ours));
        assert!(!offers_common_profile(&[0, 3, 0, 1, 0], &ours));
        assert!(!offers_common_profile(&[0, 200, 0, 1], &ours));
        assert!(!offers_common_profile(&[0], &ours));
        assert!(!offers_common_profile(&[], &ours));
        assert!(!offers_common_profile(&[0, 0, 0], &ours));
    }

    #[test]
    fn cookie_is_hmac_sha256_of_binding_under_secret() {
        use openssl::hash::MessageDigest;
        use openssl::pkey::PKey;
        use openssl::sign::Signer;
        let hmac = |secret: &[u8], msg: &[u8]| {
            let key = PKey::hmac(secret).unwrap();
            let mut s = Signer::new(MessageDigest::sha256(), &key).unwrap();
            s.update(msg).unwrap();
            s.sign_to_vec().unwrap()
        };
        let k1 = CookieKey::new(&[1; 32]);
        let a = k1.cookie(b"127.0.0.1:5000");
        assert_eq!(a.to_vec(), hmac(&[1; 32], b"127.0.0.1:5000"));
        assert_eq!(a, k1.cookie(b"127.0.0.1:5000"));
        assert_ne!(a, CookieKey::new(&[2; 32]).cookie(b"127.0.0.1:5000"));
        assert_ne!(a, k1.cookie(b"127.0.0.1:5001"));
    }
}
