//! Issue 12 with real processes on 127.0.0.1: `dtlsrtp call` through real Kamailio forking to two contacts
//! whose 183s Kamailio reorders (T-8a, F-6.3), and `openssl s_client -dtls1_2` strangers handshaking against
//! every UDP port of a running `dtlsrtp call` and `dtlsrtp answer` (P-6.2c, F-5.15, item 2).
#![allow(clippy::disallowed_methods)] // tests: real processes, sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dtlsrtp_testkit::openssl_cli;
use dtlsrtp_testkit::peers::free_port;
use dtlsrtp_testkit::peers::kamailio::Kamailio;
use dtlsrtp_testkit::require_peer;

mod common;
use common::{text, Running};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The UDP ports a process has open: its socket inodes (/proc/PID/fd) looked up in /proc/PID/net/udp{,6}.
fn udp_ports_of(pid: u32) -> Vec<u16> {
    let mut inodes = HashSet::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        if let Ok(l) = std::fs::read_link(e.path()) {
            let l = l.to_string_lossy().into_owned();
            if let Some(i) = l.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                inodes.insert(i.to_owned());
            }
        }
    }
    let mut ports = Vec::new();
    for table in ["udp", "udp6"] {
        let t = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in t.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(inode)) = (f.get(1), f.get(9)) else {
                continue;
            };
            if inodes.contains(*inode) {
                if let Some(p) = local
                    .rsplit(':')
                    .next()
                    .and_then(|h| u16::from_str_radix(h, 16).ok())
                {
                    ports.push(p);
                }
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// P-6.2c, F-5.15 (item 2): mid-call, `openssl s_client -dtls1_2` with its own self-signed certificate
/// handshakes against every UDP port of both `dtlsrtp call` and `dtlsrtp answer` (SIP, the call's media port,
/// the pool). Neither process ends the call: both exit 0 with media both ways.
#[test]
fn p_6_2c_f_5_15_openssl_strangers_against_every_udp_port_of_call_and_answer_both_exit_0() {
    if !require_peer("openssl", "openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port().unwrap());
    let cfg = dir.path().join("cfg");
    let answer = Running::spawn(&[
        "answer",
        "--listen",
        &listen,
        "--config-dir",
        s(&cfg),
        "--tone",
        "700",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let call = Running::spawn(&[
        "call",
        &format!("sip:bob@{listen}"),
        "--config-dir",
        s(&cfg),
        "--tone",
        "440",
        "--duration",
        "5",
        "--timeout",
        "10",
    ]);
    let mut call = call;
    let seen = call.watch_stdout();
    // Once the call is up (both sides verified), let the strangers in.
    let up = Instant::now() + Duration::from_secs(15);
    while !seen.lock().unwrap().contains("call established") {
        assert!(Instant::now() < up, "{}", seen.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let ports: Vec<u16> = udp_ports_of(call.pid())
        .into_iter()
        .chain(udp_ports_of(answer.pid()))
        .collect();
    assert!(ports.len() >= 4, "SIP and media ports of both: {ports:?}");
    let id = openssl_cli::identity(dir.path(), false).unwrap();
    let mut strangers: Vec<_> = ports
        .iter()
        .map(|p| openssl_cli::s_client(*p, &id, "SRTP_AES128_CM_SHA1_80", 60).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(2000));
    let said: Vec<String> = strangers.iter_mut().map(|c| c.finish()).collect();
    let c = call.wait(Duration::from_secs(20));
    let a = answer.wait(Duration::from_secs(15));
    let (ct, at) = (format!("{}{}", seen.lock().unwrap(), text(&c)), text(&a));
    assert_eq!(
        c.status.code(),
        Some(0),
        "caller: {ct}\nstrangers: {said:?}"
    );
    assert_eq!(a.status.code(), Some(0), "callee: {at}");
    assert!(ct.contains("media authenticated both ways"), "{ct}");
    assert!(!ct.contains("FINGERPRINT MISMATCH"), "{ct}");
    assert!(!at.contains("FINGERPRINT MISMATCH"), "{at}");
    // No stranger got a completed handshake (the verified ports refuse new ClientHellos).
    for out in &said {
        assert!(!out.contains("Keying material:"), "{out}");
    }
}

/// Fork B: a scripted UA on UDP that answers an INVITE with a 183 carrying its own fingerprint after `delay`
/// (repeated every 500 ms until the CANCEL), never sends a 200, and answers CANCEL with 200 + 487.
struct ForkB {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<String>>>,
}

fn response(req: &str, status: &str, to_tag: &str, contact: Option<&str>, body: &str) -> String {
    let mut r = format!("SIP/2.0 {status}\r\n");
    for l in req.split("\r\n").skip(1) {
        let name = l
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "from" | "call-id" | "cseq" | "record-route" => {
                r.push_str(l);
                r.push_str("\r\n");
            }
            "to" if !l.contains(";tag=") => r.push_str(&format!("{l};tag={to_tag}\r\n")),
            "to" => {
                r.push_str(l);
                r.push_str("\r\n");
            }
            _ => {}
        }
    }
    if let Some(c) = contact {
        r.push_str(&format!("Contact: <{c}>\r\n"));
    }
    if body.is_empty() {
        r.push_str("Content-Length: 0\r\n\r\n");
    } else {
        r.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    }
    r
}

impl ForkB {
    fn spawn(sock: UdpSocket, delay: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let me = sock.local_addr().unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let fp: Vec<String> = (0..32u8).map(|b| format!("{:02X}", b ^ 0xA5)).collect();
            let sdp = format!(
                "v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio {} UDP/TLS/RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=setup:active\r\n\
                 a=fingerprint:sha-256 {}\r\na=tls-id:forkBforkBforkBforkB0123\r\na=rtcp-mux\r\na=sendrecv\r\n",
                me.port() + 1,
                fp.join(":")
            );
            let contact = format!("sip:bobb@{me}");
            let mut seen = Vec::new();
            let mut invite: Option<(SocketAddr, String, Instant)> = None;
            let mut next_183: Option<Instant> = None;
            let mut cancelled = false;
            let mut buf = vec![0u8; 65_536];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                    seen.push(m.lines().next().unwrap_or("").to_owned());
                    if m.starts_with("INVITE ") && invite.is_none() {
                        invite = Some((from, m, Instant::now() + delay));
                    } else if m.starts_with("CANCEL ") {
                        cancelled = true;
                        let ok = response(&m, "200 OK", "fb", None, "");
                        sock.send_to(ok.as_bytes(), from).unwrap();
                        if let Some((to, inv, _)) = &invite {
                            let r = response(inv, "487 Request Terminated", "fb", None, "");
                            sock.send_to(r.as_bytes(), to).unwrap();
                        }
                    }
                }
                if let Some((to, inv, at)) = &invite {
                    let due = next_183.unwrap_or(*at);
                    if !cancelled && Instant::now() >= due {
                        next_183 = Some(Instant::now() + Duration::from_millis(500));
                        let r = response(inv, "183 Session Progress", "fb", Some(&contact), &sdp);
                        sock.send_to(r.as_bytes(), to).unwrap();
                    }
                }
            }
            seen
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for ForkB {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Registers `contact` for sip:bob@KAMAILIO from `sock` (Kamailio without users accepts it) and waits for 200.
fn register(sock: &UdpSocket, k: &Kamailio, contact: &str, n: u32) {
    let me = sock.local_addr().unwrap();
    let kp = k.port();
    let req = format!(
        "REGISTER sip:127.0.0.1:{kp} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-reg{n};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:bob@127.0.0.1:{kp}>;tag=r{n}\r\nTo: <sip:bob@127.0.0.1:{kp}>\r\n\
         Call-ID: reg-{n}-{kp}\r\nCSeq: 1 REGISTER\r\nContact: <{contact}>;expires=120\r\n\
         Content-Length: 0\r\n\r\n"
    );
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    for _ in 0..20 {
        sock.send_to(req.as_bytes(), ("127.0.0.1", kp)).unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            if buf[..n].starts_with(b"SIP/2.0 200") {
                return;
            }
        }
    }
    panic!("REGISTER of {contact} not accepted: {}", k.log().tail());
}

/// T-8a, F-6.3 through real Kamailio: bob has two contacts, A (`dtlsrtp answer --early-media`: 183 with SDP
/// and at once its ClientHello, then 200) and B (183 with its own fingerprint, never answers). Kamailio drops
/// the held fork's 183s until the other fork's 183 has passed, so that one reaches the caller first (A's
/// ClientHello, sent with its first 183, reaches the caller before either). Either way `dtlsrtp call`
/// completes: exit 0, A verified, media both ways; B gets CANCEL.
fn kamailio_fork_order(hold_a: bool) {
    if !require_peer("kamailio", "kamailio") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pa = free_port().unwrap();
    let b_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let pb = b_sock.local_addr().unwrap().port();
    let (held, other) = if hold_a { (pa, pb) } else { (pb, pa) };
    let mut k = Kamailio::builder()
        .hold_reply_until(183, held, other)
        .start()
        .unwrap();
    let reg = UdpSocket::bind("127.0.0.1:0").unwrap();
    register(&reg, &k, &format!("sip:bob@127.0.0.1:{pa}"), 1);
    register(&b_sock, &k, &format!("sip:bobb@127.0.0.1:{pb}"), 2);
    k.wait_registrations(&k.aor("bob"), 2, Duration::from_secs(5))
        .unwrap();
    let b_delay = if hold_a { 150 } else { 0 };
    let fork_b = ForkB::spawn(b_sock, Duration::from_millis(b_delay));
    let answer = Running::spawn(&[
        "answer",
        "--listen",
        &format!("127.0.0.1:{pa}"),
        "--config-dir",
        s(&dir.path().join("a")),
        "--early-media",
        "--tone",
        "700",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let call = Running::spawn(&[
        "call",
        &k.aor("bob"),
        "--config-dir",
        s(&dir.path().join("caller")),
        "--tone",
        "440",
        "--duration",
        "2",
        "--timeout",
        "20",
    ])
    .wait(Duration::from_secs(40));
    let ct = text(&call);
    let a = answer.wait(Duration::from_secs(20));
    let seen_b = fork_b.finish();
    let klog = k.log().read();
    assert_eq!(
        call.status.code(),
        Some(0),
        "caller: {ct}\ncallee A: {}\nfork B saw: {seen_b:?}\nkamailio: {klog}",
        text(&a)
    );
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert!(ct.contains("media authenticated both ways"), "{ct}");
    assert!(!ct.contains("FINGERPRINT MISMATCH"), "{ct}");
    assert!(
        seen_b.iter().any(|l| l.starts_with("CANCEL ")),
        "{seen_b:?}"
    );
    // Kamailio really reordered: the held fork's first 183 was dropped before the other's passed.
    let first_hold = klog
        .find(&format!("dtlsrtp: hold 183 from {held}"))
        .expect(&klog);
    let other_183 = klog
        .match_indices("dtlsrtp: reply 183 ")
        .map(|(i, _)| i)
        .find(|i| {
            klog[*i..]
                .lines()
                .next()
                .unwrap_or("")
                .contains(&format!("from 127.0.0.1:{other}"))
        })
        .expect(&klog);
    assert!(first_hold < other_183, "{klog}");
}

#[test]
fn t_8a_f_6_3_kamailio_fork_b_183_reaches_caller_before_a_183_call_completes() {
    kamailio_fork_order(true);
}

#[test]
fn t_8a_f_6_3_kamailio_fork_a_183_reaches_caller_before_b_183_call_completes() {
    kamailio_fork_order(false);
}
