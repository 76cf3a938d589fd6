//! Interop with the real OpenSSL command line (`openssl s_server` / `s_client`, Debian package `openssl`) over
//! UDP on 127.0.0.1, both roles: the keys we export equal the `Keying material` OpenSSL prints (D-4.2a), its
//! HelloVerifyRequest is handled (and ours, also built statelessly before any association exists, R-1),
//! fingerprints are verified both ways (F-5.14), and a mismatched certificate gets bad_certificate (P-6.2b),
//! in the handshake or, sealed by us, after it (GCM, ChaCha20-Poly1305, CBC with and without encrypt-then-MAC).
#![allow(clippy::disallowed_methods)] // tests: real sockets and OpenSSL's real-time retransmission timers
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use dtlsrtp_dtls::{
    verify_fingerprint, Association, Certificate, Config, Connected, CookieSecret, DtlsContext,
    DtlsError, Event, Fingerprint, HashFunction, HelloCheck, KeyType,
};
use dtlsrtp_srtp::{DtlsRole, SrtpProfile};
use dtlsrtp_testkit::openssl_cli;

const PROFILES: [SrtpProfile; 3] = [
    SrtpProfile::Aes128CmHmacSha1_80,
    SrtpProfile::AeadAes128Gcm,
    SrtpProfile::AeadAes256Gcm,
];

/// A peer identity made by the OpenSSL CLI itself (testkit), with its fingerprint as the CLI prints it.
fn cli_identity(dir: &std::path::Path, rsa: bool) -> (openssl_cli::Identity, Fingerprint) {
    let id = openssl_cli::identity(dir, rsa).unwrap();
    let fp: Fingerprint = format!("SHA-256 {}", id.sha256).parse().unwrap();
    (id, fp)
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn our_config(profile: SrtpProfile) -> (Config, Certificate) {
    let cert = Certificate::generate(KeyType::EcdsaP256, "dtlsrtp-test", 2).unwrap();
    let mut cfg = Config::new(cert.clone(), CookieSecret::new([3; 32]));
    cfg.srtp_profiles = vec![profile];
    cfg.initial_retransmit = Duration::from_millis(100);
    cfg.handshake_timeout = Duration::from_secs(10);
    (cfg, cert)
}

/// What the driver loop saw.
#[derive(Default)]
struct Seen {
    peer_cert: Option<Vec<u8>>,
    connected: Option<Connected>,
    hello_verify_received: bool,
    hello_verify_sent: bool,
    max_sent: usize,
}

fn is_hello_verify(d: &[u8]) -> bool {
    // DTLS record: type 22 (handshake), 13-byte header, then msg_type 3 (hello_verify_request).
    d.first() == Some(&22) && d.get(13) == Some(&3)
}

/// A minimal UDP driver for one association: send transmits, receive with the association's deadline.
fn drive(
    sock: &UdpSocket,
    peer: SocketAddr,
    assoc: &mut Association,
    seen: &mut Seen,
    limit: Duration,
) {
    let start = Instant::now();
    let mut buf = [0u8; 2048];
    while start.elapsed() < limit {
        while let Some(d) = assoc.poll_transmit() {
            seen.hello_verify_sent |= is_hello_verify(&d);
            seen.max_sent = seen.max_sent.max(d.len());
            let _ = sock.send_to(&d, peer);
        }
        while let Some(e) = assoc.poll_event() {
            match e {
                Event::PeerCertificate(der) => seen.peer_cert = Some(der),
                Event::Connected(c) => seen.connected = Some(c),
                other => panic!("unexpected event {other:?}"),
            }
        }
        if seen.connected.is_some() {
            return;
        }
        let now = Instant::now();
        let wait = assoc
            .poll_timeout()
            .map_or(Duration::from_millis(50), |t| {
                t.saturating_duration_since(now)
            })
            .clamp(Duration::from_millis(1), Duration::from_millis(100));
        sock.set_read_timeout(Some(wait)).unwrap();
        match sock.recv_from(&mut buf) {
            Ok((n, from)) if from == peer => {
                seen.hello_verify_received |= is_hello_verify(&buf[..n]);
                assoc.handle_datagram(Instant::now(), &buf[..n]);
            }
            // Before the peer listens: ICMP port unreachable; timeouts; strangers: ignore.
            _ => assoc.handle_timeout(Instant::now()),
        }
    }
    panic!("handshake with the OpenSSL CLI did not complete in {limit:?}");
}

fn exported_hex(c: &Connected) -> String {
    let k = &c.keys;
    let mut v = Vec::new();
    v.extend_from_slice(k.client_write().key.expose());
    v.extend_from_slice(k.server_write().key.expose());
    v.extend_from_slice(k.client_write().salt.expose());
    v.extend_from_slice(k.server_write().salt.expose());
    hex::encode_upper(v)
}

fn line_after<'a>(out: &'a str, prefix: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .map(str::trim)
}

