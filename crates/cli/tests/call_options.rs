//! Issue 13: every option of `dtlsrtp call` / `dtlsrtp answer` works between the two commands as processes on
//! 127.0.0.1 (both on the tokio driver): `--setup passive`, `--profiles`, `--keylog`, `--transport tls` (with
//! the server's name and trust checked), `--hold-after`; the JSON summary (SRTP profile, DTLS role, encrypted,
//! why the call ended) and the terminal status line (cleared before any event line).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::disallowed_methods)] // tests: real processes, files and clock

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{text, Running, BIN};
use dtlsrtp_testkit::peers::free_port;
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every stdout line of a `--json` run as an event.
fn events(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

fn summary(o: &Output) -> Value {
    let ev = events(o);
    let last = ev.last().cloned().unwrap_or_default();
    assert_eq!(last["event"], "summary", "{}", text(o));
    last
}

/// An `answer` on a free port with `extra` options, and the `call` to it with `call_extra`; both outputs.
fn call_answer(
    dir: &Path,
    scheme: &str,
    answer_extra: &[&str],
    call_extra: &[&str],
) -> (Output, Output) {
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let cfg = dir.join("cfg");
    let mut a = vec!["answer", "--listen", &listen, "--config-dir", s(&cfg)];
    a.extend_from_slice(answer_extra);
    let answer = Running::spawn(&a);
    std::thread::sleep(Duration::from_millis(400));
    let uri = format!("{scheme}:bob@{listen}");
    let mut c = vec!["call", &uri, "--config-dir", s(&cfg)];
    for (k, v) in [("--duration", "1.5"), ("--timeout", "8")] {
        if !call_extra.contains(&k) {
            c.extend([k, v]);
        }
    }
    c.extend_from_slice(call_extra);
    let call = Running::spawn(&c).wait(Duration::from_secs(30));
    let answered = if call.status.code() == Some(0) {
        answer.wait(Duration::from_secs(15))
    } else {
        drop(answer);
        call.clone()
    };
    (call, answered)
}

/// RFC 5763 §5 / F-5.10: `answer --setup passive` answers `a=setup:passive`, so the caller is the DTLS client;
/// by default (active) the caller is the server. The JSON summary names the role, the profile, that media was
/// encrypted, and why the call ended in words (caller: its --duration; callee: the other side hung up).
#[test]
fn setup_passive_makes_the_caller_the_dtls_client_and_the_summary_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (call, answer) = call_answer(
        dir.path(),
        "sip",
        &["--setup", "passive", "--json"],
        &["--json"],
    );
    assert_eq!(call.status.code(), Some(0), "{}", text(&call));
    assert_eq!(answer.status.code(), Some(0), "{}", text(&answer));
    let (c, a) = (summary(&call), summary(&answer));
    assert_eq!(c["dtls_role"], "client", "{c}");
    assert_eq!(a["dtls_role"], "server", "{a}");
    for v in [&c, &a] {
        assert_eq!(v["encrypted"], true, "{v}");
        assert!(
            v["profile"]
                .as_str()
                .is_some_and(|p| p.starts_with("SRTP_")),
            "{v}"
        );
    }
    assert_eq!(c["profile"], a["profile"]);
    assert_eq!(c["ended"], "hung up after 1.5 s (--duration)", "{c}");
    assert_eq!(a["ended"], "the other side hung up", "{a}");

    let dir = tempfile::tempdir().unwrap();
    let (call, _) = call_answer(dir.path(), "sip", &[], &["--json"]);
    assert_eq!(call.status.code(), Some(0), "{}", text(&call));
    assert_eq!(
        summary(&call)["dtls_role"],
        "server",
        "default: the answerer is active"
    );
}

