//! R-2 for the CLI's own loop: `dtlsrtp answer --transport tcp` keeps a UDP call's SIP and media going while a
//! TCP peer sends requests with large responses and never reads (it is dropped, not waited for), and it caps
//! the TCP connections one address may hold.
#![allow(clippy::disallowed_methods)] // tests: real processes, sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dtlsrtp_testkit::peers::free_port;

mod common;
use common::{text, Running};

/// An OPTIONS whose 200 is about 50 KB: its 100 Via header fields are copied into the response.
fn big_options(i: u32, to: SocketAddr) -> Vec<u8> {
    let mut m = format!("OPTIONS sip:bob@{to} SIP/2.0\r\n");
    m.push_str(&format!(
        "Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKbig{i}\r\n"
    ));
    let pad = "x".repeat(480);
    for v in 0..99 {
        m.push_str(&format!(
            "Via: SIP/2.0/TCP 10.0.0.{}:5060;branch=z9hG4bKv{v};p={pad}\r\n",
            v % 250 + 1
        ));
    }
    m.push_str(&format!(
        "Max-Forwards: 70\r\nFrom: <sip:eve@127.0.0.1>;tag=e{i}\r\nTo: <sip:bob@{to}>\r\n\
Call-ID: big{i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ));
    m.into_bytes()
}

/// The "in N" packet count of a summary line.
fn packets_in(out: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with("summary:"))
        .unwrap_or_else(|| panic!("no summary in {out}"));
    line.split(" in ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {line}"))
}

/// a TCP peer that never reads while a UDP call runs: the answerer's loop does not wait for it (it is
/// dropped once its buffer is full or it has taken nothing for 2 s), so the call sets up, carries media both
/// ways and ends cleanly.
#[test]
fn r_2_dos_tcp_nonreading_peer_does_not_stall_cli_udp_call() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let answer = Running::spawn(&[
        "answer",
        "--listen",
        &listen,
        "--config-dir",
        dir.path().to_str().unwrap(),
        "--transport",
        "tcp",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let target: SocketAddr = listen.parse().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let attacker = std::thread::spawn(move || {
        let mut s = TcpStream::connect(target).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut sent = 0usize;
        for i in 0..2_000u32 {
            if s.write_all(&big_options(i, target)).is_err() {
                break; // blocked for 2 s (the old loop) or dropped by the answerer
            }
            sent += 1;
        }
        while !stop2.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        sent
    });
    std::thread::sleep(Duration::from_millis(1000));
    let call = Running::spawn(&[
        "call",
        &format!("sip:bob@{listen}"),
        "--config-dir",
        dir.path().to_str().unwrap(),
        "--duration",
        "3",
        "--timeout",
        "5",
    ])
    .wait(Duration::from_secs(30));
    stop.store(true, Ordering::Relaxed);
    let sent = attacker.join().unwrap();
    assert!(sent >= 20, "the attacker got requests in: {sent}");
    assert_eq!(call.status.code(), Some(0), "{}", text(&call));
    // 3 s of 20 ms frames: 150 sent each way; nearly all arrive despite the peer that does not read.
    let got = packets_in(&text(&call));
    assert!(got >= 120, "caller received {got} packets: {}", text(&call));
    let a = answer.wait(Duration::from_secs(15));
    assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    assert!(packets_in(&text(&a)) >= 120, "{}", text(&a));
}

/// one address holds at most 16 SIP TCP connections to the CLI; the rest are closed at once.
#[test]
fn r_2_cli_tcp_connections_capped_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let _answer = Running::spawn(&[
        "answer",
        "--listen",
        &listen,
        "--config-dir",
        dir.path().to_str().unwrap(),
        "--transport",
        "tcp",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let conns: Vec<TcpStream> = (0..24)
        .map(|_| TcpStream::connect(&listen).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut kept = 0;
    for mut c in &conns {
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut b = [0u8; 16];
        // Closed: EOF or reset. Kept: the read times out.
        if matches!(c.read(&mut b), Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut))
        {
            kept += 1;
        }
    }
    assert_eq!(kept, 16, "16 connections per address");
}
