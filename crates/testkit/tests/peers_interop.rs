//! Self-tests of the peer harness with the real peers (Debian `baresip`, `kamailio`) on 127.0.0.1.
//!
//! Under `CI=true` a missing peer fails these tests; elsewhere they skip loudly. Every wait is bounded in
//! seconds; every process is killed by PID when its handle drops, also when an assertion fails.

// The call helper shared by two #[test]s unwraps like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use dtlsrtp_testkit::peers::baresip::{AnswerMode, Baresip, MediaEnc};
use dtlsrtp_testkit::peers::kamailio::Kamailio;
use dtlsrtp_testkit::peers::PeerError;
use dtlsrtp_testkit::require_peer;

const SHORT: Duration = Duration::from_secs(5);
const MEDIA: Duration = Duration::from_secs(8);

/// baresip A calls baresip B directly; both must show the call established, the DTLS-SRTP handshake(s)
/// complete with a verified fingerprint, audio flowing both ways and no SRTP (RTP) decrypt failure; after the
/// hangup both print RTP counters with packets received.
fn direct_call(rtcp_mux: bool) {
    if !require_peer("baresip", "baresip") {
        return;
    }
    let associations = if rtcp_mux { 1 } else { 2 };
    let mut b = Baresip::builder("bob")
        .answermode(AnswerMode::Auto)
        .rtcp_mux(rtcp_mux)
        .tone_hz(1000)
        .start()
        .unwrap();
    let mut a = Baresip::builder("alice")
        .rtcp_mux(rtcp_mux)
        .start()
        .unwrap();
    assert!(a.sip_port().abs_diff(b.sip_port()) >= 10);

    a.dial(&b.uri()).unwrap();
    a.wait_established(SHORT).unwrap();
    b.wait_established(SHORT).unwrap();
    for ua in [&mut a, &mut b] {
        let done = ua.wait_dtls_srtp(associations, SHORT).unwrap();
        assert!(done.contains("Profile=AES_CM_128_HMAC_SHA1_80"), "{done}");
        assert_eq!(ua.fingerprints_verified(), associations);
        assert_eq!(ua.fingerprint_mismatches(), 0);
        let (tx, rx) = ua.wait_media(MEDIA).unwrap();
        assert!(tx > 10_000 && rx > 10_000, "tx {tx} rx {rx} bit/s");
    }
    // Roles of RFC 5763: the offerer (actpass) is the DTLS server, the answerer (active) the client.
    assert_eq!(a.log().count("start DTLS server"), 1);
    assert_eq!(b.log().count("start DTLS client"), 1);
    assert_eq!(
        a.log().count("RTP/RTCP multiplexing enabled"),
        usize::from(rtcp_mux)
    );
    let components = if rtcp_mux {
        vec!["RTP"]
    } else {
        vec!["RTP", "RTCP"]
    };
    for c in &components {
        assert_eq!(
            b.log().count(&format!("'audio,{c}' dtls connect")),
            1,
            "{c}"
        );
    }

    // The SDP each side received: DTLS-SRTP offer (actpass) and answer (active), fingerprints in upper case.
    let offer = b.remote_sdp().unwrap();
    assert!(
        offer.contains("UDP/TLS/RTP/SAVPF") && offer.contains("a=setup:actpass"),
        "{offer}"
    );
    assert!(offer.contains("a=fingerprint:SHA-256 "), "{offer}");
    assert_eq!(offer.contains("a=rtcp-mux"), rtcp_mux, "{offer}");
    let answer = a.remote_sdp().unwrap();
    assert!(answer.contains("a=setup:active"), "{answer}");
    assert_eq!(b.local_sdp().as_deref(), Some(answer.as_str()));

    a.hangup().unwrap();
    a.wait_terminated(SHORT).unwrap();
    b.wait_terminated(SHORT).unwrap();
    for ua in [&a, &b] {
        assert_eq!(ua.decrypt_failures().rtp, 0, "{}", ua.log().tail());
        // Without rtcp-mux baresip sends its first RTCP in clear before the RTCP handshake: at most that one.
        assert!(
            ua.decrypt_failures().rtcp <= usize::from(!rtcp_mux),
            "{:?}",
            ua.decrypt_failures()
        );
        // The counters are printed when the call ends, just after `terminated`: wait for them (bounded).
    }
    a.wait_for("packets:", SHORT).unwrap();
    b.wait_for("packets:", SHORT).unwrap();
    for ua in [&a, &b] {
        let s = ua.rtp_stats().unwrap();
        assert!(s.tx_packets > 20 && s.rx_packets > 20, "{s:?}");
        assert_eq!(s.rx_errors, 0, "{s:?}");
    }
    let (pa, pb) = (a.pid(), b.pid());
    drop(a);
    drop(b);
    for pid in [pa, pb] {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}/status")).exists(),
            "pid {pid} still exists"
        );
    }
}

