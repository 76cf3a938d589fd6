//! Transaction timers as data: a closed set of named deadlines (RFC 3261 §17, Table 4; RFC 6026 §8).

use std::time::{Duration, Instant};

/// Every timer a transaction can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE client: request retransmit (unreliable only), T1 doubling.
    A,
    /// INVITE client: transaction timeout, 64*T1.
    B,
    /// INVITE client: wait for response retransmits in Completed, 32 s (unreliable).
    D,
    /// Non-INVITE client: request retransmit (unreliable only), T1 doubling capped at T2.
    E,
    /// Non-INVITE client: transaction timeout, 64*T1.
    F,
    /// Non-INVITE client: wait for response retransmits in Completed, T4 (unreliable).
    K,
    /// INVITE server: final response retransmit (unreliable only), T1 doubling capped at T2.
    G,
    /// INVITE server: wait for ACK, 64*T1.
    H,
    /// INVITE server: wait for ACK retransmits in Confirmed, T4 (unreliable).
    I,
    /// Non-INVITE server: wait for request retransmits in Completed, 64*T1 (unreliable).
    J,
    /// INVITE server: Accepted state lifetime, 64*T1 (RFC 6026 §8.7).
    L,
    /// INVITE client: Accepted state lifetime, 64*T1 (RFC 6026 §8.4).
    M,
    /// INVITE server: send 100 Trying if the TU has not answered (RFC 3261 §17.2.1), 200 ms.
    Trying100,
}

const ALL: [Timer; 13] = [
    Timer::A,
    Timer::B,
    Timer::D,
    Timer::E,
    Timer::F,
    Timer::K,
    Timer::G,
    Timer::H,
    Timer::I,
    Timer::J,
    Timer::L,
    Timer::M,
    Timer::Trying100,
];

/// The RFC 3261 timer values (§17.1.1.1, Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, default 500 ms.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, default 5 s.
    pub t4: Duration,
    /// Delay before an INVITE server transaction sends 100 Trying on its own, default 200 ms.
    pub trying_delay: Duration,
    /// Timer D on unreliable transports, default 32 s (at least 32 s, §17.1.1.2).
    pub timer_d: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            trying_delay: Duration::from_millis(200),
            timer_d: Duration::from_secs(32),
        }
    }
}

impl TimerConfig {
    /// 64*T1: timers B, F, H, J, L, M.
    pub fn timeout(&self) -> Duration {
        self.t1.saturating_mul(64)
    }
}

/// One optional deadline per [`Timer`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Deadlines {
    at: [Option<Instant>; 13],
}

impl Deadlines {
    fn slot(&mut self, t: Timer) -> Option<&mut Option<Instant>> {
        self.at.get_mut(t as usize)
    }
    pub(crate) fn set(&mut self, t: Timer, when: Instant) {
        if let Some(s) = self.slot(t) {
            *s = Some(when);
        }
    }
    pub(crate) fn clear(&mut self, t: Timer) {
        if let Some(s) = self.slot(t) {
            *s = None;
        }
    }
    pub(crate) fn clear_all(&mut self) {
        self.at = [None; 13];
    }
    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.at.get(t as usize).copied().flatten()
    }
    /// The earliest armed timer.
    pub(crate) fn next(&self) -> Option<(Timer, Instant)> {
        ALL.iter()
            .filter_map(|&t| self.get(t).map(|at| (t, at)))
            .min_by_key(|&(_, at)| at)
    }
    /// The earliest timer due at `now`, disarmed, with its deadline.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Timer, Instant)> {
        let (t, at) = self.next()?;
        if at <= now {
            self.clear(t);
            Some((t, at))
        } else {
            None
        }
    }
}
