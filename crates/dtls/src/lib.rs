//! DTLS 1.2 with use_srtp (RFC 5764) as a sans-IO association over OpenSSL, verified by certificate
//! fingerprint (RFC 8122, RFC 5763).
//!
//! - [`Certificate`]: self-signed ECDSA P-256 (default) or RSA-2048, PEM load/save (F-8.4a), fresh anonymous
//!   certificates (F-6.1b/e), fingerprints in sha-1/224/256/384/512 ([`fingerprint_of_der`]).
//! - [`verify_fingerprint`]: RFC 8122 §5.1 matching (P-5.1d, constant time, md2/md5 refused).
//! - [`Association`]: one handshake, client or server, DTLS 1.2 only, ECDHE suites only (F-8.8), mutual
//!   authentication, use_srtp in a configurable order (D-4.1.1a), cookie exchange (A-R-DOS), keys exported once
//!   per handshake (D-4.2a) and split for `dtlsrtp-srtp`.
//! - [`FingerprintGate`]: keys are usable only once the SDP fingerprint vouched for the peer certificate.
//! - Session resumption (A-R-REUSE, opt-in [`Config::session_resumption`]): [`Association::session`] and
//!   [`Association::resume`] give a second association to the same peer an abbreviated handshake with fresh
//!   keys; the peer certificate of the original handshake still goes through the gate.
//!
//! - Stateless cookie check ([`DtlsContext::check_client_hello`], R-1, RFC 6347 §4.2.1): a server verifies a
//!   ClientHello's cookie, or builds the HelloVerifyRequest, before any association exists; an association
//!   created afterwards ([`Association::new`], server) goes on from the second ClientHello without another
//!   HelloVerifyRequest.
//! - In-handshake certificate check ([`Association::expect_fingerprints`], P-6.2b): when the expected
//!   fingerprints are known, a mismatched certificate is refused with a bad_certificate (42) alert.
//! - Fatal alert after the handshake ([`Association::close_with_alert`], P-6.2b): when the mismatch is found
//!   only once the handshake completed, the association seals the alert record itself (OpenSSL 3.0 has no
//!   public call for it): TLS 1.2 key block from the session's master secret and randoms, every suite of our
//!   list (AES-GCM, ChaCha20-Poly1305, AES-CBC-SHA with or without encrypt-then-MAC); no close_notify after it.
//!
//! What OpenSSL decides and what we add: DTLS 1.2 only (a DTLS 1.0 peer is refused, a ClientHello offering 1.3
//! and 1.2 is answered with 1.2); no renegotiation (a peer's attempt gets a `no_renegotiation` alert); the
//! server refuses a ClientHello without a common use_srtp profile with `handshake_failure`, and the client
//! aborts when the server omits use_srtp (D-4.1.1c); no certificate chain is built or checked (trust comes only
//! from the fingerprint); datagrams holding an encrypted record too short to be valid are dropped before
//! OpenSSL sees them (OpenSSL 3.0 stops reading after one). Every datagram stays within the configured MTU.
//!
//! The association never touches a socket, the Rust clock or a global RNG. OpenSSL keeps its own clock for
//! retransmissions; [`Association::poll_timeout`] reports that deadline in the caller's `Instant` timeline.
//!
//! # Run loop
//!
//! ```
//! use std::time::{Duration, Instant};
//! use dtlsrtp_dtls::{Association, Certificate, Config, CookieSecret, DtlsContext, Event, FingerprintGate,
//!     GateState, HashFunction, KeyType};
//! use dtlsrtp_srtp::DtlsRole;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Each endpoint: one certificate (persist it with to_pem), one context.
//! let (cert_a, cert_b) = (Certificate::generate(KeyType::EcdsaP256, "a", 30)?,
//!                         Certificate::generate(KeyType::EcdsaP256, "b", 30)?);
//! let fp_a = cert_a.fingerprint(HashFunction::Sha256)?; // goes into a's SDP
//! let fp_b = cert_b.fingerprint(HashFunction::Sha256)?; // goes into b's SDP
//! let ctx_a = DtlsContext::new(&Config::new(cert_a, CookieSecret::new([7; 32])))?;
//! let ctx_b = DtlsContext::new(&Config::new(cert_b, CookieSecret::new([9; 32])))?;
//! let (addr_a, addr_b) = ("127.0.0.1:4000".parse()?, "127.0.0.1:5000".parse()?);
//! let now = Instant::now();
//! let mut a = Association::new(&ctx_a, DtlsRole::Client, addr_b, now)?; // a=setup:active
//! let mut b = Association::new(&ctx_b, DtlsRole::Server, addr_a, now)?; // a=setup:passive
//! let (mut gate_a, mut gate_b) = (FingerprintGate::new(), FingerprintGate::new());
//! gate_a.verify(&[fp_b])?; // b's SDP answer arrived before the handshake finished
//!
//! // A driver would wait on the socket until poll_timeout(); here both ends live in memory.
//! for _ in 0..50 {
//!     while let Some(d) = a.poll_transmit() { b.handle_datagram(now, &d); }
//!     while let Some(d) = b.poll_transmit() { a.handle_datagram(now, &d); }
//!     for (assoc, gate) in [(&mut a, &mut gate_a), (&mut b, &mut gate_b)] {
//!         let mut cert = None;
//!         while let Some(ev) = assoc.poll_event() {
//!             match ev {
//!                 Event::PeerCertificate(der) => cert = Some(der),
//!                 Event::Connected(c) => { gate.on_handshake(cert.take().unwrap_or_default(), c); }
//!                 Event::Failed(e) => return Err(e.into()),
//!                 _ => {}
//!             }
//!         }
//!     }
//!     if let Some(t) = a.poll_timeout() { if t <= now { a.handle_timeout(now); } }
//! }
//! assert_eq!(gate_a.state(), GateState::Verified);
//! // b's handshake is done but a's fingerprint (from a's offer) has not been checked: no keys yet.
//! assert_eq!(gate_b.state(), GateState::AwaitingFingerprint);
//! assert!(gate_b.keys().is_none());
//! gate_b.verify(&[fp_a])?;
//! let (a_tx, _) = gate_a.keys().ok_or("a")?.keys.for_role(DtlsRole::Client);
//! let (_, b_rx) = gate_b.keys().ok_or("b")?.keys.for_role(DtlsRole::Server);
//! assert_eq!(a_tx, b_rx);
//! # Ok(()) }
//! ```
//!
//! `unsafe` lives only in the private `ffi` module: the DTLS timer calls the `openssl` crate does not wrap.
//!
//! # Requirements and their tests
//!
//! | requirement | status | tests |
//! |---|---|---|
//! | P-6.2b (RFC 8122 §6.2): a mismatched certificate ends the association with bad_certificate (42) | tested when the fingerprint is known during the handshake, both roles; and after a completed handshake (F-5.8, re-offer, stranger) through `Association::close_with_alert`, whose hand-sealed record OpenSSL decrypts for every suite of our list, both roles, ECDSA and RSA, CBC with and without encrypt-then-MAC | `tests/alerts.rs` `p_6_2b_*`; `tests/alert_after_handshake.rs` `p_6_2b_*`; `tests/interop_openssl.rs` `p_6_2b_interop_*` (openssl s_server/s_client print `alert bad certificate … SSL alert number 42`, in the handshake and after it); `dtlsrtp-media` `tests/port_alerts.rs` |
//! | P-6.2b, no client certificate | answered with handshake_failure (40): OpenSSL sends certificate_required, which DTLS 1.2 maps to handshake_failure | `tests/pairs.rs` `server_requires_client_certificate_alert_on_failure` |
//! | R-1 (RFC 6347 §4.2.1): no state before a valid cookie; no eviction of a cookie-verified handshake | tested | `tests/alerts.rs` `r_1_*`, `tests/interop_openssl.rs` `r_1_*`, `tests/bad_input.rs` `r_1_*` (fuzz body); `dtlsrtp-media` `tests/port_bad_input.rs` `r_1_*`; `dtlsrtp` `tests/robustness.rs` `r_1_*` |

