//! P-6.2b (RFC 8122 §6.2): a certificate that does not match the expected fingerprint ends the handshake with a
//! bad_certificate (42) alert on the wire, in both roles; a matching one completes. R-1 (RFC 6347 §4.2.1): the
//! stateless cookie check answers exactly as OpenSSL would, and an association created only after the cookie
//! verified completes without a second HelloVerifyRequest.
#![allow(clippy::disallowed_methods)] // tests: OpenSSL's timers run on real time
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use dtlsrtp_dtls::{
    parse_client_hello, Alert, Association, DtlsError, Event, HashFunction, HelloCheck, KeyType,
};
use dtlsrtp_srtp::{DtlsRole, SrtpProfile};

/// The plaintext (epoch 0) fatal alert records in a datagram: (level, description).
fn alerts_in(d: &[u8]) -> Vec<(u8, u8)> {
    let mut out = Vec::new();
    let mut rest = d;
    while rest.len() >= 13 {
        let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
        let Some(body) = rest.get(13..13 + len) else {
            break;
        };
        if rest[0] == 21 && rest[3..5] == [0, 0] && body.len() == 2 {
            out.push((body[0], body[1]));
        }
        rest = &rest[13 + len..];
    }
    out
}

/// Every datagram each side sent (client, server) and every event (client, server).
type Recording = (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<Event>, Vec<Event>);

/// Runs the pair, recording every datagram each side sent.
fn run_recording(c: &mut Association, s: &mut Association) -> Recording {
    let (mut from_c, mut from_s) = (Vec::new(), Vec::new());
    let (mut ev_c, mut ev_s) = (Vec::new(), Vec::new());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let mut moved = false;
        while let Some(d) = c.poll_transmit() {
            s.handle_datagram(Instant::now(), &d);
            from_c.push(d);
            moved = true;
        }
        while let Some(d) = s.poll_transmit() {
            c.handle_datagram(Instant::now(), &d);
            from_s.push(d);
            moved = true;
        }
        ev_c.extend(std::iter::from_fn(|| c.poll_event()));
        ev_s.extend(std::iter::from_fn(|| s.poll_event()));
        let settled = |ev: &[Event]| {
            ev.iter()
                .any(|e| matches!(e, Event::Connected(_) | Event::Failed(_)))
        };
        if !moved && settled(&ev_c) && settled(&ev_s) {
            break;
        }
        if !moved {
            std::thread::sleep(Duration::from_millis(5));
            c.handle_timeout(Instant::now());
            s.handle_timeout(Instant::now());
        }
    }
    (from_c, from_s, ev_c, ev_s)
}

fn fatal_bad_certificate(sent: &[Vec<u8>]) -> bool {
    sent.iter()
        .flat_map(|d| alerts_in(d))
        .any(|a| a == (2, Alert::BAD_CERTIFICATE.0))
}

#[test]
fn p_6_2b_client_refuses_mismatched_server_certificate_with_bad_certificate_alert() {
    let (cc, sc) = (
        config(cert(KeyType::EcdsaP256, 0)),
        config(cert(KeyType::EcdsaP256, 1)),
    );
    let (mut c, mut s) = pair(&cc, &sc);
    // The client's SDP said the server holds certificate 0 (its own): a mismatch.
    let wrong = cert(KeyType::EcdsaP256, 0)
        .fingerprint(HashFunction::Sha256)
        .unwrap();
    c.expect_fingerprints(Some(&[wrong]));
    let (from_c, from_s, ev_c, ev_s) = run_recording(&mut c, &mut s);
    assert!(
        ev_c.contains(&Event::Failed(DtlsError::CertificateRejected)),
        "{ev_c:?}"
    );
    assert!(
        fatal_bad_certificate(&from_c),
        "a fatal bad_certificate alert left the client"
    );
    assert!(!fatal_bad_certificate(&from_s));
    assert!(
        ev_s.contains(&Event::Failed(DtlsError::AlertReceived(
            Alert::BAD_CERTIFICATE
        ))),
        "{ev_s:?}"
    );
    assert!(!ev_c.iter().any(|e| matches!(e, Event::Connected(_))));
    assert_eq!(
        DtlsError::CertificateRejected.alert(),
        Some(Alert::BAD_CERTIFICATE)
    );
}

#[test]
fn p_6_2b_server_refuses_mismatched_client_certificate_with_bad_certificate_alert() {
    let (cc, sc) = (
        config(cert(KeyType::Rsa2048, 0)),
        config(cert(KeyType::EcdsaP256, 1)),
    );
    let (mut c, mut s) = pair(&cc, &sc);
    let wrong = cert(KeyType::Rsa2048, 1)
        .fingerprint(HashFunction::Sha256)
        .unwrap();
    s.expect_fingerprints(Some(&[wrong]));
    let (from_c, from_s, ev_c, ev_s) = run_recording(&mut c, &mut s);
    assert!(
        ev_s.contains(&Event::Failed(DtlsError::CertificateRejected)),
        "{ev_s:?}"
    );
    assert!(
        fatal_bad_certificate(&from_s),
        "bad_certificate from the server"
    );
    assert!(!fatal_bad_certificate(&from_c));
    assert!(
        ev_c.contains(&Event::Failed(DtlsError::AlertReceived(
            Alert::BAD_CERTIFICATE
        ))),
        "{ev_c:?}"
    );
    // No keys on either side.
    assert!(!ev_s.iter().any(|e| matches!(e, Event::Connected(_))));
    assert!(!ev_c.iter().any(|e| matches!(e, Event::Connected(_))));
}

