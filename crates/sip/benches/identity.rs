//! SIP Identity costs: signing a PASSporT (ES256), verifying one (certificate chain + ES256 + claims),
//! parsing an Identity header, computing a SAS.
//!
//! `cargo bench -p dtlsrtp-sip --bench identity` prints figures. Without `--bench` in argv (as
//! `cargo test --all-targets` runs it) it does a tiny smoke pass: a few iterations with correctness asserts.
#![allow(clippy::unwrap_used, clippy::panic)] // a bench binary: failing loudly is the point

use std::hint::black_box;
use std::time::{Duration, Instant};

use dtlsrtp_sip::identity::{
    AuthService, CertResolver, IdentityHeader, RequestFacts, ResolveError, Sas, TrustAnchors,
    Verifier,
};
use dtlsrtp_sip::Uri;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

const NOW: u64 = 1_800_000_000;

fn key() -> PKey<Private> {
    let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&g).unwrap()).unwrap()
}

fn cert(cn: &str, key: &PKey<Private>, issuer: Option<(&X509, &PKey<Private>)>) -> X509 {
    let mut n = X509NameBuilder::new().unwrap();
    n.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let n = n.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&n).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(NOW as i64 - 86_400).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::from_unix(NOW as i64 + 86_400).unwrap())
        .unwrap();
    match issuer {
        None => {
            b.set_issuer_name(&n).unwrap();
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
            b.sign(key, MessageDigest::sha256()).unwrap();
        }
        Some((ca, ca_key)) => {
            b.set_issuer_name(ca.subject_name()).unwrap();
            let san = SubjectAlternativeName::new()
                .dns("example.com")
                .build(&b.x509v3_context(Some(ca), None))
                .unwrap();
            b.append_extension(san).unwrap();
            b.sign(ca_key, MessageDigest::sha256()).unwrap();
        }
    }
    b.build()
}

/// Serves one certificate from memory (the verifier's fetch without I/O).
struct Memory(Vec<u8>);

impl CertResolver for Memory {
    fn fetch(&mut self, _url: &str) -> Result<Vec<u8>, ResolveError> {
        Ok(self.0.clone())
    }
}

#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
fn time<F: FnMut()>(iters: u32, mut f: F) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

fn report(name: &str, iters: u32, d: Duration) {
    let ns = d.as_nanos() as f64 / f64::from(iters);
    println!("{name:<40} {:>9.1} us/op  {:>9.0} op/s", ns / 1e3, 1e9 / ns);
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (iters, fast_iters) = if full { (2_000, 200_000) } else { (3, 3) };

    let ca_key = key();
    let ca = cert("bench CA", &ca_key, None);
    let leaf_key = key();
    let leaf = cert("alice", &leaf_key, Some((&ca, &ca_key)));
    let svc = AuthService::new(
        &leaf_key.private_key_to_pem_pkcs8().unwrap(),
        &leaf.to_pem().unwrap(),
        "http://127.0.0.1:8080/alice.pem",
    )
    .unwrap();
    let mut anchors = TrustAnchors::new();
    anchors.add(&ca.to_pem().unwrap()).unwrap();
    let verifier = Verifier::new(anchors);
    let from = Uri::parse("sip:alice@example.com").unwrap();
    let to = Uri::parse("sip:bob@example.com").unwrap();
    let fps = vec![("sha-256".to_string(), vec![0xa5; 32])];
    let facts = RequestFacts {
        from: &from,
        to: &to,
        date: Some(NOW),
        fingerprints: &fps,
    };
    let header = svc.sign(&facts, NOW).unwrap().to_string();
    let mut mem = Memory(leaf.to_pem().unwrap());
    assert!(verifier
        .verify_request(&[&header], &facts, NOW, &mut mem)
        .verified()
        .is_some());

    let d = time(iters, || {
        black_box(svc.sign(black_box(&facts), NOW).unwrap());
    });
    report("sign PASSporT (ES256, with mky)", iters, d);
    let d = time(iters, || {
        let v = verifier.verify_request(&[black_box(&header)], &facts, NOW, &mut mem);
        assert!(v.verified().is_some());
    });
    report("verify (chain + ES256 + claims + mky)", iters, d);
    let d = time(fast_iters, || {
        black_box(IdentityHeader::parse(black_box(&header)).unwrap());
    });
    report("parse Identity header", fast_iters, d);
    let d = time(fast_iters, || {
        black_box(Sas::new(
            ("sha-256", black_box(&[1u8; 32])),
            ("sha-256", &[2u8; 32]),
        ));
    });
    report("SAS", fast_iters, d);
}
