//! In-process pairs: both roles, every default profile, RSA and ECDSA, cookie on and off; the fingerprint
//! gate; failures that must be typed.
#![allow(clippy::disallowed_methods)] // tests: OpenSSL's retransmission timers run on real time

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use dtlsrtp_dtls::{
    Alert, Association, Certificate, DtlsError, Event, FingerprintGate, GateState, HashFunction,
    KeyLog, KeyType, State, VerifyError,
};
use dtlsrtp_srtp::{DtlsRole, SrtpProfile};

#[test]
fn d_4_2a_d_4_2b_pairs_all_profiles_both_key_types_cookie_on_off() {
    for kind in [KeyType::EcdsaP256, KeyType::Rsa2048] {
        for profile in SrtpProfile::DEFAULT_OFFER {
            for cookie in [true, false] {
                let mut cc = config(cert(kind, 0));
                let mut sc = config(cert(kind, 1));
                cc.srtp_profiles = vec![profile];
                sc.srtp_profiles = SrtpProfile::DEFAULT_OFFER.to_vec();
                sc.cookie_exchange = cookie;
                // No loss here: a timer that cannot fire under CI load keeps the flight count exact (the 20 ms
                // test default let a slow RSA step trigger a retransmission and one more burst).
                cc.initial_retransmit = Duration::from_secs(3);
                sc.initial_retransmit = Duration::from_secs(3);
                let (mut c, mut s) = pair(&cc, &sc);
                let out = run_pair(&mut c, &mut s, deliver_all, false, Duration::from_secs(5));
                assert_keys_match(&out, profile);
                assert_eq!(c.state(), State::Connected);
                assert_eq!(s.state(), State::Connected);
                // Peer certificates are captured as DER, each the other's.
                assert_eq!(out.peer_cert(0), Some(cc_cert(&sc)));
                assert_eq!(out.peer_cert(1), Some(cc_cert(&cc)));
                // Cookie exchange: HelloVerifyRequest adds one round trip (2 more bursts).
                let expected_bursts = if cookie { 6 } else { 4 };
                assert_eq!(
                    out.bursts, expected_bursts,
                    "{kind:?} {profile} cookie={cookie}"
                );
                assert!(out.sizes.iter().all(|&n| n <= 1200));
            }
        }
    }
}

fn cc_cert(c: &dtlsrtp_dtls::Config) -> &[u8] {
    c.certificate.der()
}

#[test]
fn d_4_1_1a_server_picks_in_its_own_order() {
    let mut cc = config(cert(KeyType::EcdsaP256, 0));
    let mut sc = config(cert(KeyType::EcdsaP256, 1));
    cc.srtp_profiles = vec![SrtpProfile::Aes128CmHmacSha1_80, SrtpProfile::AeadAes256Gcm];
    sc.srtp_profiles = vec![SrtpProfile::AeadAes256Gcm, SrtpProfile::Aes128CmHmacSha1_80];
    let (mut c, mut s) = pair(&cc, &sc);
    let out = run_pair(&mut c, &mut s, deliver_all, false, Duration::from_secs(5));
    assert_keys_match(&out, SrtpProfile::AeadAes256Gcm);
}

#[test]
fn d_4_1_1c_no_common_profile_is_a_typed_error_with_alert() {
    let mut cc = config(cert(KeyType::EcdsaP256, 0));
    let mut sc = config(cert(KeyType::EcdsaP256, 1));
    cc.srtp_profiles = vec![SrtpProfile::Aes128CmHmacSha1_32];
    sc.srtp_profiles = vec![SrtpProfile::AeadAes128Gcm];
    let (mut c, mut s) = pair(&cc, &sc);
    let out = run_pair(&mut c, &mut s, deliver_all, false, Duration::from_secs(5));
    assert_eq!(out.failed(1), Some(DtlsError::NoCommonSrtpProfile));
    assert_eq!(
        out.failed(0),
        Some(DtlsError::AlertReceived(Alert::HANDSHAKE_FAILURE))
    );
    assert!(out.connected(0).is_none() && out.connected(1).is_none());
}

