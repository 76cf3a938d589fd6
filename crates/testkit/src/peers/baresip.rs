//! baresip 1.0 (Debian `baresip`) as a DTLS-SRTP SIP peer on 127.0.0.1.
//!
//! [`Baresip::builder`] writes a config directory in a temp dir (`config`, `accounts`, `contacts`; no `stdio` UI;
//! the `cons` UDP console on a free port), then runs `baresip -f DIR -v -s [-e CMD].. [-t SECS]` with output in
//! `DIR/baresip.log`, and waits for `baresip is ready.`. The process is killed by PID when the handle drops.
//!
//! # Log lines (observed with `-v -s`, baresip 1.0.0, Debian 12)
//! After normalisation by [`LogFile`] (colours removed, `\r` → `\n`):
//! - ready: `baresip is ready.`
//! - registered: `bob@127.0.0.1: {0/UDP/v4} 200 OK (kamailio (5.6.3 (x86_64/linux))) [1 binding]`
//! - incoming call (manual answer): `sip:bob@127.0.0.1:25100: Incoming call from:  sip:alice@… - (press 'a' to
//!   accept)`; answering: `call: answering call on line 1 from sip:alice@… with 200`
//! - call established (both sides, on 200 OK / ACK): `alice@127.0.0.1: Call established: sip:bob@…`
//! - DTLS role: `dtls_srtp: media=audio -- start DTLS server` (offerer, setup:actpass → passive) or `… start DTLS
//!   client` (answerer, setup:active) then `dtls_srtp: 'audio,RTP' dtls connect to 127.0.0.1:P`; the server
//!   side logs `dtls_srtp: incoming DTLS connect from 127.0.0.1:P`
//! - fingerprint: `dtls_srtp: verified SHA-256 fingerprint OK` / `dtls_srtp: SHA-256 fingerprint mismatch`
//! - handshake done, SRTP keys set: `dtls_srtp: ---> DTLS-SRTP complete (audio/RTP) Profile=AES_CM_128_HMAC_SHA1_80`
//!   followed by `call: mediaenc event 'Secure' (audio,RTP)`; without rtcp-mux a second one for `(audio/RTCP)`.
//!   With rtcp-mux: `audio: RTP/RTCP multiplexing enabled`.
//! - media: `stream: incoming rtp for 'audio' established, receiving from 127.0.0.1:P`; a live status line every
//!   ~100 ms `[0:00:04] audio=63978/63978 (bit/s)` (current bitrate tx/rx: a packet that fails SRTP is dropped
//!   before it is counted, so rx > 0 means authenticated packets arrive); at call end (`rtp_stats yes`)
//!   `packets:  150  150` and `errors:  0  0` under `audio  Transmit:  Receive:`.
//! - decrypt failures: `srtp: recv: failed to decrypt RTP-packet (…)` / `…RTCP-packet (Bad message)`. Without
//!   rtcp-mux one RTCP failure is normal: the peer's first RTCP packet is sent before the RTCP handshake.
//! - remote SDP: not in `-v` (only `call: got SDP answer (604 bytes)`); the `-s` trace prints every SIP message
//!   as `ESC[36;1m#\nUDP 127.0.0.1:A -> 127.0.0.1:B\n<message with CRLF>ESC[;m`: see [`Baresip::sip_messages`].
//! - end: `audio: destroyed (started=1)` always; `… Call with sip:… terminated (duration: 3 secs)` only when the
//!   call lasted a second or more; a CANCELled callee shows `CANCEL sip:…` and
//!   `SIP/2.0 487 Request Terminated` in its trace and `session closed: …` in its log.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use super::{free_port, free_port_block, LogFile, PeerError, PeerProcess};

/// Where Debian installs baresip's modules.
pub const MODULE_PATH: &str = "/usr/lib/baresip/modules";
/// How long [`BaresipBuilder::start`] waits for `baresip is ready.`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `-t` (seconds): baresip quits by itself after this, whatever happens to the test process.
pub const MAX_LIFETIME_SECS: u32 = 300;
/// Start attempts when a free port is taken between probing and baresip's bind.
const START_ATTEMPTS: usize = 3;

/// How baresip answers an incoming call (`answermode=` account parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerMode {
    /// Rings until `/accept` (see [`Baresip::accept`]).
    Manual,
    /// Answers at once with 200 OK.
    Auto,
    /// Answers with 183 Session Progress and early media.
    Early,
}

