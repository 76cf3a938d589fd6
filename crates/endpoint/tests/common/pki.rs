//! A test PKI for SIP Identity (issue 8, issue 12): a CA, signing identities under it, the resolver that
//! serves their certificates, and helpers to read the security events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dtlsrtp::{CallSecurityState, Config, Event, IdentityConfig, IdentityPolicy};
use dtlsrtp_sip::identity::{
    AuthService, Authority, CertResolver, ResolveError, TrustAnchors, Verifier,
};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::BasicConstraints;
use openssl::x509::{X509Builder, X509NameBuilder, X509};

use super::Net;

/// The wall clock at the test network's start (2027-01-15).
pub const NOW: u64 = 1_800_000_000;

pub fn ec_key() -> PKey<Private> {
    let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&g).unwrap()).unwrap()
}

pub fn cert(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    serial: u32,
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
    b.set_not_after(&Asn1Time::from_unix((NOW + 365 * 86_400) as i64).unwrap())
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
            b.sign(ca_key, MessageDigest::sha256()).unwrap();
        }
    }
    b.build()
}

/// The certificates at `info`, served from memory (the resolver the driver would provide: file:// or
/// http:// on loopback).
#[derive(Default)]
pub struct MapResolver(pub HashMap<String, Vec<u8>>, pub Vec<String>);

impl CertResolver for MapResolver {
    fn fetch(&mut self, url: &str) -> Result<Vec<u8>, ResolveError> {
        // every fetch is logged (issue 12 item 7: how many, and which)
        self.1.push(url.to_owned());
        self.0.get(url).cloned().ok_or(ResolveError::Unreachable)
    }
}

/// A CA and signing identities under it.
pub struct Pki {
    pub ca: X509,
    pub ca_key: PKey<Private>,
    pub resolver: Arc<Mutex<MapResolver>>,
    pub serial: u32,
}

impl Pki {
    pub fn new() -> Self {
        let ca_key = ec_key();
        let ca = cert("dtlsrtp test CA", &ca_key, None, 1);
        Self {
            ca,
            ca_key,
            resolver: Arc::new(Mutex::new(MapResolver::default())),
            serial: 1,
        }
    }

    /// An authentication service for `user`, its certificate published at http://127.0.0.1/<user>.pem.
    pub fn signer(&mut self, user: &str) -> Arc<AuthService> {
        self.serial += 1;
        let key = ec_key();
        let c = cert(user, &key, Some((&self.ca, &self.ca_key)), self.serial);
        let url = format!("http://127.0.0.1/{user}.pem");
        let pem = c.to_pem().unwrap();
        self.resolver
            .lock()
            .unwrap()
            .0
            .insert(url.clone(), pem.clone());
        Arc::new(AuthService::new(&key.private_key_to_pem_pkcs8().unwrap(), &pem, &url).unwrap())
    }

    /// A signer for `user` whose `info` is `url` (nothing published): its certificate PEM too.
    pub fn signer_at(&mut self, user: &str, url: &str) -> (Arc<AuthService>, Vec<u8>) {
        self.serial += 1;
        let key = ec_key();
        let c = cert(user, &key, Some((&self.ca, &self.ca_key)), self.serial);
        let pem = c.to_pem().unwrap();
        let s = AuthService::new(&key.private_key_to_pem_pkcs8().unwrap(), &pem, url).unwrap();
        (Arc::new(s), pem)
    }

    /// The URLs fetched so far.
    pub fn fetched(&self) -> Vec<String> {
        self.resolver.lock().unwrap().1.clone()
    }

    pub fn verifier(&self) -> Verifier {
        let mut a = TrustAnchors::new();
        a.add(&self.ca.to_pem().unwrap()).unwrap();
        Verifier::new(a).with_authority(Authority::AnyTrusted)
    }

