//! Property and bad-input tests of the SRTP/SRTCP contexts (S-3, S-4, S-5, D-4.2b, D-4.4).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use dtlsrtp_srtp::{
    Config, DtlsRole, KeyStatus, SessionMaster, SrtpContext, SrtpError, SrtpKeyingMaterial,
    SrtpProfile,
};
use proptest::prelude::*;

fn master(profile: SrtpProfile, seed: u8) -> SessionMaster {
    let key: Vec<u8> = (0..profile.master_key_len())
        .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
        .collect();
    let salt: Vec<u8> = (0..profile.master_salt_len())
        .map(|i| seed ^ (i as u8).wrapping_mul(7))
        .collect();
    SessionMaster::new(profile, &key, &salt).unwrap()
}

fn pair(profile: SrtpProfile, config: &Config) -> (SrtpContext, SrtpContext) {
    let m = master(profile, 0x5a);
    (
        SrtpContext::new(&m, config).unwrap(),
        SrtpContext::new(&m, config).unwrap(),
    )
}

/// An RTP packet with `cc` CSRCs, an optional extension of `ext_words` words, `payload`, and `pad` octets
/// of RTP padding (P bit set, last octet the count).
fn rtp(seq: u16, ssrc: u32, cc: u8, ext_words: Option<u16>, payload: &[u8], pad: u8) -> Vec<u8> {
    let mut p = vec![0x80 | cc & 0x0f, 96, 0, 0, 0, 0, 0x12, 0x34];
    if ext_words.is_some() {
        p[0] |= 0x10;
    }
    if pad > 0 {
        p[0] |= 0x20;
    }
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    for i in 0..cc {
        p.extend_from_slice(&(0x1000_0000u32 + u32::from(i)).to_be_bytes());
    }
    if let Some(w) = ext_words {
        p.extend_from_slice(&[0xbe, 0xde]);
        p.extend_from_slice(&w.to_be_bytes());
        p.extend((0..w * 4).map(|i| i as u8));
    }
    p.extend_from_slice(payload);
    if pad > 0 {
        p.extend(std::iter::repeat_n(0, usize::from(pad) - 1));
        p.push(pad);
    }
    p
}

/// A compound RTCP packet (SR + SDES-like filler) of `extra` octets after the 8-octet header.
fn rtcp(ssrc: u32, extra: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 200, 0, 0];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(extra);
    p
}

fn profiles() -> impl Strategy<Value = SrtpProfile> {
    prop::sample::select(SrtpProfile::ALL.to_vec())
}