impl AnswerMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Auto => "auto",
            Self::Early => "early",
        }
    }
}

/// Media encryption of the account (`mediaenc=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEnc {
    /// RFC 5763 DTLS-SRTP (`mediaenc=dtls_srtp`).
    DtlsSrtp,
    /// SDES SRTP, optional (`mediaenc=srtp`).
    Srtp,
    /// SDES SRTP, mandatory (`mediaenc=srtp-mand`).
    SrtpMandatory,
    /// Plain RTP (no `mediaenc`).
    None,
}

/// Builder for a [`Baresip`] instance. Defaults: user `"ua"`, free SIP port, DTLS-SRTP, answermode manual,
/// rtcp-mux on, a 440 Hz `ausine` tone (48 kHz stereo source, sent as G.711), no registration, `-v -s`,
/// `-t 300`.
#[derive(Debug, Clone)]
pub struct BaresipBuilder {
    user: String,
    domain: Option<String>,
    transport: Option<String>,
    sip_port: Option<u16>,
    answermode: AnswerMode,
    mediaenc: MediaEnc,
    rtcp_mux: bool,
    tone_hz: u32,
    regint: Option<u32>,
    outbound: Option<String>,
    auth_pass: Option<String>,
    account_params: Vec<String>,
    config_lines: Vec<String>,
    modules: Vec<String>,
    exec: Vec<String>,
    quit_after: Option<u32>,
    verbose: bool,
    sip_trace: bool,
}

impl BaresipBuilder {
    /// SIP port on 127.0.0.1 (TLS binds PORT+1). Default: a free 10-aligned block.
    pub fn sip_port(mut self, port: u16) -> Self {
        self.sip_port = Some(port);
        self
    }
    /// The AoR's host part, e.g. `"127.0.0.1:5060"` of a registrar. Default: `127.0.0.1:SIP_PORT`.
    pub fn domain(mut self, domain: &str) -> Self {
        self.domain = Some(domain.to_owned());
        self
    }
    /// SIP transport of the account (`"udp"`, `"tcp"`, `"tls"`): `;transport=` in the AoR URI, used for
    /// REGISTER and calls. Default: baresip's choice (UDP).
    pub fn transport(mut self, transport: &str) -> Self {
        self.transport = Some(transport.to_owned());
        self
    }
    /// Register the AoR at its domain every `regint` seconds (baresip's registrar is the AoR's domain, or the
    /// outbound proxy). Default: no registration (`regint=0`).
    pub fn register(mut self, regint_secs: u32) -> Self {
        self.regint = Some(regint_secs);
        self
    }
    /// Send every request through this proxy (`outbound="sip:127.0.0.1:5060;lr"`).
    pub fn outbound_proxy(mut self, uri: &str) -> Self {
        self.outbound = Some(uri.to_owned());
        self
    }
    /// Digest password (`auth_pass=`).
    pub fn auth_pass(mut self, pass: &str) -> Self {
        self.auth_pass = Some(pass.to_owned());
        self
    }
    /// How incoming calls are answered.
    pub fn answermode(mut self, mode: AnswerMode) -> Self {
        self.answermode = mode;
        self
    }
    /// Media encryption.
    pub fn mediaenc(mut self, enc: MediaEnc) -> Self {
        self.mediaenc = enc;
        self
    }
    /// `rtcp_mux yes|no` (off: RTP and RTCP on two ports, two DTLS associations).
    pub fn rtcp_mux(mut self, on: bool) -> Self {
        self.rtcp_mux = on;
        self
    }
    /// Frequency of the `ausine` tone baresip sends.
    pub fn tone_hz(mut self, hz: u32) -> Self {
        self.tone_hz = hz;
        self
    }
    /// Another `;name=value` account parameter (without the leading `;`).
    pub fn account_param(mut self, param: &str) -> Self {
        self.account_params.push(param.to_owned());
        self
    }
    /// Another line appended to `config` (e.g. `"audio_codecs pcma"`).
    pub fn config_line(mut self, line: &str) -> Self {
        self.config_lines.push(line.to_owned());
        self
    }
    /// Another module to load (file name, e.g. `"g722.so"`).
    pub fn module(mut self, file: &str) -> Self {
        self.modules.push(file.to_owned());
        self
    }
    /// A command run at start (`-e`, e.g. `"/dial sip:bob@127.0.0.1:5060"`).
    pub fn exec(mut self, cmd: &str) -> Self {
        self.exec.push(cmd.to_owned());
        self
    }
    /// Quit after this many seconds (`-t`). Default: [`MAX_LIFETIME_SECS`], a safety net so that a test process
    /// killed before its `Drop` runs leaves no baresip behind for long.
    pub fn quit_after(mut self, secs: u32) -> Self {
        self.quit_after = Some(secs);
        self
    }
    /// `-v` verbose log (default on; the documented log lines need it).
    pub fn verbose(mut self, on: bool) -> Self {
        self.verbose = on;
        self
    }
    /// `-s` SIP trace in the log (default on; [`Baresip::sip_messages`] needs it).
    pub fn sip_trace(mut self, on: bool) -> Self {
        self.sip_trace = on;
        self
    }

