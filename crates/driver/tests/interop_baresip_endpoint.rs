//! The Endpoint, run by the tokio driver, against real baresip (Debian `baresip`) on 127.0.0.1 with DTLS-SRTP:
//! we call baresip and baresip calls us; media both ways. We decode baresip's G.711 `ausine` tone (440 Hz) from
//! authenticated SRTP and detect it (Goertzel); baresip's log shows our packets received and no decrypt failures.
//! rtcp-mux on (ours by default) and off (baresip refuses it: the RTCP component gets its own association on
//! the port our `a=rtcp` fallback names, D-3b).
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

async fn media_and_checks(
    ep: &mut EndpointHandle,
    call: CallId,
    peer: &mut Baresip,
    components: usize,
) {
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
    assert_eq!(peer.fingerprints_verified(), components);
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
    if !mux {
        // D-3b: baresip refused rtcp-mux: a second association on the RTCP component (our `a=rtcp` port)
        tokio::task::block_in_place(|| bob.wait_dtls_srtp(2, WAIT)).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let st = ep.stats(call).await.unwrap().unwrap();
        assert_eq!(st.rtcp_associations.len(), 1, "{st:?}");
        let r = &st.rtcp_associations[0];
        assert!(
            r.fork.is_some(),
            "RTCP association verified and bound to the fork: {r:?}"
        );
        assert_ne!(r.remote, st.associations[0].remote, "its own 5-tuple");
        let offer = bob.remote_sdp().unwrap_or_default();
        assert!(offer.contains("a=rtcp:"), "{offer}");
    } else {
        let st = ep.stats(call).await.unwrap().unwrap();
        assert!(
            st.rtcp_associations.is_empty(),
            "rtcp-mux: one association: {st:?}"
        );
    }
    media_and_checks(&mut ep, call, &mut bob, if mux { 1 } else { 2 }).await;
    let sdp = bob.local_sdp().unwrap_or_default();
    assert_eq!(sdp.contains("a=rtcp-mux"), mux, "{sdp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_call_baresip_dtls_srtp_rtcp_mux_tone_both_ways() {
    we_call_baresip(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_3b_we_call_baresip_without_rtcp_mux_two_associations() {
    we_call_baresip(false).await;
}

async fn baresip_calls_us(mux: bool) {
    let Some(mut alice) = baresip("alice", AnswerMode::Manual, mux) else {
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
    if !mux {
        tokio::task::block_in_place(|| alice.wait_dtls_srtp(2, WAIT)).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let st = ep.stats(call).await.unwrap().unwrap();
        assert_eq!(st.rtcp_associations.len(), 1, "{st:?}");
        assert!(st.rtcp_associations[0].fork.is_some(), "{st:?}");
    }
    media_and_checks(&mut ep, call, &mut alice, if mux { 1 } else { 2 }).await;
    // our answer said setup:active
    let remote = alice.remote_sdp().unwrap_or_default();
    assert!(remote.contains("a=setup:active"), "{remote}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_calls_us_we_answer_active_tone_both_ways() {
    baresip_calls_us(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_3b_baresip_calls_us_without_rtcp_mux_two_associations() {
    baresip_calls_us(false).await;
}
