//! Kamailio 5.6 (Debian `kamailio`) as an in-memory registrar and parallel-forking proxy on 127.0.0.1 (UDP).
//!
//! The config ([`KamailioBuilder::config`]) loads tm, sl, rr, pv, maxfwd, textops, siputils, usrloc (in memory,
//! `db_mode 0`), registrar (`append_branches 1`) and xlog (for the log lines below). Route: Max-Forwards check;
//! in-dialog requests by `loose_route`; CANCEL and ACK to their transaction; `OPTIONS` to the proxy itself → 200;
//! REGISTER → (digest check with `auth`'s `pv_www_authenticate` if users are configured) `save("location")`; anything else → `record_route()`, `lookup("location")` (404 if unknown), then
//! `t_relay()`, which forks in parallel to every contact of the AoR. When one branch answers, tm CANCELs the
//! others (they answer 487).
//!
//! Run as `timeout -k 2 300 kamailio -DD -E -m 16 -M 4 -n 2 -L MODULES -Y RUNDIR -w RUNDIR -f CFG`
//! (foreground, log to stderr, 16 MiB shared + 4 MiB private memory, 2 UDP workers; `timeout` ends it after
//! 300 s should the test process die without dropping it) in its own process group; ready once it answers an
//! OPTIONS. Log lines (xlog, prefix `dtlsrtp:`):
//! - `dtlsrtp: register sip:bob@127.0.0.1:P contact <sip:bob-0x…@127.0.0.1:Q>;expires=60 from 127.0.0.1:Q over
//!   udp` (with [`KamailioBuilder::user`]: `dtlsrtp: challenge REGISTER sip:bob@…` before the 401, and
//!   `dtlsrtp: forbidden REGISTER … by USER` before a 403)
//! - `dtlsrtp: relay INVITE sip:bob@127.0.0.1:P with 1 extra branches` (after lookup: the request URI plus the
//!   appended branches)
//! - `dtlsrtp: reply 180 Ringing for INVITE from 127.0.0.1:Q` (every reply from a branch), e.g. `reply 200
//!   Answering for INVITE` from the winner and `reply 487 Request Terminated for INVITE` from the cancelled one.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use super::{free_port_block, LogFile, PeerError, PeerProcess};

/// The digest realm of REGISTER challenges when users are configured ([`KamailioBuilder::user`]).
pub const REALM: &str = "dtlsrtp";
/// How long [`KamailioBuilder::start`] waits for Kamailio to answer an OPTIONS.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The module directory of the Debian package (multiarch), falling back to the x86_64 path.
pub fn module_dir() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib").ok().and_then(|dirs| {
        dirs.filter_map(Result::ok)
            .map(|d| d.path().join("kamailio/modules"))
            .find(|p| p.join("tm.so").is_file())
    });
    found.unwrap_or_else(|| PathBuf::from("/usr/lib/x86_64-linux-gnu/kamailio/modules"))
}

/// Builder for a [`Kamailio`]. Defaults: free UDP port, 16 MiB shared memory, 4 MiB private, 2 workers.
#[derive(Debug, Clone)]
pub struct KamailioBuilder {
    port: Option<u16>,
    shm_mb: u32,
    pkg_mb: u32,
    children: u32,
    debug: i32,
    max_lifetime_secs: u32,
    tcp: bool,
    /// SIP over TLS (the `tls` module): certificate and key PEM files.
    tls: Option<(PathBuf, PathBuf)>,
    users: Vec<(String, String)>,
    holds: Vec<(u16, u16, u16)>,
}

