//! Identity certificate fetches off the event loop (issue 12 item 7; RFC 8224 §6.2).
//!
//! The verification service needs the certificate at each Identity header's `info`. The endpoint never does
//! that I/O: a request whose verification needs a certificate that is not in the [`CertCache`] is *parked*
//! (an INVITE has its 100 Trying from the transaction layer) and the endpoint emits one
//! [`Event::FetchCertificate`] per missing URL (at most two: only two Identity headers are examined). The
//! driver fetches off its loop and calls [`Endpoint::certificate_fetched`]; once every URL a parked request
//! waits for is answered, or its deadline passes, verification runs again from the cache, a missing
//! certificate counting as unreachable (436 under Required, unverified under BestEffort).
//!
//! Bounds: [`MAX_PARKED`] requests in total and [`MAX_PARKED_PER_SOURCE`] per source address (beyond them a
//! request is verified at once with nothing fetched); [`CACHE_ENTRIES`] cached results, a certificate kept
//! [`CACHE_OK_SECS`], a failure [`CACHE_ERR_SECS`]. Every failure (not allowed, not found, unreadable, too
//! large) is the same [`ResolveError`] to the verifier's status code: 436.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use dtlsrtp_sip::identity::{CertResolver, ResolveError};

use super::Endpoint;
use crate::{CallId, Event, FetchId, InfoAllow};

/// Most requests waiting for certificates at once.
pub(super) const MAX_PARKED: usize = 32;
/// Most requests waiting for certificates per source address.
pub(super) const MAX_PARKED_PER_SOURCE: usize = 4;
/// How long a parked request waits for its certificates, in total (one deadline, not one per fetch).
pub(super) const FETCH_DEADLINE: Duration = Duration::from_secs(4);
/// Most cached fetch results.
pub(super) const CACHE_ENTRIES: usize = 64;
/// How long a fetched certificate is reused.
pub(super) const CACHE_OK_SECS: u64 = 600;
/// How long a failed fetch is remembered (no refetch storm for a dead URL).
pub(super) const CACHE_ERR_SECS: u64 = 30;

/// Fetched certificates by URL, bounded, with expiry.
#[derive(Default)]
pub(super) struct CertCache {
    entries: HashMap<String, (Result<Vec<u8>, ResolveError>, Instant)>,
}

impl CertCache {
    pub(super) fn get(&self, url: &str, now: Instant) -> Option<&Result<Vec<u8>, ResolveError>> {
        self.entries
            .get(url)
            .filter(|(_, exp)| *exp > now)
            .map(|(r, _)| r)
    }

    pub(super) fn insert(&mut self, now: Instant, url: String, r: Result<Vec<u8>, ResolveError>) {
        let ttl = if r.is_ok() {
            CACHE_OK_SECS
        } else {
            CACHE_ERR_SECS
        };
        self.entries.retain(|_, (_, exp)| *exp > now);
        if self.entries.len() >= CACHE_ENTRIES && !self.entries.contains_key(&url) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, exp))| *exp)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
        self.entries
            .insert(url, (r, now + Duration::from_secs(ttl)));
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// What a parked request resumes as.
pub(super) enum ParkKind {
    /// An incoming INVITE (no call state exists yet).
    Incoming {
        from: String,
        offer: Option<Vec<u8>>,
    },
    /// A re-INVITE or UPDATE of an existing call.
    Modify { body: Option<Vec<u8>> },
}

pub(super) struct Parked {
    pub(super) call: CallId,
    pub(super) kind: ParkKind,
    source: Option<IpAddr>,
    deadline: Instant,
    waiting: Vec<String>,
}

/// The parked requests and the fetches in flight.
#[derive(Default)]
pub(super) struct Fetches {
    parked: Vec<Parked>,
    in_flight: HashMap<FetchId, (String, Instant)>,
    next: u64,
}

