//! Interop with real libsrtp 2 (OpenSSL backend, built from source by `srtp2-sys`): packets we protect are
//! unprotected by libsrtp and the reverse, for every profile, RTP and RTCP, across a sequence wrap
//! (65535 → 0) and with reordering inside the replay window (S-2..S-6, D-4.2b).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod support;

use dtlsrtp_srtp::{Config, DtlsRole, SrtpContext, SrtpKeyingMaterial, SrtpProfile};
use support::libsrtp::LibSrtp;

const PROFILES: [SrtpProfile; 6] = [
    SrtpProfile::Aes128CmHmacSha1_80,
    SrtpProfile::Aes128CmHmacSha1_32,
    SrtpProfile::AeadAes128Gcm,
    SrtpProfile::AeadAes256Gcm,
    SrtpProfile::NullHmacSha1_80,
    SrtpProfile::NullHmacSha1_32,
];

/// Packets per stream: starts at SEQ 65470, so the stream wraps to ROC 1 after 66 packets.
const PACKETS: u16 = 200;
const FIRST_SEQ: u16 = 65_470;

fn keying(profile: SrtpProfile) -> SrtpKeyingMaterial {
    let exported: Vec<u8> = (0..profile.exporter_len())
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(11))
        .collect();
    SrtpKeyingMaterial::from_exporter(profile, &exported).unwrap()
}

/// A varied RTP packet: CSRCs, a header extension and padding come and go with the sequence number.
fn rtp(i: u16, ssrc: u32) -> Vec<u8> {
    let seq = FIRST_SEQ.wrapping_add(i);
    let cc = (i % 3) as u8;
    let ext = i % 4 == 1;
    let pad = if i % 5 == 2 { 4u8 } else { 0 };
    let mut p = vec![0x80 | cc, 0x60 | ((i % 2) as u8 * 0x80), 0, 0];
    if ext {
        p[0] |= 0x10;
    }
    if pad > 0 {
        p[0] |= 0x20;
    }
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(i) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    for c in 0..cc {
        p.extend_from_slice(&[0xc0, 0, 0, c]);
    }
    if ext {
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0]);
    }
    let len = 20 + usize::from(i % 7) * 37;
    p.extend((0..len).map(|k| (k as u8) ^ (i as u8)));
    if pad > 0 {
        p.extend_from_slice(&[0, 0, 0, pad]);
    }
    p
}

/// A compound RTCP packet: a receiver report plus an SDES-like chunk of varying size.
fn rtcp(i: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x81, 201, 0, 7];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..24 + usize::from(i % 4) * 4).map(|k| k as u8 ^ 0x5a));
    p
}

/// The delivery order: packet 0 first (it opens the stream), then blocks of 8 reversed, so packets arrive
/// up to 7 late, inside the window, including across the wrap.
fn delivery_order(n: u16) -> Vec<u16> {
    let mut order = vec![0u16];
    let rest: Vec<u16> = (1..n).collect();
    for block in rest.chunks(8) {
        order.extend(block.iter().rev());
    }
    order
}

fn contexts(profile: SrtpProfile) -> (SrtpContext, SrtpContext, LibSrtp, LibSrtp) {
    let km = keying(profile);
    // We are the DTLS client; libsrtp plays the server.
    let (our_tx, our_rx) =
        SrtpContext::from_keying_material(&km, DtlsRole::Client, &Config::default()).unwrap();
    let (c, s) = (km.client_write(), km.server_write());
    let lib_rx = LibSrtp::new(profile, c.key.expose(), c.salt.expose(), false, 0);
    let lib_tx = LibSrtp::new(profile, s.key.expose(), s.salt.expose(), true, 0);
    (our_tx, our_rx, lib_tx, lib_rx)
}

