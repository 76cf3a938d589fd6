//! How the agent answers single requests and responses: 400/401/420/487, integrity, no-ICE helpers, caps.

use super::*;

#[test]
fn role_conflict_487_when_we_keep_controlling() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 41);
    a.add_local_candidate(addr(A));
    // A request from a peer that also claims controlling, with tie-breaker 0 (ours is >= 0): 487, A keeps its role.
    let mut req = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([1; 12]));
    req.username("aaaa:bbbb")
        .priority(1)
        .ice_controlling(0)
        .use_candidate();
    req.message_integrity(a.local_credentials().pwd().as_bytes())
        .fingerprint();
    a.handle_stun(now, addr(A), addr(B), &req.finish().unwrap())
        .unwrap();
    let resp = a.poll_transmit().unwrap();
    let m = Message::decode(&resp.bytes).unwrap();
    assert_eq!(m.error_code.map(|e| e.code), Some(487));
    m.verify_integrity(a.local_credentials().pwd().as_bytes())
        .unwrap();
    assert_eq!(a.role(), IceRole::Controlling);
    assert_eq!(a.stats().rejected_role_conflict, 1);
    assert_eq!(a.poll_event(), None);
    // A controlled peer claiming controlling with a larger tie-breaker makes a controlled agent stay controlled,
    // and a controlling agent with the smaller tie-breaker switch (RFC 8445 §7.3.1.1).
    let mut c = full(now, IceRole::Controlling, "cccc", 42);
    let mut req = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([2; 12]));
    req.username("cccc:bbbb")
        .priority(1)
        .ice_controlling(u64::MAX);
    req.message_integrity(c.local_credentials().pwd().as_bytes())
        .fingerprint();
    c.handle_stun(now, addr(A), addr(B), &req.finish().unwrap())
        .unwrap();
    let m = Message::decode(&c.poll_transmit().unwrap().bytes)
        .unwrap()
        .msg_type;
    assert_eq!(m, MessageType::BINDING_SUCCESS);
    assert_eq!(c.role(), IceRole::Controlled);
    assert_eq!(
        c.poll_event(),
        Some(IceEvent::RoleChanged(IceRole::Controlled))
    );
}

#[test]
fn credentials_mismatch_gets_401_and_no_pair() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 61);
    let mut b = lite(now, "bbbb", 62);
    a.add_local_candidate(addr(A));
    let cb = b.add_local_candidate(addr(B));
    // A was told a wrong password for B.
    a.set_remote_credentials(IceCredentials::new("bbbb", "wrongwrongwrongwrongwrong").unwrap());
    a.add_remote_candidate(cb);
    let mut p = Pair::new(a, &[A], b, &[B]);
    p.run(Duration::from_secs(30), |_| false);
    assert_eq!(p.a.agent.selected_pair(), None);
    assert_eq!(p.b.agent.selected_pair(), None);
    assert!(p.b.agent.stats().rejected_unauthenticated >= 1);
    assert_eq!(p.b.agent.stats().requests_accepted, 0);
    assert!(!p.b.agent.is_valid_pair(addr(B), addr(A)));
    let resp =
        p.b.sent
            .iter()
            .map(|(_, t)| Message::decode(&t.bytes).unwrap())
            .next()
            .unwrap();
    assert_eq!(resp.error_code.map(|e| e.code), Some(401));
    assert!(!resp.has_integrity());
    assert!(p.a.events.iter().any(|(_, e)| *e == IceEvent::Failed));
}

#[test]
fn wrong_ufrag_gets_401() {
    let now = t0();
    let mut b = lite(now, "bbbb", 63);
    let mut req = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([2; 12]));
    req.username("zzzz:aaaa").ice_controlling(5).use_candidate();
    req.message_integrity(b.local_credentials().pwd().as_bytes())
        .fingerprint();
    b.handle_stun(now, addr(B), addr(A), &req.finish().unwrap())
        .unwrap();
    let m = Message::decode(&b.poll_transmit().unwrap().bytes)
        .unwrap()
        .error_code
        .unwrap()
        .code;
    assert_eq!(m, 401);
    assert_eq!(b.selected_pair(), None);
}

