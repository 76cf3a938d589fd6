//! The tokio driver of dtlsrtp (the only async crate): binds the media socket and runs a
//! [`MediaPort`](dtlsrtp_media::MediaPort) in one task that owns it by value (STYLE rule 10), with the loop of
//! ARCHITECTURE §3: wait for a datagram, a command or the deadline; make one `handle_*` call; drain transmits and
//! events; read the deadline again.
//!
//! The [`MediaHandle`] sends commands over a channel and receives [`MediaEvent`]s from another. The port's CSPRNG
//! seed comes from the OS, its NTP start time from the system clock.
//!
//! ```no_run
//! use dtlsrtp_dtls::{Certificate, Config, CookieSecret, KeyType};
//! use dtlsrtp_media::{ForkId, MediaEvent, MediaPortConfig, PeerParams};
//! use dtlsrtp_srtp::DtlsRole;
//! use dtlsrtp_tokio::MediaHandle;
//!
//! # async fn demo(peer_fp: dtlsrtp_sdp::Fingerprint) -> Result<(), Box<dyn std::error::Error>> {
//! let cert = Certificate::generate(KeyType::EcdsaP256, "me", 30)?;
//! let mut h = MediaHandle::bind("127.0.0.1:0".parse()?, |local, seed| {
//!     MediaPortConfig::new(local, Config::new(cert, CookieSecret::new([1; 32])), seed)
//! })
//! .await?;
//! let fork = ForkId(1);
//! h.set_peer(fork, PeerParams {
//!     addr: Some("127.0.0.1:5004".parse()?),
//!     role: DtlsRole::Client,
//!     fingerprints: vec![peer_fp],
//!     association: dtlsrtp_sdp::Association::Keep,
//!     ice: None,
//! }).await?;
//! while let Some(ev) = h.next_event().await {
//!     match ev {
//!         MediaEvent::FingerprintVerified { .. } => h.send_rtp(fork, 0, true, 0, vec![0; 160]).await?,
//!         MediaEvent::Rtp(p) => println!("{} octets from {:08x}", p.payload.len(), p.ssrc),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```

#[cfg(feature = "endpoint")]
pub mod endpoint;
pub mod files;
pub mod interpose;

/// RFC 7983 demultiplexing of a datagram (what an interposer on the datagram path looks at).
pub use dtlsrtp_media::{classify, PacketKind};

/// The media port types of [`MediaHandle`]'s API: its configuration, its events, the peer it is pointed at, ICE.
pub mod media {
    /// The DTLS settings inside [`MediaPortConfig`] and the fingerprint gate state of its associations.
    pub use dtlsrtp_dtls::{Config as DtlsConfig, CookieSecret, GateState};
    pub use dtlsrtp_media::{
        dtls_role, AssocCounters, ForkId, MediaEvent, MediaPortConfig, PeerParams,
    };
    /// ICE (RFC 8445) settings of a media port.
    pub mod ice {
        pub use dtlsrtp_media::ice::{IceConfig, IceMode, IceRole};
    }
}

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dtlsrtp_media::ice::{Candidate, IceConfig, IceCredentials, IceRole};
use dtlsrtp_media::{
    AssocId, AssocInfo, ForkId, MediaError, MediaEvent, MediaPort, MediaPortConfig, PeerParams,
    PortCounters,
};
use dtlsrtp_srtp::SrtpKeyingMaterial;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Largest datagram read from the socket.
const RECV_BUF: usize = 2048;
/// Datagrams or commands handled in one wake-up before the loop drains outputs again.
const BATCH: usize = 64;

/// Errors of the driver and its handle.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The socket could not be bound or read.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    /// The OS RNG failed (no seed for the port).
    #[error("OS random number generator unavailable")]
    Seed,
    /// The port refused the command.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The endpoint refused the command.
    #[cfg(feature = "endpoint")]
    #[error(transparent)]
    Endpoint(#[from] dtlsrtp::Error),
    /// The driver task has ended.
    #[error("driver stopped")]
    Stopped,
}

type Reply<T> = oneshot::Sender<T>;

/// A command to the driver task. Sent by the [`MediaHandle`] methods.
#[non_exhaustive]
enum Command {
    Listen(bool),
    MoreAnswers(bool),
    SetPeer(ForkId, Box<PeerParams>, Reply<Result<(), MediaError>>),
    CloseFork(ForkId, Reply<Result<(), MediaError>>),
    Rekey(ForkId, Reply<Result<(), MediaError>>),
    SendRtp {
        fork: ForkId,
        payload_type: u8,
        marker: bool,
        timestamp: u32,
        payload: Vec<u8>,
    },
    EnableIce(
        IceConfig,
        Option<IceCredentials>,
        IceRole,
        Reply<(IceCredentials, Candidate)>,
    ),
    Associations(Reply<Vec<AssocInfo>>),
    Counters(Reply<PortCounters>),
    Keys(AssocId, Reply<Option<SrtpKeyingMaterial>>),
    Inject(SocketAddr, Vec<u8>),
    Shutdown,
}

