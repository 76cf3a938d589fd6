//! P-6.2b (RFC 8122 §6.2) on a media port: when the fingerprint is known during the handshake, a certificate
//! that does not match it is refused in the handshake with a bad_certificate (42) alert on the wire, in both
//! DTLS roles, with the same events as a mismatch found after the handshake (F-5.15). A mismatch found only
//! after the handshake (the ClientHello came before the answer, F-5.8, or a re-offer changed the fingerprints)
//! ends with a bad_certificate alert too: an encrypted (epoch 1) record the association seals itself, which the
//! peer's OpenSSL decrypts and reports, and no close_notify.
#![allow(clippy::disallowed_methods)] // tests: OpenSSL's timers run on the real clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use dtlsrtp_dtls::{Alert, DtlsError};
use dtlsrtp_media::{CloseReason, MediaEvent};
use dtlsrtp_srtp::DtlsRole;
use dtlsrtp_testkit::netsim::LinkConfig;

/// Epoch-0 alert records (level, description) in the datagrams `ep` sent to `to`.
fn alerts_sent(w: &World, ep: usize, to: SocketAddr) -> Vec<(u8, u8)> {
    let mut out = Vec::new();
    for (_, t) in w.eps[ep].sent.iter().filter(|(_, t)| t.remote == to) {
        let mut rest = t.bytes.as_slice();
        while rest.len() >= 13 {
            let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
            let Some(body) = rest.get(13..13 + len) else {
                break;
            };
            if rest[0] == 21 && rest[3..5] == [0, 0] && len == 2 {
                out.push((body[0], body[1]));
            }
            rest = &rest[13 + len..];
        }
    }
    out
}

const BAD_CERTIFICATE: (u8, u8) = (2, Alert::BAD_CERTIFICATE.0);

fn world() -> World {
    let mut w = World::new(61, LinkConfig::default());
    w.add(port_config(0, addr(A_ADDR)));
    w.add(port_config(1, addr(B_ADDR)));
    w.eps[0].port.listen(true);
    w
}

fn mismatch_events(ep: &Ep) -> bool {
    ep.has(|e| matches!(e, MediaEvent::FingerprintMismatch { .. }))
        && ep.has(|e| {
            matches!(
                e,
                MediaEvent::AssociationClosed {
                    reason: CloseReason::FingerprintMismatch,
                    ..
                }
            )
        })
}

#[test]
fn p_6_2b_server_port_sends_bad_certificate_when_the_answer_came_first() {
    let mut w = world();
    let now = w.now;
    // A already has B's answer, naming another certificate (2); then B's ClientHello arrives.
    w.eps[0]
        .port
        .set_peer(
            now,
            FORK,
            peer(DtlsRole::Server, addr(B_ADDR), vec![fingerprint(2)]),
        )
        .unwrap();
    w.eps[1]
        .port
        .set_peer(
            now,
            FORK,
            peer(DtlsRole::Client, addr(A_ADDR), vec![fingerprint(0)]),
        )
        .unwrap();
    w.run_for(Duration::from_millis(500));
    assert!(
        alerts_sent(&w, 0, addr(B_ADDR)).contains(&BAD_CERTIFICATE),
        "A sent bad_certificate: {:?}",
        alerts_sent(&w, 0, addr(B_ADDR))
    );
    assert!(
        !alerts_sent(&w, 0, addr(B_ADDR)).contains(&(1, 0)),
        "no close_notify"
    );
    assert!(mismatch_events(&w.eps[0]));
    assert!(!w.eps[0].has(|e| matches!(e, MediaEvent::DtlsConnected { .. })));
    assert!(w.eps[0].port.associations().is_empty());
    // B received it.
    assert!(w.eps[1].has(|e| matches!(
        e,
        MediaEvent::AssociationClosed {
            reason: CloseReason::Failed(DtlsError::AlertReceived(Alert::BAD_CERTIFICATE)),
            ..
        }
    )));
}

#[test]
fn p_6_2b_client_port_sends_bad_certificate_for_a_mismatched_server() {
    let mut w = world();
    let now = w.now;
    w.eps[0]
        .port
        .set_peer(
            now,
            FORK,
            peer(DtlsRole::Server, addr(B_ADDR), vec![fingerprint(1)]),
        )
        .unwrap();
    // B (the client) was told A holds certificate 2.
    w.eps[1]
        .port
        .set_peer(
            now,
            FORK,
            peer(DtlsRole::Client, addr(A_ADDR), vec![fingerprint(2)]),
        )
        .unwrap();
    w.run_for(Duration::from_millis(500));
    assert!(alerts_sent(&w, 1, addr(A_ADDR)).contains(&BAD_CERTIFICATE));
    assert!(mismatch_events(&w.eps[1]));
    assert!(w.eps[1].has(|e| matches!(
        e,
        MediaEvent::FingerprintMismatch {
            fork: Some(FORK),
            ..
        }
    )));
    assert!(w.eps[0].has(|e| matches!(
        e,
        MediaEvent::AssociationClosed {
            reason: CloseReason::Failed(DtlsError::AlertReceived(Alert::BAD_CERTIFICATE)),
            ..
        }
    )));
    assert!(w.eps[0].rtp().is_empty() && w.eps[1].rtp().is_empty());
}

