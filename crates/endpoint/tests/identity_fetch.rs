//! Issue 12 item 7: Identity certificate fetches happen before any signature check, so they are what an
//! attacker pays nothing to cause. At most two Identity headers are examined; certificates are fetched off
//! the event loop (the request is parked, the driver answers), with one deadline; results are cached; only
//! allow-listed URLs are fetched; a `file://` URL outside the allowed directories fails exactly like a
//! missing file. Requirement IDs: R-2 (identity fetches: no blocking, per-source and total bounds), F-8.6b,
//! I-2 (RFC 8224 §6.2).
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]
#![allow(clippy::disallowed_methods)] // tests read files (corpora, certificates, sources)

mod common;

/// `file://` under one directory (the caller's resolver: the sans-IO crates have none; the CLI's confines
/// the same way).
struct FileResolver(std::path::PathBuf);

impl FileResolver {
    fn under(root: &std::path::Path) -> Self {
        Self(root.canonicalize().unwrap())
    }
}

impl CertResolver for FileResolver {
    fn fetch(&mut self, url: &str) -> Result<Vec<u8>, ResolveError> {
        let path = url
            .strip_prefix("file://")
            .ok_or(ResolveError::Unsupported)?;
        let path = std::path::Path::new(path)
            .canonicalize()
            .map_err(|_| ResolveError::Unreachable)?;
        if !path.starts_with(&self.0) {
            return Err(ResolveError::Unsupported);
        }
        std::fs::read(&path).map_err(|_| ResolveError::Unreachable)
    }
}

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::pki::*;
use common::*;
use dtlsrtp::{CallOptions, EndReason, Event, IdentityPolicy};
use dtlsrtp_sip::identity::{CertResolver, ResolveError};

const BOB: &str = "sip:bob@127.0.0.1:5070";

fn rejected(events: &[Event]) -> Vec<u16> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Terminated {
                reason: EndReason::Rejected(s),
                ..
            } => Some(*s),
            _ => None,
        })
        .collect()
}

/// 100 Identity headers, each validly signed and each naming its own `info` (none published): the verifier
/// looks at two of them, so at most two certificates are fetched; the call is refused 436 (Required).
#[test]
fn r_2_identity_hundred_identity_headers_at_most_two_fetches() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let ib = pki.identity(&net, None, IdentityPolicy::Required);
    let signers: Vec<_> = (0..100)
        .map(|i| {
            pki.signer_at("alice", &format!("http://127.0.0.1/flood{i}.pem"))
                .0
        })
        .collect();
    let a = net.add(with_identity(Net::config("alice", 5060, 1), ia));
    let b = net.add(with_identity(Net::config("bob", 5070, 2), ib));
    net.mangle = Some(Box::new(move |t: &mut dtlsrtp::Transmit| {
        if t.bytes.starts_with(b"INVITE ") {
            let s = String::from_utf8_lossy(&t.bytes).into_owned();
            let mut lines = Vec::new();
            for signer in &signers {
                let one = resign(&s, signer, NOW, false);
                let h = one
                    .split("\r\n")
                    .find(|l| l.starts_with("Identity:"))
                    .unwrap()
                    .to_owned();
                lines.push(h);
            }
            let kept: Vec<&str> = s
                .split("\r\n")
                .filter(|l| !l.starts_with("Identity:"))
                .collect();
            let msg =
                kept.join("\r\n")
                    .replacen("\r\n", &format!("\r\n{}\r\n", lines.join("\r\n")), 1);
            t.bytes = msg.into_bytes();
        }
    }));
    let now = net.now;
    net.ep(a).dial(now, BOB, CallOptions::default()).unwrap();
    net.run_for(Duration::from_secs(6));
    let fetched = pki.fetched();
    assert!(fetched.len() <= 2, "{} fetches: {fetched:?}", fetched.len());
    assert!(
        !fetched.is_empty(),
        "the first header's certificate was asked for"
    );
    assert_eq!(rejected(&net.take(a)), vec![436]);
    assert!(!has(&net.take(b), |e| matches!(
        e,
        Event::IncomingCall { .. }
    )));
}

