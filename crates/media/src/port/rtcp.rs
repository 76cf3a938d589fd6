//! RTCP on the port (RFC 3550 §6, RFC 7022, RFC 5761/5764 §4.1): periodic SR/RR with a wall-clock NTP time,
//! a random CNAME, BYE, received-report and BYE events, SSRC collision handling (§8.2, D-5.1.2d), and RTCP on
//! a second component when rtcp-mux is not negotiated ([`RtcpMux`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::rtp::{append_bye, build_report, ntp_from_unix, parse_compound, RtcpReport, SenderInfo};
use super::{ForkId, MediaError, MediaEvent, MediaPort, ReceptionReport, RtcpMux, Transmit};

/// A random CNAME (RFC 7022 §4.2: at least 96 random bits; 128 here, hex).
pub(super) fn random_cname(bytes: [u8; 16]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl MediaPort {
    // ---- public RTCP API ----------------------------------------------------------------------------------

    /// Anchors the SR's NTP timestamp to the wall clock (RFC 3550 §6.4.1): at `at` it was `since_unix` after the
    /// Unix epoch (the driver reads `SystemTime::now()` next to its `Instant::now()`; the port never reads a
    /// clock). Without an anchor the NTP time starts at [`super::MediaPortConfig::ntp_at_start`].
    pub fn set_wall_clock(&mut self, at: Instant, since_unix: Duration) {
        self.wall = (at, ntp_from_unix(since_unix));
    }

    /// The NTP timestamp the port uses for `now` (what an SR sent now carries).
    #[must_use]
    pub fn ntp_time(&self, now: Instant) -> u64 {
        let (at, base) = self.wall;
        let fixed = |d: Duration| {
            (d.as_secs() << 32) | ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
        };
        if now >= at {
            base.wrapping_add(fixed(now - at))
        } else {
            base.wrapping_sub(fixed(at - now))
        }
    }

    /// Our RTCP CNAME (random per port unless configured; RFC 7022).
    #[must_use]
    pub fn cname(&self) -> &str {
        &self.cname
    }

    /// Replaces the CNAME (e.g. to keep one per call across the RTCP component's port or a new port after a
    /// rekey, RFC 7022 §4). Longer than 255 octets is cut in the SDES item.
    pub fn set_cname(&mut self, cname: impl Into<String>) {
        self.cname = cname.into();
    }

    /// Sets the SSRC we send with (e.g. to keep a call's SSRC on a new port after a rekey onto a new local
    /// port, or on the RTCP component's port). A collision later changes it again (RFC 3550 §8.2).
    pub fn set_local_ssrc(&mut self, ssrc: u32) {
        self.local_ssrc = ssrc;
    }

    /// How RTCP travels for this port (default [`RtcpMux::Muxed`]). The session layer sets
    /// [`RtcpMux::RtpComponent`] on the RTP port and [`RtcpMux::RtcpComponent`] on the RTCP component's port
    /// (whose peer is the remote `a=rtcp:` port, or the RTP port + 1, with the same fingerprints and DTLS
    /// role) when the answer did not accept rtcp-mux, and then shuttles [`Self::poll_rtcp`] →
    /// [`Self::send_rtcp`] and received [`MediaEvent::Rtcp`] reports → [`Self::note_remote_rtcp`].
    pub fn set_rtcp_mux(&mut self, mode: RtcpMux) {
        self.rtcp_mode = mode;
    }

    /// [`RtcpMux::RtpComponent`]: the next clear compound RTCP packet (SR/RR + SDES, maybe BYE) for `fork`,
    /// to be passed to the RTCP component port's [`Self::send_rtcp`].
    pub fn poll_rtcp(&mut self) -> Option<(ForkId, Vec<u8>)> {
        self.rtcp_out.pop_front()
    }

    /// [`RtcpMux::RtcpComponent`] (or any port): protects a clear compound RTCP packet with the SRTCP keys of
    /// `fork`'s newest verified association and sends it there. Refused without keys (fail closed).
    pub fn send_rtcp(
        &mut self,
        now: Instant,
        fork: ForkId,
        compound: &[u8],
    ) -> Result<(), MediaError> {
        let _ = now;
        let Some(i) = self.sending_assoc(fork) else {
            if !self.forks.iter().any(|f| f.id == fork) {
                return Err(MediaError::UnknownFork);
            }
            self.counters.send_refused += 1;
            return Err(MediaError::NotSecured);
        };
        let Some(a) = self.assocs.get_mut(i) else {
            return Err(MediaError::UnknownFork);
        };
        let Some(srtp) = a.srtp.as_mut() else {
            return Err(MediaError::NotSecured);
        };
        let mut pkt = compound.to_vec();
        srtp.tx.protect_rtcp(&mut pkt)?;
        a.counters.rtcp_out += 1;
        if parse_compound(compound).is_some_and(|c| c.bye.is_some()) {
            self.counters.bye_sent += 1;
        }
        self.transmits.push_back(Transmit {
            remote: a.remote,
            bytes: pkt,
        });
        Ok(())
    }

    /// [`RtcpMux::RtpComponent`]: an SR/RR that arrived on the RTCP component (from its port's
    /// [`MediaEvent::Rtcp`]): remembered for the LSR/DLSR of our next reports (RFC 3550 §6.4.1).
    pub fn note_remote_rtcp(&mut self, now: Instant, report: &RtcpReport) {
        let now_ms = self.now_ms(now);
        if let Some(si) = report.sender_info {
            for a in &mut self.assocs {
                if let Some(s) = a.sources.get_mut(&report.sender_ssrc) {
                    s.last_sr = Some(((si.ntp >> 16) as u32, now_ms));
                }
            }
        }
    }

    /// Sends an RTCP BYE for our SSRC (RFC 3550 §6.6: compound SR/RR + SDES CNAME + BYE with `reason`) on every
    /// keyed association of `fork` (of every fork with `None`). [`Self::close_fork`] does this before it
    /// closes the associations. Returns how many were sent (or handed to [`Self::poll_rtcp`]).
    pub fn send_bye(&mut self, now: Instant, fork: Option<ForkId>, reason: Option<&str>) -> usize {
        let ssrc = self.local_ssrc;
        self.send_compound(now, fork, Some((ssrc, reason)))
    }

    // ---- internals ---------------------------------------------------------------------------------------

    pub(super) fn send_reports(&mut self, now: Instant) {
        if self.rtcp_mode == RtcpMux::RtcpComponent {
            // The RTP port builds the reports; this port only carries them (send_rtcp).
            return;
        }
        self.send_compound(now, None, None);
    }

    /// One compound packet (SR/RR + SDES, plus a BYE for `bye.0`) per keyed association (of `fork`).
    fn send_compound(
        &mut self,
        now: Instant,
        fork: Option<ForkId>,
        bye: Option<(u32, Option<&str>)>,
    ) -> usize {
        let now_ms = self.now_ms(now);
        let ntp = self.ntp_time(now);
        let elapsed_ts = u32::try_from(
            (u128::from(now_ms) * u128::from(self.clock_rate) / 1000) & u128::from(u32::MAX),
        )
        .unwrap_or(0);
        let mut sent = 0;
        for a in &mut self.assocs {
            // A superseded association in its grace period only decrypts (F-6.8).
            if a.closed || a.retire_at.is_some() || (fork.is_some() && a.fork != fork) {
                continue;
            }
            let Some(srtp) = a.srtp.as_mut() else {
                continue;
            };
            let last_ts = a
                .fork
                .and_then(|f| self.forks.iter().find(|k| k.id == f))
                .map_or(elapsed_ts, |f| f.last_ts);
            let packets = a.counters.packets_out - a.sr_base.0;
            let sender = (packets > 0).then_some(SenderInfo {
                ntp,
                rtp_timestamp: last_ts,
                packet_count: packets as u32,
                octet_count: (a.counters.payload_out - a.sr_base.1) as u32,
            });
            let mut blocks: Vec<_> = a
                .sources
                .iter_mut()
                .map(|(ssrc, s)| s.report_block(*ssrc, now_ms))
                .collect();
            blocks.sort_by_key(|b| b.ssrc);
            let ssrc = bye.map_or(self.local_ssrc, |b| b.0);
            let mut pkt = build_report(ssrc, sender, &blocks, &self.cname);
            if let Some((ssrc, reason)) = bye {
                append_bye(&mut pkt, ssrc, reason);
            }
            if self.rtcp_mode == RtcpMux::RtpComponent {
                if let Some(f) = a.fork {
                    if self.rtcp_out.len() < 64 {
                        self.rtcp_out.push_back((f, pkt));
                        sent += 1;
                        self.counters.bye_sent += u64::from(bye.is_some());
                    }
                }
                continue;
            }
            if srtp.tx.protect_rtcp(&mut pkt).is_ok() {
                a.counters.rtcp_out += 1;
                sent += 1;
                self.counters.bye_sent += u64::from(bye.is_some());
                self.transmits.push_back(Transmit {
                    remote: a.remote,
                    bytes: pkt,
                });
            }
        }
        sent
    }

    /// An authenticated compound RTCP packet on association `i`.
    pub(super) fn on_rtcp(&mut self, now: Instant, i: usize, remote: SocketAddr, clear: &[u8]) {
        let now_ms = self.now_ms(now);
        let Some(c) = parse_compound(clear).filter(|c| c.report.is_some() || c.bye.is_some())
        else {
            self.counters.malformed_media += 1;
            return;
        };
        let Some(a) = self.assocs.get_mut(i) else {
            return;
        };
        let (id, fork) = (a.id, a.fork);
        let collides = c
            .report
            .as_ref()
            .is_some_and(|r| r.sender_ssrc == self.local_ssrc)
            && self.rtcp_mode != RtcpMux::RtcpComponent;
        if let Some(report) = c.report {
            if let Some(si) = report.sender_info {
                if let Some(s) = a.sources.get_mut(&report.sender_ssrc) {
                    s.last_sr = Some(((si.ntp >> 16) as u32, now_ms));
                }
            }
            // Round-trip time (RFC 3550 §6.4.1): A − LSR − DLSR in 1/65536 s, middle 32 bits of NTP.
            let arrival = (self.ntp_time(now) >> 16) as u32;
            let all = self.rtcp_mode == RtcpMux::RtcpComponent;
            for b in report
                .blocks
                .iter()
                .filter(|b| all || b.ssrc == self.local_ssrc)
            {
                let rtt = (b.lsr != 0)
                    .then(|| arrival.wrapping_sub(b.lsr).wrapping_sub(b.dlsr))
                    .filter(|r| *r < 0x8000_0000)
                    .map(|r| Duration::from_nanos(u64::from(r) * 1_000_000_000 / 65536));
                let jitter = Duration::from_nanos(
                    u64::from(b.jitter) * 1_000_000_000 / u64::from(self.clock_rate),
                );
                self.events.push_back(MediaEvent::RtcpReport {
                    assoc: id,
                    fork,
                    report: ReceptionReport {
                        reporter_ssrc: report.sender_ssrc,
                        ssrc: b.ssrc,
                        fraction_lost: b.fraction_lost,
                        cumulative_lost: b.cumulative_lost,
                        extended_highest_seq: b.extended_highest_seq,
                        jitter_ts: b.jitter,
                        jitter,
                        rtt,
                    },
                });
            }
            self.events.push_back(MediaEvent::Rtcp {
                assoc: id,
                fork,
                report,
            });
        }
        if let Some(bye) = c.bye {
            self.events.push_back(MediaEvent::RtcpBye {
                assoc: id,
                fork,
                bye,
            });
        }
        if collides {
            self.change_ssrc(now, remote);
        }
    }

    /// RFC 3550 §8.2 (D-5.1.2d): another source uses our SSRC. BYE for the old one on every keyed association,
    /// a new random SSRC (not one we receive), SR counts restart, event.
    pub(super) fn change_ssrc(&mut self, now: Instant, remote: SocketAddr) {
        let old = self.local_ssrc;
        self.send_compound(now, None, Some((old, Some("SSRC collision"))));
        let mut new = self.rng.u32();
        while new == old || new == 0 || self.assocs.iter().any(|a| a.sources.contains_key(&new)) {
            new = self.rng.u32();
        }
        self.local_ssrc = new;
        for a in &mut self.assocs {
            a.sr_base = (a.counters.packets_out, a.counters.payload_out);
        }
        self.counters.ssrc_changes += 1;
        tracing::info!(old, new, %remote, "SSRC collision: our SSRC changed (RFC 3550 §8.2)");
        self.events
            .push_back(MediaEvent::SsrcChanged { old, new, remote });
    }
}
