//! The `dtlsrtp` binary run as a process: demo flows, exit codes, tools.
#![allow(clippy::expect_used)] // a test helper: failing to spawn the binary is a test failure

use std::process::{Command, Output};

fn dtlsrtp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dtlsrtp"))
        .args(args)
        .output()
        .expect("run dtlsrtp")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// F-5.8, F-5.14, D-4.2b: Bob's ClientHello arrives before his answer; Alice's keys stay gated until the answer's
/// fingerprint matches; media authenticates both ways across a sequence wrap.
#[test]
fn demo_basic_verifies_both_fingerprints_and_media_both_ways() {
    let o = dtlsrtp(&["demo", "--packets", "60", "--pace-ms", "0"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("ClientHello from"), "{out}");
    assert!(
        out.contains("gate AwaitingFingerprint"),
        "Alice's handshake must finish before the answer: {out}"
    );
    assert!(
        out.contains("verified by Alice") && out.contains("verified by Bob"),
        "{out}"
    );
    assert!(!out.contains("NOT verified"), "{out}");
    assert!(
        out.contains("Alice -> Bob: 60 RTP sent, 60 authenticated, 0 lost, 0 failed"),
        "{out}"
    );
    assert!(
        out.contains("Bob -> Alice: 60 RTP sent, 60 authenticated, 0 lost, 0 failed"),
        "{out}"
    );
    assert!(out.contains("SRTCP 1/1"), "{out}");
    assert!(out.contains("DTLS client: Bob"), "{out}");
    // The ClientHello line comes before the answer line in the ladder.
    let hello = out.find("DTLS ClientHello").expect("ClientHello in ladder");
    let answer = out.find("SDP answer").expect("answer in ladder");
    assert!(hello < answer, "{out}");
}

#[test]
fn demo_passive_answer_makes_alice_the_client() {
    let o = dtlsrtp(&[
        "demo",
        "--scenario",
        "passive",
        "--packets",
        "20",
        "--pace-ms",
        "0",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("DTLS client: Alice"), "{out}");
}

/// Every profile and both key types negotiate and carry media.
#[test]
fn demo_each_profile_and_rsa() {
    for profile in [
        "SRTP_AES128_CM_SHA1_80",
        "SRTP_AES128_CM_SHA1_32",
        "SRTP_AEAD_AES_128_GCM",
        "SRTP_AEAD_AES_256_GCM",
    ] {
        let o = dtlsrtp(&[
            "demo",
            "--packets",
            "10",
            "--pace-ms",
            "0",
            "--profiles",
            profile,
        ]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(0), "{profile}: {out}");
        let want: dtlsrtp_srtp::SrtpProfile = profile.parse().unwrap();
        assert!(out.contains(&format!("SRTP profile: {want}")), "{out}");
    }
    let o = dtlsrtp(&[
        "demo",
        "--packets",
        "10",
        "--pace-ms",
        "0",
        "--key-type",
        "rsa",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// F-5.15: a rewritten fingerprint tears the media down; no media is delivered; exit code 5.
#[test]
fn demo_mitm_fingerprint_mismatch_exits_5_without_media() {
    let o = dtlsrtp(&[
        "demo",
        "--scenario",
        "mitm",
        "--packets",
        "10",
        "--pace-ms",
        "0",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(5), "{out}");
    assert!(out.contains("FINGERPRINT MISMATCH"), "{out}");
    assert!(!out.contains("first SRTP packet authenticated"), "{out}");
}

#[test]
fn bad_usage_exits_2_with_a_message() {
    let o = dtlsrtp(&["demo", "--scenario", "nonsense"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("nonsense"));
    let o = dtlsrtp(&["demo", "--profiles", "SRTP_BOGUS"]);
    assert_eq!(o.status.code(), Some(2));
    let o = dtlsrtp(&["no-such-command"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn fingerprint_and_sdp_offer_tools() {
    let o = dtlsrtp(&["fingerprint"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let sha256 = out
        .lines()
        .find(|l| l.starts_with("a=fingerprint:sha-256 "))
        .expect("sha-256 line");
    assert_eq!(sha256.len(), "a=fingerprint:sha-256 ".len() + 95);

    let o = dtlsrtp(&["sdp", "offer", "--port", "41000"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let sdp = dtlsrtp_sdp::Sdp::parse(out.as_bytes()).expect("our offer parses");
    assert!(out.contains("m=audio 41000 UDP/TLS/RTP/SAVP 0"), "{out}");
    assert!(out.contains("a=setup:actpass"), "{out}");
    assert!(out.contains("a=tls-id:"), "{out}");
    assert_eq!(sdp.media().len(), 1);
}
