//! Packets per second through one media port over loopback with the tokio driver, 160-octet payloads:
//! protect + send (port A), receive + unprotect (port B), and the CPU time each side's thread spent per 1,000
//! packets (from /proc/thread-self/schedstat). Each port runs on its own current-thread runtime on its own OS
//! thread, so the two figures are separate.
//!
//! `cargo bench -p dtlsrtp-tokio --bench media_port` (N=200000 by default, `MEDIA_BENCH_N` to change). Under
//! `cargo test` (no `--bench` argument) it runs a smoke pass of 200 packets and checks they arrive.
#![allow(clippy::disallowed_methods)] // bench: real sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use dtlsrtp_dtls::{Certificate, Config, CookieSecret, HashFunction, KeyType};
use dtlsrtp_media::{ForkId, MediaEvent, MediaPort, MediaPortConfig, PeerParams};
use dtlsrtp_sdp::Fingerprint;
use dtlsrtp_srtp::{DtlsRole, SrtpProfile};
use dtlsrtp_tokio::MediaHandle;

const FORK: ForkId = ForkId(1);

/// CPU time of the calling thread (ns on CPU, from the scheduler's statistics).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn port_config(
    local: std::net::SocketAddr,
    seed: [u8; 32],
    cert: Certificate,
    profile: SrtpProfile,
) -> MediaPortConfig {
    let mut dtls = Config::new(cert, CookieSecret::new([9; 32]));
    dtls.srtp_profiles = vec![profile];
    let mut c = MediaPortConfig::new(local, dtls, seed);
    c.rtcp_interval = Duration::from_secs(1);
    c
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn wait_verified(h: &mut MediaHandle) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(MediaEvent::FingerprintVerified { .. }) = h.next_event().await {
                return;
            }
        }
    })
    .await
    .expect("handshake");
}

struct Report {
    packets: u64,
    wall: Duration,
    cpu_ns: u64,
}

