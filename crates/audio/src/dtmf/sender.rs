//! The sending side of RFC 4733 §2.5.1: digits in, event packets out, paced by the caller's clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{DtmfDigit, TelephoneEvent};

/// How digits are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DtmfConfig {
    /// Interval between the packets of an event (the audio packet time, §2.5.1.2). Default 20 ms.
    pub ptime: Duration,
    /// How long each key is held. Default 100 ms (at least one `ptime`; at most what the 16-bit duration field
    /// holds, §2.5.1.3 segments are not sent).
    pub tone: Duration,
    /// Silence between two keys, counted from the end of one tone to the start of the next. Default 100 ms.
    pub gap: Duration,
    /// Power level as −dBm0 (§2.3.4). Default 10.
    pub volume: u8,
    /// The RTP clock rate of the negotiated `telephone-event` (§2.3.5 durations are in its units). Default 8000.
    pub clock_rate: u32,
}

impl Default for DtmfConfig {
    fn default() -> Self {
        Self {
            ptime: Duration::from_millis(20),
            tone: Duration::from_millis(100),
            gap: Duration::from_millis(100),
            volume: 10,
            clock_rate: 8000,
        }
    }
}

impl DtmfConfig {
    /// The default configuration (20 ms packets, 100 ms tones, 100 ms gaps, 8 kHz clock).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the key-hold time.
    pub fn with_tone(mut self, tone: Duration) -> Self {
        self.tone = tone;
        self
    }

    /// Sets the gap between keys.
    pub fn with_gap(mut self, gap: Duration) -> Self {
        self.gap = gap;
        self
    }

    /// Sets the packet interval.
    pub fn with_ptime(mut self, ptime: Duration) -> Self {
        self.ptime = ptime;
        self
    }

    /// Sets the RTP clock rate.
    pub fn with_clock_rate(mut self, clock_rate: u32) -> Self {
        self.clock_rate = clock_rate;
        self
    }

    fn ticks(&self, d: Duration) -> u64 {
        (d.as_micros() * u128::from(self.clock_rate.max(1)) / 1_000_000).min(u128::from(u64::MAX))
            as u64
    }
}

/// One packet to send: put `event.encode()` in an RTP packet of the negotiated telephone-event payload type
/// with this marker bit and timestamp, numbered in the audio stream's sequence (§2.5.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// Set on the first packet of an event only (§2.5.1.2), not on the retransmitted end packets.
    pub marker: bool,
    /// The RTP timestamp of the event's start, the same in every packet of the event (§2.5.1.2).
    pub timestamp: u32,
    /// The report: duration growing packet by packet, E bit on the last three (§2.5.1.4).
    pub event: TelephoneEvent,
}

impl DtmfPacket {
    /// The RTP payload (4 bytes).
    pub fn payload(&self) -> [u8; 4] {
        self.event.encode()
    }
}

/// An event being sent.
#[derive(Debug, Clone, Copy)]
struct Sending {
    digit: DtmfDigit,
    start: Instant,
    timestamp: u32,
    /// Index of the next packet (0-based).
    next: u32,
}

/// Sends queued digits as RFC 4733 events (§2.5.1): for each key, packets every `ptime` with the event's start
/// timestamp and a growing duration, the first with the marker bit, then the final report (E bit) three times
/// (§2.5.1.4); then `gap` before the next key.
///
/// Sans-IO: the caller passes `now` and the audio stream's current RTP timestamp, sends what [`poll`] returns
/// and calls again at [`poll_timeout`]. While [`is_sending`] is true the caller should not send audio packets
/// (the event stands in for the audio of that time; sending both could play the key twice).
///
/// [`poll`]: DtmfSender::poll
/// [`poll_timeout`]: DtmfSender::poll_timeout
/// [`is_sending`]: DtmfSender::is_sending
#[derive(Debug)]
pub struct DtmfSender {
    config: DtmfConfig,
    ptime_ticks: u64,
    /// Duration field of the final report.
    tone_ticks: u16,
    /// Packets per event before the end retransmissions: ceil(tone / ptime), at least 1.
    updates: u32,
    queue: VecDeque<DtmfDigit>,
    sending: Option<Sending>,
    /// When the next key may start.
    ready_at: Option<Instant>,
}

