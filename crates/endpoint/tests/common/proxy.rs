//! A small in-process parallel-forking proxy (text level, enough for our UAs): it relays an INVITE to every
//! target with its own Via branch, relays responses back, CANCELs the other branches on the first 2xx (or on the
//! caller's CANCEL), ACKs their 487s, and forwards a final failure only once every branch failed. In-dialog
//! requests go end to end (no Record-Route).
#![allow(unreachable_pub, clippy::unwrap_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Instant;

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
}

fn split(msg: &str) -> (Vec<String>, String) {
    let (head, body) = msg.split_once("\r\n\r\n").unwrap_or((msg, ""));
    (
        head.split("\r\n").map(str::to_owned).collect(),
        body.to_owned(),
    )
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
        self.out.push((self.addr, to, text.into_bytes()));
    }

    pub fn handle(&mut self, _now: Instant, from: SocketAddr, bytes: &[u8]) {
        let msg = String::from_utf8_lossy(bytes).into_owned();
        let (lines, _) = split(&msg);
        let start = lines[0].clone();
        if start.starts_with("SIP/2.0 ") {
            self.on_response(from, &msg, &lines);
        } else if start.starts_with("INVITE ") {
            if self.caller.is_some() {
                return; // retransmission: the branches have it
            }
            self.caller = Some(from);
            let msg = match self.on_invite.as_mut() {
                Some(f) => f(&msg),
                None => msg,
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

    fn on_response(&mut self, _from: SocketAddr, msg: &str, lines: &[String]) {
        let Some(caller) = self.caller else { return };
        let Some(via) = header(lines, "Via") else {
            return;
        };
        let Some(bi) = self.branches.iter().position(|b| via.contains(&b.branch)) else {
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
