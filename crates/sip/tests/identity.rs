//! SIP Identity (RFC 8224/8225) for DTLS-SRTP: the authentication and verification services end to end over
//! real certificates (a CA, a leaf signed by it, a rogue CA), `info` served from a file and from HTTP on
//! loopback, and the attacks of issue 8 at the signalling level: a rewritten a=fingerprint (mky mismatch,
//! I-2), a replayed stale PASSporT, a wrong orig, an untrusted certificate, a stripped Identity (F-8.6a).
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions
#![allow(clippy::disallowed_methods)] // tests: certificate files and loopback HTTP

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use dtlsrtp_sip::identity::{
    call_security_state, AuthService, Authority, CallSecurityState, CertResolver, Disposition,
    IdentityError, IdentityHeader, IdentityPolicy, Party, RequestFacts, ResolveError, SetupError,
    TrustAnchors, Verdict, Verifier,
};
use dtlsrtp_sip::{HeaderName, Message, Uri};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

/// `file://` URLs under one directory: the caller's I/O (the sans-IO crate has no file resolver; the CLI's
/// does the same confinement).
struct FileResolver {
    root: PathBuf,
}

impl FileResolver {
    fn under(root: &Path) -> Self {
        Self {
            root: root.canonicalize().unwrap(),
        }
    }
}

impl CertResolver for FileResolver {
    fn fetch(&mut self, url: &str) -> Result<Vec<u8>, ResolveError> {
        let path = url
            .strip_prefix("file://")
            .filter(|p| p.starts_with('/'))
            .ok_or(ResolveError::Unsupported)?;
        let path = Path::new(path)
            .canonicalize()
            .map_err(|_| ResolveError::Unreachable)?;
        if !path.starts_with(&self.root) {
            return Err(ResolveError::Unsupported);
        }
        std::fs::read(&path).map_err(|_| ResolveError::Unreachable)
    }
}

/// The verifier's wall clock in these tests (2027-01-15); certificates are valid a day before to a year after.
const NOW: u64 = 1_800_000_000;

fn ec_key(nid: Nid) -> PKey<Private> {
    let g = EcGroup::from_curve_name(nid).unwrap();
    PKey::from_ec_key(EcKey::generate(&g).unwrap()).unwrap()
}

fn cert(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    serial: u32,
    not_after: u64,
) -> X509 {
    cert_with_san(cn, key, issuer, serial, not_after, &["example.com"], &[])
}

/// A certificate; a leaf (with an issuer) gets the given dNSName and URI subjectAltNames.
fn cert_with_san(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    serial: u32,
    not_after: u64,
    dns: &[&str],
    uris: &[&str],
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
    b.set_not_before(&Asn1Time::from_unix((NOW - 86_400) as i64).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(not_after as i64).unwrap())
        .unwrap();
    match issuer {
        None => {
            b.set_issuer_name(&name).unwrap();
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
            b.append_extension(KeyUsage::new().key_cert_sign().crl_sign().build().unwrap())
                .unwrap();
            b.sign(key, MessageDigest::sha256()).unwrap();
        }
        Some((ca, ca_key)) => {
            b.set_issuer_name(ca.subject_name()).unwrap();
            b.append_extension(BasicConstraints::new().build().unwrap())
                .unwrap();
            if !dns.is_empty() || !uris.is_empty() {
                let mut san = SubjectAlternativeName::new();
                for d in dns {
                    san.dns(d);
                }
                for u in uris {
                    san.uri(u);
                }
                let ext = san.build(&b.x509v3_context(Some(ca), None)).unwrap();
                b.append_extension(ext).unwrap();
            }
            b.sign(ca_key, MessageDigest::sha256()).unwrap();
        }
    }
    b.build()
}

/// A CA, Alice's and Bob's signing certificates under it, and a rogue CA's certificate for Alice, written
/// to a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: X509,
    ca_key: PKey<Private>,
    alice_key: PKey<Private>,
    alice_cert: X509,
    bob_key: PKey<Private>,
    bob_cert: X509,
}

const YEAR: u64 = 365 * 86_400;

