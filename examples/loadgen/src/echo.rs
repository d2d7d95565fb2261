//! `echo`: the baseline. A bare axum WebSocket server in this process sends every frame
//! back; the clients drive it exactly as `pairs` drives Confab, and time the round trip.
//!
//! The echo server is served the way Confab serves (`axum::serve` on a tokio listener),
//! so it differs from Confab only in what happens to a frame between reading and writing.

use anyhow::{bail, Context};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use futures::{StreamExt, TryStreamExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::confab;
use crate::frames::Dialect;
use crate::traffic::{self, Plan, Role};
use crate::Load;

/// Sockets being opened at once.
const CONNECT_CONCURRENCY: usize = 32;

/// Runs the baseline with `connections` client sockets, against an echo server started
/// here, or against `external` (a `confab-loadgen echo-server`) when given.
pub(crate) async fn run(
    connections: usize,
    nodelay: bool,
    external: Option<String>,
    load: &Load,
    deadline: Instant,
) -> anyhow::Result<()> {
    if connections == 0 {
        bail!("--connections must be at least 1");
    }
    load.check()?;
    let (url, server) = match external {
        Some(base) => (format!("{}/", base.replacen("http", "ws", 1)), None),
        None => {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .context("binding the echo server")?;
            let addr = listener.local_addr()?;
            let app = Router::new().route("/", get(upgrade));
            let listener = listener.tap_io(move |tcp| {
                if nodelay {
                    let _ = tcp.set_nodelay(true);
                }
            });
            let server = tokio::spawn(async move { axum::serve(listener, app).await });
            (format!("ws://{addr}/"), Some(server))
        }
    };
    println!(
        "echo: {connections} connections x {} messages of {} bytes, window {}, {}{}",
        load.messages,
        load.bytes,
        load.window,
        if server.is_some() {
            "server in this process"
        } else {
            "server at --server"
        },
        if nodelay { ", server TCP_NODELAY" } else { "" }
    );

    let roles: Vec<Role> = futures::stream::iter(0..connections)
        .map(|_| {
            let url = url.as_str();
            async move {
                let socket = confab::connect(url).await?;
                anyhow::Ok(Role {
                    socket,
                    sends: load.messages,
                })
            }
        })
        .buffered(CONNECT_CONCURRENCY)
        .try_collect()
        .await?;

    let outcome = traffic::drive(Plan {
        dialect: Dialect::Echo,
        roles,
        window: load.window,
        bytes: load.bytes,
        fanout: 1,
        deadline,
        server_pid: None,
    })
    .await;
    if let Some(server) = server {
        server.abort();
    }
    outcome.print(load.label.as_deref().unwrap_or("echo"), "messages");
    Ok(())
}

/// Serves the echo on 127.0.0.1:`port` until `deadline`, then exits.
pub(crate) async fn serve(
    port: u16,
    nodelay: bool,
    read_buffer: Option<usize>,
    deadline: Instant,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding the echo server to 127.0.0.1:{port}"))?;
    println!("echo server listening on ws://127.0.0.1:{port}/ until the deadline");
    let app = Router::new().route(
        "/",
        get(move |ws: WebSocketUpgrade| async move {
            match read_buffer {
                Some(bytes) => ws.read_buffer_size(bytes).on_upgrade(echo),
                None => ws.on_upgrade(echo),
            }
        }),
    );
    let listener = listener.tap_io(move |tcp| {
        if nodelay {
            let _ = tcp.set_nodelay(true);
        }
    });
    tokio::select! {
        served = axum::serve(listener, app) => served.context("serving the echo")?,
        () = tokio::time::sleep_until(deadline) => {}
    }
    Ok(())
}

async fn upgrade(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(echo)
}

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        match message {
            Message::Text(_) | Message::Binary(_) => {
                if socket.send(message).await.is_err() {
                    return;
                }
            }
            Message::Close(_) => return,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
}
