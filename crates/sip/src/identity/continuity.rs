//! Continuity of authentication (F-8.4b, P-7b): the fingerprints last seen per peer identity, SSH style.
//!
//! [`PeerKeyCache::observe`] answers [`Continuity::NewPeer`] (and remembers the keys),
//! [`Continuity::KnownPeer`] (every offered fingerprint is a cached one), or
//! [`Continuity::KeyChanged`] (the peer is known under other keys: the `peer_key_changed` alert). A changed
//! key is not remembered until the user accepts it with [`PeerKeyCache::accept`].
//!
//! File format (UTF-8 text, one fingerprint per line, `#` comments and blank lines ignored):
//! ```text
//! # dtlsrtp peer keys v1
//! sip:alice@example.com sha-256 AB:CD:...
//! ```
//! The identity is the normalised orig ([`super::normalise_identity`]), with no whitespace in it.
//!
//! No file I/O here (issue 13 design item 3): [`PeerKeyCache::from_text`] and [`PeerKeyCache::to_text`] are
//! the file's contents; the driver (`dtlsrtp_tokio::endpoint::identity_io`) reads it refusing symbolic links
//! and writes it owner-only and atomically, off its event loop.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use super::passport::{mky_for, MediaKey};

/// What the cache says about a peer's fingerprints.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Continuity {
    /// Every fingerprint offered is one seen before for this identity.
    KnownPeer,
    /// First contact with this identity (now remembered).
    NewPeer,
    /// The identity is known under other keys (P-7b: warn strongly).
    KeyChanged {
        /// The cached fingerprints.
        old: Vec<MediaKey>,
        /// The fingerprints now offered.
        new: Vec<MediaKey>,
    },
    /// No fingerprint was offered: nothing to compare.
    NoFingerprint,
}

/// Why a cache file could not be read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheFileError {
    /// The file system said no.
    #[error("peer key cache I/O: {0:?}")]
    Io(io::ErrorKind),
    /// A line is not `identity alg DIG` (1-based line number).
    #[error("peer key cache: bad line {0}")]
    Line(usize),
    /// An identity with whitespace cannot be stored.
    #[error("peer identity with whitespace")]
    Identity,
}

/// Peer fingerprints per identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerKeyCache {
    peers: BTreeMap<String, BTreeSet<MediaKey>>,
}

