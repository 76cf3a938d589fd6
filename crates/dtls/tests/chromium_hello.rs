//! A Chromium-style ClientHello (NOTES.md: Chromium 156 sends ~1413 bytes in two fragments, offering DTLS 1.3
//! and 1.2 with a post-quantum X25519MLKEM768 key share and use_srtp 0x0001, 0x0008, 0x0007) must be
//! reassembled by our DTLS 1.2 server and answered with a DTLS 1.2 ServerHello.
//!
//! Why crafted: OpenSSL 3.0 (the only DTLS client on this machine besides ours) cannot send supported_versions
//! or key_share in a DTLS ClientHello (it owns those extension types and knows no DTLS 1.3), so the message is
//! built byte by byte here, per RFC 6347 §4.2.2/§4.3.2 and RFC 8446 §4.2, with the layout Chromium uses.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Instant;

use common::*;
use dtlsrtp_dtls::{Association, Event, KeyType, State};
use dtlsrtp_srtp::DtlsRole;

fn ext(out: &mut Vec<u8>, ty: u16, body: &[u8]) {
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

fn with_len16(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

/// The ClientHello body (RFC 6347 §4.2.1 layout, with cookie).
fn client_hello_body(cookie: &[u8]) -> Vec<u8> {
    let mut b = vec![0xfe, 0xfd]; // legacy client_version: DTLS 1.2
    b.extend((0..32u8).map(|i| i.wrapping_mul(37)));
    b.push(0); // session_id
    b.push(cookie.len() as u8);
    b.extend_from_slice(cookie);
    let suites: [u16; 14] = [
        0x1301, 0x1302, 0x1303, // TLS 1.3 suites (DTLS 1.3)
        0xc02b, 0xc02f, 0xcca9, 0xcca8, 0xc009, 0xc013, 0xc00a, 0xc014, 0x009c, 0x002f, 0x0035,
    ];
    let s: Vec<u8> = suites.iter().flat_map(|s| s.to_be_bytes()).collect();
    b.extend_from_slice(&with_len16(&s));
    b.extend_from_slice(&[1, 0]); // compression: null
    let mut e = Vec::new();
    ext(&mut e, 0x0017, &[]); // extended_master_secret
    ext(&mut e, 0xff01, &[0]); // renegotiation_info
    ext(
        &mut e,
        0x000a,
        &with_len16(&[0x11, 0xec, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18]),
    ); // groups
    ext(&mut e, 0x000b, &[1, 0]); // ec_point_formats
    ext(&mut e, 0x0023, &[]); // session_ticket
    let sigs: [u16; 8] = [
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ];
    let s: Vec<u8> = sigs.iter().flat_map(|s| s.to_be_bytes()).collect();
    ext(&mut e, 0x000d, &with_len16(&s));
    ext(&mut e, 0x000e, &[0, 6, 0, 1, 0, 8, 0, 7, 0]); // use_srtp: 0x0001, 0x0008, 0x0007, no MKI
                                                       // key_share: X25519MLKEM768 (1216 octets) and X25519 (32 octets).
    let mut shares = Vec::new();
    shares.extend_from_slice(&0x11ecu16.to_be_bytes());
    shares.extend_from_slice(&with_len16(&vec![0x42; 1216]));
    shares.extend_from_slice(&0x001du16.to_be_bytes());
    shares.extend_from_slice(&with_len16(&[0x09; 32]));
    ext(&mut e, 0x0033, &with_len16(&shares));
    ext(&mut e, 0x002b, &[4, 0xfe, 0xfc, 0xfe, 0xfd]); // supported_versions: DTLS 1.3, DTLS 1.2
    ext(&mut e, 0x002d, &[1, 1]); // psk_key_exchange_modes
    b.extend_from_slice(&with_len16(&e));
    b
}

/// Splits a handshake message into `parts` fragments, each in its own record and datagram.
fn fragment(body: &[u8], message_seq: u16, first_record_seq: u64, parts: usize) -> Vec<Vec<u8>> {
    let chunk = body.len().div_ceil(parts);
    body.chunks(chunk)
        .enumerate()
        .map(|(i, frag)| {
            let offset = i * chunk;
            let mut hs = vec![1u8]; // client_hello
            hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
            hs.extend_from_slice(&message_seq.to_be_bytes());
            hs.extend_from_slice(&(offset as u32).to_be_bytes()[1..]);
            hs.extend_from_slice(&(frag.len() as u32).to_be_bytes()[1..]);
            hs.extend_from_slice(frag);
            let mut rec = vec![22, 0xfe, 0xfd, 0, 0]; // handshake, DTLS 1.2, epoch 0
            rec.extend_from_slice(&(first_record_seq + i as u64).to_be_bytes()[2..]);
            rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
            rec.extend_from_slice(&hs);
            rec
        })
        .collect()
}

/// (msg_type, body) of the first handshake record of a datagram.
fn first_handshake(d: &[u8]) -> (u8, &[u8]) {
    assert_eq!(d[0], 22, "handshake record");
    (d[13], &d[25..])
}

/// Handshake message types of every handshake record in a datagram (OpenSSL packs records up to the MTU).
fn handshake_types(d: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut p = 0;
    while p + 13 <= d.len() {
        let len = u16::from_be_bytes([d[p + 11], d[p + 12]]) as usize;
        if d[p] == 22 && len > 0 {
            out.push(d[p + 13]);
        }
        p += 13 + len;
    }
    out
}

/// Walks a ServerHello body: (version, cipher suite, use_srtp extension body).
fn parse_server_hello(b: &[u8]) -> (u16, u16, Option<Vec<u8>>) {
    let version = u16::from_be_bytes([b[0], b[1]]);
    let mut p = 2 + 32;
    p += 1 + b[p] as usize; // session id
    let suite = u16::from_be_bytes([b[p], b[p + 1]]);
    p += 3; // suite + compression
    let ext_len = u16::from_be_bytes([b[p], b[p + 1]]) as usize;
    p += 2;
    let end = p + ext_len;
    let mut srtp = None;
    while p < end {
        let ty = u16::from_be_bytes([b[p], b[p + 1]]);
        let len = u16::from_be_bytes([b[p + 2], b[p + 3]]) as usize;
        if ty == 14 {
            srtp = Some(b[p + 4..p + 4 + len].to_vec());
        }
        p += 4 + len;
    }
    (version, suite, srtp)
}

fn run(cookie_exchange: bool, reverse_fragments: bool) {
    let mut sc = config(cert(KeyType::EcdsaP256, 1));
    sc.cookie_exchange = cookie_exchange;
    let mut s = Association::new(
        &ctx(&sc),
        DtlsRole::Server,
        addr(CLIENT_ADDR),
        Instant::now(),
    )
    .unwrap();
    let send = |s: &mut Association, body: &[u8], msg_seq: u16, rec_seq: u64| {
        let mut frags = fragment(body, msg_seq, rec_seq, 2);
        assert_eq!(frags.len(), 2);
        assert!(
            frags.iter().all(|f| f.len() <= 1200),
            "each fragment fits the MTU"
        );
        if reverse_fragments {
            frags.reverse();
        }
        for f in &frags {
            s.handle_datagram(Instant::now(), f);
        }
        std::iter::from_fn(|| s.poll_transmit()).collect::<Vec<_>>()
    };
    let first = client_hello_body(&[]);
    assert!(first.len() > 1300, "larger than the MTU: {}", first.len());
    let mut answer = send(&mut s, &first, 0, 0);
    let mut msg_seq = 0;
    if cookie_exchange {
        assert_eq!(answer.len(), 1);
        let (ty, hvr) = first_handshake(&answer[0]);
        assert_eq!(ty, 3, "HelloVerifyRequest");
        let cookie = hvr[3..3 + hvr[2] as usize].to_vec();
        assert!(!cookie.is_empty());
        msg_seq = 1;
        answer = send(&mut s, &client_hello_body(&cookie), msg_seq, 2);
    }
    let _ = msg_seq;
    assert!(
        !answer.is_empty(),
        "the server answered the reassembled ClientHello"
    );
    let (ty, sh) = first_handshake(&answer[0]);
    assert_eq!(ty, 2, "ServerHello");
    let (version, suite, srtp) = parse_server_hello(sh);
    assert_eq!(version, 0xfefd, "answered with DTLS 1.2");
    assert_eq!(suite, 0xc02b, "ECDHE-ECDSA-AES128-GCM-SHA256");
    // Our order is AEAD_AES_128_GCM first; the client offered it: exactly one profile echoed (D-4.1.1b).
    assert_eq!(srtp.as_deref(), Some(&[0, 2, 0, 7, 0][..]));
    // The rest of the flight follows (Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone).
    let types: Vec<u8> = answer.iter().flat_map(|d| handshake_types(d)).collect();
    assert_eq!(types.first(), Some(&2));
    assert!(
        types.contains(&11) && types.contains(&12) && types.contains(&13) && types.contains(&14),
        "{types:?}"
    );
    assert_eq!(s.state(), State::Handshaking);
    assert!(!std::iter::from_fn(|| s.poll_event()).any(|e| matches!(e, Event::Failed(_))));
}

#[test]
fn chromium_style_fragmented_dtls13_client_hello_gets_dtls12_server_hello() {
    run(true, false);
}

#[test]
fn chromium_style_client_hello_fragments_reversed_without_cookie() {
    run(false, true);
}
