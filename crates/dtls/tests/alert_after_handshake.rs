//! P-6.2b (RFC 8122 §6.2) after the handshake: when the fingerprint that the peer's certificate fails to match
//! arrives only once the handshake completed (F-5.8, a re-offer, a stranger), the association still ends with
//! a fatal bad_certificate (42) alert. OpenSSL 3.0 cannot send one then, so the association seals the record
//! itself; these tests prove that OpenSSL, on the receiving side, decrypts and accepts it, for every cipher
//! suite of our list, both roles, ECDSA and RSA certificates, with and without encrypt-then-MAC.
#![allow(clippy::disallowed_methods)] // tests: OpenSSL's timers run on real time
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use dtlsrtp_dtls::{Alert, Association, DtlsError, Event, KeyType, State};
use dtlsrtp_srtp::{DtlsRole, SrtpProfile};
use openssl::ssl::{ErrorCode, SslOptions};

/// Every suite of our cipher list (config.rs `CIPHER_LIST`): OpenSSL name, IANA name, the certificate it needs.
const SUITES: [(&str, &str, KeyType); 10] = [
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        KeyType::EcdsaP256,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        KeyType::Rsa2048,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        KeyType::EcdsaP256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        KeyType::Rsa2048,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        KeyType::EcdsaP256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        KeyType::Rsa2048,
    ),
    (
        "ECDHE-ECDSA-AES128-SHA",
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        KeyType::EcdsaP256,
    ),
    (
        "ECDHE-RSA-AES128-SHA",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        KeyType::Rsa2048,
    ),
    (
        "ECDHE-ECDSA-AES256-SHA",
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        KeyType::EcdsaP256,
    ),
    (
        "ECDHE-RSA-AES256-SHA",
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        KeyType::Rsa2048,
    ),
];

/// `SSL_OP_NO_ENCRYPT_THEN_MAC` (not named by the openssl crate).
const NO_ENCRYPT_THEN_MAC: u64 = 0x0008_0000;

/// The records (type, epoch, body length) of a datagram.
fn records(d: &[u8]) -> Vec<(u8, u16, usize)> {
    let mut out = Vec::new();
    let mut rest = d;
    while rest.len() >= 13 {
        let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
        out.push((rest[0], u16::from_be_bytes([rest[3], rest[4]]), len));
        let Some(next) = rest.get(13 + len..) else {
            break;
        };
        rest = next;
    }
    out
}

/// Closes `ours` with bad_certificate and returns what it sent: exactly one datagram holding one encrypted
/// (epoch 1) alert record, and nothing after it.
fn close_with_bad_certificate(ours: &mut Association) -> Vec<u8> {
    while ours.poll_transmit().is_some() {}
    while ours.poll_event().is_some() {}
    ours.close_with_alert(Instant::now(), Alert::BAD_CERTIFICATE);
    let sent: Vec<Vec<u8>> = std::iter::from_fn(|| ours.poll_transmit()).collect();
    assert_eq!(sent.len(), 1, "one datagram");
    let recs = records(&sent[0]);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!((recs[0].0, recs[0].1), (21, 1), "an encrypted alert record");
    assert_eq!(ours.state(), State::Closed);
    assert_eq!(ours.poll_event(), Some(Event::Closed));
    // The SSL is not used again: no close_notify, no retransmission, nothing.
    ours.handle_timeout(Instant::now() + Duration::from_secs(100));
    ours.close(Instant::now());
    assert_eq!(ours.poll_transmit(), None);
    assert_eq!(ours.poll_timeout(), None);
    sent.into_iter().next().unwrap()
}