fn valid_dig(d: &str) -> bool {
    !d.is_empty()
        && d.split(':')
            .all(|h| h.len() == 2 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl PeerKeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of identities.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Compares without changing the cache.
    pub fn check(&self, identity: &str, fingerprints: &[(String, Vec<u8>)]) -> Continuity {
        let new = mky_for(fingerprints);
        if new.is_empty() {
            return Continuity::NoFingerprint;
        }
        match self.peers.get(identity) {
            None => Continuity::NewPeer,
            // Every offered key must be a remembered one: a known key plus a new one (say a new hash's
            // fingerprint next to the old) is a change, not a match (issue 12 item 3): the new key is what an
            // attacker who kept the old line would add.
            Some(old) if new.iter().all(|k| old.contains(k)) => Continuity::KnownPeer,
            Some(old) => Continuity::KeyChanged {
                old: old.iter().cloned().collect(),
                new,
            },
        }
    }

    /// Compares, and remembers the keys of a new peer. A changed key is reported, not stored.
    pub fn observe(
        &mut self,
        identity: &str,
        fingerprints: &[(String, Vec<u8>)],
    ) -> Result<Continuity, CacheFileError> {
        let c = self.check(identity, fingerprints);
        if c == Continuity::NewPeer {
            self.accept(identity, fingerprints)?;
        }
        Ok(c)
    }

    /// Replaces the keys remembered for `identity` (the user accepted a changed key).
    pub fn accept(
        &mut self,
        identity: &str,
        fingerprints: &[(String, Vec<u8>)],
    ) -> Result<(), CacheFileError> {
        if identity.is_empty() || identity.chars().any(char::is_whitespace) {
            return Err(CacheFileError::Identity);
        }
        let keys: BTreeSet<MediaKey> = mky_for(fingerprints).into_iter().collect();
        if keys.is_empty() {
            self.peers.remove(identity);
        } else {
            self.peers.insert(identity.to_owned(), keys);
        }
        Ok(())
    }

    /// Forgets an identity.
    pub fn forget(&mut self, identity: &str) {
        self.peers.remove(identity);
    }

    /// The file text (module docs).
    pub fn to_text(&self) -> String {
        let mut s = String::from("# dtlsrtp peer keys v1\n");
        for (id, keys) in &self.peers {
            for k in keys {
                s.push_str(&format!("{id} {} {}\n", k.alg, k.dig));
            }
        }
        s
    }

    /// Parses the file text; any malformed line is an error (nothing half-loaded).
    pub fn from_text(text: &str) -> Result<Self, CacheFileError> {
        let mut c = Self::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut f = line.split_whitespace();
            let (Some(id), Some(alg), Some(dig), None) = (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(CacheFileError::Line(i + 1));
            };
            let alg_ok = alg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !alg_ok || !valid_dig(dig) {
                return Err(CacheFileError::Line(i + 1));
            }
            c.peers.entry(id.to_owned()).or_default().insert(MediaKey {
                alg: alg.to_ascii_lowercase(),
                dig: dig.to_ascii_uppercase(),
            });
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(b: u8) -> Vec<(String, Vec<u8>)> {
        vec![("sha-256".into(), vec![b; 32])]
    }

    #[test]
    fn f_8_4b_known_new_changed() {
        let mut c = PeerKeyCache::new();
        let alice = "sip:alice@example.com";
        assert_eq!(c.observe(alice, &fp(1)).unwrap(), Continuity::NewPeer);
        assert_eq!(c.observe(alice, &fp(1)).unwrap(), Continuity::KnownPeer);
        // a subset of the cached keys still matches
        let mut two = PeerKeyCache::new();
        let mut both = fp(1);
        both.push(("sha-384".into(), vec![9; 48]));
        two.accept(alice, &both).unwrap();
        assert_eq!(two.check(alice, &fp(1)), Continuity::KnownPeer);
        match c.observe(alice, &fp(2)).unwrap() {
            Continuity::KeyChanged { old, new } => {
                assert_eq!(old, mky_for(&fp(1)));
                assert_eq!(new, mky_for(&fp(2)));
            }
            other => panic!("expected KeyChanged, got {other:?}"),
        }
        // not remembered until accepted
        assert!(matches!(
            c.check(alice, &fp(2)),
            Continuity::KeyChanged { .. }
        ));
        c.accept(alice, &fp(2)).unwrap();
        assert_eq!(c.check(alice, &fp(2)), Continuity::KnownPeer);
        assert!(matches!(
            c.check(alice, &fp(1)),
            Continuity::KeyChanged { .. }
        ));
        assert_eq!(c.check(alice, &[]), Continuity::NoFingerprint);
        assert_eq!(c.accept("a b", &fp(1)), Err(CacheFileError::Identity));
    }

    /// Issue 12 item 3: a known peer that keeps its old fingerprint and adds one of another hash (what an
    /// attacker who leaves the old line in place would do) is a key change, not a match; nothing is stored.
    #[test]
    fn f_8_4b_known_peer_adding_new_hash_fingerprint_is_a_change() {
        let mut c = PeerKeyCache::new();
        let alice = "sip:alice@example.com";
        assert_eq!(c.observe(alice, &fp(1)).unwrap(), Continuity::NewPeer);
        let mut both = fp(1);
        both.push(("sha-384".into(), vec![9; 48]));
        match c.observe(alice, &both).unwrap() {
            Continuity::KeyChanged { old, new } => {
                assert_eq!(old, mky_for(&fp(1)));
                assert_eq!(new, mky_for(&both));
            }
            other => panic!("expected KeyChanged, got {other:?}"),
        }
        assert_eq!(c.check(alice, &fp(1)), Continuity::KnownPeer);
        assert!(matches!(
            c.check(alice, &both),
            Continuity::KeyChanged { .. }
        ));
    }

    #[test]
    fn p_7b_file_round_trip_and_garbage() {
        let mut c = PeerKeyCache::new();
        c.accept("sip:alice@example.com", &fp(1)).unwrap();
        c.accept("12155551212", &fp(0xab)).unwrap();
        assert_eq!(PeerKeyCache::from_text("").unwrap(), PeerKeyCache::new());
        let back = PeerKeyCache::from_text(&c.to_text()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.check("12155551212", &fp(0xab)), Continuity::KnownPeer);
        assert_eq!(
            PeerKeyCache::from_text("x sha-256\n"),
            Err(CacheFileError::Line(1))
        );
        assert_eq!(
            PeerKeyCache::from_text("# c\n\nx sha-256 ZZ\n"),
            Err(CacheFileError::Line(3))
        );
        assert_eq!(
            PeerKeyCache::from_text("x sha-256 AB:C\n"),
            Err(CacheFileError::Line(1))
        );
    }
}
