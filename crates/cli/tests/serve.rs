//! `dtlsrtp serve` (issue 9, A-R-OTHER-SIGNALING) as a process on 127.0.0.1, driven by the WHIP/WHEP client
//! made from our own media port: a published tone is recorded as a non-silent WAV per session, DELETE ends the
//! session (the WAV is complete when it returns), WHEP viewers get our tone, a wrong token gets 401, a foreign
//! `Host` 403 unless `--allow-host` names it.
#![allow(clippy::disallowed_methods)] // tests: real sockets and clock
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dtlsrtp_sdp::attr::Direction;
use dtlsrtp_tokio::media::MediaEvent;
use dtlsrtp_whip::client;
use dtlsrtp_whip::FORK;

const STEP: Duration = Duration::from_secs(15);
const TOKEN: &str = "serve-token";

/// The server process, killed by PID on drop.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &std::path::Path) -> (Serve, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dtlsrtp"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tone",
            "1000",
            "--token",
            TOKEN,
        ])
        .arg("--record-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let serve = Serve(child);
    let mut lines = BufReader::new(out).lines();
    let first = lines.next().unwrap().unwrap();
    std::thread::spawn(move || lines.for_each(|l| eprintln!("serve: {l:?}")));
    let addr = first
        .strip_prefix("listening http://")
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("first line: {first}"))
        .parse()
        .unwrap();
    (serve, addr)
}

/// G.711 μ-law to linear, for the loudness checks.
fn ulaw(code: u8) -> i32 {
    i32::from(dtlsrtp_audio::g711::ulaw_decode(code))
}

async fn verified(h: &mut dtlsrtp_tokio::MediaHandle) {
    tokio::time::timeout(STEP, async {
        loop {
            match h.next_event().await {
                Some(MediaEvent::FingerprintVerified { .. }) => return,
                Some(_) => {}
                None => panic!("port stopped"),
            }
        }
    })
    .await
    .expect("verified in time");
}

#[test]
fn a_r_other_signaling_serve_records_whip_wav_and_plays_whep_tone() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, addr) = start(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Wrong token: 401, no session.
        let bad = client::connect(addr, "/whip", Direction::SendOnly, Some("wrong")).await;
        assert!(
            matches!(bad, Err(client::ClientError::Status(401))),
            "{bad:?}"
        );

        // WHIP: 100 frames of a loud square wave.
        let mut c = client::connect(addr, "/whip", Direction::SendOnly, Some(TOKEN))
            .await
            .unwrap();
        verified(&mut c.handle).await;
        for i in 0..100u32 {
            let frame: Vec<u8> = (0..160)
                .map(|k| if (k / 10) % 2 == 0 { 0x20 } else { 0xA0 })
                .collect();
            c.handle
                .send_rtp(FORK, 0, i == 0, i * 160, frame)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            client::delete(addr, &c.location, Some(TOKEN))
                .await
                .unwrap(),
            200
        );
        let id = c.location.rsplit('/').next().unwrap().to_owned();
        c.handle.shutdown().await.unwrap();
        let wav = dir.path().join(format!("{id}.wav"));
        let mut r = hound::WavReader::open(&wav).unwrap();
        assert_eq!(r.spec().sample_rate, 8000);
        let samples: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
        assert!(samples.len() >= 90 * 160, "{} samples", samples.len());
        let peak = samples.iter().map(|s| i32::from(*s).abs()).max().unwrap();
        assert!(peak > 2000, "recorded WAV is not silent (peak {peak})");

        // WHEP: our 1 kHz tone arrives.
        let mut v = client::connect(addr, "/whep", Direction::RecvOnly, Some(TOKEN))
            .await
            .unwrap();
        let mut peak = 0;
        let mut n = 0;
        tokio::time::timeout(STEP, async {
            while n < 25 {
                if let Some(MediaEvent::Rtp(p)) = v.handle.next_event().await {
                    assert_eq!(p.payload_type, 0);
                    peak = p
                        .payload
                        .iter()
                        .map(|&b| ulaw(b).abs())
                        .max()
                        .unwrap_or(0)
                        .max(peak);
                    n += 1;
                }
            }
        })
        .await
        .expect("25 packets of our tone");
        assert!(peak > 8000, "tone at half scale (peak {peak})");
        assert_eq!(
            client::delete(addr, &v.location, Some(TOKEN))
                .await
                .unwrap(),
            200
        );
        v.handle.shutdown().await.unwrap();
    });
}

