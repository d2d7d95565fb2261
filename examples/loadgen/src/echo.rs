//! `echo`: the baselines. A bare axum WebSocket server sends every frame back to its sender
//! (`/`), or to every socket connected to `/relay`, the sender's included (the fan-out
//! baseline for `group`). The clients drive it exactly as `pairs` and `group` drive Confab,
//! and time the round trip.
//!
//! The echo server is served the way Confab serves (`axum::serve` on a tokio listener),
//! so it differs from Confab only in what happens to a frame between reading and writing.

use anyhow::{bail, Context};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use clap::Args;
use futures::{SinkExt, StreamExt, TryStreamExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::confab::{self, Socket};
use crate::frames::Dialect;
use crate::traffic::{self, Outcome, Plan, Role};
use crate::Load;

/// Sockets being opened at once.
const CONNECT_CONCURRENCY: usize = 32;

/// Frames the relay keeps for a socket that has not written them yet. A socket that falls
/// further behind is closed, which the clients report as a broken run: the baseline never
/// drops frames silently. The runs send far fewer frames than this in all.
const RELAY_BACKLOG: usize = 1 << 16;

/// The first frame of a relay socket: it is subscribed, and misses nothing sent after this.
const RELAY_READY: &str = "ready";

/// How the echo server treats its sockets.
#[derive(Debug, Args, Clone, Copy, Default)]
pub(crate) struct Settings {
    /// Set TCP_NODELAY on accepted sockets, as Confab does (off: the kernel's default).
    #[arg(long)]
    pub(crate) nodelay: bool,
    /// Each socket's read buffer in bytes, as Confab's 4096 (default: axum's, 128 KiB).
    #[arg(long)]
    pub(crate) read_buffer: Option<usize>,
}

/// One echo run: the sockets, and the server they talk to.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    /// Client sockets.
    pub(crate) connections: usize,
    /// How many of them send (the first ones); the others only receive.
    pub(crate) senders: usize,
    /// Every frame goes to every socket instead of back to its sender only.
    pub(crate) relay: bool,
    /// The server in this process, when `external` is `None`.
    pub(crate) settings: Settings,
    /// A `confab-loadgen echo-server` to drive instead of one in this process.
    pub(crate) external: Option<String>,
}

/// Runs the baseline and prints its report and `RESULT` line.
pub(crate) async fn run(shape: &Shape, load: &Load, deadline: Instant) -> anyhow::Result<()> {
    println!("{}", shape.describe(load));
    let outcome = measure(shape, load, deadline).await?;
    let (scenario, unit) = if shape.relay {
        ("relay", "deliveries")
    } else {
        ("echo", "messages")
    };
    outcome.print(load.label.as_deref().unwrap_or(scenario), unit);
    Ok(())
}

/// Runs the baseline and returns what it measured.
pub(crate) async fn measure(
    shape: &Shape,
    load: &Load,
    deadline: Instant,
) -> anyhow::Result<Outcome> {
    let Shape {
        connections,
        senders,
        relay,
        ..
    } = *shape;
    if connections == 0 || senders == 0 || senders > connections {
        bail!("--connections must be at least 1, and --senders between 1 and --connections");
    }
    if relay && connections < 2 {
        bail!("the relay needs at least 2 connections");
    }
    load.check()?;
    let (base, server) = match &shape.external {
        Some(base) => (base.replacen("http", "ws", 1), None),
        None => {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .context("binding the echo server")?;
            let addr = listener.local_addr()?;
            let app = router(shape.settings);
            let nodelay = shape.settings.nodelay;
            let listener = listener.tap_io(move |tcp| {
                if nodelay {
                    let _ = tcp.set_nodelay(true);
                }
            });
            let server = tokio::spawn(async move { axum::serve(listener, app).await });
            (format!("ws://{addr}"), Some(server))
        }
    };
    let url = if relay {
        format!("{base}/relay")
    } else {
        format!("{base}/")
    };

    let roles: Result<Vec<Role>, _> = futures::stream::iter(0..connections)
        .map(|i| {
            let url = url.as_str();
            async move {
                let mut socket = confab::connect(url).await?;
                if relay {
                    subscribed(&mut socket).await?;
                }
                let sends = if i < senders { load.messages } else { 0 };
                anyhow::Ok(Role { socket, sends })
            }
        })
        .buffered(CONNECT_CONCURRENCY)
        .try_collect()
        .await;
    let outcome = match roles {
        Ok(roles) => Ok(traffic::drive(Plan {
            dialect: if relay { Dialect::Relay } else { Dialect::Echo },
            roles,
            window: load.window,
            bytes: load.bytes,
            rate: load.rate,
            // The relay's sender gets its own copy as the acknowledgement, as Confab's
            // group sender gets an ack; the plain echo's one copy is both.
            fanout: if relay { connections as u64 - 1 } else { 1 },
            deadline,
            server_pid: None,
        })
        .await),
        Err(err) => Err(err),
    };
    if let Some(server) = server {
        server.abort();
    }
    outcome
}

