//! Best effort (B-3, A.23 R-ALLOW-RTP; RFC 5763 §6.11, RFC 5939) against real baresip without `mediaenc`
//! (plain RTP only), processes on 127.0.0.1: `--srtp-policy best-effort` gives a plain-RTP call with audio
//! both ways and a summary that says NOT encrypted; `secure-only` (the default) refuses the same call.
#![allow(clippy::disallowed_methods)] // tests: real processes, sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use dtlsrtp_testkit::peers::baresip::{AnswerMode, Baresip, MediaEnc};
use dtlsrtp_testkit::peers::free_port;
use dtlsrtp_testkit::require_peer;

mod common;
use common::{text, Running};

const REFUSED: &str = "refused by --srtp-policy secure-only";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(args: &[&str], limit: Duration) -> Output {
    Running::spawn(args).wait(limit)
}

/// baresip that only does plain RTP/AVP (no `mediaenc` module), sending a 440 Hz tone.
fn plain_baresip(user: &str, mode: AnswerMode) -> Option<Baresip> {
    if !require_peer("baresip", "baresip") {
        return None;
    }
    Some(
        Baresip::builder(user)
            .answermode(mode)
            .mediaenc(MediaEnc::None)
            .tone_hz(440)
            .sip_trace(true)
            .start()
            .unwrap(),
    )
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Our side of a plain call: exit 0, the NOT-encrypted warning event, a summary with `encrypted: false`, no
/// SRTP profile or DTLS role, packets both ways, and baresip's 440 Hz tone in our recording (Goertzel).
fn assert_plain_call(o: &Output, rec: &Path, peer: &Baresip) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\nbaresip log:\n{}",
        text(o),
        peer.log().read()
    );
    let events = json_lines(o);
    let warning = events
        .iter()
        .find(|e| e["event"] == "media_security")
        .unwrap_or_else(|| panic!("no media_security warning: {}", text(o)));
    assert!(
        warning["text"].as_str().unwrap().contains(
            "media is NOT encrypted (the peer answered plain RTP; --srtp-policy best-effort)"
        ),
        "{warning}"
    );
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary", "{}", text(o));
    assert_eq!(summary["encrypted"], false, "{summary}");
    assert_eq!(summary["profile"], serde_json::Value::Null, "{summary}");
    assert_eq!(summary["dtls_role"], serde_json::Value::Null, "{summary}");
    assert!(
        summary["outcome"]
            .as_str()
            .unwrap()
            .contains("NOT encrypted"),
        "{summary}"
    );
    assert!(summary["packets_in"].as_u64().unwrap() > 50, "{summary}");
    assert!(summary["packets_out"].as_u64().unwrap() > 50, "{summary}");
    let t = run(&["wav", "tone", s(rec), "440"], Duration::from_secs(10));
    assert_eq!(t.status.code(), Some(0), "{}", text(&t));
    let t = run(&["wav", "tone", s(rec), "1000"], Duration::from_secs(10));
    assert_eq!(
        t.status.code(),
        Some(6),
        "we sent 1000 Hz, we must not hear it: {}",
        text(&t)
    );
}

