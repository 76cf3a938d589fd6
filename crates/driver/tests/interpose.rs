//! The driver's packet tricks on real sockets (issue 13 item 4): an [`Interposer`] on an endpoint's outgoing
//! datagrams holds the callee's 200 OK behind its ClientHello (F-5.8: the caller's keys stay gated until the
//! 200's fingerprint arrives, F-5.14), and the workspace's forking proxy on a socket ([`ProxyHandle`]) rings
//! two callees and cancels the loser (F-6.3, RFC 3261 §16.7 step 10).
#![allow(clippy::disallowed_methods)] // tests: real sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dtlsrtp::{CallOptions, EndReason, Event, Transmit};
use dtlsrtp_dtls::{Certificate, KeyType};
use dtlsrtp_tokio::endpoint::{DriverOptions, EndpointHandle};
use dtlsrtp_tokio::interpose::{proxy, Interpose, Interposer, ProxyHandle};
use tokio::net::UdpSocket;
use tokio::time::timeout;

async fn start(user: &str, interpose: Option<Interpose>) -> EndpointHandle {
    let cert = Certificate::generate(KeyType::EcdsaP256, user, 1).unwrap();
    let mut opts = DriverOptions::new("127.0.0.1:0".parse().unwrap());
    opts.interpose = interpose;
    let user = user.to_owned();
    EndpointHandle::start(opts, move |sip, seed| {
        dtlsrtp::Config::new(&user, "127.0.0.1", sip, cert, seed)
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

/// Holds the first 2xx to an INVITE; logs what it let through.
#[derive(Default)]
struct HoldFirst200 {
    held: Mutex<Vec<(Transmit, Arc<UdpSocket>)>>,
    /// First bytes of what went out, in order.
    log: Mutex<Vec<u8>>,
}

impl Interposer for HoldFirst200 {
    fn outgoing(&self, t: &mut Transmit, socket: &Arc<UdpSocket>) -> bool {
        let mut held = self.held.lock().unwrap();
        let is_2xx = t.bytes.starts_with(b"SIP/2.0 200")
            && String::from_utf8_lossy(&t.bytes).contains(" INVITE\r\n");
        if is_2xx && held.is_empty() {
            held.push((t.clone(), socket.clone()));
            return false;
        }
        self.log
            .lock()
            .unwrap()
            .push(t.bytes.first().copied().unwrap_or(0));
        true
    }
}

impl HoldFirst200 {
    fn release(&self) -> usize {
        let held = self.held.lock().unwrap();
        for (t, s) in held.iter() {
            s.try_send_to(&t.bytes, t.remote).unwrap();
        }
        held.len()
    }
}

/// F-5.8, F-5.14 through the driver: with the 200 held, the callee's ClientHello reaches the caller, whose
/// handshake completes with keys gated (no verification, no established call); the released 200 verifies.
#[tokio::test]
async fn interposer_holds_the_200_behind_the_client_hello() {
    let hold = Arc::new(HoldFirst200::default());
    let mut a = start("alice", None).await;
    let mut b = start("bob", Some(Interpose(hold.clone()))).await;
    a.dial(&format!("sip:bob@{}", b.sip_udp()), CallOptions::default())
        .await
        .unwrap();
    let seen = wait_for(&mut b, |e| matches!(e, Event::IncomingCall { .. })).await;
    let Some(Event::IncomingCall { call, .. }) = seen.last().cloned() else {
        unreachable!()
    };
    b.answer(call).await.unwrap();
    let ea = wait_for(&mut a, |e| matches!(e, Event::DtlsConnected { .. })).await;
    assert!(
        !ea.iter().any(|e| matches!(
            e,
            Event::FingerprintVerified { .. } | Event::Established { .. }
        )),
        "keys gated until the 200's fingerprint: {ea:?}"
    );
    // DTLS records (first byte 20..=63) went out from the callee while its 200 was held.
    assert!(hold
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|b| (20..=63).contains(b)));
    assert_eq!(hold.release(), 1);
    let ea = wait_for(&mut a, |e| matches!(e, Event::Established { .. })).await;
    assert!(
        ea.iter()
            .any(|e| matches!(e, Event::FingerprintVerified { .. })),
        "{ea:?}"
    );
}

/// F-6.3: the proxy forks the INVITE to Bob and Carol; Bob answers; the proxy cancels Carol's branch; the
/// caller's call is established with Bob, and the notes say what the proxy did.
#[tokio::test]
async fn proxy_handle_forks_the_invite_and_cancels_the_loser() {
    let mut a = start("alice", None).await;
    let mut b = start("bob", None).await;
    let mut c = start("carol", None).await;
    let notes = Arc::new(Mutex::new(Vec::new()));
    let n = notes.clone();
    let targets: Vec<SocketAddr> = vec![b.sip_udp(), c.sip_udp()];
    let p = ProxyHandle::start(
        "127.0.0.1:0".parse().unwrap(),
        |addr| proxy::Proxy::new(addr, targets),
        move |note| n.lock().unwrap().push(note),
    )
    .await
    .unwrap();
    a.dial(&format!("sip:bob@{}", p.addr()), CallOptions::default())
        .await
        .unwrap();
    let seen = wait_for(&mut b, |e| matches!(e, Event::IncomingCall { .. })).await;
    let Some(Event::IncomingCall { call: cb, .. }) = seen.last().cloned() else {
        unreachable!()
    };
    wait_for(&mut c, |e| matches!(e, Event::IncomingCall { .. })).await;
    b.answer(cb).await.unwrap();
    wait_for(&mut a, |e| matches!(e, Event::Established { .. })).await;
    wait_for(&mut c, |e| {
        matches!(
            e,
            Event::Terminated {
                reason: EndReason::Cancelled,
                ..
            }
        )
    })
    .await;
    let notes = notes.lock().unwrap().clone();
    assert!(notes.contains(&proxy::Note::Forked(b.sip_udp())));
    assert!(notes.contains(&proxy::Note::Forked(c.sip_udp())));
    assert!(
        notes.contains(&proxy::Note::Cancelled(c.sip_udp())),
        "{notes:?}"
    );
    assert!(!notes.contains(&proxy::Note::Cancelled(b.sip_udp())));
    p.shutdown().await;
}
