//! The receiving side of RFC 4733 §2.5.2: event packets in, one [`DtmfEvent`] per key press out, whatever the
//! network did to the packets (the final report retransmitted three times, reordering, loss).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{DtmfDigit, TelephoneEvent, TelephoneEventError};

/// A key press received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfEvent {
    /// The key.
    pub digit: DtmfDigit,
    /// The RTP timestamp of the event's start (§2.3).
    pub timestamp: u32,
    /// The longest duration reported for it, in RTP timestamp units (§2.3.5).
    pub duration: u16,
    /// Whether a final report (E bit, §2.3.2) arrived; `false` when all of them were lost and the event was
    /// closed by a later event or by the timeout.
    pub ended: bool,
}

impl DtmfEvent {
    /// The duration as time, at the negotiated clock rate.
    pub fn length(&self, clock_rate: u32) -> Duration {
        Duration::from_micros(u64::from(self.duration) * 1_000_000 / u64::from(clock_rate.max(1)))
    }
}

/// Counters of what the receiver saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DtmfReceiverStats {
    /// Well-formed packets handled.
    pub packets: u64,
    /// Payloads refused (not a multiple of 4 bytes).
    pub malformed: u64,
    /// Packets of an event already reported: the retransmitted final reports (§2.5.1.4) and late updates.
    pub repeats: u64,
    /// Packets of an event older than one already heard and never heard itself: dropped.
    pub stale: u64,
    /// Events that are not DTMF keys (codes above 15): tracked, not reported.
    pub other_events: u64,
    /// Events closed without a final report (all of them lost).
    pub unended: u64,
}

/// The event being received and not yet reported.
#[derive(Debug, Clone, Copy)]
struct Open {
    timestamp: u32,
    event: u8,
    duration: u16,
    last_heard: Instant,
    /// A later segment of a long event already reported (§2.5.1.3): closes silently.
    continuation: bool,
}

/// A closed event, remembered to recognise its late and repeated packets.
#[derive(Debug, Clone, Copy)]
struct Closed {
    timestamp: u32,
    event: u8,
    duration: u16,
}

/// How many closed events are remembered.
const REMEMBERED: usize = 16;