/// `--profiles`: the caller offers only the profiles given; the summaries name the one chosen.
#[test]
fn profiles_choose_the_srtp_profile() {
    for (want, name) in [
        ("AES_CM_128_HMAC_SHA1_32", "SRTP_AES128_CM_HMAC_SHA1_32"),
        ("SRTP_AEAD_AES_128_GCM", "SRTP_AEAD_AES_128_GCM"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let profile = want.replace("AES_CM_128", "SRTP_AES128_CM");
        let (call, answer) = call_answer(
            dir.path(),
            "sip",
            &["--json"],
            &["--json", "--profiles", &profile],
        );
        assert_eq!(call.status.code(), Some(0), "{}", text(&call));
        assert_eq!(summary(&call)["profile"], name);
        assert_eq!(summary(&answer)["profile"], name);
    }
    // An unknown name is bad usage.
    let o = std::process::Command::new(BIN)
        .args(["call", "sip:x@127.0.0.1:9", "--profiles", "ROT13"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// `--keylog FILE`: opt-in NSS key log lines (what Wireshark reads to decrypt DTLS), owner-only; the secrets
/// never appear in the normal output, even at -vvv.
#[test]
fn keylog_writes_owner_only_nss_lines_and_nothing_secret_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("keys.log");
    let (call, answer) = call_answer(dir.path(), "sip", &["-vvv"], &["--keylog", s(&log), "-vvv"]);
    assert_eq!(call.status.code(), Some(0), "{}", text(&call));
    let keys = std::fs::read_to_string(&log).unwrap();
    let secrets: Vec<&str> = keys
        .lines()
        .filter(|l| l.starts_with("CLIENT_RANDOM "))
        .filter_map(|l| l.split(' ').nth(2))
        .collect();
    assert!(!secrets.is_empty(), "no NSS CLIENT_RANDOM line: {keys}");
    assert!(
        secrets.iter().all(|m| m.len() == 96),
        "48-octet master secrets: {keys}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "key log must be owner-only");
    }
    for o in [&call, &answer] {
        let out = text(o).to_ascii_lowercase();
        for m in &secrets {
            assert!(
                !out.contains(&m.to_ascii_lowercase()),
                "secret in the output"
            );
        }
    }
    assert!(
        text(&call).contains("WARNING"),
        "the user is warned: {}",
        text(&call)
    );
}

/// A CA and a server certificate it signed for `san` (e.g. "IP:127.0.0.1" or "DNS:example.org"), as PEM files
/// in `dir`: (ca.pem, server.pem, server-key.pem).
fn tls_files(dir: &Path, tag: &str, san: &str) -> (String, String, String) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
    use openssl::x509::{X509NameBuilder, X509};
    let key = || {
        PKey::from_ec_key(
            EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
        )
        .unwrap()
    };
    let name = |cn: &str| {
        let mut n = X509NameBuilder::new().unwrap();
        n.append_entry_by_text("CN", cn).unwrap();
        n.build()
    };
    let (ca_key, srv_key) = (key(), key());
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name("test CA")).unwrap();
    b.set_issuer_name(&name("test CA")).unwrap();
    b.set_pubkey(&ca_key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    b.sign(&ca_key, MessageDigest::sha256()).unwrap();
    let ca = b.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(2).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name("sip server")).unwrap();
    b.set_issuer_name(ca.subject_name()).unwrap();
    b.set_pubkey(&srv_key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let mut alt = SubjectAlternativeName::new();
    match san.split_once(':') {
        Some(("IP", ip)) => alt.ip(ip),
        Some(("DNS", d)) => alt.dns(d),
        _ => panic!("{san}"),
    };
    let alt = alt.build(&b.x509v3_context(Some(&ca), None)).unwrap();
    b.append_extension(alt).unwrap();
    b.sign(&ca_key, MessageDigest::sha256()).unwrap();
    let srv = b.build();
    let p = |n: &str| dir.join(format!("{tag}-{n}"));
    std::fs::write(p("ca.pem"), ca.to_pem().unwrap()).unwrap();
    std::fs::write(p("server.pem"), srv.to_pem().unwrap()).unwrap();
    std::fs::write(
        p("server-key.pem"),
        srv_key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    (
        p("ca.pem").to_str().unwrap().to_owned(),
        p("server.pem").to_str().unwrap().to_owned(),
        p("server-key.pem").to_str().unwrap().to_owned(),
    )
}

/// `--transport tls` / `sips:` (RFC 5630, RFC 5922 §7.2): the answerer serves `--tls-cert`/`--tls-key`; the
/// caller trusts only `--tls-ca` and checks the certificate names the URI's host. A certificate for another
/// name, or from a CA the caller does not trust, fails the call (exit 3: no SIP reached the answerer).
#[test]
fn tls_calls_check_the_trust_anchor_and_the_uri_host() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(dir.path(), "good", "IP:127.0.0.1");
    let answer_tls = ["--transport", "tls", "--tls-cert", &cert, "--tls-key", &key];
    let mut answer_args = answer_tls.to_vec();
    answer_args.push("--json");
    let (call, answer) = call_answer(dir.path(), "sips", &answer_args, &["--tls-ca", &ca]);
    assert_eq!(call.status.code(), Some(0), "{}", text(&call));
    assert!(text(&call).contains("SIP on udp+tls"), "{}", text(&call));
    assert_eq!(answer.status.code(), Some(0), "{}", text(&answer));
    assert_eq!(summary(&answer)["encrypted"], true);

    // Untrusted: a CA of its own, not the caller's anchor.
    let (other_ca, _, _) = tls_files(dir.path(), "other", "IP:127.0.0.1");
    let (call, _) = call_answer(
        dir.path(),
        "sips",
        &answer_tls,
        &["--tls-ca", &other_ca, "--timeout", "3"],
    );
    assert_eq!(call.status.code(), Some(3), "{}", text(&call));

    // Trusted CA, wrong name: the certificate names example.org, the URI 127.0.0.1.
    let (ca2, cert2, key2) = tls_files(dir.path(), "name", "DNS:example.org");
    let (call, _) = call_answer(
        dir.path(),
        "sips",
        &[
            "--transport",
            "tls",
            "--tls-cert",
            &cert2,
            "--tls-key",
            &key2,
        ],
        &["--tls-ca", &ca2, "--timeout", "3"],
    );
    assert_eq!(call.status.code(), Some(3), "{}", text(&call));
}

/// `--hold-after S` (RFC 3264 §8.4): the caller puts the call on hold after S seconds (it says so, its summary
/// shows it); the answerer sees the session change; the call still ends normally.
#[test]
fn hold_after_puts_the_call_on_hold_and_the_peer_sees_the_change() {
    let dir = tempfile::tempdir().unwrap();
    let (call, answer) = call_answer(
        dir.path(),
        "sip",
        &["--json"],
        &["--json", "--hold-after", "0.5", "--duration", "2"],
    );
    assert_eq!(call.status.code(), Some(0), "{}", text(&call));
    let ce = events(&call);
    assert!(ce.iter().any(|e| e["event"] == "hold"), "{}", text(&call));
    assert_eq!(summary(&call)["on_hold"], true);
    let ae = events(&answer);
    assert!(
        ae.iter().any(|e| e["event"] == "modified"),
        "{}",
        text(&answer)
    );
    assert_eq!(summary(&answer)["ended"], "the other side hung up");

    // --resume-after: back to sendrecv.
    let dir = tempfile::tempdir().unwrap();
    let (call, _) = call_answer(
        dir.path(),
        "sip",
        &[],
        &[
            "--json",
            "--hold-after",
            "0.3",
            "--resume-after",
            "0.8",
            "--duration",
            "1.5",
        ],
    );
    assert_eq!(call.status.code(), Some(0), "{}", text(&call));
    let ce = events(&call);
    let pos = |k: &str| ce.iter().position(|e| e["event"] == k);
    assert!(
        pos("hold") < pos("resume") && pos("hold").is_some(),
        "{}",
        text(&call)
    );
    assert_eq!(summary(&call)["on_hold"], false);
}

/// Issue 13 (terminal display): in a real terminal (a pseudo-terminal from `script`) the status line is
/// redrawn in place, and cleared (CR + erase line) before any event line, so no event shares its line.
#[test]
fn in_a_terminal_no_event_line_shares_the_status_line() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").is_err(),
            "`script` (util-linux) missing under CI"
        );
        eprintln!("SKIPPED: no `script` for a pseudo-terminal");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let cfg = dir.path().join("cfg");
    let answer = Running::spawn(&["answer", "--listen", &listen, "--config-dir", s(&cfg)]);
    std::thread::sleep(Duration::from_millis(400));
    let cmd = format!(
        "{BIN} call sip:bob@{listen} --config-dir {} --duration 1.5 --timeout 8 </dev/null",
        s(&cfg)
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{screen}");
    let _ = answer.wait(Duration::from_secs(15));
    assert!(screen.contains("\r[ "), "status drawn in place: {screen:?}");
    assert!(
        screen.contains("call ended: hung up after 1.5 s (--duration)"),
        "{screen:?}"
    );
    // Every status draw that is followed by other text is cleared first.
    for (i, _) in screen.match_indices("\x1b[K") {
        let rest = &screen[i + 3..];
        assert!(
            rest.is_empty() || rest.starts_with('\r'),
            "text printed after a status line without clearing it: {:?}",
            &rest[..rest.len().min(80)]
        );
    }
    for line in screen.split(['\n']) {
        let shown = line.rsplit('\r').next().unwrap_or(line);
        assert!(
            !(shown.contains("jitter") && shown.contains(" ms  ")),
            "status and event on one line: {shown:?}"
        );
    }
}

/// A refused call says why in SIP's words: the answerer requires an Identity, the plain call gets
/// "428 Use Identity Header".
#[test]
fn a_refused_call_names_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let (call, _) = call_answer(
        dir.path(),
        "sip",
        &["--identity-policy", "required"],
        &["--json"],
    );
    assert_eq!(call.status.code(), Some(3), "{}", text(&call));
    let sum = summary(&call);
    assert_eq!(sum["ended"], "rejected: 428 Use Identity Header", "{sum}");
}