#[test]
fn missing_integrity_gets_400_and_unknown_required_gets_420() {
    let now = t0();
    let mut b = lite(now, "bbbb", 64);
    let bare = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([3; 12]))
        .finish()
        .unwrap();
    b.handle_stun(now, addr(B), addr(A), &bare).unwrap();
    let m = b.poll_transmit().unwrap();
    assert_eq!(
        Message::decode(&m.bytes).unwrap().error_code.unwrap().code,
        400
    );

    let mut req = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([4; 12]));
    req.username("bbbb:aaaa")
        .ice_controlling(5)
        .attribute(0x7001, &[1, 2, 3, 4]);
    req.message_integrity(b.local_credentials().pwd().as_bytes())
        .fingerprint();
    b.handle_stun(now, addr(B), addr(A), &req.finish().unwrap())
        .unwrap();
    let raw = b.poll_transmit().unwrap().bytes;
    let m = Message::decode(&raw).unwrap();
    assert_eq!(m.error_code.unwrap().code, 420);
    assert_eq!(
        m.unknown_attributes.unwrap().iter().collect::<Vec<_>>(),
        vec![0x7001]
    );
    assert_eq!(b.stats().rejected_unknown_attribute, 1);
    assert_eq!(b.selected_pair(), None);
}

#[test]
fn chromium_style_check_with_0xc057_is_accepted_by_lite() {
    let now = t0();
    let mut b = lite(now, "bbbb", 65);
    b.add_local_candidate(addr(B));
    let mut req = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([5; 12]));
    req.username("bbbb:aaaa")
        .attribute(0xC057, &[0, 1, 0, 10])
        .ice_controlling(0x1234)
        .use_candidate()
        .priority(1_853_824_767);
    req.message_integrity(b.local_credentials().pwd().as_bytes())
        .fingerprint();
    b.handle_stun(now, addr(B), addr(A), &req.finish().unwrap())
        .unwrap();
    let resp = b.poll_transmit().unwrap();
    assert_eq!((resp.local, resp.remote), (addr(B), addr(A)));
    let m = Message::decode(&resp.bytes).unwrap();
    assert_eq!(m.msg_type, MessageType::BINDING_SUCCESS);
    assert_eq!(m.xor_mapped_address, Some(addr(A)));
    m.verify_integrity(b.local_credentials().pwd().as_bytes())
        .unwrap();
    assert_eq!(
        b.poll_event(),
        Some(IceEvent::SelectedPair {
            local: addr(B),
            remote: addr(A)
        })
    );
}

#[test]
fn responses_with_bad_integrity_or_unknown_tid_are_dropped() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 85);
    let mut b = full(now, IceRole::Controlled, "bbbb", 86);
    introduce(&mut a, &[A], &mut b, &[B]);
    a.handle_timeout(now);
    let check = a.poll_transmit().unwrap();
    let m = Message::decode(&check.bytes).unwrap();
    // Forged success signed with the wrong key.
    let mut f = MessageBuilder::new(MessageType::BINDING_SUCCESS, m.transaction_id);
    f.xor_mapped_address(addr(A))
        .message_integrity(b"not the password")
        .fingerprint();
    assert_eq!(
        a.handle_stun(now, addr(A), addr(B), &f.finish().unwrap()),
        Err(IceError::ResponseIntegrity)
    );
    let mut u = MessageBuilder::new(MessageType::BINDING_SUCCESS, TransactionId([0xee; 12]));
    u.fingerprint();
    assert_eq!(
        a.handle_stun(now, addr(A), addr(B), &u.finish().unwrap()),
        Err(IceError::UnknownTransaction)
    );
    assert_eq!(a.stats().responses_dropped, 2);
    assert_eq!(a.selected_pair(), None);
    assert_eq!(
        a.handle_stun(now, addr(A), addr(B), &[0, 1, 0]),
        Err(IceError::Stun(stun::StunError::TooShort { len: 3 }))
    );
}

