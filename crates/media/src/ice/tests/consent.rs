//! Consent freshness (RFC 7675) and ICE restart (T-3.3).

use super::*;

#[test]
fn consent_expires_30s_after_the_peer_goes_silent_rfc7675() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 51);
    let mut b = full(now, IceRole::Controlled, "bbbb", 52);
    introduce(&mut a, &[A], &mut b, &[B]);
    let mut p = Pair::new(a, &[A], b, &[B]);
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    // While the peer answers, consent holds for a long time.
    p.run(Duration::from_secs(120), |_| false);
    let expired = |s: &Side| {
        s.events
            .iter()
            .any(|(_, e)| matches!(e, IceEvent::ConsentExpired { .. }))
    };
    assert!(!expired(&p.a) && !expired(&p.b));
    // Consent checks run about every 5 s (4-6 s apart).
    let checks: Vec<Duration> =
        p.a.sent
            .iter()
            .filter(|(_, t)| t.bytes[0..2] == [0, 1])
            .map(|(at, _)| *at)
            .collect();
    let late: Vec<&Duration> = checks
        .iter()
        .filter(|t| **t > Duration::from_secs(10))
        .collect();
    assert!(
        (18..=30).contains(&late.len()),
        "{} consent checks in ~110 s",
        late.len()
    );
    for w in late.windows(2) {
        let gap = *w[1] - *w[0];
        assert!(
            gap >= Duration::from_secs(4) && gap <= Duration::from_secs(6),
            "gap {gap:?}"
        );
    }
    // The peer goes silent.
    let silent_at = p.elapsed();
    p.b.silent = true;
    assert!(p.run(Duration::from_secs(60), |p| expired(&p.a)));
    let at =
        p.a.events
            .iter()
            .find(|(_, e)| matches!(e, IceEvent::ConsentExpired { .. }))
            .unwrap()
            .0;
    let since = at - silent_at;
    assert!(
        since >= Duration::from_secs(24) && since <= Duration::from_secs(31),
        "expired after {since:?}"
    );
    assert_eq!(p.a.agent.selected_pair(), None);
    assert!(p.a.events.contains(&(
        at,
        IceEvent::ConsentExpired {
            local: addr(A),
            remote: addr(B)
        }
    )));
}

#[test]
fn t_3_3_ice_restart_keeps_the_selected_pair_until_a_new_one() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 71);
    let mut b = full(now, IceRole::Controlled, "bbbb", 72);
    introduce(&mut a, &[A], &mut b, &[B]);
    let mut p = Pair::new(a, &[A], b, &[B]);
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    let old_a = p.a.agent.local_credentials().clone();
    let before = (p.a.events.len(), p.b.events.len());

    // Restart: new credentials on both sides (offer/answer); nothing above ICE is told anything.
    p.a.agent.restart(creds("aaa2"));
    p.b.agent.restart(creds("bbb2"));
    assert_eq!(p.a.agent.selected_pair(), Some((addr(A), addr(B))));
    assert_eq!(p.b.agent.selected_pair(), Some((addr(B), addr(A))));
    // A check with the old credentials is now refused.
    let mut old = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([6; 12]));
    old.username(&format!("{}:bbbb", old_a.ufrag()))
        .ice_controlled(1);
    old.message_integrity(old_a.pwd().as_bytes()).fingerprint();
    p.a.agent
        .handle_stun(p.now, addr(A), addr(B), &old.finish().unwrap())
        .unwrap();
    assert_eq!(p.a.agent.stats().rejected_unauthenticated, 1);
    let refused = p.a.agent.poll_transmit().unwrap();
    assert_eq!(
        Message::decode(&refused.bytes)
            .unwrap()
            .error_code
            .unwrap()
            .code,
        401
    );

    let (ca, cb) = (
        p.a.agent.local_credentials().clone(),
        p.b.agent.local_credentials().clone(),
    );
    p.a.agent.set_remote_credentials(cb);
    p.b.agent.set_remote_credentials(ca);
    let la = p.a.agent.add_local_candidate(addr(A));
    let lb = p.b.agent.add_local_candidate(addr(B));
    p.a.agent.add_remote_candidate(lb);
    p.b.agent.add_remote_candidate(la);
    p.a.agent.handle_timeout(p.now);
    p.b.agent.handle_timeout(p.now);
    // The new generation checks at once (not waiting for a consent check to trigger it).
    let restart_at = p.elapsed();
    let n = p.a.sent.len();
    assert!(p.run(Duration::from_millis(300), |p| p
        .a
        .agent
        .is_valid_pair(addr(A), addr(B))));
    let first_new = p.a.sent[n..]
        .iter()
        .find(|(_, t)| t.bytes[0..2] == [0, 1])
        .unwrap();
    assert!(
        first_new.0 - restart_at <= Duration::from_millis(50),
        "{:?}",
        first_new.0 - restart_at
    );
    assert_eq!(
        Message::decode(&first_new.1.bytes).unwrap().username,
        Some("bbb2:aaa2")
    );
    // New checks with the new credentials succeed and nominate the same pair again: no selection change, no expiry.
    p.run(Duration::from_secs(60), |_| false);
    assert_eq!(p.a.agent.selected_pair(), Some((addr(A), addr(B))));
    assert_eq!(p.b.agent.selected_pair(), Some((addr(B), addr(A))));
    assert_eq!(p.a.events.len(), before.0, "{:?}", p.a.events);
    assert_eq!(p.b.events.len(), before.1, "{:?}", p.b.events);
    let uses_new = p.a.sent.iter().rev().take(3).all(|(_, t)| {
        let m = Message::decode(&t.bytes).unwrap();
        m.username.is_none_or(|u| u == "bbb2:aaa2")
    });
    assert!(uses_new);
    assert!(p.a.agent.is_valid_pair(addr(A), addr(B)));
}

