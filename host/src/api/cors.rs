//! Cross-origin access: which browser pages, served from other origins, may call the API
//! (`[server] cors_origins`), answered by tower-http's `CorsLayer`; and the same list
//! applied to WebSocket upgrades, which browsers do not subject to CORS.
//!
//! With no origin configured there are no CORS headers at all: a browser then lets only
//! pages of the server's own origin read its answers (the built-in client is one), while
//! tools that are not browsers are unaffected either way.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error::Error;

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The request id header, which pages may send and read.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The origins allowed to call the API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Origins {
    /// None: no CORS headers, sockets unchecked.
    #[default]
    None,
    /// `["*"]`: every origin.
    Any,
    /// These origins, as browsers write them (lower case, no default port).
    List(Arc<[HeaderValue]>),
}

/// Reads `[server] cors_origins`, or says which entry is not an origin.
pub fn parse_origins(list: &[String]) -> anyhow::Result<Origins> {
    if list.is_empty() {
        return Ok(Origins::None);
    }
    if list.iter().any(|o| o == "*") {
        if list.len() > 1 {
            anyhow::bail!("server.cors_origins: \"*\" allows every origin and must be alone");
        }
        return Ok(Origins::Any);
    }
    let origins = list
        .iter()
        .map(|origin| {
            let value = normalize(origin).map_err(|why| {
                anyhow::anyhow!(
                    "server.cors_origins: {origin:?} is not an origin: {why} \
                     (write scheme://host[:port], such as \"https://chat.example.com\")"
                )
            })?;
            HeaderValue::from_str(&value)
                .map_err(|_| anyhow::anyhow!("server.cors_origins: {origin:?} is not an origin"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Origins::List(origins.into()))
}

/// `origin` as a browser sends it in `Origin`, or why it cannot be one.
fn normalize(origin: &str) -> Result<String, &'static str> {
    if origin == "null" {
        return Err("\"null\" is what sandboxed pages and files send, so any page could claim it");
    }
    let (scheme, rest) = origin
        .split_once("://")
        .ok_or("it has no scheme such as https://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return Err("the scheme must be http or https"),
    };
    if rest.is_empty() {
        return Err("it has no host");
    }
    if rest.contains(['/', '?', '#']) {
        return Err("an origin has no path, query or fragment, not even a trailing /");
    }
    if rest.contains('@') {
        return Err("an origin has no user name or password");
    }
    let authority: axum::http::uri::Authority =
        rest.parse().map_err(|_| "the host or port is malformed")?;
    if authority.host().is_empty() {
        return Err("it has no host");
    }
    let port = &authority.as_str()[authority.host().len()..];
    if let Some(port) = port.strip_prefix(':') {
        if port.parse::<u16>().is_err() {
            return Err("the port is not a number from 0 to 65535");
        }
    }
    let authority = authority.as_str().to_ascii_lowercase();
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Ok(format!("{scheme}://{authority}"))
}

/// The layer answering preflights and adding CORS headers, or `None` when no origin is
/// allowed (then no header is added).
pub fn layer(origins: &Origins) -> Option<CorsLayer> {
    let allow = match origins {
        Origins::None => return None,
        Origins::Any => AllowOrigin::any(),
        Origins::List(list) => AllowOrigin::list(list.iter().cloned()),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, X_REQUEST_ID])
            .expose_headers([X_REQUEST_ID, header::RETRY_AFTER, header::WWW_AUTHENTICATE])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}

/// Middleware: with a list of origins, a browser's WebSocket upgrade from a page of
/// another origin (neither listed nor the server's own) is refused with 403 before the
/// token is looked at. Clients that send no `Origin` (not browsers) pass.
pub async fn guard_socket_origin(
    State(origins): State<Origins>,
    request: Request,
    next: Next,
) -> Response {
    if is_upgrade(request.headers()) && !socket_allowed(&origins, request.headers()) {
        // 403 rather than the envelope's usual 200: a refused upgrade is an HTTP answer.
        let mut response =
            Error::Forbidden("this page's origin may not open WebSockets on this server")
                .into_response();
        *response.status_mut() = StatusCode::FORBIDDEN;
        return response;
    }
    next.run(request).await
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Whether a socket with these request headers may open.
fn socket_allowed(origins: &Origins, headers: &HeaderMap) -> bool {
    let list = match origins {
        Origins::None | Origins::Any => return true,
        Origins::List(list) => list,
    };
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    if list.iter().any(|allowed| allowed == origin) {
        return true;
    }
    // The server's own pages: the origin's host is the one the request was sent to.
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let own = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, authority)| authority);
    matches!((own, host), (Some(own), Some(host)) if own.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(origins: &[&str]) -> anyhow::Result<Origins> {
        parse_origins(&origins.iter().map(|o| (*o).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn origins_are_checked_and_written_as_browsers_send_them() {
        assert_eq!(list(&[]).expect("empty"), Origins::None);
        assert_eq!(list(&["*"]).expect("any"), Origins::Any);
        let Origins::List(parsed) = list(&[
            "HTTPS://Chat.Example.com:443",
            "http://[::1]:8080",
            "http://a.test",
        ])
        .expect("valid") else {
            panic!("a list")
        };
        let parsed: Vec<&str> = parsed.iter().map(|v| v.to_str().expect("ascii")).collect();
        assert_eq!(
            parsed,
            [
                "https://chat.example.com",
                "http://[::1]:8080",
                "http://a.test"
            ]
        );
        for bad in [
            "chat.example.com",
            "ftp://a.test",
            "https://a.test/",
            "https://a.test/app",
            "https://u:p@a.test",
            "https://",
            "https://a.test:port",
            "null",
            "https://a test",
        ] {
            let error = list(&[bad]).expect_err(bad).to_string();
            assert!(error.contains("server.cors_origins"), "{bad}: {error}");
            assert!(error.contains(bad), "{bad}: {error}");
        }
        assert!(list(&["*", "https://a.test"]).is_err());
    }

    #[test]
    fn sockets_from_other_origins_are_refused_when_a_list_is_set() {
        let origins = list(&["https://app.test"]).expect("valid");
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_static(value));
            }
            map
        };
        let allowed = |h: &HeaderMap| socket_allowed(&origins, h);
        assert!(allowed(&headers(&[])));
        assert!(allowed(&headers(&[("origin", "https://app.test")])));
        assert!(allowed(&headers(&[
            ("origin", "http://chat.test:8080"),
            ("host", "chat.test:8080")
        ])));
        assert!(!allowed(&headers(&[
            ("origin", "https://evil.test"),
            ("host", "chat.test")
        ])));
        assert!(socket_allowed(
            &Origins::None,
            &headers(&[("origin", "https://evil.test")])
        ));
    }
}