impl Fetches {
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.parked.iter().map(|p| p.deadline).min()
    }

    pub(super) fn parked_count(&self) -> usize {
        self.parked.len()
    }

    /// Forgets a call's parked request (the call ended while waiting).
    pub(super) fn drop_call(&mut self, call: CallId) {
        self.parked.retain(|p| p.call != call);
    }

    pub(super) fn is_parked(&self, call: CallId) -> bool {
        self.parked.iter().any(|p| p.call == call)
    }
}

/// The verifier's view of the cache: a hit answers, a miss is recorded (and fails this round).
pub(super) struct CacheLookup<'a> {
    pub(super) cache: &'a CertCache,
    pub(super) allow: &'a InfoAllow,
    pub(super) now: Instant,
    /// Record misses (false: a miss is simply unreachable: the deadline passed or nothing may be fetched).
    pub(super) fetch: bool,
    pub(super) missing: Vec<String>,
}

impl CertResolver for CacheLookup<'_> {
    fn fetch(&mut self, url: &str) -> Result<Vec<u8>, ResolveError> {
        if !self.allow.allows(url) {
            // the same answer as a URL that does not resolve (436): nothing about the verifier's files leaks
            return Err(ResolveError::Unreachable);
        }
        match self.cache.get(url, self.now) {
            Some(Ok(b)) => Ok(b.clone()),
            Some(Err(_)) => Err(ResolveError::Unreachable),
            None => {
                if self.fetch && !self.missing.iter().any(|m| m == url) {
                    self.missing.push(url.to_owned());
                }
                Err(ResolveError::Unreachable)
            }
        }
    }
}

impl Endpoint {
    /// Parks `call`'s request until `urls` are fetched (or the deadline). False when a bound is reached: the
    /// caller then verifies at once without fetching.
    pub(super) fn park(
        &mut self,
        now: Instant,
        call: CallId,
        kind: ParkKind,
        urls: Vec<String>,
    ) -> bool {
        let source = self.sip_source;
        let f = &mut self.fetches;
        let from_source = f
            .parked
            .iter()
            .filter(|p| source.is_some() && p.source == source)
            .count();
        if f.parked.len() >= MAX_PARKED || from_source >= MAX_PARKED_PER_SOURCE || f.is_parked(call)
        {
            return false;
        }
        let deadline = now + FETCH_DEADLINE;
        for url in &urls {
            if f.in_flight.values().any(|(u, _)| u == url) {
                continue;
            }
            f.next += 1;
            let fetch = FetchId(f.next);
            f.in_flight.insert(fetch, (url.clone(), deadline));
            self.events.push_back(Event::FetchCertificate {
                fetch,
                url: url.clone(),
                deadline,
            });
        }
        f.parked.push(Parked {
            call,
            kind,
            source,
            deadline,
            waiting: urls,
        });
        true
    }

    /// The driver's answer to [`Event::FetchCertificate`]: cached, and every request it completes resumes.
    /// Unknown or expired ids are ignored (nothing from outside reaches here but the driver's own results).
    pub fn certificate_fetched(
        &mut self,
        now: Instant,
        fetch: FetchId,
        result: Result<Vec<u8>, ResolveError>,
    ) {
        let Some((url, _)) = self.fetches.in_flight.remove(&fetch) else {
            return;
        };
        let result = result.and_then(|b| {
            if b.len() > 64 * 1024 {
                Err(ResolveError::TooLarge)
            } else {
                Ok(b)
            }
        });
        self.certs.insert(now, url.clone(), result);
        let mut ready = Vec::new();
        let mut i = 0;
        while i < self.fetches.parked.len() {
            let p = &mut self.fetches.parked[i];
            p.waiting.retain(|u| *u != url);
            if p.waiting.is_empty() {
                ready.push(self.fetches.parked.remove(i));
            } else {
                i += 1;
            }
        }
        for p in ready {
            self.resume(now, p);
        }
        self.pump(now);
    }

    /// Parked requests past their deadline resume (their missing certificates count as unreachable).
    pub(super) fn expire_fetches(&mut self, now: Instant) {
        self.fetches.in_flight.retain(|_, (_, d)| *d > now);
        let (due, keep): (Vec<Parked>, Vec<Parked>) = std::mem::take(&mut self.fetches.parked)
            .into_iter()
            .partition(|p| p.deadline <= now);
        self.fetches.parked = keep;
        for p in due {
            self.resume(now, p);
        }
    }