fn configs() -> impl Strategy<Value = Config> {
    (
        prop::option::of(prop::collection::vec(any::<u8>(), 1..5)),
        any::<bool>(),
    )
        .prop_map(|(mki, enc)| {
            let c = Config::default().rtcp_encrypt(enc);
            match mki {
                Some(m) => c.mki(&m),
                None => c,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// S-4/S-5: unprotect(protect(p)) == p for random headers (CSRCs, extension, padding) and payloads, every
    /// profile, with and without MKI; SRTCP too.
    #[test]
    fn s_4_round_trip_rtp_and_rtcp(
        profile in profiles(),
        config in configs(),
        seq in any::<u16>(),
        ssrc in any::<u32>(),
        cc in 0u8..16,
        ext in prop::option::of(0u16..8),
        payload in prop::collection::vec(any::<u8>(), 0..1300),
        pad in 0u8..8,
    ) {
        let (mut tx, mut rx) = pair(profile, &config);
        let plain = rtp(seq, ssrc, cc, ext, &payload, pad);
        let mut pkt = plain.clone();
        tx.protect_rtp(&mut pkt).unwrap();
        prop_assert_eq!(pkt.len(), plain.len() + tx.rtp_overhead());
        if profile.is_encrypting() && payload.len() >= 8 {
            prop_assert_ne!(&pkt[..plain.len()], &plain[..]);
        }
        rx.unprotect_rtp(&mut pkt).unwrap();
        prop_assert_eq!(&pkt, &plain);

        let plain = rtcp(ssrc, &payload);
        let mut pkt = plain.clone();
        tx.protect_rtcp(&mut pkt).unwrap();
        prop_assert_eq!(pkt.len(), plain.len() + tx.rtcp_overhead());
        rx.unprotect_rtcp(&mut pkt).unwrap();
        prop_assert_eq!(&pkt, &plain);
    }

    /// S-4: every single-bit flip of a protected packet is rejected, the buffer and the context stay as they
    /// were, and the genuine packet still unprotects afterwards.
    #[test]
    fn s_4_every_bit_flip_rejected(
        profile in profiles(),
        config in configs(),
        seq in any::<u16>(),
        cc in 0u8..3,
        ext in prop::option::of(0u16..2),
        payload in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let (mut tx, mut rx) = pair(profile, &config);
        let plain = rtp(seq, 0xabcd_0001, cc, ext, &payload, 0);
        let mut good = plain.clone();
        tx.protect_rtp(&mut good).unwrap();
        for bit in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let before = bad.clone();
            prop_assert!(rx.unprotect_rtp(&mut bad).is_err(), "bit {} accepted", bit);
            prop_assert_eq!(&bad, &before);
        }
        rx.unprotect_rtp(&mut good).unwrap();
        prop_assert_eq!(&good, &plain);

        let plain = rtcp(0xabcd_0001, &payload);
        let mut good = plain.clone();
        tx.protect_rtcp(&mut good).unwrap();
        for bit in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let before = bad.clone();
            prop_assert!(rx.unprotect_rtcp(&mut bad).is_err(), "RTCP bit {} accepted", bit);
            prop_assert_eq!(&bad, &before);
        }
        rx.unprotect_rtcp(&mut good).unwrap();
        prop_assert_eq!(&good, &plain);
    }

    /// S-3: packets delivered in any order within the window (here across a sequence wrap) are accepted
    /// exactly once; every replay is rejected.
    #[test]
    fn s_3_reorder_within_window_accepted_once(
        profile in profiles(),
        start in 65_400u16..=65_535,
        order in Just((1usize..64).collect::<Vec<_>>()).prop_shuffle(),
        replays in prop::collection::vec(0usize..64, 1..20),
    ) {
        let (mut tx, mut rx) = pair(profile, &Config::default());
        let mut sent = Vec::new();
        for i in 0..64u16 {
            let mut p = rtp(start.wrapping_add(i), 7, 0, None, &[i as u8; 20], 0);
            tx.protect_rtp(&mut p).unwrap();
            let mut c = rtcp(7, &[i as u8; 20]);
            tx.protect_rtcp(&mut c).unwrap();
            sent.push((p, c));
        }
        // The first packet opens the stream (ROC 0), the rest arrive shuffled.
        for i in std::iter::once(0).chain(order.iter().copied()) {
            let (mut p, mut c) = sent[i].clone();
            rx.unprotect_rtp(&mut p).unwrap();
            prop_assert_eq!(&p[12..], &[i as u8; 20][..]);
            rx.unprotect_rtcp(&mut c).unwrap();
        }
        for i in replays {
            let (mut p, mut c) = sent[i].clone();
            let e = rx.unprotect_rtp(&mut p).unwrap_err();
            prop_assert!(matches!(e, SrtpError::ReplayDuplicate | SrtpError::ReplayTooOld), "{:?}", e);
            let e = rx.unprotect_rtcp(&mut c).unwrap_err();
            prop_assert!(matches!(e, SrtpError::ReplayDuplicate | SrtpError::ReplayTooOld), "{:?}", e);
        }
        let wrapped = u32::from(start) + 63 > 65_535;
        prop_assert_eq!(rx.roc(7), Some(u32::from(wrapped)));
    }

    /// Random bytes never panic and always give a typed error; a good packet still unprotects afterwards.
    #[test]
    fn random_bytes_typed_error_then_good_packet(
        profile in profiles(),
        junk in prop::collection::vec(any::<u8>(), 0..200),
        force_v2 in any::<bool>(),
    ) {
        let (mut tx, mut rx) = pair(profile, &Config::default());
        let mut junk = junk;
        if force_v2 && !junk.is_empty() {
            junk[0] = 0x80 | (junk[0] & 0x3f);
        }
        let mut a = junk.clone();
        prop_assert!(rx.unprotect_rtp(&mut a).is_err());
        let mut b = junk.clone();
        prop_assert!(rx.unprotect_rtcp(&mut b).is_err());
        let plain = rtp(1, 9, 0, None, b"payload", 0);
        let mut good = plain.clone();
        tx.protect_rtp(&mut good).unwrap();
        rx.unprotect_rtp(&mut good).unwrap();
        prop_assert_eq!(good, plain);
    }
}

/// Every truncation from 0 to the full length of a protected RTP and RTCP packet is refused with a typed
/// error, for every profile, with and without MKI; the full packet then still unprotects.
#[test]
fn every_truncation_rejected_then_good_packet() {
    for profile in SrtpProfile::ALL {
        for config in [Config::default(), Config::default().mki(&[1, 2, 3, 4])] {
            let (mut tx, mut rx) = pair(profile, &config);
            let plain = rtp(100, 5, 2, Some(1), b"hello world", 3);
            let mut good = plain.clone();
            tx.protect_rtp(&mut good).unwrap();
            for n in 0..good.len() {
                let mut t = good[..n].to_vec();
                let e = rx.unprotect_rtp(&mut t).unwrap_err();
                assert!(
                    matches!(
                        e,
                        SrtpError::TooShort | SrtpError::AuthFailed | SrtpError::UnknownMki
                    ),
                    "{profile} len {n}: {e:?}"
                );
            }
            rx.unprotect_rtp(&mut good).unwrap();
            assert_eq!(good, plain, "{profile}");

            let plain = rtcp(5, b"rtcp body");
            let mut good = plain.clone();
            tx.protect_rtcp(&mut good).unwrap();
            for n in 0..good.len() {
                let mut t = good[..n].to_vec();
                let e = rx.unprotect_rtcp(&mut t).unwrap_err();
                assert!(
                    matches!(
                        e,
                        SrtpError::TooShort | SrtpError::AuthFailed | SrtpError::UnknownMki
                    ),
                    "{profile} RTCP len {n}: {e:?}"
                );
            }
            rx.unprotect_rtcp(&mut good).unwrap();
            assert_eq!(good, plain, "{profile}");
        }
    }
}

/// Version ≠ 2 is refused on both paths, before any crypto; a following good packet still unprotects.
#[test]
fn wrong_version_rejected() {
    for profile in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(profile, &Config::default());
        for v in [0u8, 1, 3] {
            let mut p = rtp(1, 5, 0, None, b"abc", 0);
            p[0] = (p[0] & 0x3f) | (v << 6);
            let orig = p.clone();
            assert_eq!(tx.protect_rtp(&mut p), Err(SrtpError::BadVersion));
            assert_eq!(p, orig, "a failed protect leaves the packet as it was");
            let mut good = rtp(10 + u16::from(v), 5, 0, None, b"abc", 0);
            tx.protect_rtp(&mut good).unwrap();
            good[0] = (good[0] & 0x3f) | (v << 6);
            assert_eq!(rx.unprotect_rtp(&mut good), Err(SrtpError::BadVersion));
            let mut c = rtcp(5, b"x");
            c[0] = (c[0] & 0x3f) | (v << 6);
            assert_eq!(tx.protect_rtcp(&mut c), Err(SrtpError::BadVersion));
            let mut c = c.clone();
            c.extend_from_slice(&[0; 30]);
            assert_eq!(rx.unprotect_rtcp(&mut c), Err(SrtpError::BadVersion));
        }
        let plain = rtp(20, 5, 0, None, b"abc", 0);
        let mut good = plain.clone();
        tx.protect_rtp(&mut good).unwrap();
        rx.unprotect_rtp(&mut good).unwrap();
        assert_eq!(good, plain);
    }
}

