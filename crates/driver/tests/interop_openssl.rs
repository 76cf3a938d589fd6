//! Interop with the OpenSSL command line on a media port without ICE (issue 5): the port, run by the tokio
//! driver on 127.0.0.1, is the DTLS client of `openssl s_server` and the DTLS server of `openssl s_client`; the
//! fingerprint gate verifies the CLI's own certificate, and the SRTP keys the port exported equal the
//! `Keying material` the CLI prints (D-4.2a).
#![allow(clippy::disallowed_methods)] // tests: real sockets, clock and processes
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use dtlsrtp_dtls::{Certificate, Config, CookieSecret, KeyType};
use dtlsrtp_media::{ForkId, MediaEvent, MediaPortConfig, PeerParams};
use dtlsrtp_sdp::Fingerprint;
use dtlsrtp_srtp::{DtlsRole, SrtpKeyingMaterial, SrtpProfile};
use dtlsrtp_testkit::openssl_cli;
use dtlsrtp_tokio::MediaHandle;
use tokio::time::timeout;

async fn port(profile: SrtpProfile) -> MediaHandle {
    let cert = Certificate::generate(KeyType::EcdsaP256, "dtlsrtp", 1).unwrap();
    MediaHandle::bind("127.0.0.1:0".parse().unwrap(), move |local, seed| {
        let mut dtls = Config::new(cert, CookieSecret::new([5; 32]));
        dtls.srtp_profiles = vec![profile];
        dtls.initial_retransmit = Duration::from_millis(100);
        MediaPortConfig::new(local, dtls, seed)
    })
    .await
    .unwrap()
}

fn exported_hex(k: &SrtpKeyingMaterial) -> String {
    let mut v = Vec::new();
    v.extend_from_slice(k.client_write().key.expose());
    v.extend_from_slice(k.server_write().key.expose());
    v.extend_from_slice(k.client_write().salt.expose());
    v.extend_from_slice(k.server_write().salt.expose());
    hex::encode_upper(v)
}

/// Waits for the fork's verification; returns the verified association's keys.
async fn verified_keys(h: &mut MediaHandle) -> SrtpKeyingMaterial {
    let assoc = timeout(Duration::from_secs(10), async {
        loop {
            match h.next_event().await.expect("driver running") {
                MediaEvent::FingerprintVerified { assoc, .. } => return assoc,
                MediaEvent::FingerprintMismatch { .. } => {
                    panic!("the CLI's certificate did not match")
                }
                MediaEvent::AssociationClosed { reason, .. } => panic!("closed: {reason:?}"),
                _ => {}
            }
        }
    })
    .await
    .expect("handshake with the OpenSSL CLI timed out");
    h.keying_material(assoc).await.unwrap().unwrap()
}

