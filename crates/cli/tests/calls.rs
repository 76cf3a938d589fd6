//! `dtlsrtp call` and `dtlsrtp answer` run as processes on 127.0.0.1: against each other (a WAV file each way,
//! the recordings compared with the sent audio), against real baresip (its tone detected on our side), and
//! against nobody (the signalling exit code within a bounded time).
#![allow(clippy::disallowed_methods)] // tests: real processes, sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use dtlsrtp_testkit::peers::baresip::{AnswerMode, Baresip, MediaEnc};
use dtlsrtp_testkit::peers::free_port;
use dtlsrtp_testkit::require_peer;

mod common;
use common::{text, Running};

fn run(args: &[&str], limit: Duration) -> Output {
    Running::spawn(args).wait(limit)
}

/// A speech-like test signal (a chirp with a modulated partial): every delay is distinguishable, unlike a
/// pure tone, so a wrong or shifted recording cannot correlate by accident.
fn speechlike(n: usize, f0: f64) -> Vec<i16> {
    (0..n)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let s = (std::f64::consts::TAU * (f0 + 150.0 * t) * t).sin() * 7000.0
                + (std::f64::consts::TAU * 3.1 * f0 * t).sin() * 3000.0 * (t * 2.3).sin();
            s as i16
        })
        .collect()
}

/// Deterministic noise (xorshift), smoothed a little: unrelated to any chirp at every delay.
fn noise(n: usize, mut x: u32) -> Vec<i16> {
    let mut prev = 0i32;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let v = (x >> 16) as i32 - 32_768;
            prev = (prev + v / 4) / 2;
            prev as i16
        })
        .collect()
}

fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Parses "correlation C at lag …" from `dtlsrtp wav compare`.
fn correlation(out: &Output) -> f64 {
    let t = text(out);
    t.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no correlation in {t}"))
}

/// `call` against `answer` in two processes, a different WAV file each way, 3 s of media: each recording
/// matches what the other side sent.
///
/// Threshold 0.9: G.711 alone keeps ~38 dB SNR, i.e. a correlation above 0.999 for an exact, aligned copy
/// (the audio module's unit tests show > 0.99 through both laws). Each 20 ms frame lost or concealed costs
/// about 1/150 of the 3 s; 0.9 therefore tolerates several percent of loss and the frames not played at the
/// start (before the keys were verified), while unrelated audio stays near 0 (checked below: the caller's own
/// signal against its recording).
#[test]
fn call_and_answer_exchange_wav_files_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (a_wav, b_wav) = (dir.path().join("alice.wav"), dir.path().join("bob.wav"));
    let (a_rec, b_rec) = (
        dir.path().join("alice-heard.wav"),
        dir.path().join("bob-heard.wav"),
    );
    write_wav(&a_wav, &speechlike(16_000, 300.0));
    write_wav(&b_wav, &noise(12_000, 0x1234_5678));
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let cfg = dir.path().join("cfg");
    let answer = Running::spawn(&[
        "answer",
        "--listen",
        &listen,
        "--config-dir",
        s(&cfg),
        "--play",
        s(&b_wav),
        "--record",
        s(&b_rec),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let call = run(
        &[
            "call",
            &format!("sip:bob@{listen}"),
            "--config-dir",
            s(&cfg),
            "--play",
            s(&a_wav),
            "--record",
            s(&a_rec),
            "--duration",
            "3",
            "--timeout",
            "10",
        ],
        Duration::from_secs(30),
    );
    let out = text(&call);
    assert_eq!(call.status.code(), Some(0), "{out}");
    assert!(
        out.contains("peer certificate matches its a=fingerprint"),
        "{out}"
    );
    assert!(
        out.contains("summary: media authenticated both ways"),
        "{out}"
    );
    let answered = answer.wait(Duration::from_secs(15));
    assert_eq!(answered.status.code(), Some(0), "{}", text(&answered));

    for (sent, heard) in [(&a_wav, &b_rec), (&b_wav, &a_rec)] {
        let o = run(
            &["wav", "compare", s(sent), s(heard), "--min", "0.9"],
            Duration::from_secs(30),
        );
        eprintln!("{}", text(&o));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(correlation(&o) >= 0.9);
    }
    // The check can fail: Alice's own audio is not what she heard.
    let o = run(
        &["wav", "compare", s(&a_wav), s(&a_rec), "--min", "0.9"],
        Duration::from_secs(30),
    );
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
    assert!(correlation(&o) < 0.5, "{}", text(&o));
}

/// Nobody listens: the INVITE goes unanswered; `call` gives up after --timeout with exit 3 (signalling).
#[test]
fn call_to_an_unreachable_peer_exits_3_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let t0 = Instant::now();
    let o = run(
        &[
            "call",
            &format!("sip:nobody@127.0.0.1:{port}"),
            "--config-dir",
            s(dir.path()),
            "--timeout",
            "2",
            "--json",
        ],
        Duration::from_secs(20),
    );
    let took = t0.elapsed();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("no answer"), "{}", text(&o));
    assert!(took < Duration::from_secs(8), "took {took:?}");
    // --json: every stdout line is an event; the last is the summary with the exit code.
    let stdout = String::from_utf8_lossy(&o.stdout);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    assert_eq!(
        events.first().map(|e| e["event"].clone()),
        Some("start".into())
    );
    assert!(events.iter().any(|e| e["event"] == "calling"), "{stdout}");
    let last = events.last().unwrap();
    assert_eq!(last["event"], "summary", "{stdout}");
    assert_eq!(last["exit_code"], 3, "{stdout}");
}