/// Total times the final report is sent (§2.5.1.4).
const END_SENDS: u32 = 3;

impl DtmfSender {
    /// A sender with this configuration; nonsensical values are clamped (`ptime` 1 ms..=1 s, `tone` ≥ `ptime`
    /// and within the 16-bit duration field, `gap` ≤ 60 s, `clock_rate` 1 kHz..=192 kHz).
    pub fn new(config: DtmfConfig) -> Self {
        let mut config = config;
        config.clock_rate = config.clock_rate.clamp(1000, 192_000);
        config.ptime = config
            .ptime
            .clamp(Duration::from_millis(1), Duration::from_secs(1));
        config.gap = config.gap.min(Duration::from_secs(60));
        config.tone = config.tone.max(config.ptime);
        let ptime_ticks = config.ticks(config.ptime).max(1);
        let tone_ticks = config.ticks(config.tone).clamp(1, u64::from(u16::MAX));
        config.tone = Duration::from_micros(tone_ticks * 1_000_000 / u64::from(config.clock_rate));
        let updates = tone_ticks
            .div_ceil(ptime_ticks)
            .min(u64::from(u32::MAX - END_SENDS)) as u32;
        Self {
            config,
            ptime_ticks,
            tone_ticks: tone_ticks as u16,
            updates,
            queue: VecDeque::new(),
            sending: None,
            ready_at: None,
        }
    }

    /// The configuration in use (after clamping).
    pub fn config(&self) -> &DtmfConfig {
        &self.config
    }

    /// Queues keys to send after any already queued; the first may start at `now`.
    pub fn enqueue(&mut self, now: Instant, digits: &[DtmfDigit]) {
        if self.queue.is_empty() && self.sending.is_none() {
            self.ready_at = Some(self.ready_at.map_or(now, |r| r.max(now)));
        }
        self.queue.extend(digits);
    }

    /// Keys queued and not yet started.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// True while an event's packets are being sent (the caller holds back audio packets meanwhile).
    pub fn is_sending(&self) -> bool {
        self.sending.is_some()
    }

    /// True when nothing is queued or being sent.
    pub fn is_idle(&self) -> bool {
        self.sending.is_none() && self.queue.is_empty()
    }