    fn account_line(&self, domain: &str) -> String {
        let transport = self
            .transport
            .as_ref()
            .map(|t| format!(";transport={t}"))
            .unwrap_or_default();
        let mut line = format!(
            "<sip:{}@{}{}>;regint={}",
            self.user,
            domain,
            transport,
            self.regint.unwrap_or(0)
        );
        match self.mediaenc {
            MediaEnc::DtlsSrtp => line.push_str(";mediaenc=dtls_srtp"),
            MediaEnc::Srtp => line.push_str(";mediaenc=srtp"),
            MediaEnc::SrtpMandatory => line.push_str(";mediaenc=srtp-mand"),
            MediaEnc::None => {}
        }
        line.push_str(";answermode=");
        line.push_str(self.answermode.as_str());
        if let Some(ob) = &self.outbound {
            line.push_str(&format!(";outbound=\"{ob}\""));
        }
        if let Some(p) = &self.auth_pass {
            line.push_str(&format!(";auth_pass={p}"));
        }
        for p in &self.account_params {
            line.push(';');
            line.push_str(p);
        }
        line
    }

    fn config(&self, sip_port: u16, cons_port: u16) -> String {
        let mut c = format!(
            "poll_method epoll\nmodule_path {MODULE_PATH}\nsip_listen 127.0.0.1:{sip_port}\n\
             net_interface 127.0.0.1\nrtp_ports 10000-20000\naudio_source ausine,{}\nausrc_srate 48000\n\
             ausrc_channels 2\nrtcp_mux {}\nrtp_stats yes\ncons_listen 127.0.0.1:{cons_port}\n",
            self.tone_hz,
            if self.rtcp_mux { "yes" } else { "no" },
        );
        for m in ["g711.so", "ausine.so", "srtp.so", "dtls_srtp.so", "cons.so"] {
            c.push_str(&format!("module {m}\n"));
        }
        for m in &self.modules {
            c.push_str(&format!("module {m}\n"));
        }
        for m in ["account.so", "contact.so", "menu.so"] {
            c.push_str(&format!("module_app {m}\n"));
        }
        for l in &self.config_lines {
            c.push_str(l);
            c.push('\n');
        }
        c
    }

    /// Writes the config, starts baresip and waits (≤ 10 s) for `baresip is ready.`. Retries with new ports if
    /// a probed port was taken meanwhile (unless the SIP port was given).
    pub fn start(self) -> Result<Baresip, PeerError> {
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match self.try_start() {
                Ok(b) => return Ok(b),
                Err(e) if self.sip_port.is_none() && e.is_port_clash() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(PeerError::NoFreePort { span: 2 }))
    }

    fn try_start(&self) -> Result<Baresip, PeerError> {
        let sip_port = match self.sip_port {
            Some(p) => p,
            None => free_port_block(2)?,
        };
        let cons_port = free_port()?;
        let dir = tempfile::Builder::new()
            .prefix("dtlsrtp-baresip-")
            .tempdir()
            .map_err(|e| PeerError::Io {
                what: "create baresip temp dir",
                source: e,
            })?;
        let domain = self
            .domain
            .clone()
            .unwrap_or_else(|| format!("127.0.0.1:{sip_port}"));
        let write = |name: &str, text: String| {
            std::fs::write(dir.path().join(name), text).map_err(|e| PeerError::Io {
                what: "write baresip config",
                source: e,
            })
        };
        write("config", self.config(sip_port, cons_port))?;
        write("accounts", self.account_line(&domain) + "\n")?;
        write("contacts", String::new())?;

        let mut cmd = Command::new("baresip");
        cmd.arg("-f").arg(dir.path());
        if self.verbose {
            cmd.arg("-v");
        }
        if self.sip_trace {
            cmd.arg("-s");
        }
        for e in &self.exec {
            cmd.arg("-e").arg(e);
        }
        if let Some(t) = self.quit_after {
            cmd.arg("-t").arg(t.to_string());
        }
        let name = format!("baresip {}@{}", self.user, sip_port);
        let mut process = PeerProcess::spawn(&name, cmd, &dir.path().join("baresip.log"))?;
        process.wait_for("baresip is ready.", READY_TIMEOUT)?;
        // A module that cannot bind (the `cons` console) does not stop baresip: without it no command arrives.
        if process.log().count("failed to listen") > 0 {
            return Err(PeerError::StartFailed {
                peer: name,
                reason: "a module failed to listen",
                tail: process.log().tail(),
            });
        }
        Ok(Baresip {
            process,
            sip_port,
            cons_port,
            user: self.user.clone(),
            domain,
            console: None,
            _dir: dir,
        })
    }
}