/// D-4.1d: a packet with another MKI is refused as unknown, even with an otherwise valid tag.
#[test]
fn d_4_1d_unknown_mki_rejected() {
    for profile in SrtpProfile::ALL {
        let m = master(profile, 1);
        let mut tx = SrtpContext::new(&m, &Config::default().mki(&[0xaa, 0xbb])).unwrap();
        let mut rx = SrtpContext::new(&m, &Config::default().mki(&[0xaa, 0xbc])).unwrap();
        let mut p = rtp(1, 5, 0, None, b"abc", 0);
        tx.protect_rtp(&mut p).unwrap();
        assert_eq!(
            rx.unprotect_rtp(&mut p),
            Err(SrtpError::UnknownMki),
            "{profile}"
        );
        let mut c = rtcp(5, b"abc");
        tx.protect_rtcp(&mut c).unwrap();
        assert_eq!(
            rx.unprotect_rtcp(&mut c),
            Err(SrtpError::UnknownMki),
            "{profile}"
        );
    }
}

/// D-4.4: the key-lifetime counter warns before the limit, and packet number = lifetime is not protected
/// (or accepted) with the old key, in either direction, for RTP and RTCP separately.
#[test]
fn d_4_4_key_lifetime_warning_then_exhausted() {
    for profile in SrtpProfile::ALL {
        let config = Config::default().key_lifetimes(16, 8);
        let (mut tx, mut rx) = pair(profile, &config);
        let mut statuses = Vec::new();
        for seq in 0..16u16 {
            let mut p = rtp(seq, 5, 0, None, b"abc", 0);
            tx.protect_rtp(&mut p).unwrap();
            rx.unprotect_rtp(&mut p).unwrap();
            statuses.push(tx.key_status());
        }
        assert_eq!(statuses[0], KeyStatus::Fresh);
        assert_eq!(statuses[13], KeyStatus::NearLimit, "{profile}");
        assert_eq!(tx.key_status(), KeyStatus::Exhausted);
        assert_eq!(tx.srtp_packets(), 16);
        let mut p = rtp(16, 5, 0, None, b"abc", 0);
        let orig = p.clone();
        assert_eq!(tx.protect_rtp(&mut p), Err(SrtpError::KeyExhausted));
        assert_eq!(p, orig);
        // The receiving side counts too: a 17th packet (protected by a fresh sender) is refused.
        let (mut tx2, _) = pair(profile, &Config::default());
        let mut p = rtp(16, 5, 0, None, b"abc", 0);
        tx2.protect_rtp(&mut p).unwrap();
        assert_eq!(rx.unprotect_rtp(&mut p), Err(SrtpError::KeyExhausted));
        // SRTCP is counted separately.
        for _ in 0..8 {
            let mut c = rtcp(5, b"abc");
            tx.protect_rtcp(&mut c).unwrap();
        }
        let mut c = rtcp(5, b"abc");
        assert_eq!(tx.protect_rtcp(&mut c), Err(SrtpError::KeyExhausted));
    }
}