#[test]
fn p_6_2b_bad_certificate_after_the_handshake_reaches_a_dtlsrtp_peer_both_roles() {
    for kind in [KeyType::EcdsaP256, KeyType::Rsa2048] {
        for closer in [DtlsRole::Client, DtlsRole::Server] {
            let (cc, sc) = (config(cert(kind, 0)), config(cert(kind, 1)));
            let (mut c, mut s) = pair(&cc, &sc);
            // No fingerprint known during the handshake (F-5.8): it completes.
            let out = run_pair(&mut c, &mut s, deliver_all, false, Duration::from_secs(5));
            assert_keys_match(&out, SrtpProfile::AeadAes128Gcm);
            let (ours, peer) = if closer == DtlsRole::Client {
                (&mut c, &mut s)
            } else {
                (&mut s, &mut c)
            };
            let d = close_with_bad_certificate(ours);
            peer.handle_datagram(Instant::now(), &d);
            let ev: Vec<Event> = std::iter::from_fn(|| peer.poll_event()).collect();
            assert_eq!(
                ev,
                vec![Event::Failed(DtlsError::AlertReceived(
                    Alert::BAD_CERTIFICATE
                ))],
                "{kind:?}, {closer:?} closed"
            );
            assert_eq!(
                peer.state(),
                State::Failed(DtlsError::AlertReceived(Alert(42)))
            );
        }
    }
}