/// Interop, SIP over TLS: we call baresip (auto answer, DTLS-SRTP) at its SIP/TLS port (its UDP port + 1),
/// trusting only our test CA, whose certificate for 127.0.0.1 baresip serves (`sip_certificate`). Fails under
/// CI=true when baresip is missing, skips loudly otherwise.
#[test]
fn tls_call_to_baresip_over_sips() {
    use dtlsrtp_testkit::peers::baresip::{AnswerMode, Baresip, MediaEnc};
    if !dtlsrtp_testkit::require_peer("baresip", "baresip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(dir.path(), "baresip", "IP:127.0.0.1");
    let both = dir.path().join("baresip-tls.pem");
    let mut pem = std::fs::read(&cert).unwrap();
    pem.extend(std::fs::read(&key).unwrap());
    std::fs::write(&both, pem).unwrap();
    let mut bob = Baresip::builder("bob")
        .answermode(AnswerMode::Auto)
        .mediaenc(MediaEnc::DtlsSrtp)
        .config_line(&format!("sip_certificate {}", s(&both)))
        .sip_trace(true)
        .start()
        .unwrap();
    let udp = bob.uri();
    let port: u16 = udp.rsplit(':').next().unwrap().parse().unwrap();
    let uri = format!("sips:bob@127.0.0.1:{}", port + 1);
    let o = Running::spawn(&[
        "call",
        &uri,
        "--config-dir",
        s(dir.path()),
        "--tls-ca",
        &ca,
        "--duration",
        "2",
        "--timeout",
        "10",
        "--json",
    ])
    .wait(Duration::from_secs(30));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\nbaresip log:\n{}",
        text(&o),
        bob.log().read()
    );
    let sum = summary(&o);
    assert_eq!(sum["encrypted"], true, "{sum}");
    bob.wait_rtp_received(Duration::from_secs(5)).unwrap();
    let msgs = bob.sip_messages();
    assert!(!msgs.is_empty(), "baresip traced no SIP");
    assert!(
        msgs.iter().all(|m| m.transport.eq_ignore_ascii_case("tls")),
        "every SIP message went over TLS: {:?}",
        msgs.iter().map(|m| &m.transport).collect::<Vec<_>>()
    );
}

