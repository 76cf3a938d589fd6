//! W-3 (RFC 4733) against real baresip (Debian `baresip`) over DTLS-SRTP on 127.0.0.1, both call directions:
//! our `send_dtmf` keys are reported by baresip (`received event: '1' (end=1)`), and the keys baresip sends
//! (its console: a digit key during a call starts a telephone-event, the key release 0x04 ends it) become our
//! `Event::Dtmf`, once per key.
//!
//! Under `CI=true` a missing baresip fails these tests; elsewhere they skip loudly. Every wait is bounded.
#![allow(clippy::disallowed_methods)] // tests: real sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use dtlsrtp::{CallId, CallOptions, Event};
use dtlsrtp_testkit::peers::baresip::{AnswerMode, Baresip, MediaEnc};
use dtlsrtp_testkit::require_peer;
use dtlsrtp_tokio::endpoint::EndpointHandle;
use ep_common::*;

mod ep_common;

fn baresip(user: &str, mode: AnswerMode) -> Option<Baresip> {
    if !require_peer("baresip", "baresip") {
        return None;
    }
    Some(
        Baresip::builder(user)
            .answermode(mode)
            .mediaenc(MediaEnc::DtlsSrtp)
            .rtcp_mux(true)
            .start()
            .unwrap(),
    )
}

fn dtmf_keys(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Dtmf { digit, .. } => Some(digit.as_char()),
            _ => None,
        })
        .collect()
}

/// Keys both ways on an established call with `peer`.
async fn keys_both_ways(ep: &mut EndpointHandle, call: CallId, peer: &mut Baresip) {
    let sdp = peer.remote_sdp().unwrap_or_default();
    assert!(
        sdp.contains("a=rtpmap:101 telephone-event/8000"),
        "our SDP offers/answers telephone-event: {sdp}"
    );
    talk(ep, call, Duration::from_millis(300)).await;
    // baresip → ours: a digit key on its console during the call (then the key release, 0x04: the end).
    for k in ["5", "*"] {
        peer.command(&format!("{k}\u{4}")).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let events = talk(ep, call, Duration::from_millis(1500)).await;
    assert_eq!(dtmf_keys(&events), "5*", "{events:?}");
    assert!(events
        .iter()
        .all(|e| !matches!(e, Event::Dtmf { ended: false, .. })));
    // ours → baresip: it logs `received event: 'K' (end=1)` once per key's end
    ep.send_dtmf(call, "19#").await.unwrap();
    talk(ep, call, Duration::from_millis(1200)).await;
    let pattern = "received event: ";
    tokio::task::block_in_place(|| peer.wait_for_count("(end=1)", 3, WAIT)).unwrap();
    let ends: Vec<String> = peer
        .log()
        .lines_with(pattern)
        .into_iter()
        .filter(|l| l.contains("(end=1)"))
        .collect();
    assert_eq!(ends.len(), 3, "{ends:?}");
    for (l, k) in ends.iter().zip(['1', '9', '#']) {
        assert!(l.contains(&format!("{pattern}'{k}'")), "{l}");
    }
    ep.hangup(call).await.unwrap();
    wait_for(ep, |e| matches!(e, Event::Terminated { .. })).await;
    let f = peer.decrypt_failures();
    assert_eq!(f.rtp, 0, "baresip failed to decrypt our RTP: {f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w_3_we_call_baresip_dtmf_both_ways() {
    let Some(mut bob) = baresip("bob", AnswerMode::Auto) else {
        return;
    };
    let mut ep = endpoint("alice").await;
    let call = ep.dial(&bob.uri(), CallOptions::default()).await.unwrap();
    wait_for(&mut ep, |e| matches!(e, Event::Established { .. })).await;
    tokio::task::block_in_place(|| bob.wait_established(WAIT)).unwrap();
    keys_both_ways(&mut ep, call, &mut bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w_3_baresip_calls_us_dtmf_both_ways() {
    let Some(mut alice) = baresip("alice", AnswerMode::Manual) else {
        return;
    };
    let mut ep = endpoint("bob").await;
    alice.dial(&format!("sip:bob@{}", ep.sip_udp())).unwrap();
    let ev = wait_for(&mut ep, |e| matches!(e, Event::IncomingCall { .. })).await;
    let Some(Event::IncomingCall { call, .. }) = ev.last().cloned() else {
        unreachable!()
    };
    ep.answer(call).await.unwrap();
    wait_for(&mut ep, |e| matches!(e, Event::Established { .. })).await;
    tokio::task::block_in_place(|| alice.wait_established(WAIT)).unwrap();
    keys_both_ways(&mut ep, call, &mut alice).await;
}
