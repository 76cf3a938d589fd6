//! The only unsafe code of the crate: the three DTLS timer entry points the `openssl` crate does not wrap
//! (`DTLSv1_get_timeout`, `DTLSv1_handle_timeout`, which are `SSL_ctrl` commands 73 and 74, and
//! `DTLS_set_timer_cb`), the ClientHello extension lookup, the certificate verification callback (with
//! `X509_STORE_CTX_get0_cert`), and session resumption.
#![allow(unsafe_code)]

use core::ffi::{c_int, c_long, c_uint, c_void};
use core::time::Duration;
use std::sync::OnceLock;

use foreign_types_shared::ForeignTypeRef;
use openssl::ssl::{Ssl, SslRef};
use openssl_sys::SSL;

const DTLS_CTRL_GET_TIMEOUT: c_int = 73;
const DTLS_CTRL_HANDLE_TIMEOUT: c_int = 74;
/// RFC 6347 §4.2.4.1: back off to at most 60 s.
const MAX_TIMER_US: c_uint = 60_000_000;

/// `struct timeval` on Linux and the BSDs (`time_t` and `suseconds_t` are both `long`).
#[repr(C)]
struct Timeval {
    tv_sec: c_long,
    tv_usec: c_long,
}

extern "C" {
    // void DTLS_set_timer_cb(SSL *s, DTLS_timer_cb cb); in libssl since 1.1.1, which openssl-sys links.
    fn DTLS_set_timer_cb(s: *mut SSL, cb: Option<unsafe extern "C" fn(*mut SSL, c_uint) -> c_uint>);
}

/// The initial retransmission timer of one SSL, in microseconds, read by [`timer_cb`].
#[derive(Clone, Copy)]
pub(crate) struct InitialTimer(pub(crate) c_uint);

fn timer_index() -> Option<openssl::ex_data::Index<Ssl, InitialTimer>> {
    static INDEX: OnceLock<Option<openssl::ex_data::Index<Ssl, InitialTimer>>> = OnceLock::new();
    *INDEX.get_or_init(|| Ssl::new_ex_index().ok())
}

/// OpenSSL calls this with 0 when a flight is first sent (answer: the initial timer) and with the previous
/// timer on each retransmission (answer: double it, at most 60 s, RFC 6347 §4.2.4).
unsafe extern "C" fn timer_cb(s: *mut SSL, previous_us: c_uint) -> c_uint {
    if previous_us != 0 {
        return previous_us.saturating_mul(2).min(MAX_TIMER_US);
    }
    let initial = timer_index().and_then(|idx| {
        // SAFETY: OpenSSL passes the live SSL whose timer fired; we only read its ex_data during the call.
        let ssl = unsafe { SslRef::from_ptr(s) };
        ssl.ex_data(idx).copied()
    });
    initial.map_or(1_000_000, |t| t.0.clamp(1_000, MAX_TIMER_US))
}

/// Installs our timer callback with `initial` as the first retransmission timeout.
pub(crate) fn set_initial_timer(ssl: &mut SslRef, initial: Duration) -> bool {
    let Some(idx) = timer_index() else {
        return false;
    };
    let us = c_uint::try_from(initial.as_micros()).unwrap_or(MAX_TIMER_US);
    ssl.set_ex_data(idx, InitialTimer(us));
    // SAFETY: `ssl` is a live SSL owned by the caller; `timer_cb` has the DTLS_timer_cb signature and lives for
    // the whole program.
    unsafe { DTLS_set_timer_cb(ssl.as_ptr(), Some(timer_cb)) };
    true
}

/// `DTLSv1_get_timeout`: the time left on OpenSSL's retransmission timer (by OpenSSL's own clock), or `None`
/// when no timer runs.
pub(crate) fn get_timeout(ssl: &SslRef) -> Option<Duration> {
    let mut tv = Timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    // SAFETY: `ssl` is live; command 73 writes one `struct timeval` through the pointer, which points to a
    // properly aligned local that outlives the call.
    let running = unsafe {
        openssl_sys::SSL_ctrl(
            ssl.as_ptr(),
            DTLS_CTRL_GET_TIMEOUT,
            0,
            (&mut tv as *mut Timeval).cast::<c_void>(),
        )
    };
    if running <= 0 {
        return None;
    }
    let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
    let micros = u64::try_from(tv.tv_usec).unwrap_or(0);
    Some(Duration::from_secs(secs) + Duration::from_micros(micros))
}

/// `DTLSv1_handle_timeout`: retransmits the current flight if OpenSSL's timer expired. Returns OpenSSL's result
/// (> 0 retransmitted, 0 nothing to do, < 0 failure such as too many retransmissions).
pub(crate) fn handle_timeout(ssl: &SslRef) -> c_long {
    // SAFETY: `ssl` is live; command 74 takes no pointer argument.
    unsafe {
        openssl_sys::SSL_ctrl(
            ssl.as_ptr(),
            DTLS_CTRL_HANDLE_TIMEOUT,
            0,
            core::ptr::null_mut(),
        )
    }
}

