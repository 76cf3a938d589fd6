//! R-2 over real sockets: nothing a remote party does on SIP over TCP stalls the tokio driver. A peer that
//! sends requests with large responses and never reads is dropped while a UDP call keeps its media and SIP; a
//! connect to a blackhole fails its transaction within the connect deadline while the call goes on; incoming
//! connections are capped per source address and in total; a media socket that cannot be bound is not fatal.
#![allow(clippy::disallowed_methods)] // tests: real sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dtlsrtp::{CallId, CallOptions, Event, TransportKind};
use dtlsrtp_dtls::{Certificate, KeyType};
use dtlsrtp_tokio::endpoint::{DriverOptions, EndpointHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout, Instant};

async fn start_with(user: &str, opts: DriverOptions) -> EndpointHandle {
    let cert = Certificate::generate(KeyType::EcdsaP256, user, 1).unwrap();
    let user = user.to_owned();
    EndpointHandle::start(opts, move |sip, seed| {
        dtlsrtp::Config::new(&user, "127.0.0.1", sip, cert, seed)
    })
    .await
    .unwrap()
}

fn options(tcp: bool) -> DriverOptions {
    let mut opts = DriverOptions::new("127.0.0.1:0".parse().unwrap());
    if tcp {
        opts.sip_tcp = Some("127.0.0.1:0".parse().unwrap());
    }
    opts
}

fn tcp_addr(h: &EndpointHandle) -> SocketAddr {
    h.sip_addrs()
        .iter()
        .find(|s| s.0 == TransportKind::Tcp)
        .unwrap()
        .1
}

async fn wait_for(
    h: &mut EndpointHandle,
    limit: Duration,
    mut pred: impl FnMut(&Event) -> bool,
) -> Vec<Event> {
    let mut seen = Vec::new();
    timeout(limit, async {
        while let Some(e) = h.next_event().await {
            let done = pred(&e);
            seen.push(e);
            if done {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; saw {seen:?}"));
    seen
}

/// a (UDP) calls b over UDP; both established.
async fn udp_call(a: &mut EndpointHandle, b: &mut EndpointHandle) -> (CallId, CallId) {
    let ca = a
        .dial(&format!("sip:bob@{}", b.sip_udp()), CallOptions::default())
        .await
        .unwrap();
    let seen = wait_for(b, Duration::from_secs(10), |e| {
        matches!(e, Event::IncomingCall { .. })
    })
    .await;
    let Some(Event::IncomingCall { call: cb, .. }) = seen.last().cloned() else {
        unreachable!()
    };
    b.answer(cb).await.unwrap();
    wait_for(b, Duration::from_secs(10), |e| {
        matches!(e, Event::Established { .. })
    })
    .await;
    wait_for(a, Duration::from_secs(10), |e| {
        matches!(e, Event::Established { .. })
    })
    .await;
    (ca, cb)
}

/// Sends 50 frames a→b at 20 ms and counts the authenticated ones b receives within 5 s.
async fn media_frames(a: &EndpointHandle, ca: CallId, b: &mut EndpointHandle) -> usize {
    let mut got = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut sent = 0u32;
    let end = Instant::now() + Duration::from_secs(5);
    while got < 50 && Instant::now() < end {
        tokio::select! {
            _ = tick.tick(), if sent < 50 => {
                a.send_audio(ca, 0, sent * 160, vec![0xd5; 160]).await.unwrap();
                sent += 1;
            }
            () = tokio::time::sleep_until(end) => break,
            e = b.next_event() => match e {
                Some(Event::Rtp { verified: true, .. }) => got += 1,
                Some(Event::Terminated { .. }) => panic!("the call ended: {e:?}"),
                _ => {}
            },
        }
    }
    got
}

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

/// a TCP peer that sends requests with large responses and never reads fills its socket buffers and
/// our queue; it is dropped, and a UDP call meanwhile keeps its media, its re-INVITE and its BYE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_2_dos_tcp_nonreading_peer_does_not_stall_udp_call() {
    let mut a = start_with("alice", options(false)).await;
    let mut b = start_with("bob", options(true)).await;
    let (ca, cb) = udp_call(&mut a, &mut b).await;
    let target = tcp_addr(&b);
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    // The attacker: a blocking socket on its own thread, never reading. It stops sending when a write blocks
    // for 2 s (the server stopped reading: the old driver) or fails (the server dropped it).
    let attacker = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(target).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut sent = 0usize;
        let mut dropped = false;
        for i in 0..2_000u32 {
            match s.write_all(&big_options(i, target)) {
                Ok(()) => sent += 1,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(_) => {
                    dropped = true;
                    break;
                }
            }
        }
        // Keep the connection (and its full buffers) until the test is done.
        while !stop2.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        (sent, dropped)
    });
    // Let the attacker fill the buffers (20 MB of responses would need far more than they hold).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = media_frames(&a, ca, &mut b).await;
    assert_eq!(got, 50, "every frame arrived while the peer did not read");
    a.reinvite(ca).await.unwrap();
    wait_for(&mut a, Duration::from_secs(5), |e| {
        matches!(e, Event::Modified { .. })
    })
    .await;
    a.hangup(ca).await.unwrap();
    wait_for(
        &mut b,
        Duration::from_secs(5),
        |e| matches!(e, Event::Terminated { call, .. } if *call == cb),
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let (sent, dropped) = attacker.join().unwrap();
    assert!(sent >= 20, "the attacker got requests in: {sent}");
    assert!(
        dropped,
        "bob closed the connection of the peer that does not read"
    );
    assert!(b.transport_stats().slow_peers_dropped >= 1);
}

/// A listening socket whose accept queue is full: the kernel drops further SYNs, so a connect hangs.
async fn blackhole() -> (tokio::net::TcpListener, Vec<tokio::net::TcpStream>) {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let l = s.listen(1).unwrap();
    let addr = l.local_addr().unwrap();
    let mut fill = Vec::new();
    for _ in 0..16 {
        match timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(c)) => fill.push(c),
            _ => return (l, fill),
        }
    }
    panic!("the accept queue never filled");
}

