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

/// The paths of this file.
#[derive(utoipa::OpenApi)]
#[openapi(paths(client, console, console_slash, asset))]
pub(super) struct Api;

/// A file under `/assets/`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
enum AssetName {
    /// The style sheet.
    #[schema(rename = "style.css")]
    Style,
    /// The API client both pages use.
    #[schema(rename = "api.js")]
    Api,
    /// The chat client's script.
    #[schema(rename = "app.js")]
    App,
    /// The operator console's script.
    #[schema(rename = "admin.js")]
    Admin,
    /// The icon.
    #[schema(rename = "favicon.svg")]
    Favicon,
}

/// The `If-None-Match` header, as the document shows it.
#[derive(utoipa::IntoParams)]
#[into_params(names("If-None-Match"), parameter_in = Header)]
#[allow(dead_code)]
struct IfNoneMatch(
    /// The `ETag` of an earlier answer: 304 while it still holds.
    #[param(required = false)]
    String,
);

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
#[utoipa::path(
    get,
    path = "/",
    tag = "web",
    summary = "The browser chat client",
    params(IfNoneMatch),
    responses(
        (
            status = 200,
            description = "The page, with a strict content security policy",
            body = String,
            content_type = "text/html; charset=utf-8",
            headers(
                ("ETag" = String, description = "Changes only with the server's binary"),
                ("Cache-Control" = String, description = "`no-cache`: revalidate each time"),
                ("Content-Security-Policy" = String, description = "Scripts, styles and connections from this origin only, no inline code"),
            ),
        ),
        (status = 304, description = "Not modified: the ETag still holds"),
    ),
)]
pub(super) async fn client(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

/// `GET /admin/` and `GET /admin`: the operator console. The page holds no secret; the
/// API behind it asks for the admin token.
#[utoipa::path(
    get,
    path = "/admin",
    tag = "web",
    summary = "The operator console",
    description = "The page holds no secret; the API behind it asks for the admin token.",
    params(IfNoneMatch),
    responses(
        (
            status = 200,
            description = "The page, with a strict content security policy",
            body = String,
            content_type = "text/html; charset=utf-8",
            headers(
                ("ETag" = String, description = "Changes only with the server's binary"),
                ("Cache-Control" = String, description = "`no-cache`: revalidate each time"),
                ("Content-Security-Policy" = String, description = "Scripts, styles and connections from this origin only, no inline code"),
            ),
        ),
        (status = 304, description = "Not modified: the ETag still holds"),
    ),
)]
pub(super) async fn console(headers: HeaderMap) -> Response {
    serve(&CONSOLE, &headers)
}

/// `GET /admin/`, as the document shows it: the router serves it with [`console`].
#[utoipa::path(
    get,
    path = "/admin/",
    tag = "web",
    summary = "The operator console (as at /admin)",
    params(IfNoneMatch),
    responses(
        (
            status = 200,
            description = "The page, with a strict content security policy",
            body = String,
            content_type = "text/html; charset=utf-8",
            headers(
                ("ETag" = String, description = "Changes only with the server's binary"),
                ("Cache-Control" = String, description = "`no-cache`: revalidate each time"),
                ("Content-Security-Policy" = String, description = "Scripts, styles and connections from this origin only, no inline code"),
            ),
        ),
        (status = 304, description = "Not modified: the ETag still holds"),
    ),
)]
#[allow(dead_code)]
async fn console_slash() {}

/// `GET /assets/{file}`: a script, style sheet or icon; anything else is a 404 envelope.
#[utoipa::path(
    get,
    path = "/assets/{file}",
    tag = "web",
    summary = "A script, style sheet or icon of the web pages",
    params(
        ("file" = inline(AssetName), Path, description = "The file's name"),
        IfNoneMatch,
    ),
    responses(
        (
            status = 200,
            description = "The file; its type is the name's extension's",
            content(
                (String = "text/css; charset=utf-8"),
                (String = "text/javascript; charset=utf-8"),
                (String = "image/svg+xml"),
            ),
            headers(
                ("ETag" = String, description = "Changes only with the server's binary"),
                ("Cache-Control" = String, description = "`no-cache`: revalidate each time"),
            ),
        ),
        (status = 304, description = "Not modified: the ETag still holds"),
    ),
)]
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
    fn the_document_lists_every_asset_with_its_type() {
        let doc = serde_json::to_value(crate::api::openapi::document()).expect("json");
        let get = &doc["paths"]["/assets/{file}"]["get"];
        let names: Vec<&str> = get["parameters"][0]["schema"]["enum"]
            .as_array()
            .expect("the file names are an enum")
            .iter()
            .map(|name| name.as_str().expect("a name"))
            .collect();
        let served: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        assert_eq!(names, served);
        let types = get["responses"]["200"]["content"]
            .as_object()
            .expect("content by type");
        for asset in ASSETS {
            assert!(types.contains_key(asset.content_type), "{}", asset.name);
        }
        let page = &doc["paths"]["/"]["get"]["responses"]["200"]["content"];
        assert!(page.get(INDEX.content_type).is_some());
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
