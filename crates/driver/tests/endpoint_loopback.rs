//! Real sockets: two Endpoints run by the tokio driver on 127.0.0.1 call each other (SIP over UDP and over TCP),
//! the callee answers active, DTLS-SRTP comes up with fingerprints checked both ways, audio flows both ways,
//! BYE ends the call and releases the media sockets.
#![allow(clippy::disallowed_methods)] // tests: real sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use dtlsrtp::{CallId, CallOptions, EndReason, Event};
use dtlsrtp_dtls::{Certificate, KeyType};
use dtlsrtp_tokio::endpoint::{DriverOptions, EndpointHandle};
use tokio::time::timeout;

async fn start(user: &str, tcp: bool) -> EndpointHandle {
    let cert = Certificate::generate(KeyType::EcdsaP256, user, 1).unwrap();
    let mut opts = DriverOptions::new("127.0.0.1:0".parse().unwrap());
    if tcp {
        opts.sip_tcp = Some("127.0.0.1:0".parse().unwrap());
    }
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

async fn call_both_ways(tcp: bool) {
    let mut a = start("alice", false).await;
    let mut b = start("bob", tcp).await;
    let target = if tcp {
        let t = b
            .sip_addrs()
            .iter()
            .find(|s| s.0 == dtlsrtp::TransportKind::Tcp)
            .unwrap()
            .1;
        format!("sip:bob@{t};transport=tcp")
    } else {
        format!("sip:bob@{}", b.sip_udp())
    };
    let ca = a.dial(&target, CallOptions::default()).await.unwrap();
    let seen = wait_for(&mut b, |e| matches!(e, Event::IncomingCall { .. })).await;
    let Some(Event::IncomingCall { call: cb, .. }) = seen.last().cloned() else {
        unreachable!()
    };
    b.answer(cb).await.unwrap();
    let eb = wait_for(&mut b, |e| matches!(e, Event::Established { .. })).await;
    assert!(
        eb.iter().any(|e| matches!(
            e,
            Event::DtlsConnected {
                role: dtlsrtp_srtp::DtlsRole::Client,
                ..
            }
        )),
        "{eb:?}"
    );
    let ea = wait_for(&mut a, |e| matches!(e, Event::Established { .. })).await;
    assert!(
        ea.iter()
            .any(|e| matches!(e, Event::FingerprintVerified { .. })),
        "{ea:?}"
    );
    send_and_receive(&a, ca, &mut b, b"to-bob").await;
    send_and_receive(&b, cb, &mut a, b"to-alice").await;
    let stats = a.stats(ca).await.unwrap().unwrap();
    assert_eq!(stats.associations.len(), 1);
    assert!(stats.associations[0].counters.packets_out >= 1);
    a.hangup(ca).await.unwrap();
    let ea = wait_for(&mut a, |e| matches!(e, Event::Terminated { .. })).await;
    assert!(ea.iter().any(|e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::Local,
            ..
        }
    )));
    let eb = wait_for(&mut b, |e| matches!(e, Event::Terminated { .. })).await;
    assert!(
        eb.iter().any(|e| matches!(
            e,
            Event::Terminated {
                reason: EndReason::RemoteBye,
                ..
            }
        )),
        "{eb:?}"
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

async fn send_and_receive(
    from: &EndpointHandle,
    call: CallId,
    to: &mut EndpointHandle,
    tag: &[u8],
) {
    for i in 0..5u32 {
        from.send_audio(call, 0, i * 160, tag.to_vec())
            .await
            .unwrap();
    }
    let seen = wait_for(
        to,
        |e| matches!(e, Event::Rtp { payload, .. } if payload == tag),
    )
    .await;
    assert!(seen.iter().any(|e| matches!(
        e,
        Event::Rtp {
            verified: true,
            pt: 0,
            ..
        }
    )));
}

#[tokio::test]
async fn endpoint_call_over_udp_real_sockets() {
    call_both_ways(false).await;
}

#[tokio::test]
async fn endpoint_call_over_tcp_real_sockets() {
    call_both_ways(true).await;
}
