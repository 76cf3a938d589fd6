//! `dtlsrtp call` / `dtlsrtp answer` with SIP Identity (issue 8): both sign with their identity key, verify
//! under a common trust anchor; the answerer shows the caller verified (RFC 8224, `mky`), the caller shows the
//! answerer verified through the RFC 4916 UPDATE, both summaries carry the state and the same SAS. A caller
//! without identity is refused by an answerer whose policy is `required` (428).
#![allow(clippy::disallowed_methods)] // tests: real processes, sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use dtlsrtp_testkit::peers::free_port;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

mod common;
use common::{text, Running};

fn ec_key() -> PKey<Private> {
    let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&g).unwrap()).unwrap()
}

fn cert(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    serial: u32,
    uri: &str,
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(serial).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    match issuer {
        None => {
            b.set_issuer_name(&name).unwrap();
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
            b.sign(key, MessageDigest::sha256()).unwrap();
        }
        Some((ca, ca_key)) => {
            b.set_issuer_name(ca.subject_name()).unwrap();
            b.append_extension(BasicConstraints::new().build().unwrap())
                .unwrap();
            // authoritative for exactly this SIP identity (RFC 8224 §6.2: an IP host has no dNSName)
            let san = SubjectAlternativeName::new()
                .uri(uri)
                .build(&b.x509v3_context(Some(ca), None))
                .unwrap();
            b.append_extension(san).unwrap();
            b.sign(ca_key, MessageDigest::sha256()).unwrap();
        }
    }
    b.build()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A CA and two signing identities (the caller's, bob's at `listen`) written to `dir`: (ca.pem, [(key,
/// cert); 2]).
fn pki(dir: &Path, listen: &str) -> (PathBuf, Vec<(PathBuf, PathBuf)>) {
    let ca_key = ec_key();
    let ca = cert("test CA", &ca_key, None, 1, "");
    let uris = [
        "sip:dtlsrtp-caller@127.0.0.1".to_owned(),
        format!("sip:bob@{listen}"),
    ];
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.to_pem().unwrap()).unwrap();
    let mut ids = Vec::new();
    for (i, who) in ["alice", "bob"].iter().enumerate() {
        let k = ec_key();
        let c = cert(who, &k, Some((&ca, &ca_key)), 2 + i as u32, &uris[i]);
        let (kp, cp) = (
            dir.join(format!("{who}.key")),
            dir.join(format!("{who}.pem")),
        );
        std::fs::write(&kp, k.private_key_to_pem_pkcs8().unwrap()).unwrap();
        std::fs::write(&cp, c.to_pem().unwrap()).unwrap();
        ids.push((kp, cp));
    }
    (ca_path, ids)
}

#[test]
fn call_and_answer_with_identity_both_verified_same_sas() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let (ca, ids) = pki(dir.path(), &listen);
    let cfg = dir.path().join("cfg");
    let answer = Running::spawn(&[
        "answer",
        "--listen",
        &listen,
        "--config-dir",
        s(&cfg),
        "--identity-key",
        s(&ids[1].0),
        "--identity-cert",
        s(&ids[1].1),
        "--trust-anchor",
        s(&ca),
        "--identity-policy",
        "required",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let call = Running::spawn(&[
        "call",
        &format!("sip:bob@{listen}"),
        "--config-dir",
        s(&cfg),
        "--identity-key",
        s(&ids[0].0),
        "--identity-cert",
        s(&ids[0].1),
        "--trust-anchor",
        s(&ca),
        "--duration",
        "2",
        "--timeout",
        "10",
    ])
    .wait(Duration::from_secs(30));
    let out = text(&call);
    assert_eq!(call.status.code(), Some(0), "{out}");
    assert!(
        out.contains("encrypted to verified sip:bob@127.0.0.1"),
        "{out}"
    );
    let answered = answer.wait(Duration::from_secs(15));
    let aout = text(&answered);
    assert_eq!(answered.status.code(), Some(0), "{aout}");
    assert!(
        aout.contains("encrypted to verified sip:dtlsrtp-caller@127.0.0.1"),
        "{aout}"
    );
    let sas = |o: &str| {
        let i = o.rfind("SAS ").unwrap_or_else(|| panic!("no SAS in {o}"));
        o[i + 4..i + 28].to_owned()
    };
    assert_eq!(sas(&out), sas(&aout));
}

#[test]
fn answer_with_required_identity_refuses_a_caller_without_identity() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let (ca, _) = pki(dir.path(), &listen);
    let cfg = dir.path().join("cfg");
    let _answer = Running::spawn(&[
        "answer",
        "--listen",
        &listen,
        "--config-dir",
        s(&cfg),
        "--trust-anchor",
        s(&ca),
        "--identity-policy",
        "required",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let call = Running::spawn(&[
        "call",
        &format!("sip:bob@{listen}"),
        "--config-dir",
        s(&cfg),
        "--duration",
        "2",
        "--timeout",
        "10",
    ])
    .wait(Duration::from_secs(30));
    let out = text(&call);
    assert_ne!(call.status.code(), Some(0), "{out}");
    assert!(out.contains("428"), "{out}");
}
