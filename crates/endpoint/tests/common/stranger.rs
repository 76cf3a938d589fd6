//! A "stranger" (issue 12 item 2): a DTLS party with its own self-signed certificate, unknown to any SDP, that
//! runs handshakes against any media port (as DTLS client) or answers ClientHellos sent to its address (as
//! DTLS server). Built on `dtlsrtp_dtls::Association`; plugged into [`super::Net`] by address.
#![allow(unreachable_pub, clippy::unwrap_used, clippy::panic, dead_code)]

use std::net::SocketAddr;
use std::time::Instant;

use dtlsrtp_dtls::{
    Association, Certificate, Config, CookieSecret, DtlsContext, Event, KeyType, State,
};
use dtlsrtp_srtp::DtlsRole;

pub struct Stranger {
    pub addr: SocketAddr,
    ctx: DtlsContext,
    assocs: Vec<(SocketAddr, Association)>,
    out: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    /// Targets whose handshake completed (the port accepted our certificate's handshake).
    pub connected: Vec<SocketAddr>,
    /// Targets that closed or failed the association (e.g. the port discarded it).
    pub ended: Vec<SocketAddr>,
}

impl Stranger {
    pub fn new(addr: SocketAddr) -> Self {
        let cert = Certificate::generate(KeyType::EcdsaP256, "stranger", 1).unwrap();
        let cfg = Config::new(cert, CookieSecret::new([7; 32]));
        Self {
            addr,
            ctx: DtlsContext::new(&cfg).unwrap(),
            assocs: Vec::new(),
            out: Vec::new(),
            connected: Vec::new(),
            ended: Vec::new(),
        }
    }

    /// Starts a handshake (ClientHello) towards `target`.
    pub fn connect(&mut self, now: Instant, target: SocketAddr) {
        let a = Association::new(&self.ctx, DtlsRole::Client, target, now).unwrap();
        self.assocs.push((target, a));
        self.drain();
    }

    /// Handshakes started.
    pub fn attempts(&self) -> usize {
        self.assocs.len()
    }

    pub fn handle(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        match self.assocs.iter_mut().find(|(r, _)| *r == from) {
            Some((_, a)) => a.handle_datagram(now, bytes),
            None => {
                // Server side: whoever sends us a ClientHello gets a handshake.
                let mut a = Association::new(&self.ctx, DtlsRole::Server, from, now).unwrap();
                a.handle_datagram(now, bytes);
                self.assocs.push((from, a));
            }
        }
        self.drain();
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.assocs
            .iter()
            .filter(|(_, a)| a.state() == State::Handshaking || a.state() == State::Connected)
            .filter_map(|(_, a)| a.poll_timeout())
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for (_, a) in &mut self.assocs {
            if a.poll_timeout().is_some_and(|t| t <= now) {
                a.handle_timeout(now);
            }
        }
        self.drain();
    }

    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        (!self.out.is_empty()).then(|| self.out.remove(0))
    }

    fn drain(&mut self) {
        for (r, a) in &mut self.assocs {
            while let Some(d) = a.poll_transmit() {
                self.out.push((self.addr, *r, d));
            }
            while let Some(e) = a.poll_event() {
                match e {
                    Event::Connected(_) => self.connected.push(*r),
                    Event::Closed | Event::Failed(_) => self.ended.push(*r),
                    _ => {}
                }
            }
        }
    }
}
