//! The forking demo's proxy: a small parallel-forking SIP proxy at text level, on its own UDP socket. It relays
//! the INVITE to every callee with a Via branch of its own, relays responses back without that Via, CANCELs
//! the other branches on the first 2xx (RFC 3261 §16.7 step 10), ACKs their 487s, and relays a failure only
//! when every branch failed. In-dialog requests (ACK of the 2xx, BYE, PRACK) go end to end.
//!
//! It only ever sees our own two user agents on 127.0.0.1; malformed input is ignored, never a panic.

use std::net::{SocketAddr, UdpSocket};

struct Branch {
    target: SocketAddr,
    branch: String,
    invite: String,
    done: bool,
}

/// What the proxy did, for the ladder.
pub(crate) enum ProxyNote {
    /// Relayed a message (start line) to a target.
    Forked(SocketAddr),
    /// Sent CANCEL to a target.
    Cancelled(SocketAddr),
}

pub(crate) struct Proxy {
    pub(crate) sock: UdpSocket,
    pub(crate) addr: SocketAddr,
    targets: Vec<SocketAddr>,
    caller: Option<SocketAddr>,
    branches: Vec<Branch>,
    answered: bool,
    failure: Option<String>,
    n: u32,
}

fn head_lines(msg: &str) -> Vec<&str> {
    msg.split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .split("\r\n")
        .collect()
}

fn header<'a>(lines: &[&'a str], name: &str) -> Option<&'a str> {
    lines.iter().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

impl Proxy {
    pub(crate) fn bind(targets: Vec<SocketAddr>) -> std::io::Result<Self> {
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        sock.set_nonblocking(true)?;
        let addr = sock.local_addr()?;
        Ok(Self {
            sock,
            addr,
            targets,
            caller: None,
            branches: Vec::new(),
            answered: false,
            failure: None,
            n: 0,
        })
    }

    fn send(&self, to: SocketAddr, text: &str) {
        let _ = self.sock.send_to(text.as_bytes(), to);
    }

    /// Handles every waiting datagram; returns what it did.
    pub(crate) fn poll(&mut self, buf: &mut [u8]) -> Vec<ProxyNote> {
        let mut notes = Vec::new();
        for _ in 0..64 {
            let Ok((n, from)) = self.sock.recv_from(buf) else {
                break;
            };
            let msg = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
            self.handle(from, &msg, &mut notes);
        }
        notes
    }

    fn handle(&mut self, from: SocketAddr, msg: &str, notes: &mut Vec<ProxyNote>) {
        let lines = head_lines(msg);
        let Some(start) = lines.first() else { return };
        if start.starts_with("SIP/2.0 ") {
            self.on_response(msg, &lines, notes);
        } else if start.starts_with("INVITE ") {
            if self.caller.is_some() {
                return; // a retransmission: the branches have it
            }
            self.caller = Some(from);
            for t in self.targets.clone() {
                self.n += 1;
                let branch = format!("z9hG4bKdemoproxy{}", self.n);
                let via = format!("Via: SIP/2.0/UDP {};branch={branch}", self.addr);
                let fwd = msg.replacen("\r\n", &format!("\r\n{via}\r\n"), 1);
                self.send(t, &fwd);
                notes.push(ProxyNote::Forked(t));
                self.branches.push(Branch {
                    target: t,
                    branch,
                    invite: fwd,
                    done: false,
                });
            }
        } else if start.starts_with("CANCEL ") {
            let mut ok = String::from("SIP/2.0 200 OK\r\n");
            for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
                if let Some(v) = header(&lines, h) {
                    ok.push_str(&format!("{h}: {v}\r\n"));
                }
            }
            ok.push_str("Content-Length: 0\r\n\r\n");
            self.send(from, &ok);
            self.cancel_others(None, notes);
        }
        // The ACK of a failure we relayed ends here.
    }

    /// A request of `method` on a branch's INVITE transaction (CANCEL, or the ACK of a failure).
    fn on_branch(&self, b: &Branch, method: &str, to: &str) -> String {
        let l = head_lines(&b.invite);
        let uri = l
            .first()
            .and_then(|s| s.split(' ').nth(1))
            .unwrap_or("sip:invalid");
        let cseq = header(&l, "CSeq")
            .and_then(|c| c.split(' ').next())
            .unwrap_or("1");
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={}\r\nMax-Forwards: 70\r\nFrom: {}\r\n\
             To: {to}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            self.addr,
            b.branch,
            header(&l, "From").unwrap_or(""),
            header(&l, "Call-ID").unwrap_or(""),
        )
    }

    fn cancel_others(&mut self, winner: Option<usize>, notes: &mut Vec<ProxyNote>) {
        for (i, b) in self.branches.iter().enumerate() {
            if Some(i) == winner || b.done {
                continue;
            }
            let l = head_lines(&b.invite);
            let cancel = self.on_branch(b, "CANCEL", header(&l, "To").unwrap_or(""));
            self.send(b.target, &cancel);
            notes.push(ProxyNote::Cancelled(b.target));
        }
    }

    fn on_response(&mut self, msg: &str, lines: &[&str], notes: &mut Vec<ProxyNote>) {
        let Some(caller) = self.caller else { return };
        let Some(via) = header(lines, "Via") else {
            return;
        };
        let Some(bi) = self.branches.iter().position(|b| via.contains(&b.branch)) else {
            return;
        };
        let status: u16 = lines
            .first()
            .and_then(|s| s.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let method = header(lines, "CSeq")
            .and_then(|c| c.split(' ').nth(1))
            .unwrap_or("")
            .to_string();
        if method == "CANCEL" {
            return; // hop by hop
        }
        // Our Via is the first one: strip it.
        let mut out = String::with_capacity(msg.len());
        let mut stripped = false;
        for (i, l) in msg.split_inclusive("\r\n").enumerate() {
            if i > 0 && !stripped && l.to_ascii_lowercase().starts_with("via:") {
                stripped = true;
                continue;
            }
            out.push_str(l);
        }
        if method != "INVITE" {
            self.send(caller, &out);
            return;
        }
        if status >= 300 {
            let to = header(lines, "To").unwrap_or("").to_string();
            let Some(b) = self.branches.get(bi) else {
                return;
            };
            let ack = self.on_branch(b, "ACK", &to);
            let target = b.target;
            self.send(target, &ack);
            if let Some(b) = self.branches.get_mut(bi) {
                if !b.done {
                    b.done = true;
                    self.failure = Some(out);
                }
            }
            if !self.answered && self.branches.iter().all(|b| b.done) {
                if let Some(f) = self.failure.take() {
                    self.send(caller, &f);
                }
            }
            return;
        }
        if status >= 200 {
            if let Some(b) = self.branches.get_mut(bi) {
                b.done = true;
            }
            if !self.answered {
                self.answered = true;
                self.cancel_others(Some(bi), notes);
            }
        }
        self.send(caller, &out);
    }
}
