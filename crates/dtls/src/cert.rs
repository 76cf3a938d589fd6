//! Self-signed certificates (RFC 5763 §5: no CA; trust comes from the SDP fingerprint) and their fingerprints
//! (RFC 8122).

use core::fmt;

use dtlsrtp_types::fingerprint::preferred_set;
use dtlsrtp_types::{Fingerprint, HashFunction};
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::{hash, MessageDigest};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use subtle::ConstantTimeEq;

use crate::error::CertificateError;

/// The key type of a generated certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256 (the default: small, fast, what browsers use).
    #[default]
    EcdsaP256,
    /// RSA 2048 with SHA-256 (what several SIP phones and baresip use).
    Rsa2048,
}

/// Common name of every anonymous certificate: it carries no user data (F-6.1e) and is the same for every
/// anonymous call, so it links nothing.
pub const ANONYMOUS_COMMON_NAME: &str = "anonymous";

/// A certificate with its private key: our DTLS identity.
///
/// Generation uses OpenSSL's CSPRNG and its clock (validity period); everything else is pure. `Debug` shows the
/// SHA-256 fingerprint only, never the key.
#[derive(Clone)]
pub struct Certificate {
    x509: X509,
    key: PKey<Private>,
    der: Vec<u8>,
}

impl Certificate {
    /// A self-signed ECDSA P-256 certificate whose subject is `CN=<common_name>`, valid from yesterday for
    /// `days` days. Keep and reuse it (F-8.4a, F-6.1c); save it with [`Certificate::to_pem`].
    pub fn generate(
        key_type: KeyType,
        common_name: &str,
        days: u32,
    ) -> Result<Self, CertificateError> {
        Self::build(key_type, common_name, days)
    }

    /// A fresh self-signed certificate for one anonymous call (F-6.1b): a new key, a random serial, subject and
    /// issuer `CN=anonymous`, no subjectAltName and no other extension (F-6.1e).
    pub fn anonymous(key_type: KeyType) -> Result<Self, CertificateError> {
        Self::build(key_type, ANONYMOUS_COMMON_NAME, 30)
    }

    fn build(key_type: KeyType, common_name: &str, days: u32) -> Result<Self, CertificateError> {
        let key = match key_type {
            KeyType::EcdsaP256 => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
                PKey::from_ec_key(EcKey::generate(&group)?)?
            }
            KeyType::Rsa2048 => PKey::from_rsa(Rsa::generate(2048)?)?,
        };
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
        let name = name.build();
        let mut b = X509Builder::new()?;
        b.set_version(2)?;
        let mut serial = BigNum::new()?;
        serial.rand(64, MsbOption::MAYBE_ZERO, false)?;
        let serial = serial.to_asn1_integer()?;
        b.set_serial_number(&serial)?;
        b.set_subject_name(&name)?;
        b.set_issuer_name(&name)?;
        b.set_pubkey(&key)?;
        // One day back so a peer with a slightly slow clock accepts it (OpenSSL reads the clock here).
        let now = Asn1Time::days_from_now(0)?;
        let since_epoch = Asn1Time::from_unix(0)?.diff(&now)?;
        let now_unix = i64::from(since_epoch.days) * 86_400 + i64::from(since_epoch.secs);
        let not_before = Asn1Time::from_unix(now_unix.saturating_sub(86_400))?;
        b.set_not_before(&not_before)?;
        let not_after = Asn1Time::days_from_now(days)?;
        b.set_not_after(&not_after)?;
        b.sign(&key, MessageDigest::sha256())?;
        let x509 = b.build();
        Self::from_parts(x509, key)
    }

    fn from_parts(x509: X509, key: PKey<Private>) -> Result<Self, CertificateError> {
        if !x509.public_key()?.public_eq(&key) {
            return Err(CertificateError::KeyMismatch);
        }
        let der = x509.to_der()?;
        Ok(Self { x509, key, der })
    }

    /// Loads a certificate and its private key from PEM (both in one buffer, any order, as written by
    /// [`Certificate::to_pem`]), checking that they belong together.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CertificateError> {
        let x509 = X509::from_pem(pem).map_err(|_| CertificateError::NoCertificate)?;
        let key = PKey::private_key_from_pem(pem).map_err(|_| CertificateError::NoPrivateKey)?;
        Self::from_parts(x509, key)
    }

    /// The certificate and its unencrypted PKCS#8 private key as one PEM buffer. It holds the secret key:
    /// store it with owner-only permissions.
    pub fn to_pem(&self) -> Result<Vec<u8>, CertificateError> {
        let mut out = self.x509.to_pem()?;
        out.extend_from_slice(&self.key.private_key_to_pem_pkcs8()?);
        Ok(out)
    }

    /// The certificate in DER, what fingerprints hash.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The fingerprint of this certificate in `hash` (P-5b). MD2/MD5 are refused (P-5c).
    pub fn fingerprint(&self, hash: HashFunction) -> Result<Fingerprint, CertificateError> {
        fingerprint_of_der(&self.der, hash)
    }

    pub(crate) fn x509(&self) -> &X509 {
        &self.x509
    }

    pub(crate) fn key(&self) -> &PKey<Private> {
        &self.key
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.fingerprint(HashFunction::Sha256) {
            Ok(fp) => write!(f, "Certificate({fp}, key redacted)"),
            Err(_) => f.write_str("Certificate(key redacted)"),
        }
    }
}