/// A running baresip. Dropping it kills the process (by PID) and removes its config directory.
#[derive(Debug)]
pub struct Baresip {
    process: PeerProcess,
    sip_port: u16,
    cons_port: u16,
    user: String,
    domain: String,
    console: Option<UdpSocket>,
    _dir: tempfile::TempDir,
}

/// Counts of SRTP/SRTCP packets baresip failed to decrypt (authentication or replay failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecryptFailures {
    /// `failed to decrypt RTP-packet` lines.
    pub rtp: usize,
    /// `failed to decrypt RTCP-packet` lines.
    pub rtcp: usize,
}

/// The audio RTP counters baresip prints when a call ends (`rtp_stats yes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpStats {
    /// Packets sent.
    pub tx_packets: u64,
    /// Packets received (after SRTP authentication).
    pub rx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Receive errors.
    pub rx_errors: u64,
}

/// One SIP message from baresip's `-s` trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracedSip {
    /// `UDP`, `TCP` or `TLS`.
    pub transport: String,
    /// Source `ip:port`.
    pub src: String,
    /// Destination `ip:port`.
    pub dst: String,
    /// The message as it went on the wire (CRLF line ends).
    pub text: String,
    /// Whether baresip sent it (the trace does not say: see [`Baresip::sip_messages`]).
    pub sent: bool,
}

impl TracedSip {
    /// The request or status line.
    pub fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or_default().trim_end()
    }
    /// The first value of header `name` (case-insensitive; no compact forms).
    pub fn header(&self, name: &str) -> Option<&str> {
        let head = self.text.split("\r\n\r\n").next().unwrap_or_default();
        head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
    /// The body (SDP), empty if none.
    pub fn body(&self) -> &str {
        self.text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default()
    }
    /// Whether this is a request with `method`.
    pub fn is_request(&self, method: &str) -> bool {
        self.first_line().starts_with(&format!("{method} "))
            && self.first_line().ends_with("SIP/2.0")
    }
    /// Whether this is a response with status `code` (CSeq method `method`, if given).
    pub fn is_response(&self, code: u16, method: Option<&str>) -> bool {
        self.first_line().starts_with(&format!("SIP/2.0 {code} "))
            && method.is_none_or(|m| self.header("CSeq").is_some_and(|c| c.ends_with(m)))
    }
}

/// Parses the `-s` trace blocks of a raw (not normalised) baresip log.
fn parse_trace(raw: &str) -> Vec<TracedSip> {
    const START: &str = "\u{1b}[36;1m#\n";
    const END: &str = "\u{1b}[;m";
    raw.split(START)
        .skip(1)
        .filter_map(|block| {
            let block = block.split(END).next()?;
            let (addr_line, text) = block.split_once('\n')?;
            let (transport, rest) = addr_line.split_once(' ')?;
            let (src, dst) = rest.split_once(" -> ")?;
            Some(TracedSip {
                transport: transport.to_owned(),
                src: src.trim().to_owned(),
                dst: dst.trim().to_owned(),
                text: text.to_owned(),
                sent: false,
            })
        })
        .collect()
}

/// Sets `sent` on each message (see [`Baresip::sip_messages`]).
fn classify(mut msgs: Vec<TracedSip>, sip_port: u16) -> Vec<TracedSip> {
    let mut mine: Vec<String> = (0..2u16)
        .filter_map(|i| sip_port.checked_add(i))
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    for m in &mut msgs {
        if !mine.contains(&m.src) && !mine.contains(&m.dst) {
            // First message of a connection baresip opened: its source is baresip's ephemeral address.
            mine.push(m.src.clone());
        }
        m.sent = mine.contains(&m.src);
    }
    msgs
}

