//! The one forking and mangling SIP proxy of the workspace (issue 13 item 4): a small, sans-IO, text-level
//! parallel-forking proxy, enough for our user agents. `dtlsrtp demo` runs it on a UDP socket through the
//! tokio driver (`dtlsrtp_tokio::interpose::ProxyHandle`); the endpoint's simulated-network tests run it on
//! their manual clock.
//!
//! It relays an INVITE to every target with its own Via branch, relays responses back without that Via,
//! CANCELs the other branches on the first 2xx (RFC 3261 §16.7 step 10) or on the caller's CANCEL, ACKs their
//! failures, and forwards a final failure only once every branch failed. In-dialog requests go end to end
//! unless [`Proxy::record_route`] is on: then the INVITE gets a `Record-Route` and in-dialog requests (ACK,
//! BYE, PRACK, re-INVITE, UPDATE) and their responses pass through the proxy too (stateless relay by Route /
//! Request-URI and Via).
//!
//! It is also a *mangling proxy*: every message it sends goes through [`Proxy::hook`], which may forward it
//! rewritten, hold it (until [`Proxy::release_held`], or until another message matching a predicate has been
//! sent: reordering), or drop it; [`Proxy::inject`] sends any text from the proxy. What it did is reported as
//! [`Note`]s.
//!
//! Input is untrusted: malformed messages are ignored, never a panic. Sans-IO: the caller owns the socket and
//! the clock (`handle` / `poll_transmit`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

/// What the hook decides for one message the proxy is about to send.
pub enum Verdict {
    /// Send this text (the original, or a rewrite).
    Forward(String),
    /// Keep it until [`Proxy::release_held`].
    Hold,
    /// Keep it until a later message for which the predicate is true has been sent, then send it right after
    /// (reordering: "B's 183 before A's").
    HoldUntil(Box<dyn FnMut(&str) -> bool + Send>),
    /// Never send it.
    Drop,
}

/// The per-message hook: (destination, text) → verdict.
pub type Hook = Box<dyn FnMut(SocketAddr, &str) -> Verdict + Send>;

/// Rewrites the caller's INVITE before it is forked.
pub type InviteRewrite = Box<dyn FnMut(&str) -> String + Send>;

/// What the proxy did, in order (for a ladder diagram or assertions). Drained with [`Proxy::poll_note`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Note {
    /// A message arrived from `from`.
    Received {
        /// Its source.
        from: SocketAddr,
        /// Its text.
        text: String,
    },
    /// The caller's INVITE was forked to this target.
    Forked(SocketAddr),
    /// A CANCEL was sent to this target (another branch answered, or the caller cancelled).
    Cancelled(SocketAddr),
    /// The hook held a message for `to`.
    Held {
        /// Its destination.
        to: SocketAddr,
        /// Its text.
        text: String,
    },
    /// The hook dropped a message for `to`.
    Dropped {
        /// Its destination.
        to: SocketAddr,
        /// Its text.
        text: String,
    },
    /// A message went out to `to` (relayed, generated, released or injected).
    Sent {
        /// Its destination.
        to: SocketAddr,
        /// Its text as sent.
        text: String,
    },
}

struct Held {
    to: SocketAddr,
    text: String,
    until: Option<Box<dyn FnMut(&str) -> bool + Send>>,
}

struct Branch {
    target: SocketAddr,
    branch: String,
    invite: String,
    final_status: Option<u16>,
}

/// Notes kept at most (the oldest go first when nobody drains them).
const MAX_NOTES: usize = 4096;
/// Branches at most (one INVITE forked to every target; retransmissions are absorbed).
const MAX_BRANCHES: usize = 64;

