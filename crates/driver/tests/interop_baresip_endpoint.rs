//! The Endpoint, run by the tokio driver, against real baresip (Debian `baresip`) on 127.0.0.1 with DTLS-SRTP:
//! we call baresip and baresip calls us; media both ways. We decode baresip's G.711 `ausine` tone (440 Hz) from
//! authenticated SRTP and detect it (Goertzel); baresip's log shows our packets received and no decrypt failures.
//! rtcp-mux on (ours by default) and off (baresip refuses it: RTP still flows on its own association; RTCP on
//! port + 1 is the documented D-3b gap).
//!
//! Under `CI=true` a missing baresip fails these tests; elsewhere they skip loudly. Every wait is bounded.
#![allow(clippy::disallowed_methods)] // tests: real sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use dtlsrtp::{CallId, CallOptions, EndReason, Event};
use dtlsrtp_testkit::peers::baresip::{AnswerMode, Baresip, MediaEnc};
use dtlsrtp_testkit::require_peer;
use dtlsrtp_tokio::endpoint::EndpointHandle;
use ep_common::*;

mod ep_common;

fn baresip(user: &str, mode: AnswerMode, mux: bool) -> Option<Baresip> {
    if !require_peer("baresip", "baresip") {
        return None;
    }
    Some(
        Baresip::builder(user)
            .answermode(mode)
            .mediaenc(MediaEnc::DtlsSrtp)
            .rtcp_mux(mux)
            .start()
            .unwrap(),
    )
}

async fn media_and_checks(ep: &mut EndpointHandle, call: CallId, peer: &mut Baresip) {
    let events = talk(ep, call, Duration::from_millis(1500)).await;
    assert_tone(&events);
    let line = tokio::task::block_in_place(|| peer.wait_rtp_received(WAIT)).unwrap();
    assert!(line.contains("127.0.0.1"), "{line}");
    ep.hangup(call).await.unwrap();
    let ev = wait_for(ep, |e| matches!(e, Event::Terminated { .. })).await;
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Terminated {
            reason: EndReason::Local,
            ..
        }
    )));
    tokio::task::block_in_place(|| peer.wait_terminated(WAIT)).unwrap();
    let f = peer.decrypt_failures();
    assert_eq!(f.rtp, 0, "baresip failed to decrypt our RTP: {f:?}");
    assert_eq!(peer.fingerprints_verified(), 1);
    assert_eq!(peer.fingerprint_mismatches(), 0);
}

async fn we_call_baresip(mux: bool) {
    let Some(mut bob) = baresip("bob", AnswerMode::Auto, mux) else {
        return;
    };
    let mut ep = endpoint("alice").await;
    let call = ep.dial(&bob.uri(), CallOptions::default()).await.unwrap();
    let ev = wait_for(&mut ep, |e| matches!(e, Event::Established { .. })).await;
    // baresip answered active: it is the DTLS client, we the server (F-5.8: its ClientHello beats its 200)
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::DtlsConnected {
                role: dtlsrtp_srtp::DtlsRole::Server,
                ..
            }
        )),
        "{ev:?}"
    );
    tokio::task::block_in_place(|| bob.wait_established(WAIT)).unwrap();
    media_and_checks(&mut ep, call, &mut bob).await;
    let sdp = bob.local_sdp().unwrap_or_default();
    assert_eq!(sdp.contains("a=rtcp-mux"), mux, "{sdp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_call_baresip_dtls_srtp_rtcp_mux_tone_both_ways() {
    we_call_baresip(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_3b_we_call_baresip_without_rtcp_mux_rtp_flows() {
    we_call_baresip(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_calls_us_we_answer_active_tone_both_ways() {
    let Some(mut alice) = baresip("alice", AnswerMode::Manual, true) else {
        return;
    };
    let mut ep = endpoint("bob").await;
    alice.dial(&format!("sip:bob@{}", ep.sip_udp())).unwrap();
    let ev = wait_for(&mut ep, |e| matches!(e, Event::IncomingCall { .. })).await;
    let Some(Event::IncomingCall { call, .. }) = ev.last().cloned() else {
        unreachable!()
    };
    ep.answer(call).await.unwrap();
    let ev = wait_for(&mut ep, |e| matches!(e, Event::Established { .. })).await;
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::DtlsConnected {
                role: dtlsrtp_srtp::DtlsRole::Client,
                ..
            }
        )),
        "{ev:?}"
    );
    tokio::task::block_in_place(|| alice.wait_established(WAIT)).unwrap();
    media_and_checks(&mut ep, call, &mut alice).await;
    // our answer said setup:active
    let remote = alice.remote_sdp().unwrap_or_default();
    assert!(remote.contains("a=setup:active"), "{remote}");
}
