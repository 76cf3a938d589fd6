//! WHIP session setup on loopback (issue 9): our server, and a WHIP client made from our own media port
//! (`dtlsrtp_whip::client`: full ICE, controlling, `actpass`; a fresh ECDSA certificate per session).
//!
//! - sequential: POST → 201 → answer applied, then until the DTLS handshake is done and both fingerprints are
//!   verified ("connected"), then one PCMU frame until the server has authenticated it ("first verified SRTP");
//!   median and p90 over N sessions, and sessions set up per second one at a time;
//! - concurrent: batches of 16 clients at once, sessions connected per second.
//!
//! `cargo bench -p dtlsrtp-whip --bench whip_setup` (N=100, `WHIP_BENCH_N` to change). Under `cargo test`
//! (no `--bench` argument) it runs a smoke pass of 3 sessions and checks each delivered its frame.
#![allow(clippy::disallowed_methods)] // bench: real sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dtlsrtp_media::ice::IceConfig;
use dtlsrtp_media::MediaEvent;
use dtlsrtp_sdp::attr::Direction;
use dtlsrtp_whip::client::{self, ClientSession};
use dtlsrtp_whip::{Server, ServerConfig, Sink, FORK};
use tokio::sync::mpsc;

struct FirstPacket(Option<mpsc::UnboundedSender<Instant>>);

impl Sink for FirstPacket {
    fn rtp(&mut self, _pt: u8, _seq: u16, _payload: &[u8]) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Instant::now());
        }
    }
    fn finish(self: Box<Self>) {}
}

async fn verified(c: &mut ClientSession) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match c.handle.next_event().await {
                Some(MediaEvent::FingerprintVerified { .. }) => return,
                Some(_) => {}
                None => panic!("client stopped"),
            }
        }
    })
    .await
    .expect("connected in time");
}

fn pct(v: &mut [Duration], p: usize) -> Duration {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n: usize = if full {
        std::env::var("WHIP_BENCH_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100)
    } else {
        3
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut cfg = ServerConfig::new(Ipv4Addr::LOCALHOST.into());
        cfg.max_sessions = 64;
        cfg.sink = Some(Arc::new(move |_id: &str| {
            Some(Box::new(FirstPacket(Some(tx.clone()))) as Box<dyn Sink>)
        }));
        let server = Server::new(cfg).unwrap();
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let s = server.clone();
        tokio::spawn(async move { s.serve(listener).await });

        for ta in [50u64, 5] {
            sequential(n, addr, &server, &mut rx, ta).await;
        }
        concurrent(n, full, addr, &server).await;
    });
}

async fn sequential(
    n: usize,
    addr: SocketAddr,
    server: &Server,
    rx: &mut mpsc::UnboundedReceiver<Instant>,
    ta_ms: u64,
) {
    let ice = IceConfig {
        ta: Duration::from_millis(ta_ms),
        ..IceConfig::default()
    };
    {
        let (mut answered, mut connected, mut first_srtp) = (vec![], vec![], vec![]);
        let t_all = Instant::now();
        let mut setup_total = Duration::ZERO;
        for _ in 0..n {
            let t0 = Instant::now();
            let mut c = client::connect_with(addr, "/whip", Direction::SendOnly, None, ice.clone())
                .await
                .unwrap();
            answered.push(t0.elapsed());
            verified(&mut c).await;
            let t_conn = t0.elapsed();
            connected.push(t_conn);
            setup_total += t_conn;
            c.handle
                .send_rtp(FORK, 0, true, 0, vec![0xFF; 160])
                .await
                .unwrap();
            let at = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .expect("the server authenticated our first frame")
                .unwrap();
            first_srtp.push(at.duration_since(t0));
            assert_eq!(server.sessions().len(), 1);
            assert!(server.sessions()[0].stats.rtp_in.load(Ordering::Relaxed) >= 1);
            assert_eq!(client::delete(addr, &c.location, None).await.unwrap(), 200);
            c.handle.shutdown().await.unwrap();
        }
        let wall = t_all.elapsed();
        println!(
            "whip_setup sequential, {n} sessions (loopback, 1 client at a time, client ICE Ta {ta_ms} ms):"
        );
        println!(
            "  POST → 201 answer applied : median {:?}  p90 {:?}",
            pct(&mut answered, 50),
            pct(&mut answered, 90)
        );
        println!(
            "  POST → DTLS connected     : median {:?}  p90 {:?}",
            pct(&mut connected, 50),
            pct(&mut connected, 90)
        );
        println!(
            "  POST → first verified SRTP: median {:?}  p90 {:?}",
            pct(&mut first_srtp, 50),
            pct(&mut first_srtp, 90)
        );
        println!(
            "  sessions set up per second: {:.1} (setup only), {:.1} (incl. frame, DELETE, teardown)",
            n as f64 / setup_total.as_secs_f64(),
            n as f64 / wall.as_secs_f64()
        );
    }
}

async fn concurrent(n: usize, full: bool, addr: SocketAddr, server: &Server) {
    {
        let batch = if full { 16 } else { 2 };
        let rounds = n.div_ceil(batch);
        let mut total = 0usize;
        let mut busy = Duration::ZERO;
        for _ in 0..rounds {
            let t0 = Instant::now();
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..batch {
                set.spawn(async move {
                    let mut c = client::connect(addr, "/whip", Direction::SendOnly, None)
                        .await
                        .unwrap();
                    verified(&mut c).await;
                    c
                });
            }
            let mut clients = vec![];
            while let Some(c) = set.join_next().await {
                clients.push(c.unwrap());
            }
            busy += t0.elapsed();
            total += clients.len();
            for c in clients {
                assert_eq!(client::delete(addr, &c.location, None).await.unwrap(), 200);
                c.handle.shutdown().await.unwrap();
            }
        }
        println!(
            "whip_setup concurrent: {total} sessions in batches of {batch}: {:.1} sessions connected per second",
            total as f64 / busy.as_secs_f64()
        );
        assert!(server.sessions().is_empty());
    }
}
