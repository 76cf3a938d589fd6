//! Loss, reordering, duplication and small MTUs (RFC 6347 §4.2.4 retransmission, §4.2.3 fragmentation).
//! Real time: OpenSSL's timers run on its own clock, so the initial timer is 20 ms.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use dtlsrtp_dtls::{KeyType, State};
use dtlsrtp_srtp::SrtpProfile;

#[test]
fn rfc6347_drop_each_flight_once_including_the_final_flight() {
    for cookie in [true, false] {
        let flights = if cookie { 6 } else { 4 };
        for lost in 0..flights {
            let cc = config(cert(KeyType::EcdsaP256, 0));
            let mut sc = config(cert(KeyType::EcdsaP256, 1));
            sc.cookie_exchange = cookie;
            let (mut c, mut s) = pair(&cc, &sc);
            let out = run_pair(
                &mut c,
                &mut s,
                |w| {
                    if w.burst == lost {
                        Fate::Drop
                    } else {
                        Fate::Deliver
                    }
                },
                false,
                Duration::from_secs(5),
            );
            assert_keys_match(&out, SrtpProfile::AeadAes128Gcm);
            assert!(
                out.bursts > flights,
                "flight {lost} was retransmitted (cookie={cookie})"
            );
            assert_eq!((c.state(), s.state()), (State::Connected, State::Connected));
        }
    }
}

#[test]
fn rtpengine_1310_retransmitted_final_flight_is_answered_after_connect() {
    // The server's last flight (ChangeCipherSpec + Finished) is lost twice: the server is already connected
    // and must still answer the client's retransmitted Finished flight each time.
    let cc = config(cert(KeyType::EcdsaP256, 0));
    let sc = config(cert(KeyType::EcdsaP256, 1));
    let (mut c, mut s) = pair(&cc, &sc);
    let mut final_flights = 0;
    let out = run_pair(
        &mut c,
        &mut s,
        |w| {
            // Server bursts after the ServerHello flight: the final flight and its retransmissions.
            if w.dir == 1 && w.burst >= 5 && w.index == 0 {
                final_flights += 1;
            }
            if w.dir == 1 && w.burst >= 5 && final_flights <= 2 {
                Fate::Drop
            } else {
                Fate::Deliver
            }
        },
        false,
        Duration::from_secs(5),
    );
    assert_keys_match(&out, SrtpProfile::AeadAes128Gcm);
    assert!(
        final_flights >= 3,
        "server answered each retransmission: {final_flights}"
    );
}

#[test]
fn rfc6347_mtu_300_every_datagram_fits_and_reordered_fragments_reassemble() {
    for kind in [KeyType::Rsa2048, KeyType::EcdsaP256] {
        let mut cc = config(cert(kind, 0));
        let mut sc = config(cert(kind, 1));
        cc.mtu = 300;
        sc.mtu = 300;
        let (mut c, mut s) = pair(&cc, &sc);
        // Every burst is delivered in reverse order: fragments arrive last-first.
        let out = run_pair(&mut c, &mut s, deliver_all, true, Duration::from_secs(5));
        assert_keys_match(&out, SrtpProfile::AeadAes128Gcm);
        let max = out.sizes.iter().copied().max().unwrap();
        assert!(max <= 300, "largest datagram {max}");
        assert!(
            out.sizes.len() > 8,
            "the certificate flights were fragmented"
        );
    }
}

#[test]
fn duplicated_datagrams_are_harmless() {
    let mut cc = config(cert(KeyType::Rsa2048, 0));
    cc.mtu = 400;
    let sc = config(cert(KeyType::EcdsaP256, 1));
    let (mut c, mut s) = pair(&cc, &sc);
    let out = run_pair(
        &mut c,
        &mut s,
        |_| Fate::Duplicate,
        false,
        Duration::from_secs(5),
    );
    assert_keys_match(&out, SrtpProfile::AeadAes128Gcm);
}

#[test]
fn seeded_random_loss_duplication_and_reordering() {
    for seed in 1..=6u64 {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % 100
        };
        let mut cc = config(cert(KeyType::EcdsaP256, 0));
        let mut sc = config(cert(KeyType::Rsa2048, 1));
        cc.mtu = 350;
        sc.mtu = 350;
        let (mut c, mut s) = pair(&cc, &sc);
        let out = run_pair(
            &mut c,
            &mut s,
            |_| match rnd() {
                0..=19 => Fate::Drop,
                20..=29 => Fate::Duplicate,
                _ => Fate::Deliver,
            },
            seed % 2 == 0,
            Duration::from_secs(8),
        );
        assert_keys_match(&out, SrtpProfile::AeadAes128Gcm);
        assert!(out.sizes.iter().all(|&n| n <= 350));
    }
}
