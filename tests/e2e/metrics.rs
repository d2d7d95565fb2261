//! `/metrics` beyond the plugins: requests by route template, sockets, messages, the
//! writer's commits and the bus, behind a token of its own.

use std::collections::HashMap;

use confab_e2e::ws::Ws;
use confab_e2e::{spawn_with, Reply, TestApp};
use reqwest::Method;
use serde_json::json;

const ADMIN: &str = "admin-token-of-the-metrics-tests";
const SCRAPER: &str = "metrics-token-of-the-metrics-tests";

/// Every sample of a scrape: `name{labels}` (as written) to its value.
fn samples(reply: &Reply) -> HashMap<String, f64> {
    String::from_utf8_lossy(&reply.bytes)
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("series and value");
            let value = value
                .parse()
                .unwrap_or_else(|_| panic!("not a sample: {line}"));
            (series.to_owned(), value)
        })
        .collect()
}

async fn scrape(app: &TestApp) -> (Reply, HashMap<String, f64>) {
    let bearer = format!("Bearer {SCRAPER}");
    let reply = app
        .send(app.request(Method::GET, "/metrics", Some(&bearer)))
        .await;
    assert_eq!(reply.http, 200, "{}", String::from_utf8_lossy(&reply.bytes));
    let parsed = samples(&reply);
    (reply, parsed)
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no sample {series} in {:?}", samples.keys()))
}

/// Sends `text` from `a` and waits for its answer frame.
async fn send(a: &mut Ws, text: &str) -> serde_json::Value {
    a.send(json!({"type": 1, "content": text})).await;
    a.recv().await
}