/// The first PEM certificate after `marker` in the CLI's output (the certificate it received from us).
fn printed_cert(out: &str, marker: &str) -> Vec<u8> {
    let from = out
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in:\n{out}"));
    let rest = &out[from..];
    let begin = rest.find("-----BEGIN CERTIFICATE-----").unwrap();
    let end = rest.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----".len();
    openssl::x509::X509::from_pem(&rest.as_bytes()[begin..end])
        .unwrap()
        .to_der()
        .unwrap()
}

fn check_cli_output(
    out: &str,
    profile: SrtpProfile,
    seen: &Seen,
    ours: &Certificate,
    peer_fp: &Fingerprint,
    marker: &str,
) {
    let connected = seen.connected.as_ref().unwrap();
    assert_eq!(connected.profile, profile);
    let negotiated = line_after(out, "SRTP Extension negotiated, profile=")
        .unwrap_or_else(|| panic!("no SRTP line in:\n{out}"));
    assert_eq!(negotiated, profile.openssl_name());
    // D-4.2a: OpenSSL's exporter output, printed by the CLI, is exactly our key material.
    let km = line_after(out, "Keying material:")
        .unwrap_or_else(|| panic!("no keying material in:\n{out}"));
    assert_eq!(km.len(), 2 * profile.exporter_len());
    assert_eq!(km.to_ascii_uppercase(), exported_hex(connected));
    // F-5.14 both ways: the CLI's certificate matches the fingerprint the CLI itself computed, and the
    // certificate the CLI received is ours.
    let peer_der = seen.peer_cert.as_ref().unwrap();
    assert_eq!(
        verify_fingerprint(peer_der, std::slice::from_ref(peer_fp)),
        Ok(())
    );
    let received = printed_cert(out, marker);
    let our_fp = ours.fingerprint(HashFunction::Sha256).unwrap();
    assert_eq!(verify_fingerprint(&received, &[our_fp]), Ok(()));
    eprintln!(
        "interop ok: {profile}, cipher {}, {} exported octets equal",
        connected.cipher_suite.name,
        km.len() / 2
    );
}

fn we_are_client(profile: SrtpProfile, rsa_peer: bool) {
    let dir = openssl_cli::TempDir::new().unwrap();
    let (id, peer_fp) = cli_identity(&dir.0, rsa_peer);
    let port = free_udp_port();
    let peer: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut srv =
        openssl_cli::s_server(port, &id, profile.openssl_name(), profile.exporter_len()).unwrap();
    let (cfg, ours) = our_config(profile);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ctx = DtlsContext::new(&cfg).unwrap();
    let mut assoc = Association::new(&ctx, DtlsRole::Client, peer, Instant::now()).unwrap();
    let mut seen = Seen::default();
    drive(&sock, peer, &mut assoc, &mut seen, Duration::from_secs(10));
    assert!(
        seen.hello_verify_received,
        "s_server always sends a HelloVerifyRequest"
    );
    assert!(seen.max_sent <= 1200);
    // Our close_notify, then the CLI's own exit.
    assoc.close(Instant::now());
    while let Some(d) = assoc.poll_transmit() {
        let _ = sock.send_to(&d, peer);
    }
    let out = srv.finish();
    check_cli_output(&out, profile, &seen, &ours, &peer_fp, "Client certificate");
}

