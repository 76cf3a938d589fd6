//! Test support for dtlsrtp (dev-only, never a dependency of a library crate's normal build).
//!
//! - [`netsim`]: a seeded simulated network on virtual time (loss, reorder, duplication, NAT rewrites).
//! - [`openssl_cli`]: the OpenSSL command line (`s_server`/`s_client`) as a DTLS-SRTP peer.
//! - [`peers`]: real peers started on 127.0.0.1 and stopped by PID: baresip, Kamailio, headless Chromium.
//! - [`require_peer`]: under `CI=true` a missing peer binary fails the test; elsewhere the test is skipped loudly.

pub mod chromium;
pub mod netsim;
pub mod openssl_cli;
pub mod peers;

/// Whether the peer binary `bin` can be used. Under `CI=true` a missing binary panics (the interop test fails);
/// elsewhere it prints what to install and returns false so the caller can return early.
#[allow(clippy::panic)] // a missing peer under CI must fail the test
pub fn require_peer(bin: &str, debian_package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false);
    if found {
        return true;
    }
    let msg = format!(
        "interop peer `{bin}` is missing: install it with `apt-get install -y {debian_package}`"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg} (CI=true: interop tests must run)");
    }
    eprintln!("\n*** SKIPPING: {msg} ***\n");
    false
}
