//! The WHIP/WHEP server with a client made from our own media port, in process, on 127.0.0.1
//! (A-R-OTHER-SIGNALING: no SIP anywhere). POST → 201 + answer + Location, media flows both ways as the kind
//! says, DELETE ends the session and frees its port; bad input gets the right status and disturbs no running
//! session; 50 concurrent sessions are set up and torn down in a bounded loop without leaking fds or memory.
#![allow(clippy::disallowed_methods)] // tests: real sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dtlsrtp_media::MediaEvent;
use dtlsrtp_sdp::attr::Direction;
use dtlsrtp_whip::client::{self, ClientSession};
use dtlsrtp_whip::{Server, ServerConfig, Sink, FORK};

const STEP: Duration = Duration::from_secs(15);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Vec<Vec<u8>>>>);

struct RecSink(Recorded);

impl Sink for RecSink {
    fn rtp(&mut self, _pt: u8, _seq: u16, payload: &[u8]) {
        self.0 .0.lock().unwrap().push(payload.to_vec());
    }
    fn finish(self: Box<Self>) {}
}

async fn start(mut cfg: ServerConfig, rec: Option<Recorded>) -> (Server, SocketAddr) {
    if let Some(r) = rec {
        cfg.sink = Some(Arc::new(move |_id: &str| {
            Some(Box::new(RecSink(r.clone())) as Box<dyn Sink>)
        }));
    }
    let server = Server::new(cfg).unwrap();
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener).await });
    (server, addr)
}

fn config() -> ServerConfig {
    ServerConfig::new(Ipv4Addr::LOCALHOST.into())
}

async fn wait_verified(c: &mut ClientSession) {
    tokio::time::timeout(STEP, async {
        loop {
            match c.handle.next_event().await {
                Some(MediaEvent::FingerprintVerified { .. }) => return,
                Some(_) => {}
                None => panic!("client port stopped"),
            }
        }
    })
    .await
    .expect("client verified the server's fingerprint");
}

/// A non-silent μ-law frame (a square wave).
fn frame(i: u32) -> Vec<u8> {
    (0..160)
        .map(|k| if (k / 10 + i) % 2 == 0 { 0x20 } else { 0xA0 })
        .collect()
}

async fn port_is_free(local: SocketAddr) -> bool {
    tokio::net::UdpSocket::bind(local).await.is_ok()
}