    /// An identity configuration on the network's clock: signs as `user` when given, verifies under the CA.
    pub fn identity(
        &mut self,
        net: &Net,
        user: Option<&str>,
        policy: IdentityPolicy,
    ) -> IdentityConfig {
        let mut i = IdentityConfig::new((net.now, NOW));
        i.signer = user.map(|u| self.signer(u));
        i.verifier = Some(self.verifier());
        let r: dtlsrtp::SharedResolver = self.resolver.clone();
        i.resolver = Some(r);
        i.policy = policy;
        i
    }
}

pub fn with_identity(mut c: Config, i: IdentityConfig) -> Config {
    c.identity = Some(i);
    c
}

pub fn security(events: &[Event]) -> Vec<CallSecurityState> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Security { state, .. } => Some(state.clone()),
            _ => None,
        })
        .collect()
}

pub fn sas(events: &[Event]) -> Option<String> {
    events.iter().rev().find_map(|e| match e {
        Event::Security { sas, .. } => sas.clone(),
        _ => None,
    })
}

pub fn verified_as(state: &CallSecurityState, who: &str) -> bool {
    matches!(state, CallSecurityState::EncryptedToVerifiedIdentity { uri } if uri.contains(who))
}

pub fn is_dtls(b: &[u8]) -> bool {
    b.first().is_some_and(|x| (20..=63).contains(x))
}

/// Flips one hex digit of the first `a=fingerprint:sha-256` in a SIP message carrying SDP.
pub fn rewrite_fingerprint(t: &mut dtlsrtp::Transmit) {
    let s = String::from_utf8_lossy(&t.bytes).into_owned();
    if let Some(i) = s.find("a=fingerprint:sha-256 ") {
        let at = i + "a=fingerprint:sha-256 ".len();
        let c = if &s[at..at + 1] == "0" { "1" } else { "0" };
        t.bytes = format!("{}{}{}", &s[..at], c, &s[at + 1..]).into_bytes();
    }
}

/// The header value between `<` and `>` of the first `name:` line.
pub fn angle_uri(msg: &str, name: &str) -> dtlsrtp_sip::Uri {
    let line = msg
        .split("\r\n")
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {msg}"));
    let inner = line.split('<').nth(1).unwrap().split('>').next().unwrap();
    dtlsrtp_sip::Uri::parse(inner).unwrap()
}

/// Every `a=fingerprint` of a SIP message's SDP as (hash name, digest).
pub fn fingerprints_of(msg: &str) -> Vec<(String, Vec<u8>)> {
    msg.split("\r\n")
        .filter_map(|l| l.strip_prefix("a=fingerprint:"))
        .filter_map(|v| v.parse::<dtlsrtp_sdp::Fingerprint>().ok())
        .map(|f| (f.hash().name().to_owned(), f.digest().to_vec()))
        .collect()
}

/// Replaces a request's Identity header fields with one signed by `signer` over its From, To and SDP
/// fingerprints at `iat` (compact form when asked: then `Date` must say `iat`).
pub fn resign(msg: &str, signer: &AuthService, iat: u64, compact: bool) -> String {
    let from = angle_uri(msg, "From:");
    let to = angle_uri(msg, "To:");
    let fps = fingerprints_of(msg);
    let facts = dtlsrtp_sip::identity::RequestFacts {
        from: &from,
        to: &to,
        date: None,
        fingerprints: &fps,
    };
    let h = if compact {
        signer.sign_compact(&facts, iat).unwrap()
    } else {
        signer.sign(&facts, iat).unwrap()
    };
    let kept: Vec<&str> = msg
        .split("\r\n")
        .filter(|l| !l.starts_with("Identity:"))
        .collect();
    kept.join("\r\n")
        .replacen("\r\n", &format!("\r\nIdentity: {h}\r\n"), 1)
}

/// Sets Content-Length to the body's length (after a test rewrote the body).
pub fn fix_content_length(msg: &str) -> String {
    let Some((head, body)) = msg.split_once("\r\n\r\n") else {
        return msg.to_owned();
    };
    let head: Vec<String> = head
        .split("\r\n")
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}", body.len())
            } else {
                l.to_owned()
            }
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n"))
}