/// One handshake of ours against a raw OpenSSL peer offering only `suite`, then our bad_certificate alert;
/// returns the suite that was negotiated and the reason code of the peer's OpenSSL error.
fn alert_to_raw_peer(suite: &str, kind: KeyType, we: DtlsRole, etm: bool) -> (&'static str, i32) {
    let ours_cert = cert(kind, 0);
    let peer_pem = cert(kind, 1).to_pem().unwrap();
    let suite_owned = suite.to_owned();
    let mut raw = RawPeer::new(
        move |b| {
            b.set_certificate(&openssl::x509::X509::from_pem(&peer_pem).unwrap())
                .unwrap();
            b.set_private_key(&openssl::pkey::PKey::private_key_from_pem(&peer_pem).unwrap())
                .unwrap();
            b.set_cipher_list(&suite_owned).unwrap();
            b.set_tlsext_use_srtp("SRTP_AES128_CM_SHA1_80").unwrap();
            if !etm {
                b.set_options(SslOptions::from_bits_retain(NO_ENCRYPT_THEN_MAC as _));
            }
        },
        we == DtlsRole::Server,
    );
    let peer_addr = if we == DtlsRole::Client {
        SERVER_ADDR
    } else {
        CLIENT_ADDR
    };
    let mut ours = Association::new(
        &ctx(&config(ours_cert)),
        we,
        addr(peer_addr),
        Instant::now(),
    )
    .unwrap();
    let events = run_raw(&mut raw, &mut ours, 30);
    let connected = events
        .iter()
        .find_map(|e| match e {
            Event::Connected(c) => Some(c.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{suite}, {we:?}: {events:?} {:?}", raw.error));
    assert!(raw.done, "{suite}: the raw peer completed");
    let d = close_with_bad_certificate(&mut ours);
    raw.stream.get_mut().inbox.push_back(d);
    let mut buf = [0u8; 256];
    let e = raw
        .stream
        .ssl_read(&mut buf)
        .expect_err("the alert ends the raw peer's connection");
    assert_eq!(e.code(), ErrorCode::SSL, "{suite}, {we:?}: {e:?}");
    let reason = e
        .ssl_error()
        .and_then(|s| s.errors().first().map(openssl::error::Error::reason_code))
        .unwrap_or(0);
    (connected.cipher_suite.name, reason)
}

#[test]
fn p_6_2b_bad_certificate_after_the_handshake_decrypts_in_openssl_for_every_suite_both_roles() {
    for (suite, iana, kind) in SUITES {
        let cbc = !suite.contains("GCM") && !suite.contains("CHACHA");
        for we in [DtlsRole::Client, DtlsRole::Server] {
            for etm in if cbc { &[true, false][..] } else { &[true][..] } {
                let (negotiated, reason) = alert_to_raw_peer(suite, kind, we, *etm);
                assert_eq!(negotiated, iana, "{suite} forced");
                // SSL_AD_REASON_OFFSET (1000) + bad_certificate: OpenSSL decrypted, authenticated and read
                // our alert record.
                assert_eq!(
                    reason,
                    1000 + i32::from(Alert::BAD_CERTIFICATE.0),
                    "{suite} ({negotiated}), we are {we:?}, encrypt-then-MAC offered: {etm}"
                );
            }
        }
    }
}

#[test]
fn p_6_2b_close_with_alert_before_our_change_cipher_spec_goes_in_the_clear() {
    let (cc, sc) = (
        config(cert(KeyType::EcdsaP256, 0)),
        config(cert(KeyType::EcdsaP256, 1)),
    );
    let (mut c, mut s) = pair(&cc, &sc);
    // ClientHello, HelloVerifyRequest, ClientHello with cookie: the server's first flight is out (epoch 0).
    while let Some(d) = c.poll_transmit() {
        s.handle_datagram(Instant::now(), &d);
    }
    while let Some(d) = s.poll_transmit() {
        c.handle_datagram(Instant::now(), &d);
    }
    while let Some(d) = c.poll_transmit() {
        s.handle_datagram(Instant::now(), &d);
    }
    let flight: Vec<Vec<u8>> = std::iter::from_fn(|| s.poll_transmit()).collect();
    assert!(!flight.is_empty());
    assert_eq!(s.state(), State::Handshaking);
    let last_seq = flight
        .iter()
        .flat_map(|d| {
            let mut seqs = Vec::new();
            let mut rest = d.as_slice();
            while rest.len() >= 13 {
                let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
                seqs.push(u64::from_be_bytes([
                    0, 0, rest[5], rest[6], rest[7], rest[8], rest[9], rest[10],
                ]));
                rest = rest.get(13 + len..).unwrap_or_default();
            }
            seqs
        })
        .max()
        .unwrap();
    s.close_with_alert(Instant::now(), Alert::BAD_CERTIFICATE);
    let d = s.poll_transmit().unwrap();
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(d[..5], [21, 254, 253, 0, 0], "alert, DTLS 1.2, epoch 0");
    let seq = u64::from_be_bytes([0, 0, d[5], d[6], d[7], d[8], d[9], d[10]]);
    assert_eq!(
        seq,
        last_seq + 1,
        "the sequence number after OpenSSL's last"
    );
    assert_eq!(d[11..], [0, 2, 2, 42], "fatal bad_certificate in the clear");
    c.handle_datagram(Instant::now(), &d);
    assert_eq!(
        c.state(),
        State::Failed(DtlsError::AlertReceived(Alert::BAD_CERTIFICATE))
    );
}

#[test]
fn p_6_2b_close_with_alert_after_our_finished_before_the_peers_is_encrypted() {
    let (cc, sc) = (
        config(cert(KeyType::Rsa2048, 0)),
        config(cert(KeyType::Rsa2048, 1)),
    );
    let (mut c, mut s) = pair(&cc, &sc);
    // ClientHello, HelloVerifyRequest, ClientHello, server flight: then the client's flight ending in its
    // ChangeCipherSpec and Finished (epoch 1) is out, the server's Finished not yet in.
    for _ in 0..2 {
        while let Some(d) = c.poll_transmit() {
            s.handle_datagram(Instant::now(), &d);
        }
        while let Some(d) = s.poll_transmit() {
            c.handle_datagram(Instant::now(), &d);
        }
    }
    let flight: Vec<Vec<u8>> = std::iter::from_fn(|| c.poll_transmit()).collect();
    assert_eq!(c.state(), State::Handshaking);
    assert!(flight.iter().any(|d| records(d).iter().any(|r| r.1 == 1)));
    c.close_with_alert(Instant::now(), Alert::BAD_CERTIFICATE);
    let d = c.poll_transmit().unwrap();
    assert_eq!(records(&d).len(), 1);
    assert_eq!((records(&d)[0].0, records(&d)[0].1), (21, 1));
    for f in &flight {
        s.handle_datagram(Instant::now(), f);
    }
    assert_eq!(s.state(), State::Connected);
    s.handle_datagram(Instant::now(), &d);
    assert_eq!(
        s.state(),
        State::Failed(DtlsError::AlertReceived(Alert::BAD_CERTIFICATE))
    );
}