/// The (content type, epoch) of every record `ep` sent to `to`, in order.
fn records_sent(w: &World, ep: usize, to: SocketAddr) -> Vec<(u8, u16)> {
    let mut out = Vec::new();
    for (_, t) in w.eps[ep].sent.iter().filter(|(_, t)| t.remote == to) {
        let mut rest = t.bytes.as_slice();
        while rest.len() >= 13 && (20..=63).contains(&rest[0]) {
            let len = usize::from(u16::from_be_bytes([rest[11], rest[12]]));
            out.push((rest[0], u16::from_be_bytes([rest[3], rest[4]])));
            let Some(next) = rest.get(13 + len..) else {
                break;
            };
            rest = next;
        }
    }
    out
}

/// After a mismatch found once the handshake completed: A's last DTLS record to B is an encrypted alert, B's
/// OpenSSL decrypted it as a fatal bad_certificate, and B never saw a close_notify.
fn assert_bad_certificate_after_handshake(w: &World) {
    assert!(mismatch_events(&w.eps[0]));
    let recs = records_sent(w, 0, addr(B_ADDR));
    assert_eq!(recs.last(), Some(&(21, 1)), "{recs:?}");
    assert_eq!(
        recs.iter().filter(|r| r.0 == 21).count(),
        1,
        "one alert, no close_notify: {recs:?}"
    );
    assert!(w.eps[1].has(|e| matches!(
        e,
        MediaEvent::AssociationClosed {
            reason: CloseReason::Failed(DtlsError::AlertReceived(Alert::BAD_CERTIFICATE)),
            ..
        }
    )));
    assert!(!w.eps[1].has(|e| matches!(
        e,
        MediaEvent::AssociationClosed {
            reason: CloseReason::PeerClosed,
            ..
        }
    )));
}

#[test]
fn p_6_2b_mismatch_after_the_handshake_sends_bad_certificate() {
    // F-5.8: B's handshake completes before A has the answer; the answer's fingerprint is wrong. The handshake
    // is over, so the bad_certificate alert goes out encrypted under the association's keys.
    let mut w = world();
    let now = w.now;
    w.eps[1]
        .port
        .set_peer(
            now,
            FORK,
            peer(DtlsRole::Client, addr(A_ADDR), vec![fingerprint(0)]),
        )
        .unwrap();
    w.run_for(Duration::from_millis(300));
    assert!(w.eps[0].has(|e| matches!(e, MediaEvent::DtlsConnected { .. })));
    let now = w.now;
    w.eps[0]
        .port
        .set_peer(
            now,
            FORK,
            peer(DtlsRole::Server, addr(B_ADDR), vec![fingerprint(2)]),
        )
        .unwrap();
    w.run_for(Duration::from_millis(100));
    assert_bad_certificate_after_handshake(&w);
}

#[test]
fn p_6_2b_reoffer_with_other_fingerprints_on_a_kept_association_sends_bad_certificate() {
    // Both sides verified; then a re-offer keeps the association (a=connection:existing) but names another
    // certificate for B: A ends the verified association with bad_certificate.
    let mut w = world();
    let now = w.now;
    w.eps[0]
        .port
        .set_peer(
            now,
            FORK,
            peer(DtlsRole::Server, addr(B_ADDR), vec![fingerprint(1)]),
        )
        .unwrap();
    w.eps[1]
        .port
        .set_peer(
            now,
            FORK,
            peer(DtlsRole::Client, addr(A_ADDR), vec![fingerprint(0)]),
        )
        .unwrap();
    w.run_for(Duration::from_millis(300));
    assert!(w.eps[0].has(|e| matches!(e, MediaEvent::FingerprintVerified { .. })));
    assert!(!mismatch_events(&w.eps[0]));
    let now = w.now;
    w.eps[0]
        .port
        .set_peer(
            now,
            FORK,
            peer(DtlsRole::Server, addr(B_ADDR), vec![fingerprint(2)]),
        )
        .unwrap();
    w.run_for(Duration::from_millis(100));
    assert_bad_certificate_after_handshake(&w);
}
