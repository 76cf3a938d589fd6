//! W-3 (RFC 4733) between the two commands as processes on 127.0.0.1: `call --dtmf` and `answer --dtmf` send
//! their keys once the call is up; the other side prints each key once (`DTMF 1` on the terminal display, one
//! `{"event":"dtmf","digit":"1",…}` per key with `--json`) and lists them in its summary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::disallowed_methods)] // tests: real processes, files and clock

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{text, Running};
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

/// `answer` with `answer_extra`, and `call` to it with `call_extra`; both outputs.
fn call_answer(dir: &Path, answer_extra: &[&str], call_extra: &[&str]) -> (Output, Output) {
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let cfg = dir.join("cfg");
    let mut a = vec!["answer", "--listen", &listen, "--config-dir", s(&cfg)];
    a.extend_from_slice(answer_extra);
    let answer = Running::spawn(&a);
    std::thread::sleep(Duration::from_millis(400));
    let uri = format!("sip:bob@{listen}");
    let mut c = vec!["call", &uri, "--config-dir", s(&cfg), "--timeout", "8"];
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

/// W-3: keys both ways between `call --dtmf` and `answer --dtmf`, reported once each, in order; JSON events on
/// the caller, event lines on the answerer's display, both summaries.
#[test]
fn w_3_dtmf_both_ways_between_call_and_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (call, answer) = call_answer(
        dir.path(),
        &["--dtmf", "9*D"],
        &["--json", "--dtmf", "123#", "--duration", "3.5"],
    );
    assert_eq!(call.status.code(), Some(0), "{}", text(&call));
    assert_eq!(answer.status.code(), Some(0), "{}", text(&answer));
    let ce = events(&call);
    let keys: String = ce
        .iter()
        .filter(|e| e["event"] == "dtmf")
        .map(|e| {
            assert_eq!(e["duration_ms"], 100, "{e}");
            e["digit"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(keys, "9*D", "{}", text(&call));
    assert!(
        ce.iter().any(|e| e["event"] == "dtmf_sent"),
        "{}",
        text(&call)
    );
    let summary = ce.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["dtmf_received"], "9*D");
    let a = String::from_utf8_lossy(&answer.stdout);
    let lines: Vec<&str> = a.lines().filter(|l| l.contains("  DTMF ")).collect();
    assert_eq!(lines.len(), 4, "{a}");
    for (l, k) in lines.iter().zip(["1", "2", "3", "#"]) {
        assert!(l.contains(&format!("DTMF {k} (100 ms)")), "{l}");
    }
    assert!(a.contains("DTMF received 123#"), "{a}");
}

/// `--dtmf` refuses what is not a key before anything starts.
#[test]
fn w_3_dtmf_option_refuses_a_non_key() {
    let dir = tempfile::tempdir().unwrap();
    let o = Running::spawn(&[
        "call",
        "sip:bob@127.0.0.1:9",
        "--config-dir",
        s(&dir.path().join("cfg")),
        "--dtmf",
        "12x",
    ])
    .wait(Duration::from_secs(10));
    assert_ne!(o.status.code(), Some(0));
    assert!(text(&o).contains("'x' is not a DTMF key"), "{}", text(&o));
}
