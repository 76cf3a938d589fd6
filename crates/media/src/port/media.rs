//! The SRTP/SRTCP path of the port: SSRC routing with trial unprotect (D-5.1.2b–e), delivery with reception
//! statistics, the T-5.5c switch-over, and periodic RTCP reports (RFC 3550).

use std::net::SocketAddr;
use std::time::Instant;

use dtlsrtp_srtp::SrtpError;

use super::rtp::parse_rtp;
use super::{be32, MediaEvent, MediaPort, ReceivedRtp};

impl MediaPort {
    /// Unprotects with association `i`; `Ok(len)` of the clear packet in `buf`.
    pub(super) fn try_unprotect(
        &mut self,
        i: usize,
        buf: &mut [u8],
        rtcp: bool,
    ) -> Result<usize, SrtpError> {
        let Some(srtp) = self.assocs.get_mut(i).and_then(|a| a.srtp.as_mut()) else {
            return Err(SrtpError::AuthFailed);
        };
        if rtcp {
            srtp.rx.unprotect_rtcp_in(buf)
        } else {
            srtp.rx.unprotect_rtp_in(buf)
        }
    }

    pub(super) fn on_srtp(&mut self, now: Instant, remote: SocketAddr, bytes: &[u8], rtcp: bool) {
        let ssrc_at = if rtcp { 4 } else { 8 };
        let Some(ssrc) = be32(bytes, ssrc_at) else {
            self.counters.malformed_media += 1;
            return;
        };
        if !self.assocs.iter().any(|a| a.srtp.is_some() && !a.closed) {
            // D-5.1: nothing is decrypted before a handshake completed and the fingerprint vouched for it.
            self.counters.srtp_before_keys += 1;
            if let Some(a) = self
                .assocs
                .iter_mut()
                .find(|a| a.remote == remote && !a.closed)
            {
                a.counters.drops += 1;
            }
            return;
        }
        let mapped = self
            .ssrc_map
            .get(&ssrc)
            .and_then(|id| self.assocs.iter().position(|a| a.id == *id && !a.closed));
        let mut buf = bytes.to_vec();
        if let Some(i) = mapped {
            match self.try_unprotect(i, &mut buf, rtcp) {
                Ok(n) => {
                    buf.truncate(n);
                    self.deliver(now, i, remote, ssrc, bytes.len(), buf, rtcp);
                    return;
                }
                Err(e) => {
                    if let Some(a) = self.assocs.get_mut(i) {
                        match e {
                            SrtpError::ReplayDuplicate | SrtpError::ReplayTooOld => {
                                a.counters.replays += 1;
                                return;
                            }
                            // Counted below unless another association of the fork authenticates it.
                            SrtpError::AuthFailed => {}
                            _ => {
                                a.counters.drops += 1;
                                return;
                            }
                        }
                    }
                    // The same SSRC may have moved to a newer association of the fork, or this is a late
                    // packet under the old keys of a superseded one in its grace period (T-5.5c, F-6.8):
                    // try the others.
                    buf.copy_from_slice(bytes);
                }
            }
        } else if let Some((n, _)) = self.failed_ssrcs.get(&ssrc) {
            if *n >= self.ssrc_fail_limit {
                self.counters.ssrc_refused += 1;
                return;
            }
        }
        // Trial: the association of the source address first, then the others, newest first (D-5.1.2b).
        let mut order: Vec<usize> = (0..self.assocs.len())
            .filter(|i| Some(*i) != mapped)
            .filter(|i| {
                self.assocs
                    .get(*i)
                    .is_some_and(|a| a.srtp.is_some() && !a.closed)
            })
            .collect();
        order.sort_by_key(|i| {
            self.assocs
                .get(*i)
                .map(|a| (a.remote != remote, u32::MAX - a.id.0))
        });
        let mapped_id = mapped.and_then(|m| self.assocs.get(m)).map(|a| a.id);
        let mut replayed = None;
        for i in order {
            match self.try_unprotect(i, &mut buf, rtcp) {
                Ok(n) => {
                    buf.truncate(n);
                    if let Some(id) = self.assocs.get(i).map(|a| a.id) {
                        // A late old-key packet (an older association than the mapping) does not move the
                        // SSRC back to the superseded association.
                        let older = mapped_id.is_some_and(|m| id < m);
                        if !older
                            && (self.ssrc_map.len() < self.max_ssrcs
                                || self.ssrc_map.contains_key(&ssrc))
                        {
                            self.ssrc_map.insert(ssrc, id);
                        }
                    }
                    self.failed_ssrcs.remove(&ssrc);
                    self.deliver(now, i, remote, ssrc, bytes.len(), buf, rtcp);
                    return;
                }
                Err(SrtpError::ReplayDuplicate | SrtpError::ReplayTooOld) => {
                    // Already seen (or too old) by this association: a replay unless another one takes it.
                    replayed.get_or_insert(i);
                    buf.copy_from_slice(bytes);
                }
                Err(_) => buf.copy_from_slice(bytes),
            }
        }
        if let Some(a) = replayed.and_then(|r| self.assocs.get_mut(r)) {
            a.counters.replays += 1;
            return;
        }
        // F-6.8: the peer may already send under the keys of an association still finishing its handshake
        // here (its first new-key packets overtook its last flight): hold them until it is keyed.
        if !self.replaying && self.hold(now, remote, bytes, rtcp) {
            return;
        }
        if let Some(a) = mapped.and_then(|m| self.assocs.get_mut(m)) {
            a.counters.auth_failures += 1;
            return;
        }
        self.counters.unknown_ssrc_dropped += 1;
        {
            if let Some(e) = self.failed_ssrcs.get_mut(&ssrc) {
                e.0 = e.0.saturating_add(1);
            } else if self.failed_ssrcs.len() < 4096 {
                self.failed_ssrcs.insert(ssrc, (1, now));
            }
        }
    }

