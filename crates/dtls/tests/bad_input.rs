//! Untrusted input never panics: random bytes, truncated records, garbage after the handshake, a refused
//! renegotiation, mutated ClientHellos through the stateless cookie check. The association stays usable
//! or fails with a typed error.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use dtlsrtp_dtls::{Association, DtlsError, Event, KeyType, State};
use dtlsrtp_srtp::{DtlsRole, SrtpProfile};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Random datagrams, half of them with a plausible DTLS record header so they reach deeper code.
fn garbage(rng: &mut Rng, i: usize) -> Vec<u8> {
    let len = (rng.next() % 1500) as usize;
    let mut d = rng.bytes(len);
    if i % 2 == 0 && d.len() >= 13 {
        d[0] = 20 + (rng.next() % 4) as u8; // ccs, alert, handshake, application_data
        d[1] = 0xfe;
        d[2] = 0xfd;
        d[3] = 0;
        d[4] = (rng.next() % 2) as u8; // epoch 0 or 1
        let body = (d.len() - 13) as u16;
        d[11..13].copy_from_slice(&body.to_be_bytes());
        if i % 4 == 0 && d.len() > 25 {
            d[13] = (rng.next() % 24) as u8; // a handshake type
        }
    }
    d
}

fn assert_typed(a: &Association) {
    match a.state() {
        State::Handshaking | State::Connected => {}
        // Any variant is typed; `Other { 0, 0 }` would mean OpenSSL failed without saying why.
        State::Failed(e) => assert_ne!(
            e,
            DtlsError::Other {
                library: 0,
                reason: 0
            }
        ),
        State::Closed => {}
        other => panic!("unexpected state {other:?}"),
    }
}

#[test]
fn random_bytes_before_the_handshake_then_a_real_handshake() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let cc = config(cert(KeyType::EcdsaP256, 0));
    let sc = config(cert(KeyType::EcdsaP256, 1));
    let (mut c, mut s) = pair(&cc, &sc);
    for i in 0..2000 {
        let d = garbage(&mut rng, i);
        s.handle_datagram(Instant::now(), &d);
        assert_typed(&s);
        while s.poll_transmit().is_some() {}
    }
    // The server either dropped it all and still completes a handshake, or failed with a typed error.
    if s.state() == State::Handshaking {
        let out = run_pair(&mut c, &mut s, deliver_all, false, Duration::from_secs(5));
        assert_keys_match(&out, SrtpProfile::AeadAes128Gcm);
    } else {
        assert_typed(&s);
    }
    // And a client fed garbage mid-handshake.
    let (mut c, mut s) = pair(&cc, &sc);
    for i in 0..2000 {
        c.handle_datagram(Instant::now(), &garbage(&mut rng, i));
        assert_typed(&c);
    }
    if c.state() == State::Handshaking {
        let out = run_pair(&mut c, &mut s, deliver_all, false, Duration::from_secs(5));
        assert_keys_match(&out, SrtpProfile::AeadAes128Gcm);
    }
}

#[test]
fn truncated_records_are_dropped_and_the_handshake_completes() {
    let mut cc = config(cert(KeyType::Rsa2048, 0));
    cc.mtu = 500;
    let sc = config(cert(KeyType::EcdsaP256, 1));
    let (mut c, mut s) = pair(&cc, &sc);
    let start = Instant::now();
    let mut events = [Vec::new(), Vec::new()];
    let mut truncated = 0;
    while start.elapsed() < Duration::from_secs(5) {
        let mut moved = false;
        for dir in 0..2 {
            let (from, to) = if dir == 0 {
                (&mut c, &mut s)
            } else {
                (&mut s, &mut c)
            };
            while let Some(d) = from.poll_transmit() {
                moved = true;
                for cut in [1, 5, 12, 13, 14, d.len() / 2, d.len().saturating_sub(1)] {
                    if cut < d.len() {
                        to.handle_datagram(Instant::now(), &d[..cut]);
                        truncated += 1;
                        assert_typed(to);
                    }
                }
                to.handle_datagram(Instant::now(), &d);
            }
        }
        for (i, a) in [&mut c, &mut s].into_iter().enumerate() {
            while let Some(e) = a.poll_event() {
                events[i].push(e);
            }
        }
        if c.state() == State::Connected && s.state() == State::Connected {
            break;
        }
        if !moved {
            std::thread::sleep(Duration::from_millis(5));
            c.handle_timeout(Instant::now());
            s.handle_timeout(Instant::now());
        }
    }
    assert!(truncated > 20);
    assert_eq!(
        (c.state(), s.state()),
        (State::Connected, State::Connected),
        "{events:?}"
    );
}