#[test]
fn d_4_1_1c_client_refuses_server_without_use_srtp() {
    // A raw OpenSSL server that does not do use_srtp at all.
    let server_cert = cert(KeyType::EcdsaP256, 1);
    let pem = server_cert.to_pem().unwrap();
    let mut raw = RawPeer::new(
        |b| {
            b.set_certificate(&openssl::x509::X509::from_pem(&pem).unwrap())
                .unwrap();
            b.set_private_key(&openssl::pkey::PKey::private_key_from_pem(&pem).unwrap())
                .unwrap();
        },
        false,
    );
    let cc = config(cert(KeyType::EcdsaP256, 0));
    let mut c = Association::new(
        &ctx(&cc),
        DtlsRole::Client,
        addr(SERVER_ADDR),
        Instant::now(),
    )
    .unwrap();
    let events = run_raw(&mut raw, &mut c, 20);
    assert!(
        events.contains(&Event::Failed(DtlsError::NoCommonSrtpProfile)),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| matches!(e, Event::Connected(_))));
    // The client told the server with an alert: the raw server failed too.
    assert!(raw.error.is_some() && !raw.done);
}

#[test]
fn server_requires_client_certificate_alert_on_failure() {
    // A raw client with no certificate.
    let mut raw = RawPeer::new(
        |b| b.set_tlsext_use_srtp("SRTP_AEAD_AES_128_GCM").unwrap(),
        true,
    );
    let sc = config(cert(KeyType::EcdsaP256, 1));
    let mut s = Association::new(
        &ctx(&sc),
        DtlsRole::Server,
        addr(CLIENT_ADDR),
        Instant::now(),
    )
    .unwrap();
    let events = run_raw(&mut raw, &mut s, 20);
    assert!(
        events.contains(&Event::Failed(DtlsError::PeerCertificateMissing)),
        "{events:?}"
    );
    let e = raw.error.as_ref().expect("client fails");
    let reason = e.ssl_error().unwrap().errors()[0].reason_code();
    assert_eq!(
        reason,
        1000 + i32::from(Alert::HANDSHAKE_FAILURE.0),
        "client got an alert: {e:?}"
    );
}

#[test]
fn dtls_1_0_only_peer_is_refused() {
    let pem = cert(KeyType::EcdsaP256, 0).to_pem().unwrap();
    let mut raw = RawPeer::new(
        |b| {
            b.set_max_proto_version(Some(openssl::ssl::SslVersion::DTLS1))
                .unwrap();
            b.set_security_level(0);
            b.set_cipher_list("ALL:@SECLEVEL=0").unwrap();
            b.set_tlsext_use_srtp("SRTP_AES128_CM_SHA1_80").unwrap();
            b.set_certificate(&openssl::x509::X509::from_pem(&pem).unwrap())
                .unwrap();
            b.set_private_key(&openssl::pkey::PKey::private_key_from_pem(&pem).unwrap())
                .unwrap();
        },
        true,
    );
    let mut sc = config(cert(KeyType::EcdsaP256, 1));
    sc.cookie_exchange = false;
    let mut s = Association::new(
        &ctx(&sc),
        DtlsRole::Server,
        addr(CLIENT_ADDR),
        Instant::now(),
    )
    .unwrap();
    let events = run_raw(&mut raw, &mut s, 20);
    assert!(
        events.contains(&Event::Failed(DtlsError::UnsupportedVersion)),
        "{events:?}"
    );
    assert!(raw.error.is_some());
}

#[test]
fn f_8_8_peer_offering_only_rsa_key_transport_fails() {
    let pem = cert(KeyType::Rsa2048, 0).to_pem().unwrap();
    let mut raw = RawPeer::new(
        |b| {
            b.set_cipher_list("AES128-GCM-SHA256:AES128-SHA").unwrap();
            b.set_tlsext_use_srtp("SRTP_AES128_CM_SHA1_80").unwrap();
            b.set_certificate(&openssl::x509::X509::from_pem(&pem).unwrap())
                .unwrap();
            b.set_private_key(&openssl::pkey::PKey::private_key_from_pem(&pem).unwrap())
                .unwrap();
        },
        true,
    );
    let mut sc = config(cert(KeyType::Rsa2048, 1));
    sc.cookie_exchange = false;
    let mut s = Association::new(
        &ctx(&sc),
        DtlsRole::Server,
        addr(CLIENT_ADDR),
        Instant::now(),
    )
    .unwrap();
    let events = run_raw(&mut raw, &mut s, 20);
    assert!(
        events.contains(&Event::Failed(DtlsError::NoCommonCipherSuite)),
        "{events:?}"
    );
}