/// baresip's side: it received our RTP (plain, so nothing to decrypt) — its end-of-call RTP counters.
fn assert_peer_received(peer: &mut Baresip) {
    peer.wait_rtp_received(Duration::from_secs(5)).unwrap();
    peer.wait_terminated(Duration::from_secs(10)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let stats = peer
        .rtp_stats()
        .unwrap_or_else(|| panic!("no rtp stats:\n{}", peer.log().read()));
    assert!(stats.rx_packets > 50, "{stats:?}");
    assert!(stats.tx_packets > 50, "{stats:?}");
}

/// B-3 (a): `call --srtp-policy best-effort` to plain baresip: plain-RTP call, audio both ways, not encrypted.
#[test]
fn b3_best_effort_call_to_plain_baresip_is_a_plain_call_with_audio_both_ways() {
    let Some(mut bob) = plain_baresip("bob", AnswerMode::Auto) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("heard.wav");
    let o = run(
        &[
            "call",
            &bob.uri(),
            "--srtp-policy",
            "best-effort",
            "--json",
            "--config-dir",
            s(dir.path()),
            "--tone",
            "1000",
            "--record",
            s(&rec),
            "--duration",
            "3",
            "--timeout",
            "10",
        ],
        Duration::from_secs(30),
    );
    assert_plain_call(&o, &rec, &bob);
    assert_peer_received(&mut bob);
    // The offer was RFC 5939 best effort: RTP/AVP with DTLS-SRTP as a capability.
    let offer = bob.remote_sdp().unwrap_or_default();
    assert!(
        offer.contains("RTP/AVP") && offer.contains("a=tcap"),
        "{offer}"
    );
}

/// B-3 (a), text mode: the human summary carries the warning line too.
#[test]
fn b3_best_effort_call_prints_the_not_encrypted_warning_in_text_mode() {
    let Some(bob) = plain_baresip("bob", AnswerMode::Auto) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        &[
            "call",
            &bob.uri(),
            "--srtp-policy",
            "best-effort",
            "--config-dir",
            s(dir.path()),
            "--duration",
            "2",
            "--timeout",
            "10",
        ],
        Duration::from_secs(30),
    );
    let out = text(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}\nbaresip:\n{}",
        bob.log().read()
    );
    assert!(
        out.contains("WARNING: media is NOT encrypted (the peer answered plain RTP; --srtp-policy best-effort)"),
        "{out}"
    );
    assert!(
        out.contains("summary: media both ways, NOT encrypted"),
        "{out}"
    );
}

/// B-3 (b): the same call under `secure-only` (the default) is refused, in words naming the policy.
#[test]
fn b3_secure_only_call_to_plain_baresip_is_refused() {
    let Some(bob) = plain_baresip("bob", AnswerMode::Auto) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        &[
            "call",
            &bob.uri(),
            "--config-dir",
            s(dir.path()),
            "--duration",
            "3",
            "--timeout",
            "10",
        ],
        Duration::from_secs(30),
    );
    let out = text(&o);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{out}\nbaresip:\n{}",
        bob.log().read()
    );
    assert!(out.contains(REFUSED), "{out}");
}

/// B-3 (c): plain baresip calls `answer --srtp-policy best-effort`: plain call, audio both ways, not encrypted.
#[test]
fn b3_plain_baresip_calls_best_effort_answer_with_audio_both_ways() {
    let Some(mut alice) = plain_baresip("alice", AnswerMode::Manual) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("heard.wav");
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let answer = Running::spawn(&[
        "answer",
        "--listen",
        &listen,
        "--srtp-policy",
        "best-effort",
        "--json",
        "--config-dir",
        s(dir.path()),
        "--tone",
        "1000",
        "--record",
        s(&rec),
        "--duration",
        "3",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    alice.dial(&format!("sip:bob@{listen}")).unwrap();
    let o = answer.wait(Duration::from_secs(30));
    assert_plain_call(&o, &rec, &alice);
    assert_peer_received(&mut alice);
}

/// B-3 (c): under `secure-only` the plain offer gets 488 Not Acceptable Here (RFC 5763 §6.11).
#[test]
fn b3_secure_only_answer_rejects_plain_baresip_with_488() {
    let Some(mut alice) = plain_baresip("alice", AnswerMode::Manual) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let answer = Running::spawn(&[
        "answer",
        "--listen",
        &listen,
        "--config-dir",
        s(dir.path()),
        "--duration",
        "3",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    alice.dial(&format!("sip:bob@{listen}")).unwrap();
    alice.wait_terminated(Duration::from_secs(10)).unwrap();
    let got_488 = alice
        .received()
        .iter()
        .any(|m| m.is_response(488, Some("INVITE")));
    assert!(got_488, "baresip:\n{}", alice.log().read());
    assert!(
        alice.rtp_stats().is_none_or(|s| s.rx_packets == 0),
        "no media on a refused call"
    );
    drop(answer);
}