impl KamailioBuilder {
    /// UDP port on 127.0.0.1.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
    /// Shared memory in MiB (`-m`).
    pub fn shm_mb(mut self, mb: u32) -> Self {
        self.shm_mb = mb;
        self
    }
    /// Private memory per process in MiB (`-M`).
    pub fn pkg_mb(mut self, mb: u32) -> Self {
        self.pkg_mb = mb;
        self
    }
    /// UDP worker processes (`-n`).
    pub fn children(mut self, n: u32) -> Self {
        self.children = n;
        self
    }
    /// Kamailio is run under `timeout -k 2 SECS` (default 300): it ends by itself even if the test process is
    /// killed before its `Drop` runs.
    pub fn max_lifetime_secs(mut self, secs: u32) -> Self {
        self.max_lifetime_secs = secs;
        self
    }
    /// Also listen on TCP 127.0.0.1:PORT (same port number as UDP).
    pub fn tcp(mut self, on: bool) -> Self {
        self.tcp = on;
        self
    }
    /// Also listen for SIP over TLS on 127.0.0.1:PORT (same port number as UDP; Debian package
    /// `kamailio-tls-modules`), serving this certificate (PEM, leaf first) and key; client certificates are
    /// neither required nor checked. Give it more shared memory ([`Self::shm_mb`], e.g. 64).
    pub fn tls(mut self, cert: &Path, key: &Path) -> Self {
        self.tls = Some((cert.to_owned(), key.to_owned()));
        self
    }
    /// Require digest authentication (realm [`REALM`], plain password, `qop=auth`: our UA refuses the RFC 2069
    /// form by default) for REGISTER, and accept this user.
    /// Once any user is added, REGISTER without credentials gets 401 with a challenge, a wrong password 401
    /// again, and credentials for an unknown user or another AoR 403. Names and passwords must be
    /// alphanumeric (`-`, `_`, `.` allowed): they are written into the config.
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push((name.to_owned(), password.to_owned()));
        self
    }
    /// Reordering (issue 12, T-8a tests): replies with `status` from the branch at 127.0.0.1:`from_port` are
    /// dropped in the reply route until a reply with `status` from 127.0.0.1:`after_port` has been seen, so
    /// the first one the caller gets from `from_port` is a retransmission (a reliable 183 is retransmitted)
    /// that comes after the other branch's. Logs `dtlsrtp: hold STATUS from PORT` for each drop.
    pub fn hold_reply_until(mut self, status: u16, from_port: u16, after_port: u16) -> Self {
        self.holds.push((status, from_port, after_port));
        self
    }
    /// Core `debug` level (2 = info, 3 = debug).
    pub fn debug(mut self, level: i32) -> Self {
        self.debug = level;
        self
    }

    /// The configuration file text for UDP on 127.0.0.1:`port`.
    pub fn config(&self, port: u16) -> String {
        let mpath = module_dir();
        let mut c = format!(
            "#!KAMAILIO\ndebug={}\nlog_stderror=yes\nauto_aliases=no\nlisten=udp:127.0.0.1:{port}\n\
             alias=\"127.0.0.1:{port}\"\nmpath=\"{}/\"\n",
            self.debug,
            mpath.display()
        );
        for m in [
            "tm",
            "sl",
            "rr",
            "pv",
            "maxfwd",
            "textops",
            "siputils",
            "usrloc",
            "registrar",
            "xlog",
        ] {
            c.push_str(&format!("loadmodule \"{m}.so\"\n"));
        }
        if !self.users.is_empty() {
            c.push_str("loadmodule \"auth.so\"\n");
        }
        if self.tcp {
            c.push_str(&format!("listen=tcp:127.0.0.1:{port}\n"));
        }
        if let Some((cert, key)) = &self.tls {
            c.push_str(&format!(
                "enable_tls=yes\nlisten=tls:127.0.0.1:{port}\nloadmodule \"tls.so\"\n\
                 modparam(\"tls\", \"certificate\", \"{}\")\nmodparam(\"tls\", \"private_key\", \"{}\")\n\
                 modparam(\"tls\", \"tls_method\", \"TLSv1.2+\")\n\
                 modparam(\"tls\", \"verify_certificate\", 0)\nmodparam(\"tls\", \"require_certificate\", 0)\n",
                cert.display(),
                key.display()
            ));
        }
        let mut holds = String::new();
        for (n, (status, from, after)) in self.holds.iter().enumerate() {
            c.push_str(&format!("modparam(\"pv\", \"shvset\", \"hold{n}=i:0\")\n"));
            holds.push_str(&format!(
                "    if ($rs == {status} && $sp == {after}) {{ $shv(hold{n}) = 1; }}\n\
                 \x20   if ($rs == {status} && $sp == {from} && $shv(hold{n}) == 0) {{ xlog(\"L_NOTICE\", \"dtlsrtp: hold {status} from {from}\\n\"); drop; }}\n"
            ));
        }
        c.push_str(
            &ROUTES
                .replace("    #AUTH\n", &self.auth_block())
                .replace("    #HOLDS\n", &holds),
        );
        c
    }

    /// The REGISTER digest check (empty without users).
    fn auth_block(&self) -> String {
        if self.users.is_empty() {
            return String::new();
        }
        let mut b = String::from("        $var(pw) = \"\";\n");
        for (name, pw) in &self.users {
            b.push_str(&format!(
                "        if ($au == \"{name}\") {{ $var(pw) = \"{pw}\"; }}\n"
            ));
        }
        b.push_str(&format!(
            "        if ($au != $null && ($var(pw) == \"\" || $au != $tU)) {{\n\
             \x20           xlog(\"L_NOTICE\", \"dtlsrtp: forbidden REGISTER $tu by $au\\n\");\n\
             \x20           sl_send_reply(\"403\", \"Forbidden\"); exit;\n\
             \x20       }}\n\
             \x20       if ($var(pw) == \"\" || !pv_www_authenticate(\"{REALM}\", \"$var(pw)\", \"0\")) {{\n\
             \x20           xlog(\"L_NOTICE\", \"dtlsrtp: challenge REGISTER $tu\\n\");\n\
             \x20           www_challenge(\"{REALM}\", \"1\"); exit;\n\
             \x20       }}\n\
             \x20       consume_credentials();\n"
        ));
        b
    }

    fn validate(&self) -> Result<(), PeerError> {
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if self.users.iter().all(|(n, p)| ok(n) && ok(p)) {
            Ok(())
        } else {
            Err(PeerError::InvalidConfig {
                what: "kamailio user names and passwords must be alphanumeric",
            })
        }
    }

    /// Writes the config to a temp dir, starts Kamailio in the foreground and waits (≤ 10 s) until it answers an
    /// OPTIONS on its port.
    pub fn start(self) -> Result<Kamailio, PeerError> {
        self.validate()?;
        let port = match self.port {
            Some(p) => p,
            None => free_port_block(1)?,
        };
        let dir = tempfile::Builder::new()
            .prefix("dtlsrtp-kamailio-")
            .tempdir()
            .map_err(|e| PeerError::Io {
                what: "create kamailio temp dir",
                source: e,
            })?;
        let cfg = dir.path().join("kamailio.cfg");
        std::fs::write(&cfg, self.config(port)).map_err(|e| PeerError::Io {
            what: "write kamailio.cfg",
            source: e,
        })?;
        // `timeout` is a safety net: Kamailio ends by itself after max_lifetime even if our Drop never runs.
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "2"])
            .arg(self.max_lifetime_secs.to_string())
            .arg("kamailio")
            .args(["-DD", "-E"])
            .arg("-m")
            .arg(self.shm_mb.to_string())
            .arg("-M")
            .arg(self.pkg_mb.to_string())
            .arg("-n")
            .arg(self.children.to_string())
            .arg("-L")
            .arg(module_dir())
            .arg("-Y")
            .arg(dir.path())
            .arg("-w")
            .arg(dir.path())
            .arg("-f")
            .arg(&cfg);
        let process = PeerProcess::spawn(
            &format!("kamailio :{port}"),
            cmd,
            &dir.path().join("kamailio.log"),
        )?;
        let mut k = Kamailio {
            process,
            port,
            _dir: dir,
        };
        k.wait_ready()?;
        Ok(k)
    }
}

