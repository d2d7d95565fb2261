//! `idle`: many authenticated inbox sockets that send nothing, and what they cost the server
//! in resident memory.
//!
//! The sockets are spread over a few users, since a user may hold many sockets and
//! registering thousands of users would only measure password hashing. The server's
//! resident set (`VmRSS` in `/proc/PID/status`) is read once the users exist and again
//! once every socket has its welcome frame, that is once the server has registered it.
//!
//! Then, with every socket still open, each one sends a ping and waits for the pong, which
//! shows that the server held all of them at once (a socket it had dropped would not
//! answer); with the admin token, the server's own count of open sockets is read as well.

use std::time::Duration;

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt, TryStreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::confab::{self, Api, Socket};

/// Sockets being opened at once.
const CONNECT_CONCURRENCY: usize = 64;

/// Longest wait for a socket's pong.
const PONG_TIMEOUT: Duration = Duration::from_secs(15);

/// The server the sockets go to.
#[derive(Debug)]
pub(crate) struct Target {
    /// Its base URL, already checked to be local.
    pub(crate) base: String,
    /// Its process id, to read its memory.
    pub(crate) pid: u32,
    /// It is `confab-loadgen echo-server`: the same sockets, minus everything Confab does,
    /// for a baseline.
    pub(crate) echo: bool,
    /// Confab's admin token, to read its count of open sockets.
    pub(crate) admin_token: Option<String>,
}

/// Runs the scenario against `target`.
pub(crate) async fn run(target: &Target, connections: usize, users: usize) -> anyhow::Result<()> {
    if connections == 0 || users == 0 {
        bail!("--connections and --users must be at least 1");
    }
    let Target {
        ref base,
        pid,
        echo,
        ..
    } = *target;
    let api = Api::new(base)?;
    let before = rss_kib(pid)?;
    let accounts = if echo {
        println!("idle: {connections} sockets to the echo server, pid {pid}");
        Vec::new()
    } else {
        println!("idle: {connections} inbox sockets over {users} users, server pid {pid}");
        api.accounts(&format!("{}i", confab::run_tag()), users)
            .await?
    };
    let settled = rss_kib(pid)?;

    let started = Instant::now();
    let echo_url = format!("{}/", base.replacen("http", "ws", 1));
    let sockets: Vec<Socket> = futures::stream::iter(0..connections)
        .map(|i| {
            let (api, accounts, echo_url) = (&api, &accounts, &echo_url);
            async move {
                match accounts.get(i % accounts.len().max(1)) {
                    Some(account) => {
                        let mut socket = api.open("/chat/ws", &account.token).await?;
                        confab::welcomed(&mut socket).await?;
                        anyhow::Ok(socket)
                    }
                    None => {
                        let mut socket = confab::connect(echo_url.as_str()).await?;
                        echoed(&mut socket).await?;
                        anyhow::Ok(socket)
                    }
                }
            }
        })
        .buffered(CONNECT_CONCURRENCY)
        .try_collect()
        .await?;
    let opened = started.elapsed();
    let after = rss_kib(pid)?;

    // Every socket is still open here: each answers a ping, and the server counts them.
    let mut sockets = sockets;
    let answered = futures::stream::iter(sockets.iter_mut())
        .map(ponged)
        .buffer_unordered(CONNECT_CONCURRENCY)
        .filter(|answered| std::future::ready(*answered))
        .count()
        .await;
    let server_sockets = match &target.admin_token {
        Some(token) => Some(api.websockets(token).await?),
        None => None,
    };

    futures::stream::iter(sockets)
        .for_each_concurrent(CONNECT_CONCURRENCY, close)
        .await;

    let users = accounts.len();
    let per_connection = (after as f64 - settled as f64) / connections as f64;
    println!("  server RSS  {before} KiB at start, {settled} KiB before the sockets, {after} KiB with them");
    println!(
        "  opened      {connections} sockets in {:.3} s ({:.0} per second)",
        opened.as_secs_f64(),
        connections as f64 / opened.as_secs_f64().max(f64::EPSILON)
    );
    println!("  memory      {per_connection:.1} KiB per connection");
    let held = answered == connections && server_sockets.is_none_or(|n| n >= connections as u64);
    println!(
        "  held        {answered} of {connections} sockets answered a ping while all were open{}: {}",
        server_sockets
            .map(|n| format!(", the server counted {n} open"))
            .unwrap_or_default(),
        if held { "all held at once" } else { "NOT all held" }
    );
    println!(
        "RESULT scenario={} connections={connections} users={users} rss_before_kib={settled} \
         rss_after_kib={after} kib_per_connection={per_connection:.1} open_seconds={:.3} \
         answered={answered} server_sockets={} held={}",
        if echo { "idle-echo" } else { "idle" },
        opened.as_secs_f64(),
        server_sockets.map_or_else(|| "-".to_owned(), |n| n.to_string()),
        if held { "yes" } else { "no" },
    );
    if !held {
        bail!("only {answered} of {connections} sockets were open at once");
    }
    Ok(())
}

/// Sends a ping and waits for its pong, skipping whatever else the server sent meanwhile;
/// whether it came.
async fn ponged(socket: &mut Socket) -> bool {
    if socket.send(Message::Ping("held".into())).await.is_err() {
        return false;
    }
    let wait = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Pong(_))) => return true,
                Some(Ok(Message::Close(_)) | Err(_)) | None => return false,
                Some(Ok(_)) => {}
            }
        }
    };
    tokio::time::timeout(PONG_TIMEOUT, wait)
        .await
        .unwrap_or(false)
}

/// Closes a socket politely, without waiting long for the server's answer.
async fn close(mut socket: Socket) {
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(None)).await;
}

/// Sends one frame and waits for it to come back: the echo server's session is running.
async fn echoed(socket: &mut Socket) -> anyhow::Result<()> {
    socket.send(Message::Text("ready".into())).await?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(15), socket.next())
            .await
            .context("no echo from the echo server")?;
        match frame {
            Some(Ok(Message::Text(_))) => return Ok(()),
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(err.into()),
            None => bail!("the echo server closed the connection"),
        }
    }
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmRSS line in {path}"))
}