#[test]
fn garbage_after_the_handshake_leaves_the_association_usable() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let cc = config(cert(KeyType::EcdsaP256, 0));
    let sc = config(cert(KeyType::EcdsaP256, 1));
    let (mut c, mut s) = pair(&cc, &sc);
    let out = run_pair(&mut c, &mut s, deliver_all, false, Duration::from_secs(5));
    assert_keys_match(&out, SrtpProfile::AeadAes128Gcm);
    let mut replies = 0;
    for i in 0..10000 {
        let d = garbage(&mut rng, i);
        let target = if i % 2 == 0 { &mut c } else { &mut s };
        target.handle_datagram(Instant::now(), &d);
        assert_eq!(target.state(), State::Connected, "datagram {i} {:02x?}", d);
        // Forged records are dropped silently (RFC 6347 §4.1.2.7); a forged epoch-0 handshake message may
        // legitimately trigger a retransmission of our last flight or a no_renegotiation alert.
        while let Some(reply) = target.poll_transmit() {
            replies += 1;
            assert!(
                (20..=23).contains(&reply[0]) && reply.len() <= 1200,
                "{reply:02x?}"
            );
        }
        assert!(target.poll_event().is_none());
    }
    eprintln!(
        "{replies} replies; discarded after handshake: client {}, server {}",
        c.records_discarded(),
        s.records_discarded()
    );
    // Still usable: a close_notify goes through and is recognised.
    c.close(Instant::now());
    while let Some(d) = c.poll_transmit() {
        s.handle_datagram(Instant::now(), &d);
    }
    assert_eq!(s.poll_event(), Some(Event::Closed));
}

#[allow(unsafe_code)]
extern "C" {
    // int SSL_renegotiate(SSL *s); in libssl, not declared by openssl-sys.
    fn SSL_renegotiate(s: *mut openssl_sys::SSL) -> std::ffi::c_int;
}

#[test]
#[allow(unsafe_code)]
fn renegotiation_attempt_is_refused_cleanly() {
    let pem = cert(KeyType::EcdsaP256, 0).to_pem().unwrap();
    let mut raw = RawPeer::new(
        |b| {
            b.set_tlsext_use_srtp("SRTP_AEAD_AES_128_GCM").unwrap();
            b.set_certificate(&openssl::x509::X509::from_pem(&pem).unwrap())
                .unwrap();
            b.set_private_key(&openssl::pkey::PKey::private_key_from_pem(&pem).unwrap())
                .unwrap();
        },
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
    assert!(raw.done);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Connected(_)))
            .count(),
        1
    );
    // The peer starts a renegotiation (the openssl crate has no wrapper for SSL_renegotiate).
    use foreign_types_shared::ForeignTypeRef;
    // SAFETY: the SSL is live and owned by `raw.stream`; SSL_renegotiate only flags it for a new handshake.
    let r = unsafe { SSL_renegotiate(raw.stream.ssl().as_ptr()) };
    assert_eq!(r, 1);
    raw.done = false;
    raw.step();
    let hello = raw
        .stream
        .get_mut()
        .outbox
        .pop_front()
        .expect("renegotiation ClientHello");
    s.handle_datagram(Instant::now(), &hello);
    // We answer with an alert (no_renegotiation), never a ServerHello, and never export keys again.
    let replies: Vec<Vec<u8>> = std::iter::from_fn(|| s.poll_transmit()).collect();
    assert!(!replies.is_empty(), "refused with an alert");
    assert!(
        replies.iter().all(|d| d[0] == 21),
        "only alert records: {replies:?}"
    );
    let later: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(
        !later.iter().any(|e| matches!(e, Event::Connected(_))),
        "{later:?}"
    );
    assert!(
        matches!(s.state(), State::Connected),
        "we stay up: {:?}",
        s.state()
    );
}