fn check(out: &str, profile: SrtpProfile, keys: &SrtpKeyingMaterial) {
    assert_eq!(
        openssl_cli::line_after(out, "SRTP Extension negotiated, profile="),
        Some(profile.openssl_name()),
        "{out}"
    );
    let km = openssl_cli::line_after(out, "Keying material:").unwrap_or_else(|| panic!("{out}"));
    assert_eq!(km.to_ascii_uppercase(), exported_hex(keys));
    eprintln!(
        "interop ok: {profile}, {} exported octets equal",
        km.len() / 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_4_2a_media_port_is_client_of_openssl_s_server_keys_equal() {
    if !openssl_cli::available() {
        return;
    }
    for profile in [SrtpProfile::Aes128CmHmacSha1_80, SrtpProfile::AeadAes128Gcm] {
        let dir = openssl_cli::TempDir::new().unwrap();
        let id = openssl_cli::identity(&dir.0, false).unwrap();
        let fp: Fingerprint = format!("sha-256 {}", id.sha256).parse().unwrap();
        let p = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut srv =
            openssl_cli::s_server(p, &id, profile.openssl_name(), profile.exporter_len()).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await; // let s_server bind
        let mut h = port(profile).await;
        let peer = PeerParams {
            addr: Some(format!("127.0.0.1:{p}").parse().unwrap()),
            role: DtlsRole::Client,
            fingerprints: vec![fp],
            association: dtlsrtp_sdp::Association::Keep,
            ice: None,
        };
        h.set_peer(ForkId(1), peer).await.unwrap();
        let keys = verified_keys(&mut h).await;
        // close_notify from us, then the CLI exits.
        h.close_fork(ForkId(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let out = tokio::task::spawn_blocking(move || srv.finish())
            .await
            .unwrap();
        check(&out, profile, &keys);
        h.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_4_2a_media_port_is_server_of_openssl_s_client_keys_equal() {
    if !openssl_cli::available() {
        return;
    }
    for profile in [SrtpProfile::Aes128CmHmacSha1_80, SrtpProfile::AeadAes256Gcm] {
        let dir = openssl_cli::TempDir::new().unwrap();
        let id = openssl_cli::identity(&dir.0, false).unwrap();
        let fp: Fingerprint = format!("sha-256 {}", id.sha256).parse().unwrap();
        let mut h = port(profile).await;
        // We answered `passive`; the peer's address is not known from its SDP (None: no pinhole request).
        let peer = PeerParams {
            addr: None,
            role: DtlsRole::Server,
            fingerprints: vec![fp],
            association: dtlsrtp_sdp::Association::Keep,
            ice: None,
        };
        h.set_peer(ForkId(1), peer).await.unwrap();
        let mut cli = openssl_cli::s_client(
            h.local_addr().port(),
            &id,
            profile.openssl_name(),
            profile.exporter_len(),
        )
        .unwrap();
        let keys = verified_keys(&mut h).await;
        tokio::time::sleep(Duration::from_millis(200)).await; // answer a retransmitted last flight, if any
        let out = tokio::task::spawn_blocking(move || cli.finish())
            .await
            .unwrap();
        check(&out, profile, &keys);
        let c = h.counters().await.unwrap();
        assert_eq!(c.dtls_refused, 0);
        h.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_3_media_port_refuses_renegotiation_from_openssl_s_client_no_second_handshake() {
    if !openssl_cli::available() {
        return;
    }
    let profile = SrtpProfile::AeadAes128Gcm;
    let dir = openssl_cli::TempDir::new().unwrap();
    let id = openssl_cli::identity(&dir.0, false).unwrap();
    let fp: Fingerprint = format!("sha-256 {}", id.sha256).parse().unwrap();
    let mut h = port(profile).await;
    let peer = PeerParams {
        addr: None,
        role: DtlsRole::Server,
        fingerprints: vec![fp],
        association: dtlsrtp_sdp::Association::Keep,
        ice: None,
    };
    h.set_peer(ForkId(1), peer).await.unwrap();
    let mut cli = openssl_cli::s_client(
        h.local_addr().port(),
        &id,
        profile.openssl_name(),
        profile.exporter_len(),
    )
    .unwrap();
    let keys = verified_keys(&mut h).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // s_client: "R" starts a renegotiation (a new ClientHello under the current epoch).
    cli.write_stdin(b"R\n").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut evs = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(10), h.next_event()).await {
        evs.push(e);
    }
    // We answer the renegotiation ClientHello with a no_renegotiation warning, never a second handshake: no
    // new keys, no second DtlsConnected. OpenSSL's s_client treats the refusal as fatal and aborts with
    // handshake_failure, which ends the association from its side (rekeying is a new association instead, F-6.8 / X-3).
    assert!(
        !evs.iter().any(|e| matches!(
            e,
            MediaEvent::DtlsConnected { .. } | MediaEvent::FingerprintVerified { .. }
        )),
        "no second handshake: {evs:?}"
    );
    // The refusal is what ended it: s_client's handshake_failure came only after its renegotiation attempt, and
    // the keys we held until then were the first handshake's (never exported again).
    assert!(
        evs.iter().any(|e| matches!(
            e,
            MediaEvent::AssociationClosed {
                reason: dtlsrtp_media::CloseReason::Failed(dtlsrtp_dtls::DtlsError::AlertReceived(
                    _
                )),
                ..
            }
        )),
        "{evs:?}"
    );
    assert!(h.associations().await.unwrap().is_empty());
    let _ = keys;
    drop(cli);
    h.shutdown().await.unwrap();
}