/// The last `audio=TX/RX` status figures of a normalised log.
fn last_bitrates(log: &str) -> Option<(u64, u64)> {
    let at = log.rfind("audio=")?;
    let rest = log.get(at + "audio=".len()..)?;
    let figures = rest.split_whitespace().next()?;
    let (tx, rx) = figures.split_once('/')?;
    Some((tx.parse().ok()?, rx.parse().ok()?))
}

/// The two numbers of the last line starting with `label` (e.g. `packets:`).
fn last_pair(log: &str, label: &str) -> Option<(u64, u64)> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with(label))?;
    let mut nums = line
        .split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok());
    Some((nums.next()?, nums.next()?))
}

impl Baresip {
    /// A builder for account `user`.
    pub fn builder(user: &str) -> BaresipBuilder {
        BaresipBuilder {
            user: user.to_owned(),
            domain: None,
            transport: None,
            sip_port: None,
            answermode: AnswerMode::Manual,
            mediaenc: MediaEnc::DtlsSrtp,
            rtcp_mux: true,
            tone_hz: 440,
            regint: None,
            outbound: None,
            auth_pass: None,
            account_params: Vec::new(),
            config_lines: Vec::new(),
            modules: Vec::new(),
            exec: Vec::new(),
            quit_after: Some(MAX_LIFETIME_SECS),
            verbose: true,
            sip_trace: true,
        }
    }

    /// Its SIP port on 127.0.0.1 (UDP and TCP; TLS on the next port).
    pub fn sip_port(&self) -> u16 {
        self.sip_port
    }
    /// Its `cons` console UDP port on 127.0.0.1.
    pub fn cons_port(&self) -> u16 {
        self.cons_port
    }
    /// A URI that reaches it directly: `sip:USER@127.0.0.1:SIP_PORT`.
    pub fn uri(&self) -> String {
        format!("sip:{}@127.0.0.1:{}", self.user, self.sip_port)
    }
    /// Its address of record: `sip:USER@DOMAIN`.
    pub fn aor(&self) -> String {
        format!("sip:{}@{}", self.user, self.domain)
    }
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
    /// The process guard (bounded waits, exit status).
    pub fn process(&mut self) -> &mut PeerProcess {
        &mut self.process
    }
    /// Its log (stdout and stderr).
    pub fn log(&self) -> &LogFile {
        self.process.log()
    }
    /// The path of the log file.
    pub fn log_path(&self) -> &Path {
        self.process.log().path()
    }

    /// Waits at most `timeout` for `pattern` in the log; returns the line.
    pub fn wait_for(&mut self, pattern: &str, timeout: Duration) -> Result<String, PeerError> {
        self.process.wait_for(pattern, timeout)
    }
    /// Waits at most `timeout` for `n` occurrences of `pattern`; returns the `n`-th line.
    pub fn wait_for_count(
        &mut self,
        pattern: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<String, PeerError> {
        self.process.wait_for_count(pattern, n, timeout)
    }

    /// Sends a console command over UDP to `cons` (`/dial URI`, `/accept`, `/hangup`, …; a newline is added).
    #[allow(clippy::disallowed_methods)] // test support: the console is a real UDP socket
    pub fn command(&mut self, cmd: &str) -> Result<(), PeerError> {
        let io = |what| move |e| PeerError::Io { what, source: e };
        if self.console.is_none() {
            let s = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
                .map_err(io("bind console socket"))?;
            self.console = Some(s);
        }
        let mut line = cmd.trim_end().to_owned();
        line.push('\n');
        if let Some(s) = &self.console {
            s.send_to(
                line.as_bytes(),
                SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.cons_port),
            )
            .map_err(io("send console command"))?;
        }
        Ok(())
    }
    /// `/dial URI`.
    pub fn dial(&mut self, uri: &str) -> Result<(), PeerError> {
        self.command(&format!("/dial {uri}"))
    }
    /// `/accept` (answers the ringing call).
    pub fn accept(&mut self) -> Result<(), PeerError> {
        self.command("/accept")
    }
    /// `/hangup`.
    pub fn hangup(&mut self) -> Result<(), PeerError> {
        self.command("/hangup")
    }

