//! Hold and resume (RFC 3264 §8.4, F-6.6): the direction in every re-offer/answer combination, and what it does
//! to media — no RTP packet leaves a `recvonly` or `inactive` side; a peer's re-offer during our hold keeps our
//! direction.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;

use common::{has, incoming, rtp_payloads, Net};
use dtlsrtp::{CallId, CallOptions, Event};

fn setup(net: &mut Net) -> (usize, usize, CallId, CallId) {
    let a = net.add(Net::config("alice", 5060, 1));
    let b = net.add(Net::config("bob", 5070, 2));
    let now = net.now;
    let ca = net
        .ep(a)
        .dial(now, "sip:bob@127.0.0.1:5070", CallOptions::default())
        .unwrap();
    net.run();
    let cb = incoming(&net.take(b));
    let now = net.now;
    net.ep(b).answer(now, cb).unwrap();
    net.run();
    assert!(has(&net.take(a), |e| matches!(
        e,
        Event::Established { .. }
    )));
    net.take(b);
    (a, b, ca, cb)
}

/// The SDP bodies `from` (a SIP address) sent since log index `since`, as text, with their first line.
fn sdp_sent(net: &Net, since: usize, from: SocketAddr) -> Vec<(String, String)> {
    net.log[since..]
        .iter()
        .filter(|(f, _, b)| *f == from && !b.is_empty() && b[0].is_ascii_alphabetic())
        .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
        .filter(|m| m.contains("\r\n\r\nv=0"))
        .map(|m| (m.lines().next().unwrap_or("").to_owned(), m))
        .collect()
}

fn direction_of(msg: &str) -> &'static str {
    ["sendrecv", "sendonly", "recvonly", "inactive"]
        .into_iter()
        .find(|d| msg.contains(&format!("a={d}\r\n")))
        .unwrap_or("sendrecv")
}

/// The direction in the last re-offer (INVITE) and the last answer (200 to an INVITE) since `since`.
fn offer_answer(
    net: &Net,
    since: usize,
    offerer: SocketAddr,
    answerer: SocketAddr,
) -> (String, String) {
    let offer = sdp_sent(net, since, offerer)
        .into_iter()
        .rev()
        .find(|(l, _)| l.starts_with("INVITE "))
        .expect("a re-offer");
    let answer = sdp_sent(net, since, answerer)
        .into_iter()
        .rev()
        .find(|(l, m)| {
            l.starts_with("SIP/2.0 200") && m.contains("CSeq: ") && m.contains(" INVITE\r\n")
        })
        .expect("an answer");
    (
        direction_of(&offer.1).into(),
        direction_of(&answer.1).into(),
    )
}

fn is_rtp(b: &[u8]) -> bool {
    b.len() >= 12 && b[0] >> 6 == 2 && !(192..=223).contains(&b[1])
}

/// RTP packets sent from `local` since log index `since`.
fn rtp_from(net: &Net, since: usize, local: SocketAddr) -> usize {
    net.log[since..]
        .iter()
        .filter(|(f, _, b)| *f == local && is_rtp(b))
        .count()
}

fn send3(net: &mut Net, i: usize, call: CallId, tag: &[u8]) {
    let now = net.now;
    for k in 0..3u32 {
        net.ep(i).send_audio(now, call, 0, k * 160, tag).unwrap();
    }
    net.run();
}

fn reoffer(net: &mut Net, who: usize, call: CallId, what: &str) -> usize {
    let since = net.log.len();
    let now = net.now;
    match what {
        "hold" => net.ep(who).hold(now, call, true).unwrap(),
        "resume" => net.ep(who).hold(now, call, false).unwrap(),
        _ => net.ep(who).reinvite(now, call).unwrap(),
    }
    net.run();
    since
}

