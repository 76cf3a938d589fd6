//! RTP headers, per-source reception statistics and RTCP sender/receiver reports (RFC 3550 §5, §6.4, A.1, A.3,
//! A.8). Parsing is total: bad input gives `None`, never a panic.

/// An RTP packet received and authenticated on the media port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Octets of header (fixed part, CSRCs, extension).
    pub header_len: usize,
    /// Octets of padding at the end (P bit).
    pub padding: usize,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// Parses an RTP header (RFC 3550 §5.1): version 2, CSRCs, header extension and padding checked against the
/// length.
#[must_use]
pub fn parse_rtp(p: &[u8]) -> Option<RtpHeader> {
    let b0 = *p.first()?;
    if b0 >> 6 != 2 {
        return None;
    }
    let b1 = *p.get(1)?;
    let cc = usize::from(b0 & 0x0f);
    let mut len = 12 + 4 * cc;
    if b0 & 0x10 != 0 {
        let words = usize::from(be16(p, len + 2)?);
        len += 4 + 4 * words;
    }
    if len > p.len() {
        return None;
    }
    let padding = if b0 & 0x20 != 0 {
        usize::from(*p.last()?)
    } else {
        0
    };
    if padding > p.len() - len {
        return None;
    }
    Some(RtpHeader {
        marker: b1 & 0x80 != 0,
        payload_type: b1 & 0x7f,
        sequence: be16(p, 2)?,
        timestamp: be32(p, 4)?,
        ssrc: be32(p, 8)?,
        header_len: len,
        padding,
    })
}

/// Writes a 12-octet RTP header followed by `payload` into `out` (cleared first).
pub fn write_rtp(
    out: &mut Vec<u8>,
    pt: u8,
    marker: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: &[u8],
) {
    out.clear();
    out.push(0x80);
    out.push((u8::from(marker) << 7) | (pt & 0x7f));
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ts.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Reception statistics of one remote SSRC (RFC 3550 A.1 sequence tracking, A.3 loss, A.8 jitter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SourceStats {
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Interarrival jitter ×16 (RFC 3550 A.8), in timestamp units.
    jitter16: u32,
    last_transit: Option<i64>,
    /// Middle 32 bits of the NTP time of the last SR from this source, and when it arrived (ms on our clock).
    pub(crate) last_sr: Option<(u32, u64)>,
    started: bool,
}

impl SourceStats {
    /// Accounts one authenticated packet. `arrival_ts` is the arrival time in the stream's timestamp units.
    pub(crate) fn update(&mut self, seq: u16, rtp_ts: u32, arrival_ts: u32) {
        if !self.started {
            self.started = true;
            self.base_seq = u32::from(seq);
            self.max_seq = seq;
        } else {
            let delta = seq.wrapping_sub(self.max_seq);
            if delta != 0 && delta < 0x8000 {
                if seq < self.max_seq {
                    self.cycles = self.cycles.wrapping_add(1 << 16);
                }
                self.max_seq = seq;
            }
        }
        self.received = self.received.wrapping_add(1);
        let transit = i64::from(arrival_ts) - i64::from(rtp_ts);
        if let Some(last) = self.last_transit {
            let d = u32::try_from((transit - last).unsigned_abs().min(u64::from(u32::MAX)))
                .unwrap_or(u32::MAX);
            // J += (|D| - J/16)   (RFC 3550 A.8, kept ×16)
            self.jitter16 = self
                .jitter16
                .wrapping_add(d)
                .wrapping_sub((self.jitter16.wrapping_add(8)) >> 4);
        }
        self.last_transit = Some(transit);
    }

    fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// A report block for this source (RFC 3550 §6.4.1); advances the "prior" interval counters.
    pub(crate) fn report_block(&mut self, ssrc: u32, now_ms: u64) -> ReportBlock {
        let ext = self.extended_max();
        let expected = ext.wrapping_sub(self.base_seq).wrapping_add(1);
        let lost = i64::from(expected) - i64::from(self.received);
        let cumulative_lost = lost.clamp(-0x80_0000, 0x7f_ffff) as i32;
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            u8::try_from((lost_interval << 8) / i64::from(expected_interval)).unwrap_or(255)
        };
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at_ms)) => {
                let d = now_ms.saturating_sub(at_ms);
                // DLSR in 1/65536 s
                (lsr, u32::try_from(d * 65536 / 1000).unwrap_or(u32::MAX))
            }
            None => (0, 0),
        };
        ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost,
            extended_highest_seq: ext,
            jitter: self.jitter16 >> 4,
            lsr,
            dlsr,
        }
    }
}