#[test]
fn consent_pauses_without_remote_credentials_lite() {
    // An ICE-lite agent that was never given the peer's credentials cannot check consent: it must not expire it.
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 101);
    let mut b = lite(now, "bbbb", 102);
    let cb = b.add_local_candidate(addr(B));
    a.add_local_candidate(addr(A));
    a.set_remote_credentials(b.local_credentials().clone());
    a.add_remote_candidate(cb);
    let mut p = Pair::new(a, &[A], b, &[B]);
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    p.run(Duration::from_secs(90), |_| false);
    assert_eq!(p.b.agent.selected_pair(), Some((addr(B), addr(A))));
    assert!(
        p.b.sent.iter().all(|(_, t)| t.bytes[0..2] != [0, 1]),
        "lite without credentials sent a request"
    );
    assert!(!p
        .a
        .events
        .iter()
        .chain(&p.b.events)
        .any(|(_, e)| matches!(e, IceEvent::ConsentExpired { .. })));
}

#[test]
fn consent_revoked_by_403() {
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 103);
    let mut b = lite(now, "bbbb", 104);
    introduce(&mut a, &[A], &mut b, &[B]);
    let mut p = Pair::new(a, &[A], b, &[B]);
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    p.b.silent = true;
    // Wait for A's next consent check and answer it with an authenticated 403.
    let n = p.a.sent.len();
    assert!(p.run(Duration::from_secs(7), |p| p.a.sent.len() > n));
    let check = p.a.sent.last().unwrap().1.clone();
    let m = Message::decode(&check.bytes).unwrap();
    let mut r = MessageBuilder::new(MessageType::BINDING_ERROR, m.transaction_id);
    r.error_code(403, "Forbidden")
        .message_integrity(p.b.agent.local_credentials().pwd().as_bytes())
        .fingerprint();
    p.a.agent
        .handle_stun(p.now, addr(A), addr(B), &r.finish().unwrap())
        .unwrap();
    assert_eq!(
        p.a.agent.poll_event(),
        Some(IceEvent::ConsentExpired {
            local: addr(A),
            remote: addr(B)
        })
    );
    assert_eq!(p.a.agent.selected_pair(), None);
    assert!(!p.a.agent.is_valid_pair(addr(A), addr(B)));
    // The peer keeps answering: the pair stays dead until an ICE restart.
    p.b.silent = false;
    p.run(Duration::from_secs(20), |_| false);
    assert_eq!(p.a.agent.selected_pair(), None);
}

#[test]
fn t_3_3_restart_runs_connectivity_checks_not_only_consent() {
    // After a restart the new generation sends its own connectivity check on every pair, besides the consent
    // check on the kept selected pair: two distinct transactions toward a silent peer.
    let now = t0();
    let mut a = full(now, IceRole::Controlling, "aaaa", 131);
    let mut b = full(now, IceRole::Controlled, "bbbb", 132);
    introduce(&mut a, &[A], &mut b, &[B]);
    let mut p = Pair::new(a, &[A], b, &[B]);
    assert!(p.run(Duration::from_secs(5), Pair::both_selected));
    p.a.agent.restart(creds("aaa2"));
    p.a.agent.set_remote_credentials(creds("bbb2"));
    p.a.agent
        .add_remote_candidate(Candidate::host(addr(B), 65535));
    p.b.silent = true;
    let n = p.a.sent.len();
    p.a.agent.handle_timeout(p.now);
    p.run(Duration::from_millis(200), |_| false);
    let tids: std::collections::HashSet<Vec<u8>> = p.a.sent[n..]
        .iter()
        .filter(|(_, t)| t.bytes[0..2] == [0, 1])
        .map(|(_, t)| t.bytes[8..20].to_vec())
        .collect();
    assert_eq!(
        tids.len(),
        2,
        "one connectivity check and one consent check"
    );
    assert_eq!(p.a.agent.selected_pair(), Some((addr(A), addr(B))));
}
