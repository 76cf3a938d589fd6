//! Headless Chromium as a real WebRTC peer, and a private network namespace to run it in.
//!
//! [`ChromiumPeer`] runs `node tests/interop/chromium/peer.mjs` (one `RTCPeerConnection` in Debian's
//! `/usr/bin/chromium`, driven by `playwright-core`) and talks to it in JSON lines: the test passes SDP in and
//! out and reads `getStats()` samples as [`Stats`]. Every wait is bounded ([`BROWSER_START`], [`SDP_TIMEOUT`],
//! [`CONNECT_TIMEOUT`]); the node process and the browser it started are killed by PID when the peer is
//! dropped.
//!
//! [`in_private_netns`] re-runs the calling test alone in a new network namespace whose only interface is
//! `lo`, so Chromium gathers 127.0.0.1 candidates only and the endpoint under test, started by the same test,
//! shares that loopback with it.
//!
//! ```no_run
//! use dtlsrtp_testkit::chromium::{self, ChromiumPeer, Mode, Options, CONNECT_TIMEOUT};
//! #[test]
//! fn m_7_chromium_offers_we_answer() {
//!     if !chromium::available() || !chromium::in_private_netns("m_7_chromium_offers_we_answer") {
//!         return; // skipped loudly, or already run (and checked) in the namespace
//!     }
//!     let mut browser = ChromiumPeer::start(Mode::Offer, &Options::default()).unwrap();
//!     let offer = browser.local_offer().unwrap();
//!     let answer = String::new(); // ... our endpoint answers `offer` ...
//!     browser.apply_answer(&answer).unwrap();
//!     let s = browser.wait_stats(CONNECT_TIMEOUT, |s| s.dtls_connected() && s.inbound_packets_received > 0).unwrap();
//!     assert!(s.srtp_cipher.is_some());
//!     browser.finish().unwrap();
//! }
//! ```

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::require_peer;

/// Upper bound for node + Chromium to start and report `ready`.
pub const BROWSER_START: Duration = Duration::from_secs(20);
/// Upper bound for Chromium to produce an offer or answer (getUserMedia, ICE gathering on `lo`).
pub const SDP_TIMEOUT: Duration = Duration::from_secs(15);
/// The usual bound for a connection to come up once both descriptions are applied.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Upper bound for `peer.mjs` to print its final line and exit after a close request.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound for one test re-run inside the private network namespace.
const NETNS_CHILD_TIMEOUT: Duration = Duration::from_secs(240);
/// Lines of the peer's stderr kept for error messages.
const STDERR_TAIL: usize = 40;

/// The environment variable that marks a test process as already inside its private network namespace (its
/// value is the test's name).
pub const NETNS_ENV: &str = "DTLSRTP_TESTKIT_NETNS";

/// The directory holding `peer.mjs`, `package.json` and (after `npm ci`) `node_modules`.
pub fn script_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/chromium")
}

/// Whether the Chromium harness can run: `chromium`, `node` and `npm` on PATH and `node_modules` installed.
/// Under `CI=true` anything missing fails the test; elsewhere it is reported loudly and the test returns early.
#[allow(clippy::panic)] // a missing peer under CI must fail the test
pub fn available() -> bool {
    if !(require_peer("chromium", "chromium")
        && require_peer("node", "nodejs (Node.js >= 20)")
        && require_peer("npm", "nodejs (Node.js >= 20)"))
    {
        return false;
    }
    if script_dir().join("node_modules/playwright-core").is_dir() {
        return true;
    }
    let msg = "tests/interop/chromium/node_modules is missing: run `npm ci --prefix tests/interop/chromium` \
               (scripts/test does it)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg} (CI=true: interop tests must run)");
    }
    eprintln!("\n*** SKIPPING: {msg} ***\n");
    false
}

/// Which side of the offer/answer exchange Chromium takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Chromium offers ([`ChromiumPeer::local_offer`]) and applies our answer ([`ChromiumPeer::apply_answer`]).
    Offer,
    /// Chromium answers our offer ([`ChromiumPeer::answer_offer`]).
    Answer,
    /// WHIP: the page POSTs its sendonly audio offer to [`Options::url`] itself and applies the answer
    /// ([`ChromiumPeer::http_result`]); [`ChromiumPeer::finish`] DELETEs the session ([`Stats::delete_status`]).
    Whip,
    /// WHEP: as [`Mode::Whip`] with a recvonly audio offer.
    Whep,
}

