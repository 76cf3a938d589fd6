//! Live UAs on real UDP sockets for the interop tests (Kamailio, baresip): pump, bounded waits, a media port.
#![allow(clippy::disallowed_methods)]
// interop harness: real sockets and the wall clock
// Shared by several test binaries: each uses a part.
#![allow(clippy::unwrap_used, clippy::panic, dead_code, unreachable_pub)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use dtlsrtp_sip::digest::Credentials;
use dtlsrtp_sip::ua::{Config, Event, UserAgent};

pub(crate) const WAIT: Duration = Duration::from_secs(8);

/// One UA on its own UDP socket, driven by [`Live::pump`].
pub(crate) struct Live {
    pub(crate) ua: UserAgent,
    pub(crate) sock: UdpSocket,
    pub(crate) events: Vec<Event>,
}

impl Live {
    #[allow(clippy::disallowed_methods)] // interop test: a real socket
    pub(crate) fn new(user: &str, domain: &str, seed: u8, creds: Option<Credentials>) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_nonblocking(true).unwrap();
        let mut cfg = Config::new(user, domain, sock.local_addr().unwrap());
        cfg.credentials = creds;
        Self {
            ua: UserAgent::new(cfg, [seed; 32]),
            sock,
            events: Vec::new(),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    /// Sends what the UA queued, feeds what arrived, fires due timers, collects events.
    pub(crate) fn pump(&mut self, now: Instant) {
        let mut buf = vec![0u8; 65_536];
        for _ in 0..64 {
            while let Some(t) = self.ua.poll_transmit() {
                let _ = self.sock.send_to(&t.bytes, t.remote);
            }
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) => self.ua.handle_datagram(now, from, &buf[..n]),
                Err(_) => break,
            }
        }
        if self.ua.poll_timeout().is_some_and(|t| t <= now) {
            self.ua.handle_timeout(now);
        }
        while let Some(t) = self.ua.poll_transmit() {
            let _ = self.sock.send_to(&t.bytes, t.remote);
        }
        while let Some(e) = self.ua.poll_event() {
            self.events.push(e);
        }
    }
}

/// Pumps all UAs until `done` holds or `WAIT` passes; returns whether it held.
#[allow(clippy::disallowed_methods)] // interop test: the wall clock drives real peers
pub(crate) fn run_until(
    lives: &mut [&mut Live],
    mut done: impl FnMut(&mut [&mut Live]) -> bool,
) -> bool {
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        let now = Instant::now();
        for l in lives.iter_mut() {
            l.pump(now);
        }
        if done(lives) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

#[allow(clippy::disallowed_methods)] // interop test: the wall clock
pub(crate) fn now() -> Instant {
    Instant::now()
}

#[allow(clippy::disallowed_methods)] // interop test: a real socket for the offered media port
pub(crate) fn media_socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// A plain RTP/AVP PCMU offer or answer for `port` (media is not what these tests check).
pub(crate) fn plain_sdp(port: u16, version: u32) -> Vec<u8> {
    format!(
        "v=0\r\no=- 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
    .into_bytes()
}

/// True when some event matches.
pub(crate) fn seen(l: &Live, f: impl Fn(&Event) -> bool) -> bool {
    l.events.iter().any(f)
}

/// One UA on TCP: a listener for its Contact and one stream per peer (opened on first send, or accepted).
pub(crate) struct LiveTcp {
    pub(crate) ua: UserAgent,
    listener: std::net::TcpListener,
    streams: Vec<(SocketAddr, std::net::TcpStream)>,
    pub(crate) events: Vec<Event>,
}

impl LiveTcp {
    #[allow(clippy::disallowed_methods)] // interop test: a real socket
    pub(crate) fn new(user: &str, seed: u8) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut cfg = Config::new(user, "127.0.0.1", listener.local_addr().unwrap());
        cfg.local = vec![(
            dtlsrtp_sip::ua::TransportKind::Tcp,
            listener.local_addr().unwrap(),
        )];
        Self {
            ua: UserAgent::new(cfg, [seed; 32]),
            listener,
            streams: Vec::new(),
            events: Vec::new(),
        }
    }

    fn stream(&mut self, to: SocketAddr) -> Option<&mut std::net::TcpStream> {
        if !self.streams.iter().any(|(a, _)| *a == to) {
            let s = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(2)).ok()?;
            s.set_nonblocking(true).ok()?;
            self.streams.push((to, s));
        }
        self.streams
            .iter_mut()
            .find(|(a, _)| *a == to)
            .map(|(_, s)| s)
    }

    pub(crate) fn pump(&mut self, now: Instant) {
        use std::io::{Read, Write};
        while let Ok((s, peer)) = self.listener.accept() {
            s.set_nonblocking(true).unwrap();
            self.streams.push((peer, s));
        }
        let mut buf = vec![0u8; 65_536];
        for _ in 0..64 {
            while let Some(t) = self.ua.poll_transmit() {
                match self.stream(t.remote) {
                    Some(s) => {
                        s.set_nonblocking(false).unwrap();
                        let _ = s.write_all(&t.bytes);
                        s.set_nonblocking(true).unwrap();
                    }
                    None => self.ua.transport_failed(now, t.transport, t.remote),
                }
            }
            let mut got = Vec::new();
            for (peer, s) in &mut self.streams {
                if let Ok(n) = s.read(&mut buf) {
                    if n > 0 {
                        got.push((*peer, buf[..n].to_vec()));
                    }
                }
            }
            if got.is_empty() {
                break;
            }
            for (peer, bytes) in got {
                self.ua
                    .handle_stream(now, dtlsrtp_sip::ua::TransportKind::Tcp, peer, &bytes);
            }
        }
        if self.ua.poll_timeout().is_some_and(|t| t <= now) {
            self.ua.handle_timeout(now);
        }
        while let Some(e) = self.ua.poll_event() {
            self.events.push(e);
        }
    }
}

/// [`run_until`] for one TCP UA.
#[allow(clippy::disallowed_methods)] // interop test: the wall clock drives real peers
pub(crate) fn run_until_tcp(l: &mut LiveTcp, mut done: impl FnMut(&mut LiveTcp) -> bool) -> bool {
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        l.pump(Instant::now());
        if done(l) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}
