//! The end-to-end harness: a real Confab server on a free port with its own data folder,
//! and a small HTTP client that speaks its envelope.

pub mod plugins;
pub mod smtp;
pub mod ws;

use std::path::PathBuf;
use std::time::Duration;

use confab::{App, Config};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Every request of the harness gives up after this long, so no test can hang.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server and a client for it. The server stops when this is dropped.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// The server's data folder.
    pub data_dir: PathBuf,
    /// The configuration it runs with.
    pub config: Config,
    /// The server's stores, to inspect what was written.
    pub stores: confab::store::Stores,
    /// The server's services and sockets.
    pub state: confab::api::AppState,
    /// A plain HTTP client.
    pub client: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A response: HTTP status, headers and the parsed JSON body (`Null` if not JSON).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub http: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The JSON body.
    pub body: Value,
    /// The raw body.
    pub bytes: Vec<u8>,
}

impl Reply {
    /// The envelope's `status` (the wire code).
    pub fn code(&self) -> i64 {
        self.body["status"].as_i64().unwrap_or(-1)
    }

    /// The envelope's `data`.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// The envelope's `error`.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }

    /// Asserts the body is a complete envelope (all four keys, right types).
    pub fn assert_envelope(&self) -> &Self {
        let obj = self.body.as_object().unwrap_or_else(|| {
            panic!(
                "not a JSON object: {:?}",
                String::from_utf8_lossy(&self.bytes)
            )
        });
        assert_eq!(obj.len(), 4, "exactly four keys: {:?}", self.body);
        assert!(obj["status"].is_i64(), "{:?}", self.body);
        assert!(obj.contains_key("data"), "{:?}", self.body);
        assert!(obj["msg"].is_string(), "{:?}", self.body);
        assert!(obj["error"].is_string(), "{:?}", self.body);
        self
    }

    /// Asserts HTTP status and wire code, and that failures carry a reason.
    pub fn expect(&self, http: u16, code: i64) -> &Self {
        self.assert_envelope();
        assert_eq!(
            (self.http, self.code()),
            (http, code),
            "unexpected reply: {}",
            self.body
        );
        if code == 200 {
            assert_eq!(self.error(), "", "success has an empty error");
        } else {
            assert!(
                !self.error().is_empty(),
                "a failure explains itself: {}",
                self.body
            );
        }
        self
    }
}

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Password.
    pub password: String,
    /// aToken.
    pub access: String,
    /// rToken.
    pub refresh: String,
}

/// Starts a server with the test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// Starts a server with the test configuration changed by `adjust`.
pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp data dir");
    let mut config = Config::for_tests(dir.path());
    // Most tests register and sign in many users from one address within a second; the
    // tests of the throttles set the defaults or limits of their own in `adjust`.
    config.throttle = unthrottled();
    adjust(&mut config);
    let mut app = start(config).await;
    app._dir = Some(dir);
    app
}

/// Throttles far above anything a test sends, for the tests of other things.
pub fn unthrottled() -> confab::config::ThrottleConfig {
    use confab::config::{AddressThrottle, NamedThrottle, Rate, ThrottleConfig};
    let open = Rate {
        per_minute: 1_000_000,
        burst: 1_000_000,
    };
    let named = NamedThrottle {
        address: open,
        name: open,
    };
    ThrottleConfig {
        login: named,
        register: named,
        refresh: AddressThrottle { address: open },
        email_check: named,
        admin: AddressThrottle { address: open },
        ..ThrottleConfig::default()
    }
}

