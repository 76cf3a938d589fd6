//! Self-tests of the headless Chromium harness with the real browser (independent of our media port): two
//! Chromium peers connect through SDP passed by the test, inside one private network namespace with only `lo`.

use dtlsrtp_sdp::{Sdp, Setup};
use dtlsrtp_testkit::chromium::{
    self, ChromiumPeer, HarnessError, Mode, Options, Stats, CONNECT_TIMEOUT,
};

fn on_loopback(addr: &str) -> bool {
    addr.starts_with("127.0.0.1:") || addr.starts_with("[::1]:") || addr.starts_with("::1:")
}

/// Chromium offers, a second Chromium answers; the SDP goes through this test. Both getStats show DTLS
/// connected, an SRTP cipher, a selected pair on 127.0.0.1 and audio packets received.
#[test]
fn chromium_harness_two_browsers_exchange_srtp_audio() {
    if !chromium::available()
        || !chromium::in_private_netns("chromium_harness_two_browsers_exchange_srtp_audio")
    {
        return;
    }
    let t0 = std::time::Instant::now();
    let opts = Options::default();
    let mut offerer = ChromiumPeer::start(Mode::Offer, &opts).unwrap();
    let mut answerer = ChromiumPeer::start(Mode::Answer, &opts).unwrap();
    eprintln!(
        "chromium {} started twice in {:?}",
        offerer.version(),
        t0.elapsed()
    );

    let offer = offerer.local_offer().unwrap();
    let answer = answerer.answer_offer(&offer).unwrap();
    offerer.apply_answer(&answer).unwrap();

    // Both directions: each side's outbound counter and its inbound one (the counters of one sample may lag
    // each other by a few packets, and the first samples may show one without the other).
    let both_ways = |s: &Stats| s.media_flowing() && s.outbound_packets_sent > 0;
    let a = offerer.wait_stats(CONNECT_TIMEOUT, both_ways).unwrap();
    let b = answerer.wait_stats(CONNECT_TIMEOUT, both_ways).unwrap();
    eprintln!(
        "media flowing after {:?}\n offerer: {a:?}\n answerer: {b:?}",
        t0.elapsed()
    );
    for s in [&a, &b] {
        assert_eq!(s.dtls_state.as_deref(), Some("connected"));
        assert!(
            s.srtp_cipher
                .as_deref()
                .is_some_and(|c| c.starts_with("SRTP_") || c.starts_with("AEAD_")),
            "{s:?}"
        );
        assert!(
            s.inbound_packets_received > 0 && s.inbound_bytes_received > 0,
            "{s:?}"
        );
        let pair = s.selected_pair.as_ref().expect("a selected candidate pair");
        assert_eq!(pair.state, "succeeded");
        assert!(
            on_loopback(&pair.local) && on_loopback(&pair.remote),
            "{pair:?}"
        );
    }
    // actpass in the offer: the answerer picks a role and the offerer takes the other one.
    let roles = [a.dtls_role.as_deref(), b.dtls_role.as_deref()];
    assert!(
        roles == [Some("server"), Some("client")] || roles == [Some("client"), Some("server")],
        "{roles:?}"
    );

    // The final lines come after a close request, and both node processes exit 0 (browser closed).
    let fa = offerer.finish().unwrap();
    let fb = answerer.finish().unwrap();
    assert!(fa.is_final && fb.is_final);
    assert!(
        fa.inbound_packets_received >= a.inbound_packets_received,
        "{fa:?}"
    );
    assert!(
        fb.inbound_packets_received >= b.inbound_packets_received,
        "{fb:?}"
    );
    assert!(
        fa.outbound_packets_sent >= a.outbound_packets_sent,
        "{fa:?}"
    );
    assert!(
        fb.outbound_packets_sent >= b.outbound_packets_sent,
        "{fb:?}"
    );
    eprintln!("whole test inside the namespace: {:?}", t0.elapsed());
}

