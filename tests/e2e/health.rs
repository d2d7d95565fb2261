//! The probes `/healthz` and `/readyz`: open without a token, telling nothing but which
//! check failed, and failing when a configured Redis or MongoDB stops answering.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use confab_e2e::{spawn_app, spawn_with, suffix, Reply, TestApp};
use reqwest::Method;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// How long a probe may take to change its answer after a service goes away or returns.
const SETTLE: Duration = Duration::from_secs(20);

async fn probe(app: &TestApp, path: &str) -> Reply {
    app.send(app.request(Method::GET, path, None)).await
}

/// Polls `/readyz` until its status is `http`, failing after [`SETTLE`].
async fn readyz_until(app: &TestApp, http: u16) -> Reply {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let reply = probe(app, "/readyz").await;
        if reply.http == http {
            return reply;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz stayed {} {}",
            reply.http,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn probes_answer_without_a_token_and_reveal_nothing() {
    let app = spawn_app().await;
    let live = probe(&app, "/healthz").await;
    assert_eq!(live.http, 200);
    assert_eq!(live.body, json!({ "live": true }));
    let ready = probe(&app, "/readyz").await;
    assert_eq!(ready.http, 200);
    assert_eq!(ready.body, json!({ "ready": true }));
    // Not operator routes: a wrong token changes nothing, and no version is told.
    let with_token = app
        .send(app.request(Method::GET, "/readyz", Some("Bearer nonsense")))
        .await;
    assert_eq!(with_token.body, json!({ "ready": true }));
    for reply in [&live, &ready] {
        assert!(!reply.headers.contains_key("server"));
        assert!(reply.bytes.len() < 40, "tiny: {}", reply.body);
    }
}

/// A TCP relay to `target` that can be cut (open connections dropped, new ones closed at
/// once) and restored, to take a service away from a running server.
struct Relay {
    port: u16,
    open: Arc<AtomicBool>,
    links: Arc<std::sync::Mutex<JoinSet<()>>>,
    _accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let open = Arc::new(AtomicBool::new(true));
        let links = Arc::new(std::sync::Mutex::new(JoinSet::new()));
        let accept = tokio::spawn({
            let (open, links) = (open.clone(), links.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        continue;
                    }
                    let target = target.clone();
                    links.lock().expect("links").spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                }
            }
        });
        Self {
            port,
            open,
            links,
            _accept: accept,
        }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.links.lock().expect("links").abort_all();
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// `host:port` of a `scheme://host:port[/...]` URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.rsplit('@').next().unwrap_or(authority).to_owned()
}

#[tokio::test]
async fn readyz_names_redis_while_it_is_unreachable_and_recovers() {
    let Ok(url) = std::env::var("CONFAB_TEST_REDIS_URL") else {
        eprintln!("SKIPPED: the Redis readiness test needs CONFAB_TEST_REDIS_URL");
        return;
    };
    let relay = Relay::start(host_port(&url)).await;
    let app = spawn_with(|c| {
        c.cluster.redis_url = format!("redis://127.0.0.1:{}", relay.port);
        c.cluster.namespace = format!("health-{}", suffix());
    })
    .await;
    readyz_until(&app, 200).await;

    relay.cut();
    let down = readyz_until(&app, 503).await;
    assert_eq!(down.body, json!({ "ready": false, "failed": ["redis"] }));
    let text = String::from_utf8_lossy(&down.bytes);
    assert!(
        !text.contains("127.0.0.1") && !text.contains("refused"),
        "{text}"
    );
    assert_eq!(
        probe(&app, "/healthz").await.http,
        200,
        "alive all the same"
    );

    relay.restore();
    readyz_until(&app, 200).await;
}

#[tokio::test]
async fn readyz_names_mongodb_while_it_is_unreachable() {
    let Ok(url) = std::env::var("CONFAB_TEST_MONGO_URL") else {
        eprintln!("SKIPPED: the MongoDB readiness test needs CONFAB_TEST_MONGO_URL");
        return;
    };
    let relay = Relay::start(host_port(&url)).await;
    let database = format!("confab_health_{}", suffix());
    let app = spawn_with(|c| {
        c.history.url = format!("mongodb://127.0.0.1:{}/?directConnection=true", relay.port);
        c.history.database = database.clone();
    })
    .await;
    readyz_until(&app, 200).await;
    relay.cut();
    let down = readyz_until(&app, 503).await;
    assert_eq!(down.body, json!({ "ready": false, "failed": ["mongodb"] }));
    relay.restore();
    drop(app);
    // The database of this test goes with it.
    if let Ok(store) = confab::store::MongoMessages::connect(&url, &database, 0).await {
        let _ = store.database().drop().await;
    }
}