/// Runs `dtlsrtp serve` with `args`; when it starts listening, stops it. Returns (listened, stderr).
fn serve_stderr(args: &[&str]) -> (bool, String) {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_dtlsrtp"))
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    // stderr is drained on its own thread, so the child can never block on it
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut lines = BufReader::new(out).lines();
    // the first line says "listening ..." (warnings come before it), or EOF when the server refused to start
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let listened = first.starts_with("listening http://");
    let _ = child.kill();
    let _ = child.wait();
    (listened, err_thread.join().unwrap())
}

/// A local IPv4 address that is not loopback (the source address towards a TEST-NET-1 address; no packet is
/// sent), if this machine has one.
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Issue 12 item 12: listening beyond loopback without a token is loud; loopback, or a token, is quiet.
#[test]
fn sec_whip_serve_warns_when_listening_beyond_loopback_without_token() {
    let warning = "WARNING: listening on";
    // 0.0.0.0: warned about, then refused (media ports need a concrete address)
    let (listened, err) = serve_stderr(&["--listen", "0.0.0.0:0"]);
    assert!(!listened);
    assert!(
        err.contains(warning) && err.contains("without --token"),
        "{err}"
    );
    // loopback without a token: no warning
    let (listened, err) = serve_stderr(&["--listen", "127.0.0.1:0"]);
    assert!(listened, "{err}");
    assert!(!err.contains("WARNING"), "{err}");
    // `--allow-origin '*'` is loud too
    let (listened, err) = serve_stderr(&["--listen", "127.0.0.1:0", "--allow-origin", "*"]);
    assert!(listened, "{err}");
    assert!(err.contains("WARNING: --allow-origin '*'"), "{err}");
    if let Some(ip) = non_loopback_ip() {
        let listen = format!("{ip}:0");
        let (listened, err) = serve_stderr(&["--listen", &listen]);
        assert!(listened, "{err}");
        assert!(err.contains(&format!("{warning} {ip}")), "{err}");
        let (listened, err) = serve_stderr(&["--listen", &listen, "--token", TOKEN]);
        assert!(listened, "{err}");
        assert!(!err.contains("WARNING"), "{err}");
    } else {
        eprintln!("no non-loopback address here: only the 0.0.0.0 case ran");
    }
}

/// Starts `dtlsrtp serve --listen 127.0.0.1:0 ARGS`; returns the process and its address.
fn start_args(args: &[&str]) -> (Serve, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dtlsrtp"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let serve = Serve(child);
    let mut lines = BufReader::new(out).lines();
    let first = lines.next().unwrap().unwrap();
    std::thread::spawn(move || lines.for_each(|l| eprintln!("serve: {l:?}")));
    let addr = first
        .strip_prefix("listening http://")
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("first line: {first}"))
        .parse()
        .unwrap();
    (serve, addr)
}

/// `GET /` with this `Host` (and the matching same-origin `Origin`): the status and the lowercased head.
fn get_root_as(addr: SocketAddr, host: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(STEP)).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let head = out
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status: {out}"));
    (status, head)
}

/// Issue 12 item 12 follow-up (DNS rebinding): `dtlsrtp serve` answers IP-literal and localhost Hosts only,
/// `--allow-host NAME` adds a name, and a `--token` does not lift the check.
#[test]
fn sec_whip_dns_rebinding_serve_allow_host_widens() {
    let (serve, addr) = start_args(&["--token", TOKEN]);
    let port = addr.port();
    let evil = format!("attacker.example:{port}");
    let (status, head) = get_root_as(addr, &evil);
    assert_eq!(status, 403, "{head}");
    assert!(!head.contains("access-control-"), "{head}");
    assert_eq!(get_root_as(addr, &format!("127.0.0.1:{port}")).0, 200);
    assert_eq!(get_root_as(addr, &format!("localhost:{port}")).0, 200);
    assert_eq!(get_root_as(addr, &format!("media.example:{port}")).0, 403);
    drop(serve);

    let (serve, addr) = start_args(&["--allow-host", "media.example"]);
    let port = addr.port();
    assert_eq!(get_root_as(addr, &format!("media.example:{port}")).0, 200);
    assert_eq!(
        get_root_as(addr, &format!("attacker.example:{port}")).0,
        403
    );
    assert_eq!(get_root_as(addr, &format!("127.0.0.1:{port}")).0, 200);
    drop(serve);

    // a port, scheme or path is not a host name
    let (listened, err) =
        serve_stderr(&["--listen", "127.0.0.1:0", "--allow-host", "a.example:80"]);
    assert!(!listened);
    assert!(err.contains("a host name"), "{err}");
    // `*` without a token is loud
    let (listened, err) = serve_stderr(&["--listen", "127.0.0.1:0", "--allow-host", "*"]);
    assert!(listened, "{err}");
    assert!(err.contains("WARNING: --allow-host '*'"), "{err}");
}