    pub(super) fn now_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn deliver(
        &mut self,
        now: Instant,
        i: usize,
        remote: SocketAddr,
        ssrc: u32,
        wire_len: usize,
        clear: Vec<u8>,
        rtcp: bool,
    ) {
        let now_ms = self.now_ms(now);
        let arrival = u32::try_from(
            (u128::from(now_ms) * u128::from(self.clock_rate) / 1000) & u128::from(u32::MAX),
        )
        .unwrap_or(0);
        let Some(a) = self.assocs.get_mut(i) else {
            return;
        };
        let (id, fork) = (a.id, a.fork);
        if rtcp {
            a.counters.rtcp_in += 1;
            self.on_rtcp(now, i, remote, &clear);
            return;
        }
        if h_ssrc_collides(self.local_ssrc, &clear) {
            // RFC 3550 §8.2 (D-5.1.2d): an authenticated remote source uses our SSRC: we change ours.
            self.change_ssrc(now, remote);
        }
        let Some(a) = self.assocs.get_mut(i) else {
            return;
        };
        let Some(h) = parse_rtp(&clear) else {
            a.counters.drops += 1;
            self.counters.malformed_media += 1;
            return;
        };
        a.counters.packets_in += 1;
        a.counters.bytes_in += wire_len as u64;
        if a.sources.len() < 64 || a.sources.contains_key(&ssrc) {
            a.sources
                .entry(ssrc)
                .or_default()
                .update(h.sequence, h.timestamp, arrival);
        }
        let first_traffic = !a.carried_traffic;
        a.carried_traffic = true;
        let end = clear.len().saturating_sub(h.padding);
        // The payload reuses the decryption buffer (no second allocation per packet).
        let mut payload = clear;
        payload.truncate(end);
        payload.drain(..h.header_len.min(payload.len()));
        self.events.push_back(MediaEvent::Rtp(ReceivedRtp {
            assoc: id,
            fork,
            remote,
            ssrc,
            sequence: h.sequence,
            timestamp: h.timestamp,
            payload_type: h.payload_type,
            marker: h.marker,
            payload,
        }));
        if first_traffic {
            // T-5.5c, F-6.8: the new association carries traffic; older ones of the fork keep decrypting
            // for the grace period from now and then close.
            self.on_first_traffic(now, i);
        }
        self.check_key_limit(i);
    }
}

/// Whether the clear RTP packet's SSRC is ours.
fn h_ssrc_collides(local: u32, clear: &[u8]) -> bool {
    clear.get(8..12).is_some_and(|s| s == local.to_be_bytes())
}
