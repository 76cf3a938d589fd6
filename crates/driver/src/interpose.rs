//! Packet tricks on the driver's datagram path (issue 13 item 4): what `dtlsrtp demo` and the tests do to show
//! RFC 5763 behaviour on a real network — hold a 200 behind a ClientHello, rewrite a fingerprint, fork an
//! INVITE — without a loop of their own.
//!
//! - An [`Interposer`] sees every UDP datagram an [`EndpointHandle`](crate::endpoint::EndpointHandle) is
//!   about to send (SIP and media), in the driver task, before the socket: it may log it, rewrite it, drop
//!   it, or keep it and send it later itself through the socket it is handed. Set it in
//!   [`DriverOptions::interpose`](crate::endpoint::DriverOptions::interpose).
//! - A [`MediaTap`] sees every datagram a [`MediaHandle`](crate::MediaHandle) sends
//!   ([`MediaHandle::bind_tapped`](crate::MediaHandle::bind_tapped)).
//! - A [`ProxyHandle`] runs the workspace's one forking and mangling SIP proxy ([`proxy::Proxy`], sans-IO,
//!   crate `dtlsrtp-proxy`) on a UDP socket in a task of its own, and reports what it did as
//!   [`proxy::Note`]s.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

#[cfg(feature = "endpoint")]
use dtlsrtp::Transmit;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use dtlsrtp_proxy as proxy;

use crate::DriverError;

/// Sees every datagram a media port's driver sends: (local, remote, bytes). Runs in the driver task: it must
/// not block.
pub type MediaTap = Arc<dyn Fn(SocketAddr, SocketAddr, &[u8]) + Send + Sync>;

/// A hook on the endpoint driver's outgoing UDP datagrams. Called in the driver task: it must not block.
#[cfg(feature = "endpoint")]
pub trait Interposer: Send + Sync + 'static {
    /// `t` is about to be sent from `socket`. Return `true` to let the driver send `t` (possibly rewritten),
    /// `false` when the interposer took it: dropped, or kept to be sent later with `socket.try_send_to`.
    fn outgoing(&self, t: &mut Transmit, socket: &Arc<UdpSocket>) -> bool;
}

/// An [`Interposer`] as a driver option (cloneable, printable).
#[cfg(feature = "endpoint")]
#[derive(Clone)]
pub struct Interpose(pub Arc<dyn Interposer>);

#[cfg(feature = "endpoint")]
impl std::fmt::Debug for Interpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interpose")
    }
}

#[cfg(feature = "endpoint")]
impl Interpose {
    /// Runs the interposer on one datagram; `true`: the driver sends it.
    pub(crate) fn outgoing(&self, t: &mut Transmit, socket: &Arc<UdpSocket>) -> bool {
        self.0.outgoing(t, socket)
    }
}

enum ProxyCommand {
    ReleaseHeld,
    Inject(SocketAddr, String),
}

/// A [`proxy::Proxy`] on a UDP socket, in its own task.
#[derive(Debug)]
pub struct ProxyHandle {
    addr: SocketAddr,
    cmds: mpsc::UnboundedSender<ProxyCommand>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for ProxyCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyCommand")
    }
}

/// Largest SIP datagram read.
const RECV_BUF: usize = 65_536;

impl ProxyHandle {
    /// Binds `addr`, builds the proxy with `build(bound_address)` and runs it; `on_note` gets every
    /// [`proxy::Note`] in order (it runs in the proxy task: it must not block).
    pub async fn start(
        addr: SocketAddr,
        build: impl FnOnce(SocketAddr) -> proxy::Proxy,
        mut on_note: impl FnMut(proxy::Note) + Send + 'static,
    ) -> Result<Self, DriverError> {
        let socket = UdpSocket::bind(addr).await?;
        let local = socket.local_addr()?;
        let mut p = build(local);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; RECV_BUF];
            loop {
                while let Some((_, to, bytes)) = p.poll_transmit() {
                    // Never fatal: a datagram the network refuses is lost, as on any network.
                    let _ = socket.send_to(&bytes, to).await;
                }
                while let Some(n) = p.poll_note() {
                    on_note(n);
                }
                tokio::select! {
                    r = socket.recv_from(&mut buf) => match r {
                        Ok((n, from)) => p.handle(Instant::now(), from, buf.get(..n).unwrap_or_default()),
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
                            || e.kind() == std::io::ErrorKind::ConnectionReset => {}
                        Err(_) => return,
                    },
                    c = rx.recv() => match c {
                        Some(ProxyCommand::ReleaseHeld) => p.release_held(),
                        Some(ProxyCommand::Inject(to, text)) => p.inject(to, &text),
                        None => return,
                    },
                }
            }
        });
        Ok(Self {
            addr: local,
            cmds: tx,
            task,
        })
    }

    /// The proxy's address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends every message the hook held ([`proxy::Proxy::release_held`]).
    pub fn release_held(&self) -> Result<(), DriverError> {
        self.cmds
            .send(ProxyCommand::ReleaseHeld)
            .map_err(|_| DriverError::Stopped)
    }

    /// Sends `text` from the proxy to `to` ([`proxy::Proxy::inject`]).
    pub fn inject(&self, to: SocketAddr, text: &str) -> Result<(), DriverError> {
        self.cmds
            .send(ProxyCommand::Inject(to, text.to_owned()))
            .map_err(|_| DriverError::Stopped)
    }

    /// Stops the proxy task and waits for it.
    pub async fn shutdown(self) {
        drop(self.cmds);
        let _ = self.task.await;
    }
}