#[test]
fn short_encrypted_record_does_not_stall_the_read_side() {
    // OpenSSL 3.0 stops reading for good after an epoch-1 record shorter than nonce + tag; the association
    // drops such datagrams first, so the peer's close_notify is still recognised afterwards.
    let cc = config(cert(KeyType::EcdsaP256, 0));
    let sc = config(cert(KeyType::EcdsaP256, 1));
    for ty in [20u8, 21, 22, 23] {
        for len in [0usize, 1, 3, 15, 16, 23] {
            let (mut c, mut s) = pair(&cc, &sc);
            let out = run_pair(&mut c, &mut s, deliver_all, false, Duration::from_secs(5));
            assert!(out.connected(0).is_some());
            let mut d = vec![ty, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, len as u8];
            d.extend((0..len).map(|i| i as u8 ^ 0x5a));
            c.handle_datagram(Instant::now(), &d);
            assert_eq!(c.records_discarded(), 1);
            s.close(Instant::now());
            while let Some(x) = s.poll_transmit() {
                c.handle_datagram(Instant::now(), &x);
            }
            assert_eq!(
                c.poll_event(),
                Some(Event::Closed),
                "type {ty} length {len}"
            );
        }
    }
}

#[test]
fn bit_flipped_copies_of_real_handshake_datagrams_never_panic() {
    // Before each real datagram, deliver a copy with one or more flipped bits. The record layer drops most;
    // a corrupted handshake fragment that gets through poisons the transcript, and the handshake then fails
    // with a typed error instead of completing with wrong keys.
    let mut cc = config(cert(KeyType::EcdsaP256, 0));
    let mut sc = config(cert(KeyType::Rsa2048, 1));
    // A poisoned reassembly buffer can only end by the time limit: keep it short.
    cc.handshake_timeout = Duration::from_millis(600);
    sc.handshake_timeout = Duration::from_millis(600);
    let mut connected = 0;
    for seed in 1..=10u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let (mut c, mut s) = pair(&cc, &sc);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            let mut moved = false;
            for dir in 0..2 {
                let (from, to) = if dir == 0 {
                    (&mut c, &mut s)
                } else {
                    (&mut s, &mut c)
                };
                while let Some(d) = from.poll_transmit() {
                    moved = true;
                    let mut bad = d.clone();
                    for _ in 0..=(rng.next() % 3) {
                        let i = (rng.next() as usize) % bad.len();
                        bad[i] ^= 1 << (rng.next() % 8);
                    }
                    to.handle_datagram(Instant::now(), &bad);
                    assert_typed(to);
                    to.handle_datagram(Instant::now(), &d);
                    assert_typed(to);
                }
            }
            let settled = |a: &Association| !matches!(a.state(), State::Handshaking);
            if settled(&c) && settled(&s) {
                break;
            }
            if !moved {
                std::thread::sleep(Duration::from_millis(5));
                c.handle_timeout(Instant::now());
                s.handle_timeout(Instant::now());
            }
        }
        let ev: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
        let sv: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
        let key = |v: &[Event]| {
            v.iter().find_map(|e| match e {
                Event::Connected(k) => Some(k.keys.clone()),
                _ => None,
            })
        };
        eprintln!(
            "seed {seed}: client {:?}, server {:?}",
            c.state(),
            s.state()
        );
        assert!(
            !matches!(c.state(), State::Handshaking) && !matches!(s.state(), State::Handshaking)
        );
        if let (Some(a), Some(b)) = (key(&ev), key(&sv)) {
            assert_eq!(a, b, "a completed handshake always has matching keys");
            connected += 1;
        }
    }
    eprintln!("{connected}/10 handshakes completed despite corrupted copies");
}