fn connected_pair() -> (Association, Association, common::Outcome) {
    let cc = config(cert(KeyType::EcdsaP256, 0));
    let sc = config(cert(KeyType::EcdsaP256, 1));
    let (mut c, mut s) = pair(&cc, &sc);
    let out = run_pair(&mut c, &mut s, deliver_all, false, Duration::from_secs(5));
    assert_keys_match(&out, SrtpProfile::AeadAes128Gcm);
    (c, s, out)
}

#[test]
fn f_5_14_gate_wrong_fingerprint_rejected_and_keys_never_handed_out() {
    let (_c, _s, out) = connected_pair();
    let stranger = cert(KeyType::Rsa2048, 0)
        .fingerprint(HashFunction::Sha256)
        .unwrap();
    // Handshake finished before the SDP answer (F-5.6): keys held, unusable.
    let mut gate = FingerprintGate::new();
    assert_eq!(
        gate.on_handshake(
            out.peer_cert(0).unwrap().to_vec(),
            out.connected(0).unwrap().clone()
        ),
        GateState::AwaitingFingerprint
    );
    assert!(gate.keys().is_none());
    assert_eq!(
        gate.verify(std::slice::from_ref(&stranger)),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(gate.state(), GateState::Rejected(VerifyError::Mismatch));
    assert!(gate.keys().is_none() && gate.peer_certificate().is_none());
    // Rejection is final, even if the right fingerprint comes later.
    let right = cert(KeyType::EcdsaP256, 1)
        .fingerprint(HashFunction::Sha256)
        .unwrap();
    assert_eq!(gate.verify(&[right]), Err(VerifyError::Mismatch));
    assert!(gate.keys().is_none());

    // SDP first, wrong: the handshake's end rejects at once.
    let mut gate = FingerprintGate::new();
    assert_eq!(gate.verify(&[stranger]), Ok(GateState::AwaitingHandshake));
    assert_eq!(
        gate.on_handshake(
            out.peer_cert(0).unwrap().to_vec(),
            out.connected(0).unwrap().clone()
        ),
        GateState::Rejected(VerifyError::Mismatch)
    );
    assert!(gate.keys().is_none());
}

#[test]
fn f_5_6_gate_verifies_both_orders_and_p_5_1d() {
    let (_c, _s, out) = connected_pair();
    let server_cert = cert(KeyType::EcdsaP256, 1);
    let client_cert = cert(KeyType::EcdsaP256, 0);
    // Client side: answer arrives after the handshake.
    let mut gate = FingerprintGate::new();
    gate.on_handshake(
        out.peer_cert(0).unwrap().to_vec(),
        out.connected(0).unwrap().clone(),
    );
    let fps: Vec<_> = [HashFunction::Sha1, HashFunction::Sha384]
        .into_iter()
        .map(|h| server_cert.fingerprint(h).unwrap())
        .collect();
    assert_eq!(gate.verify(&fps), Ok(GateState::Verified));
    assert_eq!(gate.keys(), out.connected(0));
    // Server side: offer known before the handshake.
    let mut gate = FingerprintGate::new();
    gate.verify(&[client_cert.fingerprint(HashFunction::Sha512).unwrap()])
        .unwrap();
    assert_eq!(gate.keys(), None);
    assert_eq!(
        gate.on_handshake(
            out.peer_cert(1).unwrap().to_vec(),
            out.connected(1).unwrap().clone()
        ),
        GateState::Verified
    );
    assert!(gate.keys().is_some());
    // P-5.1d: a correct sha-1 next to a wrong sha-256 fails (sha-256 preferred).
    let mut gate = FingerprintGate::new();
    gate.on_handshake(
        out.peer_cert(0).unwrap().to_vec(),
        out.connected(0).unwrap().clone(),
    );
    let bad = client_cert.fingerprint(HashFunction::Sha256).unwrap();
    let good = server_cert.fingerprint(HashFunction::Sha1).unwrap();
    assert_eq!(gate.verify(&[good, bad]), Err(VerifyError::Mismatch));
    assert!(gate.keys().is_none());
}

#[test]
fn close_notify_sent_and_handled() {
    let (mut c, mut s, _) = connected_pair();
    c.close(Instant::now());
    assert_eq!(c.poll_event(), Some(Event::Closed));
    let mut n = 0;
    while let Some(d) = c.poll_transmit() {
        n += 1;
        s.handle_datagram(Instant::now(), &d);
    }
    assert!(n >= 1, "close_notify sent");
    assert_eq!(s.poll_event(), Some(Event::Closed));
    assert_eq!(s.state(), State::Closed);
    assert_eq!(s.poll_timeout(), None);
    // Input after close is ignored.
    s.handle_datagram(Instant::now(), &[22, 254, 253, 0, 0]);
    assert_eq!(s.poll_event(), None);
}

#[test]
fn handshake_time_limit_and_retransmit_deadline_in_caller_timeline() {
    let mut cc = config(cert(KeyType::EcdsaP256, 0));
    cc.initial_retransmit = Duration::from_millis(30);
    cc.handshake_timeout = Duration::from_millis(400);
    let t0 = Instant::now();
    let mut c = Association::new(&ctx(&cc), DtlsRole::Client, addr(SERVER_ADDR), t0).unwrap();
    let first = c.poll_transmit().expect("ClientHello");
    assert_eq!(first[0], 22, "handshake record");
    let deadline = c.poll_timeout().unwrap();
    assert!(
        deadline > t0 && deadline <= t0 + Duration::from_millis(31),
        "{:?}",
        deadline - t0
    );
    // Early timeout call: nothing happens.
    c.handle_timeout(t0);
    assert!(c.poll_transmit().is_none());
    // After the timer: the ClientHello is sent again.
    std::thread::sleep(Duration::from_millis(35));
    let t1 = Instant::now();
    c.handle_timeout(t1);
    let again = c.poll_transmit().expect("retransmitted ClientHello");
    // Same handshake message, new record sequence number (RFC 6347 §4.2.4).
    assert_eq!(again[13..], first[13..]);
    assert_ne!(again[5..11], first[5..11]);
    // Back-off doubles the timer.
    let next = c.poll_timeout().unwrap();
    assert!(
        next >= t1 + Duration::from_millis(45),
        "doubled: {:?}",
        next - t1
    );
    // The total limit ends the handshake with a typed error, on the caller's clock.
    c.handle_timeout(t0 + Duration::from_millis(400));
    assert_eq!(
        c.poll_event(),
        Some(Event::Failed(DtlsError::HandshakeTimeout))
    );
    assert_eq!(c.poll_timeout(), None);
}

#[derive(Default)]
struct Lines(Mutex<Vec<String>>);
impl KeyLog for Lines {
    fn log_line(&self, line: &str) {
        if let Ok(mut v) = self.0.lock() {
            v.push(line.to_owned());
        }
    }
}

#[test]
fn opt_in_key_log_in_sslkeylogfile_format() {
    let sink = Arc::new(Lines::default());
    let mut cc = config(cert(KeyType::EcdsaP256, 0));
    cc.key_log = Some(sink.clone());
    let sc = config(cert(KeyType::EcdsaP256, 1));
    let (mut c, mut s) = pair(&cc, &sc);
    let out = run_pair(&mut c, &mut s, deliver_all, false, Duration::from_secs(5));
    assert!(out.connected(0).is_some());
    let lines = sink.0.lock().unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let parts: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(parts[0], "CLIENT_RANDOM");
    assert_eq!(parts[1].len(), 64);
    assert_eq!(parts[2].len(), 96);
    // Not logged unless asked: the server had no sink and Debug output never shows keys.
    let dbg = format!("{:?}", out.events);
    assert!(!dbg.contains(&parts[2][..16]));
}

#[test]
fn anonymous_certificates_handshake_and_differ_per_call() {
    let a = Certificate::anonymous(KeyType::EcdsaP256).unwrap();
    let b = Certificate::anonymous(KeyType::EcdsaP256).unwrap();
    assert_ne!(a.der(), b.der());
    let (mut c, mut s) = pair(&config(a), &config(b));
    let out = run_pair(&mut c, &mut s, deliver_all, false, Duration::from_secs(5));
    assert_keys_match(&out, SrtpProfile::AeadAes128Gcm);
}

#[test]
fn a_r_reuse_second_association_resumes_with_fresh_keys_and_same_certificates() {
    let mut cc = config(cert(KeyType::EcdsaP256, 0));
    let mut sc = config(cert(KeyType::EcdsaP256, 1));
    cc.session_resumption = true;
    sc.session_resumption = true;
    let (cctx, sctx) = (ctx(&cc), ctx(&sc));
    let now = Instant::now();
    let mut c = Association::new(&cctx, DtlsRole::Client, addr(SERVER_ADDR), now).unwrap();
    let mut s = Association::new(&sctx, DtlsRole::Server, addr(CLIENT_ADDR), now).unwrap();
    assert!(c.session().is_none(), "no session before the handshake");
    let first = run_pair(&mut c, &mut s, deliver_all, false, Duration::from_secs(5));
    assert_keys_match(&first, SrtpProfile::AeadAes128Gcm);
    assert!(!first.connected(0).unwrap().resumed);
    let session = c.session().unwrap();
    assert_eq!(format!("{session:?}"), "Session(<redacted>)");
    // Both first associations end without close_notify (media just stopped): the session must survive.
    drop((c, s));

    let mut c2 = Association::resume(&cctx, addr(SERVER_ADDR), &session, now).unwrap();
    let mut s2 = Association::new(&sctx, DtlsRole::Server, addr(CLIENT_ADDR), now).unwrap();
    let second = run_pair(&mut c2, &mut s2, deliver_all, false, Duration::from_secs(5));
    assert_keys_match(&second, SrtpProfile::AeadAes128Gcm);
    assert!(second.connected(0).unwrap().resumed && second.connected(1).unwrap().resumed);
    assert_ne!(
        first.connected(0).unwrap().keys,
        second.connected(0).unwrap().keys,
        "fresh keys"
    );
    // The certificates of the original handshake are reported again, and still go through the gate.
    assert_eq!(second.peer_cert(0), Some(sc.certificate.der()));
    assert_eq!(second.peer_cert(1), Some(cc.certificate.der()));
    let mut gate = FingerprintGate::new();
    gate.on_handshake(
        second.peer_cert(0).unwrap().to_vec(),
        second.connected(0).unwrap().clone(),
    );
    assert_eq!(
        gate.verify(&[sc.certificate.fingerprint(HashFunction::Sha256).unwrap()]),
        Ok(GateState::Verified)
    );

    // A session is only offered through the context that made it.
    let other = ctx(&cc);
    assert_eq!(
        Association::resume(&other, addr(SERVER_ADDR), &session, now).unwrap_err(),
        DtlsError::ForeignSession
    );
    // A server without the session (resumption off) answers with a full handshake.
    let plain = ctx(&config(cert(KeyType::EcdsaP256, 1)));
    let mut c3 = Association::resume(&cctx, addr(SERVER_ADDR), &session, now).unwrap();
    let mut s3 = Association::new(&plain, DtlsRole::Server, addr(CLIENT_ADDR), now).unwrap();
    let third = run_pair(&mut c3, &mut s3, deliver_all, false, Duration::from_secs(5));
    assert_keys_match(&third, SrtpProfile::AeadAes128Gcm);
    assert!(!third.connected(0).unwrap().resumed);
}

#[test]
fn association_and_context_can_move_between_threads() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<Association>();
    send::<dtlsrtp_dtls::DtlsContext>();
    sync::<dtlsrtp_dtls::DtlsContext>();
    send::<FingerprintGate>();
}
