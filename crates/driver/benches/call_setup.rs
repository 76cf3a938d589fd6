//! Call setup time on loopback: from the INVITE leaving (the `dial` command) to the first verified SRTP packet
//! received by the caller, median of 20 calls, for our Endpoint ⇄ our Endpoint direct, through Kamailio
//! (registrar + proxy, our callee registered), through the workspace's own forking proxy (`ProxyHandle`), and
//! our Endpoint → baresip (auto-answer, its tone).
//! Our callee answers at once and sends one frame as soon as it verified the caller's fingerprint.
//!
//! `cargo bench -p dtlsrtp-tokio --bench call_setup` (`CALL_BENCH_N`, default 20). Kamailio and baresip rows are
//! skipped (printed as such) when the binaries are missing. Under `cargo test` (no `--bench` argument) it runs
//! one direct call as a smoke pass and checks the media arrived.
#![allow(clippy::disallowed_methods)] // bench: real sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use dtlsrtp::{CallOptions, Event};
use dtlsrtp_dtls::{Certificate, KeyType};
use dtlsrtp_sip::ua::RegisterConfig;
use dtlsrtp_sip::SipUri;
use dtlsrtp_testkit::peers::baresip::{AnswerMode, Baresip, MediaEnc};
use dtlsrtp_testkit::peers::kamailio::Kamailio;
use dtlsrtp_tokio::endpoint::{DriverOptions, EndpointHandle};
use dtlsrtp_tokio::interpose::{proxy, ProxyHandle};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

async fn endpoint(user: &str) -> EndpointHandle {
    let cert = Certificate::generate(KeyType::EcdsaP256, user, 1).unwrap();
    let user = user.to_owned();
    EndpointHandle::start(
        DriverOptions::new("127.0.0.1:0".parse().unwrap()),
        move |sip, seed| dtlsrtp::Config::new(&user, "127.0.0.1", sip, cert, seed),
    )
    .await
    .unwrap()
}

/// Our callee: answers every call at once, sends one frame once it verified the caller.
fn auto_callee(mut h: EndpointHandle) -> tokio::task::JoinHandle<EndpointHandle> {
    tokio::spawn(async move {
        while let Some(e) = h.next_event().await {
            match e {
                Event::IncomingCall { call, .. } => h.answer(call).await.unwrap(),
                Event::FingerprintVerified { call, .. } => {
                    h.send_audio(call, 0, 0, vec![0xff; 160]).await.unwrap();
                }
                Event::Established { call, .. } => {
                    h.send_audio(call, 0, 160, vec![0xff; 160]).await.unwrap();
                }
                _ => {}
            }
        }
        h
    })
}

/// One call: dial → first verified RTP at the caller; then hang up and wait for the end.
async fn one_call(caller: &mut EndpointHandle, target: &str) -> Duration {
    let t0 = Instant::now();
    let call = caller.dial(target, CallOptions::default()).await.unwrap();
    let took = timeout(WAIT, async {
        while let Some(e) = caller.next_event().await {
            if let Event::Rtp {
                verified: true,
                call: c,
                ..
            } = e
            {
                if c == call {
                    return t0.elapsed();
                }
            }
        }
        panic!("driver stopped")
    })
    .await
    .expect("no verified SRTP within 10 s");
    caller.hangup(call).await.unwrap();
    timeout(WAIT, async {
        while let Some(e) = caller.next_event().await {
            if matches!(e, Event::Terminated { .. }) {
                return;
            }
        }
    })
    .await
    .unwrap();
    took
}

async fn series(caller: &mut EndpointHandle, target: &str, n: usize) -> Vec<Duration> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(one_call(caller, target).await);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    v.sort();
    v
}

fn report(name: &str, v: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<40} n={:<3} median {:>7.2} ms  min {:>7.2} ms  max {:>7.2} ms",
        v.len(),
        ms(v[v.len() / 2]),
        ms(v[0]),
        ms(v[v.len() - 1])
    );
}

fn have(bin: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false)
}

async fn run(bench: bool) {
    let n: usize = if bench {
        std::env::var("CALL_BENCH_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20)
    } else {
        1
    };
    let mut alice = endpoint("alice").await;
    let bob = endpoint("bob").await;
    let bob_sip = bob.sip_udp();
    let target = format!("sip:bob@{bob_sip}");
    let _bob = auto_callee(bob);
    let v = series(&mut alice, &target, n).await;
    assert_eq!(v.len(), n);
    report("our UA -> our UA (direct)", &v);
    if bench {
        interop_rows(&mut alice, n).await;
    }
    // Through the workspace's forking proxy on its own socket (one proxy per call: it forks one INVITE).
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let targets = vec![bob_sip];
        let p = ProxyHandle::start(
            "127.0.0.1:0".parse().unwrap(),
            |a| proxy::Proxy::new(a, targets),
            |_| {},
        )
        .await
        .unwrap();
        v.push(one_call(&mut alice, &format!("sip:bob@{}", p.addr())).await);
        p.shutdown().await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    v.sort();
    report("our UA -> dtlsrtp-proxy -> our UA", &v);
}

/// The rows against real peers (skipped when a binary is missing).
async fn interop_rows(alice: &mut EndpointHandle, n: usize) {
    if have("kamailio") {
        let k = Kamailio::builder().start().unwrap();
        let carol = endpoint("carol").await;
        carol
            .register(RegisterConfig {
                registrar: SipUri::parse(&format!("sip:{}", k.domain())).unwrap(),
                aor: SipUri::parse(&k.aor("carol")).unwrap(),
                expires: 300,
                credentials: None,
            })
            .await
            .unwrap();
        let _carol = auto_callee(carol);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let v = series(alice, &k.aor("carol"), n).await;
        report("our UA -> Kamailio -> our UA", &v);
    } else {
        println!("our UA -> Kamailio -> our UA: skipped (kamailio missing)");
    }
    if have("baresip") {
        let b = Baresip::builder("dave")
            .answermode(AnswerMode::Auto)
            .mediaenc(MediaEnc::DtlsSrtp)
            .start()
            .unwrap();
        let v = series(alice, &b.uri(), n).await;
        report("our UA -> baresip (direct)", &v);
    } else {
        println!("our UA -> baresip: skipped (baresip missing)");
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(bench));
}