#[test]
fn f_6_7_2a_one_unauthenticated_binding_request() {
    let tid = TransactionId([9; 12]);
    let req = noice::binding_request(tid);
    assert_eq!(&req[0..2], &[0x00, 0x01]);
    assert_eq!(&req[4..8], &[0x21, 0x12, 0xA4, 0x42]);
    let m = Message::decode(&req).unwrap();
    assert_eq!(m.msg_type, MessageType::BINDING_REQUEST);
    assert!(!m.has_integrity() && m.username.is_none() && m.has_fingerprint);
    assert_eq!(crate::classify(&req), crate::PacketKind::Stun);
}

#[test]
fn f_6_7_2b_unauthenticated_binding_request_gets_xor_mapped_address() {
    for src in ["192.0.2.7:40000", "[2001:db8::7]:40001"] {
        let tid = TransactionId([0x42; 12]);
        let req = noice::binding_request(tid);
        let resp = noice::answer_binding_request(&req, addr(src))
            .unwrap()
            .unwrap();
        assert_eq!(&resp[0..2], &[0x01, 0x01]);
        assert_eq!(
            noice::parse_binding_response(&resp, tid).unwrap(),
            Some(addr(src))
        );
        assert_eq!(
            noice::parse_binding_response(&resp, TransactionId([0; 12])).unwrap(),
            None
        );
    }
    // Unknown comprehension-required → 420; a response needs no answer; garbage is a typed error.
    let mut b = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([1; 12]));
    b.attribute(0x0042, &[]);
    let resp = noice::answer_binding_request(&b.finish().unwrap(), addr(A))
        .unwrap()
        .unwrap();
    assert_eq!(
        Message::decode(&resp).unwrap().error_code.unwrap().code,
        420
    );
    let success = MessageBuilder::new(MessageType::BINDING_SUCCESS, TransactionId([1; 12]))
        .finish()
        .unwrap();
    assert_eq!(noice::answer_binding_request(&success, addr(A)), Ok(None));
    assert!(noice::answer_binding_request(&[0x00, 0x01, 0x00], addr(A)).is_err());
}

#[test]
fn credentials_are_validated_and_redacted() {
    assert_eq!(
        IceCredentials::new("abc", "x".repeat(22).as_str()),
        Err(IceError::InvalidUfrag)
    );
    assert_eq!(
        IceCredentials::new("abcd", "short"),
        Err(IceError::InvalidPassword)
    );
    assert_eq!(
        IceCredentials::new("ab d", &"x".repeat(22)),
        Err(IceError::InvalidUfrag)
    );
    let c = IceCredentials::random(&mut *seeded(5));
    assert_eq!((c.ufrag().len(), c.pwd().len()), (8, 24));
    assert!(IceCredentials::new(c.ufrag(), c.pwd()).is_ok());
    assert!(!format!("{c:?}").contains(c.pwd()));
}

#[test]
fn priorities_follow_rfc_8445() {
    // §5.1.2.1: host, local preference 65535, component 1.
    assert_eq!(
        candidate_priority(CandidateKind::Host, 65535),
        2_130_706_431
    );
    // §6.1.2.3.
    assert_eq!(pair_priority(10, 20), (10u64 << 32) + 40);
    assert_eq!(pair_priority(20, 10), (10u64 << 32) + 41);
}

#[test]
fn random_stun_like_input_never_panics_and_changes_nothing() {
    use proptest::prelude::*;
    let now = t0();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..120), |bytes| {
            let mut b = lite(now, "bbbb", 90);
            let _ = b.handle_stun(now, addr(B), addr(A), &bytes);
            // Garbage that fails decoding produces nothing at all.
            if Message::decode(&bytes).is_err() {
                prop_assert!(b.poll_transmit().is_none());
                prop_assert!(b.poll_event().is_none());
            }
            Ok(())
        })
        .unwrap();
    let _ = attr::USE_CANDIDATE;
}

