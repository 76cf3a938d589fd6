//! RTCP hygiene on the media port (issue 13): wall-clock NTP in SR (RFC 3550 §6.4.1), a random CNAME per port
//! (RFC 7022), BYE (RFC 3550 §6.6), received-report events with RTT, SSRC collision handling (RFC 3550 §8.2,
//! D-5.1.2d), and RTCP on a second component without rtcp-mux (RFC 5764 §4.1).
#![allow(clippy::disallowed_methods)] // tests: OpenSSL's timers run on the real clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use dtlsrtp_media::port::rtp::{ntp_from_unix, parse_compound};
use dtlsrtp_media::{MediaEvent, RtcpMux};
use dtlsrtp_srtp::DtlsRole;
use dtlsrtp_testkit::netsim::LinkConfig;

const UNIX: Duration = Duration::from_secs(1_765_000_000);

#[test]
fn rfc3550_sr_ntp_timestamp_comes_from_the_wall_clock_anchor() {
    let mut w = established_pair(31);
    let anchor = w.now;
    w.eps[1].port.set_wall_clock(anchor, UNIX);
    assert_eq!(w.eps[1].port.ntp_time(anchor), ntp_from_unix(UNIX));
    send_stream(&mut w, 1, FORK, 60, 0); // 1.2 s: a few SRs at the 500 ms interval
    let srs: Vec<_> = w.eps[0]
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            MediaEvent::Rtcp { report, .. } => report.sender_info.map(|s| (*t, s.ntp)),
            _ => None,
        })
        .collect();
    assert!(!srs.is_empty());
    for (arrived, ntp) in srs {
        // Sent 10 ms (the link latency) before it arrived, on the anchored wall clock.
        let expected = ntp_from_unix(UNIX + (arrived - anchor) - Duration::from_millis(10));
        let diff = ntp.abs_diff(expected) as f64 / 4_294_967_296.0;
        assert!(diff < 0.001, "SR NTP off by {diff} s");
        assert!(ntp >> 32 > 3_900_000_000, "not counted from 0");
    }
}

#[test]
fn rfc7022_cname_is_random_per_port_unless_configured() {
    let mut w = World::new(32, LinkConfig::default());
    let a = w.add(port_config(0, addr(A_ADDR)));
    let b = w.add(port_config(1, addr(B_ADDR)));
    let (ca, cb) = (
        w.eps[a].port.cname().to_owned(),
        w.eps[b].port.cname().to_owned(),
    );
    assert_ne!(ca, cb);
    for c in [&ca, &cb] {
        assert_eq!(c.len(), 32, "128 random bits in hex");
        assert!(c.chars().all(|ch| ch.is_ascii_hexdigit()));
        assert_ne!(c, "dtlsrtp");
    }
    let mut cfg = port_config(2, addr("10.0.0.3:7000"));
    cfg.cname = "call-42@example".to_owned();
    let c = w.add(cfg);
    assert_eq!(w.eps[c].port.cname(), "call-42@example");
    w.eps[c].port.set_cname(ca.clone());
    assert_eq!(w.eps[c].port.cname(), ca);
}

#[test]
fn rfc3550_bye_on_send_bye_and_on_close_fork() {
    let mut w = established_pair(33);
    send_stream(&mut w, 1, FORK, 5, 0);
    let b_ssrc = w.eps[1].port.local_ssrc();
    let now = w.now;
    assert_eq!(w.eps[1].port.send_bye(now, Some(FORK), Some("bye now")), 1);
    w.run_for(Duration::from_millis(50));
    assert!(w.eps[0].has(
        |e| matches!(e, MediaEvent::RtcpBye { bye, fork: Some(f), .. }
        if bye.ssrcs == vec![b_ssrc] && bye.reason.as_deref() == Some("bye now") && *f == FORK)
    ));
    assert_eq!(w.eps[1].port.counters().bye_sent, 1);
    // Hanging up (close_fork) sends a BYE before close_notify.
    let now = w.now;
    w.eps[1].port.close_fork(now, FORK).unwrap();
    w.run_for(Duration::from_millis(50));
    assert_eq!(w.eps[1].port.counters().bye_sent, 2);
    assert_eq!(
        w.eps[0]
            .count(|e| matches!(e, MediaEvent::RtcpBye { bye, .. } if bye.ssrcs == vec![b_ssrc])),
        2
    );
    assert!(w.eps[0].has(|e| matches!(e, MediaEvent::AssociationClosed { .. })));
}

