//! RTCP hygiene on SIP calls (RFC 3550 §6; issue 13): SR NTP timestamps are wall-clock time (the driver's
//! anchor, [`Config::wall_clock`]); received reception reports become [`Event::RtcpReport`] with the RTT; an
//! RTCP BYE goes out when a call ends and the peer sees it ([`Event::RtcpBye`]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{has, incoming, Net};
use dtlsrtp::{CallId, CallOptions, Config, Event};

pub fn setup(net: &mut Net, a_cfg: Config, b_cfg: Config) -> (usize, usize, CallId, CallId) {
    let a = net.add(a_cfg);
    let b = net.add(b_cfg);
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

/// Audio both ways every 20 ms for `secs` seconds; every event of both sides.
pub fn talk(
    net: &mut Net,
    (a, ca): (usize, CallId),
    (b, cb): (usize, CallId),
    secs: u32,
) -> (Vec<Event>, Vec<Event>) {
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    for n in 0..secs * 50 {
        let now = net.now;
        net.ep(a)
            .send_audio(now, ca, 0, n * 160, &[0xff; 160])
            .unwrap();
        net.ep(b)
            .send_audio(now, cb, 0, n * 160, &[0xff; 160])
            .unwrap();
        net.run_for(Duration::from_millis(20));
        ea.extend(net.take(a));
        eb.extend(net.take(b));
    }
    (ea, eb)
}

/// Seconds between the NTP epoch (1900) and the Unix epoch.
const NTP_UNIX: u64 = 2_208_988_800;

/// RFC 3550 §6.4.1: the SR's NTP timestamp is wall-clock time from the configured anchor, not a count from 0.
#[test]
fn rtcp_sr_ntp_timestamp_is_wall_clock() {
    let mut net = Net::new();
    let unix = Duration::from_secs(1_800_000_000);
    let mut cfg = Net::config("alice", 5060, 1);
    cfg.wall_clock = Some((net.now, unix));
    let (a, b, ca, cb) = setup(&mut net, cfg, Net::config("bob", 5070, 2));
    let (_, eb) = talk(&mut net, (a, ca), (b, cb), 12);
    let ntp: Vec<u64> = eb
        .iter()
        .filter_map(|e| match e {
            Event::Stats { report, .. } => report.sender_info.map(|s| s.ntp >> 32),
            _ => None,
        })
        .collect();
    assert!(!ntp.is_empty(), "alice sent SRs");
    for s in ntp {
        assert!(
            (unix.as_secs() + NTP_UNIX..unix.as_secs() + NTP_UNIX + 60).contains(&s),
            "NTP seconds {s}"
        );
    }
}

/// RFC 3550 §6.4.1: the peer's reports about our media arrive as Event::RtcpReport, with the round-trip time
/// once a block echoes one of our SRs.
#[test]
fn rtcp_reception_reports_become_events_with_rtt() {
    let mut net = Net::new();
    let (a, b, ca, cb) = setup(
        &mut net,
        Net::config("alice", 5060, 1),
        Net::config("bob", 5070, 2),
    );
    let (ea, _) = talk(&mut net, (a, ca), (b, cb), 16);
    let reports: Vec<_> = ea
        .iter()
        .filter_map(|e| match e {
            Event::RtcpReport { call, report, .. } if *call == ca => Some(report.clone()),
            _ => None,
        })
        .collect();
    assert!(!reports.is_empty(), "{ea:?}");
    assert!(reports.iter().any(|r| r.rtt.is_some()), "{reports:?}");
    assert!(reports.iter().all(|r| r.cumulative_lost == 0));
}

/// RFC 3550 §6.6: ending a call sends an RTCP BYE on its association before close_notify, and it reaches the
/// peer (which reports it) — the side that hangs up and the side that receives the SIP BYE alike.
#[test]
fn rtcp_bye_on_hangup_reaches_the_peer() {
    for hangup_by_callee in [false, true] {
        let mut net = Net::new();
        let (a, b, ca, cb) = setup(
            &mut net,
            Net::config("alice", 5060, 1),
            Net::config("bob", 5070, 2),
        );
        talk(&mut net, (a, ca), (b, cb), 1);
        let (by, call, other) = if hangup_by_callee {
            (b, cb, a)
        } else {
            (a, ca, b)
        };
        let now = net.now;
        net.ep(by).hangup(now, call).unwrap();
        net.run();
        let (e_by, e_other) = (net.take(by), net.take(other));
        assert!(has(&e_by, |e| matches!(e, Event::Terminated { .. })));
        assert!(has(&e_other, |e| matches!(e, Event::Terminated { .. })));
        // the side that hangs up sends its RTCP BYE ahead of the SIP BYE: the peer sees it
        assert!(
            has(&e_other, |e| matches!(e, Event::RtcpBye { .. })),
            "callee hangs up: {hangup_by_callee}: {e_other:?}"
        );
    }
}