/// RFC 3264 §8.4: a peer's re-offer (sendrecv) while we hold is answered `sendonly`, not `sendrecv`.
#[test]
fn f_6_6_peer_reoffer_during_our_hold_keeps_our_direction() {
    let mut net = Net::new();
    let (a, b, ca, cb) = setup(&mut net);
    let (sa, sb) = (net.nodes[a].sip, net.nodes[b].sip);
    let since = reoffer(&mut net, a, ca, "hold");
    assert_eq!(
        offer_answer(&net, since, sa, sb),
        ("sendonly".into(), "recvonly".into())
    );
    let since = reoffer(&mut net, b, cb, "reinvite");
    assert_eq!(
        offer_answer(&net, since, sb, sa),
        ("sendrecv".into(), "sendonly".into()),
        "our answer during hold must stay sendonly"
    );
    // and media still flows only from the holding side
    net.take(a);
    net.take(b);
    let (ma, mb) = (
        net.ep(a).stats(ca).unwrap().local,
        net.ep(b).stats(cb).unwrap().local,
    );
    let since = net.log.len();
    send3(&mut net, a, ca, b"music");
    send3(&mut net, b, cb, b"talk");
    assert_eq!(rtp_from(&net, since, ma), 3);
    assert_eq!(
        rtp_from(&net, since, mb),
        0,
        "b is recvonly: no RTP may leave"
    );
    assert_eq!(rtp_payloads(&net.take(b)).len(), 3);
    assert!(rtp_payloads(&net.take(a)).is_empty());
    assert_eq!(net.ep(b).stats(cb).unwrap().send_blocked, 3);
}

/// Both sides hold: the second hold is `inactive` (RFC 3264 §8.4), no RTP leaves either side; one resume gives
/// one-way media, the other resume both ways again.
#[test]
fn f_6_6_both_hold_inactive_then_resume_step_by_step() {
    let mut net = Net::new();
    let (a, b, ca, cb) = setup(&mut net);
    let (sa, sb) = (net.nodes[a].sip, net.nodes[b].sip);
    let (ma, mb) = (
        net.ep(a).stats(ca).unwrap().local,
        net.ep(b).stats(cb).unwrap().local,
    );
    let since = reoffer(&mut net, a, ca, "hold");
    assert_eq!(
        offer_answer(&net, since, sa, sb),
        ("sendonly".into(), "recvonly".into())
    );
    let since = reoffer(&mut net, b, cb, "hold");
    assert_eq!(
        offer_answer(&net, since, sb, sa),
        ("inactive".into(), "inactive".into())
    );
    let since = net.log.len();
    send3(&mut net, a, ca, b"x");
    send3(&mut net, b, cb, b"y");
    assert_eq!(
        rtp_from(&net, since, ma) + rtp_from(&net, since, mb),
        0,
        "inactive: nothing sent"
    );
    net.take(a);
    net.take(b);
    // a resumes while b still holds: a offers sendrecv, b answers sendonly; only b's media flows
    let since = reoffer(&mut net, a, ca, "resume");
    assert_eq!(
        offer_answer(&net, since, sa, sb),
        ("sendrecv".into(), "sendonly".into())
    );
    let since = net.log.len();
    send3(&mut net, a, ca, b"x");
    send3(&mut net, b, cb, b"y");
    assert_eq!(rtp_from(&net, since, ma), 0);
    assert_eq!(rtp_from(&net, since, mb), 3);
    // a peer's (b's) re-offer while a is not holding and b is: b keeps sendonly, a answers recvonly
    let since = reoffer(&mut net, b, cb, "reinvite");
    assert_eq!(
        offer_answer(&net, since, sb, sa),
        ("sendonly".into(), "recvonly".into())
    );
    // b resumes: both ways
    let since = reoffer(&mut net, b, cb, "resume");
    assert_eq!(
        offer_answer(&net, since, sb, sa),
        ("sendrecv".into(), "sendrecv".into())
    );
    net.take(a);
    net.take(b);
    send3(&mut net, a, ca, b"x");
    send3(&mut net, b, cb, b"y");
    assert_eq!(rtp_payloads(&net.take(a)).len(), 3);
    assert_eq!(rtp_payloads(&net.take(b)).len(), 3);
}

/// Our own re-offer (not hold) while we hold keeps `sendonly`; resume goes back to `sendrecv`.
#[test]
fn f_6_6_own_reoffer_during_hold_then_resume() {
    let mut net = Net::new();
    let (a, b, ca, cb) = setup(&mut net);
    let (sa, sb) = (net.nodes[a].sip, net.nodes[b].sip);
    reoffer(&mut net, a, ca, "hold");
    let since = reoffer(&mut net, a, ca, "reinvite");
    assert_eq!(
        offer_answer(&net, since, sa, sb),
        ("sendonly".into(), "recvonly".into())
    );
    let since = reoffer(&mut net, a, ca, "resume");
    assert_eq!(
        offer_answer(&net, since, sa, sb),
        ("sendrecv".into(), "sendrecv".into())
    );
    net.take(a);
    net.take(b);
    send3(&mut net, a, ca, b"x");
    send3(&mut net, b, cb, b"y");
    assert_eq!(rtp_payloads(&net.take(a)).len(), 3);
    assert_eq!(rtp_payloads(&net.take(b)).len(), 3);
}