fn we_are_server(profile: SrtpProfile, rsa_peer: bool) {
    let dir = openssl_cli::TempDir::new().unwrap();
    let (id, peer_fp) = cli_identity(&dir.0, rsa_peer);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let mut cli =
        openssl_cli::s_client(port, &id, profile.openssl_name(), profile.exporter_len()).unwrap();
    // The association is created when the first ClientHello arrives: its source address feeds the cookie.
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    let (n, peer) = sock.recv_from(&mut buf).expect("s_client's ClientHello");
    let (cfg, ours) = our_config(profile);
    assert!(cfg.cookie_exchange, "cookies on by default");
    let ctx = DtlsContext::new(&cfg).unwrap();
    let mut assoc = Association::new(&ctx, DtlsRole::Server, peer, Instant::now()).unwrap();
    assoc.handle_datagram(Instant::now(), &buf[..n]);
    let mut seen = Seen::default();
    drive(&sock, peer, &mut assoc, &mut seen, Duration::from_secs(10));
    assert!(
        seen.hello_verify_sent,
        "our HelloVerifyRequest, answered by s_client"
    );
    // Keep answering for a moment (the client may retransmit its last flight), then let the CLI finish.
    let until = Instant::now() + Duration::from_millis(200);
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    while Instant::now() < until {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            if from == peer {
                assoc.handle_datagram(Instant::now(), &buf[..n]);
                while let Some(d) = assoc.poll_transmit() {
                    let _ = sock.send_to(&d, peer);
                }
            }
        }
    }
    let out = cli.finish();
    check_cli_output(&out, profile, &seen, &ours, &peer_fp, "Server certificate");
}

#[test]
fn d_4_2a_interop_we_are_client_of_openssl_s_server() {
    if !openssl_cli::available() {
        return;
    }
    for (i, profile) in PROFILES.into_iter().enumerate() {
        we_are_client(profile, i == 0);
    }
}

#[test]
fn d_4_2a_interop_we_are_server_of_openssl_s_client() {
    if !openssl_cli::available() {
        return;
    }
    for (i, profile) in PROFILES.into_iter().enumerate() {
        we_are_server(profile, i == 1);
    }
}

/// Sends and receives until the association fails; returns its error.
fn drive_until_failed(
    sock: &UdpSocket,
    peer: SocketAddr,
    assoc: &mut Association,
    limit: Duration,
) -> DtlsError {
    let start = Instant::now();
    let mut buf = [0u8; 2048];
    while start.elapsed() < limit {
        while let Some(d) = assoc.poll_transmit() {
            let _ = sock.send_to(&d, peer);
        }
        while let Some(e) = assoc.poll_event() {
            match e {
                Event::Failed(err) => return err,
                Event::Connected(_) => panic!("the mismatched handshake must not complete"),
                _ => {}
            }
        }
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        match sock.recv_from(&mut buf) {
            Ok((n, from)) if from == peer => assoc.handle_datagram(Instant::now(), &buf[..n]),
            _ => assoc.handle_timeout(Instant::now()),
        }
    }
    panic!("the association did not fail in {limit:?}");
}

/// The CLI's error line for the alert it received (stderr): `...:sslv3 alert bad certificate:...:SSL alert
/// number 42`.
fn assert_cli_got_bad_certificate(out: &str) {
    assert!(
        out.lines()
            .any(|l| l.contains("alert bad certificate") && l.contains("SSL alert number 42")),
        "the CLI reports alert 42:\n{out}"
    );
}

#[test]
fn p_6_2b_interop_openssl_s_server_receives_bad_certificate_from_us() {
    if !openssl_cli::available() {
        return;
    }
    let profile = SrtpProfile::AeadAes128Gcm;
    let dir = openssl_cli::TempDir::new().unwrap();
    let (id, _) = cli_identity(&dir.0, false);
    let port = free_udp_port();
    let peer: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut srv = openssl_cli::s_server_with(
        port,
        &id,
        profile.openssl_name(),
        profile.exporter_len(),
        &[],
    )
    .unwrap();
    let (cfg, ours) = our_config(profile);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ctx = DtlsContext::new(&cfg).unwrap();
    let mut assoc = Association::new(&ctx, DtlsRole::Client, peer, Instant::now()).unwrap();
    // The signalling named another certificate (ours) for the server.
    assoc.expect_fingerprints(Some(&[ours.fingerprint(HashFunction::Sha256).unwrap()]));
    let err = drive_until_failed(&sock, peer, &mut assoc, Duration::from_secs(10));
    assert_eq!(err, DtlsError::CertificateRejected);
    assert_cli_got_bad_certificate(&srv.finish());
}