/// Interop, SIP over TLS through Kamailio's `tls` module: `call` registers `sips:alice@KAMAILIO` over TLS
/// (trusting only our CA, which signed Kamailio's certificate for 127.0.0.1) and calls `sips:bob@KAMAILIO`;
/// Kamailio relays to baresip (registered over UDP). The call works both ways and Kamailio logs our REGISTER as
/// having come over TLS. Fails under CI=true when kamailio (with kamailio-tls-modules) or baresip is missing.
#[test]
fn tls_call_through_kamailio_tls_module() {
    use dtlsrtp_testkit::peers::baresip::{AnswerMode, Baresip, MediaEnc};
    use dtlsrtp_testkit::peers::kamailio::{module_dir, Kamailio};
    if !dtlsrtp_testkit::require_peer("kamailio", "kamailio")
        || !dtlsrtp_testkit::require_peer("baresip", "baresip")
    {
        return;
    }
    if !module_dir().join("tls.so").exists() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "kamailio-tls-modules missing under CI"
        );
        eprintln!("SKIPPED: Kamailio's tls module (kamailio-tls-modules) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(dir.path(), "kamailio", "IP:127.0.0.1");
    let mut k = Kamailio::builder()
        .shm_mb(64)
        .tls(Path::new(&cert), Path::new(&key))
        .start()
        .unwrap();
    let mut bob = Baresip::builder("bob")
        .domain(&k.domain())
        .register(60)
        .answermode(AnswerMode::Auto)
        .mediaenc(MediaEnc::DtlsSrtp)
        .start()
        .unwrap();
    bob.wait_registered(Duration::from_secs(10)).unwrap();
    let alice = format!("sips:alice@{}", k.domain());
    let bob_aor = format!("sips:bob@{}", k.domain());
    let o = Running::spawn(&[
        "call",
        &bob_aor,
        "--config-dir",
        s(dir.path()),
        "--register",
        &alice,
        "--user",
        "alice",
        "--password",
        "unused",
        "--tls-ca",
        &ca,
        "--duration",
        "2",
        "--timeout",
        "10",
        "--json",
    ])
    .wait(Duration::from_secs(30));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\nkamailio:\n{}\nbaresip:\n{}",
        text(&o),
        k.log().read(),
        bob.log().read()
    );
    assert_eq!(summary(&o)["encrypted"], true);
    k.wait_for("register sips:alice", Duration::from_secs(2))
        .or_else(|_| k.wait_for("over tls", Duration::from_secs(1)))
        .unwrap_or_else(|e| panic!("{e}: {}", k.log().read()));
    assert!(
        k.log().read().contains("over tls"),
        "our REGISTER reached Kamailio over TLS: {}",
        k.log().read()
    );
    bob.wait_rtp_received(Duration::from_secs(5)).unwrap();
}