#[test]
fn harness_baresip_direct_call_dtls_srtp_rtcp_mux() {
    direct_call(true);
}

#[test]
fn harness_baresip_direct_call_dtls_srtp_no_rtcp_mux_two_associations() {
    direct_call(false);
}

/// F-6.3 / T-8a setting: two baresip register one AoR at Kamailio; a third calls the AoR; both ring (parallel
/// fork); the auto-answer one wins with DTLS-SRTP and media; the manual one is CANCELled (487).
#[test]
fn harness_kamailio_parallel_fork_one_answers_other_cancelled() {
    if !require_peer("kamailio", "kamailio") || !require_peer("baresip", "baresip") {
        return;
    }
    let mut k = Kamailio::builder().start().unwrap();
    let aor = k.aor("bob");
    let mut manual = Baresip::builder("bob")
        .domain(&k.domain())
        .register(60)
        .answermode(AnswerMode::Manual)
        .start()
        .unwrap();
    let mut auto = Baresip::builder("bob")
        .domain(&k.domain())
        .register(60)
        .answermode(AnswerMode::Auto)
        .start()
        .unwrap();
    manual.wait_registered(SHORT).unwrap();
    auto.wait_registered(SHORT).unwrap();
    k.wait_registrations(&aor, 2, SHORT).unwrap();

    let mut alice = Baresip::builder("alice").start().unwrap();
    alice.dial(&aor).unwrap();

    // Both forks got the INVITE (through the proxy: Record-Route present) and rang.
    manual.wait_incoming(SHORT).unwrap();
    k.wait_for("extra branches", SHORT).unwrap();
    let relay = k.log().lines_with("dtlsrtp: relay INVITE");
    assert!(
        relay.iter().any(|l| l.contains("with 1 extra branches")),
        "{relay:?}"
    );
    for ua in [&manual, &auto] {
        let invite = ua
            .received()
            .into_iter()
            .find(|m| m.is_request("INVITE"))
            .unwrap();
        assert!(
            invite
                .header("Record-Route")
                .is_some_and(|rr| rr.contains(&k.domain())),
            "{}",
            invite.text
        );
        assert!(ua.sent().iter().any(|m| m.is_response(180, Some("INVITE"))));
    }

    // The auto-answer fork wins; DTLS-SRTP and media flow with alice.
    auto.wait_established(SHORT).unwrap();
    alice.wait_established(SHORT).unwrap();
    alice.wait_dtls_srtp(1, SHORT).unwrap();
    auto.wait_dtls_srtp(1, SHORT).unwrap();
    alice.wait_rtp_received(SHORT).unwrap();
    auto.wait_rtp_received(SHORT).unwrap();

    // The manual fork is cancelled by Kamailio and answers 487; it never established a call.
    k.wait_reply(487, SHORT).unwrap();
    manual
        .wait_for("SIP/2.0 487 Request Terminated", SHORT)
        .unwrap();
    assert!(manual.received().iter().any(|m| m.is_request("CANCEL")));
    assert_eq!(manual.log().count("Call established:"), 0);
    assert_eq!(manual.log().count("DTLS-SRTP complete"), 0);
    let replies = k.replies();
    assert!(
        replies.iter().any(|l| l.contains("reply 200 ")),
        "{replies:?}"
    );
    assert!(alice
        .received()
        .iter()
        .any(|m| m.is_response(200, Some("INVITE"))));

    alice.hangup().unwrap();
    auto.wait_terminated(SHORT).unwrap();
    assert_eq!(
        alice.decrypt_failures().rtp + auto.decrypt_failures().rtp,
        0
    );
}

/// F-6.2 setting, as baresip 1.0 really behaves: `answermode=early` sends 183 with an SDP answer
/// (setup:active, no rtcp-mux although offered) but starts no DTLS until `/accept`; then 200 OK, handshake,
/// media. (So baresip cannot be the early-media answerer in our F-6.2 tests; see baresip-notes.md.)
#[test]
fn harness_baresip_early_answermode_183_then_accept() {
    if !require_peer("baresip", "baresip") {
        return;
    }
    let mut b = Baresip::builder("bob")
        .answermode(AnswerMode::Early)
        .start()
        .unwrap();
    let mut a = Baresip::builder("alice").start().unwrap();
    a.dial(&b.uri()).unwrap();
    a.wait_for("183 Session Progress (application/sdp)", SHORT)
        .unwrap();
    let early = a
        .received()
        .into_iter()
        .find(|m| m.is_response(183, Some("INVITE")))
        .unwrap();
    assert!(
        early.body().contains("a=setup:active") && early.body().contains("a=fingerprint:SHA-256 ")
    );
    assert!(!early.body().contains("a=rtcp-mux"), "{}", early.body());
    // No handshake while early: a bounded wait for one must time out.
    let err = b
        .wait_for("dtls connect to", Duration::from_secs(1))
        .unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(a.log().count("Call established:"), 0);

    b.accept().unwrap();
    b.wait_established(SHORT).unwrap();
    a.wait_established(SHORT).unwrap();
    a.wait_dtls_srtp(1, SHORT).unwrap();
    b.wait_dtls_srtp(1, SHORT).unwrap();
    a.wait_media(MEDIA).unwrap();
    let ok = a
        .received()
        .into_iter()
        .find(|m| m.is_response(200, Some("INVITE")))
        .unwrap();
    assert!(ok.body().contains("a=rtcp-mux"), "{}", ok.body());
}