#[test]
fn p_6_2b_interop_openssl_s_client_receives_bad_certificate_after_stateless_cookie() {
    if !openssl_cli::available() {
        return;
    }
    let profile = SrtpProfile::Aes128CmHmacSha1_80;
    let dir = openssl_cli::TempDir::new().unwrap();
    let (id, _) = cli_identity(&dir.0, true);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let mut cli = openssl_cli::s_client_with(
        port,
        &id,
        profile.openssl_name(),
        profile.exporter_len(),
        &[],
    )
    .unwrap();
    let (cfg, ours) = our_config(profile);
    let ctx = DtlsContext::new(&cfg).unwrap();
    // no state until s_client echoes the cookie of a HelloVerifyRequest built statelessly.
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    let (peer, hello) = loop {
        let (n, peer) = sock.recv_from(&mut buf).expect("s_client's ClientHello");
        match ctx.check_client_hello(peer, &buf[..n]) {
            HelloCheck::Accept => break (peer, buf[..n].to_vec()),
            HelloCheck::Verify { reply, .. } => {
                sock.send_to(&reply, peer).unwrap();
            }
            other => panic!("{other:?}"),
        }
    };
    let mut assoc = Association::new(&ctx, DtlsRole::Server, peer, Instant::now()).unwrap();
    assoc.expect_fingerprints(Some(&[ours.fingerprint(HashFunction::Sha256).unwrap()]));
    assoc.handle_datagram(Instant::now(), &hello);
    let err = drive_until_failed(&sock, peer, &mut assoc, Duration::from_secs(10));
    assert_eq!(err, DtlsError::CertificateRejected);
    assert_cli_got_bad_certificate(&cli.finish());
}

#[test]
fn r_1_interop_openssl_s_client_completes_after_stateless_cookie() {
    if !openssl_cli::available() {
        return;
    }
    let profile = SrtpProfile::AeadAes256Gcm;
    let dir = openssl_cli::TempDir::new().unwrap();
    let (id, peer_fp) = cli_identity(&dir.0, false);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let mut cli =
        openssl_cli::s_client(port, &id, profile.openssl_name(), profile.exporter_len()).unwrap();
    let (cfg, ours) = our_config(profile);
    let ctx = DtlsContext::new(&cfg).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    let mut hvrs = 0;
    let (peer, hello) = loop {
        let (n, peer) = sock.recv_from(&mut buf).expect("s_client's ClientHello");
        match ctx.check_client_hello(peer, &buf[..n]) {
            HelloCheck::Accept => break (peer, buf[..n].to_vec()),
            HelloCheck::Verify { reply, .. } => {
                hvrs += 1;
                sock.send_to(&reply, peer).unwrap();
            }
            other => panic!("{other:?}"),
        }
    };
    assert!(hvrs >= 1);
    let mut assoc = Association::new(&ctx, DtlsRole::Server, peer, Instant::now()).unwrap();
    assoc.expect_fingerprints(Some(std::slice::from_ref(&peer_fp)));
    assoc.handle_datagram(Instant::now(), &hello);
    let mut seen = Seen::default();
    drive(&sock, peer, &mut assoc, &mut seen, Duration::from_secs(10));
    assert!(
        !seen.hello_verify_sent,
        "the association sent no second HelloVerifyRequest"
    );
    let until = Instant::now() + Duration::from_millis(200);
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    while Instant::now() < until {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            if from == peer {
                assoc.handle_datagram(Instant::now(), &buf[..n]);
                while let Some(d) = assoc.poll_transmit() {
                    let _ = sock.send_to(&d, peer);
                }
            }
        }
    }
    let out = cli.finish();
    check_cli_output(&out, profile, &seen, &ours, &peer_fp, "Server certificate");
}

