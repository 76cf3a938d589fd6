//! Handshakes per CPU-second, one thread, client and server in one process: our `Association` beside a baseline
//! that drives OpenSSL directly through its C API with memory BIOs, in the same run. Both: ECDSA P-256, mutual
//! authentication, cookie exchange, DTLS 1.2, ECDHE, use_srtp, MTU 1200, fingerprint check and key export.
//!
//! `cargo bench -p dtlsrtp-dtls --bench handshake` measures; without `--bench` (as `cargo test --all-targets`
//! runs it) it does a smoke pass of a few handshakes with correctness checks.
#![allow(unsafe_code)] // the baseline calls OpenSSL's C API directly; each block says why it is sound
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::{c_int, c_void};
use std::ptr;
use std::time::{Duration, Instant};

use dtlsrtp_dtls::{
    Association, Certificate, Config, CookieSecret, DtlsContext, Event, FingerprintGate, GateState,
    HashFunction, KeyType,
};
use dtlsrtp_srtp::DtlsRole;
use foreign_types_shared::ForeignType;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::ssl::{SslContext, SslContextBuilder, SslMethod, SslOptions, SslVersion};

/// CPU time of this thread (Linux `/proc/thread-self/schedstat`, first field, nanoseconds); wall time elsewhere.
#[allow(clippy::disallowed_methods)] // benchmark timing, not library code
fn cpu_now() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    if let Some(ns) = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        })
    {
        return Duration::from_nanos(ns);
    }
    START.get_or_init(Instant::now).elapsed()
}

#[allow(clippy::disallowed_methods)] // the association only stores it; OpenSSL's timers never fire here
fn now() -> Instant {
    Instant::now()
}

struct Ours {
    client: DtlsContext,
    server: DtlsContext,
    /// Set for the resumption variant: every handshake offers this session.
    session: Option<dtlsrtp_dtls::Session>,
    /// Keep the client session of the next handshake (seeding the resumption variant).
    capture: std::cell::Cell<bool>,
    client_fp: dtlsrtp_dtls::Fingerprint,
    server_fp: dtlsrtp_dtls::Fingerprint,
}

impl Ours {
    fn new(client: &Certificate, server: &Certificate, resumption: bool) -> Self {
        let mut c = Config::new(client.clone(), CookieSecret::new([1; 32]));
        let mut s = Config::new(server.clone(), CookieSecret::new([2; 32]));
        assert!(s.cookie_exchange);
        c.session_resumption = resumption;
        s.session_resumption = resumption;
        Self {
            client: DtlsContext::new(&c).unwrap(),
            server: DtlsContext::new(&s).unwrap(),
            session: None,
            capture: std::cell::Cell::new(false),
            client_fp: client.fingerprint(HashFunction::Sha256).unwrap(),
            server_fp: server.fingerprint(HashFunction::Sha256).unwrap(),
        }
    }

    /// One handshake (full, or resuming `self.session`); returns the exported key material's first client-key octet (keeps it observable).
    fn handshake(&self) -> u8 {
        let t = now();
        let peer = "127.0.0.1:5000".parse().unwrap();
        let mut c = match &self.session {
            Some(session) => Association::resume(&self.client, peer, session, t).unwrap(),
            None => Association::new(&self.client, DtlsRole::Client, peer, t).unwrap(),
        };
        let mut s = Association::new(
            &self.server,
            DtlsRole::Server,
            "127.0.0.1:6000".parse().unwrap(),
            t,
        )
        .unwrap();
        let mut gates = [FingerprintGate::new(), FingerprintGate::new()];
        gates[0]
            .verify(std::slice::from_ref(&self.server_fp))
            .unwrap();
        gates[1]
            .verify(std::slice::from_ref(&self.client_fp))
            .unwrap();
        let mut certs: [Option<Vec<u8>>; 2] = [None, None];
        for _ in 0..20 {
            while let Some(d) = c.poll_transmit() {
                s.handle_datagram(t, &d);
            }
            while let Some(d) = s.poll_transmit() {
                c.handle_datagram(t, &d);
            }
            for (i, a) in [&mut c, &mut s].into_iter().enumerate() {
                while let Some(e) = a.poll_event() {
                    match e {
                        Event::PeerCertificate(der) => certs[i] = Some(der),
                        Event::Connected(k) => {
                            assert_eq!(k.resumed, self.session.is_some(), "side {i}");
                            assert_eq!(
                                gates[i].on_handshake(certs[i].take().unwrap(), k),
                                GateState::Verified
                            );
                        }
                        other => panic!("{other:?}"),
                    }
                }
            }
            if gates.iter().all(|g| g.state() == GateState::Verified) {
                let a = gates[0].keys().unwrap();
                let b = gates[1].keys().unwrap();
                assert_eq!(a.keys, b.keys);
                let first = a.keys.client_write().key.expose()[0];
                if self.capture.get() {
                    LAST_SESSION.with(|l| *l.borrow_mut() = c.session());
                }
                return first;
            }
        }
        panic!("handshake did not complete");
    }
}

