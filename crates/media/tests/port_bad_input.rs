//! Bad input on a media port (issue 5): garbage in every demultiplexer class, STUN with a wrong
//! MESSAGE-INTEGRITY or FINGERPRINT, and a bounded flood of SRTP with unknown SSRCs while real media flows
//! (D-7.4). Nothing panics, nothing ends the call, real media is unaffected, and everything is counted.
#![allow(clippy::disallowed_methods)] // tests: OpenSSL's timers run on the real clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use dtlsrtp_media::ice::{IceConfig, IceCredentials, IceRole};
use dtlsrtp_media::stun::{MessageBuilder, MessageType, TransactionId};
use dtlsrtp_media::MediaEvent;

fn media_still_flows(w: &mut World, first: u32) {
    let before = (w.eps[0].rtp().len(), w.eps[1].rtp().len());
    for i in first..first + 20 {
        let now = w.now;
        w.eps[0]
            .port
            .send_rtp(now, FORK, 0, false, i, &i.to_be_bytes())
            .unwrap();
        w.eps[1]
            .port
            .send_rtp(now, FORK, 0, false, i, &i.to_be_bytes())
            .unwrap();
        w.run_for(Duration::from_millis(20));
    }
    w.run_for(Duration::from_millis(50));
    assert_eq!(w.eps[0].rtp().len(), before.0 + 20);
    assert_eq!(w.eps[1].rtp().len(), before.1 + 20);
}

#[test]
fn m_7_garbage_in_every_demux_class_from_peer_and_stranger_no_panic_call_survives() {
    let mut w = established_pair(30);
    media_still_flows(&mut w, 0);
    let mut rng = TestRng(99);
    let events_before = w.eps[0].events.len();
    for first in 0..=255u8 {
        for len in [1usize, 2, 12, 13, 20, 40, 100, 300, 1500] {
            let mut d = rng.bytes(len);
            d[0] = first;
            for from in [addr(B_ADDR), addr("10.6.6.6:6666")] {
                let now = w.now;
                w.eps[0].port.handle_datagram(now, from, &d);
            }
        }
    }
    w.run_for(Duration::from_millis(50));
    // The association survived; nothing but (possibly) RTCP arrived as events.
    assert_eq!(w.eps[0].port.associations().len(), 1);
    assert!(w.eps[0].events[events_before..]
        .iter()
        .all(|(_, e)| matches!(e, MediaEvent::Rtcp { .. })));
    let c = w.eps[0].port.counters();
    assert!(c.demux.total() > 0 && c.stun_bad > 0 && c.dtls_refused > 0);
    assert!(c.unknown_ssrc_dropped + c.malformed_media + c.ssrc_refused > 0);
    media_still_flows(&mut w, 100);
}

fn binding_request(key: Option<&[u8]>, username: &str) -> Vec<u8> {
    let mut b = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([7; 12]));
    b.username(username).priority(1).ice_controlling(5);
    if let Some(k) = key {
        b.message_integrity(k);
    }
    b.fingerprint();
    b.finish().unwrap()
}

#[test]
fn stun_wrong_integrity_or_fingerprint_is_refused_without_answer() {
    // With ICE: a request whose MESSAGE-INTEGRITY was made with the wrong password is not answered.
    let mut w = World::new(31, dtlsrtp_testkit::netsim::LinkConfig::default());
    w.add(port_config(0, addr(A_ADDR)));
    let now = w.now;
    let creds = IceCredentials::new("abcd", "0123456789012345678901").unwrap();
    w.eps[0]
        .port
        .enable_ice(now, IceConfig::default(), Some(creds), IceRole::Controlled);
    let stranger = addr("10.0.0.9:9");
    let good = binding_request(Some(b"0123456789012345678901"), "abcd:wxyz");
    let wrong_key = binding_request(Some(b"not-the-password-at-all"), "abcd:wxyz");
    let mut bad_fp = good.clone();
    let n = bad_fp.len();
    bad_fp[n - 1] ^= 1; // FINGERPRINT CRC no longer matches
    for d in [&wrong_key, &bad_fp] {
        w.eps[0].port.handle_datagram(now, stranger, d);
        w.flush();
    }
    assert!(
        w.eps[0]
            .sent
            .iter()
            .all(|(_, t)| t.bytes.get(..2) != Some(&[1, 1])),
        "no success response"
    );
    let ice = w.eps[0].port.ice().unwrap().stats();
    assert_eq!(ice.requests_accepted, 0);
    assert!(
        w.eps[0].port.counters().stun_bad >= 1,
        "bad FINGERPRINT refused at decode"
    );
    // The control: the correctly signed request is answered.
    w.eps[0].port.handle_datagram(now, stranger, &good);
    w.flush();
    assert_eq!(w.eps[0].port.ice().unwrap().stats().requests_accepted, 1);

    // Without ICE: a bad FINGERPRINT is refused (no answer), a good unauthenticated request answered.
    let mut w = established_pair(32);
    let now = w.now;
    let plain = binding_request(None, "x:y");
    let mut broken = plain.clone();
    let n = broken.len();
    broken[n - 2] ^= 0x40;
    w.eps[0].port.handle_datagram(now, stranger, &broken);
    assert_eq!(w.eps[0].port.counters().stun_answered, 0);
    assert_eq!(w.eps[0].port.counters().stun_bad, 1);
    w.eps[0].port.handle_datagram(now, stranger, &plain);
    assert_eq!(w.eps[0].port.counters().stun_answered, 1);
}

