//! Talking to a Confab server: accounts and groups over REST, and opening its sockets.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client WebSocket, to Confab or to the echo baseline.
pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The password of every account the load generator creates.
const PASSWORD: &str = "loadgen-password";

/// REST calls in flight at once while setting up.
const SETUP_CONCURRENCY: usize = 16;

/// Registration slower than this gets a hint about the bcrypt cost.
const SLOW_REGISTRATION: Duration = Duration::from_secs(5);

/// Longest wait for a socket's first answer (welcome or probe reply).
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    /// The user id.
    pub(crate) id: i64,
    /// The access token.
    pub(crate) token: String,
}

/// A plugin as the admin API shows it.
#[derive(Debug, Clone)]
pub(crate) struct PluginState {
    /// Its name.
    pub(crate) name: String,
    /// `running`, `disabled`, `quarantined` or `failed`.
    pub(crate) state: String,
    /// The `limit` of its configuration, when it has one (the stranger limit).
    pub(crate) limit: Option<u64>,
    /// Its counters since it was loaded: calls, rejects, rewrites, errors, timeouts.
    pub(crate) counters: [u64; 5],
}

impl PluginState {
    /// The names of [`PluginState::counters`].
    pub(crate) const COUNTERS: [&'static str; 5] =
        ["calls", "rejects", "rewrites", "errors", "timeouts"];
}

impl std::fmt::Display for PluginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name, self.state)?;
        if let Some(limit) = self.limit {
            write!(f, " (limit {limit})")?;
        }
        Ok(())
    }
}

/// A Confab server's REST API.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    client: reqwest::Client,
    base: String,
}

/// Tags handed out by this process, so that several runs in one process (`compare`)
/// differ even when they start within the same tenth of a second.
static TAGS: AtomicU64 = AtomicU64::new(0);

/// A prefix for user and group names that differs between runs, so runs against one
/// server never collide: base-36 of the current unix time in tenths of a second, then how
/// many tags this process handed out before.
pub(crate) fn run_tag() -> String {
    let mut n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() / 100)
        .unwrap_or_default();
    let mut tag = String::new();
    while n > 0 {
        let digit = u32::try_from(n % 36).unwrap_or_default();
        tag.insert(0, char::from_digit(digit, 36).unwrap_or('0'));
        n /= 36;
    }
    let n = TAGS.fetch_add(1, Ordering::Relaxed);
    format!("lg{tag}-{n}")
}

