//! Keep or renew (RFC 8842 §3–§5): table-driven over every row of T-3.1a, T-3.2, T-3.3, T-4b, T-4d, T-5.3c,
//! T-5.4b, T-5.5a and T-5.5b (and F-6.6b/c), each run with a peer that uses a=tls-id and with a legacy peer
//! (a=tls-id stripped in transit both ways). Both sides are our negotiator, so both decisions are checked.
// Test helpers outside #[test] fns: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use dtlsrtp_sdp::negotiate::{
    decide, AnswerSetup, AssocSnapshot, Association, HandshakeRole, LocalMedia, NewReason, Renew,
};
use dtlsrtp_sdp::{HashFunction, Negotiator, Sdp, Setup, TlsId};

const KEEP: Association = Association::Keep;
const fn new(reason: NewReason) -> Association {
    Association::New { reason }
}

struct Pair {
    alice: Negotiator,
    bob: Negotiator,
    alice_media: LocalMedia,
    bob_media: LocalMedia,
    tls: bool,
    rng: Rng,
}

type Rng = Box<dyn FnMut(&mut [u8])>;

fn strip(sdp: &Sdp, tls: bool) -> Sdp {
    let text = sdp.write();
    let text: String = text
        .split_inclusive("\r\n")
        .filter(|l| tls || !l.starts_with("a=tls-id"))
        .collect();
    Sdp::parse(text.as_bytes()).unwrap()
}

fn cfg(byte: u8, ice_on: bool, ufrag: &str) -> dtlsrtp_sdp::Config {
    let mut c = config(byte);
    if ice_on {
        let mut i = ice(ufrag);
        i.lite = false;
        c.ice = Some(i);
    }
    c
}

impl Pair {
    /// Alice offers, Bob answers: the initial association (New { Initial } on both sides).
    fn initial(tls: bool, ice_on: bool) -> Self {
        let mut rng: Rng = Box::new(counter_rng(99));
        let alice = Negotiator::new(cfg(0xA0, ice_on, "aliceA"), &mut rng).unwrap();
        let bob = Negotiator::new(cfg(0xB0, ice_on, "bobbB"), &mut rng).unwrap();
        let mut p = Pair {
            alice,
            bob,
            alice_media: audio(6000),
            bob_media: audio(7000),
            tls,
            rng,
        };
        let (a, b) = p.round(Renew::Keep, |s| s);
        assert_eq!((a, b), (new(NewReason::Initial), new(NewReason::Initial)));
        p
    }

    /// One re-offer from Alice and Bob's answer; `edit` may tamper with the answer in transit.
    fn round(
        &mut self,
        renew: Renew,
        edit: impl Fn(String) -> String,
    ) -> (Association, Association) {
        let (offer, pending) = self
            .alice
            .create_offer(
                std::slice::from_ref(&self.alice_media),
                renew,
                &mut self.rng,
            )
            .unwrap();
        let offer = strip(&offer, self.tls);
        let answer = self
            .bob
            .answer(&offer, std::slice::from_ref(&self.bob_media), &mut self.rng)
            .unwrap();
        let bob_assoc = answer.media[0].dtls().unwrap().association;
        let answer = strip(&answer.sdp, self.tls);
        let answer = Sdp::parse(edit(answer.write()).as_bytes()).unwrap();
        let out = self.alice.apply_answer(pending, &answer).unwrap();
        (out[0].dtls().unwrap().association, bob_assoc)
    }

    /// A re-offer from Bob (the former answerer) and Alice's answer.
    fn reverse_round(&mut self) -> (Association, Association, Sdp, Sdp) {
        let (offer, pending) = self
            .bob
            .create_offer(
                std::slice::from_ref(&self.bob_media),
                Renew::Keep,
                &mut self.rng,
            )
            .unwrap();
        let offer = strip(&offer, self.tls);
        let answer = self
            .alice
            .answer(
                &offer,
                std::slice::from_ref(&self.alice_media),
                &mut self.rng,
            )
            .unwrap();
        let alice_assoc = answer.media[0].dtls().unwrap().association;
        let answer_sdp = strip(&answer.sdp, self.tls);
        let out = self.bob.apply_answer(pending, &answer_sdp).unwrap();
        (
            alice_assoc,
            out[0].dtls().unwrap().association,
            offer,
            answer_sdp,
        )
    }
}

type Change = fn(&mut Pair);

struct Row {
    id: &'static str,
    ice: bool,
    change: Change,
    renew: Renew,
    edit: fn(String) -> String,
    /// (Alice's decision, Bob's decision) with tls-id; then with a legacy peer.
    with_tls: (Association, Association),
    legacy: (Association, Association),
}