#[test]
fn d_7_4_flood_of_10000_unknown_ssrc_packets_while_real_media_flows() {
    let mut w = established_pair(33);
    let mut rng = TestRng(7);
    let b_ssrc = w.eps[1].port.local_ssrc();
    let real = 500u32;
    let mut flood = 0u32;
    for i in 0..real {
        let now = w.now;
        w.eps[1]
            .port
            .send_rtp(now, FORK, 0, false, i * 160, &i.to_be_bytes().repeat(40))
            .unwrap();
        // 20 forged packets per real one: random SSRCs (one reusing B's SSRC once it is mapped), from B and from a stranger.
        for k in 0..20 {
            let mut d = vec![0x80, 0x00];
            d.extend_from_slice(&rng.bytes(2));
            d.extend_from_slice(&rng.bytes(4));
            let ssrc = if k == 0 && i > 0 {
                b_ssrc
            } else {
                rng.next() as u32
            };
            d.extend_from_slice(&ssrc.to_be_bytes());
            d.extend_from_slice(&rng.bytes(176));
            let from = if k % 2 == 0 {
                addr(B_ADDR)
            } else {
                addr("10.6.6.6:6666")
            };
            w.eps[0].port.handle_datagram(now, from, &d);
            flood += 1;
        }
        w.run_for(Duration::from_millis(20));
    }
    w.run_for(Duration::from_millis(100));
    assert_eq!(flood, 10_000);
    let got: Vec<u32> = w.eps[0].rtp().iter().map(|r| payload_index(r)).collect();
    assert_eq!(got, (0..real).collect::<Vec<_>>(), "real media unaffected");
    let c = w.eps[0].port.counters();
    let a = &w.eps[0].port.associations()[0];
    assert_eq!(a.counters.packets_in, u64::from(real));
    // The forged packets with B's SSRC: refused by the replay check (random sequence far behind) or the tag.
    assert_eq!(
        a.counters.auth_failures + a.counters.replays,
        u64::from(real - 1)
    );
    assert!(a.counters.auth_failures > 0);
    assert_eq!(
        c.unknown_ssrc_dropped + c.ssrc_refused,
        u64::from(10_000 - (real - 1))
    );
    assert_eq!(a.ssrcs, vec![b_ssrc], "no forged SSRC was mapped");
}

/// A probe port's first ClientHello to A, and its second one, carrying the cookie A gave the probe's own
/// address `from` (A answers statelessly; nothing is created).
fn probe_hellos(w: &mut World, from: &str) -> (Vec<u8>, Vec<u8>) {
    let now = w.now;
    let mut probe = dtlsrtp_media::MediaPort::new(now, port_config(2, addr(from))).unwrap();
    probe
        .set_peer(
            now,
            FORK,
            peer(
                dtlsrtp_srtp::DtlsRole::Client,
                addr(A_ADDR),
                vec![fingerprint(0)],
            ),
        )
        .unwrap();
    let ch1 = probe.poll_transmit().unwrap().bytes;
    w.eps[0].port.handle_datagram(now, addr(from), &ch1);
    let hvr = std::iter::from_fn(|| w.eps[0].port.poll_transmit())
        .find(|t| t.remote == addr(from))
        .expect("a HelloVerifyRequest");
    assert_eq!(hvr.bytes[13], 3);
    probe.handle_datagram(now, addr(A_ADDR), &hvr.bytes);
    let ch2 = probe.poll_transmit().unwrap().bytes;
    (ch1, ch2)
}