/// `RTCConfiguration.bundlePolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BundlePolicy {
    /// `balanced` (the browser default).
    #[default]
    Balanced,
    /// `max-compat`.
    MaxCompat,
    /// `max-bundle`: the answer must then carry `a=group:BUNDLE`.
    MaxBundle,
}

impl BundlePolicy {
    fn arg(self) -> &'static str {
        match self {
            Self::Balanced => "balanced",
            Self::MaxCompat => "max-compat",
            Self::MaxBundle => "max-bundle",
        }
    }
}

/// How to start the page's peer connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The bundle policy.
    pub bundle_policy: BundlePolicy,
    /// Only the fake microphone (no fake camera, no video m-line). Default true.
    pub audio_only: bool,
    /// How long `peer.mjs` keeps printing stats after the exchange (it stops earlier on
    /// [`ChromiumPeer::finish`]). Default 30 s, at most 600.
    pub stats_seconds: u32,
    /// [`Mode::Whip`]/[`Mode::Whep`]: the endpoint URL (e.g. `http://127.0.0.1:8080/whip`).
    pub url: Option<String>,
    /// [`Mode::Whip`]/[`Mode::Whep`]: the bearer token.
    pub token: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            bundle_policy: BundlePolicy::Balanced,
            audio_only: true,
            stats_seconds: 30,
            url: None,
            token: None,
        }
    }
}

/// Why the harness failed. Carries the tail of `peer.mjs`'s stderr where it helps.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// `node` could not be started.
    #[error("cannot start node peer.mjs: {0}")]
    Spawn(#[source] std::io::Error),
    /// Writing to the peer's stdin failed.
    #[error("cannot write to peer.mjs: {0}")]
    Write(#[source] std::io::Error),
    /// Nothing expected arrived in time.
    #[error("timed out after {after:?} waiting for {waiting_for}; peer stderr:\n{stderr}")]
    Timeout {
        /// What the test was waiting for.
        waiting_for: &'static str,
        /// The bound that expired.
        after: Duration,
        /// The tail of the peer's stderr.
        stderr: String,
    },
    /// `peer.mjs` reported a failure (`{"type":"error"}`), e.g. Chromium rejected an SDP.
    #[error("chromium peer failed: {message}; peer stderr:\n{stderr}")]
    Peer {
        /// The message from the page or from Playwright.
        message: String,
        /// The tail of the peer's stderr.
        stderr: String,
    },
    /// `peer.mjs` closed its stdout (exited) before saying what the test waited for, or exited non-zero.
    #[error("peer.mjs exited ({status}) while the test waited for {waiting_for}; peer stderr:\n{stderr}")]
    Exited {
        /// What the test was waiting for.
        waiting_for: &'static str,
        /// The exit status as text.
        status: String,
        /// The tail of the peer's stderr.
        stderr: String,
    },
    /// A line that is not the JSON the protocol allows at this point.
    #[error("unexpected line from peer.mjs while waiting for {waiting_for}: {line}")]
    Protocol {
        /// What the test was waiting for.
        waiting_for: &'static str,
        /// The line.
        line: String,
    },
    /// The stats lines ended (final line) before the condition held; the last sample is kept.
    #[error("condition not met before the final stats line: {last:?}")]
    NotMet {
        /// The last sample seen.
        last: Box<Stats>,
    },
}

/// The selected candidate pair of the transport.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CandidatePair {
    /// `RTCStatsIceCandidatePairState` (`succeeded` once checks passed).
    pub state: String,
    /// Whether the pair was nominated.
    pub nominated: bool,
    /// Local `address:port`.
    pub local: String,
    /// Remote `address:port`.
    pub remote: String,
}