/// The proxy. See the crate docs.
pub struct Proxy {
    /// Its own address (Via, Record-Route, source of what it sends).
    pub addr: SocketAddr,
    /// Where an initial INVITE is forked.
    pub targets: Vec<SocketAddr>,
    caller: Option<SocketAddr>,
    branches: Vec<Branch>,
    answered: bool,
    failure: Option<String>,
    out: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    n: u32,
    /// Status lines relayed to the caller, in order (for assertions; kept only with [`Proxy::keep_log`]).
    pub relayed: Vec<String>,
    /// CANCELs sent.
    pub cancels_sent: usize,
    /// Rewrites the caller's INVITE before it is forked (e.g. the proxy acting as the caller's RFC 8224
    /// authentication service, RFC 5763 §7.1 message 2).
    pub on_invite: Option<InviteRewrite>,
    /// Mangling: decides on every message the proxy sends (see the crate docs).
    pub hook: Option<Hook>,
    /// Add `Record-Route` to the INVITE and relay in-dialog requests (default off).
    pub record_route: bool,
    /// Keep [`Proxy::sent`] and [`Proxy::relayed`] (default on; off for a long-running proxy).
    pub keep_log: bool,
    held: Vec<Held>,
    /// Every message sent, in order: (destination, text), for assertions (with [`Proxy::keep_log`]).
    pub sent: Vec<(SocketAddr, String)>,
    notes: VecDeque<Note>,
}

fn split(msg: &str) -> Vec<&str> {
    let head = msg.split_once("\r\n\r\n").map_or(msg, |(h, _)| h);
    head.split("\r\n").collect()
}

/// `host:port` of a SIP URI (`<sip:user@127.0.0.1:5070;lr>`); port 5060 when absent.
#[must_use]
pub fn uri_addr(uri: &str) -> Option<SocketAddr> {
    let u = uri.trim().trim_start_matches('<');
    let u = u.strip_prefix("sip:").or_else(|| u.strip_prefix("sips:"))?;
    let u = u.rsplit_once('@').map_or(u, |x| x.1);
    let hp = u.split([';', '>', '?']).next()?;
    hp.parse()
        .ok()
        .or_else(|| format!("{hp}:5060").parse().ok())
}

fn header<'a>(lines: &[&'a str], name: &str) -> Option<&'a str> {
    lines.iter().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The Request-URI of a request's start line.
fn request_uri<'a>(lines: &[&'a str]) -> &'a str {
    lines
        .first()
        .and_then(|s| s.split(' ').nth(1))
        .unwrap_or("sip:invalid")
}

/// The sequence number of a CSeq header (`1` when absent).
fn cseq_number<'a>(lines: &[&'a str]) -> &'a str {
    header(lines, "CSeq")
        .and_then(|c| c.split(' ').next())
        .unwrap_or("1")
}

/// `msg` without its first Via line, and the sent-by of the next Via (where the response goes next).
fn strip_top_via(msg: &str) -> (String, Option<SocketAddr>) {
    let mut out = String::with_capacity(msg.len());
    let mut stripped = false;
    let mut next = None;
    for (i, l) in msg.split_inclusive("\r\n").enumerate() {
        let is_via = i > 0 && l.to_ascii_lowercase().starts_with("via:");
        if is_via && !stripped {
            stripped = true;
            continue;
        }
        if is_via && next.is_none() {
            next = l
                .split_whitespace()
                .nth(2)
                .and_then(|hp| hp.split(';').next())
                .and_then(|hp| hp.trim_end_matches(',').parse::<SocketAddr>().ok());
        }
        out.push_str(l);
    }
    (out, next)
}

impl Proxy {
    /// A proxy at `addr` that forks an initial INVITE to every one of `targets`.
    #[must_use]
    pub fn new(addr: SocketAddr, targets: Vec<SocketAddr>) -> Self {
        Self {
            addr,
            targets,
            caller: None,
            branches: Vec::new(),
            answered: false,
            failure: None,
            out: VecDeque::new(),
            n: 0,
            relayed: Vec::new(),
            cancels_sent: 0,
            on_invite: None,
            hook: None,
            record_route: false,
            keep_log: true,
            held: Vec::new(),
            sent: Vec::new(),
            notes: VecDeque::new(),
        }
    }

    /// Sends `text` from the proxy to `to` as is (not through the hook).
    pub fn inject(&mut self, to: SocketAddr, text: &str) {
        self.emit(to, text.to_owned());
    }

    /// Sends every held message (in the order they were held).
    pub fn release_held(&mut self) {
        for h in std::mem::take(&mut self.held) {
            self.emit(h.to, h.text);
        }
    }

    /// Messages held now.
    #[must_use]
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// The next thing the proxy did.
    pub fn poll_note(&mut self) -> Option<Note> {
        self.notes.pop_front()
    }

    fn note(&mut self, n: Note) {
        if self.notes.len() >= MAX_NOTES {
            self.notes.pop_front();
        }
        self.notes.push_back(n);
    }