fn digest_for(hash: HashFunction) -> Option<MessageDigest> {
    match hash {
        HashFunction::Sha1 => Some(MessageDigest::sha1()),
        HashFunction::Sha224 => Some(MessageDigest::sha224()),
        HashFunction::Sha256 => Some(MessageDigest::sha256()),
        HashFunction::Sha384 => Some(MessageDigest::sha384()),
        HashFunction::Sha512 => Some(MessageDigest::sha512()),
        // P-5c: never used to compute or verify.
        _ => None,
    }
}

/// The fingerprint of a DER certificate in `hash` (P-5b, T-5.1c: sha-1/224/256/384/512). MD2/MD5 are refused
/// (P-5c).
pub fn fingerprint_of_der(
    der: &[u8],
    hash_fn: HashFunction,
) -> Result<Fingerprint, CertificateError> {
    let md = digest_for(hash_fn).ok_or(CertificateError::HashRefused(hash_fn))?;
    let digest = hash(md, der)?;
    Fingerprint::new(hash_fn, &digest).map_err(|_| CertificateError::HashRefused(hash_fn))
}

/// Why a peer certificate did not verify against the SDP fingerprints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No fingerprint in a usable hash function (none, or only md2/md5): no connection (P-5.1e, P-5c).
    #[error("no usable fingerprint in the SDP")]
    NoUsableFingerprint,
    /// The certificate matches none of the fingerprints in the preferred hash function (F-5.14, P-5.1d).
    #[error("peer certificate does not match the SDP fingerprint")]
    Mismatch,
    /// OpenSSL could not hash the certificate.
    #[error("could not hash the peer certificate")]
    HashFailed,
}