/// Chromium's offer, parsed by `dtlsrtp-sdp`: ICE credentials, a sha-256 fingerprint, `a=setup:actpass`,
/// rtcp-mux, and host candidates on loopback only (the namespace has only `lo`).
#[test]
fn chromium_harness_offer_parses_with_dtlsrtp_sdp() {
    if !chromium::available()
        || !chromium::in_private_netns("chromium_harness_offer_parses_with_dtlsrtp_sdp")
    {
        return;
    }
    let opts = Options {
        stats_seconds: 0,
        ..Options::default()
    };
    let mut browser = ChromiumPeer::start(Mode::Offer, &opts).unwrap();
    let offer = browser.local_offer().unwrap();
    let sdp = Sdp::parse(offer.as_bytes()).unwrap();

    assert_eq!(sdp.media().len(), 1, "audio only: one m-line");
    assert_eq!(sdp.media()[0].media_line().media, "audio");
    let ufrag = sdp.media_ice_ufrag(0).expect("a=ice-ufrag");
    let pwd = sdp.media_ice_pwd(0).expect("a=ice-pwd");
    assert!(
        ufrag.len() >= 4 && pwd.len() >= 22,
        "ICE credentials too short: {ufrag} / {} chars",
        pwd.len()
    );
    let fps = sdp.media_fingerprints(0);
    assert!(
        fps.iter()
            .any(|f| f.hash().name() == "sha-256" && f.digest().len() == 32),
        "{fps:?}"
    );
    assert_eq!(sdp.media_setup(0), Some(Setup::ActPass));
    assert!(sdp.media()[0].rtcp_mux());
    let candidates: Vec<_> = sdp.media()[0]
        .attributes()
        .filter_map(|a| match a {
            dtlsrtp_sdp::Attribute::Candidate(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert!(
        candidates
            .iter()
            .any(|c| c.transport.eq_ignore_ascii_case("udp")),
        "{candidates:?}"
    );
    assert!(
        candidates
            .iter()
            .all(|c| c.address == "127.0.0.1" || c.address == "::1"),
        "{candidates:?}"
    );

    // Answer nothing: closing ends the run; the peer reports it waited for an answer and got none.
    drop(browser);
}

/// What Chromium requires of an answer (NOTES.md): `a=setup:actpass` in an answer is rejected, and the harness
/// reports the browser's refusal as `HarnessError::Peer` instead of hanging.
#[test]
fn chromium_harness_reports_an_answer_chromium_rejects() {
    if !chromium::available()
        || !chromium::in_private_netns("chromium_harness_reports_an_answer_chromium_rejects")
    {
        return;
    }
    let opts = Options {
        stats_seconds: 5,
        ..Options::default()
    };
    let mut offerer = ChromiumPeer::start(Mode::Offer, &opts).unwrap();
    let mut answerer = ChromiumPeer::start(Mode::Answer, &opts).unwrap();
    let answer = answerer
        .answer_offer(&offerer.local_offer().unwrap())
        .unwrap();
    assert!(answer.contains("a=setup:active\r\n"), "{answer}");
    offerer
        .apply_answer(&answer.replace("a=setup:active\r\n", "a=setup:actpass\r\n"))
        .unwrap();
    match offerer.next_stats(CONNECT_TIMEOUT) {
        Err(HarnessError::Peer { message, .. }) => {
            eprintln!("rejected as expected: {message}");
            assert!(
                message.contains("setRemoteDescription") || message.contains("answer"),
                "{message}"
            );
        }
        other => panic!("an actpass answer must be rejected, got {other:?}"),
    }
}

/// Dropping a peer whose node process no longer responds (stopped with SIGSTOP) kills node and every browser
/// process it started, by PID, within the bound, and removes the peer's temporary directory.
#[test]
fn chromium_harness_drop_kills_a_hung_peer_and_its_browser() {
    if !chromium::available()
        || !chromium::in_private_netns("chromium_harness_drop_kills_a_hung_peer_and_its_browser")
    {
        return;
    }
    let browser = ChromiumPeer::start(Mode::Answer, &Options::default()).unwrap();
    let node = browser.pid();
    let mut pids = chromium::descendants(node);
    assert!(pids.len() >= 2, "chromium processes under node: {pids:?}");
    pids.push(node);
    let tmp_dirs = || {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("dtlsrtp-chromium-{}-", std::process::id()))
            })
            .count()
    };
    assert_eq!(tmp_dirs(), 1);
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &node.to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());

    let t = std::time::Instant::now();
    drop(browser);
    let took = t.elapsed();
    assert!(
        took < std::time::Duration::from_secs(8),
        "drop took {took:?}"
    );
    // Killed processes are gone once reaped; the browser's children are reaped by init: allow a moment.
    let alive = |p: &u32| {
        std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while pids.iter().any(alive) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let left: Vec<_> = pids.iter().filter(|p| alive(p)).collect();
    assert!(left.is_empty(), "still alive after drop: {left:?}");
    assert_eq!(tmp_dirs(), 0, "the peer's temporary directory is removed");
    eprintln!(
        "hung peer: {} processes killed, drop took {took:?}",
        pids.len()
    );
}