    fn emit(&mut self, to: SocketAddr, text: String) {
        if self.keep_log {
            self.sent.push((to, text.clone()));
        }
        self.out.push_back((self.addr, to, text.clone().into_bytes()));
        // Reordering: messages waiting for this one follow it.
        let mut i = 0;
        let mut due = Vec::new();
        while i < self.held.len() {
            let now_due = self
                .held
                .get_mut(i)
                .and_then(|h| h.until.as_mut())
                .is_some_and(|f| f(&text));
            if now_due {
                due.push(self.held.remove(i));
            } else {
                i += 1;
            }
        }
        self.note(Note::Sent { to, text });
        for h in due {
            self.emit(h.to, h.text);
        }
    }

    /// The next datagram to send: (from = the proxy's address, to, bytes).
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        self.out.pop_front()
    }

    /// The proxy has no timers (UDP retransmissions are the user agents').
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// No timers: nothing to do.
    pub fn handle_timeout(&mut self, _now: Instant) {}

    fn send(&mut self, to: SocketAddr, text: String) {
        let verdict = match self.hook.as_mut() {
            Some(h) => h(to, &text),
            None => Verdict::Forward(text.clone()),
        };
        match verdict {
            Verdict::Forward(t) => self.emit(to, t),
            Verdict::Hold => {
                self.note(Note::Held {
                    to,
                    text: text.clone(),
                });
                self.held.push(Held {
                    to,
                    text,
                    until: None,
                });
            }
            Verdict::HoldUntil(f) => {
                self.note(Note::Held {
                    to,
                    text: text.clone(),
                });
                self.held.push(Held {
                    to,
                    text,
                    until: Some(f),
                });
            }
            Verdict::Drop => self.note(Note::Dropped { to, text }),
        }
    }

    /// One datagram from `from`.
    pub fn handle(&mut self, _now: Instant, from: SocketAddr, bytes: &[u8]) {
        let msg = String::from_utf8_lossy(bytes).into_owned();
        self.note(Note::Received {
            from,
            text: msg.clone(),
        });
        let lines = split(&msg);
        let Some(start) = lines.first().copied() else {
            return;
        };
        let to_tag = header(&lines, "To").is_some_and(|t| t.contains(";tag="));
        if start.starts_with("SIP/2.0 ") {
            self.on_response(&msg, &lines);
        } else if self.record_route && !start.starts_with("CANCEL ") && self.routed_here(&lines) {
            self.relay_request(&msg, &lines);
        } else if start.starts_with("INVITE ") && !to_tag {
            self.fork(from, msg.clone());
        } else if start.starts_with("CANCEL ") {
            let mut ok = String::from("SIP/2.0 200 OK\r\n");
            for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
                for l in lines.iter().skip(1) {
                    if l.split_once(':')
                        .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(h))
                    {
                        ok.push_str(l);
                        ok.push_str("\r\n");
                    }
                }
            }
            ok.push_str("Content-Length: 0\r\n\r\n");
            self.send(from, ok);
            self.cancel_others(None);
        }
        // An ACK of a failure we relayed ends here.
    }

    fn fork(&mut self, from: SocketAddr, msg: String) {
        if self.caller.is_some() {
            return; // a retransmission: the branches have it
        }
        self.caller = Some(from);
        let msg = match self.on_invite.as_mut() {
            Some(f) => f(&msg),
            None => msg,
        };
        let msg = if self.record_route {
            msg.replacen(
                "\r\n",
                &format!("\r\nRecord-Route: <sip:{};lr>\r\n", self.addr),
                1,
            )
        } else {
            msg
        };
        for t in self.targets.clone().into_iter().take(MAX_BRANCHES) {
            self.n += 1;
            let branch = format!("z9hG4bKproxy{}", self.n);
            let via = format!("Via: SIP/2.0/UDP {};branch={branch}", self.addr);
            let fwd = msg.replacen("\r\n", &format!("\r\n{via}\r\n"), 1);
            self.branches.push(Branch {
                target: t,
                branch,
                invite: fwd.clone(),
                final_status: None,
            });
            self.note(Note::Forked(t));
            self.send(t, fwd);
        }
    }

    /// The first Route header names us.
    fn routed_here(&self, lines: &[&str]) -> bool {
        header(lines, "Route").is_some_and(|r| r.contains(&self.addr.to_string()))
    }

    /// Record-Route: an in-dialog request routed through us goes on to the next Route, or to its Request-URI.
    fn relay_request(&mut self, msg: &str, lines: &[&str]) {
        let mut out = String::new();
        let mut dropped_route = false;
        let mut next_route = None;
        for (i, l) in msg.split_inclusive("\r\n").enumerate() {
            let is_route = i > 0 && l.to_ascii_lowercase().starts_with("route:");
            if is_route && !dropped_route {
                dropped_route = true;
                continue;
            }
            if is_route && next_route.is_none() {
                next_route = l.split_once(':').map(|x| x.1.trim().to_owned());
            }
            out.push_str(l);
        }
        let ruri = request_uri(lines);
        let Some(target) = uri_addr(next_route.as_deref().unwrap_or(ruri)) else {
            return;
        };
        self.n += 1;
        let via = format!(
            "Via: SIP/2.0/UDP {};branch=z9hG4bKproxyrr{}",
            self.addr, self.n
        );
        let out = out.replacen("\r\n", &format!("\r\n{via}\r\n"), 1);
        self.send(target, out);
    }

    /// A request of `method` on a branch's INVITE transaction (CANCEL, or the ACK of a failure).
    fn on_branch(&self, b: &Branch, method: &str, to: &str) -> String {
        let l = split(&b.invite);
        format!(
            "{method} {} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={}\r\nMax-Forwards: 70\r\nFrom: {}\r\n\
             To: {to}\r\nCall-ID: {}\r\nCSeq: {} {method}\r\nContent-Length: 0\r\n\r\n",
            request_uri(&l),
            self.addr,
            b.branch,
            header(&l, "From").unwrap_or(""),
            header(&l, "Call-ID").unwrap_or(""),
            cseq_number(&l),
        )
    }

    fn cancel_others(&mut self, winner: Option<usize>) {
        let mut sends = Vec::new();
        for (i, b) in self.branches.iter().enumerate() {
            if Some(i) == winner || b.final_status.is_some() {
                continue;
            }
            let l = split(&b.invite);
            sends.push((
                b.target,
                self.on_branch(b, "CANCEL", header(&l, "To").unwrap_or("")),
            ));
        }
        for (t, c) in sends {
            self.cancels_sent += 1;
            self.note(Note::Cancelled(t));
            self.send(t, c);
        }
    }

    fn on_response(&mut self, msg: &str, lines: &[&str]) {
        let Some(caller) = self.caller else { return };
        let Some(via) = header(lines, "Via") else {
            return;
        };
        let Some(bi) = self.branches.iter().position(|b| {
            via.split(';')
                .any(|p| p.trim() == format!("branch={}", b.branch))
        }) else {
            if self.record_route && via.contains("branch=z9hG4bKproxyrr") {
                // A response to a request we relayed statelessly: on to the next Via's sent-by.
                if let (out, Some(to)) = strip_top_via(msg) {
                    self.send(to, out);
                }
            }
            return;
        };
        let status: u16 = lines
            .first()
            .and_then(|s| s.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let method = header(lines, "CSeq")
            .and_then(|c| c.split(' ').nth(1))
            .unwrap_or("");
        if method == "CANCEL" {
            return; // hop by hop
        }
        let (out, _) = strip_top_via(msg);
        if method != "INVITE" {
            self.send(caller, out);
            return;
        }
        if status >= 300 {
            // The hop-by-hop ACK of the failure (RFC 3261 §17.1.1.3).
            let Some(b) = self.branches.get(bi) else {
                return;
            };
            let ack = self.on_branch(b, "ACK", header(lines, "To").unwrap_or(""));
            let target = b.target;
            self.send(target, ack);
            if let Some(b) = self.branches.get_mut(bi) {
                if b.final_status.is_none() {
                    b.final_status = Some(status);
                    self.failure = Some(out);
                }
            }
            if !self.answered && self.branches.iter().all(|b| b.final_status.is_some()) {
                if let Some(f) = self.failure.take() {
                    if self.keep_log {
                        self.relayed.push(f.lines().next().unwrap_or("").to_owned());
                    }
                    self.send(caller, f);
                }
            }
            return;
        }
        if status >= 200 {
            if let Some(b) = self.branches.get_mut(bi) {
                b.final_status = Some(status);
            }
            if !self.answered {
                self.answered = true;
                self.cancel_others(Some(bi));
            }
        }
        if self.keep_log {
            self.relayed
                .push(lines.first().copied().unwrap_or("").to_owned());
        }
        self.send(caller, out);
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // the tests' clock starts at the real now
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    const INVITE: &str = "INVITE sip:bob@127.0.0.1:5090 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa\r\n\
        From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
        Content-Length: 0\r\n\r\n";

    fn response(status: &str, branch: &str) -> String {
        format!(
            "SIP/2.0 {status}\r\nVia: SIP/2.0/UDP 127.0.0.1:5090;branch={branch}\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa\r\nFrom: <sip:alice@127.0.0.1>;tag=1\r\n\
             To: <sip:bob@127.0.0.1>;tag=b\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )
    }

    fn drain(p: &mut Proxy) -> Vec<(SocketAddr, String)> {
        std::iter::from_fn(|| p.poll_transmit())
            .map(|(_, to, b)| (to, String::from_utf8_lossy(&b).into_owned()))
            .collect()
    }

    #[test]
    fn forks_to_every_target_and_cancels_the_losers_on_the_first_2xx() {
        let t = Instant::now();
        let mut p = Proxy::new(a(5090), vec![a(5070), a(5080)]);
        p.handle(t, a(5060), INVITE.as_bytes());
        let out = drain(&mut p);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|(_, m)| m.contains("branch=z9hG4bKproxy")));
        p.handle(t, a(5070), response("200 OK", "z9hG4bKproxy1").as_bytes());
        let out = drain(&mut p);
        assert!(
            out.iter()
                .any(|(to, m)| *to == a(5080) && m.starts_with("CANCEL ")),
            "{out:?}"
        );
        let ok = out.iter().find(|(to, _)| *to == a(5060)).map(|x| &x.1);
        assert!(
            ok.is_some_and(|m| m.starts_with("SIP/2.0 200") && !m.contains("5090")),
            "{out:?}"
        );
        let notes: Vec<Note> = std::iter::from_fn(|| p.poll_note()).collect();
        assert!(notes.contains(&Note::Forked(a(5080))));
        assert!(notes.contains(&Note::Cancelled(a(5080))));
    }

    #[test]
    fn hook_holds_rewrites_and_drops() {
        let t = Instant::now();
        let mut p = Proxy::new(a(5090), vec![a(5070)]);
        p.hook = Some(Box::new(|_, text: &str| {
            if text.starts_with("SIP/2.0 200") {
                Verdict::Hold
            } else if text.starts_with("SIP/2.0 180") {
                Verdict::Drop
            } else {
                Verdict::Forward(text.replace("bob", "mallory"))
            }
        }));
        p.handle(t, a(5060), INVITE.as_bytes());
        assert!(drain(&mut p)[0].1.contains("mallory"));
        p.handle(t, a(5070), response("180 Ringing", "z9hG4bKproxy1").as_bytes());
        p.handle(t, a(5070), response("200 OK", "z9hG4bKproxy1").as_bytes());
        assert!(drain(&mut p).is_empty());
        assert_eq!(p.held_count(), 1);
        p.release_held();
        let out = drain(&mut p);
        assert_eq!(out.len(), 1);
        assert!(out[0].1.starts_with("SIP/2.0 200"));
    }

    #[test]
    fn garbage_never_panics() {
        let t = Instant::now();
        let mut p = Proxy::new(a(5090), vec![a(5070)]);
        p.record_route = true;
        for m in [
            &b""[..],
            b"\xff\xfe",
            b"SIP/2.0",
            b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n",
            b"INVITE\r\n\r\n",
            b"CANCEL x\r\n",
            b"BYE sip:x SIP/2.0\r\nRoute: <sip:127.0.0.1:5090;lr>\r\n\r\n",
        ] {
            p.handle(t, a(5060), m);
            p.handle(t, a(5070), m);
        }
        p.handle(t, a(5060), INVITE.as_bytes());
        p.handle(t, a(5070), b"SIP/2.0 abc\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKproxy1\r\n\r\n");
        let _ = drain(&mut p);
    }
}