#[test]
fn rfc3550_received_report_events_with_loss_jitter_and_rtt() {
    let mut w = established_pair(34);
    w.net.set_link(LinkConfig {
        latency: Duration::from_millis(10),
        loss: 0.2,
        ..LinkConfig::default()
    });
    let a_ssrc = w.eps[0].port.local_ssrc();
    // Both send (B's SRs give A an LSR to echo; A's stream is what B reports on).
    for i in 0..150u32 {
        let now = w.now;
        for e in 0..2 {
            w.eps[e]
                .port
                .send_rtp(now, FORK, 0, false, i * 160, &[0; 160])
                .unwrap();
        }
        w.run_for(Duration::from_millis(20));
    }
    let reports: Vec<_> = w.eps[0]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            MediaEvent::RtcpReport { report, fork, .. } if *fork == Some(FORK) => Some(*report),
            _ => None,
        })
        .collect();
    assert!(reports.len() >= 3, "{reports:?}");
    assert!(reports
        .iter()
        .all(|r| r.ssrc == a_ssrc && r.reporter_ssrc == w.eps[1].port.local_ssrc()));
    let last = reports.last().unwrap();
    assert!(last.cumulative_lost > 5, "20% of 150 lost: {last:?}");
    assert!(reports.iter().any(|r| r.fraction_lost > 0));
    // RTT = 2 × 10 ms link latency (DLSR removes B's holding time), within DLSR's 1/65536 s resolution.
    let rtts: Vec<Duration> = reports.iter().filter_map(|r| r.rtt).collect();
    assert!(!rtts.is_empty());
    for rtt in rtts {
        assert!(
            rtt.abs_diff(Duration::from_millis(20)) < Duration::from_millis(2),
            "{rtt:?}"
        );
    }
}

#[test]
fn d_5_1_2d_ssrc_collision_changes_our_ssrc_and_sends_bye() {
    let mut w = established_pair(35);
    let a_old = w.eps[0].port.local_ssrc();
    // An unauthenticated packet with our SSRC changes nothing.
    let mut forged = vec![0x80, 0, 0, 1, 0, 0, 0, 1];
    forged.extend_from_slice(&a_old.to_be_bytes());
    forged.extend_from_slice(&[0; 40]);
    let now = w.now;
    w.eps[0].port.handle_datagram(now, addr(B_ADDR), &forged);
    assert_eq!(w.eps[0].port.local_ssrc(), a_old);
    // B (authenticated) starts sending with A's SSRC.
    w.eps[1].port.set_local_ssrc(a_old);
    send_stream(&mut w, 1, FORK, 3, 0);
    let a_new = w.eps[0].port.local_ssrc();
    assert_ne!(a_new, a_old);
    assert!(
        w.eps[0].has(|e| matches!(e, MediaEvent::SsrcChanged { old, new, remote }
        if *old == a_old && *new == a_new && *remote == addr(B_ADDR)))
    );
    let c = w.eps[0].port.counters();
    assert_eq!(c.ssrc_changes, 1);
    assert!(c.bye_sent >= 1);
    // B heard the BYE for the old SSRC; A's media now comes with the new one; B's packets still arrive.
    assert!(
        w.eps[1].has(|e| matches!(e, MediaEvent::RtcpBye { bye, .. } if bye.ssrcs == vec![a_old]))
    );
    send_stream(&mut w, 0, FORK, 3, 10);
    assert!(w.eps[1].rtp().iter().any(|r| r.ssrc == a_new));
    assert_eq!(w.eps[0].rtp().len(), 3);
}

