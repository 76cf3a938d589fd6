//! Issue 13 design item 3 on real sockets: the endpoint does no file I/O; the tokio driver loads the peer-key
//! cache (F-8.4b, P-7b) before the endpoint starts and writes it, owner-only, when the endpoint learns a new
//! peer. Bob verifies Alice's Identity (certificate served by an in-memory resolver).
#![allow(clippy::disallowed_methods)] // tests: real sockets, clock and files
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dtlsrtp::{CallOptions, CallSecurityState, Event, IdentityConfig};
use dtlsrtp_dtls::{Certificate, KeyType};
use dtlsrtp_sip::identity::{
    AuthService, Authority, CertResolver, ResolveError, TrustAnchors, Verifier,
};
use dtlsrtp_tokio::endpoint::{DriverOptions, EndpointHandle};
use tokio::time::timeout;

const INFO: &str = "http://127.0.0.1:9/alice.pem";

struct Serve(Vec<u8>);

impl CertResolver for Serve {
    fn fetch(&mut self, url: &str) -> Result<Vec<u8>, ResolveError> {
        if url == INFO {
            Ok(self.0.clone())
        } else {
            Err(ResolveError::Unreachable)
        }
    }
}

async fn start(user: &str, identity: IdentityConfig) -> EndpointHandle {
    let cert = Certificate::generate(KeyType::EcdsaP256, user, 1).unwrap();
    let opts = DriverOptions::new("127.0.0.1:0".parse().unwrap());
    let user = user.to_owned();
    EndpointHandle::start(opts, move |sip, seed| {
        let mut c = dtlsrtp::Config::new(&user, "127.0.0.1", sip, cert, seed);
        c.identity = Some(identity);
        c
    })
    .await
    .unwrap()
}

async fn wait_for(h: &mut EndpointHandle, mut pred: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let mut seen = Vec::new();
    timeout(Duration::from_secs(10), async {
        while let Some(e) = h.next_event().await {
            let done = pred(&e);
            seen.push(e);
            if done {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; saw {seen:?}"));
    seen
}

/// Alice (signing) calls Bob (verifying, cache at `path`); returns Bob's events up to the verified state.
async fn verified_call(pem: &[u8], path: &Path) -> Vec<Event> {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let clock = (Instant::now(), unix);
    let mut ia = IdentityConfig::new(clock);
    ia.signer = Some(Arc::new(AuthService::new(pem, pem, INFO).unwrap()));
    let mut anchors = TrustAnchors::new();
    anchors.add(pem).unwrap();
    let mut ib = IdentityConfig::new(clock);
    ib.verifier = Some(Verifier::new(anchors).with_authority(Authority::AnyTrusted));
    let r: dtlsrtp::SharedResolver = Arc::new(Mutex::new(Serve(pem.to_vec())));
    ib.resolver = Some(r);
    ib.peer_keys = Some(path.to_path_buf());
    let a = start("alice", ia).await;
    let mut b = start("bob", ib).await;
    a.dial(&format!("sip:bob@{}", b.sip_udp()), CallOptions::default())
        .await
        .unwrap();
    let seen = wait_for(&mut b, |e| matches!(e, Event::IncomingCall { .. })).await;
    let Some(Event::IncomingCall { call, .. }) = seen.last().cloned() else {
        unreachable!()
    };
    b.answer(call).await.unwrap();
    let mut seen = wait_for(&mut b, |e| {
        matches!(
            e,
            Event::Security {
                state: CallSecurityState::EncryptedToVerifiedIdentity { .. },
                ..
            }
        )
    })
    .await;
    // what follows the verified state at once (the continuity verdict)
    while let Ok(Some(e)) = timeout(Duration::from_millis(300), b.next_event()).await {
        seen.push(e);
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f_8_4b_driver_loads_and_stores_the_peer_key_cache() {
    let signing = Certificate::generate(KeyType::EcdsaP256, "alice", 1).unwrap();
    let pem = signing.to_pem().unwrap();
    let dir = tempfile::tempdir().unwrap();

    // 1. An empty cache: Alice is a new peer, the driver writes the file (0600) with her key.
    let fresh = dir.path().join("fresh.txt");
    let seen = verified_call(&pem, &fresh).await;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::PeerKeyChanged { .. })),
        "{seen:?}"
    );
    let mut text = String::new();
    for _ in 0..200 {
        text = std::fs::read_to_string(&fresh).unwrap_or_default();
        if text.contains("alice") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let line = text
        .lines()
        .find(|l| l.contains("alice") && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("{text}"));
    let identity = line.split(' ').next().unwrap().to_owned();
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // 2. A cache that knows Alice under another key: loaded before the endpoint starts, so her (new) key is
    //    a change on the very first call.
    let known = dir.path().join("known.txt");
    let other = format!("{identity} sha-256 {}\n", vec!["AB"; 32].join(":"));
    std::fs::write(&known, &other).unwrap();
    let seen = verified_call(&pem, &known).await;
    assert!(
        seen.iter().any(
            |e| matches!(e, Event::PeerKeyChanged { identity, .. } if identity.contains("alice"))
        ),
        "{seen:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&known).unwrap(),
        other,
        "a changed key is not stored"
    );
}