/// A certificate fetched for one call is reused for the next (a cache, with expiry): one fetch for two
/// verified calls.
#[test]
fn r_2_identity_cache_hit_does_not_fetch_again() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let ib = pki.identity(&net, None, IdentityPolicy::Required);
    let a = net.add(with_identity(Net::config("alice", 5060, 1), ia));
    let b = net.add(with_identity(Net::config("bob", 5070, 2), ib));
    for _ in 0..2 {
        let now = net.now;
        let ca = net.ep(a).dial(now, BOB, CallOptions::default()).unwrap();
        net.run();
        let cb = incoming(&net.take(b));
        let now = net.now;
        net.ep(b).answer(now, cb).unwrap();
        net.run();
        assert!(security(&net.take(b))
            .iter()
            .any(|s| verified_as(s, "alice")));
        let now = net.now;
        net.ep(a).hangup(now, ca).unwrap();
        net.run();
        net.take(a);
    }
    assert_eq!(pki.fetched(), vec!["http://127.0.0.1/alice.pem".to_owned()]);
}

/// A fetch that never answers: the INVITE is parked (its 100 Trying goes out), the endpoint keeps serving
/// the other call's SIP (a re-INVITE) and media both ways, and at the deadline (4 s) the parked INVITE gets
/// its answer: 436 under Required.
#[test]
fn r_2_identity_fetch_that_never_answers_blocks_nothing_and_times_out_436() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let ic = pki.identity(&net, Some("carol"), IdentityPolicy::BestEffort);
    let ib = pki.identity(&net, None, IdentityPolicy::Required);
    let a = net.add(with_identity(Net::config("alice", 5060, 1), ia));
    let b = net.add(with_identity(Net::config("bob", 5070, 2), ib));
    let c = net.add(with_identity(Net::config("carol", 5080, 3), ic));
    let now = net.now;
    let ca = net.ep(a).dial(now, BOB, CallOptions::default()).unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    net.take(a);
    net.take(b);
    // Carol's certificate fetch hangs
    net.hold_fetches = true;
    let start = net.log.len();
    let now = net.now;
    net.ep(c).dial(now, BOB, CallOptions::default()).unwrap();
    net.run_for(Duration::from_millis(500));
    assert_eq!(net.ep(b).parked_requests(), 1);
    let asked: Vec<&String> = net
        .fetches
        .iter()
        .filter(|f| f.0 == b)
        .map(|f| &f.2)
        .collect();
    assert!(asked.iter().any(|u| u.contains("carol")), "{asked:?}");
    assert!(
        net.log[start..]
            .iter()
            .any(|(f, _, m)| f.port() == 5070 && m.starts_with(b"SIP/2.0 100")),
        "100 Trying while the fetch runs"
    );
    assert!(!has(&net.take(b), |e| matches!(
        e,
        Event::IncomingCall { .. }
    )));
    // the other call: SIP and media both ways, meanwhile
    let now = net.now;
    net.ep(a).reinvite(now, ca).unwrap();
    net.ep(a).send_audio(now, ca, 0, 0, b"a->b").unwrap();
    net.ep(b).send_audio(now, cb, 0, 0, b"b->a").unwrap();
    net.run();
    let eb = net.take(b);
    assert!(has(&eb, |e| matches!(e, Event::Modified { .. })), "{eb:?}");
    assert_eq!(rtp_payloads(&eb).len(), 1);
    assert_eq!(rtp_payloads(&net.take(a)).len(), 1);
    assert!(rejected(&net.take(c)).is_empty(), "still waiting");
    // the deadline answers it
    net.run_for(Duration::from_secs(4));
    assert_eq!(rejected(&net.take(c)), vec![436]);
    assert_eq!(net.ep(b).parked_requests(), 0);
}