    /// When [`poll`](Self::poll) has the next packet, if anything is left to send.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.sending {
            Some(s) => Some(s.start + self.config.ptime * s.next),
            None if !self.queue.is_empty() => self.ready_at,
            None => None,
        }
    }

    /// The next packet due at `now`, if any; call until `None`. `rtp_timestamp` is the audio stream's RTP
    /// timestamp at `now`: it becomes the timestamp of an event that starts now (§2.5.1.2) and is ignored
    /// otherwise.
    pub fn poll(&mut self, now: Instant, rtp_timestamp: u32) -> Option<DtmfPacket> {
        if self.sending.is_none() {
            if self.ready_at.is_some_and(|r| r > now) {
                return None;
            }
            let digit = self.queue.pop_front()?;
            self.sending = Some(Sending {
                digit,
                start: now,
                timestamp: rtp_timestamp,
                next: 0,
            });
        }
        let s = self.sending.as_mut()?;
        let k = s.next;
        if s.start + self.config.ptime * k > now {
            return None;
        }
        s.next += 1;
        let end = k + 1 >= self.updates;
        let duration = if end {
            self.tone_ticks
        } else {
            (u64::from(k + 1) * self.ptime_ticks).min(u64::from(self.tone_ticks)) as u16
        };
        let packet = DtmfPacket {
            marker: k == 0,
            timestamp: s.timestamp,
            event: TelephoneEvent {
                event: s.digit.event(),
                end,
                volume: self.config.volume,
                duration,
            },
        };
        if s.next >= self.updates + END_SENDS - 1 {
            // The last retransmission of the final report: the next key starts `gap` after the tone ended,
            // and never before the next packet slot.
            let tone_end = s.start + self.config.tone + self.config.gap;
            let next_slot = s.start + self.config.ptime * s.next;
            self.ready_at = Some(tone_end.max(next_slot));
            self.sending = None;
        }
        Some(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Runs the sender on a 1 ms clock from `t0`, the audio timestamp advancing 8 per ms; returns
    /// (ms since t0, packet).
    fn run(sender: &mut DtmfSender, t0: Instant, ms: u64) -> Vec<(u64, DtmfPacket)> {
        let mut out = Vec::new();
        for t in 0..ms {
            let now = t0 + MS * t as u32;
            while let Some(p) = sender.poll(now, 1000 + 8 * t as u32) {
                out.push((t, p));
            }
        }
        out
    }

    /// W-3, RFC 4733 §2.5.1.2 and §2.5.1.4: one 100 ms key at 20 ms — marker on the first packet only, one
    /// timestamp, duration growing by 160, the final report (E) sent three times with the full duration.
    #[test]
    fn rfc4733_2_5_1_one_key_is_seven_packets() {
        let t0 = super::super::t0();
        let mut s = DtmfSender::new(DtmfConfig::default());
        assert!(s.is_idle() && s.poll_timeout().is_none());
        s.enqueue(t0, &[DtmfDigit::from_char('5').unwrap()]);
        assert_eq!(s.poll_timeout(), Some(t0));
        let pkts = run(&mut s, t0, 1000);
        let times: Vec<u64> = pkts.iter().map(|(t, _)| *t).collect();
        assert_eq!(times, [0, 20, 40, 60, 80, 100, 120]);
        assert!(pkts
            .iter()
            .all(|(_, p)| p.timestamp == 1000 && p.event.event == 5));
        let markers: Vec<bool> = pkts.iter().map(|(_, p)| p.marker).collect();
        assert_eq!(markers, [true, false, false, false, false, false, false]);
        let durations: Vec<u16> = pkts.iter().map(|(_, p)| p.event.duration).collect();
        assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
        let ends: Vec<bool> = pkts.iter().map(|(_, p)| p.event.end).collect();
        assert_eq!(ends, [false, false, false, false, true, true, true]);
        assert!(pkts.iter().all(|(_, p)| p.event.volume == 10));
        assert_eq!(pkts[0].1.payload(), [5, 10, 0, 160]);
        assert!(s.is_idle());
    }

    /// Several keys: each its own event with its own timestamp (the audio clock when it started), separated
    /// by the gap; nothing is sent between the final report and the next key.
    #[test]
    fn rfc4733_2_5_1_keys_in_sequence_with_gaps() {
        let t0 = super::super::t0();
        let mut s = DtmfSender::new(DtmfConfig::default());
        s.enqueue(t0, &DtmfDigit::parse_all("12#").unwrap());
        assert_eq!(s.queued(), 3);
        let pkts = run(&mut s, t0, 2000);
        assert_eq!(pkts.len(), 21);
        let starts: Vec<(u64, u32, u8)> = pkts
            .iter()
            .filter(|(_, p)| p.marker)
            .map(|(t, p)| (*t, p.timestamp, p.event.event))
            .collect();
        // tone 100 ms + gap 100 ms: keys start every 200 ms; timestamps follow the audio clock (8 per ms).
        assert_eq!(starts, [(0, 1000, 1), (200, 2600, 2), (400, 4200, 11)]);
        for (_, p) in &pkts {
            let start = starts.iter().find(|s| s.2 == p.event.event).unwrap();
            assert_eq!(p.timestamp, start.1, "one timestamp per event");
        }
        assert!(s.is_idle());
    }

    /// `is_sending` covers exactly the event's packets; `poll_timeout` names each next packet; keys queued
    /// while another is being sent wait for it and the gap.
    #[test]
    fn timeouts_and_queueing_during_an_event() {
        let t0 = super::super::t0();
        let mut s = DtmfSender::new(DtmfConfig::default().with_gap(60 * MS));
        s.enqueue(t0, &[DtmfDigit::from_char('9').unwrap()]);
        assert!(s.poll(t0, 0).unwrap().marker);
        assert!(s.is_sending());
        assert_eq!(s.poll(t0 + 19 * MS, 0), None);
        assert_eq!(s.poll_timeout(), Some(t0 + 20 * MS));
        s.enqueue(t0 + 30 * MS, &[DtmfDigit::from_char('0').unwrap()]);
        let rest = run(&mut s, t0, 1000);
        let second: Vec<u64> = rest
            .iter()
            .filter(|(_, p)| p.event.event == 0)
            .map(|(t, _)| *t)
            .collect();
        // The first tone ends at 100 ms; 60 ms gap, but its last final report went out at 120 ms, so the next
        // key starts at 160 ms.
        assert_eq!(second.first(), Some(&160));
        assert_eq!(second.len(), 7);
        assert!(!s.is_sending());
    }

    /// A tone no longer than one packet is a single report that is also the end, marker set once.
    #[test]
    fn short_tone_is_one_report_sent_three_times() {
        let t0 = super::super::t0();
        let mut s = DtmfSender::new(DtmfConfig::default().with_tone(10 * MS));
        s.enqueue(t0, &[DtmfDigit::from_char('A').unwrap()]);
        let pkts = run(&mut s, t0, 500);
        let summary: Vec<(bool, bool, u16)> = pkts
            .iter()
            .map(|(_, p)| (p.marker, p.event.end, p.event.duration))
            .collect();
        // Tone clamped up to one ptime: duration 160.
        assert_eq!(
            summary,
            [(true, true, 160), (false, true, 160), (false, true, 160)]
        );
    }

    /// Durations are in the negotiated clock's units (§2.3.5), and absurd settings are clamped, not panics.
    #[test]
    fn clock_rate_and_clamping() {
        let t0 = super::super::t0();
        let mut s = DtmfSender::new(DtmfConfig::default().with_clock_rate(48_000));
        s.enqueue(t0, &[DtmfDigit::from_char('1').unwrap()]);
        let last = run(&mut s, t0, 500).last().unwrap().1;
        assert_eq!(last.event.duration, 4800);

        let mut s = DtmfSender::new(
            DtmfConfig::default()
                .with_ptime(Duration::ZERO)
                .with_tone(Duration::from_secs(3600))
                .with_gap(Duration::MAX)
                .with_clock_rate(0),
        );
        assert!(s.config().ptime >= MS);
        s.enqueue(t0, &DtmfDigit::parse_all("12").unwrap());
        let mut sent = 0;
        for t in 0..100_000u32 {
            while s.poll(t0 + MS * t, 0).is_some() {
                sent += 1;
            }
        }
        // Clock clamped to 1 kHz, the tone to 65,535 ticks (65.5 s): one packet a millisecond, then the final
        // report twice more; the second key waits for the gap, clamped to 60 s.
        assert_eq!(s.config().tone, Duration::from_millis(65_535));
        assert_eq!(sent, 65_535 + 2);
        assert_eq!(
            s.poll_timeout(),
            Some(t0 + Duration::from_millis(65_535) + Duration::from_secs(60))
        );
        let mut s = DtmfSender::new(DtmfConfig::default().with_ptime(Duration::MAX));
        assert_eq!(s.config().ptime, Duration::from_secs(1));
        s.enqueue(t0, &[DtmfDigit::from_char('1').unwrap()]);
        assert!(s.poll(t0, 0).is_some());
    }
}