#[test]
fn a_r_dos_forged_client_hello_with_wrong_cookie_does_not_kill_the_handshake() {
    // OpenSSL aborts on a cookie mismatch; the association drops such a ClientHello before OpenSSL sees it, so
    // a forged (or stale) copy racing ahead of the genuine one changes nothing.
    let cc = config(cert(KeyType::EcdsaP256, 0));
    let sc = config(cert(KeyType::EcdsaP256, 1));
    let (mut c, mut s) = pair(&cc, &sc);
    let ch1 = c.poll_transmit().unwrap();
    s.handle_datagram(Instant::now(), &ch1);
    let hvr = s.poll_transmit().unwrap();
    assert_eq!(hvr[13], 3, "HelloVerifyRequest");
    c.handle_datagram(Instant::now(), &hvr);
    let ch2 = c.poll_transmit().unwrap();
    let sid = ch2[59] as usize;
    let cookie_len = ch2[60 + sid] as usize;
    assert_eq!(cookie_len, 32);
    let mut forged = ch2.clone();
    forged[61 + sid] ^= 0x01;
    s.handle_datagram(Instant::now(), &forged);
    assert_eq!(s.state(), State::Handshaking);
    assert!(s.poll_transmit().is_none(), "dropped silently");
    assert_eq!(s.records_discarded(), 1);
    s.handle_datagram(Instant::now(), &ch2);
    let out = run_pair(&mut c, &mut s, deliver_all, false, Duration::from_secs(5));
    assert_keys_match(&out, SrtpProfile::AeadAes128Gcm);
}

/// the stateless ClientHello parser (the `client_hello` fuzz target's body) on 30,000 mutations of real
/// first and second ClientHellos (byte flips, truncations, length fields set to extremes, splices): never a
/// panic; the unmutated ones parse consistently; `check_client_hello` answers every mutation.
#[test]
fn r_1_client_hello_parser_never_panics_on_mutated_client_hellos() {
    use dtlsrtp_dtls::{fuzzing, HelloCheck};
    let sc = config(cert(KeyType::EcdsaP256, 1));
    let server = ctx(&sc);
    let cc = config(cert(KeyType::Rsa2048, 0));
    let mut c = Association::new(
        &ctx(&cc),
        DtlsRole::Client,
        addr(SERVER_ADDR),
        Instant::now(),
    )
    .unwrap();
    let ch1 = c.poll_transmit().unwrap();
    let HelloCheck::Verify { reply, .. } = server.check_client_hello(addr(CLIENT_ADDR), &ch1)
    else {
        panic!()
    };
    c.handle_datagram(Instant::now(), &reply);
    let ch2 = c.poll_transmit().unwrap();
    assert!(fuzzing::client_hello(&ch1) && fuzzing::client_hello(&ch2));
    assert!(
        !fuzzing::client_hello(&reply),
        "a HelloVerifyRequest is no ClientHello"
    );
    let mut rng = Rng(0x5eed_c0de);
    let seeds = [ch1, ch2];
    for i in 0..30_000usize {
        let mut d = seeds[i % 2].clone();
        match i % 5 {
            0 => {
                for _ in 0..1 + rng.next() % 4 {
                    let at = (rng.next() as usize) % d.len();
                    d[at] ^= 1 << (rng.next() % 8);
                }
            }
            1 => d.truncate((rng.next() as usize) % d.len()),
            2 => {
                // A length field (record, handshake, fragment, session_id, cookie) set to an extreme.
                let at = [11usize, 12, 14, 15, 16, 22, 23, 24, 59, 60][(rng.next() % 10) as usize];
                if at < d.len() {
                    d[at] = [0u8, 1, 0x7f, 0xff][(rng.next() % 4) as usize];
                }
            }
            3 => {
                let at = (rng.next() as usize) % d.len();
                let n = (rng.next() % 64) as usize;
                let extra = rng.bytes(n);
                d.splice(at..at, extra);
            }
            _ => {
                let at = (rng.next() as usize) % d.len();
                d.truncate(at);
                let n = (rng.next() % 300) as usize;
                d.extend(rng.bytes(n));
            }
        }
        let _ = fuzzing::client_hello(&d);
        match server.check_client_hello(addr(CLIENT_ADDR), &d) {
            HelloCheck::Verify { reply, .. } => assert!(reply.len() <= 13 + 12 + 3 + 255),
            HelloCheck::Accept | HelloCheck::Refuse(_) => {}
            other => panic!("{other:?}"),
        }
    }
}