fn run(n: u64, profile: SrtpProfile) -> (Report, Report) {
    let (ca, cb) = (
        Certificate::generate(KeyType::EcdsaP256, "a", 1).unwrap(),
        Certificate::generate(KeyType::EcdsaP256, "b", 1).unwrap(),
    );
    let (fa, fb): (Fingerprint, Fingerprint) = (
        ca.fingerprint(HashFunction::Sha256).unwrap(),
        cb.fingerprint(HashFunction::Sha256).unwrap(),
    );
    let (b_addr_tx, b_addr_rx) = std_mpsc::channel();
    let (a_addr_tx, a_addr_rx) = std_mpsc::channel();
    let (go_tx, go_rx) = std_mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std_mpsc::channel::<()>();
    let ready_b = ready_tx.clone();

    // Receiver B: DTLS server.
    let recv = std::thread::spawn(move || {
        rt().block_on(async move {
            let mut b = MediaHandle::bind("127.0.0.1:0".parse().unwrap(), |l, s| {
                port_config(l, s, cb, profile)
            })
            .await
            .unwrap();
            b_addr_tx.send(b.local_addr()).unwrap();
            let a_addr = a_addr_rx.recv().unwrap();
            b.set_peer(
                FORK,
                PeerParams {
                    addr: Some(a_addr),
                    role: DtlsRole::Server,
                    fingerprints: vec![fa],
                    association: dtlsrtp_sdp::Association::Keep,
                    ice: None,
                },
            )
            .await
            .unwrap();
            wait_verified(&mut b).await;
            ready_b.send(()).unwrap();
            let cpu0 = thread_cpu_ns();
            let mut got = 0u64;
            let mut first = None;
            let mut last = Instant::now();
            // Until all arrived, or 300 ms without a packet (the rest was lost in the socket buffer).
            while got < n {
                match tokio::time::timeout(Duration::from_millis(300), b.next_event()).await {
                    Ok(Some(MediaEvent::Rtp(p))) => {
                        assert_eq!(p.payload.len(), 160);
                        got += 1;
                        last = Instant::now();
                        first.get_or_insert(last);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            let cpu = thread_cpu_ns().saturating_sub(cpu0);
            let wall = first.map_or(Duration::ZERO, |f| last - f);
            b.shutdown().await.unwrap();
            Report {
                packets: got,
                wall,
                cpu_ns: cpu,
            }
        })
    });

    // Sender A: DTLS client.
    let send = std::thread::spawn(move || {
        rt().block_on(async move {
            let mut a = MediaHandle::bind("127.0.0.1:0".parse().unwrap(), |l, s| {
                port_config(l, s, ca, profile)
            })
            .await
            .unwrap();
            a_addr_tx.send(a.local_addr()).unwrap();
            let b_addr = b_addr_rx.recv().unwrap();
            a.set_peer(
                FORK,
                PeerParams {
                    addr: Some(b_addr),
                    role: DtlsRole::Client,
                    fingerprints: vec![fb],
                    association: dtlsrtp_sdp::Association::Keep,
                    ice: None,
                },
            )
            .await
            .unwrap();
            wait_verified(&mut a).await;
            ready_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            let payload = vec![0x5au8; 160];
            let cpu0 = thread_cpu_ns();
            let t0 = Instant::now();
            for i in 0..n {
                a.send_rtp(
                    FORK,
                    0,
                    false,
                    (i as u32).wrapping_mul(160),
                    payload.clone(),
                )
                .await
                .unwrap();
            }
            // Commands are handled in order: this answer comes after the last packet left.
            let infos = a.associations().await.unwrap();
            let wall = t0.elapsed();
            let cpu = thread_cpu_ns().saturating_sub(cpu0);
            let sent = infos.first().map_or(0, |i| i.counters.packets_out);
            assert_eq!(sent, n);
            // Stay up until the receiver is done (it may still answer RTCP).
            tokio::time::sleep(Duration::from_millis(400)).await;
            a.shutdown().await.unwrap();
            Report {
                packets: sent,
                wall,
                cpu_ns: cpu,
            }
        })
    });
    ready_rx.recv().unwrap();
    ready_rx.recv().unwrap();
    go_tx.send(()).unwrap();
    (send.join().unwrap(), recv.join().unwrap())
}

/// The port alone, no socket, no channel: `send_rtp` + `poll_transmit` on A, `handle_datagram` + `poll_event`
/// on B, in memory on this thread. Returns (ns per packet send side, ns per packet receive side).
fn sans_io(n: u64, profile: SrtpProfile) -> (f64, f64) {
    let (ca, cb) = (
        Certificate::generate(KeyType::EcdsaP256, "a", 1).unwrap(),
        Certificate::generate(KeyType::EcdsaP256, "b", 1).unwrap(),
    );
    let (fa, fb) = (
        ca.fingerprint(HashFunction::Sha256).unwrap(),
        cb.fingerprint(HashFunction::Sha256).unwrap(),
    );
    let (addr_a, addr_b) = (
        "127.0.0.1:5000".parse().unwrap(),
        "127.0.0.1:6000".parse().unwrap(),
    );
    let now = Instant::now();
    let mut a = MediaPort::new(now, port_config(addr_a, [1; 32], ca, profile)).unwrap();
    let mut b = MediaPort::new(now, port_config(addr_b, [2; 32], cb, profile)).unwrap();
    let peer = |addr, role, fp| PeerParams {
        addr: Some(addr),
        role,
        fingerprints: vec![fp],
        association: dtlsrtp_sdp::Association::Keep,
        ice: None,
    };
    b.listen(true);
    b.set_peer(now, FORK, peer(addr_a, DtlsRole::Server, fa))
        .unwrap();
    a.set_peer(now, FORK, peer(addr_b, DtlsRole::Client, fb))
        .unwrap();
    for _ in 0..20 {
        while let Some(t) = a.poll_transmit() {
            b.handle_datagram(now, addr_a, &t.bytes);
        }
        while let Some(t) = b.poll_transmit() {
            a.handle_datagram(now, addr_b, &t.bytes);
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
    }
    let payload = [0x5au8; 160];
    let mut wire = Vec::with_capacity(n as usize);
    let t0 = Instant::now();
    for i in 0..n {
        a.send_rtp(now, FORK, 0, false, (i as u32).wrapping_mul(160), &payload)
            .unwrap();
        wire.push(a.poll_transmit().unwrap().bytes);
    }
    let send = t0.elapsed();
    let t1 = Instant::now();
    let mut got = 0u64;
    for d in &wire {
        b.handle_datagram(now, addr_a, d);
        while let Some(e) = b.poll_event() {
            got += u64::from(matches!(e, MediaEvent::Rtp(_)));
        }
    }
    let recv = t1.elapsed();
    assert_eq!(got, n);
    (
        send.as_nanos() as f64 / n as f64,
        recv.as_nanos() as f64 / n as f64,
    )
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    if !bench {
        let (s, r) = run(200, SrtpProfile::AeadAes128Gcm);
        assert_eq!(s.packets, 200);
        assert!(r.packets > 150, "smoke: {} of 200 received", r.packets);
        let _ = sans_io(100, SrtpProfile::AeadAes128Gcm);
        println!(
            "media_port smoke pass: sent {}, received {} (not a measurement)",
            s.packets, r.packets
        );
        return;
    }
    let n: u64 = std::env::var("MEDIA_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    println!("media_port: {n} RTP packets, 160-octet payload, 127.0.0.1, tokio driver, one port each side");
    for profile in [SrtpProfile::Aes128CmHmacSha1_80, SrtpProfile::AeadAes128Gcm] {
        let (ns_send, ns_recv) = sans_io(n, profile);
        println!(
            "{profile}: port alone (sans-IO, no socket/channel): send_rtp+poll_transmit {ns_send:.0} ns/pkt, \
             handle_datagram+poll_event {ns_recv:.0} ns/pkt"
        );
        let (s, r) = run(n, profile);
        let pps = |rep: &Report| rep.packets as f64 / rep.wall.as_secs_f64().max(1e-9);
        let per_k = |rep: &Report| rep.cpu_ns as f64 / rep.packets.max(1) as f64 * 1000.0 / 1e3;
        println!(
            "{profile}: protect+send {:.0} pkt/s, CPU {:.1} µs per 1000 pkts | receive+unprotect {:.0} pkt/s \
             ({} of {n} received), CPU {:.1} µs per 1000 pkts",
            pps(&s),
            per_k(&s),
            pps(&r),
            r.packets,
            per_k(&r)
        );
    }
}
