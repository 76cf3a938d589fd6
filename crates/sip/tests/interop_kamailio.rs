//! The UserAgent over real UDP sockets against real peers (Debian `kamailio`, `baresip`) on 127.0.0.1:
//! REGISTER with digest at Kamailio (and a wrong password refused), and a call to an AoR that Kamailio forks in
//! parallel to baresip and to one of our UAs: both send 183 with their own SDP (ours reliably, PRACKed through
//! Kamailio), the caller holds two early dialogs, baresip answers, Kamailio CANCELs our fork (487), the caller
//! ACKs and BYEs through the Record-Route (F-6.3, T-8a at the SIP level).
//!
//! Under `CI=true` a missing peer fails these tests; elsewhere they skip loudly. Every wait is bounded.
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

mod live;

use dtlsrtp_sip::digest::Credentials;
use dtlsrtp_sip::ua::{EndReason, Event, RegisterConfig};
use dtlsrtp_sip::SipUri;
use dtlsrtp_testkit::peers::baresip::{AnswerMode, Baresip, MediaEnc};
use dtlsrtp_testkit::peers::kamailio::Kamailio;
use dtlsrtp_testkit::require_peer;

use live::*;

fn reg_cfg(k: &Kamailio, user: &str, password: Option<&str>) -> RegisterConfig {
    RegisterConfig {
        registrar: SipUri::parse(&format!("sip:{}", k.domain())).unwrap(),
        aor: SipUri::parse(&k.aor(user)).unwrap(),
        expires: 60,
        credentials: password.map(|p| Credentials::new(user, p)),
    }
}

#[test]
fn kamailio_register_with_digest_and_wrong_password_refused() {
    if !require_peer("kamailio", "kamailio") {
        return;
    }
    let mut k = Kamailio::builder().user("alice", "s3cret").start().unwrap();
    let mut good = Live::new("alice", &k.domain(), 1, None);
    let mut bad = Live::new("alice", &k.domain(), 2, None);
    good.ua
        .register(now(), reg_cfg(&k, "alice", Some("s3cret")))
        .unwrap();
    bad.ua
        .register(now(), reg_cfg(&k, "alice", Some("wrong")))
        .unwrap();
    let ok = run_until(&mut [&mut good, &mut bad], |l| {
        l[0].events
            .iter()
            .any(|e| matches!(e, Event::Registered { .. }))
            && l[1]
                .events
                .iter()
                .any(|e| matches!(e, Event::RegistrationFailed { .. }))
    });
    assert!(
        ok,
        "good {:?} bad {:?}\n{}",
        good.events,
        bad.events,
        k.log().tail()
    );
    assert!(good
        .events
        .iter()
        .any(|e| matches!(e, Event::Registered { expires: 60, .. })));
    assert!(bad
        .events
        .iter()
        .any(|e| matches!(e, Event::RegistrationFailed { status: 401, .. })));
    // Kamailio bound our contact to the AoR (its own log line), after one challenge
    let line = k.wait_registrations(&k.aor("alice"), 1, WAIT).unwrap();
    assert!(line.contains(&good.addr().to_string()), "{line}");
    assert!(k.log().count("dtlsrtp: challenge REGISTER") >= 2);
}

