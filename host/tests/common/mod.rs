//! What the multi-process tests share: `confab serve` processes, HTTP calls and sockets.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A running `confab serve`; killed when dropped.
pub(crate) struct Node {
    /// The process.
    pub(crate) child: Child,
    /// `http://127.0.0.1:<port>`
    pub(crate) base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `confab serve` on a free port with `env` and waits for its listening line.
pub(crate) fn start(env: &[(String, String)]) -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CONFAB_SERVER__DATA_DIR", dir.path())
        .env("CONFAB_SERVER__LISTEN", "127.0.0.1:0")
        .env("CONFAB_AUTH__BCRYPT_COST", "4")
        .env("CONFAB_LOG__FILTER", "warn")
        // The test sends one-way streams, which the bundled stranger rule would refuse.
        .env("CONFAB_PLUGINS__INSTALL_BUNDLED", "false")
        .envs(env.iter().cloned())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn confab");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the listening line");
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .expect("address")
        .to_owned();
    assert!(line.contains("listening"), "{line}");
    Node {
        child,
        base: format!("http://{addr}"),
        _dir: dir,
    }
}

/// POSTs JSON and returns the envelope's `data`, asserting status 200.
pub(crate) async fn call(
    client: &reqwest::Client,
    node: &Node,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> Value {
    let mut request = client.post(format!("{}{path}", node.base)).json(&body);
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    let reply: Value = request
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(reply["status"], 200, "{path}: {reply}");
    reply["data"].clone()
}

/// A client WebSocket.
pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket with the token in `Authorization`.
pub(crate) async fn socket(node: &Node, path: &str, token: &str) -> Socket {
    let url = format!("{}{path}", node.base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("Authorization", token.parse().expect("header"));
    tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade")
        .0
}

/// The next JSON text frame (15 s at most).
pub(crate) async fn recv(ws: &mut Socket) -> Value {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("frame");
        if let Message::Text(text) = next {
            return serde_json::from_str(text.as_str()).expect("json");
        }
    }
}

/// Sends a JSON frame.
pub(crate) async fn send(ws: &mut Socket, frame: Value) {
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .expect("send");
}

/// The close code the socket ends with, skipping text frames (15 s at most each); `None`
/// if it ends without a close frame.
pub(crate) async fn closed(ws: &mut Socket) -> Option<u16> {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("a frame in time");
        match next {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

/// A `redis-server` of one test's own, without persistence; killed when dropped.
pub(crate) struct Redis {
    child: Child,
    /// The port it listens on, which a restart reuses.
    pub(crate) port: u16,
}

impl Redis {
    /// Starts `redis-server` on `port` and waits until it takes connections (5 s at most).
    pub(crate) fn start(port: u16) -> Self {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { child, port };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not start on {port}");
    }

    /// The URL nodes connect to.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it with SIGKILL: whatever it held is gone.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free TCP port on loopback.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A database of its own on the test MySQL server for one multi-node test, and the
/// settings every node of that test shares.
pub(crate) struct ClusterDb {
    /// A random suffix, for names that must not clash with other runs.
    pub(crate) suffix: String,
    /// The database's URL.
    pub(crate) url: String,
    name: String,
    admin: sqlx::MySqlConnection,
}

impl ClusterDb {
    /// Creates `<prefix>_<suffix>` on the server at `mysql` (any database URL there).
    pub(crate) async fn create(mysql: &str, prefix: &str) -> Self {
        use sqlx::Connection;
        let suffix = format!("{:08x}", rand::random::<u32>());
        let name = format!("{prefix}_{suffix}");
        let mut admin = sqlx::MySqlConnection::connect(mysql).await.expect("mysql");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create db");
        let base = mysql.rsplit_once('/').map_or(mysql, |(b, _)| b);
        Self {
            url: format!("{base}/{name}"),
            suffix,
            name,
            admin,
        }
    }

    /// What every node of the test is started with: this database, Redis at `redis`, a
    /// bus namespace of its own, and shared secrets.
    pub(crate) fn node_env(&self, redis: &str) -> Vec<(String, String)> {
        use base64::Engine;
        let key = || base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
        let suffix = &self.suffix;
        vec![
            ("CONFAB_DATABASE__URL".to_owned(), self.url.clone()),
            ("CONFAB_CLUSTER__REDIS_URL".to_owned(), redis.to_owned()),
            (
                "CONFAB_CLUSTER__NAMESPACE".to_owned(),
                format!("test-{suffix}"),
            ),
            (
                "CONFAB_AUTH__JWT_SECRET".to_owned(),
                format!("multi-node-test-jwt-secret-{suffix}-{suffix}"),
            ),
            ("CONFAB_SECURITY__DATA_KEY".to_owned(), key()),
            ("CONFAB_SECURITY__INDEX_KEY".to_owned(), key()),
        ]
    }

    /// Drops the database (once the nodes using it are stopped).
    pub(crate) async fn drop_database(mut self) {
        sqlx::query(&format!("DROP DATABASE {}", self.name))
            .execute(&mut self.admin)
            .await
            .expect("drop db");
    }
}
