//! SIP parser, writer and framer throughput on typical and torture messages.
//!
//! `cargo bench -p dtlsrtp-sip` prints figures. Without `--bench` in argv (as `cargo test --all-targets` runs it)
//! it does a tiny smoke pass: a few iterations with correctness asserts, well under a second.
#![allow(clippy::unwrap_used, clippy::panic)] // a bench binary: failing loudly is the point

use std::hint::black_box;
use std::time::{Duration, Instant};

use dtlsrtp_sip::{Framed, Message, StreamFramer};

const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK74bf9;rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
Call-ID: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@client.atlanta.example.com;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, PRACK, UPDATE\r\n\
Supported: 100rel, timer\r\n\
User-Agent: dtlsrtp\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 162\r\n\r\n\
v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.101\r\ns=-\r\nc=IN IP4 192.0.2.101\r\nt=0 0\r\n\
m=audio 49172 UDP/TLS/RTP/SAVP 0\r\na=setup:actpass\r\na=rtpmap:0 PCMU/8000\r\n";

#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
fn time<F: FnMut()>(iters: u32, mut f: F) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

fn report(name: &str, bytes: usize, iters: u32, d: Duration) {
    let ns = d.as_nanos() as f64 / f64::from(iters);
    println!(
        "{name:<34} {ns:>9.0} ns/msg  {:>8.0} msg/s  {:>7.1} MB/s",
        1e9 / ns,
        bytes as f64 / ns * 1e3
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let iters = if full { 200_000 } else { 20 };
    let wsinv = include_bytes!("../tests/torture/3.1.1.1-wsinv.dat").as_slice();
    let longreq = include_bytes!("../tests/torture/3.1.1.7-longreq.dat").as_slice();

    for (name, data) in [
        ("parse INVITE+SDP (typical)", INVITE.as_bytes()),
        ("parse wsinv (RFC 4475)", wsinv),
        ("parse longreq (RFC 4475)", longreq),
    ] {
        let m = Message::parse(data).unwrap();
        assert_eq!(m.to_bytes(), data);
        let d = time(iters, || {
            black_box(Message::parse(black_box(data)).unwrap());
        });
        report(name, data.len(), iters, d);
    }

    let m = Message::parse(INVITE.as_bytes()).unwrap();
    let d = time(iters, || {
        black_box(black_box(&m).to_bytes());
    });
    report("write INVITE+SDP", INVITE.len(), iters, d);

    let stream: Vec<u8> = INVITE.repeat(16).into_bytes();
    let d = time(iters / 16 + 1, || {
        let mut f = StreamFramer::default();
        f.push(&stream);
        let mut n = 0;
        while let Some(Ok(Framed::Message(_))) = f.next_message() {
            n += 1;
        }
        assert_eq!(n, 16);
    });
    report(
        "frame 16 INVITEs from a TCP stream",
        stream.len(),
        (iters / 16 + 1) * 16,
        d / 16 * 16,
    );

    if !full {
        println!("smoke pass ok (run `cargo bench -p dtlsrtp-sip` for figures)");
    }
}