#[test]
fn kamailio_forks_to_baresip_and_our_ua_first_answer_wins_other_cancelled() {
    if !require_peer("kamailio", "kamailio") || !require_peer("baresip", "baresip") {
        return;
    }
    let mut k = Kamailio::builder().start().unwrap();
    let aor = k.aor("bob");
    let mut baresip = Baresip::builder("bob")
        .domain(&k.domain())
        .register(60)
        .answermode(AnswerMode::Early)
        .mediaenc(MediaEnc::None)
        .start()
        .unwrap();
    baresip.wait_registered(WAIT).unwrap();
    let mut ours = Live::new("bob", &k.domain(), 3, None);
    ours.ua.register(now(), reg_cfg(&k, "bob", None)).unwrap();
    assert!(run_until(&mut [&mut ours], |l| l[0]
        .events
        .iter()
        .any(|e| matches!(e, Event::Registered { .. }))));
    k.wait_registrations(&aor, 2, WAIT).unwrap();

    // a plain RTP offer baresip accepts (media is not the point here)
    let media = media_socket();
    let port = media.local_addr().unwrap().port();
    let offer = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    );
    let mut alice = Live::new("alice", &k.domain(), 4, None);
    let call = alice
        .ua
        .call(
            now(),
            &SipUri::parse(&aor).unwrap(),
            Some(offer.into_bytes()),
        )
        .unwrap();
    // both forks send 183 with their own SDP (ours reliably, PRACKed through Kamailio): two early dialogs
    let mut rang = false;
    let two_forks = |l: &mut [&mut Live]| {
        let mut forks: Vec<_> = l[0]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Provisional {
                    fork: Some(f),
                    status: 183,
                    body: Some(_),
                    ..
                } => Some(*f),
                _ => None,
            })
            .collect();
        forks.sort();
        forks.dedup();
        forks.len() == 2
    };
    let ok = run_until(&mut [&mut alice, &mut ours], |l| {
        if !rang {
            let incoming = l[1].events.iter().find_map(|e| match e {
                Event::IncomingCall { call, .. } => Some(*call),
                _ => None,
            });
            if let Some(c) = incoming {
                rang = true;
                let _ = l[1].ua.ring(now(), c, 183, Some(plain_sdp(40_000, 1)));
            }
        }
        two_forks(l)
    });
    assert!(
        ok,
        "alice {:?}\nours {:?}\n{}",
        alice.events,
        ours.events,
        k.log().tail()
    );
    let bodies: Vec<String> = alice
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Provisional {
                status: 183,
                body: Some(b),
                ..
            } => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect();
    assert!(
        bodies.iter().any(|b| b.contains("m=audio 40000 ")),
        "{bodies:?}"
    );
    assert!(
        bodies.iter().any(|b| !b.contains("m=audio 40000 ")),
        "{bodies:?}"
    );
    // our reliable 183 was PRACKed by alice through Kamailio (RFC 3262)
    assert!(
        run_until(&mut [&mut alice, &mut ours], |l| seen(l[1], |e| matches!(
            e,
            Event::PrackReceived { .. }
        ))),
        "{:?}",
        ours.events
    );
    // baresip answers; Kamailio cancels our fork
    baresip.accept().unwrap();
    let ok = run_until(&mut [&mut alice, &mut ours], |l| {
        l[0].events
            .iter()
            .any(|e| matches!(e, Event::Answered { .. }))
            && l[1].events.iter().any(|e| {
                matches!(
                    e,
                    Event::Terminated {
                        reason: EndReason::Cancelled,
                        ..
                    }
                )
            })
    });
    assert!(
        ok,
        "alice {:?}\nours {:?}\n{}",
        alice.events,
        ours.events,
        k.log().tail()
    );
    let answered = alice
        .events
        .iter()
        .find_map(|e| match e {
            Event::Answered { fork, body, .. } => Some((*fork, body.clone())),
            _ => None,
        })
        .unwrap();
    let answer = String::from_utf8(answered.1.unwrap()).unwrap();
    assert!(
        answer.contains("m=audio ") && answer.contains("RTP/AVP"),
        "{answer}"
    );
    // the other fork's early dialog (ours) stays distinct from the winner; it ends with the INVITE transaction
    // (Timer M, 64*T1), not waited for here
    let early: Vec<_> = alice
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Provisional {
                fork: Some(f),
                status: 183,
                ..
            } => Some(*f),
            _ => None,
        })
        .collect();
    assert!(early.iter().any(|f| *f != answered.0), "{:?}", alice.events);
    assert!(early.contains(&answered.0), "{:?}", alice.events);
    k.wait_reply(487, WAIT).unwrap();
    baresip.wait_established(WAIT).unwrap();
    // the dialog goes through Kamailio (Record-Route), and so does the BYE
    let d = alice.ua.dialog(call, answered.0).unwrap();
    assert!(
        d.route_set
            .iter()
            .any(|r| r.uri.to_string().contains(&k.domain())),
        "{:?}",
        d.route_set
    );
    alice.ua.hangup(now(), call).unwrap();
    assert!(run_until(&mut [&mut alice], |l| l[0]
        .events
        .iter()
        .any(|e| matches!(e, Event::Terminated { .. }))));
    baresip.wait_terminated(WAIT).unwrap();
    assert!(baresip.received().iter().any(|m| m.is_request("BYE")));
    drop(media);
}