/// `a` is later than `b` in RTP timestamp order (serial arithmetic, RFC 3550 §5.1).
fn later(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Turns received telephone-event packets into key presses, one per event (RFC 4733 §2.5.2): an event is
/// reported when its first final report arrives, or — when all its final reports are lost — when a later event
/// starts or no packet of it has arrived for the timeout. Packets of an event already reported (the three
/// final reports, late updates) are counted and dropped.
///
/// Sans-IO: [`handle`] each authenticated packet of the negotiated telephone-event payload type with its RTP
/// timestamp, call [`handle_timeout`] at [`poll_timeout`], and take events from [`poll_event`].
///
/// [`handle`]: DtmfReceiver::handle
/// [`handle_timeout`]: DtmfReceiver::handle_timeout
/// [`poll_timeout`]: DtmfReceiver::poll_timeout
/// [`poll_event`]: DtmfReceiver::poll_event
#[derive(Debug)]
pub struct DtmfReceiver {
    timeout: Duration,
    open: Option<Open>,
    closed: VecDeque<Closed>,
    newest: Option<u32>,
    events: VecDeque<DtmfEvent>,
    stats: DtmfReceiverStats,
}

impl Default for DtmfReceiver {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfReceiver {
    /// Default time without packets after which an event without a final report is closed.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

    /// A receiver with the default timeout.
    pub fn new() -> Self {
        Self::with_timeout(Self::DEFAULT_TIMEOUT)
    }

    /// A receiver closing unended events after `timeout` without packets (at most an hour).
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout: timeout.min(Duration::from_secs(3600)),
            open: None,
            closed: VecDeque::with_capacity(REMEMBERED),
            newest: None,
            events: VecDeque::new(),
            stats: DtmfReceiverStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &DtmfReceiverStats {
        &self.stats
    }

    /// Handles one packet's RTP timestamp and payload. A malformed payload is a typed error and changes
    /// nothing but the `malformed` counter.
    pub fn handle(
        &mut self,
        now: Instant,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<(), TelephoneEventError> {
        let report = TelephoneEvent::decode(payload).inspect_err(|_| self.stats.malformed += 1)?;
        self.stats.packets += 1;
        if self.closed.iter().any(|c| c.timestamp == timestamp) {
            self.stats.repeats += 1;
            return Ok(());
        }
        if let Some(open) = self.open.as_mut() {
            if open.timestamp == timestamp {
                open.duration = open.duration.max(report.duration);
                open.last_heard = now;
                if report.end {
                    self.close(true);
                }
                return Ok(());
            }
        }
        if self.newest.is_some_and(|n| !later(timestamp, n)) {
            self.stats.stale += 1;
            return Ok(());
        }
        // A new event: whatever was open lost its final reports (or they are still on their way).
        if self.open.is_some() {
            self.close(false);
        }
        let continuation = self.closed.back().is_some_and(|c| {
            c.event == report.event && c.timestamp.wrapping_add(u32::from(c.duration)) == timestamp
        });
        self.newest = Some(timestamp);
        self.open = Some(Open {
            timestamp,
            event: report.event,
            duration: report.duration,
            last_heard: now,
            continuation,
        });
        if report.end {
            self.close(true);
        }
        Ok(())
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called, if an event is open.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.open.map(|o| o.last_heard + self.timeout)
    }

    /// Closes an open event whose packets stopped arriving `timeout` ago without a final report.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|t| now >= t) {
            self.close(false);
        }
    }

    /// Closes an open event now (the call ended).
    pub fn flush(&mut self) {
        if self.open.is_some() {
            self.close(false);
        }
    }

    /// The next key press, oldest first.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        self.events.pop_front()
    }

    fn close(&mut self, ended: bool) {
        let Some(open) = self.open.take() else {
            return;
        };
        if self.closed.len() == REMEMBERED {
            self.closed.pop_front();
        }
        self.closed.push_back(Closed {
            timestamp: open.timestamp,
            event: open.event,
            duration: open.duration,
        });
        if open.continuation {
            return;
        }
        if !ended {
            self.stats.unended += 1;
        }
        match DtmfDigit::from_event(open.event) {
            Some(digit) => self.events.push_back(DtmfEvent {
                digit,
                timestamp: open.timestamp,
                duration: open.duration,
                ended,
            }),
            None => self.stats.other_events += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DtmfConfig, DtmfPacket, DtmfSender};
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    /// The packets a default sender produces for `keys`, with their send time in ms.
    fn sent(keys: &str, first_ts: u32) -> Vec<(u32, DtmfPacket)> {
        let t0 = super::super::t0();
        let mut s = DtmfSender::new(DtmfConfig::default());
        s.enqueue(t0, &DtmfDigit::parse_all(keys).unwrap());
        let mut out = Vec::new();
        for t in 0..(keys.len() as u32 * 200 + 200) {
            while let Some(p) = s.poll(t0 + MS * t, first_ts.wrapping_add(8 * t)) {
                out.push((t, p));
            }
        }
        out
    }

    /// Feeds packets at their (ms) times, then runs the clock 1 s on; returns the keys reported.
    fn receive(rx: &mut DtmfReceiver, pkts: &[(u32, DtmfPacket)]) -> Vec<DtmfEvent> {
        let t0 = super::super::t0();
        let mut out = Vec::new();
        let last = pkts.iter().map(|(t, _)| *t).max().unwrap_or(0);
        for (t, p) in pkts {
            rx.handle_timeout(t0 + MS * *t);
            rx.handle(t0 + MS * *t, p.timestamp, &p.payload()).unwrap();
            out.extend(std::iter::from_fn(|| rx.poll_event()));
        }
        rx.handle_timeout(t0 + MS * (last + 1000));
        out.extend(std::iter::from_fn(|| rx.poll_event()));
        out
    }

    fn keys(events: &[DtmfEvent]) -> String {
        events.iter().map(|e| e.digit.as_char()).collect()
    }

    /// W-3, RFC 4733 §2.5.2 with §2.5.1.4: seven packets of one key, the final one three times — one event.
    #[test]
    fn rfc4733_2_5_2_one_event_despite_three_final_reports() {
        let pkts = sent("7", 5000);
        assert_eq!(pkts.len(), 7);
        let mut rx = DtmfReceiver::new();
        let ev = receive(&mut rx, &pkts);
        assert_eq!(
            ev,
            [DtmfEvent {
                digit: DtmfDigit::from_char('7').unwrap(),
                timestamp: 5000,
                duration: 800,
                ended: true
            }]
        );
        assert_eq!(ev[0].length(8000), Duration::from_millis(100));
        assert_eq!(rx.stats().repeats, 2);
        assert_eq!(rx.stats().packets, 7);
        assert_eq!(rx.poll_timeout(), None);
    }

    #[test]
    fn rfc4733_2_5_2_keys_in_order() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(
            keys(&receive(&mut rx, &sent("0123456789*#ABCD", 1))),
            "0123456789*#ABCD"
        );
        assert_eq!(rx.stats().unended, 0);
    }

    /// All final reports lost: the key is reported once when the next key starts, and the last key once the
    /// timeout passes.
    #[test]
    fn rfc4733_2_5_2_lost_final_reports() {
        let pkts: Vec<_> = sent("159", 0)
            .into_iter()
            .filter(|(_, p)| !p.event.end)
            .collect();
        let mut rx = DtmfReceiver::with_timeout(300 * MS);
        let t0 = super::super::t0();
        let mut got = Vec::new();
        for (t, p) in &pkts {
            rx.handle(t0 + MS * *t, p.timestamp, &p.payload()).unwrap();
            got.extend(std::iter::from_fn(|| rx.poll_event()));
        }
        assert_eq!(keys(&got), "15", "the third is still open");
        assert!(got.iter().all(|e| !e.ended && e.duration == 640));
        let last_heard = pkts.last().unwrap().0;
        assert_eq!(rx.poll_timeout(), Some(t0 + MS * (last_heard + 300)));
        rx.handle_timeout(t0 + MS * (last_heard + 299));
        assert_eq!(rx.poll_event(), None);
        rx.handle_timeout(t0 + MS * (last_heard + 300));
        assert_eq!(rx.poll_event().map(|e| e.digit.as_char()), Some('9'));
        assert_eq!(rx.poll_event(), None);
        assert_eq!(rx.stats().unended, 3);
        // flush at the end of a call closes an open event the same way.
        let mut rx = DtmfReceiver::new();
        rx.handle(t0, 10, &pkts[0].1.payload()).unwrap();
        rx.flush();
        assert_eq!(rx.poll_event().map(|e| e.digit.as_char()), Some('1'));
    }

    /// Reordering: updates after the final report, the next key's first packet before this key's final
    /// reports — still one event each, in order.
    #[test]
    fn rfc4733_2_5_2_reordered_packets() {
        let mut pkts = sent("42", 100);
        // Key 4: packets 0..7 (4..7 its final reports); key 2: 7..14. Key 2's first packet overtakes key 4's
        // last update and final reports; within key 2, two updates arrive after its first final report.
        let k2_first = pkts.remove(7);
        pkts.insert(3, k2_first);
        pkts.swap(9, 11);
        pkts.swap(10, 12);
        let mut rx = DtmfReceiver::new();
        let ev = receive(&mut rx, &pkts);
        assert_eq!(keys(&ev), "42");
        assert!(
            !ev[0].ended,
            "closed by key 2's start before its final report arrived"
        );
        assert_eq!(ev[0].duration, 480);
        assert!(ev[1].ended);
        assert_eq!(ev[1].duration, 800);
        // Key 4's late update and 3 final reports, key 2's 2 late updates and 2 more final reports.
        assert_eq!(rx.stats().repeats, 8);
    }

    /// Only one packet of a key survives (the last retransmission of its final report): reported once.
    #[test]
    fn rfc4733_2_5_2_single_surviving_packet() {
        let pkts = sent("8", 0);
        let mut rx = DtmfReceiver::new();
        let ev = receive(&mut rx, &pkts[6..]);
        assert_eq!(keys(&ev), "8");
        assert!(ev[0].ended && ev[0].duration == 800);
    }

    /// Network input: a bad payload is a typed error and leaves the open event as it was.
    #[test]
    fn malformed_payload_changes_nothing() {
        let pkts = sent("3", 0);
        let t0 = super::super::t0();
        let mut rx = DtmfReceiver::new();
        rx.handle(t0, 0, &pkts[0].1.payload()).unwrap();
        let before = rx.poll_timeout();
        for bad in [&[][..], &[1, 2, 3], &[1, 2, 3, 4, 5]] {
            assert_eq!(
                rx.handle(t0 + MS * 5, 0, bad),
                Err(TelephoneEventError::Length(bad.len()))
            );
        }
        assert_eq!(rx.poll_timeout(), before);
        assert_eq!(rx.stats().malformed, 3);
        assert_eq!(rx.stats().packets, 1);
        assert_eq!(keys(&receive(&mut rx, &pkts[1..])), "3");
    }

    /// Non-DTMF events (codes > 15, §3 and RFC 4734) are tracked so their repeats are dropped, but not keys.
    #[test]
    fn other_events_are_not_keys() {
        let t0 = super::super::t0();
        let mut rx = DtmfReceiver::new();
        let flash = TelephoneEvent {
            event: 16,
            end: true,
            volume: 10,
            duration: 800,
        };
        for _ in 0..3 {
            rx.handle(t0, 42, &flash.encode()).unwrap();
        }
        assert_eq!(rx.poll_event(), None);
        assert_eq!((rx.stats().other_events, rx.stats().repeats), (1, 2));
    }

    /// Timestamps wrap (RFC 3550 §5.1): a key starting just before 2^32 and one after are both new events.
    #[test]
    fn timestamps_wrap() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(keys(&receive(&mut rx, &sent("12", u32::MAX - 500))), "12");
        assert_eq!(rx.stats().stale, 0);
    }

    /// A packet of an event older than one already heard, and never heard itself, is stale: dropped.
    #[test]
    fn older_unknown_event_is_stale() {
        let t0 = super::super::t0();
        let mut rx = DtmfReceiver::new();
        let r = |e| {
            TelephoneEvent {
                event: e,
                end: false,
                volume: 10,
                duration: 160,
            }
            .encode()
        };
        rx.handle(t0, 10_000, &r(1)).unwrap();
        rx.handle(t0, 9_000, &r(2)).unwrap();
        rx.flush();
        assert_eq!(
            keys(&std::iter::from_fn(|| rx.poll_event()).collect::<Vec<_>>()),
            "1"
        );
        assert_eq!(rx.stats().stale, 1);
    }

    /// §2.5.1.3: a long key is sent in segments, each with a new timestamp that starts where the last ended;
    /// it is still one key press.
    #[test]
    fn rfc4733_2_5_1_3_long_event_segments_are_one_key() {
        let t0 = super::super::t0();
        let mut rx = DtmfReceiver::new();
        let seg = |end| {
            TelephoneEvent {
                event: 5,
                end,
                volume: 10,
                duration: u16::MAX,
            }
            .encode()
        };
        rx.handle(t0, 1000, &seg(false)).unwrap();
        rx.handle(t0, 1000 + 65_535, &seg(false)).unwrap();
        rx.handle(t0, 1000 + 2 * 65_535, &seg(true)).unwrap();
        rx.flush();
        let ev: Vec<_> = std::iter::from_fn(|| rx.poll_event()).collect();
        assert_eq!(keys(&ev), "5");
        // The same key pressed again later (a gap in timestamps) is a new press.
        rx.handle(t0, 1000 + 3 * 65_535 + 800, &seg(true)).unwrap();
        assert_eq!(rx.poll_event().map(|e| e.digit.as_char()), Some('5'));
    }

    proptest! {
        /// Loss, duplication and any reordering *within* each key's packets: every key with a surviving packet
        /// is reported exactly once, in order; keys with none are not invented.
        #[test]
        fn every_surviving_key_once(
            keys_in in "[0-9*#A-D]{1,6}",
            keep in proptest::collection::vec(0u8..4, 42),
            dup in proptest::collection::vec(any::<bool>(), 42),
            seed in any::<u64>(),
        ) {
            let pkts = sent(&keys_in, 77);
            let mut by_key: Vec<Vec<(u32, DtmfPacket)>> = Vec::new();
            for (i, p) in pkts.iter().enumerate() {
                if p.1.marker { by_key.push(Vec::new()); }
                if keep[i % keep.len()] != 0 {
                    by_key.last_mut().unwrap().push(*p);
                    if dup[i % dup.len()] { by_key.last_mut().unwrap().push(*p); }
                }
            }
            let mut want = String::new();
            let mut feed = Vec::new();
            let mut x = seed | 1;
            for (k, group) in by_key.iter_mut().enumerate() {
                // Deterministic shuffle (xorshift), arrival times kept increasing.
                for i in (1..group.len()).rev() {
                    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                    group.swap(i, (x % (i as u64 + 1)) as usize);
                }
                if !group.is_empty() { want.push(keys_in.chars().nth(k).unwrap()); }
                let base = k as u32 * 200;
                feed.extend(group.iter().enumerate().map(|(j, (_, p))| (base + j as u32 * 10, *p)));
            }
            let mut rx = DtmfReceiver::new();
            prop_assert_eq!(keys(&receive(&mut rx, &feed)), want);
        }

        /// Any order at all: no key press is reported twice.
        #[test]
        fn never_twice(keys_in in "[0-9]{1,5}", order in proptest::collection::vec(any::<u16>(), 35)) {
            let mut pkts = sent(&keys_in, 0);
            let mut idx: Vec<usize> = (0..pkts.len()).collect();
            idx.sort_by_key(|&i| order[i % order.len()]);
            pkts = idx.iter().enumerate().map(|(t, &i)| (t as u32 * 20, pkts[i].1)).collect();
            let mut rx = DtmfReceiver::new();
            let ev = receive(&mut rx, &pkts);
            let mut ts: Vec<u32> = ev.iter().map(|e| e.timestamp).collect();
            ts.sort_unstable();
            ts.dedup();
            prop_assert_eq!(ts.len(), ev.len());
            prop_assert!(ev.len() <= keys_in.len());
        }
    }
}
