//! The UDP sockets of `dtlsrtp demo` (SIP mode): a small driver loop around the sans-IO [`Endpoint`]
//! (ARCHITECTURE §3: the command owns sockets and the clock): the SIP socket and the media pool, non-blocking.
//! `call` and `answer` run on the tokio driver (`dtlsrtp_tokio::endpoint`) instead.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Instant;

use dtlsrtp::{Datagram, Endpoint};

use crate::{Exit, Failure};

/// Free media sockets kept bound.
const MEDIA_POOL: usize = 3;

/// The UDP sockets of one endpoint (SIP and the media pool).
pub(crate) struct Sockets {
    pub(crate) sip: UdpSocket,
    pub(crate) sip_addr: SocketAddr,
    pub(crate) media: HashMap<SocketAddr, UdpSocket>,
    media_ip: IpAddr,
}

fn local(e: impl std::fmt::Display) -> Failure {
    Failure::new(Exit::Local, e.to_string())
}

impl Sockets {
    pub(crate) fn bind(sip: SocketAddr) -> Result<Self, Failure> {
        let sock = UdpSocket::bind(sip)
            .map_err(|e| Failure::new(Exit::Local, format!("SIP socket {sip}: {e}")))?;
        sock.set_nonblocking(true).map_err(local)?;
        let sip_addr = sock.local_addr().map_err(local)?;
        Ok(Self {
            sip: sock,
            sip_addr,
            media: HashMap::new(),
            media_ip: sip_addr.ip(),
        })
    }

    /// Keeps the endpoint's pool of fresh media sockets full (a failure is fatal: for the start).
    pub(crate) fn top_up(&mut self, ep: &mut Endpoint) -> Result<(), Failure> {
        while ep.free_media_sockets() < MEDIA_POOL {
            let s = UdpSocket::bind((self.media_ip, 0)).map_err(local)?;
            s.set_nonblocking(true).map_err(local)?;
            let a = s.local_addr().map_err(local)?;
            ep.add_media_socket(a);
            self.media.insert(a, s);
        }
        Ok(())
    }

    /// Feeds every waiting datagram to the endpoint; true when any came.
    pub(crate) fn receive(&mut self, ep: &mut Endpoint, buf: &mut [u8]) -> bool {
        let mut any = false;
        let sockets = std::iter::once((self.sip_addr, &self.sip))
            .chain(self.media.iter().map(|(a, s)| (*a, s)));
        for (local, sock) in sockets {
            for _ in 0..64 {
                match sock.recv_from(buf) {
                    Ok((n, remote)) => {
                        any = true;
                        let Some(bytes) = buf.get(..n) else { break };
                        ep.handle_datagram(
                            Instant::now(),
                            Datagram {
                                local,
                                remote,
                                bytes,
                            },
                        );
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    // ICMP errors reported on the socket, interrupted calls: not fatal for the loop.
                    Err(_) => break,
                }
            }
        }
        any
    }

    /// Sends one datagram from the socket it names.
    pub(crate) fn send(&mut self, t: &dtlsrtp::Transmit) {
        tracing::trace!(
            "{:?} {} -> {} ({} B)",
            t.transport,
            t.local,
            t.remote,
            t.bytes.len()
        );
        let sock = if t.local == self.sip_addr {
            Some(&self.sip)
        } else {
            self.media.get(&t.local)
        };
        if let Some(s) = sock {
            if let Err(e) = s.send_to(&t.bytes, t.remote) {
                tracing::debug!("send to {}: {e}", t.remote);
            }
        }
    }
}