/// Parked requests are bounded per source (4): a fifth INVITE from the same address while the fetch hangs
/// is answered at once (436), not parked.
#[test]
fn r_2_identity_parked_requests_bounded_per_source() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let ib = pki.identity(&net, None, IdentityPolicy::Required);
    let a = net.add(with_identity(Net::config("alice", 5060, 1), ia));
    let b = net.add(with_identity(Net::config("bob", 5070, 2), ib));
    net.hold_fetches = true;
    for _ in 0..5 {
        let now = net.now;
        net.ep(a).dial(now, BOB, CallOptions::default()).unwrap();
        net.run();
    }
    assert_eq!(net.ep(b).parked_requests(), 4);
    assert_eq!(rejected(&net.take(a)), vec![436]);
    let asked = net.fetches.iter().filter(|f| f.0 == b).count();
    assert_eq!(asked, 1, "one fetch per URL in flight");
}

/// `file://` confined to the allowed directory: a certificate that exists outside it and a path inside it
/// that does not exist get the same answer (436), so the answer says nothing about the verifier's files; a
/// certificate inside it verifies.
#[test]
fn r_2_identity_file_outside_allowed_dirs_and_missing_path_same_status() {
    let outside = tempfile::tempdir().unwrap();
    let allowed = tempfile::tempdir().unwrap();
    let mut codes = Vec::new();
    for case in ["outside", "missing", "inside"] {
        let mut net = Net::new();
        let mut pki = Pki::new();
        let dir = match case {
            "outside" => outside.path(),
            _ => allowed.path(),
        };
        let path = dir.join(format!("{case}.pem"));
        let url = format!("file://{}", path.display());
        let (signer, pem) = pki.signer_at("alice", &url);
        if case != "missing" {
            std::fs::write(&path, &pem).unwrap();
        }
        let mut ia = pki.identity(&net, None, IdentityPolicy::BestEffort);
        ia.signer = Some(signer);
        let mut ib = pki.identity(&net, None, IdentityPolicy::Required);
        let r: dtlsrtp::SharedResolver = Arc::new(Mutex::new(FileResolver::under(allowed.path())));
        ib.resolver = Some(r);
        let a = net.add(with_identity(Net::config("alice", 5060, 1), ia));
        let b = net.add(with_identity(Net::config("bob", 5070, 2), ib));
        let now = net.now;
        net.ep(a).dial(now, BOB, CallOptions::default()).unwrap();
        net.run();
        let eb = net.take(b);
        if case == "inside" {
            let cb = incoming(&eb);
            let now = net.now;
            net.ep(b).answer(now, cb).unwrap();
            net.run();
            assert!(security(&net.take(b))
                .iter()
                .any(|s| verified_as(s, "alice")));
        } else {
            assert!(!has(&eb, |e| matches!(e, Event::IncomingCall { .. })));
            codes.push(rejected(&net.take(a)));
        }
    }
    assert_eq!(codes, vec![vec![436], vec![436]]);
}

/// The allow-list is checked before any fetch: an `info` whose scheme or host is not allowed is not
/// fetched at all, and fails like an unreachable one (436).
#[test]
fn r_2_identity_info_outside_allow_list_never_fetched() {
    let mut net = Net::new();
    let mut pki = Pki::new();
    let ia = pki.identity(&net, Some("alice"), IdentityPolicy::BestEffort);
    let mut ib = pki.identity(&net, None, IdentityPolicy::Required);
    // only https from one host: Alice's http://127.0.0.1/alice.pem is out
    let mut allow = dtlsrtp::InfoAllow::default();
    allow.schemes = vec!["https".into()];
    allow.hosts = vec!["cert.example.org".into()];
    ib.info_allow = allow;
    let a = net.add(with_identity(Net::config("alice", 5060, 1), ia));
    let b = net.add(with_identity(Net::config("bob", 5070, 2), ib));
    let now = net.now;
    net.ep(a).dial(now, BOB, CallOptions::default()).unwrap();
    net.run();
    assert!(net.fetches.is_empty(), "{:?}", net.fetches);
    assert!(pki.fetched().is_empty());
    assert_eq!(rejected(&net.take(a)), vec![436]);
    assert!(!has(&net.take(b), |e| matches!(
        e,
        Event::IncomingCall { .. }
    )));
}