/// One `getStats()` sample as `peer.mjs` prints it (absent strings are `None`, absent counters 0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// The last sample (`{"type":"final"}`), taken just before the peer connection closes.
    pub is_final: bool,
    /// Milliseconds since `peer.mjs` started.
    pub t_ms: u64,
    /// `RTCPeerConnection.connectionState`.
    pub connection_state: Option<String>,
    /// `RTCPeerConnection.iceConnectionState`.
    pub ice_connection_state: Option<String>,
    /// transport `dtlsState` (`new`, `connecting`, `connected`, `closed`, `failed`).
    pub dtls_state: Option<String>,
    /// transport `srtpCipher`, e.g. `SRTP_AES128_CM_HMAC_SHA1_80`.
    pub srtp_cipher: Option<String>,
    /// transport `tlsVersion` as hex of the wire version: `FEFD` DTLS 1.2, `FEFC` DTLS 1.3.
    pub tls_version: Option<String>,
    /// transport `dtlsRole` (`client`, `server`).
    pub dtls_role: Option<String>,
    /// transport `dtlsCipher`.
    pub dtls_cipher: Option<String>,
    /// transport `iceRole` (`controlling`, `controlled`).
    pub ice_role: Option<String>,
    /// The selected candidate pair, once there is one.
    pub selected_pair: Option<CandidatePair>,
    /// Audio inbound-rtp `packetsReceived` (summed over audio streams).
    pub inbound_packets_received: u64,
    /// Audio inbound-rtp `bytesReceived`.
    pub inbound_bytes_received: u64,
    /// Audio inbound-rtp `totalSamplesReceived` (decoded samples).
    pub inbound_total_samples_received: u64,
    /// Audio outbound-rtp `packetsSent`.
    pub outbound_packets_sent: u64,
    /// [`Mode::Whip`]/[`Mode::Whep`], final line only: the status of the page's `DELETE`.
    pub delete_status: Option<u16>,
}

impl Stats {
    /// Reads a `stats` or `final` line's object.
    pub fn from_json(v: &Value) -> Self {
        let s = |o: &Value, k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
        let n = |o: &Value, k: &str| {
            o.get(k)
                .and_then(Value::as_f64)
                .map_or(0, |x| x.max(0.0) as u64)
        };
        let inbound = v.get("inbound").cloned().unwrap_or(Value::Null);
        let outbound = v.get("outbound").cloned().unwrap_or(Value::Null);
        Self {
            is_final: v.get("type").and_then(Value::as_str) == Some("final"),
            t_ms: n(v, "t_ms"),
            connection_state: s(v, "connectionState"),
            ice_connection_state: s(v, "iceConnectionState"),
            dtls_state: s(v, "dtlsState"),
            srtp_cipher: s(v, "srtpCipher"),
            tls_version: s(v, "tlsVersion"),
            dtls_role: s(v, "dtlsRole"),
            dtls_cipher: s(v, "dtlsCipher"),
            ice_role: s(v, "iceRole"),
            selected_pair: v
                .get("selectedPair")
                .filter(|p| p.is_object())
                .map(|p| CandidatePair {
                    state: s(p, "state").unwrap_or_default(),
                    nominated: p.get("nominated").and_then(Value::as_bool).unwrap_or(false),
                    local: s(p, "local").unwrap_or_default(),
                    remote: s(p, "remote").unwrap_or_default(),
                }),
            inbound_packets_received: n(&inbound, "packetsReceived"),
            inbound_bytes_received: n(&inbound, "bytesReceived"),
            inbound_total_samples_received: n(&inbound, "totalSamplesReceived"),
            outbound_packets_sent: n(&outbound, "packetsSent"),
            delete_status: v
                .get("deleteStatus")
                .and_then(Value::as_u64)
                .and_then(|x| u16::try_from(x).ok()),
        }
    }

    /// transport `dtlsState` is `connected`.
    pub fn dtls_connected(&self) -> bool {
        self.dtls_state.as_deref() == Some("connected")
    }

    /// DTLS connected, an SRTP cipher negotiated and audio packets received.
    pub fn media_flowing(&self) -> bool {
        self.dtls_connected() && self.srtp_cipher.is_some() && self.inbound_packets_received > 0
    }
}

/// One `peer.mjs` process (node + its headless Chromium). Dropping it closes the browser (stdin EOF), and
/// kills node and every descendant by PID if they have not exited within a few seconds.
pub struct ChromiumPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    mode: Mode,
    version: String,
    tmp: PathBuf,
}

impl std::fmt::Debug for ChromiumPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChromiumPeer")
            .field("pid", &self.child.id())
            .field("mode", &self.mode)
            .field("version", &self.version)
            .finish()
    }
}

