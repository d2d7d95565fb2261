//! The browser client and the operator console as the server ships them: each page and
//! asset with its content type, cache and security headers; unknown assets in the envelope.

use confab_e2e::{spawn_app, Reply, TestApp};
use reqwest::Method;

/// Every file the server serves to browsers, with its content type.
const FILES: &[(&str, &str)] = &[
    ("/", "text/html; charset=utf-8"),
    ("/admin/", "text/html; charset=utf-8"),
    ("/admin", "text/html; charset=utf-8"),
    ("/assets/style.css", "text/css; charset=utf-8"),
    ("/assets/api.js", "text/javascript; charset=utf-8"),
    ("/assets/app.js", "text/javascript; charset=utf-8"),
    ("/assets/admin.js", "text/javascript; charset=utf-8"),
    ("/assets/favicon.svg", "image/svg+xml"),
];

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn fetch(app: &TestApp, path: &str) -> Reply {
    app.send(app.request(Method::GET, path, None)).await
}

#[tokio::test]
async fn pages_and_assets_are_served_with_their_type_and_a_strict_policy() {
    let app = spawn_app().await;
    let host = app.base.trim_start_matches("http://").to_owned();
    for (path, content_type) in FILES {
        let reply = fetch(&app, path).await;
        assert_eq!(reply.http, 200, "{path}");
        assert_eq!(header(&reply, "content-type"), *content_type, "{path}");
        assert!(!reply.bytes.is_empty(), "{path} has a body");
        assert_eq!(
            header(&reply, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert_eq!(header(&reply, "cache-control"), "no-cache", "{path}");
        let policy = header(&reply, "content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob: data:",
            "frame-ancestors 'none'",
        ] {
            assert!(
                policy.contains(directive),
                "{path}: {directive} in {policy}"
            );
        }
        assert!(
            policy.contains(&format!("connect-src 'self' ws://{host} wss://{host}")),
            "{path}: {policy}"
        );
        assert!(!policy.contains("unsafe"), "{path}: {policy}");

        // The ETag turns a revalidation into a 304 without a body.
        let etag = header(&reply, "etag").to_owned();
        assert!(etag.starts_with('"'), "{path}: {etag:?}");
        let again = app
            .send(
                app.request(Method::GET, path, None)
                    .header("If-None-Match", &etag),
            )
            .await;
        assert_eq!(again.http, 304, "{path}");
        assert!(again.bytes.is_empty(), "{path}");
    }

    // The pages load their code from /assets/ only: nothing inline that the policy would block.
    for page in ["/", "/admin/"] {
        let html = String::from_utf8(fetch(&app, page).await.bytes).expect("utf-8 page");
        assert!(html.contains("src=\"/assets/"), "{page}");
        assert!(!html.contains("<script>"), "{page} has no inline script");
        assert!(!html.contains("style="), "{page} has no inline style");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{page} loads nothing from elsewhere"
        );
    }
}

#[tokio::test]
async fn unknown_assets_are_a_404_envelope() {
    let app = spawn_app().await;
    for path in [
        "/assets/nope.js",
        "/assets/..%2FCargo.toml",
        "/assets/index.html",
        "/assets/",
        "/admin/nothing-here",
    ] {
        fetch(&app, path).await.expect(404, 30021);
    }
}

#[tokio::test]
async fn the_operator_api_still_needs_the_token_beside_the_console() {
    let app = spawn_app().await;
    assert_eq!(fetch(&app, "/admin/").await.http, 200);
    fetch(&app, "/admin/plugins").await.expect(401, 30001);
}
