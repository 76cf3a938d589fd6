//! RTCP hygiene on SIP calls (RFC 3550 §6; issue 13): SR NTP timestamps are wall-clock time (the driver's
//! anchor, [`Config::wall_clock`]); received reception reports become [`Event::RtcpReport`] with the RTT; an
//! RTCP BYE goes out when a call ends and the peer sees it ([`Event::RtcpBye`]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{has, incoming, Net};
use dtlsrtp::{CallId, CallOptions, Config, Event};

fn setup(net: &mut Net, a_cfg: Config, b_cfg: Config) -> (usize, usize, CallId, CallId) {
    setup_with(net, a_cfg, b_cfg, CallOptions::default())
}

fn setup_with(
    net: &mut Net,
    a_cfg: Config,
    b_cfg: Config,
    opts: CallOptions,
) -> (usize, usize, CallId, CallId) {
    let a = net.add(a_cfg);
    let b = net.add(b_cfg);
    let now = net.now;
    let ca = net.ep(a).dial(now, "sip:bob@127.0.0.1:5070", opts).unwrap();
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
fn talk(
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
            Event::RtcpReport { call, report, .. } if *call == ca => Some(*report),
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

fn strip_mux(t: &mut dtlsrtp::Transmit) {
    // same length: Content-Length stays right; an unknown attribute is ignored
    let (from, to) = (&b"a=rtcp-mux\r\n"[..], &b"a=x-nomux1\r\n"[..]);
    if let Some(i) = t.bytes.windows(from.len()).position(|w| w == from) {
        t.bytes[i..i + from.len()].copy_from_slice(to);
    }
}

/// SRTCP sent from `from`: (packet type of the first packet, sender SSRC) from the clear header.
fn srtcp_from(net: &Net, from: std::net::SocketAddr) -> Vec<(u8, u32)> {
    net.log
        .iter()
        .filter(|(f, _, b)| {
            *f == from && b.len() >= 8 && b[0] >> 6 == 2 && (200..=204).contains(&b[1])
        })
        .map(|(_, _, b)| (b[1], u32::from_be_bytes([b[4], b[5], b[6], b[7]])))
        .collect()
}

/// D-3b, RFC 5761 §5.1.3, RFC 5764 §4.1: a UAC offer answered without rtcp-mux: each side's RTCP (SRs under
/// the call's RTP SSRC) travels on the second component only, the RTP port sends none, and round trips are
/// measured across the two ports.
#[test]
fn rtcp_without_mux_uac_offer_reports_on_the_second_component() {
    nomux(CallOptions::default());
}

/// D-3b with a delayed offer: the UAS's offer in its 200 carries `a=rtcp:PORT`, the caller refuses rtcp-mux in
/// its ACK answer (with its own `a=rtcp:PORT`): RTCP on the second component both ways, as above.
#[test]
fn rtcp_without_mux_uas_delayed_offer_reports_on_the_second_component() {
    let mut opts = CallOptions::default();
    opts.delayed_offer = true;
    nomux(opts);
}

fn nomux(opts: CallOptions) {
    let mut net = Net::new();
    net.mangle = Some(Box::new(strip_mux));
    let (a, b, ca, cb) = setup_with(
        &mut net,
        Net::config("alice", 5060, 1),
        Net::config("bob", 5070, 2),
        opts,
    );
    let (ea, eb) = talk(&mut net, (a, ca), (b, cb), 16);
    for (me, call, peer_events, my_events) in [(a, ca, &eb, &ea), (b, cb, &ea, &eb)] {
        let st = net.ep(me).stats(call).unwrap();
        let my_ssrc = peer_events
            .iter()
            .find_map(|e| match e {
                Event::Rtp { ssrc, .. } => Some(*ssrc),
                _ => None,
            })
            .expect("RTP arrived");
        let peer = if me == a { b } else { a };
        let peer_call = if me == a { cb } else { ca };
        let peer_rtcp = net.ep(peer).stats(peer_call).unwrap().rtcp_associations;
        assert_eq!(peer_rtcp.len(), 1, "an RTCP-component association");
        let my_rtcp_port = peer_rtcp[0].remote;
        assert_ne!(my_rtcp_port, st.local);
        assert!(
            srtcp_from(&net, st.local).is_empty(),
            "no RTCP on the RTP port"
        );
        let on_rtcp = srtcp_from(&net, my_rtcp_port);
        assert!(
            on_rtcp.iter().any(|p| p.0 == 200),
            "SRs on the second component"
        );
        assert!(
            on_rtcp.iter().all(|p| p.1 == my_ssrc),
            "under the call's SSRC {my_ssrc:#x}: {on_rtcp:x?}"
        );
        assert!(has(
            peer_events,
            |e| matches!(e, Event::Stats { report, .. } if report.sender_ssrc == my_ssrc)
        ));
        assert!(
            has(
                my_events,
                |e| matches!(e, Event::RtcpReport { report, .. } if report.rtt.is_some())
            ),
            "RTT measured across the two ports"
        );
    }
}

/// D-3b across a rekey (F-6.8): after a renewing re-offer on a non-muxed call, the new RTP port hands its
/// reports to the RTCP component too; no RTCP leaves the new RTP port.
#[test]
fn rtcp_without_mux_survives_rekey_onto_a_new_port() {
    let mut net = Net::new();
    net.mangle = Some(Box::new(strip_mux));
    let (a, b, ca, cb) = setup(
        &mut net,
        Net::config("alice", 5060, 1),
        Net::config("bob", 5070, 2),
    );
    let now = net.now;
    net.ep(a).rekey(now, ca).unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::Modified { renewed: true, .. }
    )));
    let (_, eb) = talk(&mut net, (a, ca), (b, cb), 12);
    let new_local = net.ep(a).stats(ca).unwrap().local;
    assert!(
        srtcp_from(&net, new_local).is_empty(),
        "no RTCP on the renewed RTP port"
    );
    let a_rtcp = net.ep(b).stats(cb).unwrap().rtcp_associations[0].remote;
    let ssrc_now = eb
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::Rtp { ssrc, .. } => Some(*ssrc),
            _ => None,
        })
        .unwrap();
    assert!(
        has(
            &eb,
            |e| matches!(e, Event::Stats { report, .. } if report.sender_ssrc == ssrc_now)
        ),
        "SRs for the renewed port's SSRC reach bob"
    );
    assert!(srtcp_from(&net, a_rtcp).iter().any(|p| p.1 == ssrc_now));
}
