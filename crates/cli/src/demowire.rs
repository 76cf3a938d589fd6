//! The SIP demo's "network": an [`Interposer`] on each user agent's driver that draws every datagram the agent
//! sends on the ladder (SIP messages, DTLS flights) and, per scenario, plays the middlebox: it delays Bob's
//! first 200 OK behind his ClientHello (F-5.8) or rewrites his fingerprint (a man in the middle, F-5.15).
//!
//! It runs in the driver task, before the socket, so the ladder shows the order things really went out in.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use dtlsrtp::Transmit;
use dtlsrtp_tokio::interpose::Interposer;
use dtlsrtp_tokio::{classify, PacketKind};
use tokio::net::UdpSocket;

use crate::ladder::{describe_dtls, Ladder, Party};

/// The ladder, shared by the demo task and the agents' interposers.
pub(crate) type SharedLadder = Arc<Mutex<Ladder>>;

/// Runs `f` on the shared ladder (a panic elsewhere never hides the ladder).
pub(crate) fn with_ladder<T>(l: &SharedLadder, f: impl FnOnce(&mut Ladder) -> T) -> T {
    f(&mut l.lock().unwrap_or_else(PoisonError::into_inner))
}

/// What the network does to one agent's datagrams.
#[derive(Default)]
pub(crate) struct Tricks {
    /// (the agent's fingerprint, a forged one): a middlebox substitutes the forged one in the agent's SDP.
    pub(crate) forge: Option<(String, String)>,
    /// Hold the agent's first 2xx to an INVITE until [`Wire::release`].
    pub(crate) hold_first_200: bool,
}

#[derive(Default)]
struct Held {
    done_once: bool,
    since: Option<Instant>,
    datagrams: Vec<(Transmit, Arc<UdpSocket>)>,
}

/// One agent's interposer.
pub(crate) struct Wire {
    party: Party,
    ladder: SharedLadder,
    sip: OnceLock<SocketAddr>,
    tricks: Tricks,
    held: Mutex<Held>,
}

impl Wire {
    pub(crate) fn new(party: Party, ladder: SharedLadder, tricks: Tricks) -> Self {
        Self {
            party,
            ladder,
            sip: OnceLock::new(),
            tricks,
            held: Mutex::new(Held::default()),
        }
    }

    /// The agent's SIP address, once its driver is bound: datagrams from there are SIP.
    pub(crate) fn set_sip(&self, sip: SocketAddr) {
        let _ = self.sip.set(sip);
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Since when a datagram has been held, if one is.
    pub(crate) fn held_since(&self) -> Option<Instant> {
        let h = self.held();
        h.since.filter(|_| !h.datagrams.is_empty())
    }

    /// Sends what was held, drawing it on the ladder now.
    pub(crate) fn release(&self) {
        let datagrams = std::mem::take(&mut self.held().datagrams);
        for (t, socket) in datagrams {
            with_ladder(&self.ladder, |l| {
                l.arrow(Instant::now(), self.party, &describe_sip(&t.bytes));
            });
            if socket.try_send_to(&t.bytes, t.remote).is_err() {
                // The socket buffer is full (or the send failed): send it from a task instead.
                tokio::spawn(async move {
                    let _ = socket.send_to(&t.bytes, t.remote).await;
                });
            }
        }
    }
}

impl Interposer for Wire {
    fn outgoing(&self, t: &mut Transmit, socket: &Arc<UdpSocket>) -> bool {
        let now = Instant::now();
        if self.sip.get() != Some(&t.local) {
            if classify(&t.bytes) == PacketKind::Dtls {
                let what = format!("DTLS {} ({} B)", describe_dtls(&t.bytes), t.bytes.len());
                with_ladder(&self.ladder, |l| l.arrow(now, self.party, &what));
            }
            return true;
        }
        if let Some((real, forged)) = &self.tricks.forge {
            let text = String::from_utf8_lossy(&t.bytes).replace(real, forged);
            if text.len() == t.bytes.len() && text.as_bytes() != &t.bytes[..] {
                t.bytes = text.into_bytes();
                with_ladder(&self.ladder, |l| {
                    l.note(
                        now,
                        self.party,
                        "(a middlebox rewrites a=fingerprint in Bob's SDP)",
                    );
                });
            }
        }
        if self.tricks.hold_first_200 && is_invite_2xx(&t.bytes) {
            let mut h = self.held();
            if !h.done_once {
                // Hold only the first 2xx, not its retransmissions.
                h.done_once = true;
                h.since = Some(now);
                h.datagrams.push((t.clone(), socket.clone()));
                drop(h);
                with_ladder(&self.ladder, |l| {
                    l.note(
                        now,
                        self.party,
                        "(the network delays Bob's 200 OK: his ClientHello arrives first, F-5.8)",
                    );
                });
                return false;
            }
        }
        with_ladder(&self.ladder, |l| {
            l.arrow(now, self.party, &describe_sip(&t.bytes));
        });
        true
    }
}

fn is_invite_2xx(bytes: &[u8]) -> bool {
    bytes.starts_with(b"SIP/2.0 200") && String::from_utf8_lossy(bytes).contains(" INVITE\r\n")
}

/// Names a SIP datagram for the ladder: its start line, and whether it carries SDP.
pub(crate) fn describe_sip(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let first = text.lines().next().unwrap_or("").trim();
    let first = first.strip_suffix(" SIP/2.0").unwrap_or(first);
    let cseq = text
        .lines()
        .find_map(|l| l.strip_prefix("CSeq:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    let sdp = if text.contains("\r\n\r\nv=0") {
        let setup = text
            .lines()
            .find_map(|l| l.strip_prefix("a=setup:"))
            .map_or(String::new(), |s| format!(", a=setup:{}", s.trim()));
        let proto = text
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|m| m.split_whitespace().nth(1))
            .unwrap_or("?");
        let tcap = if text.contains("a=tcap:") {
            ", a=tcap"
        } else {
            ""
        };
        format!(" + SDP ({proto}{tcap}, a=fingerprint{setup})")
    } else {
        String::new()
    };
    if first.starts_with("SIP/2.0") {
        format!("SIP {} ({cseq}){sdp}", first.trim_start_matches("SIP/2.0 "))
    } else {
        format!("SIP {}{sdp}", first.split(' ').next().unwrap_or(first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_lines_for_the_ladder() {
        let invite = b"INVITE sip:bob@127.0.0.1:5070 SIP/2.0\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nm=audio 4000 UDP/TLS/RTP/SAVP 0\r\na=setup:actpass\r\n";
        assert_eq!(
            describe_sip(invite),
            "SIP INVITE + SDP (UDP/TLS/RTP/SAVP, a=fingerprint, a=setup:actpass)"
        );
        let ok = b"SIP/2.0 200 OK\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(describe_sip(ok), "SIP 200 OK (2 BYE)");
        assert!(!is_invite_2xx(ok));
        assert!(is_invite_2xx(
            b"SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        ));
        // Garbage never panics.
        for b in [&b""[..], b"\xff\xfe", b"SIP/2.0", b"\r\n\r\nv=0"] {
            let _ = describe_sip(b);
        }
    }
}