/// Four ports: RTP and RTCP components for A and B, each component with its own DTLS association.
#[test]
fn rfc5764_rtcp_on_the_second_component_without_mux() {
    let mut w = World::new(36, LinkConfig::default());
    let (ar, ac, br, bc) = (
        "10.0.0.1:5000",
        "10.0.0.1:5001",
        "10.0.0.2:6000",
        "10.0.0.2:6001",
    );
    for (k, (n, at)) in [(0, ar), (0, ac), (1, br), (1, bc)].into_iter().enumerate() {
        let mut c = port_config(n, addr(at));
        c.seed = [k as u8 + 10; 32];
        w.add(c);
    }
    let now = w.now;
    for (i, peer_at, role, fp) in [
        (0, br, DtlsRole::Server, 1),
        (1, bc, DtlsRole::Server, 1),
        (2, ar, DtlsRole::Client, 0),
        (3, ac, DtlsRole::Client, 0),
    ] {
        if role == DtlsRole::Server {
            w.eps[i].port.listen(true);
        }
        w.eps[i]
            .port
            .set_peer(now, FORK, peer(role, addr(peer_at), vec![fingerprint(fp)]))
            .unwrap();
    }
    assert!(w.run_until_pred(Duration::from_secs(5), |w| (0..4)
        .all(|i| w.eps[i].verified(FORK))));
    w.eps[0].port.set_rtcp_mux(RtcpMux::RtpComponent);
    w.eps[2].port.set_rtcp_mux(RtcpMux::RtpComponent);
    w.eps[1].port.set_rtcp_mux(RtcpMux::RtcpComponent);
    w.eps[3].port.set_rtcp_mux(RtcpMux::RtcpComponent);
    let start = w.now;
    let mut seen = [0usize; 4];
    let mut clear = Vec::new();
    for i in 0..100u32 {
        let now = w.now;
        for e in [0, 2] {
            w.eps[e]
                .port
                .send_rtp(now, FORK, 0, false, i * 160, &[0; 160])
                .unwrap();
        }
        w.run_for(Duration::from_millis(20));
        // The session layer's shuttle: RTP port's RTCP → RTCP port; RTCP port's SRs → RTP port.
        let now = w.now;
        for (rtp, rtcp) in [(0, 1), (2, 3)] {
            while let Some((fork, pkt)) = w.eps[rtp].port.poll_rtcp() {
                clear.push(pkt.clone());
                w.eps[rtcp].port.send_rtcp(now, fork, &pkt).unwrap();
            }
            let new: Vec<_> = w.eps[rtcp].events[seen[rtcp]..]
                .iter()
                .map(|(_, e)| e.clone())
                .collect();
            seen[rtcp] = w.eps[rtcp].events.len();
            for e in new {
                if let MediaEvent::Rtcp { report, .. } = e {
                    w.eps[rtp].port.note_remote_rtcp(now, &report);
                }
            }
        }
    }
    // No RTCP on the RTP components' 5-tuples after the switch; only SRTP.
    for e in [0, 2] {
        assert!(w.eps[e]
            .sent
            .iter()
            .filter(|(t, _)| *t >= start)
            .all(|(_, t)| t.bytes.get(1) == Some(&0)));
    }
    // The clear compound packets carry the RTP port's SSRC and CNAME.
    let c = parse_compound(&clear[0]).unwrap();
    let r = c.report.unwrap();
    assert!([w.eps[0].port.local_ssrc(), w.eps[2].port.local_ssrc()].contains(&r.sender_ssrc));
    assert!(c
        .cnames
        .iter()
        .any(|(s, n)| *s == r.sender_ssrc
            && (n == w.eps[0].port.cname() || n == w.eps[2].port.cname())));
    // A's RTCP component received B's SRs (for B's RTP SSRC), and reports on A's stream with an RTT.
    let b_ssrc = w.eps[2].port.local_ssrc();
    assert!(
        w.eps[1].has(|e| matches!(e, MediaEvent::Rtcp { report, .. }
        if report.sender_ssrc == b_ssrc && report.sender_info.is_some_and(|s| s.packet_count > 0)))
    );
    let a_ssrc = w.eps[0].port.local_ssrc();
    assert!(
        w.eps[1].has(|e| matches!(e, MediaEvent::RtcpReport { report, .. }
        if report.ssrc == a_ssrc && report.rtt.is_some_and(|r| r.abs_diff(Duration::from_millis(20))
            < Duration::from_millis(25))))
    );
    // Since the switch, the RTCP components sent nothing of their own (no report under their own SSRCs).
    for e in [1, 3] {
        let own = w.eps[e].port.local_ssrc();
        assert!(!w.eps[e ^ 2]
            .events
            .iter()
            .any(|(t, ev)| *t > start + Duration::from_millis(20)
                && matches!(ev, MediaEvent::Rtcp { report, .. } if report.sender_ssrc == own)));
    }
}
