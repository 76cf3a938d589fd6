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

/// A-R-DOS over real sockets: 10,000 bogus INVITEs (malformed: 400) hit the callee's SIP socket while the call's
/// media flows; every one of the 50 frames sent during the flood arrives, and the call is still up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_of_10000_bogus_invites_real_sockets_media_undisturbed() {
    let mut a = start("alice", false).await;
    let mut b = start("bob", false).await;
    let ca = a
        .dial(&format!("sip:bob@{}", b.sip_udp()), CallOptions::default())
        .await
        .unwrap();
    let seen = wait_for(&mut b, |e| matches!(e, Event::IncomingCall { .. })).await;
    let Some(Event::IncomingCall { call: cb, .. }) = seen.last().cloned() else {
        unreachable!()
    };
    b.answer(cb).await.unwrap();
    wait_for(&mut b, |e| matches!(e, Event::Established { .. })).await;
    wait_for(&mut a, |e| matches!(e, Event::Established { .. })).await;
    let target = b.sip_udp();
    let flooder = std::thread::spawn(move || {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..10_000u32 {
            let m = format!(
                "INVITE sip:bob@{target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKf{i}\r\n\
Max-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag={i}\r\nTo: <sip:bob@{target}>\r\nCall-ID: flood{i}\r\n\
CSeq: bogus INVITE\r\nContent-Length: 0\r\n\r\n"
            );
            let _ = s.send_to(m.as_bytes(), target);
            if i % 10 == 0 {
                // paced over ~1 s: the flood overlaps the 50 frames (1 s of audio)
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    let mut got = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut sent = 0u32;
    let end = tokio::time::Instant::now() + Duration::from_secs(5);
    while got < 50 && tokio::time::Instant::now() < end {
        tokio::select! {
            _ = tick.tick(), if sent < 50 => {
                a.send_audio(ca, 0, sent * 160, vec![0xd5; 160]).await.unwrap();
                sent += 1;
            }
            e = b.next_event() => match e {
                Some(Event::Rtp { verified: true, .. }) => got += 1,
                Some(Event::Terminated { .. } | Event::IncomingCall { .. }) => panic!("flood disturbed the call: {e:?}"),
                _ => {}
            },
        }
    }
    flooder.join().unwrap();
    assert_eq!(got, 50, "every frame sent during the flood arrived");
    let st = b.stats(cb).await.unwrap().expect("call still up");
    assert_eq!(st.associations.len(), 1);
    a.hangup(ca).await.unwrap();
    wait_for(&mut b, |e| matches!(e, Event::Terminated { .. })).await;
}

/// A self-signed P-256 certificate for SIP over TLS, and an acceptor/connector pair trusting it (or not).
fn tls_config(trust: bool) -> dtlsrtp_tokio::endpoint::TlsConfig {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::ssl::{SslAcceptor, SslConnector, SslMethod, SslVerifyMode};
    use openssl::x509::{X509NameBuilder, X509};
    use std::sync::Arc;
    let key = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "sip-tls-test").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let mut acc = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
    acc.set_private_key(&key).unwrap();
    acc.set_certificate(&cert).unwrap();
    let mut con = SslConnector::builder(SslMethod::tls_client()).unwrap();
    if trust {
        con.cert_store_mut().add_cert(cert).unwrap();
    }
    con.set_verify(SslVerifyMode::PEER);
    dtlsrtp_tokio::endpoint::TlsConfig::new(Arc::new(acc.build()), Arc::new(con.build()))
}

async fn start_tls(user: &str, tls: dtlsrtp_tokio::endpoint::TlsConfig) -> EndpointHandle {
    let cert = Certificate::generate(KeyType::EcdsaP256, user, 1).unwrap();
    let mut opts = DriverOptions::new("127.0.0.1:0".parse().unwrap());
    opts.sip_tls = Some(("127.0.0.1:0".parse().unwrap(), tls));
    let user = user.to_owned();
    EndpointHandle::start(opts, move |sip, seed| {
        dtlsrtp::Config::new(&user, "127.0.0.1", sip, cert, seed)
    })
    .await
    .unwrap()
}

/// SIP over TLS (OpenSSL) between two Endpoints: the call comes up with DTLS-SRTP media both ways; a caller
/// whose connector does not trust the callee's certificate cannot call (the INVITE fails at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_call_over_tls_real_sockets_and_untrusted_server_refused() {
    // alice and bob share one certificate their connectors trust; eve trusts only her own
    let shared = tls_config(true);
    let mut a = start_tls("alice", shared.clone()).await;
    let mut b = start_tls("bob", shared).await;
    let tls = b
        .sip_addrs()
        .iter()
        .find(|s| s.0 == dtlsrtp::TransportKind::Tls)
        .unwrap()
        .1;
    assert_ne!(tls, b.sip_udp());
    let ca = a
        .dial(
            &format!("sip:bob@{tls};transport=tls"),
            CallOptions::default(),
        )
        .await
        .unwrap();
    let seen = wait_for(&mut b, |e| matches!(e, Event::IncomingCall { .. })).await;
    let Some(Event::IncomingCall { call: cb, .. }) = seen.last().cloned() else {
        unreachable!()
    };
    b.answer(cb).await.unwrap();
    wait_for(&mut b, |e| matches!(e, Event::Established { .. })).await;
    wait_for(&mut a, |e| matches!(e, Event::Established { .. })).await;
    send_and_receive(&a, ca, &mut b, b"over-tls").await;
    send_and_receive(&b, cb, &mut a, b"back").await;
    a.hangup(ca).await.unwrap();
    wait_for(&mut b, |e| {
        matches!(
            e,
            Event::Terminated {
                reason: EndReason::RemoteBye,
                ..
            }
        )
    })
    .await;

    let mut eve = start_tls("eve", tls_config(true)).await;
    let c = eve
        .dial(
            &format!("sip:bob@{tls};transport=tls"),
            CallOptions::default(),
        )
        .await
        .unwrap();
    let seen = wait_for(&mut eve, |e| matches!(e, Event::Terminated { .. })).await;
    assert!(seen
        .iter()
        .any(|e| matches!(e, Event::Terminated { call, .. } if *call == c)));
    assert!(!seen.iter().any(|e| matches!(e, Event::Answered { .. })));
}
