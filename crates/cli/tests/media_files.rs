//! `dtlsrtp media`, the SDP-file mode (issue 9, A-R-OTHER-SIGNALING): two `dtlsrtp media` processes exchange
//! an offer and an answer through files and send G.711 both ways (with and without ICE); against
//! `openssl s_server` and `openssl s_client` (the test writes the OpenSSL side's SDP by hand) the SRTP keys we
//! log equal the `Keying material` OpenSSL exports (D-4.2a).
#![allow(clippy::disallowed_methods)] // tests: real sockets, clock and processes
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dtlsrtp_testkit::openssl_cli;

const BIN: &str = env!("CARGO_BIN_EXE_dtlsrtp");

/// A `dtlsrtp media` process, killed by PID on drop.
struct Proc(Option<Child>);

impl Proc {
    fn start(args: &[&str], dir: &Path) -> Self {
        Self(Some(
            Command::new(BIN)
                .current_dir(dir)
                .arg("media")
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ))
    }

    /// Waits (bounded) for the exit; returns success and stdout+stderr.
    fn wait(&mut self, timeout: Duration) -> (bool, String) {
        let mut child = self.0.take().unwrap();
        let deadline = Instant::now() + timeout;
        let mut ok = None;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = child.try_wait() {
                ok = Some(st.success());
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if ok.is_none() {
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (ok.unwrap_or(false), text)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn peak_and_len(path: &Path) -> (i32, usize) {
    let mut r = hound::WavReader::open(path).unwrap();
    let s: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    (
        s.iter().map(|x| i32::from(*x).abs()).max().unwrap_or(0),
        s.len(),
    )
}

fn two_processes(ice: bool) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ice_arg = if ice { "--ice" } else { "--no-ice" };
    let common = ["--duration", "2", "--timeout", "20", ice_arg];
    let mut b = Proc::start(
        &[
            &["--answer", "offer.sdp", "--write", "answer.sdp"][..],
            &["--tone", "1000", "--record", "b.wav"],
            &common,
        ]
        .concat(),
        d,
    );
    let mut a = Proc::start(
        &[
            &["--offer", "offer.sdp", "--read", "answer.sdp"][..],
            &["--tone", "440", "--record", "a.wav"],
            &common,
        ]
        .concat(),
        d,
    );
    let (ok_a, out_a) = a.wait(Duration::from_secs(30));
    let (ok_b, out_b) = b.wait(Duration::from_secs(30));
    eprintln!("offerer:\n{out_a}\nanswerer:\n{out_b}");
    assert!(ok_a && ok_b, "both exit 0");
    let offer = std::fs::read_to_string(d.join("offer.sdp")).unwrap();
    let answer = std::fs::read_to_string(d.join("answer.sdp")).unwrap();
    assert!(offer.contains("a=setup:actpass"), "{offer}");
    assert!(answer.contains("a=setup:active"), "{answer}");
    assert_eq!(offer.contains("a=ice-ufrag"), ice);
    assert!(answer.contains("a=fingerprint:sha-256"));
    for out in [&out_a, &out_b] {
        assert!(out.contains("verified 127.0.0.1:"), "{out}");
    }
    for wav in ["a.wav", "b.wav"] {
        let (peak, len) = peak_and_len(&d.join(wav));
        eprintln!("{wav}: {len} samples, peak {peak}");
        assert!(len >= 50 * 160, "{wav}: {len} samples (≥ 1 s of media)");
        assert!(peak > 8000, "{wav}: the tone at half scale, peak {peak}");
    }
}

#[test]
fn a_r_other_signaling_media_files_two_processes_both_ways_ice() {
    two_processes(true);
}

#[test]
fn a_r_other_signaling_media_files_two_processes_both_ways_no_ice() {
    two_processes(false);
}

/// The OpenSSL side's offer, written by hand: its address and port, its certificate's fingerprint, its setup.
fn openssl_offer(port: u16, sha256: &str, setup: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} UDP/TLS/RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
         a=fingerprint:sha-256 {sha256}\r\na=setup:{setup}\r\n"
    )
}

/// `# SRTP <profile> local|remote media key=<hex> salt=<hex>` → (local key, local salt, remote key, remote salt).
fn logged_keys(path: &Path) -> (String, String, String, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let get = |dir: &str, what: &str| {
        text.lines()
            .filter(|l| l.starts_with("# SRTP ") && l.contains(&format!(" {dir} media ")))
            .find_map(|l| {
                l.split(' ')
                    .find_map(|w| w.strip_prefix(&format!("{what}=")))
                    .map(str::to_ascii_uppercase)
            })
            .unwrap_or_else(|| panic!("{dir} {what} in {text}"))
    };
    (
        get("local", "key"),
        get("local", "salt"),
        get("remote", "key"),
        get("remote", "salt"),
    )
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// D-4.2a: we answer `active` to `openssl s_server`'s `passive` offer: our exported keys equal its own.
#[test]
fn d_4_2a_media_files_against_openssl_s_server_keys_equal() {
    if !openssl_cli::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let id = openssl_cli::identity(d, false).unwrap();
    let p = free_port();
    let mut srv = openssl_cli::s_server(p, &id, "SRTP_AES128_CM_SHA1_80", 60).unwrap();
    std::fs::write(d.join("offer.sdp"), openssl_offer(p, &id.sha256, "passive")).unwrap();
    std::thread::sleep(Duration::from_millis(200)); // let s_server bind
    let mut us = Proc::start(
        &[
            "--answer",
            "offer.sdp",
            "--write",
            "answer.sdp",
            "--no-ice",
            "--duration",
            "0",
            "--timeout",
            "10",
            "--keylog",
            "keys.txt",
        ],
        d,
    );
    let (ok, out) = us.wait(Duration::from_secs(20));
    let srv_out = srv.finish();
    assert!(ok, "{out}\n{srv_out}");
    let answer = std::fs::read_to_string(d.join("answer.sdp")).unwrap();
    assert!(answer.contains("a=setup:active"), "{answer}");
    let (lk, ls, rk, rs) = logged_keys(&d.join("keys.txt"));
    // We are the DTLS client: client_write = local.
    let ours = format!("{lk}{rk}{ls}{rs}");
    let km = openssl_cli::line_after(&srv_out, "Keying material:")
        .unwrap_or_else(|| panic!("{srv_out}"));
    assert_eq!(km.to_ascii_uppercase(), ours);
}

/// D-4.2a: we answer `passive` to `openssl s_client`'s `active` offer on a stable `--local` port.
#[test]
fn d_4_2a_media_files_against_openssl_s_client_keys_equal() {
    if !openssl_cli::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let id = openssl_cli::identity(d, false).unwrap();
    let p = free_port();
    std::fs::write(d.join("offer.sdp"), openssl_offer(9, &id.sha256, "active")).unwrap();
    let local = format!("127.0.0.1:{p}");
    let mut us = Proc::start(
        &[
            "--answer",
            "offer.sdp",
            "--write",
            "answer.sdp",
            "--no-ice",
            "--duration",
            "0",
            "--timeout",
            "10",
            "--keylog",
            "keys.txt",
            "--local",
            &local,
        ],
        d,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.join("answer.sdp").exists() {
        assert!(Instant::now() < deadline, "no answer file");
        std::thread::sleep(Duration::from_millis(20));
    }
    let answer = std::fs::read_to_string(d.join("answer.sdp")).unwrap();
    assert!(answer.contains("a=setup:passive"), "{answer}");
    assert!(
        answer.contains(&format!("m=audio {p} ")),
        "stable --local port: {answer}"
    );
    let mut cli = openssl_cli::s_client(p, &id, "SRTP_AES128_CM_SHA1_80", 60).unwrap();
    let (ok, out) = us.wait(Duration::from_secs(20));
    let cli_out = cli.finish();
    assert!(ok, "{out}\n{cli_out}");
    let (lk, ls, rk, rs) = logged_keys(&d.join("keys.txt"));
    // We are the DTLS server: server_write = local.
    let ours = format!("{rk}{lk}{rs}{ls}");
    let km = openssl_cli::line_after(&cli_out, "Keying material:")
        .unwrap_or_else(|| panic!("{cli_out}"));
    assert_eq!(km.to_ascii_uppercase(), ours);
}