/// `--ice` (RFC 8445): the caller is a full controlling agent; the answerer full, or lite with `--ice-lite`.
/// Both sides put their credentials and host candidate in the SDP, the checks select a pair (an `ice` event
/// naming the peer's media address on each side) and DTLS-SRTP runs on it.
#[test]
fn ice_full_caller_with_full_or_lite_answerer_selects_a_pair() {
    for lite in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut answer_args = vec!["--json", "--ice"];
        if lite {
            answer_args.push("--ice-lite");
        }
        let (call, answer) = call_answer(dir.path(), "sip", &answer_args, &["--json", "--ice"]);
        assert_eq!(call.status.code(), Some(0), "lite {lite}: {}", text(&call));
        assert_eq!(
            answer.status.code(),
            Some(0),
            "lite {lite}: {}",
            text(&answer)
        );
        for o in [&call, &answer] {
            let ev = events(o);
            let ice = ev
                .iter()
                .find(|e| e["event"] == "ice")
                .unwrap_or_else(|| panic!("no ICE pair selected (lite {lite}): {}", text(o)));
            assert!(
                ice["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("candidate pair selected, media to 127.0.0.1:")),
                "{ice}"
            );
            // The pair is selected before the DTLS handshake runs on it.
            let pos = |k: &str| ev.iter().position(|e| e["event"] == k);
            assert!(pos("ice") < pos("dtls_connected"), "{}", text(o));
            assert_eq!(summary(o)["encrypted"], true);
        }
    }
}