extern "C" fn accept_any(_: c_int, _: *mut openssl_sys::X509_STORE_CTX) -> c_int {
    1
}

/// HMAC-SHA-256 of the peer address under the secret, as the association computes it.
fn baseline_cookie() -> Vec<u8> {
    let key = PKey::hmac(&[2; 32]).unwrap();
    let mut s = Signer::new(MessageDigest::sha256(), &key).unwrap();
    s.update(b"127.0.0.1:5000").unwrap();
    s.sign_to_vec().unwrap()
}

extern "C" fn cookie_generate(
    _: *mut openssl_sys::SSL,
    out: *mut u8,
    len: *mut std::ffi::c_uint,
) -> c_int {
    let c = cookie_once();
    // SAFETY: OpenSSL passes a buffer of DTLS1_COOKIE_LENGTH (255) bytes and a length to fill.
    unsafe {
        ptr::copy_nonoverlapping(c.as_ptr(), out, c.len());
        *len = c.len() as std::ffi::c_uint;
    }
    1
}

extern "C" fn cookie_verify(
    _: *mut openssl_sys::SSL,
    got: *const u8,
    len: std::ffi::c_uint,
) -> c_int {
    // SAFETY: OpenSSL passes the received cookie and its length.
    let got = unsafe { std::slice::from_raw_parts(got, len as usize) };
    let want = cookie_once();
    c_int::from(want.len() == got.len() && openssl::memcmp::eq(&want, got))
}

thread_local! {
    /// The client session of the last handshake of `Ours`, to seed the resumption variant.
    static LAST_SESSION: std::cell::RefCell<Option<dtlsrtp_dtls::Session>> = const { std::cell::RefCell::new(None) };
}

impl Ours {
    /// A resumption variant: one full handshake, then every handshake resumes its session.
    fn resuming(client: &Certificate, server: &Certificate) -> Self {
        let mut o = Self::new(client, server, true);
        o.capture.set(true);
        o.handshake();
        o.capture.set(false);
        o.session = LAST_SESSION.with(|l| l.borrow_mut().take());
        assert!(o.session.is_some());
        o
    }
}

/// The baseline: the same settings on two SSL_CTXs, then per handshake only OpenSSL C calls with memory BIOs.
struct Baseline {
    tuned: bool,
    client: SslContext,
    server: SslContext,
    client_fp: Vec<u8>,
    server_fp: Vec<u8>,
}

type CertVerifyCb = extern "C" fn(*mut openssl_sys::X509_STORE_CTX, *mut c_void) -> c_int;
extern "C" {
    // Not declared by openssl-sys.
    fn SSL_CTX_set_cert_verify_callback(
        ctx: *mut openssl_sys::SSL_CTX,
        cb: Option<CertVerifyCb>,
        arg: *mut c_void,
    );
}

extern "C" fn accept_chain(_: *mut openssl_sys::X509_STORE_CTX, _: *mut c_void) -> c_int {
    1
}