#[test]
fn a_r_other_signaling_whip_post_media_delete_frees_port() {
    runtime().block_on(async {
        let rec = Recorded::default();
        let (server, addr) = start(config(), Some(rec.clone())).await;
        let mut c = client::connect(addr, "/whip", Direction::SendOnly, None)
            .await
            .unwrap();
        assert!(c.location.starts_with("/whip/"), "{}", c.location);
        assert_eq!(c.payload_type, 0, "PCMU first");
        let sessions = server.sessions();
        assert_eq!(sessions.len(), 1);
        let local = sessions[0].local;
        wait_verified(&mut c).await;
        for i in 0..50u32 {
            c.handle
                .send_rtp(FORK, 0, i == 0, i * 160, frame(i))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::timeout(STEP, async {
            while rec.0.lock().unwrap().len() < 50 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the server's sink got our 50 frames");
        assert!(sessions[0].stats.verified.load(Ordering::Relaxed));
        assert_eq!(rec.0.lock().unwrap()[3], frame(3));
        assert!(!port_is_free(local).await, "the session holds its port");

        assert_eq!(client::delete(addr, &c.location, None).await.unwrap(), 200);
        assert!(server.sessions().is_empty());
        assert!(port_is_free(local).await, "DELETE freed the port");
        assert_eq!(client::delete(addr, &c.location, None).await.unwrap(), 404);
        c.handle.shutdown().await.unwrap();
    });
}

#[test]
fn a_r_other_signaling_whep_we_send_audio() {
    runtime().block_on(async {
        let (server, addr) = start(config(), None).await;
        let mut c = client::connect(addr, "/whep", Direction::RecvOnly, None)
            .await
            .unwrap();
        assert!(c.location.starts_with("/whep/"), "{}", c.location);
        let got = tokio::time::timeout(STEP, async {
            let mut n = 0;
            while n < 25 {
                match c.handle.next_event().await {
                    Some(MediaEvent::Rtp(r)) => {
                        assert_eq!(r.payload_type, 0);
                        assert_eq!(r.payload.len(), 160);
                        n += 1;
                    }
                    Some(_) => {}
                    None => break,
                }
            }
            n
        })
        .await
        .expect("25 packets from the server in time");
        assert_eq!(got, 25);
        assert!(server.sessions()[0].stats.rtp_out.load(Ordering::Relaxed) >= 25);
        assert_eq!(client::delete(addr, &c.location, None).await.unwrap(), 200);
        assert!(server.sessions().is_empty());
        c.handle.shutdown().await.unwrap();
    });
}

/// A bad-input case: what, headers, body, expected status.
type Case = (&'static str, Vec<(&'static str, &'static str)>, String, u16);

/// A browser-like offer (BUNDLE, SAVPF, ICE, actpass, rtcp-mux) with the given edits.
fn offer(setup: &str, fingerprint: bool) -> String {
    let mut s = String::from(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
         m=audio 9 UDP/TLS/RTP/SAVPF 0 8\r\nc=IN IP4 127.0.0.1\r\na=mid:0\r\n\
         a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n",
    );
    if fingerprint {
        s.push_str("a=fingerprint:sha-256 ");
        s.push_str(&vec!["AB"; 32].join(":"));
        s.push_str("\r\n");
    }
    s.push_str(&format!("a=setup:{setup}\r\n"));
    s.push_str(
        "a=rtcp-mux\r\na=sendonly\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n",
    );
    s
}

#[test]
fn a_r_other_signaling_bad_input_right_status_others_undisturbed() {
    runtime().block_on(async {
        let rec = Recorded::default();
        let mut cfg = config();
        cfg.token = Some("s3cret".to_owned());
        cfg.max_body = 4096;
        // The accepted fake offer below never connects: its session must end alone after this.
        cfg.connect_timeout = Duration::from_secs(2);
        let (server, addr) = start(cfg, Some(rec.clone())).await;
        let token = Some("s3cret");
        // A running session that must stay undisturbed.
        let mut c = client::connect(addr, "/whip", Direction::SendOnly, token)
            .await
            .unwrap();
        wait_verified(&mut c).await;

        let sdp = [("Content-Type", "application/sdp")];
        let authz = ("Authorization", "Bearer s3cret");
        let ok = [sdp[0], authz];
        let post = |headers: Vec<(&'static str, &'static str)>, body: String| async move {
            let r = client::request(addr, "POST", "/whip", &headers, body.as_bytes())
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&r.body).into_owned();
            if r.status != 201 {
                assert_eq!(text.matches('\n').count(), 1, "one-line reason: {text:?}");
            }
            (r.status, text)
        };
        // The unedited offer is accepted (so the failures below are the edits' doing).
        let (st, _) = post(ok.to_vec(), offer("actpass", true)).await;
        assert_eq!(st, 201);
        let cases: Vec<Case> = vec![
            (
                "malformed SDP",
                ok.to_vec(),
                "hello\r\nworld\r\n".to_owned(),
                400,
            ),
            (
                "missing fingerprint",
                ok.to_vec(),
                offer("actpass", false),
                400,
            ),
            ("holdconn", ok.to_vec(), offer("holdconn", true), 400),
            (
                "wrong content type",
                vec![("Content-Type", "text/plain"), authz],
                offer("actpass", true),
                415,
            ),
            ("oversize body", ok.to_vec(), "v=0\r\n".repeat(2000), 413),
            (
                "wrong token",
                vec![sdp[0], ("Authorization", "Bearer nope")],
                offer("actpass", true),
                401,
            ),
            ("no token", sdp.to_vec(), offer("actpass", true), 401),
        ];
        for (what, headers, body, want) in cases {
            let (st, text) = post(headers, body).await;
            eprintln!("{what}: {st} {text:?}");
            assert_eq!(st, want, "{what}: {text}");
        }
        // The publisher page.
        let r = client::request(addr, "GET", "/", &[], &[]).await.unwrap();
        assert_eq!(r.status, 200);
        assert!(r
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/html")));
        let page = String::from_utf8_lossy(&r.body);
        assert!(
            page.contains("fetch('/' + kind, { method: 'POST'"),
            "{page}"
        );
        // OPTIONS without an Origin: answered, no CORS headers (same-origin by default, issue 12 item 12;
        // tests/whip_origin.rs covers cross-origin pages).
        let r = client::request(addr, "OPTIONS", "/whip", &[], &[])
            .await
            .unwrap();
        assert_eq!(r.status, 204);
        assert_eq!(r.header("access-control-allow-origin"), None);
        // DELETE needs the token too.
        let r = client::delete(addr, &c.location, Some("nope"))
            .await
            .unwrap();
        assert_eq!(r, 401);

        // Two sessions: ours and the accepted fake one, whose peer never shows up: it ends alone (connect
        // timeout) and frees its port, while ours still carries media.
        let all = server.sessions();
        assert_eq!(all.len(), 2);
        let fake = all
            .iter()
            .find(|s| !s.stats.verified.load(Ordering::Relaxed))
            .unwrap();
        let fake_port = fake.local;
        tokio::time::timeout(STEP, async {
            while server.sessions().len() != 1 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the failed session ended by itself");
        assert!(port_is_free(fake_port).await, "its port was freed");
        assert!(
            c.location.ends_with(&server.sessions()[0].id),
            "ours survived"
        );
        let before = rec.0.lock().unwrap().len();
        for i in 0..20u32 {
            c.handle
                .send_rtp(FORK, 0, i == 0, i * 160, frame(i))
                .await
                .unwrap();
        }
        tokio::time::timeout(STEP, async {
            while rec.0.lock().unwrap().len() < before + 20 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the running session was not disturbed");
        assert_eq!(client::delete(addr, &c.location, token).await.unwrap(), 200);
        server.shutdown().await;
        assert!(server.sessions().is_empty());
        c.handle.shutdown().await.unwrap();
    });
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// 50 concurrent sessions (the limit), a 51st refused with 503; all torn down; 4 rounds; fds equal and RSS
/// bounded after the first round.
#[test]
fn a_r_other_signaling_50_concurrent_sessions_no_leak() {
    const N: usize = 50;
    const ROUNDS: usize = 4;
    runtime().block_on(async {
        let mut cfg = config();
        cfg.max_sessions = N;
        let (server, addr) = start(cfg, None).await;
        let mut marks = Vec::new();
        for round in 0..ROUNDS {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..N {
                set.spawn(async move {
                    let mut c = client::connect(addr, "/whip", Direction::SendOnly, None)
                        .await
                        .unwrap();
                    wait_verified(&mut c).await;
                    c
                });
            }
            let mut clients = Vec::new();
            while let Some(c) = set.join_next().await {
                clients.push(c.unwrap());
            }
            assert_eq!(server.sessions().len(), N);
            tokio::time::timeout(STEP, async {
                while !server
                    .sessions()
                    .iter()
                    .all(|s| s.stats.verified.load(Ordering::Relaxed))
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .expect("the server verified every client");
            let extra = client::connect(addr, "/whip", Direction::SendOnly, None).await;
            assert!(
                matches!(extra, Err(client::ClientError::Status(503))),
                "{extra:?}"
            );
            for c in clients {
                assert_eq!(client::delete(addr, &c.location, None).await.unwrap(), 200);
                c.handle.shutdown().await.unwrap();
            }
            assert!(server.sessions().is_empty());
            let m = (fds(), rss_kib());
            eprintln!("round {round}: fds {} rss {} KiB", m.0, m.1);
            marks.push(m);
        }
        let (fd1, rss1) = marks[0];
        let (fdn, rssn) = marks[ROUNDS - 1];
        assert!(fdn <= fd1 + 2, "fds {fd1} → {fdn}");
        assert!(rssn <= rss1 + 16 * 1024, "RSS {rss1} → {rssn} KiB");
    });
}

/// A client whose offer carries a fingerprint that is not its certificate's: the server's fingerprint gate
/// refuses the handshake (FingerprintMismatch), that session ends alone and frees its port; a good session
/// running beside it keeps carrying media.
#[test]
fn a_r_other_signaling_fingerprint_mismatch_ends_that_session_only() {
    use dtlsrtp_dtls::{Certificate, Config as DtlsConfig, CookieSecret, HashFunction, KeyType};
    use dtlsrtp_media::ice::{IceConfig, IceRole};
    use dtlsrtp_media::MediaPortConfig;
    use dtlsrtp_sdp::negotiate::{AnswerSetup, Renew};
    use dtlsrtp_sdp::Sdp;
    use dtlsrtp_session::Session;
    use dtlsrtp_tokio::MediaHandle;

    runtime().block_on(async {
        let rec = Recorded::default();
        let (server, addr) = start(config(), Some(rec.clone())).await;
        let mut good = client::connect(addr, "/whip", Direction::SendOnly, None)
            .await
            .unwrap();
        wait_verified(&mut good).await;

        // The liar: its port uses one certificate, its offer announces another.
        let cert = Certificate::generate(KeyType::EcdsaP256, "liar", 1).unwrap();
        let other = Certificate::generate(KeyType::EcdsaP256, "other", 1).unwrap();
        let wrong_fp = other.fingerprint(HashFunction::Sha256).unwrap();
        let liar = MediaHandle::bind("127.0.0.1:0".parse().unwrap(), move |local, seed| {
            MediaPortConfig::new(
                local,
                DtlsConfig::new(cert, CookieSecret::new([7; 32])),
                seed,
            )
        })
        .await
        .unwrap();
        let (creds, cand) = liar
            .enable_ice(IceConfig::default(), None, IceRole::Controlling)
            .await
            .unwrap();
        let cfg = dtlsrtp_session::ice_negotiator_config(
            liar.local_addr().ip(),
            wrong_fp,
            AnswerSetup::Active,
            Some((&creds, &cand)),
            false,
        );
        let mut fill = |b: &mut [u8]| getrandom::fill(b).unwrap();
        let mut neg =
            Session::new(cfg, dtlsrtp_session::g711(), Some("0".into()), &mut fill).unwrap();
        neg.set_fixed_direction(Some(Direction::SendOnly));
        let (offer, pending) = neg
            .offer(liar.local_addr().port(), Renew::Keep, &mut fill)
            .unwrap();
        liar.listen(true).await.unwrap();
        let r = client::request(
            addr,
            "POST",
            "/whip",
            &[("Content-Type", "application/sdp")],
            offer.to_string().as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 201);
        let out = neg
            .apply_answer(pending, &Sdp::parse(&r.body).unwrap())
            .unwrap();
        let d = out.dtls().unwrap();
        liar.set_peer(FORK, dtlsrtp_session::peer_params(d, true).unwrap())
            .await
            .unwrap();
        let liar_session = server
            .sessions()
            .into_iter()
            .find(|s| r.header("location").is_some_and(|l| l.ends_with(&s.id)))
            .unwrap();

        // The server refuses it and the session ends by itself (well before any connect timeout).
        tokio::time::timeout(Duration::from_secs(10), async {
            while server.sessions().len() != 1 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the mismatching session ended");
        assert!(!liar_session.stats.verified.load(Ordering::Relaxed));
        assert!(port_is_free(liar_session.local).await);
        let c = liar.counters().await.unwrap();
        eprintln!("liar: {c:?}");
        liar.shutdown().await.unwrap();

        // The good one is untouched.
        let before = rec.0.lock().unwrap().len();
        for i in 0..20u32 {
            good.handle
                .send_rtp(FORK, 0, i == 0, i * 160, frame(i))
                .await
                .unwrap();
        }
        tokio::time::timeout(STEP, async {
            while rec.0.lock().unwrap().len() < before + 20 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the good session still carries media");
        assert_eq!(
            client::delete(addr, &good.location, None).await.unwrap(),
            200
        );
        good.handle.shutdown().await.unwrap();
    });
}