impl Shape {
    /// One line saying what the run does.
    pub(crate) fn describe(&self, load: &Load) -> String {
        let what = if self.relay {
            format!(
                "relay: {} connections, {} senders",
                self.connections, self.senders
            )
        } else {
            format!("echo: {} connections", self.connections)
        };
        let server = match (&self.external, self.settings) {
            (Some(_), _) => "server at --server".to_owned(),
            (None, settings) => format!(
                "server in this process{}{}",
                if settings.nodelay {
                    ", TCP_NODELAY"
                } else {
                    ""
                },
                settings
                    .read_buffer
                    .map(|b| format!(", {b}-byte read buffer"))
                    .unwrap_or_default()
            ),
        };
        format!("{what} x {}, {server}", load.describe())
    }
}

/// Waits for the relay's first frame: from then on the socket gets every frame.
async fn subscribed(socket: &mut Socket) -> anyhow::Result<()> {
    let frame = tokio::time::timeout(std::time::Duration::from_secs(15), socket.next())
        .await
        .context("no answer from the relay")?;
    match frame {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))
            if text.as_str() == RELAY_READY =>
        {
            Ok(())
        }
        Some(Ok(other)) => bail!("expected the relay's first frame, got {other:?}"),
        Some(Err(err)) => Err(err.into()),
        None => bail!("the relay closed the connection"),
    }
}

/// Serves the echo on 127.0.0.1:`port` until `deadline`, then exits.
pub(crate) async fn serve(port: u16, settings: Settings, deadline: Instant) -> anyhow::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding the echo server to 127.0.0.1:{port}"))?;
    println!("echo server listening on ws://127.0.0.1:{port}/ (and /relay) until the deadline");
    let app = router(settings);
    let listener = listener.tap_io(move |tcp| {
        if settings.nodelay {
            let _ = tcp.set_nodelay(true);
        }
    });
    tokio::select! {
        served = axum::serve(listener, app) => served.context("serving the echo")?,
        () = tokio::time::sleep_until(deadline) => {}
    }
    Ok(())
}

/// The echo at `/` and the relay at `/relay`.
fn router(settings: Settings) -> Router {
    let (hub, _) = broadcast::channel::<Message>(RELAY_BACKLOG);
    let configure = move |ws: WebSocketUpgrade| match settings.read_buffer {
        Some(bytes) => ws.read_buffer_size(bytes),
        None => ws,
    };
    Router::new()
        .route(
            "/",
            get(move |ws: WebSocketUpgrade| async move { configure(ws).on_upgrade(echo) }),
        )
        .route(
            "/relay",
            get(move |ws: WebSocketUpgrade| {
                let hub = hub.clone();
                async move { configure(ws).on_upgrade(move |socket| relay(socket, hub)) }
            }),
        )
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

/// One relay socket: what it reads goes to every relay socket, and it writes what any of
/// them read, in the order the relay got it.
async fn relay(socket: WebSocket, hub: broadcast::Sender<Message>) {
    let mut inbox = hub.subscribe();
    let (mut sink, mut stream) = socket.split();
    if sink.send(Message::Text(RELAY_READY.into())).await.is_err() {
        return;
    }
    let writer = async move {
        // A socket that lags behind the backlog ends here, and so does its connection.
        while let Ok(message) = inbox.recv().await {
            if sink.send(message).await.is_err() {
                return;
            }
        }
    };
    let reader = async move {
        while let Some(Ok(message)) = stream.next().await {
            match message {
                Message::Text(_) | Message::Binary(_) => {
                    // Fails only with no subscriber, and this socket is one.
                    let _ = hub.send(message);
                }
                Message::Close(_) => return,
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
    };
    tokio::select! {
        () = writer => {}
        () = reader => {}
    }
}
