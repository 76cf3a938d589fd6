//! Rekey without loss at the call level (RFC 5763 §6.8, F-6.8, T-5.5c; D-4.4): a renewing re-offer puts the new
//! association on a new port; sending switches to it when it is verified, and the old port keeps decrypting
//! what is in flight under the old keys for the grace period, then it is released. Automatic rekey on the
//! configured interval (MediaEvent::RekeyDue) sends the renewing re-INVITE by itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{has, incoming, Net};
use dtlsrtp::{CallId, CallOptions, Config, Event};

fn setup(net: &mut Net, ca_cfg: Config, cb_cfg: Config) -> (usize, usize, CallId, CallId) {
    let a = net.add(ca_cfg);
    let b = net.add(cb_cfg);
    let now = net.now;
    let ca = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::Established { .. }
    )));
    net.take(b);
    (a, b, ca, cb)
}

/// Counts every received RTP payload (a sequence counter) per value.
fn count_rtp(events: &[Event], seen: &mut BTreeMap<u32, u32>) {
    for e in events {
        if let Event::Rtp { payload, .. } = e {
            let n = u32::from_be_bytes(payload[..4].try_into().unwrap());
            *seen.entry(n).or_default() += 1;
        }
    }
}

fn payload(n: u32) -> Vec<u8> {
    let mut p = n.to_be_bytes().to_vec();
    p.resize(160, 0xff);
    p
}

/// RTP every 2 ms of simulated time both ways, 20 ms one-way delay; `rekeyer` renews the keys 0.5 s in.
/// Returns (packets sent per side, what each side received).
fn paced_rekey(rekey_by_callee: bool) {
    let mut net = Net::new();
    net.media_delay = Some(Duration::from_millis(20));
    let (a, b, ca, cb) = setup(
        &mut net,
        Net::config("alice", 5060, 1),
        Net::config("bob", 5070, 2),
    );
    let before = (
        net.ep(a).stats(ca).unwrap().local,
        net.ep(b).stats(cb).unwrap().local,
    );
    let (mut got_a, mut got_b) = (BTreeMap::new(), BTreeMap::new());
    let mut renewed = (false, false);
    let steps = 1500u32; // 3 s: the grace period (2 s) runs out during the test
    for n in 0..steps {
        let now = net.now;
        if n == 250 {
            if rekey_by_callee {
                net.ep(b).rekey(now, cb).unwrap();
            } else {
                net.ep(a).rekey(now, ca).unwrap();
            }
        }
        net.ep(a)
            .send_audio(now, ca, 0, n * 16, &payload(n))
            .unwrap();
        net.ep(b)
            .send_audio(now, cb, 0, n * 16, &payload(n))
            .unwrap();
        net.run_for(Duration::from_millis(2));
        let (ea, eb) = (net.take(a), net.take(b));
        renewed.0 |= has(&ea, |e| matches!(e, Event::Modified { renewed: true, .. }));
        renewed.1 |= has(&eb, |e| matches!(e, Event::Modified { renewed: true, .. }));
        count_rtp(&ea, &mut got_a);
        count_rtp(&eb, &mut got_b);
    }
    net.run_for(Duration::from_millis(100));
    count_rtp(&net.take(a), &mut got_a);
    count_rtp(&net.take(b), &mut got_b);
    assert!(renewed.0 && renewed.1, "both sides renewed: {renewed:?}");
    let rekeyer = if rekey_by_callee { b } else { a };
    let (rc, old) = if rekey_by_callee {
        (cb, before.1)
    } else {
        (ca, before.0)
    };
    assert_ne!(net.ep(rekeyer).stats(rc).unwrap().local, old, "a new port");
    assert!(
        net.nodes[rekeyer].released.contains(&old),
        "the old port is released after the grace period"
    );
    for (side, got) in [("alice", &got_a), ("bob", &got_b)] {
        let lost: Vec<u32> = (0..steps).filter(|n| !got.contains_key(n)).collect();
        let dup: Vec<(&u32, &u32)> = got.iter().filter(|(_, c)| **c != 1).collect();
        assert!(
            lost.is_empty(),
            "{side} lost {} packets: {lost:?}",
            lost.len()
        );
        assert!(dup.is_empty(), "{side} got duplicates: {dup:?}");
    }
}

/// F-6.8: caller-initiated rekey mid-call at 2 ms pacing, every sequence number received exactly once.
#[test]
fn f_6_8_caller_rekey_mid_call_loses_nothing() {
    paced_rekey(false);
}

/// F-6.8: callee-initiated rekey mid-call at 2 ms pacing, every sequence number received exactly once.
#[test]
fn f_6_8_callee_rekey_mid_call_loses_nothing() {
    paced_rekey(true);
}

/// D-4.4: `Config::rekey_interval` makes the port emit RekeyDue; the endpoint answers it with a renewing
/// re-INVITE by itself and the call goes on with the new association (a new port, media both ways).
#[test]
fn d_4_4_rekey_interval_triggers_renewing_reinvite() {
    let mut net = Net::new();
    let mut cfg = Net::config("alice", 5060, 1);
    cfg.rekey_interval = Some(Duration::from_secs(1));
    let (a, b, ca, cb) = setup(&mut net, cfg, Net::config("bob", 5070, 2));
    let before = net.ep(a).stats(ca).unwrap().local;
    let since = net.log.len();
    net.run_for(Duration::from_millis(1500));
    let (ea, eb) = (net.take(a), net.take(b));
    assert!(
        has(&ea, |e| matches!(e, Event::Modified { renewed: true, .. })),
        "{ea:?}"
    );
    assert!(has(&eb, |e| matches!(
        e,
        Event::Modified { renewed: true, .. }
    )));
    let reinvites = net.log[since..]
        .iter()
        .filter(|(f, _, m)| *f == common::addr(5060) && m.starts_with(b"INVITE "))
        .count();
    assert!(reinvites >= 1, "a re-INVITE");
    assert_ne!(
        net.ep(a).stats(ca).unwrap().local,
        before,
        "new keys, new port"
    );
    let now = net.now;
    net.ep(a).send_audio(now, ca, 0, 1, &payload(7)).unwrap();
    net.ep(b).send_audio(now, cb, 0, 1, &payload(8)).unwrap();
    net.run();
    let (mut got_a, mut got_b) = (BTreeMap::new(), BTreeMap::new());
    count_rtp(&net.take(a), &mut got_a);
    count_rtp(&net.take(b), &mut got_b);
    assert_eq!(got_b.get(&7), Some(&1));
    assert_eq!(got_a.get(&8), Some(&1));
}