/// The handle of a running media port: commands in, events out.
#[derive(Debug)]
pub struct MediaHandle {
    cmds: mpsc::Sender<Command>,
    events: mpsc::Receiver<MediaEvent>,
    local: SocketAddr,
    task: JoinHandle<io::Result<()>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

/// The wall clock now as a 64-bit NTP timestamp (RFC 3550 SR).
fn ntp_now() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let secs = d.as_secs().wrapping_add(2_208_988_800);
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

impl MediaHandle {
    /// Binds `addr`, builds the port with `configure(local_addr, os_seed)` and starts the driver task on the
    /// current tokio runtime.
    pub async fn bind(
        addr: SocketAddr,
        configure: impl FnOnce(SocketAddr, [u8; 32]) -> MediaPortConfig,
    ) -> Result<Self, DriverError> {
        Self::bind_tapped(addr, configure, None).await
    }

    /// [`Self::bind`], with a [`interpose::MediaTap`] that sees every datagram the port sends.
    pub async fn bind_tapped(
        addr: SocketAddr,
        configure: impl FnOnce(SocketAddr, [u8; 32]) -> MediaPortConfig,
        tap: Option<interpose::MediaTap>,
    ) -> Result<Self, DriverError> {
        let socket = UdpSocket::bind(addr).await?;
        let local = socket.local_addr()?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| DriverError::Seed)?;
        let mut config = configure(local, seed);
        config.ntp_at_start = ntp_now();
        let port = MediaPort::new(Instant::now(), config)?;
        let (cmd_tx, cmd_rx) = mpsc::channel(1024);
        let (ev_tx, ev_rx) = mpsc::channel(4096);
        let task = tokio::spawn(run(port, socket, cmd_rx, ev_tx, tap));
        Ok(Self {
            cmds: cmd_tx,
            events: ev_rx,
            local,
            task,
        })
    }

