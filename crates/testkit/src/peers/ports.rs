//! Free ports on 127.0.0.1 for peers: bind-then-release, UDP and TCP, never the same block twice in a process.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use super::PeerError;

/// Candidate blocks are taken from this range, below Linux's ephemeral range (32768–60999) so that the kernel's
/// own choices for outgoing sockets (and the peers' RTP ports, chosen in 10000–20000 by our baresip config) do not
/// collide with them.
const RANGE: std::ops::Range<u32> = 20_000..32_000;
/// Candidate blocks start on multiples of this (baresip needs PORT and PORT+1; instances stay 10 apart).
const ALIGN: u32 = 10;

static CURSOR: AtomicU32 = AtomicU32::new(0);
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A first candidate that differs between test processes (pid and clock), so parallel test binaries on one
/// machine start at different places.
#[allow(clippy::disallowed_methods)] // test support: the clock only seeds a starting point
fn seed() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::process::id()
        .wrapping_mul(7919)
        .wrapping_add(nanos / 1000)
}

#[allow(clippy::disallowed_methods)] // test support: probing a port needs a real socket
fn is_free(port: u16) -> bool {
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    UdpSocket::bind(addr).is_ok() && TcpListener::bind(addr).is_ok()
}

/// A base port P such that P..P+span are all free on 127.0.0.1 for both UDP and TCP right now, and that no
/// other call in this process has been given (the ports are released: a peer binds them next). Blocks are
/// 10-aligned, so two blocks of span ≤ 10 are 10 ports apart at least.
pub fn free_port_block(span: u16) -> Result<u16, PeerError> {
    let span32 = u32::from(span.max(1));
    let step = span32.div_ceil(ALIGN) * ALIGN;
    let slots = (RANGE.end - RANGE.start) / step;
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed = handed.get_or_insert_with(HashSet::new);
    if CURSOR.load(Ordering::Relaxed) == 0 {
        CURSOR.store(seed() | 1, Ordering::Relaxed);
    }
    for _ in 0..slots {
        let slot = CURSOR.fetch_add(1, Ordering::Relaxed) % slots;
        let Ok(base) = u16::try_from(RANGE.start + slot * step) else {
            continue;
        };
        let ports: Vec<u16> = (0..span.max(1))
            .filter_map(|i| base.checked_add(i))
            .collect();
        if ports.iter().any(|p| handed.contains(p)) || !ports.iter().all(|&p| is_free(p)) {
            continue;
        }
        handed.extend(ports);
        return Ok(base);
    }
    Err(PeerError::NoFreePort { span })
}

/// One free port (UDP and TCP) on 127.0.0.1.
pub fn free_port() -> Result<u16, PeerError> {
    free_port_block(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // binds the returned ports to prove they are free
    fn blocks_are_free_distinct_and_apart() {
        let a = free_port_block(2).unwrap();
        let b = free_port_block(2).unwrap();
        assert_ne!(a, b);
        assert!(a.abs_diff(b) >= 10, "{a} {b}");
        assert_eq!(a % 10, 0);
        for p in [a, a + 1, b, b + 1] {
            let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, p);
            let _u = UdpSocket::bind(addr).unwrap();
            let _t = TcpListener::bind(addr).unwrap();
        }
        let c = free_port().unwrap();
        assert!(![a, a + 1, b, b + 1].contains(&c));
    }
}
