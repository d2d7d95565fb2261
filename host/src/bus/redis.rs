//! The Redis bus shared by several nodes: events are JSON on one pub/sub channel.
//!
//! Every node publishes to `confab:<ns>:bus` and listens to it on a connection of its own,
//! so it hears its own events as well as everyone else's. A listening task forwards what
//! arrives into a local broadcast channel, which is what sockets subscribe to; when the
//! pub/sub connection drops, the task reconnects with backoff (events published while it
//! is away are lost, as with any Redis pub/sub).

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use futures::StreamExt as _;
use redis::aio::{ConnectionManager, PubSubStream};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use super::{Bus, Event, BUS_CAPACITY};
use crate::error::Result;

/// The first wait before reconnecting the pub/sub connection.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The bus of one node, through Redis pub/sub.
pub struct RedisBus {
    conn: ConnectionManager,
    channel: String,
    tx: broadcast::Sender<Event>,
    listener: AbortHandle,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl RedisBus {
    /// Connects to `url` and subscribes to `confab:<namespace>:bus` (`confab:bus` for an
    /// empty namespace) before returning, so every event published afterwards is heard.
    pub async fn connect(url: &str, namespace: &str) -> anyhow::Result<Self> {
        let channel = if namespace.is_empty() {
            "confab:bus".to_owned()
        } else {
            format!("confab:{namespace}:bus")
        };
        let client = redis::Client::open(url).context("parsing the Redis URL")?;
        let conn = client
            .get_connection_manager()
            .await
            .context("connecting to Redis for the bus")?;
        let messages = listen(&client, &channel)
            .await
            .context("subscribing to the Redis bus")?;
        let (tx, _) = broadcast::channel(BUS_CAPACITY);
        let task = tokio::spawn(forward(client, channel.clone(), messages, tx.clone()));
        Ok(Self {
            conn,
            channel,
            tx,
            listener: task.abort_handle(),
        })
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, event: Event) -> Result<()> {
        let payload = serde_json::to_string(&event).context("encoding a bus event")?;
        redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(payload)
            .exec_async(&mut self.conn.clone())
            .await
            .context("publishing to the Redis bus")?;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

/// A pub/sub connection subscribed to `channel`.
async fn listen(client: &redis::Client, channel: &str) -> redis::RedisResult<PubSubStream> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(pubsub.into_on_message())
}

/// The listening task: passes every event on, and reconnects when the connection drops.
async fn forward(
    client: redis::Client,
    channel: String,
    mut messages: PubSubStream,
    tx: broadcast::Sender<Event>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let since = tokio::time::Instant::now();
        while let Some(message) = messages.next().await {
            match serde_json::from_slice::<Event>(message.get_payload_bytes()) {
                Ok(event) => {
                    // No receiver just means no socket is open on this node.
                    let _ = tx.send(event);
                }
                Err(err) => tracing::warn!(
                    error = %err,
                    channel = %channel,
                    "skipping a malformed event on the Redis bus"
                ),
            }
        }
        // A connection that held for a while starts the backoff over; one that keeps
        // dropping at once keeps doubling it.
        if since.elapsed() > MAX_BACKOFF {
            backoff = MIN_BACKOFF;
        }
        tracing::warn!(channel = %channel, "the Redis bus connection dropped; reconnecting");
        messages = loop {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            match listen(&client, &channel).await {
                Ok(messages) => {
                    tracing::info!(channel = %channel, "the Redis bus reconnected");
                    break messages;
                }
                Err(err) => tracing::warn!(
                    error = %err,
                    channel = %channel,
                    retry_in = ?backoff,
                    "reconnecting the Redis bus failed"
                ),
            }
        };
    }
}