impl Pki {
    fn new() -> Self {
        let ca_key = ec_key(Nid::X9_62_PRIME256V1);
        let ca = cert("dtlsrtp test CA", &ca_key, None, 1, NOW + YEAR);
        let alice_key = ec_key(Nid::X9_62_PRIME256V1);
        let alice_cert = cert("alice", &alice_key, Some((&ca, &ca_key)), 2, NOW + YEAR);
        let bob_key = ec_key(Nid::X9_62_PRIME256V1);
        let bob_cert = cert("bob", &bob_key, Some((&ca, &ca_key)), 3, NOW + YEAR);
        Self {
            dir: tempfile::tempdir().unwrap(),
            ca,
            ca_key,
            alice_key,
            alice_cert,
            bob_key,
            bob_cert,
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn anchors(&self) -> TrustAnchors {
        let mut a = TrustAnchors::new();
        assert_eq!(a.add(&self.ca.to_pem().unwrap()).unwrap(), 1);
        a
    }

    /// A file resolver confined to this PKI's directory.
    fn files(&self) -> FileResolver {
        FileResolver::under(self.dir.path())
    }

    fn verifier(&self) -> Verifier {
        Verifier::new(self.anchors())
    }

    /// Alice's authentication service with her certificate at a file:// URL.
    fn alice(&self) -> AuthService {
        let path = self.write("alice.pem", &self.alice_cert.to_pem().unwrap());
        AuthService::new(
            &self.alice_key.private_key_to_pem_pkcs8().unwrap(),
            &self.alice_cert.to_pem().unwrap(),
            &file_url(&path),
        )
        .unwrap()
    }

    fn bob(&self) -> AuthService {
        let path = self.write("bob.pem", &self.bob_cert.to_pem().unwrap());
        AuthService::new(
            &self.bob_key.private_key_to_pem_pkcs8().unwrap(),
            &self.bob_cert.to_pem().unwrap(),
            &file_url(&path),
        )
        .unwrap()
    }
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

fn uri(s: &str) -> Uri {
    Uri::parse(s).unwrap()
}

fn fps(byte: u8) -> Vec<(String, Vec<u8>)> {
    vec![("sha-256".to_string(), vec![byte; 32])]
}

struct Call {
    from: Uri,
    to: Uri,
    fps: Vec<(String, Vec<u8>)>,
}

impl Call {
    fn alice_to_bob() -> Self {
        Self {
            from: uri("sip:alice@example.com"),
            to: uri("sip:bob@example.com"),
            fps: fps(0xa1),
        }
    }
    fn facts(&self) -> RequestFacts<'_> {
        RequestFacts {
            from: &self.from,
            to: &self.to,
            date: Some(NOW),
            fingerprints: &self.fps,
        }
    }
}

fn verify(pki: &Pki, header: &str, call: &Call, now: u64) -> Verdict {
    pki.verifier()
        .verify_request(&[header], &call.facts(), now, &mut pki.files())
}

fn failed(v: &Verdict) -> IdentityError {
    match v {
        Verdict::Failed(e) => *e,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn i_2_sign_verify_round_trip_full_form() {
    let pki = Pki::new();
    let call = Call::alice_to_bob();
    let h = pki.alice().sign(&call.facts(), NOW).unwrap();
    assert!(!h.is_compact());
    assert_eq!(h.alg.as_deref(), Some("ES256"));
    let text = h.to_string();
    assert!(text.contains(";info=<file:///"), "{text}");
    assert_eq!(IdentityHeader::parse(&text).unwrap(), h);
    let v = verify(&pki, &text, &call, NOW + 2);
    let id = v.verified().expect("verified");
    assert_eq!(id.orig, Party::Uri("sip:alice@example.com".into()));
    assert!(id.covers_fingerprints);
    assert_eq!(
        v.disposition(IdentityPolicy::Required),
        Disposition::Proceed { verified: true }
    );
    assert_eq!(
        call_security_state(true, &v, None),
        CallSecurityState::EncryptedToVerifiedIdentity {
            uri: "sip:alice@example.com".into()
        }
    );
}

/// The Identity header travels inside a real INVITE: written by our message writer, parsed back by our
/// parser, byte-exact, and still verifies.
#[test]
fn i_1_identity_survives_the_sip_parser() {
    let pki = Pki::new();
    let call = Call::alice_to_bob();
    let h = pki.alice().sign(&call.facts(), NOW).unwrap();
    let raw = format!(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@example.com>\r\n\
From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Date: Fri, 15 Jan 2027 08:00:00 GMT\r\n\
Identity: {h}\r\n\
Content-Length: 0\r\n\r\n"
    );
    let msg = Message::parse(raw.as_bytes()).unwrap();
    assert_eq!(msg.to_bytes(), raw.as_bytes());
    let req = msg.as_request().unwrap();
    let values: Vec<String> = req
        .headers
        .all(HeaderName::Identity)
        .map(|f| f.value())
        .collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let from = req.headers.from().unwrap().uri.clone();
    let to = req.headers.to().unwrap().uri.clone();
    let facts = RequestFacts {
        from: &from,
        to: &to,
        date: None,
        fingerprints: &call.fps,
    };
    let v = pki
        .verifier()
        .verify_request(&refs, &facts, NOW, &mut pki.files());
    assert!(v.verified().is_some(), "{v:?}");
}

#[test]
fn i_2_compact_form_round_trip_and_needs_date() {
    let pki = Pki::new();
    let call = Call::alice_to_bob();
    let h = pki.alice().sign_compact(&call.facts(), NOW).unwrap();
    assert!(h.is_compact());
    assert!(h.passport.contains(".."));
    let v = verify(&pki, &h.to_string(), &call, NOW + 1);
    assert!(v.verified().is_some_and(|i| i.covers_fingerprints), "{v:?}");
    // without a Date header there is no iat to rebuild the payload with
    let mut facts = call.facts();
    facts.date = None;
    let v = pki
        .verifier()
        .verify_request(&[&h.to_string()], &facts, NOW, &mut pki.files());
    assert_eq!(failed(&v), IdentityError::CompactWithoutDate);
    assert_eq!(failed(&v).status_code(), 438);
    // a rewritten fingerprint changes the rebuilt payload: the signature fails (438)
    let mut tampered = Call::alice_to_bob();
    tampered.fps = fps(0xee);
    assert_eq!(
        failed(&verify(&pki, &h.to_string(), &tampered, NOW)),
        IdentityError::BadSignature
    );
}

/// I-2 / F-5.4: a proxy rewrites a=fingerprint in the SDP (its own key, to sit in the middle): `mky` no
/// longer matches, 438 under a secure-only policy, unverified under best effort, and the UI says failed.
#[test]
fn i_2_tampered_fingerprint_is_mky_mismatch_438() {
    let pki = Pki::new();
    let call = Call::alice_to_bob();
    let h = pki.alice().sign(&call.facts(), NOW).unwrap().to_string();
    let mut mitm = Call::alice_to_bob();
    mitm.fps = fps(0x66);
    let v = verify(&pki, &h, &mitm, NOW);
    assert_eq!(failed(&v), IdentityError::MkyMismatch);
    assert_eq!(
        v.disposition(IdentityPolicy::Required),
        Disposition::Reject {
            code: 438,
            reason: "Invalid Identity Header"
        }
    );
    assert_eq!(
        v.disposition(IdentityPolicy::BestEffort),
        Disposition::Proceed { verified: false }
    );
    assert_eq!(
        call_security_state(true, &v, None),
        CallSecurityState::IdentityFailed {
            reason: IdentityError::MkyMismatch
        }
    );
    // a fingerprint added beside the signed one is a mismatch too
    let mut added = Call::alice_to_bob();
    added.fps.push(("sha-1".into(), vec![0x66; 20]));
    assert_eq!(
        failed(&verify(&pki, &h, &added, NOW)),
        IdentityError::MkyMismatch
    );
    // the same fingerprints in another order, or repeated at media level, still verify
    let two = Call {
        fps: vec![
            ("sha-256".into(), vec![1; 32]),
            ("sha-1".into(), vec![2; 20]),
        ],
        ..Call::alice_to_bob()
    };
    let h2 = pki.alice().sign(&two.facts(), NOW).unwrap().to_string();
    let reordered = Call {
        fps: vec![
            ("SHA-1".into(), vec![2; 20]),
            ("sha-256".into(), vec![1; 32]),
            ("sha-256".into(), vec![1; 32]),
        ],
        ..Call::alice_to_bob()
    };
    assert!(verify(&pki, &h2, &reordered, NOW).verified().is_some());
}

/// I-2: an SDP with fingerprints and a PASSporT without `mky` does not verify (it would vouch for nothing).
#[test]
fn i_2_missing_mky_with_fingerprints_is_438() {
    let pki = Pki::new();
    let none = Call {
        fps: vec![],
        ..Call::alice_to_bob()
    };
    let h = pki.alice().sign(&none.facts(), NOW).unwrap().to_string();
    // signed over an SDP without fingerprints: verifies, but does not cover media keys
    let v = verify(&pki, &h, &none, NOW);
    assert!(v.verified().is_some_and(|i| !i.covers_fingerprints));
    // F-8.6a: such an identity is never shown as a verified secure call
    assert_eq!(
        call_security_state(true, &v, None),
        CallSecurityState::EncryptedUnauthenticated
    );
    // the same PASSporT on a request whose SDP has a fingerprint: MkyMissing
    let with = Call::alice_to_bob();
    let e = failed(&verify(&pki, &h, &with, NOW));
    assert_eq!(e, IdentityError::MkyMissing);
    assert_eq!(e.status_code(), 438);
}

/// A replayed PASSporT: valid signature, `iat` outside the window (either way) → rejected (403 Stale Date).
#[test]
fn i_1_replayed_stale_passport_rejected() {
    let pki = Pki::new();
    let call = Call::alice_to_bob();
    let h = pki.alice().sign(&call.facts(), NOW).unwrap().to_string();
    assert!(verify(&pki, &h, &call, NOW + 60).verified().is_some());
    assert!(verify(&pki, &h, &call, NOW - 60).verified().is_some());
    let e = failed(&verify(&pki, &h, &call, NOW + 61));
    assert_eq!(
        e,
        IdentityError::Stale {
            iat: NOW,
            now: NOW + 61
        }
    );
    assert_eq!((e.status_code(), e.reason_phrase()), (403, "Stale Date"));
    assert!(matches!(
        failed(&verify(&pki, &h, &call, NOW - 61)),
        IdentityError::Stale { .. }
    ));
    // a tighter window
    let v = pki.verifier().with_freshness(5).verify_request(
        &[&h],
        &call.facts(),
        NOW + 6,
        &mut pki.files(),
    );
    assert!(matches!(failed(&v), IdentityError::Stale { .. }));
}

#[test]
fn i_1_wrong_orig_or_dest_rejected() {
    let pki = Pki::new();
    let call = Call::alice_to_bob();
    let h = pki.alice().sign(&call.facts(), NOW).unwrap().to_string();
    let mallory = Call {
        from: uri("sip:mallory@example.com"),
        ..Call::alice_to_bob()
    };
    let e = failed(&verify(&pki, &h, &mallory, NOW));
    assert_eq!(e, IdentityError::OrigMismatch);
    assert_eq!(e.status_code(), 438);
    let carol = Call {
        to: uri("sip:carol@example.com"),
        ..Call::alice_to_bob()
    };
    assert_eq!(
        failed(&verify(&pki, &h, &carol, NOW)),
        IdentityError::DestMismatch
    );
    // normalisation: host case, URI parameters and a display-name-free form do not matter
    let same = Call {
        from: uri("sip:alice@EXAMPLE.com;transport=tcp"),
        to: uri("sip:bob@example.com;user=ip"),
        ..Call::alice_to_bob()
    };
    assert!(verify(&pki, &h, &same, NOW).verified().is_some());
}

/// Telephone-number identities (RFC 8224 §8.3): From sip:+1-215-555-1212@..;user=phone signs as tn. F-8.6c:
/// a number is shown as verified only under a policy that trusts the signer for numbers.
#[test]
fn i_1_f_8_6c_telephone_number_orig_needs_trust_policy() {
    let pki = Pki::new();
    let call = Call {
        from: uri("sip:+1-215-555-1212@example.com;user=phone"),
        to: uri("tel:+1.215.555.1213"),
        fps: fps(3),
    };
    let h = pki.alice().sign(&call.facts(), NOW).unwrap().to_string();
    let e = failed(&verify(&pki, &h, &call, NOW));
    assert_eq!(e, IdentityError::NotAuthoritative);
    assert_eq!(e.status_code(), 438);
    let v = pki
        .verifier()
        .with_authority(Authority::SubjectAltName { trust_tn: true })
        .verify_request(&[&h], &call.facts(), NOW, &mut pki.files());
    assert_eq!(
        v.verified().map(|i| i.orig.clone()),
        Some(Party::Tn("12155551212".into()))
    );
}

/// RFC 8224 §6.2: a certificate under the anchors speaks only for the identities it names. Alice's
/// certificate (subjectAltName DNS:example.com) cannot sign for sip:mallory@evil.example, and a certificate
/// naming one SIP URI speaks for that URI only; `Authority::AnyTrusted` lifts the check (closed deployment).
#[test]
fn i_1_certificate_must_be_authoritative_for_orig() {
    let pki = Pki::new();
    let evil = Call {
        from: uri("sip:mallory@evil.example"),
        ..Call::alice_to_bob()
    };
    let h = pki.alice().sign(&evil.facts(), NOW).unwrap().to_string();
    assert_eq!(
        failed(&verify(&pki, &h, &evil, NOW)),
        IdentityError::NotAuthoritative
    );
    let v = pki
        .verifier()
        .with_authority(Authority::AnyTrusted)
        .verify_request(&[&h], &evil.facts(), NOW, &mut pki.files());
    assert!(v.verified().is_some());
    // a certificate naming exactly sip:carol@example.org (URI SAN, no DNS name)
    let key = ec_key(Nid::X9_62_PRIME256V1);
    let c = cert_with_san(
        "carol",
        &key,
        Some((&pki.ca, &pki.ca_key)),
        20,
        NOW + YEAR,
        &[],
        &["sip:carol@example.org"],
    );
    let p = pki.write("carol.pem", &c.to_pem().unwrap());
    let carol = AuthService::new(
        &key.private_key_to_pem_pkcs8().unwrap(),
        &c.to_pem().unwrap(),
        &file_url(&p),
    )
    .unwrap();
    let as_carol = Call {
        from: uri("sip:carol@EXAMPLE.org;transport=tls"),
        ..Call::alice_to_bob()
    };
    let h = carol.sign(&as_carol.facts(), NOW).unwrap().to_string();
    assert!(verify(&pki, &h, &as_carol, NOW).verified().is_some());
    let as_dave = Call {
        from: uri("sip:dave@example.org"),
        ..Call::alice_to_bob()
    };
    let h = carol.sign(&as_dave.facts(), NOW).unwrap().to_string();
    assert_eq!(
        failed(&verify(&pki, &h, &as_dave, NOW)),
        IdentityError::NotAuthoritative
    );
}

/// A certificate that does not chain to the trust anchors: 437 Unsupported Credential (RFC 8224 §6.2.2);
/// one that cannot be fetched or is not a certificate: 436 Bad Identity Info.
#[test]
fn i_1_certificate_not_under_trust_anchor() {
    let pki = Pki::new();
    let call = Call::alice_to_bob();
    // Mallory's CA signs a certificate for Mallory's key; the verifier trusts only our CA
    let rogue_ca_key = ec_key(Nid::X9_62_PRIME256V1);
    let rogue_ca = cert("rogue CA", &rogue_ca_key, None, 9, NOW + YEAR);
    let m_key = ec_key(Nid::X9_62_PRIME256V1);
    let m_cert = cert(
        "alice",
        &m_key,
        Some((&rogue_ca, &rogue_ca_key)),
        10,
        NOW + YEAR,
    );
    let path = pki.write("rogue.pem", &m_cert.to_pem().unwrap());
    let mallory = AuthService::new(
        &m_key.private_key_to_pem_pkcs8().unwrap(),
        &m_cert.to_pem().unwrap(),
        &file_url(&path),
    )
    .unwrap();
    let h = mallory.sign(&call.facts(), NOW).unwrap().to_string();
    let e = failed(&verify(&pki, &h, &call, NOW));
    assert_eq!(e, IdentityError::UntrustedCertificate);
    assert_eq!(
        (e.status_code(), e.reason_phrase()),
        (437, "Unsupported Credential")
    );
    // even with the rogue CA appended as an "intermediate" in the fetched chain
    let mut chain = m_cert.to_pem().unwrap();
    chain.extend(rogue_ca.to_pem().unwrap());
    std::fs::write(&path, chain).unwrap();
    assert_eq!(
        failed(&verify(&pki, &h, &call, NOW)),
        IdentityError::UntrustedCertificate
    );
    // no anchors at all
    let v = Verifier::new(TrustAnchors::new()).verify_request(
        &[&pki.alice().sign(&call.facts(), NOW).unwrap().to_string()],
        &call.facts(),
        NOW,
        &mut pki.files(),
    );
    assert_eq!(failed(&v), IdentityError::UntrustedCertificate);
    // an expired certificate (checked at the injected time, not OpenSSL's clock)
    let old_key = ec_key(Nid::X9_62_PRIME256V1);
    let old = cert(
        "alice",
        &old_key,
        Some((&pki.ca, &pki.ca_key)),
        11,
        NOW + 100,
    );
    let p = pki.write("old.pem", &old.to_pem().unwrap());
    let svc = AuthService::new(
        &old_key.private_key_to_pem_pkcs8().unwrap(),
        &old.to_pem().unwrap(),
        &file_url(&p),
    )
    .unwrap();
    let h = svc.sign(&call.facts(), NOW + 200).unwrap().to_string();
    assert_eq!(
        failed(&verify(&pki, &h, &call, NOW + 200)),
        IdentityError::UntrustedCertificate
    );
    // info unreachable / not a certificate: 436
    let alice = pki.alice();
    let h = alice.sign(&call.facts(), NOW).unwrap();
    let mut gone = h.clone();
    gone.info = "file:///nonexistent/dtlsrtp/alice.pem".into();
    let e = failed(&verify(&pki, &gone.to_string(), &call, NOW));
    // x5u (signed) still names the old URL: either way the header is refused; with info fixed up in the
    // PASSporT too, the fetch failure shows as 436
    assert!(matches!(e, IdentityError::X5uMismatch), "{e:?}");
    let p = pki.write("garbage.pem", b"not a certificate");
    let svc = AuthService::new(
        &pki.alice_key.private_key_to_pem_pkcs8().unwrap(),
        &pki.alice_cert.to_pem().unwrap(),
        &file_url(&p),
    )
    .unwrap();
    let e = failed(&verify(
        &pki,
        &svc.sign(&call.facts(), NOW).unwrap().to_string(),
        &call,
        NOW,
    ));
    assert_eq!(e, IdentityError::BadCertificate);
    assert_eq!(
        (e.status_code(), e.reason_phrase()),
        (436, "Bad Identity Info")
    );
    std::fs::remove_file(&p).unwrap();
    let e = failed(&verify(
        &pki,
        &svc.sign(&call.facts(), NOW).unwrap().to_string(),
        &call,
        NOW,
    ));
    assert_eq!(e, IdentityError::InfoUnreachable(ResolveError::Unreachable));
    assert_eq!(e.status_code(), 436);
}

/// A P-384 signing certificate cannot carry an ES256 signature: 437.
#[test]
fn i_1_non_p256_credential_is_437() {
    let pki = Pki::new();
    let call = Call::alice_to_bob();
    let k384 = ec_key(Nid::SECP384R1);
    assert_eq!(
        AuthService::new(
            &k384.private_key_to_pem_pkcs8().unwrap(),
            &pki.alice_cert.to_pem().unwrap(),
            "file:///x.pem"
        )
        .unwrap_err(),
        SetupError::NotP256
    );
    // Alice's key, but info serves a P-384 certificate under the CA
    let c384 = cert("alice", &k384, Some((&pki.ca, &pki.ca_key)), 12, NOW + YEAR);
    let alice = pki.alice();
    let h = alice.sign(&call.facts(), NOW).unwrap();
    let alice_pem = pki.dir.path().join("alice.pem");
    std::fs::write(&alice_pem, c384.to_pem().unwrap()).unwrap();
    let e = failed(&verify(&pki, &h.to_string(), &call, NOW));
    assert_eq!(e, IdentityError::UnsupportedAlg);
    assert_eq!(e.status_code(), 437);
}

#[test]
fn i_1_auth_service_setup_checks_and_redacts() {
    let pki = Pki::new();
    let other = ec_key(Nid::X9_62_PRIME256V1);
    assert_eq!(
        AuthService::new(
            &other.private_key_to_pem_pkcs8().unwrap(),
            &pki.alice_cert.to_pem().unwrap(),
            "file:///x.pem"
        )
        .unwrap_err(),
        SetupError::KeyMismatch
    );
    assert_eq!(
        AuthService::new(
            b"garbage",
            &pki.alice_cert.to_pem().unwrap(),
            "file:///x.pem"
        )
        .unwrap_err(),
        SetupError::Key
    );
    let key = pki.alice_key.private_key_to_pem_pkcs8().unwrap();
    let cert = pki.alice_cert.to_pem().unwrap();
    for bad in ["ftp://x/c.pem", "http://x/<c>", "file://relative", ""] {
        assert_eq!(
            AuthService::new(&key, &cert, bad).unwrap_err(),
            SetupError::InfoUrl,
            "{bad}"
        );
    }
    let svc = pki.alice();
    let dbg = format!("{svc:?}");
    assert!(dbg.contains("redacted"));
    let key_text = String::from_utf8(key).unwrap();
    let key_line = key_text.lines().nth(1).unwrap();
    assert!(!dbg.contains(key_line));
}

/// The payload is edited after signing (orig swapped), or the signature bytes flipped: 438.
#[test]
fn i_1_tampered_passport_signature_fails() {
    use dtlsrtp_sip::identity::b64;
    let pki = Pki::new();
    let call = Call::alice_to_bob();
    let mut h = pki.alice().sign(&call.facts(), NOW).unwrap();
    let parts: Vec<&str> = h.passport.split('.').collect();
    let payload = String::from_utf8(b64::decode(parts[1]).unwrap()).unwrap();
    let forged = payload.replace("alice", "mallory");
    let forged_passport = format!(
        "{}.{}.{}",
        parts[0],
        b64::encode(forged.as_bytes()),
        parts[2]
    );
    let mallory_call = Call {
        from: uri("sip:mallory@example.com"),
        ..Call::alice_to_bob()
    };
    let mut forged_h = h.clone();
    forged_h.passport = forged_passport;
    assert_eq!(
        failed(&verify(&pki, &forged_h.to_string(), &mallory_call, NOW)),
        IdentityError::BadSignature
    );
    let mut sig = b64::decode(parts[2]).unwrap();
    sig[10] ^= 0x40;
    h.passport = format!("{}.{}.{}", parts[0], parts[1], b64::encode(&sig));
    let e = failed(&verify(&pki, &h.to_string(), &call, NOW));
    assert_eq!(e, IdentityError::BadSignature);
    assert_eq!(e.status_code(), 438);
}

/// F-8.6a: a middlebox strips the Identity header. The verdict is Absent; the call is never shown as
/// verified; a secure-only policy answers 428.
#[test]
fn f_8_6a_stripped_identity_is_unverified_never_verified() {
    let pki = Pki::new();
    let call = Call::alice_to_bob();
    let v = pki
        .verifier()
        .verify_request(&[], &call.facts(), NOW, &mut pki.files());
    assert_eq!(v, Verdict::Absent);
    assert_eq!(
        call_security_state(true, &v, None),
        CallSecurityState::EncryptedUnauthenticated
    );
    assert_eq!(
        v.disposition(IdentityPolicy::BestEffort),
        Disposition::Proceed { verified: false }
    );
    assert_eq!(
        v.disposition(IdentityPolicy::Required),
        Disposition::Reject {
            code: 428,
            reason: "Use Identity Header"
        }
    );
    // a B2BUA that alters a signed header: garbage in place of the signature
    let v = pki.verifier().verify_request(
        &["eyJhbGciOiJFUzI1NiJ9.e30.AAAA;info=<file:///nonexistent>;alg=ES256"],
        &call.facts(),
        NOW,
        &mut pki.files(),
    );
    assert!(matches!(v, Verdict::Failed(_)));
    assert!(!matches!(
        call_security_state(true, &v, None),
        CallSecurityState::EncryptedToVerifiedIdentity { .. }
    ));
}

/// Several Identity header fields (RFC 8224 §4): one valid one is enough; garbage before it is skipped. Only
/// the first two are examined (issue 12 item 7: each may cost a certificate fetch): a valid third one is
/// never looked at.
#[test]
fn i_1_one_valid_identity_among_several() {
    let pki = Pki::new();
    let call = Call::alice_to_bob();
    let good = pki.alice().sign(&call.facts(), NOW).unwrap().to_string();
    let v =
        pki.verifier()
            .verify_request(&["garbage", &good], &call.facts(), NOW, &mut pki.files());
    assert!(v.verified().is_some());
    let v = pki.verifier().verify_request(
        &["garbage", "a.b.c;info=<ftp://x>", &good],
        &call.facts(),
        NOW,
        &mut pki.files(),
    );
    assert!(v.verified().is_none(), "a third header is not examined");
    let v = pki.verifier().verify_request(
        &["garbage", "a.b.c;info=<ftp://x>"],
        &call.facts(),
        NOW,
        &mut pki.files(),
    );
    assert_eq!(
        failed(&v).status_code(),
        438,
        "the first failure is reported"
    );
}

/// I-3 (RFC 4916, flow 7.2 messages 10-11): Bob's authentication service signs his UPDATE (From: Bob, To:
/// Alice, Bob's answer fingerprint); Alice, the UAC, verifies it as the connected identity and the call
/// becomes "encrypted to verified sip:bob@example.com" (F-8.1b). Without the UPDATE it stays unverified.
#[test]
fn i_3_connected_identity_update_verified_by_uac() {
    let pki = Pki::new();
    let update = Call {
        from: uri("sip:bob@example.com"),
        to: uri("sip:alice@example.com"),
        fps: fps(0xb0),
    };
    let h = pki
        .bob()
        .sign(&update.facts(), NOW + 3)
        .unwrap()
        .to_string();
    let connected = verify(&pki, &h, &update, NOW + 4);
    // 7.1 without UPDATE: Alice has no identity for Bob
    assert_eq!(
        call_security_state(true, &Verdict::Absent, None),
        CallSecurityState::EncryptedUnauthenticated
    );
    assert_eq!(
        call_security_state(true, &Verdict::Absent, Some(&connected)),
        CallSecurityState::EncryptedToVerifiedIdentity {
            uri: "sip:bob@example.com".into()
        }
    );
    // an UPDATE whose mky does not match Bob's answer leaves the identity unverified (spec §4.2)
    let wrong = Call {
        fps: fps(0xb1),
        ..update
    };
    let bad = verify(&pki, &h, &wrong, NOW + 4);
    assert_eq!(failed(&bad), IdentityError::MkyMismatch);
    assert!(matches!(
        call_security_state(true, &Verdict::Absent, Some(&bad)),
        CallSecurityState::IdentityFailed { .. }
    ));
}

// ---------------------------------------------------------------------------------------------------------
// info over HTTP on loopback: a one-file HTTP/1.0 server thread and a resolver that GETs from it.

/// Serves one body at any path on 127.0.0.1 until dropped (stopped by a flag and a wake-up connection;
/// the thread is joined in Drop).
struct HttpCertServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpCertServer {
    fn start(body: Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            // bounded: at most 64 connections in a test
            for conn in listener.incoming().take(64) {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut c) = conn else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                // read up to the end of the request head (bounded: 4 KiB, 2 s per read)
                let mut req = Vec::new();
                let mut buf = [0u8; 512];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 4096 {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&req).to_string();
                let resp = if head.starts_with("GET /alice.pem ") {
                    let mut r = format!(
                        "HTTP/1.0 200 OK\r\nContent-Type: application/pem-certificate-chain\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                } else {
                    b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
                };
                let _ = c.write_all(&resp);
            }
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HttpCertServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A test resolver: `http://127.0.0.1:PORT/path` with a blocking GET (loopback only, 2 s timeouts, 64 KiB).
struct LoopbackHttpResolver;

impl CertResolver for LoopbackHttpResolver {
    fn fetch(&mut self, url: &str) -> Result<Vec<u8>, ResolveError> {
        let rest = url
            .strip_prefix("http://127.0.0.1:")
            .ok_or(ResolveError::Unsupported)?;
        let (port, path) = rest.split_once('/').ok_or(ResolveError::Unsupported)?;
        let port: u16 = port.parse().map_err(|_| ResolveError::Unsupported)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .map_err(|_| ResolveError::Unreachable)?;
        c.set_read_timeout(Some(Duration::from_secs(2))).ok();
        // one write: the server reads the head until its blank line, but one segment is kinder
        c.write_all(format!("GET /{path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .map_err(|_| ResolveError::Unreachable)?;
        let mut resp = Vec::new();
        c.take(64 * 1024 + 1)
            .read_to_end(&mut resp)
            .map_err(|_| ResolveError::Unreachable)?;
        if resp.len() > 64 * 1024 {
            return Err(ResolveError::TooLarge);
        }
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or(ResolveError::Unreachable)?;
        if !resp.starts_with(b"HTTP/1.0 200") && !resp.starts_with(b"HTTP/1.1 200") {
            return Err(ResolveError::Unreachable);
        }
        Ok(resp[split + 4..].to_vec())
    }
}

#[test]
fn i_1_info_over_http_on_loopback() {
    let pki = Pki::new();
    let server = HttpCertServer::start(pki.alice_cert.to_pem().unwrap());
    let info = format!("http://127.0.0.1:{}/alice.pem", server.addr.port());
    let svc = AuthService::new(
        &pki.alice_key.private_key_to_pem_pkcs8().unwrap(),
        &pki.alice_cert.to_pem().unwrap(),
        &info,
    )
    .unwrap();
    let call = Call::alice_to_bob();
    let h = svc.sign(&call.facts(), NOW).unwrap();
    assert!(h.to_string().contains(&format!(";info=<{info}>")));
    let v = pki.verifier().verify_request(
        &[&h.to_string()],
        &call.facts(),
        NOW,
        &mut LoopbackHttpResolver,
    );
    assert!(v.verified().is_some(), "{v:?}");
    // a 404 at info: 436 Bad Identity Info
    let missing = format!("http://127.0.0.1:{}/nothing.pem", server.addr.port());
    let svc = AuthService::new(
        &pki.alice_key.private_key_to_pem_pkcs8().unwrap(),
        &pki.alice_cert.to_pem().unwrap(),
        &missing,
    )
    .unwrap();
    let v = pki.verifier().verify_request(
        &[&svc.sign(&call.facts(), NOW).unwrap().to_string()],
        &call.facts(),
        NOW,
        &mut LoopbackHttpResolver,
    );
    assert_eq!(
        failed(&v),
        IdentityError::InfoUnreachable(ResolveError::Unreachable)
    );
    assert_eq!(failed(&v).status_code(), 436);
    // the file resolver does not do http
    let v = pki
        .verifier()
        .verify_request(&[&h.to_string()], &call.facts(), NOW, &mut pki.files());
    assert_eq!(
        failed(&v),
        IdentityError::InfoUnreachable(ResolveError::Unsupported)
    );
    drop(server);
}

/// RFC 8225 §8: a `ppt` the verifier does not support fails; the header field's `ppt` must be the
/// PASSporT's.
#[test]
fn i_1_ppt_extension_must_be_supported_and_consistent() {
    let pki = Pki::new();
    let call = Call::alice_to_bob();
    let svc = pki.alice().with_ppt("foo");
    let h = svc.sign(&call.facts(), NOW).unwrap();
    assert!(h.to_string().ends_with(";alg=ES256;ppt=foo"), "{h}");
    let e = failed(&verify(&pki, &h.to_string(), &call, NOW));
    assert_eq!(e, IdentityError::UnsupportedPpt);
    assert_eq!(e.status_code(), 438);
    let v = pki.verifier().with_supported_ppt("foo").verify_request(
        &[&h.to_string()],
        &call.facts(),
        NOW,
        &mut pki.files(),
    );
    assert!(v.verified().is_some(), "{v:?}");
    let mut stripped = h.clone();
    stripped.ppt = None;
    assert_eq!(
        failed(&verify(&pki, &stripped.to_string(), &call, NOW)),
        IdentityError::PptMismatch
    );
}

/// Counts fetches and answers with fixed bytes.
struct CountingResolver {
    fetches: usize,
    answer: Result<Vec<u8>, ResolveError>,
}

impl CertResolver for CountingResolver {
    fn fetch(&mut self, _url: &str) -> Result<Vec<u8>, ResolveError> {
        self.fetches += 1;
        self.answer.clone()
    }
}

/// A replayed or mis-addressed PASSporT is refused before anything is fetched: `info` comes from the
/// network, and every fetch is work an attacker could otherwise ask for at will.
#[test]
fn i_1_stale_or_misaddressed_passport_fetches_nothing() {
    let pki = Pki::new();
    let call = Call::alice_to_bob();
    let h = pki.alice().sign(&call.facts(), NOW).unwrap().to_string();
    let mut r = CountingResolver {
        fetches: 0,
        answer: Ok(pki.alice_cert.to_pem().unwrap()),
    };
    let v = pki
        .verifier()
        .verify_request(&[&h], &call.facts(), NOW + 3600, &mut r);
    assert!(matches!(failed(&v), IdentityError::Stale { .. }));
    let mitm = Call {
        fps: fps(0x66),
        ..Call::alice_to_bob()
    };
    let v = pki
        .verifier()
        .verify_request(&[&h], &mitm.facts(), NOW, &mut r);
    assert_eq!(failed(&v), IdentityError::MkyMismatch);
    assert_eq!(r.fetches, 0);
    let v = pki
        .verifier()
        .verify_request(&[&h], &call.facts(), NOW, &mut r);
    assert!(v.verified().is_some());
    assert_eq!(r.fetches, 1);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Garbage Identity values and garbage certificates never panic the verifier, and never verify.
    #[test]
    fn i_1_verifier_never_panics_on_garbage(
        header in "\\PC{0,160}",
        payload in proptest::collection::vec(proptest::num::u8::ANY, 0..120),
        cert in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
    ) {
        use dtlsrtp_sip::identity::b64;
        let from = uri("sip:alice@example.com");
        let to = uri("sip:bob@example.com");
        let f = fps(1);
        let facts = RequestFacts { from: &from, to: &to, date: Some(NOW), fingerprints: &f };
        let mut r = CountingResolver { fetches: 0, answer: Ok(cert) };
        let v = Verifier::new(TrustAnchors::new()).verify_request(&[&header], &facts, NOW, &mut r);
        proptest::prop_assert!(v.verified().is_none());
        // a well-formed header around an arbitrary payload
        let crafted = format!(
            "eyJhbGciOiJFUzI1NiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiZmlsZTovLy94In0.{}.{};info=<file:///x>;alg=ES256",
            b64::encode(&payload),
            b64::encode(&[7u8; 64]),
        );
        let v = Verifier::new(TrustAnchors::new()).verify_request(&[&crafted], &facts, NOW, &mut r);
        proptest::prop_assert!(v.verified().is_none());
    }
}