    /// The bound address.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    async fn send(&self, c: Command) -> Result<(), DriverError> {
        self.cmds.send(c).await.map_err(|_| DriverError::Stopped)
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, DriverError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx)).await?;
        rx.await.map_err(|_| DriverError::Stopped)
    }

    /// [`MediaPort::listen`].
    pub async fn listen(&self, on: bool) -> Result<(), DriverError> {
        self.send(Command::Listen(on)).await
    }

    /// [`MediaPort::set_more_answers`] (T-8a).
    pub async fn set_more_answers(&self, more: bool) -> Result<(), DriverError> {
        self.send(Command::MoreAnswers(more)).await
    }

    /// [`MediaPort::set_peer`].
    pub async fn set_peer(&self, fork: ForkId, params: PeerParams) -> Result<(), DriverError> {
        Ok(self
            .ask(|r| Command::SetPeer(fork, Box::new(params), r))
            .await??)
    }

    /// [`MediaPort::close_fork`].
    pub async fn close_fork(&self, fork: ForkId) -> Result<(), DriverError> {
        Ok(self.ask(|r| Command::CloseFork(fork, r)).await??)
    }

    /// [`MediaPort::request_rekey`].
    pub async fn request_rekey(&self, fork: ForkId) -> Result<(), DriverError> {
        Ok(self.ask(|r| Command::Rekey(fork, r)).await??)
    }

    /// [`MediaPort::enable_ice`].
    pub async fn enable_ice(
        &self,
        config: IceConfig,
        credentials: Option<IceCredentials>,
        role: IceRole,
    ) -> Result<(IceCredentials, Candidate), DriverError> {
        self.ask(|r| Command::EnableIce(config, credentials, role, r))
            .await
    }

    /// Queues one RTP packet ([`MediaPort::send_rtp`]). Fire and forget: a packet refused for want of keys is
    /// counted in [`PortCounters::send_refused`], never sent in the clear.
    pub async fn send_rtp(
        &self,
        fork: ForkId,
        payload_type: u8,
        marker: bool,
        timestamp: u32,
        payload: Vec<u8>,
    ) -> Result<(), DriverError> {
        self.send(Command::SendRtp {
            fork,
            payload_type,
            marker,
            timestamp,
            payload,
        })
        .await
    }

    /// Snapshots of the associations.
    pub async fn associations(&self) -> Result<Vec<AssocInfo>, DriverError> {
        self.ask(Command::Associations).await
    }

    /// Port counters.
    pub async fn counters(&self) -> Result<PortCounters, DriverError> {
        self.ask(Command::Counters).await
    }

    /// The keying material of a verified association (interop checks).
    pub async fn keying_material(
        &self,
        id: AssocId,
    ) -> Result<Option<SrtpKeyingMaterial>, DriverError> {
        self.ask(|r| Command::Keys(id, r)).await
    }

    /// Feeds a datagram to the port as if it had arrived from `remote` (tests, and a second socket the
    /// application reads itself).
    pub async fn inject(&self, remote: SocketAddr, bytes: Vec<u8>) -> Result<(), DriverError> {
        self.send(Command::Inject(remote, bytes)).await
    }

    /// The next event; `None` once the driver stopped.
    pub async fn next_event(&mut self) -> Option<MediaEvent> {
        self.events.recv().await
    }

    /// The event channel, for `select!`.
    pub fn events(&mut self) -> &mut mpsc::Receiver<MediaEvent> {
        &mut self.events
    }

    /// Stops the driver task and waits for it.
    pub async fn shutdown(self) -> Result<(), DriverError> {
        let _ = self.cmds.send(Command::Shutdown).await;
        drop(self.events);
        match self.task.await {
            Ok(r) => Ok(r?),
            Err(_) => Err(DriverError::Stopped),
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Errors that UDP reports for earlier sends (ICMP) or transient conditions: the loop carries on.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// Returns false when the loop must stop.
fn apply(port: &mut MediaPort, now: Instant, cmd: Command) -> bool {
    match cmd {
        Command::Listen(on) => port.listen(on),
        Command::MoreAnswers(more) => port.set_more_answers(now, more),
        Command::SetPeer(fork, params, r) => {
            let _ = r.send(port.set_peer(now, fork, *params));
        }
        Command::CloseFork(fork, r) => {
            let _ = r.send(port.close_fork(now, fork));
        }
        Command::Rekey(fork, r) => {
            let _ = r.send(port.request_rekey(fork));
        }
        Command::SendRtp {
            fork,
            payload_type,
            marker,
            timestamp,
            payload,
        } => {
            // Refusals are counted by the port (fail closed).
            let _ = port.send_rtp(now, fork, payload_type, marker, timestamp, &payload);
        }
        Command::EnableIce(config, creds, role, r) => {
            let _ = r.send(port.enable_ice(now, config, creds, role));
        }
        Command::Associations(r) => {
            let _ = r.send(port.associations());
        }
        Command::Counters(r) => {
            let _ = r.send(port.counters());
        }
        Command::Keys(id, r) => {
            let _ = r.send(port.keying_material(id).cloned());
        }
        Command::Inject(remote, bytes) => port.handle_datagram(now, remote, &bytes),
        Command::Shutdown => return false,
    }
    true
}

/// The driver loop (ARCHITECTURE §3): one task owns `port` by value. Ends when the handle is dropped or shut
/// down; a socket error other than the transient ones UDP reports for earlier sends ends it with that error.
async fn run(
    mut port: MediaPort,
    socket: UdpSocket,
    mut cmds: mpsc::Receiver<Command>,
    evs: mpsc::Sender<MediaEvent>,
    tap: Option<interpose::MediaTap>,
) -> io::Result<()> {
    let mut buf = vec![0u8; RECV_BUF];
    let local = socket.local_addr()?;
    loop {
        while let Some(t) = port.poll_transmit() {
            if let Some(tap) = &tap {
                tap(local, t.remote, &t.bytes);
            }
            if let Err(e) = socket.send_to(&t.bytes, t.remote).await {
                if !transient(&e) {
                    return Err(e);
                }
            }
        }
        while let Some(e) = port.poll_event() {
            if evs.send(e).await.is_err() {
                return Ok(());
            }
        }
        let wake = port.poll_timeout();
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                match r {
                    Ok((n, remote)) => {
                        port.handle_datagram(Instant::now(), remote, buf.get(..n).unwrap_or_default());
                        // Drain what else is queued without waiting (bounded), then flush outputs once.
                        for _ in 0..BATCH {
                            match socket.try_recv_from(&mut buf) {
                                Ok((n, remote)) => port.handle_datagram(
                                    Instant::now(), remote, buf.get(..n).unwrap_or_default()),
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                                Err(e) if transient(&e) => {}
                                Err(e) => return Err(e),
                            }
                        }
                    }
                    Err(e) if transient(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            cmd = cmds.recv() => {
                let Some(cmd) = cmd else { return Ok(()) };
                let now = Instant::now();
                if !apply(&mut port, now, cmd) {
                    return Ok(());
                }
                for _ in 0..BATCH {
                    match cmds.try_recv() {
                        Ok(cmd) => if !apply(&mut port, now, cmd) { return Ok(()) },
                        Err(_) => break,
                    }
                }
            }
            () = sleep_until_opt(wake) => port.handle_timeout(Instant::now()),
        }
    }
}
