//! The Redis bus shared by several nodes: events are JSON entries of one Redis stream.
//!
//! A node delivers what it publishes to its own sockets at once, in memory, and appends it
//! to the stream `confab:<ns>:events` from a background task; every node reads the stream
//! from the last entry it saw and passes on what other nodes appended. So:
//!
//! - **Redis down does not stop a node.** Publishing never waits on Redis: local delivery
//!   happens immediately, and appends wait in a bounded outbox, retried in order until
//!   Redis is back ([`OUTBOX`] events; past that new events are not appended, and each is
//!   logged and counted: other nodes' clients then find them in history).
//! - **A reconnect leaves no gap.** A reader that lost its connection reads on from the
//!   last entry id it saw, so what other nodes appended meanwhile still arrives, in order.
//!   (Plain pub/sub, used before, drops whatever is published while a subscriber is away.)
//! - **When a gap cannot be ruled out** — Redis restarted (its run id changed, so entries
//!   appended before the restart may be gone) or the stream was trimmed past the reader's
//!   position — the node publishes [`Event::Resync`] locally: its sockets close with 1013
//!   and their clients read what they missed from history, and cached facts are dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Value};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use tokio::task::AbortHandle;

use super::{Bus, Event, BUS_CAPACITY};
use crate::error::Result;
use crate::metrics::BusStats;

/// Events waiting to be appended to the stream while Redis is away.
pub const OUTBOX: usize = 65_536;
/// Entries the stream keeps (approximately); a reader further behind than this resyncs.
const STREAM_MAXLEN: usize = 100_000;
/// Entries appended in one round trip.
const APPEND_BATCH: usize = 256;
/// Entries read in one round trip.
const READ_BATCH: usize = 1024;
/// How long one read waits for new entries before asking again.
const READ_BLOCK: Duration = Duration::from_secs(2);
/// How long any Redis command may take before it counts as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);
/// The first wait before retrying Redis.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One stream entry: which node appended the event.
#[derive(Serialize)]
struct Outgoing<'a> {
    node: u64,
    event: &'a Event,
}

#[derive(Deserialize)]
struct Incoming {
    node: u64,
    event: Event,
}

/// The bus of one node, through a Redis stream.
pub struct RedisBus {
    node: u64,
    tx: broadcast::Sender<Event>,
    outbox: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
    stats: Arc<BusStats>,
    tasks: Vec<AbortHandle>,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl RedisBus {
    /// Connects to `url` and starts reading `confab:<namespace>:events` (`confab:events`
    /// for an empty namespace) from its current end, so every event appended afterwards
    /// is heard.
    pub async fn connect(url: &str, namespace: &str) -> anyhow::Result<Self> {
        let key = if namespace.is_empty() {
            "confab:events".to_owned()
        } else {
            format!("confab:{namespace}:events")
        };
        let client = redis::Client::open(url).context("parsing the Redis URL")?;
        let writer = client
            .get_connection_manager_with_config(
                redis::aio::ConnectionManagerConfig::new()
                    .set_response_timeout(Some(COMMAND_TIMEOUT))
                    .set_connection_timeout(Some(COMMAND_TIMEOUT)),
            )
            .await
            .context("connecting to Redis for the bus")?;
        let mut reader = reader_connection(&client)
            .await
            .context("connecting to Redis to read the bus")?;
        let position = Position::now(&mut reader, &key)
            .await
            .context("reading the end of the Redis bus")?;
        let node = rand::random::<u64>();
        let (tx, _) = broadcast::channel(BUS_CAPACITY);
        let (outbox, pending) = mpsc::channel(OUTBOX);
        let dropped = Arc::new(AtomicU64::new(0));
        let stats = Arc::new(BusStats::default());
        let read = tokio::spawn(read_loop(
            client,
            reader,
            key.clone(),
            node,
            position,
            tx.clone(),
            stats.clone(),
        ));
        let append = tokio::spawn(append_loop(writer, key, pending));
        Ok(Self {
            node,
            tx,
            outbox,
            dropped,
            stats,
            tasks: vec![read.abort_handle(), append.abort_handle()],
        })
    }

    /// Events that could not wait for Redis because the outbox was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, event: Event) -> Result<()> {
        let entry = serde_json::to_string(&Outgoing {
            node: self.node,
            event: &event,
        })
        .context("encoding a bus event")?;
        self.stats.published();
        // This node's sockets first: they never wait for Redis.
        let _ = self.tx.send(event);
        match self.outbox.try_send(entry) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::error!(
                    dropped,
                    "the Redis bus outbox is full (Redis has been away too long): \
                     other nodes will not get this event live; their clients find it in history"
                );
            }
            // The append task ended: the node is stopping.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    fn stats(&self) -> Option<Arc<BusStats>> {
        Some(self.stats.clone())
    }
}

