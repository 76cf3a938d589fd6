//! A small in-process parallel-forking proxy (text level, enough for our UAs): it relays an INVITE to every
//! target with its own Via branch, relays responses back, CANCELs the other branches on the first 2xx (or on the
//! caller's CANCEL), ACKs their 487s, and forwards a final failure only once every branch failed. In-dialog
//! requests go end to end unless [`Proxy::record_route`] is on: then the INVITE gets a `Record-Route` and
//! in-dialog requests (ACK, BYE, PRACK, re-INVITE, UPDATE) and their responses pass through the proxy too
//! (stateless relay by Route/Request-URI and Via).
//!
//! It is also a *mangling proxy* (issue 12): every message it sends goes through [`Proxy::hook`], which may
//! forward it rewritten, hold it (until [`Proxy::release_held`], or until another message matching a
//! predicate has been relayed: reordering), or drop it; [`Proxy::inject`] sends any text from the proxy.
#![allow(unreachable_pub, clippy::unwrap_used, clippy::panic, dead_code)]

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
    HoldUntil(Box<dyn FnMut(&str) -> bool>),
    /// Never send it.
    Drop,
}

/// The per-message hook: (destination, text) → verdict.
pub type Hook = Box<dyn FnMut(SocketAddr, &str) -> Verdict>;

struct Held {
    to: SocketAddr,
    text: String,
    until: Option<Box<dyn FnMut(&str) -> bool>>,
}

pub struct Branch {
    target: SocketAddr,
    branch: String,
    invite: String,
    final_status: Option<u16>,
}

pub struct Proxy {
    pub addr: SocketAddr,
    pub targets: Vec<SocketAddr>,
    caller: Option<SocketAddr>,
    branches: Vec<Branch>,
    answered: bool,
    failure: Option<String>,
    out: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    n: u32,
    /// Status lines relayed to the caller, in order (for assertions).
    pub relayed: Vec<String>,
    pub cancels_sent: usize,
    /// Rewrites the caller's INVITE before it is forked (e.g. the proxy acting as the caller's RFC 8224
    /// authentication service, RFC 5763 §7.1 message 2).
    pub on_invite: Option<Box<dyn FnMut(&str) -> String>>,
    /// Mangling: decides on every message the proxy sends (see the module docs).
    pub hook: Option<Hook>,
    /// Add `Record-Route` to the INVITE and relay in-dialog requests (default off).
    pub record_route: bool,
    held: Vec<Held>,
    /// Every message sent, in order: (destination, text), for assertions.
    pub sent: Vec<(SocketAddr, String)>,
}

fn split(msg: &str) -> (Vec<String>, String) {
    let (head, body) = msg.split_once("\r\n\r\n").unwrap_or((msg, ""));
    (
        head.split("\r\n").map(str::to_owned).collect(),
        body.to_owned(),
    )
}

/// `host:port` of a SIP URI (`<sip:user@127.0.0.1:5070;lr>`); port 5060 when absent.
pub fn uri_addr(uri: &str) -> Option<SocketAddr> {
    let u = uri.trim().trim_start_matches('<');
    let u = u.strip_prefix("sip:").or_else(|| u.strip_prefix("sips:"))?;
    let u = u.rsplit_once('@').map_or(u, |x| x.1);
    let hp = u.split([';', '>', '?']).next()?;
    hp.parse()
        .ok()
        .or_else(|| format!("{hp}:5060").parse().ok())
}

fn header<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines.iter().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

