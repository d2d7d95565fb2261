//! Cross-origin access: none by default; with `[server] cors_origins`, preflights and
//! simple requests of listed origins get CORS headers, other origins none, and browsers'
//! WebSockets from other origins are refused.

use confab_e2e::ws::FRAME_TIMEOUT;
use confab_e2e::{spawn_app, spawn_with, Reply, TestApp};
use futures::StreamExt;
use reqwest::Method;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const APP: &str = "https://app.example";
const EVIL: &str = "https://evil.example";

/// A preflight for `POST /user/login` with an `Authorization` header, from `origin`.
async fn preflight(app: &TestApp, origin: &str) -> Reply {
    app.send(
        app.request(Method::OPTIONS, "/user/login", None)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type",
            ),
    )
    .await
}

/// `GET path` from a page of `origin`.
async fn from_page(app: &TestApp, path: &str, origin: &str) -> Reply {
    app.send(
        app.request(Method::GET, path, None)
            .header("Origin", origin),
    )
    .await
}

fn header<'r>(reply: &'r Reply, name: &str) -> Option<&'r str> {
    reply.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Opens `/chat/ws` with `token` and, when given, an `Origin`: the welcome frame's code,
/// or the HTTP status and body of a refusal.
async fn socket(app: &TestApp, token: &str, origin: Option<&str>) -> Result<i64, (u16, Value)> {
    let url = format!(
        "{}/chat/ws?token={token}",
        app.base.replacen("http", "ws", 1)
    );
    let mut request = url.into_client_request().expect("ws url");
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().expect("header"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut stream, _)) => {
            let first = tokio::time::timeout(FRAME_TIMEOUT, stream.next())
                .await
                .expect("a welcome in time")
                .expect("a frame")
                .expect("a readable frame");
            let welcome: Value =
                serde_json::from_str(first.to_text().expect("text")).expect("JSON");
            Ok(welcome["code"].as_i64().unwrap_or(-1))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Err((response.status().as_u16(), body))
        }
        Err(other) => panic!("connecting failed: {other}"),
    }
}

#[tokio::test]
async fn without_configured_origins_no_cors_header_is_sent() {
    let app = spawn_app().await;
    let user = app.user("plain").await;
    let answers = [
        preflight(&app, APP).await,
        from_page(&app, "/user/ping", APP).await,
    ];
    for reply in &answers {
        let cors: Vec<_> = reply
            .headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{cors:?}");
    }
    // Sockets are not checked either: tokens travel in the URL, never in cookies.
    assert_eq!(socket(&app, &user.access, Some(EVIL)).await, Ok(50002));
}

#[tokio::test]
async fn listed_origins_get_cors_headers_and_other_origins_do_not() {
    let app = spawn_with(|c| c.server.cors_origins = vec![APP.to_owned()]).await;
    let user = app.user("cors").await;

    let allowed = preflight(&app, APP).await;
    assert!(
        (200..300).contains(&allowed.http),
        "preflight answered: {}",
        allowed.http
    );
    assert_eq!(header(&allowed, "access-control-allow-origin"), Some(APP));
    let methods = header(&allowed, "access-control-allow-methods").unwrap_or_default();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let headers = header(&allowed, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type"));
    assert_eq!(header(&allowed, "access-control-max-age"), Some("600"));
    assert!(header(&allowed, "vary")
        .unwrap_or_default()
        .contains("origin"));

    let refused = preflight(&app, EVIL).await;
    assert_eq!(header(&refused, "access-control-allow-origin"), None);

    // Simple requests, a success and a failure: a listed page can read both answers and
    // the request id.
    for (path, http) in [("/user/ping", 200), ("/user/me", 401)] {
        let reply = from_page(&app, path, APP).await;
        assert_eq!(reply.http, http);
        assert_eq!(header(&reply, "access-control-allow-origin"), Some(APP));
        let exposed = header(&reply, "access-control-expose-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(exposed.contains("x-request-id"), "{exposed}");
        let other = from_page(&app, path, EVIL).await;
        assert_eq!(
            other.http, http,
            "the server answers; the browser withholds it"
        );
        assert_eq!(header(&other, "access-control-allow-origin"), None);
    }

    // Sockets: a listed origin, the server's own pages and non-browsers open; others not.
    assert_eq!(socket(&app, &user.access, Some(APP)).await, Ok(50002));
    assert_eq!(socket(&app, &user.access, None).await, Ok(50002));
    assert_eq!(socket(&app, &user.access, Some(&app.base)).await, Ok(50002));
    let (status, body) = socket(&app, &user.access, Some(EVIL))
        .await
        .expect_err("refused");
    assert_eq!((status, body["status"].as_i64()), (403, Some(30012)));
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("origin"),
        "{body}"
    );
}

#[tokio::test]
async fn a_wildcard_allows_every_origin_and_bad_origins_are_refused_at_start() {
    let app = spawn_with(|c| c.server.cors_origins = vec!["*".to_owned()]).await;
    let reply = from_page(&app, "/user/ping", EVIL).await;
    assert_eq!(header(&reply, "access-control-allow-origin"), Some("*"));
    assert_eq!(
        header(&preflight(&app, EVIL).await, "access-control-allow-origin"),
        Some("*")
    );

    for (bad, why) in [
        ("https://app.example/", "no path"),
        ("app.example", "no scheme"),
        ("null", "sandboxed"),
    ] {
        let toml = format!("[server]\ncors_origins = [{bad:?}]\n");
        let error = confab::Config::from_toml(&toml).expect_err(bad).to_string();
        assert!(error.contains("server.cors_origins"), "{error}");
        assert!(error.contains(bad) && error.contains(why), "{error}");
    }
}