/// A connection for blocking reads, whose timeout allows for the block.
async fn reader_connection(client: &redis::Client) -> redis::RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(READ_BLOCK + COMMAND_TIMEOUT));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// Where a reader is in the stream, and which Redis server (by run id) it was reading.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    last: String,
    run_id: String,
}

impl Position {
    /// The current end of the stream.
    async fn now(conn: &mut MultiplexedConnection, key: &str) -> redis::RedisResult<Self> {
        let last: Value = redis::cmd("XREVRANGE")
            .arg(key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(conn)
            .await?;
        let last = entries(&last)
            .into_iter()
            .next()
            .map_or_else(|| "0-0".to_owned(), |(id, _)| id);
        Ok(Self {
            last,
            run_id: run_id(conn).await?,
        })
    }
}

/// The Redis server's run id, which changes whenever it restarts.
async fn run_id(conn: &mut MultiplexedConnection) -> redis::RedisResult<String> {
    let info: String = redis::cmd("INFO").arg("server").query_async(conn).await?;
    Ok(info
        .lines()
        .find_map(|line| line.strip_prefix("run_id:"))
        .unwrap_or_default()
        .trim()
        .to_owned())
}

/// Appends the outbox to the stream in order, retrying a failed round until it succeeds.
async fn append_loop(
    mut conn: ConnectionManager,
    key: String,
    mut pending: mpsc::Receiver<String>,
) {
    let mut batch: Vec<String> = Vec::with_capacity(APPEND_BATCH);
    let mut backoff = MIN_BACKOFF;
    while let Some(first) = pending.recv().await {
        batch.push(first);
        while batch.len() < APPEND_BATCH {
            match pending.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        loop {
            let mut pipe = redis::pipe();
            for entry in &batch {
                pipe.cmd("XADD")
                    .arg(&key)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(STREAM_MAXLEN)
                    .arg("*")
                    .arg("e")
                    .arg(entry)
                    .ignore();
            }
            match pipe.exec_async(&mut conn).await {
                Ok(()) => {
                    if backoff > MIN_BACKOFF {
                        tracing::info!("the Redis bus accepts events again");
                    }
                    backoff = MIN_BACKOFF;
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, waiting = batch.len() + pending.len(), retry_in = ?backoff, "appending to the Redis bus failed; the events wait in the outbox");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        batch.clear();
    }
}

/// Reads the stream from `position` on, passing on other nodes' events; reconnects after a
/// failure and reads on from where it was.
async fn read_loop(
    client: redis::Client,
    mut conn: MultiplexedConnection,
    key: String,
    node: u64,
    mut position: Position,
    tx: broadcast::Sender<Event>,
    stats: Arc<BusStats>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let read: redis::RedisResult<Value> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(READ_BATCH)
            .arg("BLOCK")
            .arg(READ_BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&key)
            .arg(&position.last)
            .query_async(&mut conn)
            .await;
        match read {
            Ok(reply) => {
                backoff = MIN_BACKOFF;
                for (id, payload) in stream_entries(&reply) {
                    if pass_on(&payload, node, &tx) {
                        if let Some(lag) = since_appended(&id) {
                            stats.lag.observe_duration(lag);
                        }
                    }
                    position.last = id;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "reading the Redis bus failed; reconnecting");
                conn = loop {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    match reconnect(&client, &key, &position).await {
                        Ok((conn, gap)) => {
                            if gap {
                                tracing::warn!("the Redis bus may have lost events while this node was away: closing local sockets so their clients read history");
                                let _ = tx.send(Event::Resync);
                            }
                            tracing::info!("the Redis bus reconnected");
                            break conn;
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, retry_in = ?backoff, "reconnecting the Redis bus failed")
                        }
                    }
                };
                // After a restart the old position means nothing: read on from the new end.
                if let Ok(now) = Position::now(&mut conn, &key).await {
                    if now.run_id != position.run_id {
                        position = now;
                    }
                }
            }
        }
    }
}

/// A fresh reading connection, and whether events may have been lost since `position`:
/// the server restarted, or the stream no longer holds the entry after `position`.
async fn reconnect(
    client: &redis::Client,
    key: &str,
    position: &Position,
) -> redis::RedisResult<(MultiplexedConnection, bool)> {
    let mut conn = reader_connection(client).await?;
    if run_id(&mut conn).await? != position.run_id {
        return Ok((conn, true));
    }
    let oldest: Value = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut conn)
        .await?;
    let trimmed = entries(&oldest)
        .into_iter()
        .next()
        .is_some_and(|(oldest, _)| position.last != "0-0" && newer(&oldest, &position.last));
    Ok((conn, trimmed))
}

/// Whether stream id `a` comes after `b` (ids are `<ms>-<seq>`).
fn newer(a: &str, b: &str) -> bool {
    let parse = |id: &str| -> (u64, u64) {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
    };
    parse(a) > parse(b)
}

/// Passes on an entry appended by another node (this node delivered its own already);
/// true when it was one.
fn pass_on(payload: &[u8], node: u64, tx: &broadcast::Sender<Event>) -> bool {
    match serde_json::from_slice::<Incoming>(payload) {
        Ok(incoming) if incoming.node == node => false,
        Ok(incoming) => {
            // No receiver just means no socket is open on this node.
            let _ = tx.send(incoming.event);
            true
        }
        Err(err) => {
            tracing::warn!(error = %err, "skipping a malformed event on the Redis bus");
            false
        }
    }
}

/// How long ago the entry `id` was appended: its id starts with Redis' clock in unix
/// milliseconds (so this assumes the clocks of Redis and this node agree).
fn since_appended(id: &str) -> Option<Duration> {
    let appended: i64 = id.split_once('-').map_or(id, |(ms, _)| ms).parse().ok()?;
    let now = chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(
        u64::try_from(now - appended).unwrap_or(0),
    ))
}