mod alert;
mod assoc;
mod cert;
mod config;
mod error;
mod ffi;
mod gate;
mod hello;

pub use assoc::{Association, CipherSuite, Connected, Event, Session, State, EXPORTER_LABEL};
pub use cert::{
    fingerprint_of_der, verify_fingerprint, Certificate, KeyType, VerifyError,
    ANONYMOUS_COMMON_NAME,
};
pub use config::{Config, CookieSecret, DtlsContext, KeyLog};
pub use dtlsrtp_types::{Fingerprint, HashFunction};
pub use error::{Alert, CertificateError, DtlsError};
pub use gate::{FingerprintGate, GateState};
pub use hello::{hello_verify_request, parse_client_hello, ClientHello, HelloCheck, HelloError};

/// Fuzz bodies (for `fuzz/fuzz_targets/*.rs` and for the tests that run them on stable). Each must never panic
/// on any input.
#[doc(hidden)]
pub mod fuzzing {
    /// The stateless ClientHello parser (R-1): parse; when it parses, the HelloVerifyRequest built for it and
    /// the first ClientHello reconstructed from it must parse back consistently. Returns whether `data` parsed
    /// as a ClientHello and every derived message was consistent.
    pub fn client_hello(data: &[u8]) -> bool {
        let Ok(h) = crate::hello::parse_client_hello(data) else {
            return false;
        };
        let hvr = crate::hello::hello_verify_request(&h, h.cookie);
        let hvr_ok = hvr.get(5..11) == Some(&h.record_seq[..])
            && hvr.get(13) == Some(&3)
            && hvr.len() == 13 + 12 + 3 + h.cookie.len();
        let first_ok = crate::hello::preceding_client_hello(&h).is_none_or(|first| {
            crate::hello::parse_client_hello(&first).is_ok_and(|p| {
                p.message_seq == 0
                    && p.cookie.is_empty()
                    && p.random == h.random
                    && p.session_id == h.session_id
            })
        });
        hvr_ok && first_ok
    }
}