/// D-4.2b: each side protects with its write keys; the peer's inbound context opens them, while a context
/// built with the wrong direction's keys refuses them.
#[test]
fn d_4_2b_roles_and_wrong_direction_keys() {
    for profile in SrtpProfile::DEFAULT_OFFER {
        let exported: Vec<u8> = (0..profile.exporter_len()).map(|i| i as u8).collect();
        let km = SrtpKeyingMaterial::from_exporter(profile, &exported).unwrap();
        let cfg = Config::default();
        let (mut c_tx, mut c_rx) =
            SrtpContext::from_keying_material(&km, DtlsRole::Client, &cfg).unwrap();
        let (mut s_tx, mut s_rx) =
            SrtpContext::from_keying_material(&km, DtlsRole::Server, &cfg).unwrap();
        let plain = rtp(1, 5, 0, None, b"from client", 0);
        let mut p = plain.clone();
        c_tx.protect_rtp(&mut p).unwrap();
        let mut wrong = p.clone();
        assert_eq!(c_rx.unprotect_rtp(&mut wrong), Err(SrtpError::AuthFailed));
        s_rx.unprotect_rtp(&mut p).unwrap();
        assert_eq!(p, plain);
        let plain = rtcp(6, b"from server");
        let mut c = plain.clone();
        s_tx.protect_rtcp(&mut c).unwrap();
        c_rx.unprotect_rtcp(&mut c).unwrap();
        assert_eq!(c, plain);
        assert!(
            !format!("{c_tx:?}").contains("00010203"),
            "Debug is redacted"
        );
    }
}

/// S-3: a sender refuses to reuse a packet index (keystream reuse), and the slice API reports missing tail
/// room instead of writing past the buffer.
#[test]
fn s_3_sender_index_reuse_and_tail_room() {
    let (mut tx, _) = pair(SrtpProfile::Aes128CmHmacSha1_80, &Config::default());
    let mut p = rtp(10, 5, 0, None, b"abc", 0);
    tx.protect_rtp(&mut p).unwrap();
    let mut p = rtp(10, 5, 0, None, b"abc", 0);
    assert_eq!(tx.protect_rtp(&mut p), Err(SrtpError::ReplayDuplicate));
    let mut buf = rtp(11, 5, 0, None, b"abc", 0);
    let n = buf.len();
    buf.resize(n + 9, 0);
    assert_eq!(
        tx.protect_rtp_in(&mut buf, n),
        Err(SrtpError::BufferTooSmall)
    );
    buf.resize(n + 10, 0);
    assert_eq!(tx.protect_rtp_in(&mut buf, n), Ok(n + 10));
}

/// A replay window configured to 1024 accepts a packet 1000 behind the newest and refuses one 1024 behind.
#[test]
fn s_3_replay_window_1024() {
    let cfg = Config::default().replay_window(1024);
    let (mut tx, mut rx) = pair(SrtpProfile::AeadAes128Gcm, &cfg);
    let mut pkts: Vec<Vec<u8>> = (0..1100u16)
        .map(|s| {
            let mut p = rtp(s, 5, 0, None, b"abc", 0);
            tx.protect_rtp(&mut p).unwrap();
            p
        })
        .collect();
    let mut last = pkts[1099].clone();
    rx.unprotect_rtp(&mut pkts[0]).unwrap();
    rx.unprotect_rtp(&mut last).unwrap();
    rx.unprotect_rtp(&mut pkts[99]).unwrap();
    assert_eq!(
        rx.unprotect_rtp(&mut pkts[75]),
        Err(SrtpError::ReplayTooOld)
    );
    let (_, mut rx64) = pair(SrtpProfile::AeadAes128Gcm, &Config::default());
    let mut a = pkts[1098].clone();
    let mut b = pkts[1000].clone();
    rx64.unprotect_rtp(&mut a).unwrap();
    assert_eq!(rx64.unprotect_rtp(&mut b), Err(SrtpError::ReplayTooOld));
}