/// an outgoing TCP connect to a blackhole fails its transaction within the connect deadline (not at
/// Timer B, and without waiting for the kernel's SYN retries), while a UDP call's media goes on meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_2_tcp_connect_to_blackhole_fails_within_deadline_while_call_goes_on() {
    let (hole, _fill) = blackhole().await;
    let hole = hole.local_addr().unwrap();
    let mut a = start_with("alice", options(false)).await;
    let mut bo = options(true);
    bo.streams.connect_timeout = Duration::from_secs(1);
    let mut b = start_with("bob", bo).await;
    let (ca, _cb) = udp_call(&mut a, &mut b).await;
    let started = Instant::now();
    let stuck = b
        .dial(
            &format!("sip:x@{hole};transport=tcp"),
            CallOptions::default(),
        )
        .await
        .unwrap();
    let got = media_frames(&a, ca, &mut b).await;
    assert_eq!(got, 50, "every frame arrived while the connect hung");
    wait_for(
        &mut b,
        Duration::from_secs(5),
        |e| matches!(e, Event::Terminated { call, .. } if *call == stuck),
    )
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "failed after {took:?}");
    assert!(b.transport_stats().connect_failures >= 1);
}

/// Opens a connection from `ip` (127.0.0.x) and reports whether the server kept it (no EOF within 300 ms).
async fn connect_from(ip: [u8; 4], to: SocketAddr) -> tokio::net::TcpStream {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::from((ip, 0))).unwrap();
    s.connect(to).await.unwrap()
}

async fn kept(s: &mut tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; 64];
    // Closed by the server: EOF or reset; kept: nothing to read.
    timeout(Duration::from_millis(300), s.read(&mut buf))
        .await
        .is_err()
}

/// incoming SIP connections beyond the per-address cap and beyond the total cap are refused (closed at
/// once, counted); a kept one carries SIP; a closed one frees its slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_2_tcp_connection_caps_per_source_and_total() {
    let mut bo = options(true);
    bo.streams.max_connections_per_ip = 3;
    bo.streams.max_connections = 5;
    let b = start_with("bob", bo).await;
    let to = tcp_addr(&b);
    let mut one = Vec::new();
    for _ in 0..6 {
        one.push(connect_from([127, 0, 0, 1], to).await);
    }
    let mut kept_one = 0;
    for s in &mut one {
        kept_one += usize::from(kept(s).await);
    }
    assert_eq!(kept_one, 3, "three per address");
    let mut two = Vec::new();
    for _ in 0..4 {
        two.push(connect_from([127, 0, 0, 2], to).await);
    }
    let mut kept_two = 0;
    for s in &mut two {
        kept_two += usize::from(kept(s).await);
    }
    assert_eq!(kept_two, 2, "five in total");
    assert_eq!(b.transport_stats().refused_connections, 5);
    // A kept connection carries SIP.
    let mut live = None;
    for s in two.iter_mut() {
        let req = format!(
            "OPTIONS sip:bob@{to} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.2:9;branch=z9hG4bKcap\r\n\
Max-Forwards: 70\r\nFrom: <sip:x@127.0.0.2>;tag=1\r\nTo: <sip:bob@{to}>\r\nCall-ID: cap\r\n\
CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        if s.write_all(req.as_bytes()).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok(n)) = timeout(Duration::from_secs(2), s.read(&mut buf)).await {
            if buf[..n].starts_with(b"SIP/2.0 200") {
                live = Some(());
                break;
            }
        }
    }
    assert!(live.is_some(), "a kept connection is answered");
    // Closing the 127.0.0.1 connections frees their slots.
    drop(one);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = connect_from([127, 0, 0, 1], to).await;
    assert!(kept(&mut again).await, "a freed slot is used again");
    b.shutdown().await.unwrap();
}

/// media sockets that cannot be bound (here: an address that is not local) are not fatal: the driver
/// keeps answering SIP, counts the failures and tries again later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_2_media_socket_bind_failure_is_not_fatal_and_retried() {
    let mut bo = options(false);
    bo.media_ip = "192.0.2.1".parse().unwrap();
    let b = start_with("bob", bo).await;
    let to = b.sip_udp();
    let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = s.local_addr().unwrap();
    let mut ok = 0;
    for i in 0..2 {
        let req = format!(
            "OPTIONS sip:bob@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKmb{i}\r\n\
Max-Forwards: 70\r\nFrom: <sip:x@{me}>;tag=1\r\nTo: <sip:bob@{to}>\r\nCall-ID: mb{i}\r\n\
CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        s.send_to(req.as_bytes(), to).await.unwrap();
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok((n, _))) = timeout(Duration::from_secs(2), s.recv_from(&mut buf)).await {
            ok += usize::from(buf[..n].starts_with(b"SIP/2.0 200"));
        }
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    assert_eq!(ok, 2, "the driver still answers SIP");
    assert!(
        b.transport_stats().media_bind_errors >= 2,
        "retried: {:?}",
        b.transport_stats()
    );
}