thread_local! {
    /// Tuned baseline: the cookie computed once per handshake (reset by `Baseline::handshake`).
    static COOKIE: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
    static TUNED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The tuned baseline's cookie: HMAC-SHA-256 over the low-level SHA-256 (no provider lookups), as ours.
fn fast_cookie() -> Vec<u8> {
    let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
    for ((i, o), k) in ipad.iter_mut().zip(opad.iter_mut()).zip([2u8; 32]) {
        *i ^= k;
        *o ^= k;
    }
    let mut inner = openssl::sha::Sha256::new();
    inner.update(&ipad);
    inner.update(b"127.0.0.1:5000");
    let mut outer = openssl::sha::Sha256::new();
    outer.update(&opad);
    outer.update(&inner.finish());
    let out = outer.finish().to_vec();
    debug_assert_eq!(out, baseline_cookie());
    out
}

fn cookie_once() -> Vec<u8> {
    if !TUNED.with(|t| t.get()) {
        return baseline_cookie();
    }
    COOKIE.with(|c| c.borrow_mut().get_or_insert_with(fast_cookie).clone())
}

fn baseline_ctx(cert: &Certificate, server: bool, tuned: bool) -> SslContext {
    let mut b = SslContextBuilder::new(SslMethod::dtls()).unwrap();
    b.set_min_proto_version(Some(SslVersion::DTLS1_2)).unwrap();
    b.set_max_proto_version(Some(SslVersion::DTLS1_2)).unwrap();
    b.set_cipher_list(
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
    )
    .unwrap();
    b.set_groups_list("X25519:P-256:P-384").unwrap();
    let pem = cert.to_pem().unwrap();
    b.set_certificate(&openssl::x509::X509::from_pem(&pem).unwrap())
        .unwrap();
    b.set_private_key(&PKey::private_key_from_pem(&pem).unwrap())
        .unwrap();
    b.set_options(
        SslOptions::NO_QUERY_MTU
            | SslOptions::NO_TICKET
            | SslOptions::NO_RENEGOTIATION
            | SslOptions::COOKIE_EXCHANGE,
    );
    b.set_session_cache_mode(openssl::ssl::SslSessionCacheMode::OFF);
    b.set_tlsext_use_srtp(
        "SRTP_AEAD_AES_128_GCM:SRTP_AEAD_AES_256_GCM:SRTP_AES128_CM_SHA1_80:SRTP_AES128_CM_SHA1_32",
    )
    .unwrap();
    let ctx = b.build();
    let mode = if server {
        openssl_sys::SSL_VERIFY_PEER | openssl_sys::SSL_VERIFY_FAIL_IF_NO_PEER_CERT
    } else {
        openssl_sys::SSL_VERIFY_PEER
    };
    // SAFETY: `ctx` is live and not yet shared; the callbacks are plain extern "C" functions with the
    // signatures OpenSSL expects, valid for the whole program.
    unsafe {
        openssl_sys::SSL_CTX_set_verify(ctx.as_ptr(), mode, Some(accept_any));
        openssl_sys::SSL_CTX_set_cookie_generate_cb(ctx.as_ptr(), Some(cookie_generate));
        openssl_sys::SSL_CTX_set_cookie_verify_cb(ctx.as_ptr(), Some(cookie_verify));
        if tuned {
            SSL_CTX_set_cert_verify_callback(ctx.as_ptr(), Some(accept_chain), ptr::null_mut());
        }
    }
    ctx
}

struct Side {
    ssl: *mut openssl_sys::SSL,
    rbio: *mut openssl_sys::BIO,
    wbio: *mut openssl_sys::BIO,
}

impl Side {
    fn new(ctx: &SslContext, client: bool) -> Self {
        // SAFETY: `ctx` is a live SSL_CTX; SSL_new/BIO_new return owned objects (checked non-null); SSL_set_bio
        // hands both BIOs to the SSL, which frees them in SSL_free (Drop). Command 17 is SSL_CTRL_SET_MTU.
        unsafe {
            let ssl = openssl_sys::SSL_new(ctx.as_ptr());
            let rbio = openssl_sys::BIO_new(openssl_sys::BIO_s_mem());
            let wbio = openssl_sys::BIO_new(openssl_sys::BIO_s_mem());
            assert!(!ssl.is_null() && !rbio.is_null() && !wbio.is_null());
            openssl_sys::SSL_set_bio(ssl, rbio, wbio);
            openssl_sys::SSL_ctrl(ssl, 17, 1200, ptr::null_mut());
            if client {
                openssl_sys::SSL_set_connect_state(ssl);
            } else {
                openssl_sys::SSL_set_accept_state(ssl);
            }
            Self { ssl, rbio, wbio }
        }
    }

    /// Runs the handshake; true when done.
    fn step(&mut self) -> bool {
        // SAFETY: `self.ssl` is live until Drop.
        unsafe {
            let r = openssl_sys::SSL_do_handshake(self.ssl);
            if r == 1 {
                return true;
            }
            let e = openssl_sys::SSL_get_error(self.ssl, r);
            assert_eq!(
                e,
                openssl_sys::SSL_ERROR_WANT_READ,
                "baseline handshake failed"
            );
            false
        }
    }

    /// Moves everything this side wrote into the other side's read BIO.
    fn send_to(&mut self, other: &mut Side, buf: &mut [u8]) -> bool {
        let mut moved = false;
        loop {
            // SAFETY: both BIOs are live (owned by their SSLs); `buf` is valid for `buf.len()` bytes.
            let n = unsafe {
                openssl_sys::BIO_read(
                    self.wbio,
                    buf.as_mut_ptr().cast::<c_void>(),
                    buf.len() as c_int,
                )
            };
            if n <= 0 {
                return moved;
            }
            moved = true;
            // SAFETY: as above; `n` bytes of `buf` were just written by BIO_read.
            let w = unsafe { openssl_sys::BIO_write(other.rbio, buf.as_ptr().cast::<c_void>(), n) };
            assert_eq!(w, n);
        }
    }

    /// The SHA-256 of the peer certificate, compared with `expected`, then the SRTP key export.
    fn verify_and_export(&self, expected: &[u8], out: &mut [u8; 56]) {
        // SAFETY: `self.ssl` is live; the peer certificate is an owned reference freed below; `md` holds 64
        // bytes, more than SHA-256 writes; the label pointer and length describe a static string.
        unsafe {
            let cert = openssl_sys::SSL_get1_peer_certificate(self.ssl);
            assert!(!cert.is_null());
            let mut md = [0u8; 64];
            let mut len: std::ffi::c_uint = 0;
            let ok = openssl_sys::X509_digest(
                cert,
                openssl_sys::EVP_sha256(),
                md.as_mut_ptr(),
                &mut len,
            );
            openssl_sys::X509_free(cert);
            assert_eq!(ok, 1);
            assert!(openssl::memcmp::eq(&md[..len as usize], expected));
            assert!(!openssl_sys::SSL_get_selected_srtp_profile(self.ssl).is_null());
            let label = b"EXTRACTOR-dtls_srtp";
            let r = openssl_sys::SSL_export_keying_material(
                self.ssl,
                out.as_mut_ptr(),
                out.len(),
                label.as_ptr().cast(),
                label.len(),
                ptr::null(),
                0,
                0,
            );
            assert_eq!(r, 1);
        }
    }
}

impl Drop for Side {
    fn drop(&mut self) {
        // SAFETY: `self.ssl` was created by SSL_new and is freed once; it frees its BIOs.
        unsafe { openssl_sys::SSL_free(self.ssl) };
    }
}

impl Baseline {
    fn new(client: &Certificate, server: &Certificate, tuned: bool) -> Self {
        Self {
            tuned,
            client: baseline_ctx(client, false, tuned),
            server: baseline_ctx(server, true, tuned),
            client_fp: client
                .fingerprint(HashFunction::Sha256)
                .unwrap()
                .digest()
                .to_vec(),
            server_fp: server
                .fingerprint(HashFunction::Sha256)
                .unwrap()
                .digest()
                .to_vec(),
        }
    }

    fn handshake(&self) -> u8 {
        TUNED.with(|t| t.set(self.tuned));
        COOKIE.with(|c| *c.borrow_mut() = None);
        let mut c = Side::new(&self.client, true);
        let mut s = Side::new(&self.server, false);
        let mut buf = vec![0u8; 32 * 1024];
        let (mut c_done, mut s_done) = (false, false);
        for _ in 0..20 {
            c_done = c_done || c.step();
            c.send_to(&mut s, &mut buf);
            s_done = s_done || s.step();
            s.send_to(&mut c, &mut buf);
            if c_done && s_done {
                let (mut kc, mut ks) = ([0u8; 56], [0u8; 56]);
                c.verify_and_export(&self.server_fp, &mut kc);
                s.verify_and_export(&self.client_fp, &mut ks);
                assert_eq!(kc, ks);
                return kc[0];
            }
        }
        panic!("baseline handshake did not complete");
    }
}

/// Runs `f` for at least `budget` of CPU time; returns handshakes per CPU-second.
fn rate(budget: Duration, mut f: impl FnMut() -> u8) -> f64 {
    let start = cpu_now();
    let mut n = 0u64;
    let mut sink = 0u8;
    while cpu_now() - start < budget {
        sink ^= f();
        n += 1;
    }
    std::hint::black_box(sink);
    n as f64 / (cpu_now() - start).as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let client = Certificate::generate(KeyType::EcdsaP256, "client", 2).unwrap();
    let server = Certificate::generate(KeyType::EcdsaP256, "server", 2).unwrap();
    let ours = Ours::new(&client, &server, false);
    let resumed = Ours::resuming(&client, &server);
    let base = Baseline::new(&client, &server, false);
    let tuned = Baseline::new(&client, &server, true);
    // `--only ours|baseline`: spend 3 CPU-seconds in one of them (for `perf record`).
    let args: Vec<String> = std::env::args().collect();
    // `--count N ours|baseline|tuned|resumed`: exactly N handshakes (for `valgrind --tool=callgrind`).
    if let Some(i) = args.iter().position(|a| a == "--count") {
        let n: usize = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(10);
        let which = args.get(i + 2).map_or("ours", String::as_str);
        for _ in 0..n {
            match which {
                "ours" => ours.handshake(),
                "tuned" => tuned.handshake(),
                "resumed" => resumed.handshake(),
                _ => base.handshake(),
            };
        }
        return;
    }
    if let Some(which) = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
    {
        let r = match which.as_str() {
            "ours" => rate(Duration::from_secs(3), || ours.handshake()),
            "tuned" => rate(Duration::from_secs(3), || tuned.handshake()),
            "resumed" => rate(Duration::from_secs(3), || resumed.handshake()),
            _ => rate(Duration::from_secs(3), || base.handshake()),
        };
        println!("{which}: {r:.0} handshakes per CPU-second");
        return;
    }
    if !bench {
        // Smoke pass for `cargo test --all-targets`: a few handshakes each, checked.
        for _ in 0..3 {
            ours.handshake();
            base.handshake();
            tuned.handshake();
            resumed.handshake();
        }
        println!("handshake bench smoke: ok (run with `cargo bench` to measure)");
        return;
    }
    // Warm up, then alternate rounds so all three see the same machine load.
    rate(Duration::from_millis(300), || ours.handshake());
    rate(Duration::from_millis(300), || base.handshake());
    rate(Duration::from_millis(300), || tuned.handshake());
    let (mut o, mut b, mut t) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..7 {
        o.push(rate(Duration::from_millis(600), || ours.handshake()));
        b.push(rate(Duration::from_millis(600), || base.handshake()));
        t.push(rate(Duration::from_millis(600), || tuned.handshake()));
    }
    let (om, bm, tm) = (median(o.clone()), median(b.clone()), median(t.clone()));
    println!("handshakes per CPU-second (one thread, client+server, ECDSA P-256, mutual auth, cookie, fingerprint + export)");
    println!("  ours (Association + FingerprintGate):          median {om:.0}  rounds {o:.0?}");
    println!("  baseline (OpenSSL C API, memory BIOs):          median {bm:.0}  rounds {b:.0?}");
    println!("  tuned baseline (+ no chain check, one fast HMAC): median {tm:.0}  rounds {t:.0?}");
    let r = rate(Duration::from_secs(2), || resumed.handshake());
    println!("  ours, resumed session (A-R-REUSE, abbreviated handshake): {r:.0}");
    println!("  ratio ours/baseline: {:.3}", om / bm);
    println!(
        "  ratio ours/tuned baseline (pure wrapper cost): {:.3}",
        om / tm
    );
}
