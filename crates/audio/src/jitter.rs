//! The receive path: a small jitter buffer keyed by the extended RTP sequence number that puts reordered packets
//! back in order, conceals lost ones with silence, and keeps the receiver statistics of RFC 3550 (A.1 extended
//! sequence numbers, A.3 expected/lost, A.8 interarrival jitter).

use std::collections::BTreeMap;

use crate::g711::Law;
use crate::FRAME;

/// A larger jump than this in sequence numbers is not a late or reordered packet but a restart (RFC 3550 A.1).
const MAX_DROPOUT: i64 = 3000;

/// Receiver statistics (RFC 3550 §6.4.1, A.3, A.8).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReceiveStats {
    /// Packets accepted into the buffer (duplicates excluded).
    pub received: u64,
    /// Highest extended sequence number minus the first, plus one.
    pub expected: u64,
    /// Cumulative number lost: expected − received (negative with duplicates upstream; clamped here at 0).
    pub lost: u64,
    /// Packets that arrived after a higher sequence number (reordered), still played if in time.
    pub reordered: u64,
    /// Packets that arrived after their playout time (counted received, not played).
    pub late: u64,
    /// Exact duplicates dropped.
    pub duplicates: u64,
    /// Frames played as silence because their packet never came.
    pub concealed: u64,
    /// Interarrival jitter estimate in RTP timestamp units (A.8: J += (|D| − J) / 16).
    pub jitter: f64,
}

impl ReceiveStats {
    /// Jitter in milliseconds (8 kHz clock).
    pub fn jitter_ms(&self) -> f64 {
        self.jitter / 8.0
    }

    /// Loss as a fraction of expected packets.
    pub fn loss_fraction(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            self.lost as f64 / self.expected as f64
        }
    }
}

/// A jitter buffer of `depth` packets (`depth` × 20 ms of playout delay).
#[derive(Debug)]
pub struct JitterBuffer {
    law: Law,
    depth: usize,
    packets: BTreeMap<i64, Vec<u8>>,
    /// Extended sequence number of the next frame to play, once playout has started.
    next_play: Option<i64>,
    /// First and highest extended sequence numbers seen.
    base: Option<i64>,
    highest: i64,
    last_transit: Option<i64>,
    stats: ReceiveStats,
}

impl JitterBuffer {
    /// A buffer for one G.711 stream.
    pub fn new(law: Law, depth: usize) -> Self {
        Self {
            law,
            depth: depth.max(1),
            packets: BTreeMap::new(),
            next_play: None,
            base: None,
            highest: 0,
            last_transit: None,
            stats: ReceiveStats::default(),
        }
    }

    /// The statistics so far.
    pub fn stats(&self) -> &ReceiveStats {
        &self.stats
    }

    /// The extended sequence number of `seq` relative to the highest seen (RFC 3550 A.1): the candidate
    /// within half the sequence space of the highest.
    fn extend(&self, seq: u16) -> i64 {
        let cycle = self.highest & !0xFFFF;
        let candidates = [cycle - 0x1_0000, cycle, cycle + 0x1_0000].map(|c| c + i64::from(seq));
        let mut best = candidates[1];
        for c in candidates {
            if (c - self.highest).abs() < (best - self.highest).abs() {
                best = c;
            }
        }
        best
    }

