//! The ladder diagram the demo prints: what really crossed the wire, with times, in the style of RFC 5763 §7.

use std::time::Instant;

/// Names the DTLS records of one datagram (RFC 6347 §4.1 record header; handshake type at offset 13 of an
/// epoch-0 handshake record). Total over any input: unknown or truncated records are named as such.
pub(crate) fn describe_dtls(datagram: &[u8]) -> String {
    let mut names: Vec<String> = Vec::new();
    let mut rest = datagram;
    while !rest.is_empty() {
        let (Some(&content_type), Some(epoch), Some(len)) =
            (rest.first(), rest.get(3..5), rest.get(11..13))
        else {
            names.push("truncated record".into());
            break;
        };
        let epoch = u16::from_be_bytes([epoch[0], epoch[1]]);
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let Some(body) = rest.get(13..13 + len) else {
            names.push("truncated record".into());
            break;
        };
        let name = match (content_type, epoch) {
            (20, _) => "ChangeCipherSpec".to_string(),
            (21, 0) => "Alert".to_string(),
            (21, _) => "Alert (encrypted)".to_string(),
            (22, 0) => handshake_name(body).to_string(),
            (22, _) => "Finished (encrypted)".to_string(),
            (23, _) => "ApplicationData".to_string(),
            (t, _) => format!("record type {t}"),
        };
        // Several fragments of one message in a row print once.
        if names.last() != Some(&name) {
            names.push(name);
        }
        rest = rest.get(13 + len..).unwrap_or_default();
    }
    names.join(", ")
}

fn handshake_name(body: &[u8]) -> &'static str {
    match body.first() {
        Some(0) => "HelloRequest",
        Some(1) => "ClientHello",
        Some(2) => "ServerHello",
        Some(3) => "HelloVerifyRequest",
        Some(4) => "NewSessionTicket",
        Some(11) => "Certificate",
        Some(12) => "ServerKeyExchange",
        Some(13) => "CertificateRequest",
        Some(14) => "ServerHelloDone",
        Some(15) => "CertificateVerify",
        Some(16) => "ClientKeyExchange",
        Some(20) => "Finished",
        _ => "handshake",
    }
}

/// Who a ladder line is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Party {
    Alice,
    Bob,
    /// The second callee of the forking demo, drawn in Bob's column with her name.
    Carol,
}

impl Party {
    fn name(self) -> &'static str {
        match self {
            Party::Alice => "alice",
            Party::Bob => "bob",
            Party::Carol => "carol",
        }
    }
}

/// Prints one line per event, with milliseconds since the start.
pub(crate) struct Ladder {
    start: Instant,
    pub(crate) lines: usize,
}

impl Ladder {
    /// The column header (text mode only).
    pub(crate) fn header(&self) {
        if !crate::output::json() {
            crate::say!(
                "    t (ms)  Alice (offerer)                                               Bob (answerer)"
            );
        }
    }

    /// A ladder that starts at `start`, its header not printed yet.
    pub(crate) fn unprinted(start: Instant) -> Self {
        Self { start, lines: 0 }
    }

    fn stamp(&self, now: Instant) -> f64 {
        now.duration_since(self.start).as_secs_f64() * 1000.0
    }

    /// A message from `from` to the other party.
    pub(crate) fn arrow(&mut self, now: Instant, from: Party, what: &str) {
        let t = self.stamp(now);
        let line = match from {
            Party::Alice => format!(
                "{t:>10.1}  |--- {what} {}>|",
                "-".repeat(70usize.saturating_sub(what.len()))
            ),
            Party::Bob => format!(
                "{t:>10.1}  |<{} {what} ---|",
                "-".repeat(70usize.saturating_sub(what.len()))
            ),
            Party::Carol => format!(
                "{t:>10.1}  |<{} {what} (Carol) ---|",
                "-".repeat(62usize.saturating_sub(what.len()))
            ),
        };
        crate::output::event(
            "ladder",
            serde_json::json!({"t_ms": t, "from": from.name(), "arrow": true, "what": what}),
            &line,
        );
        self.lines += 1;
    }

    /// Something that happened at one party.
    pub(crate) fn note(&mut self, now: Instant, at: Party, what: &str) {
        let t = self.stamp(now);
        let line = match at {
            Party::Alice => format!("{t:>10.1}  [Alice] {what}"),
            Party::Bob => format!("{t:>10.1}  {:>78}", format!("{what} [Bob]")),
            Party::Carol => format!("{t:>10.1}  {:>78}", format!("{what} [Carol]")),
        };
        crate::output::event(
            "ladder",
            serde_json::json!({"t_ms": t, "at": at.name(), "arrow": false, "what": what}),
            &line,
        );
        self.lines += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_client_hello_and_survives_garbage() {
        // record: handshake, DTLS 1.2 (fe fd), epoch 0, seq 0, length 4, body: ClientHello type + 3 bytes
        let rec = [22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0];
        assert_eq!(describe_dtls(&rec), "ClientHello");
        let mut two = rec.to_vec();
        two.extend_from_slice(&[20, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1]);
        assert_eq!(describe_dtls(&two), "ClientHello, ChangeCipherSpec");
        assert_eq!(describe_dtls(&rec[..7]), "truncated record");
        assert_eq!(describe_dtls(&rec[..15]), "truncated record");
        for n in 0..=255u8 {
            let _ = describe_dtls(&[n; 40]);
        }
    }
}
