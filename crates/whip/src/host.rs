//! DNS rebinding guard (issue 12 item 12, follow-up): which `Host` the endpoint answers to.
//!
//! A page on `attacker.example` whose name is re-pointed to 127.0.0.1 is "same-origin" with a loopback server,
//! so the origin guard alone cannot stop it. Its requests still carry `Host: attacker.example[:port]`, so by
//! default only Hosts that name the server directly are served:
//! - an IP literal: `127.0.0.1`, `[::1]`, with or without a port;
//! - `localhost` and `*.localhost` (RFC 6761 §6.3: never resolved through DNS);
//! - a name listed in [`ServerConfig::allowed_hosts`] (compared without port, case-insensitively, a trailing
//!   dot ignored), or any Host when the list holds `*`.
//!
//! Any other Host, or none on HTTP/1.1 and later (HTTP/1.1 requires it, RFC 9112 §3.2; HTTP/2 carries it as
//! `:authority`), gets 403 before any handler or CORS logic runs. The bearer token does not lift the check.

use std::net::{Ipv4Addr, Ipv6Addr};

use axum::extract::Request;
use axum::http::{header, Version};

use crate::ServerConfig;

/// The name part of a `Host` value: `[v6]` keeps its brackets, a trailing `:port` (digits only) is cut.
fn name_of(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Does this `Host` value name the server directly (or is it allowed by configuration)?
pub(crate) fn host_allowed(config: &ServerConfig, host: &str) -> bool {
    if config.allowed_hosts.iter().any(|a| a == "*") {
        return true;
    }
    let name = name_of(host.trim());
    if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        // a zone id (`fe80::1%25eth0`) is not part of the address
        let addr = v6.split('%').next().unwrap_or(v6);
        return addr.parse::<Ipv6Addr>().is_ok();
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return true;
    }
    config.allowed_hosts.iter().any(|a| {
        let a = a.strip_suffix('.').unwrap_or(a);
        a.eq_ignore_ascii_case(name)
    })
}

/// The request's check: its `Host` header (or HTTP/2 `:authority`); none at all only on HTTP/1.0 and older.
pub(crate) fn request_allowed(config: &ServerConfig, req: &Request) -> bool {
    let host = match req.headers().get(header::HOST) {
        Some(h) => match h.to_str() {
            Ok(h) => Some(h),
            Err(_) => return false,
        },
        None => req.uri().authority().map(|a| a.as_str()),
    };
    match host {
        Some(h) => host_allowed(config, h),
        None => matches!(req.version(), Version::HTTP_09 | Version::HTTP_10),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sec_whip_dns_rebinding_host_classification() {
        let mut c = ServerConfig::new(Ipv4Addr::LOCALHOST.into());
        for ok in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "192.0.2.7:443",
            "[::1]",
            "[::1]:8080",
            "[fe80::1%25eth0]:80",
            "localhost",
            "LocalHost:8080",
            "localhost.:8080",
            "app.localhost:8080",
        ] {
            assert!(host_allowed(&c, ok), "{ok}");
        }
        for bad in [
            "attacker.example",
            "attacker.example:8080",
            "127.0.0.1.attacker.example:8080",
            "localhost.attacker.example",
            "evillocalhost",
            "[::1",
            "[not-v6]:80",
            "::1",
            "",
            ":8080",
        ] {
            assert!(!host_allowed(&c, bad), "{bad}");
        }
        c.allowed_hosts = vec!["media.example.".into()];
        assert!(host_allowed(&c, "Media.Example:8080"));
        assert!(host_allowed(&c, "media.example"));
        assert!(!host_allowed(&c, "attacker.example:8080"));
        c.allowed_hosts = vec!["*".into()];
        assert!(host_allowed(&c, "attacker.example:8080"));
    }
}