fn start_call(w: &mut World) {
    let now = w.now;
    w.eps[0]
        .port
        .set_peer(
            now,
            FORK,
            peer(
                dtlsrtp_srtp::DtlsRole::Server,
                addr(B_ADDR),
                vec![fingerprint(1)],
            ),
        )
        .unwrap();
    w.eps[1]
        .port
        .set_peer(
            now,
            FORK,
            peer(
                dtlsrtp_srtp::DtlsRole::Client,
                addr(A_ADDR),
                vec![fingerprint(0)],
            ),
        )
        .unwrap();
}

#[test]
fn a_r_dos_client_hello_flood_from_many_addresses_does_not_lock_the_port() {
    let mut w = World::new(34, dtlsrtp_testkit::netsim::LinkConfig::default());
    let mut cfg = port_config(0, addr(A_ADDR));
    cfg.max_associations = 4;
    w.add(cfg);
    w.add(port_config(1, addr(B_ADDR)));
    w.eps[0].port.listen(true);
    // A real ClientHello (from another port of ours) replayed from 50 spoofed addresses: HelloVerifyRequests
    // only, no state.
    let (hello, _) = probe_hellos(&mut w, "10.0.0.7:7");
    let now = w.now;
    for i in 0..50u16 {
        w.eps[0]
            .port
            .handle_datagram(now, addr(&format!("10.66.0.1:{}", 1000 + i)), &hello);
    }
    w.flush();
    assert!(w.eps[0].port.associations().is_empty());
    assert_eq!(w.eps[0].port.counters().hello_verify_sent, 51);
    // The real peer still gets through.
    start_call(&mut w);
    assert!(
        w.run_until_pred(Duration::from_secs(5), |w| w.eps[0].verified(FORK)
            && w.eps[1].verified(FORK))
    );
    media_still_flows(&mut w, 0);
}

/// 5,000 ClientHellos per second from 200 source ports: half first ClientHellos, half carrying a genuine cookie
/// of another address (so they look like a second ClientHello).
struct Flood {
    sent: u64,
    hellos: [Vec<u8>; 2],
}

impl Flood {
    fn burst(&mut self, w: &mut World, n: u64) {
        let now = w.now;
        for _ in 0..n {
            let port = 20_000 + (self.sent % 200) as u16;
            let from = addr(&format!("10.66.0.1:{port}"));
            let hello = &self.hellos[(self.sent % 2) as usize];
            w.eps[0].port.handle_datagram(now, from, hello);
            self.sent += 1;
        }
    }
}