/// The harness sees a failed call: a plain-RTP baresip rejects a DTLS-SRTP offer with 488, and waiting for
/// `Call established` times out (bounded) instead of hanging.
#[test]
fn harness_baresip_plain_rtp_callee_rejects_dtls_offer() {
    if !require_peer("baresip", "baresip") {
        return;
    }
    let mut b = Baresip::builder("bob")
        .answermode(AnswerMode::Auto)
        .mediaenc(MediaEnc::None)
        .start()
        .unwrap();
    let mut a = Baresip::builder("alice").start().unwrap();
    a.dial(&b.uri()).unwrap();
    b.wait_for("SIP/2.0 488", SHORT).unwrap();
    let err = a.wait_established(Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, PeerError::Timeout { .. }), "{err}");
    assert!(a
        .received()
        .iter()
        .any(|m| m.is_response(488, Some("INVITE"))));
    assert_eq!(a.log().count("DTLS-SRTP complete"), 0);
    assert_eq!(b.log().count("DTLS-SRTP complete"), 0);
}

/// A SIP port already taken is reported as a port clash (a start without a fixed port retries on new ports).
#[test]
#[allow(clippy::disallowed_methods)] // occupies a real port on purpose
fn harness_baresip_port_in_use_is_a_port_clash() {
    if !require_peer("baresip", "baresip") {
        return;
    }
    let port = dtlsrtp_testkit::peers::free_port_block(2).unwrap();
    let _taken = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let err = Baresip::builder("x").sip_port(port).start().unwrap_err();
    assert!(err.is_port_clash(), "{err}");
}

/// Kamailio with digest users: baresip registers with the right password (over UDP and over TCP), a wrong
/// password is refused and never bound.
#[test]
fn harness_kamailio_digest_register_udp_tcp_and_wrong_password() {
    if !require_peer("kamailio", "kamailio") || !require_peer("baresip", "baresip") {
        return;
    }
    let mut k = Kamailio::builder()
        .tcp(true)
        .user("bob", "s3cret")
        .user("carol", "pw2")
        .start()
        .unwrap();
    let mut bob = Baresip::builder("bob")
        .domain(&k.domain())
        .register(60)
        .auth_pass("s3cret")
        .start()
        .unwrap();
    let mut carol = Baresip::builder("carol")
        .domain(&k.domain())
        .transport("tcp")
        .register(60)
        .auth_pass("pw2")
        .start()
        .unwrap();
    let mut eve = Baresip::builder("bob")
        .domain(&k.domain())
        .register(60)
        .auth_pass("wrong")
        .start()
        .unwrap();

    bob.wait_registered(SHORT).unwrap();
    carol.wait_registered(SHORT).unwrap();
    k.wait_registrations(&k.aor("bob"), 1, SHORT).unwrap();
    let carol_reg = k.wait_registrations(&k.aor("carol"), 1, SHORT).unwrap();
    assert!(carol_reg.ends_with("over tcp"), "{carol_reg}");
    // Each REGISTER was first challenged, then sent again with credentials.
    for ua in [&bob, &carol] {
        assert!(ua
            .received()
            .iter()
            .any(|m| m.is_response(401, Some("REGISTER"))
                && m.header("WWW-Authenticate")
                    .is_some_and(|h| h.contains("realm=\"dtlsrtp\""))));
        assert!(ua
            .sent()
            .iter()
            .any(|m| m.header("Authorization").is_some()));
    }
    assert!(
        carol.sent().iter().all(|m| m.transport == "TCP"),
        "{:?}",
        carol.sent().first()
    );

    // The wrong password gets 401 again and is never bound (bounded wait for baresip to give up).
    let denied = |log: &str| log.matches("SIP/2.0 401 Unauthorized").count();
    eve.process()
        .wait_until("a second 401 to REGISTER", SHORT, |log| denied(log) >= 2)
        .unwrap();
    assert!(
        eve.received()
            .iter()
            .filter(|m| m.is_response(401, Some("REGISTER")))
            .count()
            >= 2
    );
    assert!(!eve
        .received()
        .iter()
        .any(|m| m.is_response(200, Some("REGISTER"))));
    assert_eq!(k.log().count("dtlsrtp: register "), 2, "{}", k.log().tail());
}