#[test]
fn p_6_2b_matching_or_unknown_fingerprints_complete_the_handshake() {
    for known in [true, false] {
        let (cc, sc) = (
            config(cert(KeyType::EcdsaP256, 0)),
            config(cert(KeyType::EcdsaP256, 1)),
        );
        let (mut c, mut s) = pair(&cc, &sc);
        if known {
            // Several fingerprints, one of them right (and an unusable sha-1 of the wrong cert too).
            let right = cert(KeyType::EcdsaP256, 1)
                .fingerprint(HashFunction::Sha256)
                .unwrap();
            let other = cert(KeyType::EcdsaP256, 0)
                .fingerprint(HashFunction::Sha256)
                .unwrap();
            c.expect_fingerprints(Some(&[other, right]));
            s.expect_fingerprints(Some(&[cert(KeyType::EcdsaP256, 0)
                .fingerprint(HashFunction::Sha384)
                .unwrap()]));
        } else {
            c.expect_fingerprints(Some(&[]));
            s.expect_fingerprints(None);
        }
        let out = run_pair(&mut c, &mut s, deliver_all, false, Duration::from_secs(5));
        assert_keys_match(&out, SrtpProfile::AeadAes128Gcm);
    }
}

/// The ClientHello a fresh client sends first, and the one it sends after a HelloVerifyRequest.
fn client_hellos(server_ctx: &dtlsrtp_dtls::DtlsContext) -> (Association, Vec<u8>, Vec<u8>) {
    let cc = config(cert(KeyType::EcdsaP256, 0));
    let mut c = Association::new(
        &ctx(&cc),
        DtlsRole::Client,
        addr(SERVER_ADDR),
        Instant::now(),
    )
    .unwrap();
    let ch1 = c.poll_transmit().unwrap();
    let HelloCheck::Verify { reply, bad_cookie } =
        server_ctx.check_client_hello(addr(CLIENT_ADDR), &ch1)
    else {
        panic!("a first ClientHello gets a HelloVerifyRequest");
    };
    assert!(!bad_cookie);
    c.handle_datagram(Instant::now(), &reply);
    let ch2 = c.poll_transmit().unwrap();
    (c, ch1, ch2)
}

#[test]
fn r_1_stateless_hello_verify_request_is_byte_for_byte_openssls() {
    let sc = config(cert(KeyType::EcdsaP256, 1));
    let server_ctx = ctx(&sc);
    let (_, ch1, _) = client_hellos(&server_ctx);
    let HelloCheck::Verify { reply, .. } = server_ctx.check_client_hello(addr(CLIENT_ADDR), &ch1)
    else {
        panic!()
    };
    // OpenSSL's own answer, from a server association fed the same ClientHello.
    let mut s = Association::new(
        &server_ctx,
        DtlsRole::Server,
        addr(CLIENT_ADDR),
        Instant::now(),
    )
    .unwrap();
    s.handle_datagram(Instant::now(), &ch1);
    let theirs = s.poll_transmit().unwrap();
    assert_eq!(reply, theirs, "same record, same cookie, same sequence");
    assert_eq!(
        parse_client_hello(&ch1).unwrap().record_seq,
        <[u8; 6]>::try_from(&reply[5..11]).unwrap()
    );
}

#[test]
fn r_1_association_created_after_the_cookie_verified_completes_without_second_hello_verify() {
    let sc = config(cert(KeyType::EcdsaP256, 1));
    let server_ctx = ctx(&sc);
    let (mut c, _, ch2) = client_hellos(&server_ctx);
    assert_eq!(
        server_ctx.check_client_hello(addr(CLIENT_ADDR), &ch2),
        HelloCheck::Accept
    );
    // The same cookie from another address (or port) is not valid there.
    assert!(matches!(
        server_ctx.check_client_hello(addr("127.0.0.1:40001"), &ch2),
        HelloCheck::Verify {
            bad_cookie: true,
            ..
        }
    ));
    // Only now does state exist: a fresh server association, fed the second ClientHello.
    let mut s = Association::new(
        &server_ctx,
        DtlsRole::Server,
        addr(CLIENT_ADDR),
        Instant::now(),
    )
    .unwrap();
    s.handle_datagram(Instant::now(), &ch2);
    let flight = s.poll_transmit().expect("the server's flight");
    assert_eq!(flight[13], 2, "ServerHello, not another HelloVerifyRequest");
    c.handle_datagram(Instant::now(), &flight);
    while let Some(d) = s.poll_transmit() {
        c.handle_datagram(Instant::now(), &d);
    }
    let out = run_pair(&mut c, &mut s, deliver_all, false, Duration::from_secs(5));
    assert_keys_match(&out, SrtpProfile::AeadAes128Gcm);
}