/// Interactive hold: `hold` and `resume` typed on stdin while the call runs (RFC 3264 §8.4 re-INVITEs); an
/// unknown command is refused with a hint, not fatal.
#[test]
fn hold_and_resume_typed_on_stdin() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let cfg = dir.path().join("cfg");
    let answer = Running::spawn(&[
        "answer",
        "--listen",
        &listen,
        "--config-dir",
        s(&cfg),
        "--json",
    ]);
    std::thread::sleep(Duration::from_millis(400));
    let mut call = Command::new(BIN)
        .args([
            "call",
            &format!("sip:bob@{listen}"),
            "--config-dir",
            s(&cfg),
            "--duration",
            "3",
            "--json",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = call.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    stdin.write_all(b"dance\nhold\n").unwrap();
    std::thread::sleep(Duration::from_millis(700));
    stdin.write_all(b"resume\n").unwrap();
    let o = call.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let ev = events(&o);
    let pos = |k: &str| ev.iter().position(|e| e["event"] == k);
    assert!(
        pos("hold").is_some() && pos("hold") < pos("resume"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("unknown command \"dance\""),
        "{}",
        text(&o)
    );
    let a = answer.wait(Duration::from_secs(15));
    let modified = events(&a)
        .iter()
        .filter(|e| e["event"] == "modified")
        .count();
    assert!(modified >= 2, "the answerer saw both changes: {}", text(&a));
}

/// Interop, SIP over TLS the other way: baresip dials `sips:…;transport=tls` (baresip 1.0 sends a bare `sips:`
/// URI over UDP) to our `answer --transport tls` (serving a certificate for 127.0.0.1) and hangs up; the call carried DTLS-SRTP both ways and our answer ends with "the
/// other side hung up". Fails under CI=true when baresip is missing, skips loudly otherwise.
#[test]
fn tls_baresip_calls_answer_over_sips() {
    use dtlsrtp_testkit::peers::baresip::{AnswerMode, Baresip, MediaEnc};
    if !dtlsrtp_testkit::require_peer("baresip", "baresip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_ca, cert, key) = tls_files(dir.path(), "answer", "IP:127.0.0.1");
    let mut alice = Baresip::builder("alice")
        .answermode(AnswerMode::Manual)
        .mediaenc(MediaEnc::DtlsSrtp)
        .sip_trace(true)
        .start()
        .unwrap();
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let answer = Running::spawn(&[
        "answer",
        "--listen",
        &listen,
        "--config-dir",
        s(dir.path()),
        "--transport",
        "tls",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--json",
    ]);
    std::thread::sleep(Duration::from_millis(400));
    alice
        .dial(&format!("sips:bob@{listen};transport=tls"))
        .unwrap();
    alice
        .wait_rtp_received(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}: {}", alice.log().read()));
    std::thread::sleep(Duration::from_millis(1000));
    alice.hangup().unwrap();
    let o = answer.wait(Duration::from_secs(15));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\nbaresip log:\n{}",
        text(&o),
        alice.log().read()
    );
    let sum = summary(&o);
    assert_eq!(sum["encrypted"], true, "{sum}");
    assert_eq!(sum["ended"], "the other side hung up", "{sum}");
    let msgs = alice.sip_messages();
    assert!(
        !msgs.is_empty() && msgs.iter().all(|m| m.transport.eq_ignore_ascii_case("tls")),
        "{:?}",
        msgs.iter().map(|m| &m.transport).collect::<Vec<_>>()
    );
}

/// `--ice` consent freshness (RFC 7675 §5.1): the answerer stops answering (SIGSTOP) mid-call; 30 s after the
/// last consent response the caller reports consent expired (and stops sending), then ends its call as usual.
#[test]
fn ice_consent_expires_when_the_peer_goes_silent() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let cfg = dir.path().join("cfg");
    let answer = Running::spawn(&[
        "answer",
        "--listen",
        &listen,
        "--config-dir",
        s(&cfg),
        "--ice",
    ]);
    std::thread::sleep(Duration::from_millis(400));
    let mut call = Running::spawn(&[
        "call",
        &format!("sip:bob@{listen}"),
        "--config-dir",
        s(&cfg),
        "--ice",
        "--duration",
        "38",
        "--json",
    ]);
    let out = call.watch_stdout();
    let t0 = std::time::Instant::now();
    while !out.lock().unwrap().contains("\"event\":\"first_srtp\"") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no media: {}",
            out.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let stop = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &answer.pid().to_string()])
            .status()
            .unwrap()
    };
    assert!(stop("-STOP").success());
    let stopped = std::time::Instant::now();
    let o = call.wait(Duration::from_secs(60));
    let _ = stop("-CONT");
    let out = out.lock().unwrap().clone();
    let consent = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| {
            e["event"] == "ice"
                && e["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("consent expired"))
        });
    let consent = consent.unwrap_or_else(|| panic!("no consent expiry: {out}"));
    let first = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "first_srtp")
        .unwrap();
    // Expired about 30 s after the peer went silent (consent checks every ~5 s: the last answered one was
    // at most ~6 s before the stop), not earlier.
    let silent_for = consent["t_ms"].as_f64().unwrap() - first["t_ms"].as_f64().unwrap();
    assert!(
        (24_000.0..=38_000.0).contains(&silent_for),
        "{silent_for} ms: {out}"
    );
    assert!(stopped.elapsed() >= Duration::from_secs(24), "{out}");
    assert!(o.status.code().is_some(), "{}", text(&o));
}
