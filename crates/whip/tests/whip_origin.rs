//! Who may call the WHIP/WHEP endpoint from a web page (issue 12 item 12): same-origin by default. A page of
//! another origin gets no CORS header and 403 on POST/DELETE/PATCH and on its preflight (so it can neither pull
//! WHEP audio nor publish into the recorder); `allowed_origins` widens that; Private Network Access only when
//! allowed. Requests without `Origin` (non-browser clients) are unchanged. Before all that, the `Host` must name
//! the server (IP literal, localhost, `allowed_hosts`): a DNS-rebound page gets 403 (the follow-up).
#![allow(clippy::disallowed_methods)] // tests: real sockets
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, SocketAddr};

use dtlsrtp_whip::client::{self, HttpResponse};
use dtlsrtp_whip::{Server, ServerConfig};

const EVIL: &str = "http://evil.example";
const APP: &str = "https://app.example";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn start(cfg: ServerConfig) -> (Server, SocketAddr) {
    let server = Server::new(cfg).unwrap();
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener).await });
    (server, addr)
}

/// A WHEP offer that would be accepted (recvonly audio, fingerprint, ICE).
fn whep_offer() -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
         m=audio 9 UDP/TLS/RTP/SAVPF 0 8\r\nc=IN IP4 127.0.0.1\r\na=mid:0\r\n\
         a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
         a=fingerprint:sha-256 {}\r\na=setup:actpass\r\na=rtcp-mux\r\na=recvonly\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n",
        vec!["AB"; 32].join(":")
    )
}

async fn req(
    addr: SocketAddr,
    method: &str,
    path: &str,
    origin: Option<&str>,
    extra: &[(&str, &str)],
) -> HttpResponse {
    let mut h: Vec<(&str, &str)> = extra.to_vec();
    if let Some(o) = origin {
        h.push(("Origin", o));
    }
    let body = if method == "POST" {
        h.push(("Content-Type", "application/sdp"));
        whep_offer().into_bytes()
    } else {
        Vec::new()
    };
    client::request(addr, method, path, &h, &body)
        .await
        .unwrap()
}

fn no_cors(r: &HttpResponse) -> bool {
    r.headers
        .iter()
        .all(|(n, _)| !n.starts_with("access-control-"))
}

const PREFLIGHT: &[(&str, &str)] = &[
    ("Access-Control-Request-Method", "POST"),
    ("Access-Control-Request-Headers", "content-type"),
    ("Access-Control-Request-Private-Network", "true"),
];

#[test]
fn sec_whip_foreign_origin_refused_and_no_cors_headers_by_default() {
    runtime().block_on(async {
        let (server, addr) = start(ServerConfig::new(Ipv4Addr::LOCALHOST.into())).await;
        // a foreign page: preflight, POST (WHEP would pull our audio, WHIP fill the recorder), DELETE, PATCH
        let r = req(addr, "OPTIONS", "/whep", Some(EVIL), PREFLIGHT).await;
        assert_eq!(r.status, 403);
        assert!(no_cors(&r), "{:?}", r.headers);
        for path in ["/whep", "/whip"] {
            let r = req(addr, "POST", path, Some(EVIL), &[]).await;
            assert_eq!(r.status, 403, "{path}");
            assert!(no_cors(&r), "{:?}", r.headers);
        }
        assert!(server.sessions().is_empty(), "no session started");
        for m in ["DELETE", "PATCH"] {
            let r = req(addr, m, "/whep/abc", Some(EVIL), &[]).await;
            assert_eq!(r.status, 403, "{m}");
            assert!(no_cors(&r));
        }
        // `null` (sandboxed frame, file: page) and a look-alike of our own origin are foreign too
        for o in ["null", &format!("http://{addr}.evil.example")] {
            let r = req(addr, "POST", "/whep", Some(o), &[]).await;
            assert_eq!(r.status, 403, "{o}");
        }
        // GET of the page: served, but without CORS headers the foreign page cannot read it
        let r = req(addr, "GET", "/", Some(EVIL), &[]).await;
        assert_eq!(r.status, 200);
        assert!(no_cors(&r));
        // our own page (same origin) and non-browser clients (no Origin) work, with no CORS headers
        let own = format!("http://{addr}");
        let r = req(addr, "POST", "/whep", Some(&own), &[]).await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        assert!(no_cors(&r));
        let r = req(addr, "POST", "/whep", None, &[]).await;
        assert_eq!(r.status, 201);
        assert!(no_cors(&r));
        let r = req(addr, "OPTIONS", "/whip", None, &[]).await;
        assert_eq!(r.status, 204);
        assert!(no_cors(&r));
        server.shutdown().await;
    });
}