/// Verifies a peer's DER certificate against the fingerprints of its SDP (F-5.14, P-5.1d): take every
/// fingerprint in our most preferred hash function among those offered; the certificate must match one of them.
/// Digests are compared in constant time, and every candidate is compared.
pub fn verify_fingerprint(der: &[u8], offered: &[Fingerprint]) -> Result<(), VerifyError> {
    let set = preferred_set(offered);
    let Some(first) = set.first() else {
        return Err(VerifyError::NoUsableFingerprint);
    };
    let ours = fingerprint_of_der(der, first.hash()).map_err(|_| VerifyError::HashFailed)?;
    let mut matched = subtle::Choice::from(0u8);
    for fp in set {
        matched |= ours.digest().ct_eq(fp.digest());
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f_8_4a_pem_round_trip_keeps_fingerprint() {
        for kt in [KeyType::EcdsaP256, KeyType::Rsa2048] {
            let c = Certificate::generate(kt, "alice", 365).unwrap();
            let pem = c.to_pem().unwrap();
            let back = Certificate::from_pem(&pem).unwrap();
            assert_eq!(back.der(), c.der());
            assert_eq!(
                back.fingerprint(HashFunction::Sha256).unwrap(),
                c.fingerprint(HashFunction::Sha256).unwrap()
            );
            let dbg = format!("{c:?}");
            assert!(dbg.contains("sha-256") && !dbg.contains("PRIVATE"), "{dbg}");
        }
    }

    #[test]
    fn pem_with_foreign_key_is_refused() {
        let a = Certificate::generate(KeyType::EcdsaP256, "a", 1).unwrap();
        let b = Certificate::generate(KeyType::EcdsaP256, "b", 1).unwrap();
        let mut pem = a.x509.to_pem().unwrap();
        pem.extend_from_slice(&b.key.private_key_to_pem_pkcs8().unwrap());
        assert_eq!(
            Certificate::from_pem(&pem).unwrap_err(),
            CertificateError::KeyMismatch
        );
        assert_eq!(
            Certificate::from_pem(b"junk").unwrap_err(),
            CertificateError::NoCertificate
        );
        assert_eq!(
            Certificate::from_pem(&a.x509.to_pem().unwrap()).unwrap_err(),
            CertificateError::NoPrivateKey
        );
    }

    #[test]
    fn f_6_1b_f_6_1e_anonymous_certificates_are_fresh_and_say_nothing() {
        let a = Certificate::anonymous(KeyType::EcdsaP256).unwrap();
        let b = Certificate::anonymous(KeyType::EcdsaP256).unwrap();
        assert_ne!(
            a.fingerprint(HashFunction::Sha256).unwrap(),
            b.fingerprint(HashFunction::Sha256).unwrap()
        );
        for c in [&a, &b] {
            let x = X509::from_der(c.der()).unwrap();
            assert!(x.subject_alt_names().is_none());
            let entries: Vec<_> = x.subject_name().entries().collect();
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0].object().nid(), Nid::COMMONNAME);
            assert_eq!(
                String::from_utf8(entries[0].data().as_slice().to_vec()).unwrap(),
                ANONYMOUS_COMMON_NAME
            );
            let issuer: Vec<_> = x.issuer_name().entries().collect();
            assert_eq!(issuer.len(), 1);
        }
    }

    #[test]
    fn t_5_1c_every_rfc8122_hash_computes_and_p_5c_md5_refused() {
        let c = Certificate::generate(KeyType::EcdsaP256, "x", 1).unwrap();
        for h in HashFunction::PREFERENCE {
            let fp = c.fingerprint(h).unwrap();
            assert_eq!(fp.digest().len(), h.digest_len());
            // Round trip through the SDP text form, then verify.
            let parsed: Fingerprint = fp.to_string().parse().unwrap();
            assert_eq!(verify_fingerprint(c.der(), &[parsed]), Ok(()));
        }
        // Known answer: OpenSSL's own X509 digest.
        let sha256 = c.x509.digest(MessageDigest::sha256()).unwrap();
        assert_eq!(
            c.fingerprint(HashFunction::Sha256).unwrap().digest(),
            &sha256[..]
        );
        for h in [HashFunction::Md5, HashFunction::Md2] {
            assert_eq!(c.fingerprint(h), Err(CertificateError::HashRefused(h)));
        }
    }

    #[test]
    fn p_5_1d_preferred_hash_decides() {
        let c = Certificate::generate(KeyType::EcdsaP256, "x", 1).unwrap();
        let other = Certificate::generate(KeyType::EcdsaP256, "y", 1).unwrap();
        let good1 = c.fingerprint(HashFunction::Sha1).unwrap();
        let bad256 = other.fingerprint(HashFunction::Sha256).unwrap();
        let good256 = c.fingerprint(HashFunction::Sha256).unwrap();
        // sha-1 correct plus sha-256 wrong: rejected, sha-256 is preferred.
        assert_eq!(
            verify_fingerprint(c.der(), &[good1.clone(), bad256.clone()]),
            Err(VerifyError::Mismatch)
        );
        // Two certificates' sha-256 offered (P-5.1a): one matching is enough.
        assert_eq!(
            verify_fingerprint(c.der(), &[bad256, good256, good1]),
            Ok(())
        );
        let md5: Fingerprint = "md5 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"
            .parse()
            .unwrap();
        assert_eq!(
            verify_fingerprint(c.der(), &[md5]),
            Err(VerifyError::NoUsableFingerprint)
        );
        assert_eq!(
            verify_fingerprint(c.der(), &[]),
            Err(VerifyError::NoUsableFingerprint)
        );
    }
}