fn no_change(_: &mut Pair) {}
fn no_edit(s: String) -> String {
    s
}
fn alice_moves_port(p: &mut Pair) {
    p.alice_media.port = 6100;
}
fn bob_moves_port(p: &mut Pair) {
    p.bob_media.port = 7100;
}
fn alice_new_cert(p: &mut Pair) {
    let mut c = p.alice.config().clone();
    c.fingerprints = vec![fp(HashFunction::Sha256, 0xAF)];
    p.alice.set_config(c).unwrap();
}
fn bob_new_cert(p: &mut Pair) {
    let mut c = p.bob.config().clone();
    c.fingerprints = vec![fp(HashFunction::Sha256, 0xBF)];
    p.bob.set_config(c).unwrap();
}
fn alice_adds_sha512(p: &mut Pair) {
    let mut c = p.alice.config().clone();
    c.fingerprints.push(fp(HashFunction::Sha512, 0xA5));
    p.alice.set_config(c).unwrap();
}
fn alice_ice_restart(p: &mut Pair) {
    let mut c = p.alice.config().clone();
    if let Some(i) = c.ice.as_mut() {
        i.ufrag = "restartedA".into();
        i.pwd = "zyxwvutsrqponmlkjihgfedcba".into();
    }
    p.alice.set_config(c).unwrap();
}
fn alice_ice_restart_and_port(p: &mut Pair) {
    alice_ice_restart(p);
    alice_moves_port(p);
}
fn flip_answer_role(s: String) -> String {
    s.replace("a=setup:active", "a=setup:passive")
}
fn bob_changes_tls_id_in_transit(s: String) -> String {
    s.lines()
        .map(|l| {
            if l.starts_with("a=tls-id:") {
                "a=tls-id:ZZZZZZZZZZZZZZZZZZZZZZ".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
        + "\r\n"
}

fn rows() -> Vec<Row> {
    use NewReason::*;
    vec![
        Row {
            id: "T-5.5b/T-5.3c/T-5.4b re-offer with nothing changed keeps",
            ice: false,
            change: no_change,
            renew: Renew::Keep,
            edit: no_edit,
            with_tls: (KEEP, KEEP),
            legacy: (KEEP, KEEP),
        },
        Row {
            id: "T-3.3 ICE restart alone keeps (T-4d: ufrag change alone keeps for legacy peers)",
            ice: true,
            change: alice_ice_restart,
            renew: Renew::Keep,
            edit: no_edit,
            with_tls: (KEEP, KEEP),
            legacy: (KEEP, KEEP),
        },
        Row {
            id: "T-6c with ICE an address/port change is ICE's business: keeps",
            ice: true,
            change: alice_ice_restart_and_port,
            renew: Renew::Keep,
            edit: no_edit,
            with_tls: (KEEP, KEEP),
            legacy: (KEEP, KEEP),
        },
        Row {
            id: "T-5.5a/T-4b/T-3.2/T-5.1a offerer asks for a new association (new tls-id, new port)",
            ice: false,
            change: alice_moves_port,
            renew: Renew::All,
            edit: no_edit,
            with_tls: (new(TlsIdChanged), new(TlsIdChanged)),
            legacy: (new(TlsIdChanged), new(TransportChanged)),
        },
        Row {
            id: "T-3.2 offerer port change with the same tls-id keeps; T-4d legacy: transport change renews",
            ice: false,
            change: alice_moves_port,
            renew: Renew::Keep,
            edit: no_edit,
            with_tls: (KEEP, KEEP),
            legacy: (new(TransportChanged), new(TransportChanged)),
        },
        Row {
            id: "T-3.2/T-4d answerer port change: same rules from the other side",
            ice: false,
            change: bob_moves_port,
            renew: Renew::Keep,
            edit: no_edit,
            with_tls: (KEEP, KEEP),
            legacy: (new(TransportChanged), new(TransportChanged)),
        },
        Row {
            id: "T-3.1a(b) offerer fingerprint modified",
            ice: false,
            change: alice_new_cert,
            renew: Renew::Keep,
            edit: no_edit,
            with_tls: (new(FingerprintsChanged), new(FingerprintsChanged)),
            legacy: (new(FingerprintsChanged), new(FingerprintsChanged)),
        },
        Row {
            id: "T-3.1a(b) offerer fingerprint added",
            ice: false,
            change: alice_adds_sha512,
            renew: Renew::Keep,
            edit: no_edit,
            with_tls: (new(FingerprintsChanged), new(FingerprintsChanged)),
            legacy: (new(FingerprintsChanged), new(FingerprintsChanged)),
        },
        Row {
            id: "T-3.1a(b) answerer fingerprint modified",
            ice: false,
            change: bob_new_cert,
            renew: Renew::Keep,
            edit: no_edit,
            with_tls: (new(FingerprintsChanged), new(FingerprintsChanged)),
            legacy: (new(FingerprintsChanged), new(FingerprintsChanged)),
        },
        Row {
            id: "T-3.1a(a)/F-6.6c answer flips the roles",
            ice: false,
            change: no_change,
            renew: Renew::Keep,
            edit: flip_answer_role,
            with_tls: (new(RolesChanged), KEEP),
            legacy: (new(RolesChanged), KEEP),
        },
        Row {
            id: "T-3.1a(c) answerer's tls-id changed (legacy: no tls-id to change, keeps)",
            ice: false,
            change: no_change,
            renew: Renew::Keep,
            edit: bob_changes_tls_id_in_transit,
            with_tls: (new(TlsIdChanged), KEEP),
            legacy: (KEEP, KEEP),
        },
    ]
}

#[test]
fn t_3_1_t_4d_t_5_keep_renew_table_with_and_without_tls_id() {
    for row in rows() {
        for tls in [true, false] {
            let mut p = Pair::initial(tls, row.ice);
            (row.change)(&mut p);
            let got = p.round(row.renew, row.edit);
            let want = if tls { row.with_tls } else { row.legacy };
            assert_eq!(got, want, "{} (tls-id: {tls}): (alice, bob)", row.id);
        }
    }
}

#[test]
fn t_5_3c_keep_answer_echoes_tls_id_setup_and_fingerprints() {
    let mut p = Pair::initial(true, false);
    let (o1, p1) = p
        .alice
        .create_offer(&[p.alice_media.clone()], Renew::Keep, &mut p.rng)
        .unwrap();
    let a1 = p
        .bob
        .answer(&o1, &[p.bob_media.clone()], &mut p.rng)
        .unwrap();
    p.alice.apply_answer(p1, &a1.sdp).unwrap();
    let (o2, p2) = p
        .alice
        .create_offer(&[p.alice_media.clone()], Renew::Keep, &mut p.rng)
        .unwrap();
    let a2 = p
        .bob
        .answer(&o2, &[p.bob_media.clone()], &mut p.rng)
        .unwrap();
    p.alice.apply_answer(p2, &a2.sdp).unwrap();
    // T-5.5b: the subsequent offer keeps actpass, the tls-id and the fingerprints
    assert_eq!(o2.media_setup(0), Some(Setup::ActPass));
    assert_eq!(o1.media()[0].tls_id(), o2.media()[0].tls_id());
    assert_eq!(o1.media_fingerprints(0), o2.media_fingerprints(0));
    // T-5.3c: the answer echoes its tls-id, the role-keeping setup and its fingerprints
    assert_eq!(a1.sdp.media()[0].tls_id(), a2.sdp.media()[0].tls_id());
    assert_eq!(a1.sdp.media_setup(0), a2.sdp.media_setup(0));
    assert_eq!(a1.sdp.media_fingerprints(0), a2.sdp.media_fingerprints(0));
}

#[test]
fn t_5_3c_reverse_re_offer_keeps_roles_when_the_former_answerer_offers() {
    for tls in [true, false] {
        let mut p = Pair::initial(tls, false);
        // Bob answered active (client). Now Bob offers actpass; Alice must answer active? No: to keep, Alice
        // (the server) answers passive so that Bob stays client.
        let (alice_assoc, bob_assoc, offer, answer) = p.reverse_round();
        assert_eq!(
            offer.media_setup(0),
            Some(Setup::ActPass),
            "T-5.5: actpass in every offer"
        );
        assert_eq!(
            answer.media_setup(0),
            Some(Setup::Passive),
            "T-5.3c: the role-keeping setup"
        );
        assert_eq!((alice_assoc, bob_assoc), (KEEP, KEEP), "tls-id: {tls}");
        if tls {
            assert!(offer.media()[0].tls_id().is_some());
        }
    }
}

#[test]
fn t_5_3c_reverse_re_offer_with_answerer_default_passive_still_keeps_roles() {
    let mut p = Pair::initial(true, false);
    let mut c = p.alice.config().clone();
    c.answer_setup = AnswerSetup::Active; // the default would flip Alice to client: keeping must win
    p.alice.set_config(c).unwrap();
    let (a, b, _, answer) = p.reverse_round();
    assert_eq!(answer.media_setup(0), Some(Setup::Passive));
    assert_eq!((a, b), (KEEP, KEEP));
}

#[test]
fn t_4b_every_new_association_gets_a_fresh_local_tls_id() {
    let mut p = Pair::initial(true, false);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..5 {
        let (offer, pending) = p
            .alice
            .create_offer(&[p.alice_media.clone()], Renew::All, &mut p.rng)
            .unwrap();
        let t = offer.media()[0].tls_id().unwrap().clone();
        assert!(seen.insert(t), "tls-id reused");
        let answer = p
            .bob
            .answer(&offer, &[p.bob_media.clone()], &mut p.rng)
            .unwrap();
        assert!(seen.insert(answer.sdp.media()[0].tls_id().unwrap().clone()));
        p.alice.apply_answer(pending, &answer.sdp).unwrap();
    }
}

fn snap(role: HandshakeRole, fp_byte: u8, tls: Option<&str>, port: u16) -> AssocSnapshot {
    AssocSnapshot {
        local_role: role,
        local_fingerprints: vec![fp(HashFunction::Sha256, 1)],
        remote_fingerprints: vec![fp(HashFunction::Sha256, fp_byte)],
        local_tls_id: Some("localLOCALlocalLOCAL00".parse::<TlsId>().unwrap()),
        remote_tls_id: tls.map(|t| t.parse().unwrap()),
        local_transport: ("127.0.0.1".into(), 6000),
        remote_transport: ("127.0.0.1".into(), port),
        ice: false,
    }
}

#[test]
fn t_3_1a_decide_over_every_combination_of_role_fingerprint_and_tls_id_change() {
    let prev = snap(
        HandshakeRole::Client,
        2,
        Some("remoteREMOTEremote0000"),
        7000,
    );
    for role_changed in [false, true] {
        for fp_changed in [false, true] {
            for tls_changed in [false, true] {
                let next = snap(
                    if role_changed {
                        HandshakeRole::Server
                    } else {
                        HandshakeRole::Client
                    },
                    if fp_changed { 3 } else { 2 },
                    Some(if tls_changed {
                        "remoteREMOTEremote1111"
                    } else {
                        "remoteREMOTEremote0000"
                    }),
                    7002, // a transport change never matters with tls-id (T-3.2)
                );
                let want = if role_changed {
                    new(NewReason::RolesChanged)
                } else if fp_changed {
                    new(NewReason::FingerprintsChanged)
                } else if tls_changed {
                    new(NewReason::TlsIdChanged)
                } else {
                    KEEP
                };
                assert_eq!(
                    decide(Some(&prev), &next),
                    want,
                    "{role_changed} {fp_changed} {tls_changed}"
                );
            }
        }
    }
    assert_eq!(decide(None, &prev), new(NewReason::Initial));
    // T-4d legacy peer: transport change renews, nothing else keeps
    let legacy = snap(HandshakeRole::Client, 2, None, 7000);
    assert_eq!(
        decide(Some(&legacy), &snap(HandshakeRole::Client, 2, None, 7000)),
        KEEP
    );
    assert_eq!(
        decide(Some(&legacy), &snap(HandshakeRole::Client, 2, None, 7002)),
        new(NewReason::TransportChanged)
    );
    let mut with_ice = legacy.clone();
    with_ice.ice = true;
    let mut moved = snap(HandshakeRole::Client, 2, None, 7002);
    moved.ice = true;
    assert_eq!(decide(Some(&with_ice), &moved), KEEP, "T-6c/T-3.3");
}

#[test]
fn t_5_3b_answerer_refusing_a_new_association_rejects_the_m_line() {
    for tls in [true, false] {
        let mut p = Pair::initial(tls, false);
        let mut c = p.bob.config().clone();
        c.refuse_new_association = true;
        p.bob.set_config(c).unwrap();
        // a keeping re-offer is still accepted
        assert_eq!(p.round(Renew::Keep, no_edit), (KEEP, KEEP));
        // a renewing one (new tls-id and port) gets port 0
        p.alice_media.port = 6200;
        let (offer, pending) = p
            .alice
            .create_offer(std::slice::from_ref(&p.alice_media), Renew::All, &mut p.rng)
            .unwrap();
        let offer = strip(&offer, tls);
        let answer = p
            .bob
            .answer(&offer, std::slice::from_ref(&p.bob_media), &mut p.rng);
        // one m-line only: nothing acceptable → 488
        assert_eq!(answer.unwrap_err().sip_status(), 488, "tls-id: {tls}");
        p.alice.cancel_offer();
        drop(pending);
    }
}