/// `SSL_client_hello_get0_ext`: the body of extension `ext_type` of the ClientHello being processed, borrowed
/// from OpenSSL. Only call from the ClientHello callback.
pub(crate) fn client_hello_ext(ssl: &SslRef, ext_type: c_uint) -> Option<&[u8]> {
    let mut ptr: *const u8 = core::ptr::null();
    let mut len: usize = 0;
    // SAFETY: `ssl` is the live SSL of a running ClientHello callback; OpenSSL writes a pointer into its own
    // ClientHello buffer and that buffer's length, valid until the callback returns, which the returned borrow
    // of `ssl` cannot outlive in safe code.
    let found = unsafe {
        openssl_sys::SSL_client_hello_get0_ext(ssl.as_ptr(), ext_type, &mut ptr, &mut len)
    };
    if found != 1 || ptr.is_null() {
        return None;
    }
    // SAFETY: OpenSSL reported `len` readable bytes at `ptr` (checked non-null), alive as described above.
    Some(unsafe { core::slice::from_raw_parts(ptr, len) })
}

type CertVerifyCb = unsafe extern "C" fn(*mut openssl_sys::X509_STORE_CTX, *mut c_void) -> c_int;

extern "C" {
    // void SSL_CTX_set_cert_verify_callback(SSL_CTX *ctx, int (*cb)(X509_STORE_CTX *, void *), void *arg);
    fn SSL_CTX_set_cert_verify_callback(
        ctx: *mut openssl_sys::SSL_CTX,
        cb: Option<CertVerifyCb>,
        arg: *mut c_void,
    );
}

/// Replaces OpenSSL's certificate chain verification (`X509_verify_cert`) with [`crate::config::check_peer`]:
/// trust is decided by the SDP fingerprint, so building and checking a chain for a self-signed certificate is
/// wasted work (and it would fail anyway).
pub(crate) fn set_cert_verify(ctx: &mut openssl::ssl::SslContextBuilder) {
    // SAFETY: `ctx` is a live SSL_CTX being built; `cert_verify` has the required signature and lives for the
    // whole program; the argument pointer is unused (null).
    unsafe {
        SSL_CTX_set_cert_verify_callback(ctx.as_ptr(), Some(cert_verify), core::ptr::null_mut())
    };
}

unsafe extern "C" fn cert_verify(
    x509_ctx: *mut openssl_sys::X509_STORE_CTX,
    _arg: *mut c_void,
) -> c_int {
    if x509_ctx.is_null() {
        return 0;
    }
    // SAFETY: OpenSSL passes the live X509_STORE_CTX it set up for this handshake (checked non-null); we use it
    // only for the duration of the call.
    let ctx = unsafe { openssl::x509::X509StoreContextRef::from_ptr_mut(x509_ctx) };
    // SAFETY: `X509_STORE_CTX_get0_cert` returns the certificate the context was initialised with (the peer's
    // leaf), owned by the context and alive for this call, or null; the borrow does not outlive the call.
    let leaf = unsafe {
        let p = X509_STORE_CTX_get0_cert(x509_ctx);
        (!p.is_null()).then(|| openssl::x509::X509Ref::from_ptr(p))
    };
    c_int::from(crate::config::check_peer(ctx, leaf))
}

extern "C" {
    // X509 *X509_STORE_CTX_get0_cert(const X509_STORE_CTX *ctx); in libcrypto since 1.1.0.
    fn X509_STORE_CTX_get0_cert(ctx: *const openssl_sys::X509_STORE_CTX) -> *mut openssl_sys::X509;
}

/// Marks the peer's certificate as rejected (`X509_V_ERR_CERT_REJECTED`). OpenSSL 3's `ssl_x509err2alert`
/// turns that into a fatal bad_certificate (42) alert (P-6.2b), where `APPLICATION_VERIFICATION` would give
/// handshake_failure.
pub(crate) fn reject_certificate(ctx: &mut openssl::x509::X509StoreContextRef) {
    // SAFETY: 28 is X509_V_ERR_CERT_REJECTED, a valid verification error number (the `unsafe` of `from_raw`
    // only concerns invalid numbers).
    let rejected =
        unsafe { openssl::x509::X509VerifyResult::from_raw(openssl_sys::X509_V_ERR_CERT_REJECTED) };
    ctx.set_error(rejected);
}

/// `SSL_set_session`: offer `session` for resumption. The caller guarantees (by checking the context identity
/// recorded in [`crate::Session`]) that the session came from an SSL of the same `SSL_CTX`.
pub(crate) fn set_session(ssl: &mut SslRef, session: &openssl::ssl::SslSessionRef) -> bool {
    // SAFETY: the openssl crate marks this unsafe because a session must be used with the context that made
    // it (same protocol and method); `Association::resume` only passes sessions whose recorded SSL_CTX is the
    // one `ssl` was created from. OpenSSL takes its own reference to the session.
    unsafe { ssl.set_session(session).is_ok() }
}