    fn resume(&mut self, now: Instant, p: Parked) {
        self.no_fetch = true;
        match p.kind {
            ParkKind::Incoming { from, offer } => self.on_incoming(now, p.call, from, offer),
            ParkKind::Modify { body } => self.on_modify_request(now, p.call, body),
        }
        self.no_fetch = false;
    }

    /// Number of cached certificate fetch results (for tests and statistics).
    pub fn cached_certificates(&self) -> usize {
        self.certs.len()
    }

    /// Number of requests waiting for a certificate fetch.
    pub fn parked_requests(&self) -> usize {
        self.fetches.parked_count()
    }
}

/// The request was parked: it resumes when its certificates are fetched or its deadline passes.
pub(super) struct ParkedNow;

impl Endpoint {
    /// Verifies `call`'s pending peer request, or parks it (`Err`) when a certificate must be fetched first.
    /// `Ok(None)`: no identity configuration. When no more requests may be parked the verdict comes at once,
    /// missing certificates counting as unreachable.
    pub(super) fn verify_or_park(
        &mut self,
        now: Instant,
        call: CallId,
        kind: impl FnOnce() -> ParkKind,
    ) -> Result<Option<(dtlsrtp_sip::identity::Verdict, bool, bool)>, ParkedNow> {
        use super::identity::Check;
        match self.verify_peer_request(now, call) {
            None => Ok(None),
            Some(Check::Done(v, from_change, present)) => Ok(Some((v, from_change, present))),
            Some(Check::Fetch(urls)) => {
                if self.park(now, call, kind(), urls) {
                    return Err(ParkedNow);
                }
                let was = std::mem::replace(&mut self.no_fetch, true);
                let r = self.verify_peer_request(now, call);
                self.no_fetch = was;
                match r {
                    Some(Check::Done(v, from_change, present)) => {
                        Ok(Some((v, from_change, present)))
                    }
                    _ => Ok(None),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// the cache holds at most CACHE_ENTRIES results; a certificate expires after CACHE_OK_SECS, a
    /// failure after CACHE_ERR_SECS.
    #[test]
    fn r_2_certificate_cache_bounded_with_expiry() {
        #[allow(clippy::disallowed_methods)] // a test's starting point; the cache is given times
        let t0 = Instant::now();
        let mut c = CertCache::default();
        for i in 0..(CACHE_ENTRIES + 10) {
            c.insert(t0, format!("http://h/{i}"), Ok(vec![1]));
        }
        assert_eq!(c.len(), CACHE_ENTRIES);
        c.insert(t0, "http://h/bad".into(), Err(ResolveError::Unreachable));
        let later = t0 + Duration::from_secs(CACHE_ERR_SECS + 1);
        assert!(c.get("http://h/bad", later).is_none());
        assert!(c.get("http://h/bad", t0).is_some());
        let much_later = t0 + Duration::from_secs(CACHE_OK_SECS + 1);
        assert!(c
            .get(&format!("http://h/{}", CACHE_ENTRIES + 9), much_later)
            .is_none());
    }

    #[test]
    fn r_2_info_allow_list() {
        let all = InfoAllow::default();
        assert!(all.allows("https://cert.example.org/a.pem"));
        assert!(all.allows("file:///etc/dtlsrtp/a.pem"));
        assert!(!all.allows("ftp://x/a.pem"));
        assert!(!all.allows("no-scheme"));
        let one = InfoAllow {
            hosts: vec!["127.0.0.1".into(), "::1".into()],
            ..InfoAllow::default()
        };
        assert!(one.allows("http://127.0.0.1:8080/a.pem"));
        assert!(one.allows("HTTP://[::1]:8080/a.pem"));
        assert!(!one.allows("http://127.0.0.2/a.pem"));
        assert!(!one.allows("http://127.0.0.1@evil.example/a.pem"));
        assert!(!one.allows("http://evil.example#@127.0.0.1/"));
    }
}