/// P-6.2b after the handshake: the handshake with the CLI completes while the fingerprint is unknown (F-5.8);
/// the fingerprint then turns out wrong and we close with bad_certificate, sealed under the negotiated suite
/// (`-cipher`, plus `extra`). Returns the CLI's output (stdout and stderr).
fn bad_certificate_after_handshake(
    we: DtlsRole,
    rsa_peer: bool,
    cipher: &str,
    extra: &[&str],
) -> String {
    let profile = SrtpProfile::AeadAes128Gcm;
    let dir = openssl_cli::TempDir::new().unwrap();
    let (id, _) = cli_identity(&dir.0, rsa_peer);
    let mut args = vec!["-cipher", cipher];
    args.extend_from_slice(extra);
    let (cfg, ours) = our_config(profile);
    let ctx = DtlsContext::new(&cfg).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (mut cli, peer, mut assoc) = if we == DtlsRole::Client {
        let port = free_udp_port();
        let peer: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let srv = openssl_cli::s_server_with(
            port,
            &id,
            profile.openssl_name(),
            profile.exporter_len(),
            &args,
        )
        .unwrap();
        let assoc = Association::new(&ctx, DtlsRole::Client, peer, Instant::now()).unwrap();
        (srv, peer, assoc)
    } else {
        let port = sock.local_addr().unwrap().port();
        let cli = openssl_cli::s_client_with(
            port,
            &id,
            profile.openssl_name(),
            profile.exporter_len(),
            &args,
        )
        .unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 2048];
        let (n, peer) = sock.recv_from(&mut buf).expect("s_client's ClientHello");
        let mut assoc = Association::new(&ctx, DtlsRole::Server, peer, Instant::now()).unwrap();
        assoc.handle_datagram(Instant::now(), &buf[..n]);
        (cli, peer, assoc)
    };
    let mut seen = Seen::default();
    drive(&sock, peer, &mut assoc, &mut seen, Duration::from_secs(10));
    let name = seen.connected.as_ref().unwrap().cipher_suite.name;
    eprintln!("{cipher} {extra:?}: negotiated {name}");
    // Let a client's retransmitted final flight settle, then the (wrong) fingerprint arrives: ours.
    std::thread::sleep(Duration::from_millis(100));
    let wrong = ours.fingerprint(HashFunction::Sha256).unwrap();
    assert!(verify_fingerprint(seen.peer_cert.as_ref().unwrap(), &[wrong]).is_err());
    assoc.close_with_alert(Instant::now(), dtlsrtp_dtls::Alert::BAD_CERTIFICATE);
    while let Some(d) = assoc.poll_transmit() {
        let _ = sock.send_to(&d, peer);
    }
    // Give the CLI time to read the alert before finish() closes its stdin (which would make it quit first).
    std::thread::sleep(Duration::from_millis(300));
    cli.finish()
}

#[test]
fn p_6_2b_interop_openssl_s_server_receives_bad_certificate_after_the_handshake() {
    if !openssl_cli::available() {
        return;
    }
    for (cipher, extra) in [
        ("ECDHE-RSA-AES128-GCM-SHA256", &[][..]),
        ("ECDHE-RSA-CHACHA20-POLY1305", &[][..]),
        ("ECDHE-RSA-AES256-SHA", &["-no_etm"][..]),
    ] {
        let out = bad_certificate_after_handshake(DtlsRole::Client, true, cipher, extra);
        assert_cli_got_bad_certificate(&out);
    }
}

#[test]
fn p_6_2b_interop_openssl_s_client_receives_bad_certificate_after_the_handshake() {
    if !openssl_cli::available() {
        return;
    }
    for (cipher, extra) in [
        ("ECDHE-ECDSA-AES256-GCM-SHA384", &[][..]),
        ("ECDHE-ECDSA-AES128-SHA", &[][..]),
    ] {
        let out = bad_certificate_after_handshake(DtlsRole::Server, false, cipher, extra);
        assert_cli_got_bad_certificate(&out);
    }
}
