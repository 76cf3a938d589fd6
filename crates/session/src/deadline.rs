//! A named deadline table: each timer of a leg or session has a name (for debugging and logs);
//! [`Deadlines::next`] is what `poll_timeout` returns.

use std::time::Instant;

/// Deadlines by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deadlines {
    entries: Vec<(&'static str, Instant)>,
}

impl Deadlines {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or moves) the deadline `name`.
    pub fn set(&mut self, name: &'static str, at: Instant) {
        match self.entries.iter_mut().find(|e| e.0 == name) {
            Some(e) => e.1 = at,
            None => self.entries.push((name, at)),
        }
    }

    /// Removes the deadline `name`.
    pub fn clear(&mut self, name: &'static str) {
        self.entries.retain(|e| e.0 != name);
    }

    /// The deadline `name`.
    pub fn get(&self, name: &'static str) -> Option<Instant> {
        self.entries.iter().find(|e| e.0 == name).map(|e| e.1)
    }

    /// The earliest deadline and its name.
    pub fn next(&self) -> Option<(&'static str, Instant)> {
        self.entries.iter().copied().min_by_key(|e| e.1)
    }

    /// Removes and returns the names of the deadlines due at `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<&'static str> {
        let due: Vec<_> = self
            .entries
            .iter()
            .filter(|e| e.1 <= now)
            .map(|e| e.0)
            .collect();
        self.entries.retain(|e| e.1 > now);
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    #[allow(clippy::disallowed_methods)] // the test's clock
    fn earliest_named_deadline_and_expiry() {
        let t0 = std::time::Instant::now(); // test clock
        let mut d = Deadlines::new();
        d.set("media", t0 + Duration::from_secs(30));
        d.set("rtcp", t0 + Duration::from_secs(5));
        assert_eq!(d.next(), Some(("rtcp", t0 + Duration::from_secs(5))));
        d.set("rtcp", t0 + Duration::from_secs(40));
        assert_eq!(d.next().map(|n| n.0), Some("media"));
        assert_eq!(d.expire(t0 + Duration::from_secs(31)), vec!["media"]);
        assert_eq!(d.next().map(|n| n.0), Some("rtcp"));
        d.clear("rtcp");
        assert_eq!(d.next(), None);
    }
}
