//! Who may call the endpoint from a web page (issue 12 item 12): same-origin by default. The `Host` check of
//! [`crate::host`] runs first: "same origin" means nothing when the page's name was rebound to our address.
//!
//! A browser sends `Origin` on cross-origin requests (and on same-origin POST/DELETE). The rules:
//! - no `Origin` (curl, the CLI's client, any non-browser): served as before (the bearer token is what guards
//!   a server from those);
//! - `Origin` equal to the server's own origin (`http://` or `https://` plus the `Host` header: the publisher
//!   page at `/`): served, no CORS headers needed;
//! - an origin listed in [`ServerConfig::allowed_origins`] (or any origin when the list holds `*`): served
//!   with `Access-Control-Allow-Origin` echoing it (`Vary: Origin`), the allowed methods and headers, and
//!   `Location` exposed; `Access-Control-Allow-Private-Network: true` only when
//!   [`ServerConfig::allow_private_network`] is set and the preflight asked for it;
//! - any other origin: `GET`/`HEAD` are served without any CORS header (the browser keeps the page from
//!   reading them); every other method, preflights included, gets 403 before any handler runs, so a foreign
//!   page can neither start a WHEP session (pull `--play` audio) nor a WHIP one (fill `--record-dir`).

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{Server, ServerConfig};

/// What a request's `Origin` is to us.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Access {
    /// No `Origin`, or our own.
    Same,
    /// A configured cross origin: the value for `Access-Control-Allow-Origin`.
    Allowed(HeaderValue),
    /// Anyone else.
    Foreign,
}

fn access(config: &ServerConfig, headers: &HeaderMap) -> Access {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Access::Same;
    };
    let Ok(o) = origin.to_str() else {
        return Access::Foreign;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if let Some(host) = host {
        let same = ["http://", "https://"].iter().any(|scheme| {
            o.len() == scheme.len() + host.len()
                && o[..scheme.len()].eq_ignore_ascii_case(scheme)
                && o[scheme.len()..].eq_ignore_ascii_case(host)
        });
        if same {
            return Access::Same;
        }
    }
    // `*` is any real origin; the opaque `null` (sandboxed frames, file: pages) only when listed as such.
    let listed = config
        .allowed_origins
        .iter()
        .any(|a| (a == "*" && o != "null") || a.trim_end_matches('/').eq_ignore_ascii_case(o));
    if listed {
        Access::Allowed(origin.clone())
    } else {
        Access::Foreign
    }
}

/// The middleware: refuses foreign origins, adds CORS headers for allowed ones.
/// Before that, the DNS rebinding guard ([`crate::host`]): a `Host` that does not name the server → 403.
pub(crate) async fn guard(State(server): State<Server>, req: Request, next: Next) -> Response {
    let config = &server.inner.config;
    if !crate::host::request_allowed(config, &req) {
        tracing::info!(method = %req.method(), host = ?req.headers().get(header::HOST), "request for a foreign host refused");
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "host not allowed (dtlsrtp serve --allow-host)\n",
        )
            .into_response();
    }
    let wants_pna = req
        .headers()
        .get("access-control-request-private-network")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    match access(config, req.headers()) {
        Access::Same => next.run(req).await,
        Access::Foreign if matches!(*req.method(), Method::GET | Method::HEAD) => {
            next.run(req).await
        }
        Access::Foreign => {
            tracing::info!(method = %req.method(), origin = ?req.headers().get(header::ORIGIN), "cross-origin request refused");
            (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "origin not allowed (dtlsrtp serve --allow-origin)\n",
            )
                .into_response()
        }
        Access::Allowed(origin) => {
            let mut resp = next.run(req).await;
            let h = resp.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.append(header::VARY, HeaderValue::from_static("Origin"));
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("POST, DELETE, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Authorization, Content-Type"),
            );
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("Location"),
            );
            // Private Network Access preflights (a page on a public origin calling a local server): only when
            // the operator said so.
            if config.allow_private_network && wants_pna {
                h.insert(
                    header::HeaderName::from_static("access-control-allow-private-network"),
                    HeaderValue::from_static("true"),
                );
            }
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::net::Ipv4Addr;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn sec_whip_origin_classification() {
        let mut c = ServerConfig::new(Ipv4Addr::LOCALHOST.into());
        let host = "127.0.0.1:8080";
        assert_eq!(access(&c, &headers(None, host)), Access::Same);
        assert_eq!(
            access(&c, &headers(Some("http://127.0.0.1:8080"), host)),
            Access::Same
        );
        for foreign in [
            "http://127.0.0.1:8081",
            "http://evil.example",
            "null",
            "http://127.0.0.1:8080.evil.example",
        ] {
            assert_eq!(
                access(&c, &headers(Some(foreign), host)),
                Access::Foreign,
                "{foreign}"
            );
        }
        c.allowed_origins = vec!["https://app.example/".into()];
        assert_eq!(
            access(&c, &headers(Some("https://app.example"), host)),
            Access::Allowed(HeaderValue::from_static("https://app.example"))
        );
        assert_eq!(
            access(&c, &headers(Some("https://other.example"), host)),
            Access::Foreign
        );
        c.allowed_origins = vec!["*".into()];
        assert!(matches!(
            access(&c, &headers(Some("https://other.example"), host)),
            Access::Allowed(_)
        ));
        assert_eq!(
            access(&c, &headers(Some("null"), host)),
            Access::Foreign,
            "an opaque origin only when listed as null"
        );
    }
}
