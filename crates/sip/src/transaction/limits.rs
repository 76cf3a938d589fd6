//! Bounds of the server side of the transaction table: what a remote party can make the table hold.
//!
//! Two kinds of state grow with requests from the network:
//! - live server transactions (waiting for the TU, or in Completed/Accepted absorbing retransmissions for 64*T1).
//!   Requests outside any known dialog are capped per source IP and in total; requests in a known dialog (and
//!   CANCELs of a live INVITE) have a reserve of their own, so a flood of new requests never refuses them;
//! - requests answered statelessly (RFC 3261 §8.2.7, §17.2: OPTIONS, and every request refused with a final
//!   response before any call state exists). They keep no transaction: their response is remembered for a short
//!   while ([`ServerLimits::answered_retention`], T4 by default instead of Timer J's 32 s) only to replay it to
//!   a retransmission. Forgetting one early is harmless — a retransmission is then answered afresh — so this
//!   cache evicts its oldest entry when full and never refuses anything.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::key::ServerKey;
use crate::message::Response;

/// The server-side bounds of a [`TransactionLayer`](super::TransactionLayer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerLimits {
    /// Live server transactions for requests outside any known dialog (default 4,096). Beyond it such a
    /// request gets [`Incoming::Overloaded`](super::Incoming::Overloaded).
    pub max_transactions: usize,
    /// Of those, at most this many per source IP address (default 1,024, the UA's default `max_calls`: a proxy
    /// relays every caller from one address, so this stays generous).
    pub max_per_source: usize,
    /// Extra room only requests in a known dialog (and CANCELs of a live INVITE) may use (default 1,024): they
    /// are admitted while the whole table holds fewer than `max_transactions + dialog_reserve`, whatever the
    /// source.
    pub dialog_reserve: usize,
    /// Statelessly answered requests remembered to replay their response (default 4,096; the oldest is
    /// forgotten first).
    pub max_answered: usize,
    /// Of those, at most this many per source IP (default 256; beyond it nothing is remembered for that source).
    pub max_answered_per_source: usize,
    /// How long a statelessly answered request is remembered (default 5 s, T4).
    pub answered_retention: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_transactions: 4096,
            max_per_source: 1024,
            dialog_reserve: 1024,
            max_answered: 4096,
            max_answered_per_source: 256,
            answered_retention: Duration::from_secs(5),
        }
    }
}

/// How a new request may use the table (see [`ServerLimits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Admission {
    /// A request outside any known dialog: per-source and total caps.
    New,
    /// A request the TU matched to a live dialog (or a CANCEL of a live INVITE): the dialog reserve.
    Dialog,
}

/// One statelessly answered request.
#[derive(Debug)]
pub(super) struct Answered {
    pub(super) response: Response,
    pub(super) remote: SocketAddr,
    expires: Instant,
    ip: IpAddr,
}

impl Answered {
    /// `response` to a request from `ip`, sent to `remote`, remembered until the retention passes.
    pub(super) fn new(
        now: Instant,
        limits: &ServerLimits,
        ip: IpAddr,
        remote: SocketAddr,
        response: Response,
    ) -> Self {
        Self {
            response,
            remote,
            expires: now + limits.answered_retention,
            ip,
        }
    }
}

/// The short-lived memory of statelessly answered requests, bounded per source and in total.
#[derive(Debug, Default)]
pub(super) struct AnsweredCache {
    map: HashMap<ServerKey, Answered>,
    /// Insertion order, which is also expiry order (one retention for all).
    order: VecDeque<ServerKey>,
    per_ip: HashMap<IpAddr, usize>,
}

impl AnsweredCache {
    pub(super) fn get(&self, key: &ServerKey) -> Option<&Answered> {
        self.map.get(key)
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Remembers `response` for `key` unless the source has its share already. False when not remembered.
    /// Entries pushed out to make room are appended to `forgotten`.
    pub(super) fn insert(
        &mut self,
        limits: &ServerLimits,
        key: ServerKey,
        entry: Answered,
        forgotten: &mut Vec<ServerKey>,
    ) -> bool {
        let ip = entry.ip;
        if limits.max_answered == 0
            || self.per_ip.get(&ip).copied().unwrap_or(0) >= limits.max_answered_per_source
            || self.map.contains_key(&key)
        {
            return false;
        }
        while self.map.len() >= limits.max_answered {
            match self.pop_front() {
                Some(k) => forgotten.push(k),
                None => break,
            }
        }
        *self.per_ip.entry(ip).or_insert(0) += 1;
        self.order.push_back(key.clone());
        self.map.insert(key, entry);
        true
    }

    /// Forgets every entry whose retention has passed; their keys are appended to `forgotten`.
    pub(super) fn expire(&mut self, now: Instant, forgotten: &mut Vec<ServerKey>) {
        while self
            .order
            .front()
            .and_then(|k| self.map.get(k))
            .is_some_and(|a| a.expires <= now)
        {
            match self.pop_front() {
                Some(k) => forgotten.push(k),
                None => break,
            }
        }
    }

    fn pop_front(&mut self) -> Option<ServerKey> {
        let key = self.order.pop_front()?;
        if let Some(a) = self.map.remove(&key) {
            if let Some(n) = self.per_ip.get_mut(&a.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_ip.remove(&a.ip);
                }
            }
        }
        Some(key)
    }
}