#[test]
fn r_1_client_hello_flood_5000_per_s_from_200_ports_during_setup_and_call_creates_no_state() {
    let mut w = World::new(35, dtlsrtp_testkit::netsim::LinkConfig::default());
    w.add(port_config(0, addr(A_ADDR)));
    w.add(port_config(1, addr(B_ADDR)));
    w.eps[0].port.listen(true);
    let (ch1, ch2) = probe_hellos(&mut w, "10.0.0.7:7");
    let base = w.eps[0].port.counters();
    let mut flood = Flood {
        sent: 0,
        hellos: [ch1.clone(), ch2],
    };
    // Call setup under the flood: 50 ClientHellos every 10 ms.
    flood.burst(&mut w, 50);
    start_call(&mut w);
    let mut up = false;
    for _ in 0..300 {
        flood.burst(&mut w, 50);
        w.run_for(Duration::from_millis(10));
        if w.eps[0].verified(FORK) && w.eps[1].verified(FORK) {
            up = true;
            break;
        }
    }
    assert!(up, "the call set up during the flood");
    // The call under the flood: 2 s of media both ways, 100 ClientHellos every 20 ms.
    let before = (w.eps[0].rtp().len(), w.eps[1].rtp().len());
    for i in 0..100u32 {
        let now = w.now;
        w.eps[0]
            .port
            .send_rtp(now, FORK, 0, false, i, &i.to_be_bytes())
            .unwrap();
        w.eps[1]
            .port
            .send_rtp(now, FORK, 0, false, i, &i.to_be_bytes())
            .unwrap();
        flood.burst(&mut w, 100);
        w.run_for(Duration::from_millis(20));
    }
    w.run_for(Duration::from_millis(50));
    assert_eq!(w.eps[0].rtp().len(), before.0 + 100, "media kept flowing");
    assert_eq!(w.eps[1].rtp().len(), before.1 + 100);
    assert!(flood.sent >= 10_000);
    // The flood created no association: only B's.
    let assocs = w.eps[0].port.associations();
    assert_eq!(assocs.len(), 1, "{assocs:?}");
    assert_eq!(assocs[0].remote, addr(B_ADDR));
    // Until B's association was verified every flood ClientHello got a stateless HelloVerifyRequest, no larger
    // than the ClientHello; once it was, the port is locked and refuses them without a word. Either way no
    // state, and the counters explain every one.
    let c = w.eps[0].port.counters();
    let hvr = c.hello_verify_sent - base.hello_verify_sent;
    let locked_out = c.dtls_refused - base.dtls_refused;
    assert!(
        hvr > 0 && locked_out > 0,
        "{hvr} HelloVerifyRequests, {locked_out} refused"
    );
    assert!(
        hvr + locked_out >= flood.sent && hvr + locked_out <= flood.sent + 5,
        "{hvr} HelloVerifyRequests + {locked_out} refused for {} flood ClientHellos (plus B's first)",
        flood.sent
    );
    assert!(c.hello_bad_cookie - base.hello_bad_cookie <= hvr);
    assert_eq!(c.handshakes_refused, 0);
    assert_eq!(c.hello_malformed, 0);
    assert_eq!(c.handshakes_evicted, 0);
    let to_flood: Vec<_> = w.eps[0]
        .sent
        .iter()
        .filter(|(_, t)| t.remote.ip() == addr("10.66.0.1:1").ip())
        .collect();
    assert!(to_flood.len() as u64 <= hvr);
    assert!(to_flood
        .iter()
        .all(|(_, t)| t.bytes[13] == 3 && t.bytes.len() < ch1.len()));
}

#[test]
fn r_1_cookie_verified_handshakes_bounded_per_ip_and_in_total_never_evicted() {
    let mut w = World::new(36, dtlsrtp_testkit::netsim::LinkConfig::default());
    let mut cfg = port_config(0, addr(A_ADDR));
    cfg.max_associations = 3;
    cfg.max_handshakes_per_ip = 2;
    w.add(cfg);
    w.add(port_config(1, addr(B_ADDR)));
    w.eps[0].port.listen(true);
    // An attacker that does receive at its addresses: 5 ports of 10.0.0.9 and 5 of 10.0.0.8, each with the
    // genuine cookie of its own address (cookies are stateless: fetched before the call).
    let mut attackers = Vec::new();
    for ip in ["10.0.0.9", "10.0.0.8"] {
        for p in 0..5 {
            let from = format!("{ip}:{}", 7000 + p);
            let (_, ch2) = probe_hellos(&mut w, &from);
            attackers.push((from, ch2));
        }
    }
    assert!(w.eps[0].port.associations().is_empty());
    // The real peer's handshake starts first (its cookie verifies), then the attacker strikes.
    start_call(&mut w);
    assert!(w.run_until_pred(Duration::from_secs(1), |w| !w.eps[0]
        .port
        .associations()
        .is_empty()));
    assert_eq!(
        w.eps[0].port.associations()[0].dtls,
        dtlsrtp_dtls::State::Handshaking
    );
    let base = w.eps[0].port.counters();
    let now = w.now;
    for (from, ch2) in &attackers {
        w.eps[0].port.handle_datagram(now, addr(from), ch2);
    }
    let c = w.eps[0].port.counters();
    let from_attackers = |w: &World| {
        w.eps[0]
            .port
            .associations()
            .iter()
            .filter(|a| a.remote.ip() != addr(B_ADDR).ip())
            .count()
    };
    // At most 2 per IP and 3 in total: B's pending handshake plus 2 of the attacker's.
    assert_eq!(from_attackers(&w), 2, "{:?}", w.eps[0].port.associations());
    assert_eq!(
        c.handshakes_refused - base.handshakes_refused,
        10 - from_attackers(&w) as u64
    );
    assert_eq!(c.handshakes_evicted, 0);
    // Nothing was evicted: the real call sets up and carries media.
    assert!(
        w.run_until_pred(Duration::from_secs(5), |w| w.eps[0].verified(FORK)
            && w.eps[1].verified(FORK))
    );
    media_still_flows(&mut w, 0);
}