const ROUTES: &str = r#"modparam("usrloc", "db_mode", 0)
modparam("registrar", "append_branches", 1)
request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (has_totag()) {
        if (loose_route()) { t_relay(); exit; }
        if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
        sl_send_reply("404", "Not here"); exit;
    }
    if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
    if (is_method("OPTIONS") && uri==myself && $rU==$null) { sl_send_reply("200", "OK"); exit; }
    if (is_method("REGISTER")) {
    #AUTH
        xlog("L_NOTICE", "dtlsrtp: register $tu contact $ct from $si:$sp over $pr\n");
        if (!save("location")) { sl_reply_error(); }
        exit;
    }
    record_route();
    if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
    xlog("L_NOTICE", "dtlsrtp: relay $rm $tu with $branch(count) extra branches\n");
    t_on_reply("ON_REPLY");
    if (!t_relay()) { sl_reply_error(); }
    exit;
}
onreply_route[ON_REPLY] {
    xlog("L_NOTICE", "dtlsrtp: reply $rs $rr for $rm from $si:$sp\n");
    #HOLDS
}
"#;

/// A running Kamailio. Dropping it stops its process group (by PID) and removes its directory.
#[derive(Debug)]
pub struct Kamailio {
    process: PeerProcess,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Kamailio {
    /// A builder with the defaults.
    pub fn builder() -> KamailioBuilder {
        KamailioBuilder {
            port: None,
            shm_mb: 16,
            pkg_mb: 4,
            children: 2,
            debug: 2,
            max_lifetime_secs: 300,
            tcp: false,
            tls: None,
            users: Vec::new(),
            holds: Vec::new(),
        }
    }

    /// Its UDP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }
    /// `127.0.0.1:PORT`, the domain of AoRs it serves.
    pub fn domain(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    /// `sip:USER@127.0.0.1:PORT`.
    pub fn aor(&self, user: &str) -> String {
        format!("sip:{user}@127.0.0.1:{}", self.port)
    }
    /// `sip:127.0.0.1:PORT;lr`, for an outbound proxy setting.
    pub fn proxy_uri(&self) -> String {
        format!("sip:127.0.0.1:{};lr", self.port)
    }
    /// The process id of the `timeout` wrapper, which leads the process group of Kamailio and its workers.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
    /// The process guard.
    pub fn process(&mut self) -> &mut PeerProcess {
        &mut self.process
    }
    /// Its log.
    pub fn log(&self) -> &LogFile {
        self.process.log()
    }
    /// The log file path.
    pub fn log_path(&self) -> &Path {
        self.process.log().path()
    }
    /// Waits at most `timeout` for `pattern` in the log.
    pub fn wait_for(&mut self, pattern: &str, timeout: Duration) -> Result<String, PeerError> {
        self.process.wait_for(pattern, timeout)
    }
    /// Waits at most `timeout` until `n` REGISTERs for `aor` have been accepted.
    pub fn wait_registrations(
        &mut self,
        aor: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<String, PeerError> {
        self.process
            .wait_for_count(&format!("dtlsrtp: register {aor} "), n, timeout)
    }
    /// Waits at most `timeout` for a branch reply with status `code` (e.g. 487 for the cancelled fork).
    pub fn wait_reply(&mut self, code: u16, timeout: Duration) -> Result<String, PeerError> {
        self.process
            .wait_for(&format!("dtlsrtp: reply {code} "), timeout)
    }
    /// The `dtlsrtp: reply …` lines so far.
    pub fn replies(&self) -> Vec<String> {
        self.log().lines_with("dtlsrtp: reply ")
    }

    /// Sends OPTIONS to the proxy until it answers (bounded by `READY_TIMEOUT`).
    #[allow(clippy::disallowed_methods)] // test support: a real socket and the real clock
    fn wait_ready(&mut self) -> Result<(), PeerError> {
        let io = |what| move |e| PeerError::Io { what, source: e };
        let sock = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
            .map_err(io("bind probe socket"))?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(io("probe socket timeout"))?;
        let local = sock.local_addr().map_err(io("probe socket address"))?;
        let target = SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port);
        let options = format!(
            "OPTIONS sip:127.0.0.1:{p} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-dtlsrtp-probe;rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=probe\r\nTo: <sip:127.0.0.1:{p}>\r\n\
             Call-ID: dtlsrtp-probe-{p}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            p = self.port
        );
        let deadline = std::time::Instant::now() + READY_TIMEOUT;
        let mut buf = [0u8; 2048];
        loop {
            if let Some(status) = self.process.try_status() {
                return Err(PeerError::Exited {
                    peer: self.process.name().to_owned(),
                    waiting_for: "OPTIONS answer".to_owned(),
                    status,
                    tail: self.log().tail(),
                });
            }
            let _ = sock.send_to(options.as_bytes(), target);
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                if buf.get(..n).is_some_and(|b| b.starts_with(b"SIP/2.0 200")) {
                    return Ok(());
                }
            }
            if std::time::Instant::now() >= deadline {
                return Err(PeerError::Timeout {
                    peer: self.process.name().to_owned(),
                    waiting_for: "OPTIONS answer".to_owned(),
                    waited: READY_TIMEOUT,
                    tail: self.log().tail(),
                });
            }
        }
    }

    /// Stops Kamailio (SIGTERM to its group, then SIGKILL) and returns the main process' exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.process.stop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_the_minimal_modules_and_fork_route() {
        let c = Kamailio::builder().config(20100);
        for m in [
            "tm",
            "sl",
            "rr",
            "pv",
            "maxfwd",
            "textops",
            "siputils",
            "usrloc",
            "registrar",
        ] {
            assert!(c.contains(&format!("loadmodule \"{m}.so\"")), "{m}");
        }
        assert!(c.contains("listen=udp:127.0.0.1:20100"));
        assert!(c.contains("append_branches\", 1"));
        assert!(
            c.contains("save(\"location\")")
                && c.contains("lookup(\"location\")")
                && c.contains("t_relay()")
        );
        assert!(c.contains("record_route()"));
    }
}