fn baresip(user: &str, mode: AnswerMode) -> Option<Baresip> {
    if !require_peer("baresip", "baresip") {
        return None;
    }
    Some(
        Baresip::builder(user)
            .answermode(mode)
            .mediaenc(MediaEnc::DtlsSrtp)
            .tone_hz(440)
            .start()
            .unwrap(),
    )
}

/// We call baresip (auto answer, DTLS-SRTP): its 440 Hz `ausine` tone is in our recording (Goertzel), and it
/// receives our packets.
#[test]
fn call_to_baresip_records_its_tone() {
    let Some(mut bob) = baresip("bob", AnswerMode::Auto) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("heard.wav");
    let o = run(
        &[
            "call",
            &bob.uri(),
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
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\nbaresip log:\n{}",
        text(&o),
        bob.log().read()
    );
    bob.wait_rtp_received(Duration::from_secs(5)).unwrap();
    let t = run(&["wav", "tone", s(&rec), "440"], Duration::from_secs(10));
    assert_eq!(t.status.code(), Some(0), "{}", text(&t));
    // And it is not any tone: 1000 Hz (what we sent) is absent from what we heard.
    let t = run(&["wav", "tone", s(&rec), "1000"], Duration::from_secs(10));
    assert_eq!(t.status.code(), Some(6), "{}", text(&t));
}

/// baresip calls `answer`: its tone is detected in our recording; our answer exits 0 when baresip hangs up.
#[test]
fn baresip_calls_answer_and_its_tone_is_recorded() {
    let Some(mut alice) = baresip("alice", AnswerMode::Manual) else {
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
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\nbaresip log:\n{}",
        text(&o),
        alice.log().read()
    );
    alice.wait_rtp_received(Duration::from_secs(5)).unwrap();
    let t = run(&["wav", "tone", s(&rec), "440"], Duration::from_secs(10));
    assert_eq!(t.status.code(), Some(0), "{}", text(&t));
}

/// `--transport tcp`: SIP over TCP (Content-Length framing) between `call` and `answer`; the callee records the
/// caller's tone. A caller on TCP cannot reach an answerer that only listens on UDP (exit 3), so the call really
/// went over TCP.
#[test]
fn call_and_answer_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("heard.wav");
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let answer = Running::spawn(&[
        "answer",
        "--listen",
        &listen,
        "--config-dir",
        s(dir.path()),
        "--transport",
        "tcp",
        "--record",
        s(&rec),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let o = run(
        &[
            "call",
            &format!("sip:bob@{listen}"),
            "--config-dir",
            s(dir.path()),
            "--transport",
            "tcp",
            "--tone",
            "1200",
            "--duration",
            "1.5",
            "--timeout",
            "10",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("SIP on udp+tcp"), "{}", text(&o));
    let a = answer.wait(Duration::from_secs(15));
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    let t = run(&["wav", "tone", s(&rec), "1200"], Duration::from_secs(10));
    assert_eq!(t.status.code(), Some(0), "{}", text(&t));

    let port = free_port().unwrap();
    let udp_only = Running::spawn(&[
        "answer",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--config-dir",
        s(dir.path()),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let o = run(
        &[
            "call",
            &format!("sip:bob@127.0.0.1:{port}"),
            "--config-dir",
            s(dir.path()),
            "--transport",
            "tcp",
            "--timeout",
            "2",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    drop(udp_only);
}

/// `--register` against real Kamailio with digest authentication: a wrong password is refused (exit 3); the
/// right one registers, then the call goes through Kamailio to baresip (registered there as bob) and its tone
/// is recorded.
#[test]
fn call_registers_with_digest_at_kamailio_then_calls_baresip_through_it() {
    if !require_peer("kamailio", "kamailio") || !require_peer("baresip", "baresip") {
        return;
    }
    let k = dtlsrtp_testkit::peers::kamailio::Kamailio::builder()
        .user("alice", "secret")
        .user("bob", "bobpw")
        .start()
        .unwrap();
    let mut bob = Baresip::builder("bob")
        .domain(&k.domain())
        .register(60)
        .auth_pass("bobpw")
        .answermode(AnswerMode::Auto)
        .mediaenc(MediaEnc::DtlsSrtp)
        .start()
        .unwrap();
    bob.wait_registered(Duration::from_secs(10)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob_aor) = (k.aor("alice"), k.aor("bob"));
    let o = run(
        &[
            "call",
            &bob_aor,
            "--config-dir",
            s(dir.path()),
            "--register",
            &alice,
            "--user",
            "alice",
            "--password",
            "wrong",
            "--timeout",
            "10",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("REGISTER refused"), "{}", text(&o));
    assert!(
        !text(&o).contains("wrong"),
        "the password never reaches the output: {}",
        text(&o)
    );

    let rec = dir.path().join("heard.wav");
    let o = run(
        &[
            "call",
            &bob_aor,
            "--config-dir",
            s(dir.path()),
            "--register",
            &alice,
            "--user",
            "alice",
            "--password",
            "secret",
            "--record",
            s(&rec),
            "--duration",
            "2",
            "--timeout",
            "10",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\nbaresip:\n{}",
        text(&o),
        bob.log().read()
    );
    assert!(text(&o).contains("registered for"), "{}", text(&o));
    let t = run(&["wav", "tone", s(&rec), "440"], Duration::from_secs(10));
    assert_eq!(t.status.code(), Some(0), "{}", text(&t));
}

/// `answer --early-media`: a 183 with SDP, DTLS-SRTP and audio before the 200 (F-6.2); the caller hears the
/// callee's tone from the early dialog on.
#[test]
fn answer_with_early_media_sends_audio_before_the_200() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("heard.wav");
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let answer = Running::spawn(&[
        "answer",
        "--listen",
        &listen,
        "--config-dir",
        s(dir.path()),
        "--early-media",
        "--tone",
        "700",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let o = run(
        &[
            "call",
            &format!("sip:bob@{listen}"),
            "--config-dir",
            s(dir.path()),
            "--record",
            s(&rec),
            "--duration",
            "1",
            "--timeout",
            "10",
        ],
        Duration::from_secs(30),
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let early = out.find("early media (183 with SDP)").expect(&out);
    let first = out.find("first SRTP packet authenticated").expect(&out);
    let answered = out.find("  answered").expect(&out);
    assert!(early < first && first < answered, "{out}");
    assert_eq!(answer.wait(Duration::from_secs(15)).status.code(), Some(0));
    let t = run(&["wav", "tone", s(&rec), "700"], Duration::from_secs(10));
    assert_eq!(t.status.code(), Some(0), "{}", text(&t));
}