/// The entries of an XREAD reply (one stream): ids and the `e` field.
fn stream_entries(reply: &Value) -> Vec<(String, Vec<u8>)> {
    match reply {
        // RESP2: [[key, entries]]
        Value::Array(streams) => streams
            .iter()
            .filter_map(|stream| match stream {
                Value::Array(pair) if pair.len() == 2 => Some(entries(&pair[1])),
                _ => None,
            })
            .flatten()
            .collect(),
        // RESP3: {key: entries}
        Value::Map(streams) => streams.iter().flat_map(|(_, e)| entries(e)).collect(),
        _ => Vec::new(),
    }
}

/// The entries of an XRANGE-shaped reply: `[[id, [field, value, ...]], ...]`.
fn entries(reply: &Value) -> Vec<(String, Vec<u8>)> {
    let Value::Array(items) = reply else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let Value::Array(pair) = item else {
                return None;
            };
            let id = text(pair.first()?)?;
            let payload = match pair.get(1)? {
                Value::Array(fields) => fields
                    .chunks(2)
                    .find(|kv| kv.first().and_then(text).as_deref() == Some("e"))
                    .and_then(|kv| bytes(kv.get(1)?)),
                Value::Map(fields) => fields
                    .iter()
                    .find(|(k, _)| text(k).as_deref() == Some("e"))
                    .and_then(|(_, v)| bytes(v)),
                _ => None,
            }
            .unwrap_or_default();
            Some((id, payload))
        })
        .collect()
}

fn bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    bytes(value).and_then(|b| String::from_utf8(b).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_compare_by_time_then_sequence() {
        assert!(newer("1700000000001-0", "1700000000000-5"));
        assert!(newer("1700000000000-6", "1700000000000-5"));
        assert!(!newer("1700000000000-5", "1700000000000-5"));
        assert!(!newer("99-0", "100-0"));
    }

    #[test]
    fn lag_is_read_from_the_entry_id() {
        let now = chrono::Utc::now().timestamp_millis();
        let lag = since_appended(&format!("{}-3", now - 1500)).expect("an id");
        assert!(lag >= Duration::from_millis(1500) && lag < Duration::from_secs(60));
        // A clock behind Redis' counts as no lag; a malformed id as none at all.
        assert_eq!(
            since_appended(&format!("{}-0", now + 60_000)),
            Some(Duration::ZERO)
        );
        assert_eq!(since_appended("garbage"), None);
    }

    #[test]
    fn replies_of_both_protocol_versions_are_read() {
        let entry = |id: &str, payload: &str| {
            Value::Array(vec![
                Value::BulkString(id.as_bytes().to_vec()),
                Value::Array(vec![
                    Value::BulkString(b"e".to_vec()),
                    Value::BulkString(payload.as_bytes().to_vec()),
                ]),
            ])
        };
        let list = Value::Array(vec![entry("1-0", "a"), entry("2-0", "b")]);
        let resp2 = Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"k".to_vec()),
            list.clone(),
        ])]);
        let resp3 = Value::Map(vec![(Value::BulkString(b"k".to_vec()), list)]);
        for reply in [resp2, resp3] {
            assert_eq!(
                stream_entries(&reply),
                [
                    ("1-0".to_owned(), b"a".to_vec()),
                    ("2-0".to_owned(), b"b".to_vec())
                ]
            );
        }
        assert!(stream_entries(&Value::Nil).is_empty());
    }
}
