//! The browser side: the chat client at `/`, the operator console at `/admin/`, and their
//! static assets under `/assets/`, all compiled into the binary from `host/web/`.
//!
//! There is no build step: the files are plain HTML, CSS and ES modules, so what is in the
//! repository is what the browser runs. Every page goes out with a strict content security
//! policy (scripts, styles and connections from this origin only, no inline code), so a
//! message that slipped past the client's escaping still could not run a script.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// One file served to browsers.
struct Asset {
    /// The name under `/assets/`.
    name: &'static str,
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Its bytes, from `host/web/`.
    body: &'static [u8],
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../../web/index.html"),
};

const CONSOLE: Asset = Asset {
    name: "admin.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../../web/admin.html"),
};

/// What `/assets/{file}` serves; nothing else is reachable.
const ASSETS: &[Asset] = &[
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/style.css"),
    },
    Asset {
        name: "api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/api.js"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/app.js"),
    },
    Asset {
        name: "admin.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../web/admin.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../web/favicon.svg"),
    },
];

/// The policy when the request names no usable host: `'self'` alone, which current
/// browsers also apply to `ws:`/`wss:` of the same host.
const BASE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                           img-src 'self' blob: data:; connect-src 'self'; \
                           base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /`: the chat client.
pub(super) async fn client(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

/// `GET /admin/` and `GET /admin`: the operator console. The page holds no secret; the
/// API behind it asks for the admin token.
pub(super) async fn console(headers: HeaderMap) -> Response {
    serve(&CONSOLE, &headers)
}

/// `GET /assets/{file}`: a script, style sheet or icon; anything else is a 404 envelope.
pub(super) async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Result<Response> {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == file)
        .ok_or(Error::NotFound("no such asset"))?;
    Ok(serve(asset, &headers))
}

fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let etag = etag(asset.body);
    let not_modified = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // The names carry no version, so browsers revalidate each time; the ETag keeps that
    // to a 304 when the binary has not changed.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    let policy = HeaderValue::from_str(&policy(request))
        .unwrap_or_else(|_| HeaderValue::from_static(BASE_POLICY));
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A strong validator for a file that only changes with the binary.
fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..12]))
}

/// The content security policy, naming this host's `ws:` and `wss:` origins explicitly
/// for browsers that do not extend `'self'` to WebSockets.
fn policy(request: &HeaderMap) -> String {
    let host = request
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| plain_host(h));
    match host {
        Some(host) => BASE_POLICY.replace(
            "connect-src 'self'",
            &format!("connect-src 'self' ws://{host} wss://{host}"),
        ),
        None => BASE_POLICY.to_owned(),
    }
}

/// Whether a `Host` header is a bare host and port, safe to put into the policy as is.
fn plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_only_a_plain_host() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        let with_host = policy(&headers);
        assert!(with_host.contains("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"));
        assert!(with_host.contains("script-src 'self';"));

        headers.insert(
            header::HOST,
            HeaderValue::from_static("evil.example; script-src *"),
        );
        assert_eq!(policy(&headers), BASE_POLICY);
        assert_eq!(policy(&HeaderMap::new()), BASE_POLICY);
    }

    #[test]
    fn asset_names_are_unique() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(
                ASSETS[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
            assert!(!a.body.is_empty(), "{}", a.name);
        }
    }
}