impl Proxy {
    pub fn new(addr: SocketAddr, targets: Vec<SocketAddr>) -> Self {
        Self {
            addr,
            targets,
            caller: None,
            branches: Vec::new(),
            answered: false,
            failure: None,
            out: Vec::new(),
            n: 0,
            relayed: Vec::new(),
            cancels_sent: 0,
            on_invite: None,
            hook: None,
            record_route: false,
            held: Vec::new(),
            sent: Vec::new(),
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
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    fn emit(&mut self, to: SocketAddr, text: String) {
        self.sent.push((to, text.clone()));
        self.out.push((self.addr, to, text.clone().into_bytes()));
        // Reordering: messages waiting for this one follow it.
        let mut i = 0;
        while i < self.held.len() {
            let due = self.held[i].until.as_mut().is_some_and(|f| f(&text));
            if due {
                let h = self.held.remove(i);
                self.emit(h.to, h.text);
                i = 0;
            } else {
                i += 1;
            }
        }
    }

    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.remove(0))
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    pub fn handle_timeout(&mut self, _now: Instant) {}

    fn send(&mut self, to: SocketAddr, text: String) {
        let verdict = match self.hook.as_mut() {
            Some(h) => h(to, &text),
            None => Verdict::Forward(text.clone()),
        };
        match verdict {
            Verdict::Forward(t) => self.emit(to, t),
            Verdict::Hold => self.held.push(Held {
                to,
                text,
                until: None,
            }),
            Verdict::HoldUntil(f) => self.held.push(Held {
                to,
                text,
                until: Some(f),
            }),
            Verdict::Drop => {}
        }
    }

    pub fn handle(&mut self, _now: Instant, from: SocketAddr, bytes: &[u8]) {
        let msg = String::from_utf8_lossy(bytes).into_owned();
        let (lines, _) = split(&msg);
        let start = lines[0].clone();
        let to_tag = header(&lines, "To").is_some_and(|t| t.contains(";tag="));
        if start.starts_with("SIP/2.0 ") {
            self.on_response(from, &msg, &lines);
        } else if self.record_route && !start.starts_with("CANCEL ") && self.routed_here(&lines) {
            self.relay_request(&msg, &lines);
        } else if start.starts_with("INVITE ") && !to_tag {
            if self.caller.is_some() {
                return; // retransmission: the branches have it
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
            for t in self.targets.clone() {
                self.n += 1;
                let branch = format!("z9hG4bKproxy{}", self.n);
                let via = format!("Via: SIP/2.0/UDP {};branch={}", self.addr, branch);
                let fwd = msg.replacen("\r\n", &format!("\r\n{via}\r\n"), 1);
                self.branches.push(Branch {
                    target: t,
                    branch,
                    invite: fwd.clone(),
                    final_status: None,
                });
                self.send(t, fwd);
            }
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
        // ACK (for a failure we relayed) ends here.
    }

    /// The first Route header names us.
    fn routed_here(&self, lines: &[String]) -> bool {
        header(lines, "Route").is_some_and(|r| r.contains(&self.addr.to_string()))
    }

    /// Record-Route: an in-dialog request routed through us goes on to the next Route, or to its Request-URI.
    fn relay_request(&mut self, msg: &str, lines: &[String]) {
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
        let ruri = lines[0].split(' ').nth(1).unwrap_or("").to_owned();
        let Some(target) = uri_addr(next_route.as_deref().unwrap_or(&ruri)) else {
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

    fn cancel_others(&mut self, winner: Option<usize>) {
        let mut sends = Vec::new();
        for (i, b) in self.branches.iter().enumerate() {
            if Some(i) == winner || b.final_status.is_some() {
                continue;
            }
            let (l, _) = split(&b.invite);
            let uri = l[0].split(' ').nth(1).unwrap_or("").to_owned();
            let cseq = header(&l, "CSeq")
                .unwrap_or("1")
                .split(' ')
                .next()
                .unwrap_or("1")
                .to_owned();
            let c = format!(
                "CANCEL {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} CANCEL\r\nContent-Length: 0\r\n\r\n",
                self.addr,
                b.branch,
                header(&l, "From").unwrap_or(""),
                header(&l, "To").unwrap_or(""),
                header(&l, "Call-ID").unwrap_or(""),
            );
            sends.push((b.target, c));
        }
        for (t, c) in sends {
            self.cancels_sent += 1;
            self.send(t, c);
        }
    }

    /// A response to a request we relayed statelessly: strip our Via, send it to the next Via's sent-by.
    fn relay_response(&mut self, msg: &str) {
        let mut out = String::new();
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
        if let Some(to) = next {
            self.send(to, out);
        }
    }

    fn on_response(&mut self, _from: SocketAddr, msg: &str, lines: &[String]) {
        let Some(caller) = self.caller else { return };
        let Some(via) = header(lines, "Via") else {
            return;
        };
        let Some(bi) = self.branches.iter().position(|b| {
            via.split(';')
                .any(|p| p.trim() == format!("branch={}", b.branch))
        }) else {
            if self.record_route && via.contains("branch=z9hG4bKproxyrr") {
                self.relay_response(msg);
            }
            return;
        };
        let status: u16 = lines[0]
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let method = header(lines, "CSeq")
            .unwrap_or("")
            .split(' ')
            .nth(1)
            .unwrap_or("")
            .to_owned();
        if method == "CANCEL" {
            return; // hop-by-hop
        }
        // strip our Via (the first Via line)
        let mut out = String::new();
        let mut stripped = false;
        for (i, l) in msg.split_inclusive("\r\n").enumerate() {
            if i > 0 && !stripped && l.to_ascii_lowercase().starts_with("via:") {
                stripped = true;
                continue;
            }
            out.push_str(l);
        }
        if method != "INVITE" {
            self.send(caller, out);
            return;
        }
        if status >= 300 {
            // hop-by-hop ACK of the failure
            let b = &self.branches[bi];
            let (l, _) = split(&b.invite);
            let uri = l[0].split(' ').nth(1).unwrap_or("").to_owned();
            let cseq = header(&l, "CSeq")
                .unwrap_or("1")
                .split(' ')
                .next()
                .unwrap_or("1")
                .to_owned();
            let ack = format!(
                "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n",
                self.addr,
                b.branch,
                header(&l, "From").unwrap_or(""),
                header(lines, "To").unwrap_or(""),
                header(&l, "Call-ID").unwrap_or(""),
            );
            let t = b.target;
            self.send(t, ack);
            if self.branches[bi].final_status.is_none() {
                self.branches[bi].final_status = Some(status);
                self.failure = Some(out);
            }
            if !self.answered && self.branches.iter().all(|b| b.final_status.is_some()) {
                if let Some(f) = self.failure.take() {
                    self.relayed.push(f.lines().next().unwrap_or("").to_owned());
                    self.send(caller, f);
                }
            }
            return;
        }
        if status >= 200 {
            self.branches[bi].final_status = Some(status);
            if !self.answered {
                self.answered = true;
                self.cancel_others(Some(bi));
            }
        }
        self.relayed.push(lines[0].clone());
        self.send(caller, out);
    }
}