/// Starts a server with exactly this configuration (the caller owns the data folder).
pub async fn start(config: Config) -> TestApp {
    let app = App::build(config.clone()).await.expect("server builds");
    let base = format!("http://{}", app.local_addr());
    let stores = app.stores().clone();
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestApp {
        base,
        data_dir: config.server.data_dir.clone(),
        config,
        stores,
        state,
        client: reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("client"),
        _dir: None,
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

/// A short random suffix for unique names.
pub fn suffix() -> String {
    format!("{:06x}", rand_u32() & 0xFF_FFFF)
}

fn rand_u32() -> u32 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish() as u32
}

impl TestApp {
    /// Stops the server and waits until it has let go of its port and files.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, handle).await;
        }
    }

    /// Opens a WebSocket at `path_and_query` with an optional `Authorization` header.
    pub async fn ws(
        &self,
        path_and_query: &str,
        token: Option<&str>,
    ) -> Result<ws::Ws, (u16, Value)> {
        let url = format!(
            "{}{path_and_query}",
            self.base.replacen("http://", "ws://", 1)
        );
        ws::connect(&url, token).await
    }

    /// A full URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request builder with an optional `Authorization` header.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match token {
            Some(token) => builder.header("Authorization", token),
            None => builder,
        }
    }

    /// Sends a request and reads the reply.
    pub async fn send(&self, builder: RequestBuilder) -> Reply {
        let response = builder.send().await.expect("request reaches the server");
        let http = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body").to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            http,
            headers,
            body,
            bytes,
        }
    }

    /// GET with query parameters.
    pub async fn get(&self, path: &str, token: Option<&str>, query: &[(&str, &str)]) -> Reply {
        self.send(self.request(Method::GET, path, token).query(query))
            .await
    }

    /// A request with a JSON body.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Reply {
        self.send(self.request(method, path, token).json(&body))
            .await
    }

    /// A request with a urlencoded form body.
    pub async fn form(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        form: &[(&str, &str)],
    ) -> Reply {
        self.send(self.request(method, path, token).form(form))
            .await
    }

    /// Registers `name` with `password`; returns the reply.
    pub async fn register(&self, name: &str, password: &str) -> Reply {
        self.json(
            Method::POST,
            "/user/register",
            None,
            serde_json::json!({ "username": name, "password": password }),
        )
        .await
    }

    /// Logs in; returns the reply.
    pub async fn login(&self, name: &str, password: &str) -> Reply {
        self.get(
            "/user/login",
            None,
            &[("username", name), ("password", password)],
        )
        .await
    }

    /// `POST /group/create` with `body` as `user`, expecting success; the new group's id.
    pub async fn create_group(&self, user: &TestUser, body: Value) -> i64 {
        let reply = self
            .json(Method::POST, "/group/create", Some(&user.access), body)
            .await;
        reply.expect(200, 200);
        reply.data()["ID"].as_i64().expect("group id")
    }

    /// `POST /group/join` as `user`.
    pub async fn join_group(&self, user: &TestUser, group: i64) -> Reply {
        self.json(
            Method::POST,
            "/group/join",
            Some(&user.access),
            serde_json::json!({ "group_id": group }),
        )
        .await
    }

    /// `DELETE /group/delete` (leave) as `user`, the way the seed's clients send it.
    pub async fn leave_group(&self, user: &TestUser, group: i64) -> Reply {
        let form = reqwest::multipart::Form::new().text("group_id", group.to_string());
        self.send(
            self.request(Method::DELETE, "/group/delete", Some(&user.access))
                .multipart(form),
        )
        .await
    }

    /// Registers and logs in a fresh user whose name starts with `prefix`.
    pub async fn user(&self, prefix: &str) -> TestUser {
        let name = format!("{prefix}_{}", suffix());
        let password = "correct horse battery".to_owned();
        self.register(&name, &password).await.expect(200, 200);
        let login = self.login(&name, &password).await;
        login.expect(200, 200);
        let access = login.data()["aToken"].as_str().expect("aToken").to_owned();
        let refresh = login.data()["rToken"].as_str().expect("rToken").to_owned();
        let me = self.get("/user/me", Some(&access), &[]).await;
        me.expect(200, 200);
        TestUser {
            id: me.data()["ID"].as_i64().expect("ID"),
            name,
            password,
            access,
            refresh,
        }
    }

    /// The verification code in the newest mail written to `address`.
    pub fn mailed_code(&self, address: &str) -> Option<String> {
        let dir = self.data_dir.join("mail");
        let mut newest: Option<(std::time::SystemTime, String)> = None;
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let text = std::fs::read_to_string(entry.path()).ok()?;
            if !text.contains(&format!("To: {address}")) {
                continue;
            }
            let modified = entry.metadata().ok()?.modified().ok()?;
            if newest.as_ref().is_none_or(|(t, _)| modified > *t) {
                newest = Some((modified, text));
            }
        }
        let text = newest?.1;
        let at = text.find("verification code is ")? + "verification code is ".len();
        Some(text[at..at + 6].to_owned())
    }

    /// How many mails were written to `address`.
    pub fn mail_count(&self, address: &str) -> usize {
        std::fs::read_dir(self.data_dir.join("mail"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| {
                        std::fs::read_to_string(e.path())
                            .map(|t| t.contains(&format!("To: {address}")))
                            .unwrap_or(false)
                    })
                    .count()
            })
            .unwrap_or(0)
    }
}
