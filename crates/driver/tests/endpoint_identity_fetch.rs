//! Issue 12 item 7 on real sockets: the tokio driver fetches Identity certificates off its loop. Bob's
//! resolver hangs on Alice's `info`; meanwhile Carol's call to Bob is set up and carries media both ways;
//! at the endpoint's deadline Alice's INVITE goes on, unverified (BestEffort).
#![allow(clippy::disallowed_methods)] // tests: real sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use dtlsrtp::{CallId, CallOptions, CallSecurityState, Event, IdentityConfig};
use dtlsrtp_dtls::{Certificate, KeyType};
use dtlsrtp_sip::identity::{AuthService, CertResolver, ResolveError, TrustAnchors, Verifier};
use dtlsrtp_tokio::endpoint::{DriverOptions, EndpointHandle};
use tokio::time::timeout;

/// A resolver that blocks until released (a server that accepts and never answers).
struct Hang(Arc<(Mutex<bool>, Condvar)>);

impl CertResolver for Hang {
    fn fetch(&mut self, _url: &str) -> Result<Vec<u8>, ResolveError> {
        let (m, cv) = &*self.0;
        let g = m.lock().unwrap();
        let _g = cv
            .wait_timeout_while(g, Duration::from_secs(30), |released| !*released)
            .unwrap();
        Err(ResolveError::Unreachable)
    }
}

async fn start(user: &str, identity: Option<IdentityConfig>) -> EndpointHandle {
    let cert = Certificate::generate(KeyType::EcdsaP256, user, 1).unwrap();
    let opts = DriverOptions::new("127.0.0.1:0".parse().unwrap());
    let user = user.to_owned();
    EndpointHandle::start(opts, move |sip, seed| {
        let mut c = dtlsrtp::Config::new(&user, "127.0.0.1", sip, cert, seed);
        c.identity = identity;
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

async fn audio(from: &EndpointHandle, call: CallId, to: &mut EndpointHandle, tag: &[u8]) {
    for i in 0..5u32 {
        from.send_audio(call, 0, i * 160, tag.to_vec())
            .await
            .unwrap();
    }
    wait_for(
        to,
        |e| matches!(e, Event::Rtp { payload, .. } if payload == tag),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_2_identity_driver_hung_certificate_fetch_blocks_no_other_call() {
    let release = Arc::new((Mutex::new(false), Condvar::new()));
    // Alice signs; her certificate is "at" a URL Bob's resolver never answers for.
    let signing = Certificate::generate(KeyType::EcdsaP256, "alice", 1).unwrap();
    let pem = signing.to_pem().unwrap();
    let signer = AuthService::new(&pem, &pem, "http://127.0.0.1:9/alice.pem").unwrap();
    let clock = (Instant::now(), 1_800_000_000);
    let mut ia = IdentityConfig::new(clock);
    ia.signer = Some(Arc::new(signer));
    let mut anchors = TrustAnchors::new();
    anchors.add(&pem).unwrap();
    let mut ib = IdentityConfig::new(clock);
    ib.verifier = Some(Verifier::new(anchors));
    let r: dtlsrtp::SharedResolver = Arc::new(Mutex::new(Hang(release.clone())));
    ib.resolver = Some(r);
    let a = start("alice", Some(ia)).await;
    let mut b = start("bob", Some(ib)).await;
    let mut c = start("carol", None).await;
    let target = format!("sip:bob@{}", b.sip_udp());
    let t0 = Instant::now();
    a.dial(&target, CallOptions::default()).await.unwrap();
    wait_for(&mut b, |e| matches!(e, Event::FetchCertificate { .. })).await;
    // Carol's call is set up and carries media while the fetch hangs
    let cc = c.dial(&target, CallOptions::default()).await.unwrap();
    let seen = wait_for(&mut b, |e| matches!(e, Event::IncomingCall { .. })).await;
    let Some(Event::IncomingCall { call: cb, from, .. }) = seen.last().cloned() else {
        unreachable!()
    };
    assert!(from.contains("carol"), "{from}");
    b.answer(cb).await.unwrap();
    wait_for(&mut c, |e| matches!(e, Event::Established { .. })).await;
    audio(&c, cc, &mut b, b"to-bob").await;
    audio(&b, cb, &mut c, b"to-carol").await;
    assert!(
        t0.elapsed() < Duration::from_secs(4),
        "before the fetch deadline"
    );
    // the deadline: Alice's call goes on, unverified (never shown as verified)
    let seen = wait_for(&mut b, |e| matches!(e, Event::IncomingCall { .. })).await;
    let Some(Event::IncomingCall { from, call: ab, .. }) = seen.last().cloned() else {
        unreachable!()
    };
    assert!(from.contains("alice"), "{from}");
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_secs(3), "{waited:?}");
    wait_for(&mut b, |e| {
        matches!(e, Event::Security { call, state: CallSecurityState::IdentityFailed { .. }, .. } if *call == ab)
    })
    .await;
    *release.0.lock().unwrap() = true;
    release.1.notify_all();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    c.shutdown().await.unwrap();
}
