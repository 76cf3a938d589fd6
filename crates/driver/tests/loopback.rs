//! Real sockets: two media ports on 127.0.0.1, each run by the tokio driver, handshake (fingerprints checked both
//! ways) and exchange SRTP both ways; RTCP reports arrive; shutdown is clean.
#![allow(clippy::disallowed_methods)] // tests: real sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use dtlsrtp_dtls::{Certificate, Config, CookieSecret, HashFunction, KeyType};
use dtlsrtp_media::{ForkId, MediaEvent, MediaPortConfig, PeerParams};
use dtlsrtp_srtp::DtlsRole;
use dtlsrtp_tokio::MediaHandle;
use tokio::time::timeout;

async fn endpoint(cert: Certificate) -> MediaHandle {
    MediaHandle::bind("127.0.0.1:0".parse().unwrap(), move |local, seed| {
        let mut c =
            MediaPortConfig::new(local, Config::new(cert, CookieSecret::new([3; 32])), seed);
        c.rtcp_interval = Duration::from_millis(200);
        c
    })
    .await
    .unwrap()
}

fn peer(role: DtlsRole, addr: std::net::SocketAddr, cert: &Certificate) -> PeerParams {
    PeerParams {
        addr: Some(addr),
        role,
        fingerprints: vec![cert.fingerprint(HashFunction::Sha256).unwrap()],
        association: dtlsrtp_sdp::Association::Keep,
        ice: None,
    }
}

async fn wait_for(
    h: &mut MediaHandle,
    mut pred: impl FnMut(&MediaEvent) -> bool,
) -> Vec<MediaEvent> {
    let mut seen = Vec::new();
    timeout(Duration::from_secs(10), async {
        while let Some(e) = h.next_event().await {
            let done = pred(&e);
            seen.push(e);
            if done {
                return;
            }
        }
        panic!("driver stopped");
    })
    .await
    .expect("timed out");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_endpoints_over_loopback_through_the_tokio_driver() {
    let (ca, cb) = (
        Certificate::generate(KeyType::EcdsaP256, "a", 1).unwrap(),
        Certificate::generate(KeyType::EcdsaP256, "b", 1).unwrap(),
    );
    let mut a = endpoint(ca.clone()).await;
    let mut b = endpoint(cb.clone()).await;
    let f = ForkId(7);
    a.listen(true).await.unwrap();
    b.set_peer(f, peer(DtlsRole::Client, a.local_addr(), &ca))
        .await
        .unwrap();
    a.set_peer(f, peer(DtlsRole::Server, b.local_addr(), &cb))
        .await
        .unwrap();
    let verified = |e: &MediaEvent| matches!(e, MediaEvent::FingerprintVerified { .. });
    let ea = wait_for(&mut a, verified).await;
    wait_for(&mut b, verified).await;
    assert!(ea.iter().any(
        |e| matches!(e, MediaEvent::FingerprintVerified { remote, .. } if *remote == b.local_addr())
    ));
    let n = 500u32;
    for i in 0..n {
        let mut p = vec![0u8; 160];
        p[..4].copy_from_slice(&i.to_be_bytes());
        a.send_rtp(f, 0, false, i * 160, p.clone()).await.unwrap();
        b.send_rtp(f, 8, false, i * 160, p).await.unwrap();
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    for (h, pt) in [(&mut a, 8u8), (&mut b, 0u8)] {
        let mut got = 0u32;
        let mut sr = false;
        timeout(Duration::from_secs(10), async {
            while got < n || !sr {
                match h.next_event().await.unwrap() {
                    MediaEvent::Rtp(r) => {
                        assert_eq!(r.payload_type, pt);
                        assert_eq!(r.payload.len(), 160);
                        got += 1;
                    }
                    MediaEvent::Rtcp { report, .. } if report.sender_info.is_some() => sr = true,
                    _ => {}
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("got {got} of {n} packets, SR seen: {sr}"));
    }
    let infos = a.associations().await.unwrap();
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].counters.packets_in, u64::from(n));
    assert_eq!(infos[0].counters.auth_failures, 0);
    let ka = a.keying_material(infos[0].id).await.unwrap().unwrap();
    let ib = b.associations().await.unwrap();
    let kb = b.keying_material(ib[0].id).await.unwrap().unwrap();
    assert_eq!(ka, kb, "both ends exported the same keys");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