    /// Accepts one authenticated packet. `arrival` is the arrival time in RTP timestamp units (8 kHz ticks of
    /// the receiver's clock), for the jitter estimate.
    pub fn push(&mut self, seq: u16, timestamp: u32, payload: &[u8], arrival: u32) {
        let ext = match self.base {
            None => {
                self.base = Some(i64::from(seq));
                self.highest = i64::from(seq);
                i64::from(seq)
            }
            Some(_) => self.extend(seq),
        };
        if (ext - self.highest).abs() > MAX_DROPOUT {
            // The sender restarted (or jumped): start over from here, keeping the cumulative counters.
            self.base = Some(ext - (self.stats.expected as i64));
            self.highest = ext;
            self.packets.clear();
            self.next_play = None;
        }
        if self.packets.contains_key(&ext) {
            self.stats.duplicates += 1;
            return;
        }
        if ext < self.highest {
            self.stats.reordered += 1;
        }
        self.highest = self.highest.max(ext);
        self.stats.received += 1;
        // A.8: transit differences in timestamp units; wrapping arithmetic on the 32-bit clocks.
        let transit = i64::from(arrival.wrapping_sub(timestamp) as i32);
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs() as f64;
            self.stats.jitter += (d - self.stats.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
        if let Some(base) = self.base {
            self.stats.expected = (self.highest - base + 1).max(0) as u64;
            self.stats.lost = self.stats.expected.saturating_sub(self.stats.received);
        }
        match self.next_play {
            Some(next) if ext < next => self.stats.late += 1,
            _ => {
                self.packets.insert(ext, payload.to_vec());
            }
        }
    }

    /// The next 20 ms frame to play, called once per 20 ms tick: `None` while the buffer fills (before playout
    /// starts) or when it has run dry; a lost packet is concealed with silence once a later one is buffered.
    pub fn pop(&mut self) -> Option<Vec<i16>> {
        let next = match self.next_play {
            Some(n) => n,
            None => {
                if self.packets.len() < self.depth {
                    return None;
                }
                *self.packets.keys().next()?
            }
        };
        if let Some(payload) = self.packets.remove(&next) {
            self.next_play = Some(next + 1);
            return Some(self.law.decode(&payload));
        }
        if self.packets.is_empty() {
            // Ran dry: wait without advancing (the sender may just be late).
            self.next_play = Some(next);
            return None;
        }
        self.next_play = Some(next + 1);
        self.stats.concealed += 1;
        Some(vec![self.law.decode(&[self.law.silence()])[0]; FRAME])
    }

    /// Everything still buffered, in order, gaps concealed (at the end of a call).
    pub fn drain(&mut self) -> Vec<i16> {
        let mut out = Vec::new();
        if self.next_play.is_none() {
            self.next_play = self.packets.keys().next().copied();
        }
        while !self.packets.is_empty() {
            match self.pop() {
                Some(frame) => out.extend(frame),
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packetize::Packetizer;
    use crate::tone::ToneGenerator;

    fn packets(n: usize, first_seq: u16) -> (Vec<i16>, Vec<crate::packetize::AudioPacket>) {
        let samples = ToneGenerator::new(440.0, 0.3).samples(n * FRAME);
        let pkts = Packetizer::new(Law::Pcmu, first_seq, 1000).push(&samples);
        (Law::Pcmu.decode(&Law::Pcmu.encode(&samples)), pkts)
    }

    #[test]
    fn in_order_stream_plays_back_exactly() {
        let (want, pkts) = packets(50, 65_530);
        let mut jb = JitterBuffer::new(Law::Pcmu, 3);
        let mut out = Vec::new();
        for p in &pkts {
            jb.push(
                p.seq,
                p.timestamp,
                &p.payload,
                p.timestamp.wrapping_add(500),
            );
            if let Some(f) = jb.pop() {
                out.extend(f);
            }
        }
        out.extend(jb.drain());
        assert_eq!(out, want);
        let s = jb.stats();
        assert_eq!(
            (s.received, s.expected, s.lost, s.reordered, s.concealed),
            (50, 50, 0, 0, 0)
        );
        assert_eq!(s.jitter, 0.0);
    }

    #[test]
    fn reordering_within_the_depth_is_repaired() {
        let (want, pkts) = packets(20, 100);
        let mut order: Vec<usize> = (0..20).collect();
        order.swap(3, 4);
        order.swap(10, 12);
        let mut jb = JitterBuffer::new(Law::Pcmu, 3);
        let mut out = Vec::new();
        for (t, &i) in order.iter().enumerate() {
            let p = &pkts[i];
            jb.push(p.seq, p.timestamp, &p.payload, 1000 + 160 * t as u32);
            if let Some(f) = jb.pop() {
                out.extend(f);
            }
        }
        out.extend(jb.drain());
        assert_eq!(out, want);
        assert_eq!(jb.stats().reordered, 3); // 3 after 4; 11 and 10 after 12
        assert_eq!(jb.stats().lost, 0);
        // Arrival times are regular but the timestamps are swapped: jitter is non-zero (A.8).
        assert!(jb.stats().jitter > 0.0);
    }

    #[test]
    fn loss_is_counted_and_concealed() {
        let (want, pkts) = packets(20, 7);
        let mut jb = JitterBuffer::new(Law::Pcmu, 2);
        let mut out = Vec::new();
        for (i, p) in pkts.iter().enumerate() {
            if i == 5 || i == 6 {
                continue;
            }
            jb.push(p.seq, p.timestamp, &p.payload, p.timestamp);
            if let Some(f) = jb.pop() {
                out.extend(f);
            }
        }
        out.extend(jb.drain());
        let s = jb.stats();
        assert_eq!(
            (s.received, s.expected, s.lost, s.concealed),
            (18, 20, 2, 2)
        );
        assert!((s.loss_fraction() - 0.1).abs() < 1e-9);
        assert_eq!(out.len(), want.len());
        assert_eq!(&out[..5 * FRAME], &want[..5 * FRAME]);
        assert!(out[5 * FRAME..7 * FRAME].iter().all(|&x| x == 0));
        assert_eq!(&out[7 * FRAME..], &want[7 * FRAME..]);
    }

    #[test]
    fn duplicates_and_late_packets_are_dropped() {
        let (_, pkts) = packets(10, 0);
        let mut jb = JitterBuffer::new(Law::Pcmu, 1);
        jb.push(pkts[0].seq, pkts[0].timestamp, &pkts[0].payload, 0);
        jb.push(pkts[0].seq, pkts[0].timestamp, &pkts[0].payload, 0);
        assert_eq!(jb.stats().duplicates, 1);
        assert!(jb.pop().is_some());
        jb.push(pkts[2].seq, pkts[2].timestamp, &pkts[2].payload, 320);
        assert!(jb.pop().is_some()); // seq 1 concealed
        assert_eq!(jb.stats().concealed, 1);
        jb.push(pkts[1].seq, pkts[1].timestamp, &pkts[1].payload, 400);
        assert_eq!(jb.stats().late, 1);
        assert_eq!(
            jb.stats().lost,
            0,
            "a late packet still counts as received (RFC 3550 A.3)"
        );
    }

    /// RFC 3550 A.8 by hand: transit 0, then +80, then back to 0 → J = 80/16, then J += (80 − J)/16.
    #[test]
    fn jitter_follows_a8() {
        let mut jb = JitterBuffer::new(Law::Pcmu, 5);
        jb.push(0, 0, &[0xFF; 160], 0);
        jb.push(1, 160, &[0xFF; 160], 240);
        let j1 = 80.0 / 16.0;
        assert!((jb.stats().jitter - j1).abs() < 1e-9);
        jb.push(2, 320, &[0xFF; 160], 320);
        let j2 = j1 + (80.0 - j1) / 16.0;
        assert!((jb.stats().jitter - j2).abs() < 1e-9);
        assert!((jb.stats().jitter_ms() - j2 / 8.0).abs() < 1e-9);
    }

    #[test]
    fn a_restart_beyond_max_dropout_resyncs() {
        let mut jb = JitterBuffer::new(Law::Pcmu, 1);
        jb.push(10, 0, &[0xFF; 160], 0);
        assert!(jb.pop().is_some());
        jb.push(30_000, 160, &[0xFF; 160], 160);
        assert!(jb.pop().is_some(), "playout resumes from the new sequence");
        assert_eq!(jb.stats().received, 2);
    }
}