#[tokio::test]
async fn metrics_count_requests_sockets_messages_and_commits_behind_their_own_token() {
    let app = spawn_with(|c| {
        c.admin.token = ADMIN.to_owned();
        c.metrics.token = SCRAPER.to_owned();
        c.chat.max_message_chars = 20;
    })
    .await;

    // The token: none, a wrong one, the admin's (refused once a metrics token is set).
    app.send(app.request(Method::GET, "/metrics", None))
        .await
        .expect(401, 30001);
    let admin = app
        .send(app.request(Method::GET, "/metrics", Some(&format!("Bearer {ADMIN}"))))
        .await;
    admin.expect(401, 30002);
    assert!(admin.error().contains("[metrics] token"), "{}", admin.body);
    // And the metrics token opens nothing else.
    app.send(app.request(
        Method::GET,
        "/admin/plugins",
        Some(&format!("Bearer {SCRAPER}")),
    ))
    .await
    .expect(401, 30002);

    // Traffic: two users, a socket each, three messages and one refused, a request whose
    // path holds names, and one that matches no route.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut a = app
        .ws(&format!("/chat/ws?toUid={}", bob.id), Some(&alice.access))
        .await
        .expect("upgrade");
    assert_eq!(a.recv().await["code"], 50002);
    let mut b = app
        .ws(&format!("/chat/ws?toUid={}", alice.id), Some(&bob.access))
        .await
        .expect("upgrade");
    assert_eq!(b.recv().await["code"], 50002);
    let (_, before) = scrape(&app).await;
    for text in ["one", "two", "three"] {
        assert_eq!(send(&mut a, text).await["code"], 50004);
        assert_eq!(b.recv().await["content"], text);
    }
    let refused = send(&mut a, "far too long for this server's limit").await;
    assert_ne!(refused["code"], 50004, "{refused}");
    app.send(app.request(Method::GET, "/upload/avatar/secret-name-1.png", None))
        .await;
    app.send(app.request(Method::GET, "/no/such/route-secret-2", None))
        .await;

    let (reply, after) = scrape(&app).await;
    let content_type = reply.headers["content-type"].to_str().expect("text");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = String::from_utf8_lossy(&reply.bytes).into_owned();
    let moved = |series: &str| value(&after, series) - before.get(series).copied().unwrap_or(0.0);

    // Requests, by route template and never by raw path.
    assert!(
        value(
            &after,
            r#"confab_http_requests_total{route="/user/login",method="GET",status="200"}"#
        ) >= 2.0
    );
    assert!(
        value(
            &after,
            r#"confab_http_request_duration_seconds_count{route="/user/login",method="GET"}"#
        ) >= 2.0
    );
    // Buckets are cumulative: the last holds every request, the first no more than that.
    let login = r#"route="/user/login",method="GET""#;
    let count = value(
        &after,
        &format!("confab_http_request_duration_seconds_count{{{login}}}"),
    );
    let bucket = |le: &str| {
        value(
            &after,
            &format!("confab_http_request_duration_seconds_bucket{{{login},le=\"{le}\"}}"),
        )
    };
    assert_eq!(bucket("+Inf"), count);
    assert!(bucket("0.0001") <= count && bucket("10") <= count);
    assert!(after.keys().any(|k| k.starts_with(r#"confab_http_requests_total{route="/upload/{bucket}/{name}""#)), "{text}");
    assert!(
        after.keys().any(|k| k.starts_with(
            r#"confab_http_requests_total{route="unmatched",method="GET",status="404"}"#
        )),
        "{text}"
    );
    assert!(
        !text.contains("secret-name") && !text.contains("secret-2"),
        "{text}"
    );
    assert_eq!(
        value(
            &after,
            r#"confab_http_requests_total{route="/metrics",method="GET",status="401"}"#
        ),
        2.0
    );

    // Sockets and messages.
    assert_eq!(value(&after, "confab_websockets"), 2.0);
    assert_eq!(moved("confab_messages_accepted_total"), 3.0);
    assert_eq!(
        moved(r#"confab_messages_refused_total{reason="other"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"confab_messages_refused_total{reason="plugin"}"#),
        0.0
    );
    assert_eq!(moved("confab_messages_delivered_total"), 3.0);

    // The writer: three messages stored, in one to three commits; the bus carried them.
    assert_eq!(moved("confab_store_commit_batch_messages_sum"), 3.0);
    let commits = moved("confab_store_commit_batch_messages_count");
    assert!((1.0..=3.0).contains(&commits), "{commits}");
    assert_eq!(moved("confab_store_commit_duration_seconds_count"), commits);
    assert_eq!(value(&after, "confab_store_commit_failures_total"), 0.0);
    assert!(moved("confab_bus_published_events_total") >= 3.0);

    // Prometheus' naming: counters end in _total, every histogram says its unit.
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut words = line.split(' ').skip(2);
        let (name, kind) = (words.next().expect("name"), words.next().expect("type"));
        assert!(name.starts_with("confab_"), "{line}");
        match kind {
            "counter" => assert!(name.ends_with("_total"), "{line}"),
            "histogram" => assert!(
                name.ends_with("_seconds") || name.ends_with("_messages"),
                "{line}"
            ),
            _ => {}
        }
    }
    // Every series the Grafana dashboard queries is one the server writes (the plugins'
    // are covered where plugins run).
    let dashboard = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/grafana-dashboard.json"),
    )
    .expect("docs/grafana-dashboard.json");
    let families: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.split(' ').next())
        .collect();
    for name in metric_names(&dashboard) {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name);
        if !name.starts_with("confab_plugin_") {
            assert!(
                families.contains(&name.as_str()) || families.contains(&base),
                "the dashboard queries {name}"
            );
        }
    }
    a.close().await;
    b.close().await;
}

/// The `confab_*` names in `text`.
fn metric_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .match_indices("confab_")
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn without_a_metrics_token_the_admin_token_still_opens_metrics() {
    let app = spawn_with(|c| c.admin.token = ADMIN.to_owned()).await;
    let reply = app
        .send(app.request(Method::GET, "/metrics", Some(&format!("Bearer {ADMIN}"))))
        .await;
    assert_eq!(reply.http, 200);
    let parsed = samples(&reply);
    assert_eq!(value(&parsed, "confab_websockets"), 0.0);
    app.send(app.request(Method::GET, "/metrics", Some("Bearer not-the-admin-token")))
        .await
        .expect(401, 30002);
}