    /// Waits for the registrar's 200 OK to its REGISTER (`{0/UDP/v4} 200 OK … binding`).
    pub fn wait_registered(&mut self, timeout: Duration) -> Result<String, PeerError> {
        self.process
            .wait_until("registration 200 OK", timeout, |log| {
                log.lines()
                    .any(|l| l.contains("} 200 OK") && l.contains("binding"))
            })?;
        Ok(self.log().lines_with("} 200 OK").pop().unwrap_or_default())
    }
    /// Waits for an incoming call to ring (`Incoming call from:`).
    pub fn wait_incoming(&mut self, timeout: Duration) -> Result<String, PeerError> {
        self.wait_for("Incoming call from:", timeout)
    }
    /// Waits for `Call established:`.
    pub fn wait_established(&mut self, timeout: Duration) -> Result<String, PeerError> {
        self.wait_for("Call established:", timeout)
    }
    /// Waits for `n` completed DTLS-SRTP handshakes (1 with rtcp-mux, 2 without); returns the `n`-th line,
    /// which names the profile.
    pub fn wait_dtls_srtp(&mut self, n: usize, timeout: Duration) -> Result<String, PeerError> {
        self.wait_for_count("DTLS-SRTP complete (", n, timeout)
    }
    /// Waits for the first authenticated RTP packet from the peer (`stream: incoming rtp for 'audio'
    /// established`: packets that fail SRTP are dropped before this point). ~3 s faster than [`Self::wait_media`],
    /// whose bit rates lag; returns the line (it names the sender's address).
    pub fn wait_rtp_received(&mut self, timeout: Duration) -> Result<String, PeerError> {
        self.wait_for("incoming rtp for 'audio' established", timeout)
    }
    /// Waits until the live status shows audio sent and received (both bitrates > 0); returns them (tx, rx).
    pub fn wait_media(&mut self, timeout: Duration) -> Result<(u64, u64), PeerError> {
        let log = self
            .process
            .wait_until("audio=TX/RX with both > 0", timeout, |log| {
                log.lines()
                    .any(|l| last_bitrates(l).is_some_and(|(tx, rx)| tx > 0 && rx > 0))
            })?;
        let best = log
            .lines()
            .rev()
            .filter_map(last_bitrates)
            .find(|&(tx, rx)| tx > 0 && rx > 0);
        Ok(best.unwrap_or_default())
    }
    /// The last live status figures (tx, rx bit/s), if any.
    pub fn bitrates(&self) -> Option<(u64, u64)> {
        last_bitrates(&self.log().read())
    }
    /// Waits for the call to end: `audio: destroyed` (every ended call) or `… terminated (duration: N secs)`
    /// (missing when the call lasted under a second). Returns the first such line.
    pub fn wait_terminated(&mut self, timeout: Duration) -> Result<String, PeerError> {
        let ended = |l: &str| l.contains("audio: destroyed") || l.contains("terminated (duration");
        let log = self
            .process
            .wait_until("call end", timeout, |log| log.lines().any(ended))?;
        Ok(log
            .lines()
            .find(|l| ended(l))
            .unwrap_or_default()
            .to_owned())
    }

    /// SRTP/SRTCP decrypt failures so far.
    pub fn decrypt_failures(&self) -> DecryptFailures {
        let log = self.log().read();
        DecryptFailures {
            rtp: log.matches("failed to decrypt RTP-packet").count(),
            rtcp: log.matches("failed to decrypt RTCP-packet").count(),
        }
    }
    /// `verified … fingerprint OK` lines so far.
    pub fn fingerprints_verified(&self) -> usize {
        self.log().count("fingerprint OK")
    }
    /// `fingerprint mismatch` lines so far.
    pub fn fingerprint_mismatches(&self) -> usize {
        self.log().count("fingerprint mismatch")
    }
    /// The RTP counters of the last ended call (printed when the call ends).
    pub fn rtp_stats(&self) -> Option<RtpStats> {
        let log = self.log().read();
        let (tx_packets, rx_packets) = last_pair(&log, "packets:")?;
        let (tx_errors, rx_errors) = last_pair(&log, "errors:")?;
        Some(RtpStats {
            tx_packets,
            rx_packets,
            tx_errors,
            rx_errors,
        })
    }