impl ChromiumPeer {
    /// Starts `node peer.mjs` and waits (≤ [`BROWSER_START`]) until Chromium is up.
    pub fn start(mode: Mode, opts: &Options) -> Result<Self, HarnessError> {
        // A temporary directory per peer, given as TMPDIR: the browser profile, Playwright's artifacts and
        // Chromium's own temporary files all go there, and Drop removes it even after a kill.
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let tmp = std::env::temp_dir().join(format!(
            "dtlsrtp-chromium-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&tmp).map_err(HarnessError::Spawn)?;
        let mut cmd = Command::new("node");
        cmd.current_dir(script_dir())
            .env("TMPDIR", &tmp)
            .arg("peer.mjs")
            .arg(match mode {
                Mode::Offer => "offer",
                Mode::Answer => "answer",
                Mode::Whip => "whip",
                Mode::Whep => "whep",
            })
            .args(["--bundle-policy", opts.bundle_policy.arg()])
            .args(["--stats-seconds", &opts.stats_seconds.min(600).to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if opts.audio_only {
            cmd.arg("--audio-only");
        }
        if let Some(url) = &opts.url {
            cmd.args(["--url", url]);
        }
        if let Some(token) = &opts.token {
            cmd.args(["--token", token]);
        }
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(HarnessError::Spawn(e));
            }
        };
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(err) = child.stderr.take() {
            let tail = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut t) = tail.lock() {
                        if t.len() == STDERR_TAIL {
                            t.pop_front();
                        }
                        t.push_back(line);
                    }
                }
            });
        }
        let mut peer = Self {
            child,
            stdin,
            lines,
            stderr,
            mode,
            version: String::new(),
            tmp,
        };
        let ready = peer.expect("ready", "the browser to start", BROWSER_START)?;
        peer.version = ready
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(peer)
    }

    /// The browser version, e.g. `156.0.8078.108`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The PID of the node process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// [`Mode::Offer`]: Chromium's offer, with its candidates (ICE gathering completed; no trickle).
    pub fn local_offer(&mut self) -> Result<String, HarnessError> {
        self.sdp_of("offer", "Chromium's offer")
    }

    /// [`Mode::Offer`]: gives Chromium the answer to its offer. Rejection shows up as [`HarnessError::Peer`]
    /// on the next read.
    pub fn apply_answer(&mut self, sdp: &str) -> Result<(), HarnessError> {
        self.send(&serde_json::json!({ "type": "answer", "sdp": sdp }))
    }

    /// [`Mode::Answer`]: gives Chromium an offer and returns its answer (with its candidates).
    pub fn answer_offer(&mut self, sdp: &str) -> Result<String, HarnessError> {
        self.send(&serde_json::json!({ "type": "offer", "sdp": sdp }))?;
        self.sdp_of("answer", "Chromium's answer")
    }

    /// [`Mode::Whip`]/[`Mode::Whep`]: the POST's status and `Location` (after the page applied the answer).
    pub fn http_result(&mut self) -> Result<(u16, Option<String>), HarnessError> {
        let v = self.next_json("the WHIP/WHEP POST result", SDP_TIMEOUT)?;
        match v.get("type").and_then(Value::as_str) {
            Some("whip" | "whep") => Ok((
                v.get("status")
                    .and_then(Value::as_u64)
                    .and_then(|x| u16::try_from(x).ok())
                    .unwrap_or(0),
                v.get("location").and_then(Value::as_str).map(str::to_owned),
            )),
            _ => Err(self.unexpected("the WHIP/WHEP POST result", &v)),
        }
    }

    /// The next stats sample (a `stats` line or the `final` one), within `timeout`.
    pub fn next_stats(&mut self, timeout: Duration) -> Result<Stats, HarnessError> {
        let v = self.next_json("a stats line", timeout)?;
        match v.get("type").and_then(Value::as_str) {
            Some("stats" | "final") => Ok(Stats::from_json(&v)),
            _ => Err(self.unexpected("a stats line", &v)),
        }
    }

    /// Reads samples until one satisfies `cond` (returned), the final line comes ([`HarnessError::NotMet`]
    /// with that sample) or `timeout` passes ([`HarnessError::Timeout`]).
    pub fn wait_stats(
        &mut self,
        timeout: Duration,
        cond: impl Fn(&Stats) -> bool,
    ) -> Result<Stats, HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.next_stats(deadline.saturating_duration_since(Instant::now()))?;
            if cond(&s) {
                return Ok(s);
            }
            if s.is_final {
                return Err(HarnessError::NotMet { last: Box::new(s) });
            }
        }
    }

    /// Ends the stats loop, returns the final sample and checks that `peer.mjs` closed the browser and exited
    /// with status 0.
    pub fn finish(mut self) -> Result<Stats, HarnessError> {
        // The stats loop may already have ended on its own: then the write fails or goes unread, which is fine.
        let _ = self.send(&serde_json::json!({ "type": "close" }));
        let deadline = Instant::now() + EXIT_TIMEOUT;
        let last = loop {
            let s = self.next_stats(deadline.saturating_duration_since(Instant::now()))?;
            if s.is_final {
                break s;
            }
        };
        self.stdin = None;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(st)) if st.success() => return Ok(last),
                Ok(Some(st)) => {
                    return Err(HarnessError::Exited {
                        waiting_for: "a clean exit",
                        status: st.to_string(),
                        stderr: self.stderr_tail(),
                    })
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        Err(HarnessError::Timeout {
            waiting_for: "peer.mjs to exit",
            after: EXIT_TIMEOUT,
            stderr: self.stderr_tail(),
        })
    }

    fn sdp_of(
        &mut self,
        kind: &'static str,
        waiting_for: &'static str,
    ) -> Result<String, HarnessError> {
        let v = self.expect(kind, waiting_for, SDP_TIMEOUT)?;
        match v.get("sdp").and_then(Value::as_str) {
            Some(sdp) => Ok(sdp.to_owned()),
            None => Err(self.unexpected(waiting_for, &v)),
        }
    }

    fn send(&mut self, msg: &Value) -> Result<(), HarnessError> {
        let stdin = self.stdin.as_mut().ok_or_else(|| {
            HarnessError::Write(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "stdin closed",
            ))
        })?;
        writeln!(stdin, "{msg}")
            .and_then(|()| stdin.flush())
            .map_err(HarnessError::Write)
    }

    /// The next line, which must be of type `kind`.
    fn expect(
        &mut self,
        kind: &str,
        waiting_for: &'static str,
        timeout: Duration,
    ) -> Result<Value, HarnessError> {
        let v = self.next_json(waiting_for, timeout)?;
        if v.get("type").and_then(Value::as_str) == Some(kind) {
            Ok(v)
        } else {
            Err(self.unexpected(waiting_for, &v))
        }
    }

    /// The next JSON line; an `error` line becomes [`HarnessError::Peer`].
    fn next_json(
        &mut self,
        waiting_for: &'static str,
        timeout: Duration,
    ) -> Result<Value, HarnessError> {
        let line = match self.lines.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                return Err(HarnessError::Timeout {
                    waiting_for,
                    after: timeout,
                    stderr: self.stderr_tail(),
                })
            }
            Err(RecvTimeoutError::Disconnected) => {
                // stdout closed: give the process a moment to be reaped for its status.
                let mut status = String::from("still running");
                for _ in 0..50 {
                    if let Ok(Some(st)) = self.child.try_wait() {
                        status = st.to_string();
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                return Err(HarnessError::Exited {
                    waiting_for,
                    status,
                    stderr: self.stderr_tail(),
                });
            }
        };
        let v: Value = serde_json::from_str(&line).map_err(|_| HarnessError::Protocol {
            waiting_for,
            line: line.clone(),
        })?;
        if v.get("type").and_then(Value::as_str) == Some("error") {
            let message = v
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)")
                .to_owned();
            return Err(HarnessError::Peer {
                message,
                stderr: self.stderr_tail(),
            });
        }
        Ok(v)
    }

    fn unexpected(&self, waiting_for: &'static str, v: &Value) -> HarnessError {
        let line: String = v.to_string().chars().take(400).collect();
        HarnessError::Protocol { waiting_for, line }
    }

    fn stderr_tail(&self) -> String {
        self.stderr
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }
}