#[test]
fn sec_whip_allowed_origin_gets_cors_private_network_only_when_allowed() {
    runtime().block_on(async {
        let mut cfg = ServerConfig::new(Ipv4Addr::LOCALHOST.into());
        cfg.allowed_origins = vec![APP.to_owned()];
        let (server, addr) = start(cfg).await;
        let r = req(addr, "OPTIONS", "/whip", Some(APP), PREFLIGHT).await;
        assert_eq!(r.status, 204);
        assert_eq!(r.header("access-control-allow-origin"), Some(APP));
        assert!(r.header("vary").is_some_and(|v| v.contains("Origin")));
        assert!(r
            .header("access-control-allow-methods")
            .is_some_and(|m| m.contains("POST") && m.contains("DELETE")));
        assert!(r
            .header("access-control-allow-headers")
            .is_some_and(|h| h.contains("Authorization") && h.contains("Content-Type")));
        assert_eq!(
            r.header("access-control-allow-private-network"),
            None,
            "not allowed by default"
        );
        let r = req(addr, "POST", "/whep", Some(APP), &[]).await;
        assert_eq!(r.status, 201);
        assert_eq!(r.header("access-control-allow-origin"), Some(APP));
        assert_eq!(r.header("access-control-expose-headers"), Some("Location"));
        // still refused: any other origin
        let r = req(addr, "POST", "/whep", Some(EVIL), &[]).await;
        assert_eq!(r.status, 403);
        assert!(no_cors(&r));
        server.shutdown().await;

        let mut cfg = ServerConfig::new(Ipv4Addr::LOCALHOST.into());
        cfg.allowed_origins = vec![APP.to_owned()];
        cfg.allow_private_network = true;
        let (server, addr) = start(cfg).await;
        let r = req(addr, "OPTIONS", "/whip", Some(APP), PREFLIGHT).await;
        assert_eq!(r.status, 204);
        assert_eq!(
            r.header("access-control-allow-private-network"),
            Some("true")
        );
        let r = req(addr, "OPTIONS", "/whip", Some(EVIL), PREFLIGHT).await;
        assert_eq!(r.status, 403);
        assert!(no_cors(&r));
        server.shutdown().await;

        // `*`: every origin, echoed
        let mut cfg = ServerConfig::new(Ipv4Addr::LOCALHOST.into());
        cfg.allowed_origins = vec!["*".to_owned()];
        let (server, addr) = start(cfg).await;
        let r = req(addr, "POST", "/whep", Some(EVIL), &[]).await;
        assert_eq!(r.status, 201);
        assert_eq!(r.header("access-control-allow-origin"), Some(EVIL));
        server.shutdown().await;
    });
}