/// S-3/S-4/S-5/S-6: dtlsrtp protects, libsrtp unprotects: RTP across the wrap with reordering, and RTCP.
#[test]
fn s_6_dtlsrtp_to_libsrtp_all_profiles_rtp_rtcp_wrap_reorder() {
    for profile in PROFILES {
        let (mut our_tx, _, _, mut lib_rx) = contexts(profile);
        let ssrc = 0xcafe_0001;
        let sent: Vec<(Vec<u8>, Vec<u8>)> = (0..PACKETS)
            .map(|i| {
                let mut p = rtp(i, ssrc);
                our_tx.protect_rtp(&mut p).unwrap();
                (rtp(i, ssrc), p)
            })
            .collect();
        assert_eq!(our_tx.roc(ssrc), Some(1), "{profile}: the stream wrapped");
        for i in delivery_order(PACKETS) {
            let (plain, protected) = &sent[usize::from(i)];
            let mut p = protected.clone();
            lib_rx
                .unprotect(&mut p)
                .unwrap_or_else(|e| panic!("{profile}: libsrtp refused RTP {i}: {e:?}"));
            assert_eq!(&p, plain, "{profile} RTP {i}");
        }
        // A replay is refused by libsrtp too.
        let mut p = sent[10].1.clone();
        assert!(
            lib_rx.unprotect(&mut p).is_err(),
            "{profile}: replay accepted"
        );

        let sent: Vec<(Vec<u8>, Vec<u8>)> = (0..40)
            .map(|i| {
                let mut p = rtcp(i, ssrc);
                our_tx.protect_rtcp(&mut p).unwrap();
                (rtcp(i, ssrc), p)
            })
            .collect();
        for i in delivery_order(40) {
            let (plain, protected) = &sent[usize::from(i)];
            let mut p = protected.clone();
            lib_rx
                .unprotect_rtcp(&mut p)
                .unwrap_or_else(|e| panic!("{profile}: libsrtp refused RTCP {i}: {e:?}"));
            assert_eq!(&p, plain, "{profile} RTCP {i}");
        }
    }
}

/// S-3/S-4/S-5/S-6: libsrtp protects, dtlsrtp unprotects: RTP across the wrap with reordering, and RTCP.
#[test]
fn s_6_libsrtp_to_dtlsrtp_all_profiles_rtp_rtcp_wrap_reorder() {
    for profile in PROFILES {
        let (_, mut our_rx, mut lib_tx, _) = contexts(profile);
        let ssrc = 0xbeef_0002;
        let sent: Vec<(Vec<u8>, Vec<u8>)> = (0..PACKETS)
            .map(|i| {
                let mut p = rtp(i, ssrc);
                lib_tx.protect(&mut p).unwrap();
                (rtp(i, ssrc), p)
            })
            .collect();
        for i in delivery_order(PACKETS) {
            let (plain, protected) = &sent[usize::from(i)];
            let mut p = protected.clone();
            our_rx
                .unprotect_rtp(&mut p)
                .unwrap_or_else(|e| panic!("{profile}: we refused libsrtp RTP {i}: {e:?}"));
            assert_eq!(&p, plain, "{profile} RTP {i}");
        }
        assert_eq!(
            our_rx.roc(ssrc),
            Some(1),
            "{profile}: ROC followed the wrap"
        );
        let mut p = sent[150].1.clone();
        assert_eq!(
            our_rx.unprotect_rtp(&mut p),
            Err(dtlsrtp_srtp::SrtpError::ReplayDuplicate)
        );

        let sent: Vec<(Vec<u8>, Vec<u8>)> = (0..40)
            .map(|i| {
                let mut p = rtcp(i, ssrc);
                lib_tx.protect_rtcp(&mut p).unwrap();
                (rtcp(i, ssrc), p)
            })
            .collect();
        for i in delivery_order(40) {
            let (plain, protected) = &sent[usize::from(i)];
            let mut p = protected.clone();
            our_rx
                .unprotect_rtcp(&mut p)
                .unwrap_or_else(|e| panic!("{profile}: we refused libsrtp RTCP {i}: {e:?}"));
            assert_eq!(&p, plain, "{profile} RTCP {i}");
        }
    }
}

/// The same byte-for-byte: for a given packet and index both implementations produce identical SRTP.
#[test]
fn s_6_identical_ciphertext_to_libsrtp() {
    for profile in PROFILES {
        let km = keying(profile);
        let (mut ours, _) =
            SrtpContext::from_keying_material(&km, DtlsRole::Server, &Config::default()).unwrap();
        let s = km.server_write();
        let mut lib = LibSrtp::new(profile, s.key.expose(), s.salt.expose(), true, 0);
        for i in 0..80 {
            let mut a = rtp(i, 42);
            let mut b = a.clone();
            ours.protect_rtp(&mut a).unwrap();
            lib.protect(&mut b).unwrap();
            assert_eq!(hex(&a), hex(&b), "{profile} RTP {i}");
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