impl Drop for ChromiumPeer {
    fn drop(&mut self) {
        // stdin EOF: peer.mjs ends its loop, closes the browser and exits (normally well under a second).
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut exited = false;
        while !exited && Instant::now() < deadline {
            exited = matches!(self.child.try_wait(), Ok(Some(_)));
            if !exited {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if !exited {
            // Still there: kill node and the browser processes it started, by PID. Playwright puts Chromium in
            // its own process group, so killing node's group would not reach it.
            let mut pids = descendants(self.child.id());
            pids.push(self.child.id());
            let _ = Command::new("kill")
                .arg("-KILL")
                .args(pids.iter().map(u32::to_string))
                .stderr(Stdio::null())
                .status();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// The PIDs of every descendant of `root` (children, grandchildren, ...), read from `/proc/*/stat`.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may contain spaces and parentheses, so split after the last ')'.
            let ppid: Option<u32> = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
            if let Some(ppid) = ppid {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while let Some(&p) = found.get(i) {
        found.extend(
            parent_of
                .iter()
                .filter(|&&(_, pp)| pp == p)
                .map(|&(c, _)| c),
        );
        i += 1;
    }
    found.retain(|&p| p != root);
    found
}

/// Runs the calling test in a private network namespace whose only interface is `lo` (up).
///
/// Call it first in a test, with the test's full libtest name (`module::path::name` for a unit test, the bare
/// function name for an integration test at top level):
///
/// - Inside the namespace (the environment marker [`NETNS_ENV`] equals `test_name`) it checks that only `lo`
///   exists and returns `true`: the caller goes on with the real test.
/// - Outside, it re-executes the current test binary as
///   `unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' <test binary> --exact <test_name> --nocapture
///   --test-threads=1` (with `unshare -rn`, a user namespace, when not root), waits for it (bounded), checks
///   that exactly that one test ran and passed, and returns `false`: the caller returns. A failure inside
///   panics here with the child's output. Without `unshare`/`ip`, or when namespaces are not permitted, the
///   test fails under `CI=true` and is skipped loudly elsewhere (also `false`).
///
/// Everything the test starts (Chromium, the endpoint under test) lives in the namespace and sees only
/// 127.0.0.1/::1.
#[must_use]
#[allow(clippy::panic)] // the test's verdict is reported by panicking, as a test does
pub fn in_private_netns(test_name: &str) -> bool {
    if std::env::var(NETNS_ENV).is_ok_and(|v| v == test_name) {
        let ifaces = interfaces();
        assert_eq!(
            ifaces,
            ["lo"],
            "{NETNS_ENV} is set but this network namespace has {ifaces:?}"
        );
        return true;
    }
    if !(require_peer("unshare", "util-linux") && require_peer("ip", "iproute2")) {
        return false;
    }
    let Some(flags) = unshare_flags() else {
        let msg = "cannot create a network namespace (`unshare -n` and `unshare -rn` both failed)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg} (CI=true: interop tests must run)");
        }
        eprintln!("\n*** SKIPPING {test_name}: {msg} ***\n");
        return false;
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => panic!("cannot find the test binary to re-execute: {e}"),
    };
    let mut child = match Command::new("unshare")
        .arg(flags)
        .args(["sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(&exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(NETNS_ENV, test_name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("cannot run unshare: {e}"),
    };
    let pid = child.id();
    // Drain both pipes in threads so the child never blocks on a full pipe.
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn std::io::Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn std::io::Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if started.elapsed() < NETNS_CHILD_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(50))
            }
            _ => {
                let mut pids = descendants(pid);
                pids.push(pid);
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .args(pids.iter().map(u32::to_string))
                    .status();
                let _ = child.wait();
                break None;
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let report = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    match status {
        None => panic!("{test_name} did not finish within {NETNS_CHILD_TIMEOUT:?} in its network namespace\n{report}"),
        Some(st) if !st.success() => panic!("{test_name} failed in its network namespace ({st})\n{report}"),
        Some(_) if !stdout.contains("test result: ok. 1 passed") => panic!(
            "{test_name}: the re-run in the network namespace did not run exactly this test (pass the full libtest \
             name)\n{report}"
        ),
        Some(_) => {
            eprintln!("{test_name}: passed in a private network namespace ({:?})\n{report}", started.elapsed());
            false
        }
    }
}

/// `-n` as root, `-rn` (a user namespace mapping us to root) otherwise; `None` if neither works here.
fn unshare_flags() -> Option<&'static str> {
    ["-n", "-rn"].into_iter().find(|f| {
        Command::new("unshare")
            .args([*f, "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The interfaces of this process's network namespace (`/proc/self/net/dev` is per namespace;
/// `/sys/class/net` is not).
fn interfaces() -> Vec<String> {
    std::fs::read_to_string("/proc/self/net/dev")
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim().to_owned()))
        .collect()
}