#[test]
fn lite_agent_answers_487_to_a_full_peer_claiming_controlled() {
    let now = t0();
    let mut b = lite(now, "bbbb", 91);
    let mut req = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([7; 12]));
    req.username("bbbb:aaaa").ice_controlled(0).priority(1);
    req.message_integrity(b.local_credentials().pwd().as_bytes())
        .fingerprint();
    b.handle_stun(now, addr(B), addr(A), &req.finish().unwrap())
        .unwrap();
    let m = Message::decode(&b.poll_transmit().unwrap().bytes)
        .unwrap()
        .error_code
        .unwrap()
        .code;
    assert_eq!(m, 487);
    assert_eq!(b.role(), IceRole::Controlled);
}

#[test]
fn pairs_are_capped_under_a_flood_of_authenticated_sources() {
    let now = t0();
    let mut b = full(now, IceRole::Controlled, "bbbb", 94);
    b.add_local_candidate(addr(B));
    for i in 0..300u16 {
        let mut req = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([8; 12]));
        req.username("bbbb:aaaa").ice_controlling(1).priority(1);
        req.message_integrity(b.local_credentials().pwd().as_bytes())
            .fingerprint();
        let src = SocketAddr::from(([10, 9, (i >> 8) as u8, i as u8], 7000));
        b.handle_stun(now, addr(B), src, &req.finish().unwrap())
            .unwrap();
    }
    assert_eq!(b.stats().requests_accepted, 300);
    // Triggered checks go out once the remote password is known: at most 100 pairs ever get one.
    b.set_remote_credentials(creds("aaaa"));
    let mut t = now;
    let mut dests = std::collections::HashSet::new();
    for _ in 0..400 {
        t += Duration::from_millis(50);
        b.handle_timeout(t);
        while let Some(tx) = b.poll_transmit() {
            if tx.bytes[0..2] == [0, 1] {
                dests.insert(tx.remote);
            }
        }
    }
    assert_eq!(dests.len(), 100);
}

#[test]
fn fuzz_body_ice_agent_runs_over_a_corpus() {
    use crate::fuzzing::{ice_agent, FUZZ_PWD, FUZZ_UFRAG};
    let now = t0();
    let mut check = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([3; 12]));
    check
        .username(&format!("{FUZZ_UFRAG}:peer"))
        .ice_controlling(1)
        .use_candidate()
        .priority(7)
        .message_integrity(FUZZ_PWD.as_bytes())
        .fingerprint();
    let check = check.finish().unwrap();
    let mut seeds: Vec<Vec<u8>> = vec![
        check.clone(),
        noice::binding_request(TransactionId([4; 12])),
    ];
    for h in [
        stun::tests::RFC5769_REQUEST,
        stun::tests::RFC5769_RESPONSE_V4,
    ] {
        seeds.push(hex::decode(h).unwrap());
    }
    let frame = |d: &[u8], delay: u8| {
        let mut v = vec![u8::try_from(d.len()).unwrap(), delay];
        v.extend_from_slice(d);
        v
    };
    let mut inputs = Vec::new();
    for s in &seeds {
        inputs.push([frame(s, 0), frame(s, 255), frame(&check, 100)].concat());
        for i in (0..s.len()).step_by(3) {
            let mut m = s.clone();
            m[i] ^= 0x40;
            inputs.push([frame(&check, 1), frame(&m, 3), frame(&m[..i], 200)].concat());
        }
    }
    inputs.push(vec![255, 255, 1, 2, 3]);
    inputs.push(Vec::new());
    for input in &inputs {
        ice_agent(now, input);
    }
    // The valid check alone gets a lite agent to select a pair: the body does reach deep states.
    let cfg = IceConfig {
        mode: IceMode::Lite,
        ..IceConfig::default()
    };
    let mut lite = IceAgent::new(
        now,
        cfg,
        IceCredentials::new(FUZZ_UFRAG, FUZZ_PWD).unwrap(),
        IceRole::Controlled,
        seeded(1),
    );
    lite.handle_stun(now, addr(A), addr(B), &check).unwrap();
    assert!(lite.selected_pair().is_some());
}
