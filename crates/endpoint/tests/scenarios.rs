//! Scenario tests: 2–4 Endpoints on an in-memory network with a manual clock, optionally through an in-process
//! parallel-forking proxy (tests/common/proxy.rs). Requirement IDs in the names (F-5.8, F-6.2, F-6.3, T-8a,
//! F-6.4, F-6.6, T-5.1a, F-5.15).
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod common;

use common::*;
use dtlsrtp::{CallOptions, EndReason, Endpoint, Event};

/// Both sides up: returns (caller call, callee call).
fn basic_setup(
    net: &mut Net,
    a: usize,
    b: usize,
    opts: CallOptions,
) -> (dtlsrtp::CallId, dtlsrtp::CallId) {
    let now = net.now;
    let target = format!("sip:bob@{}", net.nodes[b].sip);
    let ca = net.ep(a).dial(now, &target, opts).unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    (ca, cb)
}

fn exchange_media(
    net: &mut Net,
    a: usize,
    ca: dtlsrtp::CallId,
    b: usize,
    cb: dtlsrtp::CallId,
    tag: &[u8],
) {
    let now = net.now;
    for i in 0..3u32 {
        net.ep(a)
            .send_audio(now, ca, 0, i * 160, &[tag, b"->b"].concat())
            .unwrap();
        net.ep(b)
            .send_audio(now, cb, 0, i * 160, &[tag, b"->a"].concat())
            .unwrap();
    }
    net.run();
}

#[test]
fn basic_call_media_both_ways_then_bye_f_5_8() {
    let mut net = Net::new();
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let (ca, cb) = basic_setup(&mut net, a, b, CallOptions::default());
    let ea = net.take(a);
    let eb = net.take(b);
    assert!(
        has(
            &ea,
            |e| matches!(e, Event::Established { call, .. } if *call == ca)
        ),
        "{ea:?}"
    );
    assert!(
        has(
            &eb,
            |e| matches!(e, Event::Established { call, .. } if *call == cb)
        ),
        "{eb:?}"
    );
    // the callee answered active: it is the DTLS client, we the server
    assert!(
        has(&eb, |e| matches!(
            e,
            Event::DtlsConnected {
                role: dtlsrtp_srtp::DtlsRole::Client,
                ..
            }
        )),
        "{eb:?}"
    );
    assert!(
        has(&ea, |e| matches!(
            e,
            Event::DtlsConnected {
                role: dtlsrtp_srtp::DtlsRole::Server,
                ..
            }
        )),
        "{ea:?}"
    );
    // F-5.8: the callee's ClientHello went out after its 200 OK, to our media port which was listening already
    exchange_media(&mut net, a, ca, b, cb, b"x");
    let ra = rtp_payloads(&net.take(a));
    let rb = rtp_payloads(&net.take(b));
    assert_eq!(ra.len(), 3, "{ra:?}");
    assert!(ra.iter().all(|(_, p)| p == b"x->a"));
    assert_eq!(rb.len(), 3);
    assert!(rb
        .iter()
        .all(|(f, p)| p == b"x->b" && *f == Some(Endpoint::UAS_FORK)));
    let now = net.now;
    net.ep(a).hangup(now, ca).unwrap();
    net.run();
    let ea = net.take(a);
    let eb = net.take(b);
    assert!(
        has(&ea, |e| matches!(
            e,
            Event::Terminated {
                reason: EndReason::Local,
                ..
            }
        )),
        "{ea:?}"
    );
    assert!(
        has(&eb, |e| matches!(
            e,
            Event::Terminated {
                reason: EndReason::RemoteBye,
                ..
            }
        )),
        "{eb:?}"
    );
    assert!(has(&ea, |e| matches!(e, Event::MediaSocketReleased { .. })));
    assert!(has(&eb, |e| matches!(e, Event::MediaSocketReleased { .. })));
    assert_eq!(net.ep(a).call_count(), 0);
    assert_eq!(net.ep(b).call_count(), 0);
    // after BYE nothing can be sent (associations closed)
    let now = net.now;
    assert!(net.ep(a).send_audio(now, ca, 0, 0, b"late").is_err());
}
