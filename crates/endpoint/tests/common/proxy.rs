//! The workspace's one forking and mangling proxy (crates/proxy), here on the simulated network's manual
//! clock (the `Net` delivers its datagrams); `dtlsrtp demo` runs the same proxy on a socket.
#![allow(unused_imports)]

pub use dtlsrtp_proxy::{uri_addr, Proxy, Verdict};