impl Api {
    /// A client for the server at `base` (already checked to be local).
    pub(crate) fn new(base: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            // The target is on this machine: a proxy from the environment would only
            // distort the figures, or refuse the request.
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            client,
            base: base.to_owned(),
        })
    }

    /// Sends a request and returns the envelope's `data`, or fails with its `error`.
    async fn call(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let reply: Value = request.send().await?.json().await?;
        if reply["status"] != 200 {
            bail!("{} (status {})", reply["error"], reply["status"]);
        }
        Ok(reply["data"].clone())
    }

    /// Registers and logs in `count` new users named `<prefix><i>`.
    pub(crate) async fn accounts(
        &self,
        prefix: &str,
        count: usize,
    ) -> anyhow::Result<Vec<Account>> {
        let started = std::time::Instant::now();
        let accounts = futures::stream::iter(0..count)
            .map(|i| self.account(format!("{prefix}{i}")))
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await?;
        let took = started.elapsed();
        if took > SLOW_REGISTRATION {
            eprintln!(
                "registering {count} users took {:.1} s: start the server with \
                 CONFAB_AUTH__BCRYPT_COST=4 for load tests",
                took.as_secs_f64()
            );
        }
        Ok(accounts)
    }

    async fn account(&self, name: String) -> anyhow::Result<Account> {
        let credentials = json!({ "username": name, "password": PASSWORD });
        self.call(
            self.client
                .post(format!("{}/user/register", self.base))
                .json(&credentials),
        )
        .await
        .with_context(|| format!("registering {name}"))?;
        let tokens = self
            .call(
                self.client
                    .post(format!("{}/user/login", self.base))
                    .json(&credentials),
            )
            .await
            .with_context(|| format!("logging in as {name}"))?;
        let token = tokens["aToken"]
            .as_str()
            .context("the login answer has no aToken")?
            .to_owned();
        let me = self
            .call(
                self.client
                    .get(format!("{}/user/me", self.base))
                    .header("Authorization", &token),
            )
            .await
            .with_context(|| format!("reading the profile of {name}"))?;
        let id = me["ID"].as_i64().context("the profile has no ID")?;
        Ok(Account { id, token })
    }

    /// Creates a group owned by `owner` with room for `size` members; returns its id.
    pub(crate) async fn create_group(
        &self,
        owner: &Account,
        name: &str,
        size: usize,
    ) -> anyhow::Result<i64> {
        let group = self
            .call(
                self.client
                    .post(format!("{}/group/create", self.base))
                    .header("Authorization", &owner.token)
                    .json(&json!({ "group_name": name, "desc": "load generator", "size": size })),
            )
            .await
            .context("creating the group")?;
        group["ID"].as_i64().context("the new group has no ID")
    }

    /// Makes every one of `members` join `group`.
    pub(crate) async fn join_group(&self, members: &[Account], group: i64) -> anyhow::Result<()> {
        futures::stream::iter(members)
            .map(|member| async move {
                self.call(
                    self.client
                        .post(format!("{}/group/join", self.base))
                        .header("Authorization", &member.token)
                        .json(&json!({ "group_id": group })),
                )
                .await
                .with_context(|| format!("user {} joining group {group}", member.id))
            })
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect::<Vec<Value>>()
            .await?;
        Ok(())
    }

    /// The admin token in `file` (the server writes `<data_dir>/secrets/admin.token`).
    pub(crate) fn admin_token(file: &Path) -> anyhow::Result<String> {
        let token = std::fs::read_to_string(file)
            .with_context(|| format!("reading the admin token from {}", file.display()))?;
        Ok(token.trim().to_owned())
    }

    /// Every installed plugin, with its state and, when its configuration has one, its
    /// `limit`.
    pub(crate) async fn plugins(&self, admin_token: &str) -> anyhow::Result<Vec<PluginState>> {
        let list = self
            .call(self.admin_get("/admin/plugins", admin_token))
            .await
            .context("listing the plugins")?;
        let mut plugins = Vec::new();
        for plugin in list.as_array().context("the plugin list is not a list")? {
            let name = plugin["name"].as_str().unwrap_or_default().to_owned();
            let config = self
                .call(self.admin_get(&format!("/admin/plugins/{name}/config"), admin_token))
                .await
                .with_context(|| format!("reading the configuration of {name}"))?;
            plugins.push(PluginState {
                state: plugin["state"].as_str().unwrap_or("unknown").to_owned(),
                limit: config["limit"].as_u64(),
                counters: PluginState::COUNTERS
                    .map(|counter| plugin["counters"][counter].as_u64().unwrap_or_default()),
                name,
            });
        }
        Ok(plugins)
    }

    /// The server's open WebSocket sessions, from `/metrics`.
    pub(crate) async fn websockets(&self, admin_token: &str) -> anyhow::Result<u64> {
        let text = self
            .admin_get("/metrics", admin_token)
            .send()
            .await?
            .error_for_status()
            .context("reading /metrics")?
            .text()
            .await?;
        text.lines()
            .find_map(|line| line.strip_prefix("confab_websockets "))
            .and_then(|count| count.trim().parse().ok())
            .context("/metrics has no confab_websockets line")
    }

    fn admin_get(&self, path: &str, admin_token: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(admin_token)
    }

    /// Opens the socket at `path` (such as `/chat/ws?toUid=2`) as the token's user.
    pub(crate) async fn open(&self, path: &str, token: &str) -> anyhow::Result<Socket> {
        let url = format!("{}{path}", self.base.replacen("http", "ws", 1));
        let mut request = url.as_str().into_client_request()?;
        request
            .headers_mut()
            .insert("Authorization", token.parse()?);
        connect(request).await
    }
}

/// Opens a client socket with Nagle's algorithm off, so the client adds no delay of its own.
pub(crate) async fn connect(request: impl IntoClientRequest + Unpin) -> anyhow::Result<Socket> {
    let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .context("opening a WebSocket")?;
    Ok(socket)
}

/// Waits for the welcome frame of a private socket: once it is there, the server has
/// registered the socket for delivery.
pub(crate) async fn welcomed(socket: &mut Socket) -> anyhow::Result<()> {
    let frame = next_text(socket)
        .await
        .context("waiting for the welcome frame")?;
    if frame["code"] != 50002 {
        bail!("expected the welcome frame, got {frame}");
    }
    Ok(())
}

/// Makes sure a group socket is registered for delivery. A group socket starts silent,
/// so it asks for an empty page of history: the answer comes from the running session,
/// which registered the socket before reading anything.
pub(crate) async fn probed(socket: &mut Socket) -> anyhow::Result<()> {
    let far_future = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() + 86_400)
        .unwrap_or(u64::MAX / 2);
    let probe = json!({ "type": 2, "content": far_future.to_string() });
    socket
        .send(Message::Text(probe.to_string().into()))
        .await
        .context("probing a group socket")?;
    loop {
        let frame = next_text(socket)
            .await
            .context("waiting for the probe's answer")?;
        if frame["code"] == 50003 {
            return Ok(());
        }
    }
}

async fn next_text(socket: &mut Socket) -> anyhow::Result<Value> {
    loop {
        let frame = tokio::time::timeout(READY_TIMEOUT, socket.next())
            .await
            .context("no answer from the server")?;
        match frame {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(text.as_str())?),
            Some(Ok(Message::Close(close))) => bail!("the server closed the socket: {close:?}"),
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(err.into()),
            None => bail!("the server closed the connection"),
        }
    }
}