/// A raw HTTP/1.1 request with our own `Host` line (or none): (status, lowercased head, body).
async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: Option<&str>,
    origin: Option<&str>,
    extra: &[(&str, &str)],
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = if method == "POST" {
        whep_offer()
    } else {
        String::new()
    };
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if let Some(h) = host {
        head.push_str(&format!("Host: {h}\r\n"));
    }
    if let Some(o) = origin {
        head.push_str(&format!("Origin: {o}\r\n"));
    }
    for (n, v) in extra {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if method == "POST" {
        head.push_str("Content-Type: application/sdp\r\n");
    }
    head.push_str(&format!(
        "Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (h, b) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = h
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status: {text}"));
    (status, h.to_ascii_lowercase(), b.to_owned())
}

/// DNS rebinding (issue 12 item 12 follow-up): attacker.example re-pointed to 127.0.0.1 makes its page
/// "same-origin" with us; its `Host` gives it away, so POST /whip, GET / and preflights are all refused
/// (403, no CORS header, no session), token or not.
#[test]
fn sec_whip_dns_rebinding_foreign_host_refused() {
    runtime().block_on(async {
        for token in [None, Some("tok")] {
            let mut cfg = ServerConfig::new(Ipv4Addr::LOCALHOST.into());
            cfg.token = token.map(str::to_owned);
            let (server, addr) = start(cfg).await;
            let host = format!("attacker.example:{}", addr.port());
            let origin = format!("http://{host}");
            let auth = [("Authorization", "Bearer tok")];
            let extra: &[(&str, &str)] = if token.is_some() { &auth } else { &[] };
            for (m, path) in [
                ("POST", "/whip"),
                ("POST", "/whep"),
                ("GET", "/"),
                ("OPTIONS", "/whip"),
                ("DELETE", "/whip/abc"),
            ] {
                let (status, head, _) = raw(addr, m, path, Some(&host), Some(&origin), extra).await;
                assert_eq!(status, 403, "{m} {path} {head}");
                assert!(!head.contains("access-control-"), "{head}");
                // without an Origin too (the page's GET / of itself carries none)
                let (status, _, _) = raw(addr, m, path, Some(&host), None, extra).await;
                assert_eq!(status, 403, "{m} {path} no Origin");
            }
            let (status, head, _) = raw(
                addr,
                "OPTIONS",
                "/whep",
                Some(&host),
                Some(&origin),
                PREFLIGHT,
            )
            .await;
            assert_eq!(status, 403);
            assert!(!head.contains("access-control-"), "{head}");
            // HTTP/1.1 without Host at all
            let (status, _, _) = raw(addr, "POST", "/whip", None, None, extra).await;
            assert!(status == 403 || status == 400, "{status}");
            assert!(server.sessions().is_empty(), "no session started");
            server.shutdown().await;
        }
    });
}

/// IP literals and localhost name the server directly: served as before (same-origin page included).
#[test]
fn sec_whip_dns_rebinding_ip_literal_and_localhost_hosts_accepted() {
    runtime().block_on(async {
        let (server, addr) = start(ServerConfig::new(Ipv4Addr::LOCALHOST.into())).await;
        let port = addr.port();
        for host in [
            format!("127.0.0.1:{port}"),
            "127.0.0.1".to_owned(),
            format!("[::1]:{port}"),
            format!("localhost:{port}"),
            format!("LOCALHOST:{port}"),
            format!("app.localhost:{port}"),
        ] {
            let origin = format!("http://{host}");
            let (status, _, body) = raw(addr, "GET", "/", Some(&host), Some(&origin), &[]).await;
            assert_eq!(status, 200, "{host}");
            assert!(!body.is_empty());
            let (status, _, _) = raw(addr, "OPTIONS", "/whip", Some(&host), None, &[]).await;
            assert_eq!(status, 204, "{host}");
            let (status, head, body) =
                raw(addr, "POST", "/whep", Some(&host), Some(&origin), &[]).await;
            assert_eq!(status, 201, "{host}: {body}");
            assert!(!head.contains("access-control-"), "{head}");
        }
        assert_eq!(server.sessions().len(), 6);
        server.shutdown().await;
    });
}

/// `allowed_hosts` (CLI `--allow-host`) widens the set of names; `*` lifts the check.
#[test]
fn sec_whip_dns_rebinding_allowed_hosts_widen() {
    runtime().block_on(async {
        let mut cfg = ServerConfig::new(Ipv4Addr::LOCALHOST.into());
        cfg.allowed_hosts = vec!["media.example".to_owned()];
        let (server, addr) = start(cfg).await;
        let port = addr.port();
        let ok = format!("Media.Example:{port}");
        let (status, _, body) = raw(
            addr,
            "POST",
            "/whip",
            Some(&ok),
            Some(&format!("http://{ok}")),
            &[],
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let bad = format!("attacker.example:{port}");
        let (status, _, _) = raw(addr, "GET", "/", Some(&bad), None, &[]).await;
        assert_eq!(status, 403);
        server.shutdown().await;

        let mut cfg = ServerConfig::new(Ipv4Addr::LOCALHOST.into());
        cfg.allowed_hosts = vec!["*".to_owned()];
        let (server, addr) = start(cfg).await;
        let (status, _, _) = raw(addr, "GET", "/", Some(&bad), None, &[]).await;
        assert_eq!(status, 200);
        server.shutdown().await;
    });
}
