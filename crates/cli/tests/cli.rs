//! The `dtlsrtp` binary run as a process: demo flows, exit codes, tools.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)] // test helpers: a failure is a test failure

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

/// F-5.8, F-5.14, D-4.2b, without SIP: Bob's ClientHello arrives before his answer; Alice's keys stay gated
/// until the answer's fingerprint matches; media authenticates both ways across a sequence wrap.
#[test]
fn demo_without_sip_verifies_both_fingerprints_and_media_both_ways() {
    let o = dtlsrtp(&["demo", "--no-sip", "--packets", "60", "--pace-ms", "0"]);
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

fn pos(out: &str, needle: &str) -> usize {
    out.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} missing in:\n{out}"))
}

/// Checks every SIP demo must pass: both fingerprints verified, the first SRTP packet each way, `n` packets
/// each way authenticated with the expected payload, BYE at the end, exit 0.
fn sip_demo(scenario: &str, n: u32) -> String {
    sip_demo_paced(scenario, n, 2, 0)
}

/// [`sip_demo`] with a packet interval and a number of packets each way allowed to be lost.
fn sip_demo_paced(scenario: &str, n: u32, pace_ms: u32, may_lose: u32) -> String {
    let packets = n.to_string();
    let pace = pace_ms.to_string();
    let o = dtlsrtp(&[
        "demo",
        "--scenario",
        scenario,
        "--packets",
        &packets,
        "--pace-ms",
        &pace,
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{scenario}: {out}");
    assert!(out.contains("over SIP/UDP"), "{out}");
    assert!(
        out.contains("verified by Alice") && out.contains("verified by Bob"),
        "{out}"
    );
    assert!(!out.contains("NOT verified"), "{out}");
    assert_eq!(
        out.matches("first SRTP packet authenticated").count(),
        2,
        "{out}"
    );
    for dir in ["Alice -> Bob", "Bob -> Alice"] {
        let ok = (0..=may_lose).any(|lost| {
            out.contains(&format!(
                "{dir}: {n} RTP sent, {} authenticated, {lost} lost, 0 wrong payload",
                n - lost
            ))
        });
        assert!(ok, "{dir}: {n} sent, at most {may_lose} lost: {out}");
    }
    assert!(out.contains("SIP BYE"), "{out}");
    assert!(out.contains("RESULT: SIP call with DTLS-SRTP"), "{out}");
    out
}

/// The default demo over SIP (F-5.8, F-5.14): Alice's INVITE offers actpass; Bob's ClientHello beats his
/// 200 OK (the demo's network holds the 200); Alice's handshake completes with keys gated until the 200's
/// fingerprint matches; then media both ways.
#[test]
fn demo_basic_verifies_both_fingerprints_and_media_both_ways() {
    let out = sip_demo("basic", 60);
    pos(
        &out,
        "SIP INVITE + SDP (UDP/TLS/RTP/SAVP, a=fingerprint, a=setup:actpass)",
    );
    let hello = pos(&out, "DTLS ClientHello");
    let gated = pos(&out, "[Alice] DTLS connected");
    assert!(out[gated..].starts_with("[Alice] DTLS connected") && out.contains("keys gated"));
    let ok = pos(&out, "SIP 200 OK (");
    assert!(
        hello < gated && gated < ok,
        "ClientHello, gated keys, then the 200: {out}"
    );
    assert!(out.contains("a=setup:active"), "{out}");
    assert!(out.contains("DTLS client: Bob"), "{out}");
    assert!(pos(&out, "SIP ACK") > ok);
}

/// F-6.2: Bob's 183 carries his answer; DTLS and SRTP run both ways before his 200.
#[test]
fn demo_early_media_flows_before_the_200() {
    let out = sip_demo("early-media", 40);
    let p183 = pos(&out, "SIP 183 Session Progress");
    let srtp = pos(&out, "first SRTP packet authenticated");
    let ok = pos(&out, "early media done: answers with 200");
    assert!(p183 < srtp && srtp < ok, "{out}");
    pos(&out, "SIP PRACK");
}

/// F-6.4: the INVITE has no SDP; Bob offers in the 200; Alice answers in the ACK.
#[test]
fn demo_delayed_offer_answers_in_the_ack() {
    let out = sip_demo("delayed-offer", 20);
    assert!(out.contains("SIP INVITE ---"), "INVITE without SDP: {out}");
    pos(&out, "SIP 200 OK (");
    pos(
        &out,
        "SIP ACK + SDP (UDP/TLS/RTP/SAVP, a=fingerprint, a=setup:active)",
    );
}

/// A re-INVITE that keeps the association: no second handshake, media continues.
#[test]
fn demo_reinvite_keeps_the_association() {
    let out = sip_demo("reinvite", 40);
    let re = pos(&out, "sends a re-INVITE");
    pos(&out, "association kept, SRTP continues");
    assert!(!out[re..].contains("DTLS ClientHello"), "{out}");
}

/// T-5.1a: a rekeying re-INVITE runs a new handshake on a new port; media continues on the new keys.
#[test]
fn demo_rekey_runs_a_new_handshake() {
    // Real-time pacing; one packet each way may fall into the instant where the sender has switched to the
    // new association and the receiver's new keys are not installed yet (dropped before keys, D-5.1).
    let out = sip_demo_paced("rekey", 60, 20, 1);
    pos(&out, "sends a re-INVITE");
    // The ladder's wire lines come from the driver task and the parties' lines from the demo's task, so the
    // "sends a re-INVITE" note may print after the first datagrams of the new handshake: look for a
    // ClientHello after the second INVITE on the wire.
    let first = pos(&out, "SIP INVITE + SDP");
    let second = first + 1 + pos(&out[first + 1..], "SIP INVITE + SDP");
    assert!(out[second..].contains("DTLS ClientHello"), "{out}");
    pos(&out, "new association (new tls-id, new port) verified");
}

/// F-6.3, T-8a: a forking proxy rings Bob and Carol; both answer 183 with their own certificate and send early
/// SRTP; Alice verifies each fork against its own fingerprint; Bob's 200 wins, Carol's branch is cancelled
/// (487); then media both ways with Bob.
#[test]
fn demo_forking_verifies_each_fork_and_cancels_the_loser() {
    let o = dtlsrtp(&[
        "demo",
        "--scenario",
        "forking",
        "--packets",
        "20",
        "--pace-ms",
        "2",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(out.matches("SIP 183 Session Progress").count(), 2, "{out}");
    assert!(
        out.contains("Carol's certificate") && out.contains("verified by Carol"),
        "{out}"
    );
    assert!(!out.contains("NOT verified"), "{out}");
    let carol_media = pos(
        &out,
        "first SRTP packet authenticated and decrypted (from Carol)",
    );
    let bob_media = pos(
        &out,
        "first SRTP packet authenticated and decrypted (from Bob)",
    );
    let ok = pos(&out, "early media done: answers with 200");
    assert!(
        carol_media < ok && bob_media < ok,
        "early media from both forks first: {out}"
    );
    let cancel = pos(&out, "proxy: CANCEL (another branch answered) [Carol]");
    assert!(ok < cancel, "{out}");
    pos(&out, "SIP 487 Request Terminated");
    assert!(out.contains("Carol: call ended (Cancelled)"), "{out}");
    assert!(
        out.contains("Carol -> Alice: 10 RTP sent, 10 authenticated, 0 lost"),
        "{out}"
    );
    assert!(
        out.contains("Bob -> Alice: 30 RTP sent, 30 authenticated, 0 lost"),
        "{out}"
    );
    assert!(
        out.contains("Alice -> Bob: 20 RTP sent, 20 authenticated, 0 lost"),
        "{out}"
    );
}

/// B-1: Alice offers RTP/AVP with a=tcap for DTLS-SRTP; Bob answers DTLS-SRTP.
#[test]
fn demo_best_effort_negotiates_dtls_srtp() {
    let out = sip_demo("best-effort", 20);
    pos(&out, "SIP INVITE + SDP (RTP/AVP, a=tcap");
    pos(&out, "(UDP/TLS/RTP/SAVP, a=fingerprint, a=setup:active)");
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
        let want: dtlsrtp_types::SrtpProfile = profile.parse().unwrap();
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

/// F-5.15: a rewritten fingerprint in Bob's 200 OK tears the media down and ends the call (BYE); no media is
/// delivered; exit code 5.
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
    assert!(out.contains("a middlebox rewrites a=fingerprint"), "{out}");
    assert!(!out.contains("first SRTP packet authenticated"), "{out}");
    assert!(out.contains("SIP BYE"), "{out}");
    // Without SIP, likewise.
    let o = dtlsrtp(&[
        "demo",
        "--no-sip",
        "--scenario",
        "mitm",
        "--packets",
        "10",
        "--pace-ms",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(!text(&o).contains("first SRTP packet authenticated"));
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
    let o = dtlsrtp(&["demo", "--no-sip", "--scenario", "rekey"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("needs SIP"), "{}", text(&o));
}

#[test]
fn fingerprint_and_sdp_offer_tools() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().to_str().unwrap();
    let o = dtlsrtp(&["fingerprint", "--config-dir", cfg]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(text(&o).contains("new identity saved"), "{}", text(&o));
    // The identity persists: the same fingerprints next time; --fresh gives another certificate.
    let again = dtlsrtp(&["fingerprint", "--config-dir", cfg]);
    assert_eq!(String::from_utf8_lossy(&again.stdout), out);
    let fresh = dtlsrtp(&["fingerprint", "--fresh"]);
    assert_eq!(fresh.status.code(), Some(0));
    assert_ne!(String::from_utf8_lossy(&fresh.stdout), out);
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

/// `--json`: every stdout line is one JSON object; the ladder and a final summary are events.
#[test]
fn demo_json_events_one_per_line() {
    let o = dtlsrtp(&["demo", "--packets", "20", "--pace-ms", "0", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    assert!(events.iter().any(
        |e| e["event"] == "ladder" && e["what"].as_str().unwrap_or("").contains("ClientHello")
    ));
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary", "{stdout}");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["packets_in"], 20);
    assert_eq!(summary["lost"], 0);
}

/// `--keylog`: DTLS secrets in SSLKEYLOGFILE format and both SRTP masters of each side, with a warning.
#[test]
fn demo_keylog_writes_dtls_and_srtp_secrets_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.log");
    let o = dtlsrtp(&[
        "demo",
        "--packets",
        "5",
        "--pace-ms",
        "0",
        "--keylog",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("WARNING"),
        "{}",
        text(&o)
    );
    let log = std::fs::read_to_string(&path).unwrap();
    assert!(
        log.lines().any(|l| l.starts_with("CLIENT_RANDOM ")),
        "{log}"
    );
    let srtp: Vec<&str> = log.lines().filter(|l| l.starts_with("# SRTP ")).collect();
    assert_eq!(srtp.len(), 4, "{log}");
    // Alice's local key is Bob's remote key: the two sides agree.
    let key = |who: &str, dir: &str| {
        srtp.iter()
            .find(|l| l.contains(&format!(" {dir} {who} ")))
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("key=")))
            .unwrap()
            .to_string()
    };
    assert_eq!(key("Alice", "local"), key("Bob", "remote"));
    assert_eq!(key("Bob", "local"), key("Alice", "remote"));
    // Not a terminal: no in-place redraw characters in the plain output.
    assert!(!String::from_utf8_lossy(&o.stdout).contains('\r'));
}

/// `-q` leaves only the summary.
#[test]
fn demo_quiet_prints_only_the_summary() {
    let o = dtlsrtp(&["demo", "--packets", "5", "--pace-ms", "0", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("summary: media authenticated both ways (exit 0)"),
        "{stdout}"
    );
}

/// Bad arguments of `call` and `answer` (and of their config file): a clear message and exit 2.
#[test]
fn call_and_answer_bad_usage_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad_cfg = dir.path().join("bad.toml");
    std::fs::write(&bad_cfg, "trasnport = \"udp\"\n").unwrap();
    let cfg = bad_cfg.to_str().unwrap();
    for (args, needle) in [
        (&["call"][..], "URI"),
        (&["call", "bob@127.0.0.1"], "not a sip"),
        (&["call", "sip:bob@127.0.0.1", "--tone", "9000"], "3800"),
        (
            &[
                "call",
                "sip:bob@127.0.0.1",
                "--tone",
                "440",
                "--play",
                "a.wav",
            ],
            "--play",
        ),
        (
            &["call", "sip:bob@127.0.0.1", "--register", "sip:a@b"],
            "--user",
        ),
        (
            &["call", "sip:bob@127.0.0.1", "--srtp-policy", "sometimes"],
            "sometimes",
        ),
        (
            &["call", "sip:bob@127.0.0.1", "--transport", "sctp"],
            "sctp",
        ),
        (&["call", "sip:bob@127.0.0.1", "--config", cfg], "trasnport"),
        (&["answer", "--listen", "nowhere"], "nowhere"),
        (&["answer", "--setup", "actpass"], "actpass"),
    ] {
        let o = dtlsrtp(args);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {out}");
        assert!(
            out.contains(needle),
            "{args:?} should mention {needle:?}: {out}"
        );
    }
}

/// A local problem (a WAV file that does not exist) is exit 1, before any signalling.
#[test]
fn call_with_missing_wav_is_a_local_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = dtlsrtp(&[
        "call",
        "sip:bob@127.0.0.1:9",
        "--config-dir",
        dir.path().to_str().unwrap(),
        "--play",
        dir.path().join("missing.wav").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("missing.wav"), "{}", text(&o));
}