    /// Every SIP message of the `-s` trace so far, in order, with [`TracedSip::sent`] set. The trace does not
    /// give the direction: a message from baresip's listening address (SIP port, TLS on the next) is sent, one
    /// to it received; on a connection baresip opened itself (TCP/TLS from an ephemeral port), the first
    /// message is baresip's, which identifies its local address.
    pub fn sip_messages(&self) -> Vec<TracedSip> {
        let raw = std::fs::read(self.log_path()).unwrap_or_default();
        classify(parse_trace(&String::from_utf8_lossy(&raw)), self.sip_port)
    }
    /// The SIP messages baresip received.
    pub fn received(&self) -> Vec<TracedSip> {
        self.sip_messages()
            .into_iter()
            .filter(|m| !m.sent)
            .collect()
    }
    /// The SIP messages baresip sent.
    pub fn sent(&self) -> Vec<TracedSip> {
        self.sip_messages().into_iter().filter(|m| m.sent).collect()
    }
    /// The last SDP body baresip received (the remote offer or answer).
    pub fn remote_sdp(&self) -> Option<String> {
        self.received()
            .into_iter()
            .rev()
            .map(|m| m.body().to_owned())
            .find(|b| b.starts_with("v=0"))
    }
    /// The last SDP body baresip sent.
    pub fn local_sdp(&self) -> Option<String> {
        self.sent()
            .into_iter()
            .rev()
            .map(|m| m.body().to_owned())
            .find(|b| b.starts_with("v=0"))
    }

    /// Stops baresip (SIGTERM, then SIGKILL) and returns its exit status; the log stays readable until drop.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.process.stop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_trace_status_and_stats() {
        let raw = "x\n\u{1b}[36;1m#\nUDP 127.0.0.1:1 -> 127.0.0.1:2\nINVITE sip:b@h SIP/2.0\r\nCSeq: 1 INVITE\r\n\
                   Content-Type: application/sdp\r\n\r\nv=0\r\n\u{1b}[;m\n[0:00:01] audio=0/0 (bit/s)\r\
                   [0:00:02] audio=64000/63000 (bit/s)\naudio  Transmit:  Receive:\npackets:  150  149\nerrors:  0  1\n";
        let t = parse_trace(raw);
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].src.as_str(), t[0].dst.as_str()),
            ("127.0.0.1:1", "127.0.0.1:2")
        );
        assert!(t[0].is_request("INVITE"));
        assert!(!t[0].is_response(200, None));
        assert_eq!(t[0].header("cseq"), Some("1 INVITE"));
        assert_eq!(t[0].body(), "v=0\r\n");
        let norm = super::super::process::normalise(raw);
        assert_eq!(last_bitrates(&norm), Some((64000, 63000)));
        assert_eq!(last_pair(&norm, "packets:"), Some((150, 149)));
        assert_eq!(last_pair(&norm, "errors:"), Some((0, 1)));
    }

    #[test]
    fn classify_finds_direction_on_udp_and_own_tcp_connections() {
        let m = |src: &str, dst: &str| TracedSip {
            transport: "TCP".into(),
            src: src.into(),
            dst: dst.into(),
            text: String::new(),
            sent: false,
        };
        let msgs = vec![
            m("127.0.0.1:20000", "127.0.0.1:5060"), // UDP from the SIP port
            m("127.0.0.1:5060", "127.0.0.1:20000"),
            m("127.0.0.1:40000", "127.0.0.1:5060"), // first on a connection baresip opened
            m("127.0.0.1:5060", "127.0.0.1:40000"),
            m("127.0.0.1:41000", "127.0.0.1:20001"), // incoming TLS
        ];
        let sent: Vec<bool> = classify(msgs, 20000).iter().map(|m| m.sent).collect();
        assert_eq!(sent, [true, false, true, false, false]);
    }

    #[test]
    fn account_line_has_every_parameter() {
        let b = Baresip::builder("bob")
            .register(60)
            .outbound_proxy("sip:127.0.0.1:5060;lr")
            .answermode(AnswerMode::Auto)
            .account_param("ptime=20");
        assert_eq!(
            b.account_line("example.test"),
            "<sip:bob@example.test>;regint=60;mediaenc=dtls_srtp;answermode=auto;\
             outbound=\"sip:127.0.0.1:5060;lr\";ptime=20"
        );
        let c = b.rtcp_mux(false).tone_hz(1000).config(20000, 20010);
        assert!(
            c.contains("rtcp_mux no\n")
                && c.contains("ausine,1000\n")
                && c.contains("cons_listen 127.0.0.1:20010")
        );
        assert!(!c.contains("stdio"));
    }
}