/// One RTCP report block (RFC 3550 §6.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the last report, /256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Last SR timestamp (middle 32 bits of its NTP time).
    pub lsr: u32,
    /// Delay since the last SR, 1/65536 s.
    pub dlsr: u32,
}

/// The sender part of an SR (RFC 3550 §6.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderInfo {
    /// NTP timestamp (64-bit fixed point).
    pub ntp: u64,
    /// RTP timestamp corresponding to `ntp`.
    pub rtp_timestamp: u32,
    /// Packets sent.
    pub packet_count: u32,
    /// Payload octets sent.
    pub octet_count: u32,
}

/// A received SR or RR (the first packet of a compound RTCP packet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtcpReport {
    /// The reporter.
    pub sender_ssrc: u32,
    /// Present for an SR.
    pub sender_info: Option<SenderInfo>,
    /// Report blocks.
    pub blocks: Vec<ReportBlock>,
}

/// Builds a compound RTCP packet: SR (if `sender` is set) or RR with `blocks`, then an SDES with a CNAME
/// (RFC 3550 §6.1: every compound packet carries a CNAME).
pub(crate) fn build_report(
    ssrc: u32,
    sender: Option<SenderInfo>,
    blocks: &[ReportBlock],
    cname: &str,
) -> Vec<u8> {
    let blocks = blocks.get(..blocks.len().min(31)).unwrap_or_default();
    let rc = u8::try_from(blocks.len()).unwrap_or(31);
    let mut out = Vec::with_capacity(8 + 20 + 24 * blocks.len() + 16 + cname.len());
    let words = 1 + if sender.is_some() { 5 } else { 0 } + 6 * blocks.len();
    out.push(0x80 | rc);
    out.push(if sender.is_some() { 200 } else { 201 });
    out.extend_from_slice(&u16::try_from(words).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some(s) = sender {
        out.extend_from_slice(&s.ntp.to_be_bytes());
        out.extend_from_slice(&s.rtp_timestamp.to_be_bytes());
        out.extend_from_slice(&s.packet_count.to_be_bytes());
        out.extend_from_slice(&s.octet_count.to_be_bytes());
    }
    for b in blocks {
        out.extend_from_slice(&b.ssrc.to_be_bytes());
        let lost = (b.cumulative_lost as u32) & 0x00ff_ffff;
        out.extend_from_slice(&((u32::from(b.fraction_lost) << 24) | lost).to_be_bytes());
        out.extend_from_slice(&b.extended_highest_seq.to_be_bytes());
        out.extend_from_slice(&b.jitter.to_be_bytes());
        out.extend_from_slice(&b.lsr.to_be_bytes());
        out.extend_from_slice(&b.dlsr.to_be_bytes());
    }
    // SDES: one chunk, CNAME item, null terminator, padded to 32 bits.
    let name = cname
        .as_bytes()
        .get(..cname.len().min(255))
        .unwrap_or_default();
    let chunk_len = 4 + 2 + name.len() + 1;
    let padded = chunk_len.div_ceil(4) * 4;
    out.push(0x81);
    out.push(202);
    out.extend_from_slice(&u16::try_from(padded / 4).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.push(1);
    out.push(u8::try_from(name.len()).unwrap_or(0));
    out.extend_from_slice(name);
    out.resize(out.len() + (padded - chunk_len) + 1, 0);
    out
}

/// Parses the first packet of a compound RTCP packet when it is an SR or RR.
#[must_use]
pub fn parse_report(p: &[u8]) -> Option<RtcpReport> {
    let b0 = *p.first()?;
    if b0 >> 6 != 2 {
        return None;
    }
    let pt = *p.get(1)?;
    let len = (usize::from(be16(p, 2)?) + 1) * 4;
    let body = p.get(..len)?;
    let rc = usize::from(b0 & 0x1f);
    let sender_ssrc = be32(body, 4)?;
    let (sender_info, mut at) = match pt {
        200 => (
            Some(SenderInfo {
                ntp: (u64::from(be32(body, 8)?) << 32) | u64::from(be32(body, 12)?),
                rtp_timestamp: be32(body, 16)?,
                packet_count: be32(body, 20)?,
                octet_count: be32(body, 24)?,
            }),
            28,
        ),
        201 => (None, 8),
        _ => return None,
    };
    let mut blocks = Vec::with_capacity(rc);
    for _ in 0..rc {
        let w = be32(body, at + 4)?;
        let lost = w & 0x00ff_ffff;
        let cumulative_lost = if lost & 0x80_0000 != 0 {
            (lost | 0xff00_0000) as i32
        } else {
            lost as i32
        };
        blocks.push(ReportBlock {
            ssrc: be32(body, at)?,
            fraction_lost: (w >> 24) as u8,
            cumulative_lost,
            extended_highest_seq: be32(body, at + 8)?,
            jitter: be32(body, at + 12)?,
            lsr: be32(body, at + 16)?,
            dlsr: be32(body, at + 20)?,
        });
        at += 24;
    }
    Some(RtcpReport {
        sender_ssrc,
        sender_info,
        blocks,
    })
}

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// The 64-bit NTP timestamp (RFC 3550 §4: seconds since 1900 in the high 32 bits, fraction in the low 32) of
/// a wall-clock time given as the duration since the Unix epoch.
#[must_use]
pub fn ntp_from_unix(since_unix: std::time::Duration) -> u64 {
    let secs = since_unix.as_secs().wrapping_add(NTP_UNIX_OFFSET);
    let frac = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// A received RTCP BYE (RFC 3550 §6.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtcpBye {
    /// The sources leaving.
    pub ssrcs: Vec<u32>,
    /// The optional reason text (lossily decoded as UTF-8).
    pub reason: Option<String>,
}

/// What a compound RTCP packet carries, as far as the port uses it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RtcpCompound {
    /// The SR or RR (the first packet).
    pub report: Option<RtcpReport>,
    /// SDES CNAME items: (SSRC, CNAME).
    pub cnames: Vec<(u32, String)>,
    /// A BYE, if present.
    pub bye: Option<RtcpBye>,
}

/// Parses every packet of a compound RTCP packet (SR/RR, SDES CNAME, BYE; others are skipped). `None` when the
/// first packet is not a well-formed header or a length runs past the end.
#[must_use]
pub fn parse_compound(p: &[u8]) -> Option<RtcpCompound> {
    let mut out = RtcpCompound::default();
    let mut at = 0;
    while at < p.len() {
        let rest = p.get(at..)?;
        let b0 = *rest.first()?;
        if b0 >> 6 != 2 {
            return None;
        }
        let count = usize::from(b0 & 0x1f);
        let pt = *rest.get(1)?;
        let len = (usize::from(be16(rest, 2)?) + 1) * 4;
        let body = rest.get(..len)?;
        match pt {
            200 | 201 if at == 0 => out.report = parse_report(body),
            202 => {
                let mut c = 4;
                for _ in 0..count {
                    let ssrc = be32(body, c)?;
                    c += 4;
                    // Items until a zero type, then padding to the next 32-bit boundary.
                    loop {
                        let t = *body.get(c)?;
                        if t == 0 {
                            c = (c + 4) & !3;
                            break;
                        }
                        let n = usize::from(*body.get(c + 1)?);
                        let v = body.get(c + 2..c + 2 + n)?;
                        if t == 1 && out.cnames.len() < 32 {
                            out.cnames
                                .push((ssrc, String::from_utf8_lossy(v).into_owned()));
                        }
                        c += 2 + n;
                    }
                }
            }
            203 => {
                let ssrcs = (0..count)
                    .map(|k| be32(body, 4 + 4 * k))
                    .collect::<Option<Vec<u32>>>()?;
                let r = 4 + 4 * count;
                let reason = body.get(r).and_then(|n| {
                    body.get(r + 1..r + 1 + usize::from(*n))
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                });
                out.bye = Some(RtcpBye { ssrcs, reason });
            }
            _ => {}
        }
        at += len;
    }
    Some(out)
}

/// Appends an RTCP BYE for `ssrc` with an optional reason (at most 255 octets) to a compound packet.
pub(crate) fn append_bye(out: &mut Vec<u8>, ssrc: u32, reason: Option<&str>) {
    let reason = reason
        .map(str::as_bytes)
        .map(|r| r.get(..r.len().min(255)).unwrap_or_default());
    let body = 4 + reason.map_or(0, |r| 1 + r.len());
    let padded = body.div_ceil(4) * 4;
    out.push(0x81);
    out.push(203);
    out.extend_from_slice(&u16::try_from(padded / 4).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some(r) = reason {
        out.push(u8::try_from(r.len()).unwrap_or(0));
        out.extend_from_slice(r);
    }
    out.resize(out.len() + (padded - body), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_roundtrip_and_bad_input() {
        let mut v = Vec::new();
        write_rtp(&mut v, 111, true, 65535, 160, 0xdead_beef, &[1, 2, 3]);
        let h = parse_rtp(&v).unwrap();
        assert_eq!(
            (h.marker, h.payload_type, h.sequence, h.timestamp, h.ssrc),
            (true, 111, 65535, 160, 0xdead_beef)
        );
        assert_eq!(&v[h.header_len..], &[1, 2, 3]);
        for n in 0..v.len() {
            let _ = parse_rtp(&v[..n]);
        }
        assert!(parse_rtp(&[0x9f; 12]).is_none()); // 15 CSRCs do not fit
        assert!(parse_rtp(&[0x20; 20]).is_none()); // version 0
    }

    #[test]
    fn parse_compound_never_panics_on_mutations() {
        let mut base = build_report(
            9,
            None,
            &[ReportBlock {
                ssrc: 1,
                fraction_lost: 2,
                cumulative_lost: -3,
                extended_highest_seq: 4,
                jitter: 5,
                lsr: 6,
                dlsr: 7,
            }],
            "cname",
        );
        append_bye(&mut base, 9, Some("r"));
        let mut x = 0x1234_5678_u32;
        for _ in 0..20_000 {
            let mut m = base.clone();
            for _ in 0..3 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let at = (x >> 8) as usize % m.len();
                m[at] = (x >> 24) as u8;
            }
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            m.truncate(m.len() - (x >> 20) as usize % 8);
            let _ = parse_compound(&m);
        }
    }

    #[test]
    fn report_roundtrip_and_loss_accounting() {
        let mut s = SourceStats::default();
        for seq in [65534u16, 65535, 1, 2] {
            s.update(seq, u32::from(seq) * 160, u32::from(seq) * 160);
        }
        let b = s.report_block(7, 0);
        // 65534..=2 across the wrap: 5 expected, 4 received
        assert_eq!(b.extended_highest_seq, 0x1_0002);
        assert_eq!(b.cumulative_lost, 1);
        assert_eq!(u32::from(b.fraction_lost), 256 / 5);
        let sender = SenderInfo {
            ntp: 0x0102_0304_0506_0708,
            rtp_timestamp: 9,
            packet_count: 10,
            octet_count: 1600,
        };
        let p = build_report(42, Some(sender), &[b], "dtlsrtp");
        assert_eq!(p.len() % 4, 0);
        let r = parse_report(&p).unwrap();
        assert_eq!(r.sender_ssrc, 42);
        assert_eq!(r.sender_info, Some(sender));
        assert_eq!(r.blocks, vec![b]);
        let mut with_bye = p.clone();
        append_bye(&mut with_bye, 42, Some("hangup"));
        assert_eq!(with_bye.len() % 4, 0);
        let c = parse_compound(&with_bye).unwrap();
        assert_eq!(c.report, Some(r.clone()));
        assert_eq!(c.cnames, vec![(42, "dtlsrtp".to_owned())]);
        assert_eq!(
            c.bye,
            Some(RtcpBye {
                ssrcs: vec![42],
                reason: Some("hangup".to_owned())
            })
        );
        for n in 0..with_bye.len() {
            let _ = parse_compound(&with_bye[..n]);
        }
        let mut bare = build_report(7, None, &[], "c");
        append_bye(&mut bare, 7, None);
        assert_eq!(parse_compound(&bare).unwrap().bye.unwrap().reason, None);
        // NTP: 1970-01-01 is 2208988800 s after 1900-01-01; half a second is 2^31.
        assert_eq!(
            ntp_from_unix(std::time::Duration::from_millis(1500)),
            ((2_208_988_801u64) << 32) | (1 << 31)
        );
        let rr = build_report(42, None, &[], "x");
        assert_eq!(parse_report(&rr).unwrap().blocks.len(), 0);
        for n in 0..p.len() {
            let _ = parse_report(&p[..n]);
        }
    }
}
