//! The message writer: group commit. Every socket hands its messages to one writer task
//! per store, which takes whatever is waiting (up to a count and a size) and stores it with
//! one [`MessageStore::append_batch`]: one transaction and one fsync for the lot, instead
//! of one each. Each message's sender is answered only once its batch is durable.
//!
//! After a commit the writer publishes the new messages on the bus in id order, so live
//! delivery follows the store's order. A batch that fails answers every one of its
//! messages with [`Error::NotStored`]: nothing of it was kept, and each can be sent again.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::bus::{Bus, Event, SocketRef};
use crate::error::{Error, Result};
use crate::messages::{Appended, Conversation, NewMessage};
use crate::metrics::StoreStats;
use crate::store::MessageStore;

/// How large a batch may grow, and how many messages may wait for the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most messages in one batch.
    pub max_messages: usize,
    /// Most text bytes in one batch (a batch always takes at least one message).
    pub max_bytes: usize,
    /// Messages waiting for the writer; past it a sender waits (backpressure).
    pub queue: usize,
    /// How long one store call (a history query) may take, and how long a message may
    /// wait, from being handed in, for its batch to be stored; past it the message is
    /// answered with [`Error::NotStored`].
    pub store_timeout: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_messages: 256,
            max_bytes: 1024 * 1024,
            queue: 4096,
            store_timeout: Duration::from_secs(10),
        }
    }
}

/// A message waiting to be stored, and where its answer goes.
struct Job {
    message: NewMessage,
    origin: Option<SocketRef>,
    reply: oneshot::Sender<Result<Appended>>,
    /// When it was handed in: its sender is answered within the store timeout of this.
    queued: Instant,
}

/// The handle of a writer task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    stats: Arc<StoreStats>,
}

/// A message handed to the writer: its place in the order is taken, its answer comes
/// once its batch is committed.
#[derive(Debug)]
pub struct Commit(oneshot::Receiver<Result<Appended>>);

impl Commit {
    /// Waits until the message is durable (or its batch failed).
    pub async fn stored(self) -> Result<Appended> {
        self.0.await.unwrap_or(Err(Error::NotStored(
            "the server stopped before storing the message: send it again",
        )))
    }
}

impl Writer {
    /// Starts the writer task of `store`; stored messages are published on `bus`. The
    /// task ends when the last handle is dropped, after storing what was handed to it.
    pub fn start(store: Arc<dyn MessageStore>, bus: Arc<dyn Bus>, limits: BatchLimits) -> Self {
        let (jobs, rx) = mpsc::channel(limits.queue.max(1));
        let stats = Arc::new(StoreStats::default());
        tokio::spawn(run(rx, store, bus, limits, stats.clone()));
        Self { jobs, stats }
    }

    /// The latency and size of the writer's commits.
    pub fn stats(&self) -> &Arc<StoreStats> {
        &self.stats
    }

    /// Hands a message to the writer, waiting while its queue is full. Messages handed in
    /// by one caller are stored in the order they were handed in.
    pub async fn submit(&self, message: NewMessage, origin: Option<SocketRef>) -> Result<Commit> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                message,
                origin,
                reply,
                queued: Instant::now(),
            })
            .await
            .map_err(|_| Error::NotStored("the server is stopping: send it again"))?;
        Ok(Commit(answer))
    }
}

/// Senders waiting on a batch: where each message came from and where its answer goes.
type Waiting = Vec<(Option<SocketRef>, oneshot::Sender<Result<Appended>>)>;

async fn run(
    mut rx: mpsc::Receiver<Job>,
    store: Arc<dyn MessageStore>,
    bus: Arc<dyn Bus>,
    limits: BatchLimits,
    stats: Arc<StoreStats>,
) {
    let mut published = Published::default();
    while let Some(first) = rx.recv().await {
        // The batch's oldest message sets its deadline. Counting from the start of the
        // commit instead would let a message that arrived while the previous batch hung on
        // a stalled database wait for that batch's timeout and then for its own: twice the
        // timeout before its sender hears anything.
        let deadline = first.queued + limits.store_timeout;
        let mut batch = Vec::with_capacity(limits.max_messages.min(64));
        let mut waiting: Waiting = Vec::with_capacity(batch.capacity());
        let mut bytes = 0;
        let mut next = Some(first);
        // Whatever arrived while the previous batch was being committed joins this one.
        while let Some(job) = next.take() {
            bytes += job.message.content.len();
            batch.push(job.message);
            waiting.push((job.origin, job.reply));
            if batch.len() < limits.max_messages && bytes < limits.max_bytes {
                next = rx.try_recv().ok();
            }
        }
        stats.batch.observe(batch.len() as u64);
        let started = std::time::Instant::now();
        let limits = (store.as_ref(), bus.as_ref(), deadline);
        if !commit(batch, waiting, limits, &mut published).await {
            stats.failed();
        }
        stats.commit.observe_duration(started.elapsed());
    }
}

/// How many ids of recently published messages the writer remembers.
const REMEMBER_PUBLISHED: usize = 65_536;

/// The ids this writer published lately: a resend of one of them was delivered already.
#[derive(Debug, Default)]
struct Published {
    order: std::collections::VecDeque<i64>,
    ids: std::collections::HashSet<i64>,
}

impl Published {
    fn contains(&self, id: i64) -> bool {
        self.ids.contains(&id)
    }

    fn remember(&mut self, id: i64) {
        if self.ids.insert(id) {
            self.order.push_back(id);
            if self.order.len() > REMEMBER_PUBLISHED {
                if let Some(old) = self.order.pop_front() {
                    self.ids.remove(&old);
                }
            }
        }
    }
}

/// Stores one batch, publishes what is new, and answers every sender in it; false when
/// the batch was refused.
async fn commit(
    batch: Vec<NewMessage>,
    waiting: Waiting,
    (store, bus, deadline): (&dyn MessageStore, &dyn Bus, Instant),
    published: &mut Published,
) -> bool {
    let count = batch.len();
    let started = std::time::Instant::now();
    // A stalled database link must not hold every sender: past the deadline the batch is
    // refused out loud. Its transaction may still commit later; a resend with the same
    // client_id then finds the stored message (and publishes it, see `to_publish`). A batch
    // whose deadline passed while it waited is refused without asking the store at all.
    let in_time = if Instant::now() < deadline {
        tokio::time::timeout_at(deadline, store.append_batch(batch))
            .await
            .ok()
    } else {
        None
    };
    let Some(stored) = in_time else {
        tracing::error!(
            messages = count,
            storing = ?started.elapsed(),
            "storing a batch timed out; each of its messages is refused"
        );
        refuse(
            waiting,
            "the database did not answer in time: send it again",
        );
        return false;
    };
    tracing::debug!(
        messages = count,
        micros = started.elapsed().as_micros() as u64,
        "committed a batch"
    );
    match stored {
        Ok(appended) if appended.len() == count => {
            let origins = waiting.iter().map(|(origin, _)| *origin);
            let events = to_publish(origins, &appended, published);
            for event in &events {
                if let Event::Direct { message, .. } | Event::Group { message, .. } = event {
                    published.remember(message.id);
                }
            }
            publish(bus, events).await;
            for ((_, reply), stored) in waiting.into_iter().zip(appended) {
                // A sender that went away meanwhile finds its message in history.
                let _ = reply.send(Ok(stored));
            }
            true
        }
        Ok(appended) => {
            tracing::error!(
                expected = count,
                got = appended.len(),
                "the store answered a batch with the wrong number of messages"
            );
            refuse(waiting, NOT_STORED);
            false
        }
        Err(err) => {
            tracing::error!(error = %err, messages = count, "storing a batch failed; each of its messages is refused");
            refuse(waiting, NOT_STORED);
            false
        }
    }
}

/// The events of a committed batch: every new message, and every resend of a message
/// this writer has not published itself. Such a resend follows a failure (a node killed
/// between its commit and its publish, or a resend to another node after a lost ack), so
/// whether the original reached its recipients is unknown: it is published again, with
/// its original id, and clients that already have it recognise it by that id. A resend of
/// a message this writer published (in this batch or lately) is not.
fn to_publish(
    origins: impl Iterator<Item = Option<SocketRef>>,
    appended: &[Appended],
    published: &Published,
) -> Vec<Event> {
    let fresh: std::collections::HashSet<i64> = appended
        .iter()
        .filter(|a| !a.duplicate)
        .map(|a| a.message.id)
        .collect();
    let mut again = std::collections::HashSet::new();
    origins
        .zip(appended)
        .filter(|(_, stored)| {
            !stored.duplicate
                || (!fresh.contains(&stored.message.id)
                    && !published.contains(stored.message.id)
                    && again.insert(stored.message.id))
        })
        .map(|(origin, stored)| event(stored, origin))
        .collect()
}

/// Why a failed batch's messages are refused.
const NOT_STORED: &str = "the message could not be stored: send it again";

fn refuse(waiting: Waiting, why: &'static str) {
    for (_, reply) in waiting {
        let _ = reply.send(Err(Error::NotStored(why)));
    }
}

fn event(stored: &Appended, origin: Option<SocketRef>) -> Event {
    let message = stored.message.clone();
    match message.conversation {
        Conversation::Direct(..) => Event::Direct { message, origin },
        Conversation::Group(_) => Event::Group { message, origin },
    }
}

/// Publishes in order. The events are stored and acknowledged whatever happens here: a
/// failed publish costs live delivery only, and the recipients find them in history.
async fn publish(bus: &dyn Bus, events: Vec<Event>) {
    // Started in order and awaited together, so a remote bus pipelines them.
    let results = futures::future::join_all(events.into_iter().map(|e| bus.publish(e))).await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(err)) = results.into_iter().find(Result::is_err) {
        tracing::warn!(error = %err, failed, "publishing stored messages failed; recipients will find them in history");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::LocalBus;
    use crate::config::DatabaseConfig;
    use crate::store::SqlStore;

    async fn sqlite(dir: &std::path::Path) -> Arc<dyn MessageStore> {
        let store = SqlStore::connect(&DatabaseConfig::default(), dir)
            .await
            .expect("open SQLite");
        store.migrate().await.expect("migrate");
        Arc::new(store)
    }

    fn message(sender: i64, n: usize, client_id: Option<String>) -> NewMessage {
        NewMessage {
            conversation: Conversation::direct(sender, 99),
            sender,
            recipient: Some(99),
            content: format!("message {n}"),
            client_id,
            sent_at: 1_700_000_000_000,
            reply_to: None,
        }
    }

    #[tokio::test]
    async fn concurrent_senders_are_stored_in_order_once_each() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sqlite(dir.path()).await;
        let bus: Arc<dyn Bus> = Arc::new(LocalBus::default());
        let mut heard = bus.subscribe();
        let writer = Writer::start(store.clone(), bus, BatchLimits::default());
        let mut senders = Vec::new();
        for sender in 1..=4_i64 {
            let writer = writer.clone();
            senders.push(tokio::spawn(async move {
                let mut commits = Vec::new();
                for n in 0..50 {
                    // Every tenth is a resend of the one before.
                    let id = format!("c{}", n - usize::from(n % 10 == 9));
                    commits.push(
                        writer
                            .submit(message(sender, n, Some(id)), None)
                            .await
                            .expect("queued"),
                    );
                }
                let mut stored = Vec::new();
                for commit in commits {
                    stored.push(commit.stored().await.expect("stored"));
                }
                stored
            }));
        }
        let mut published = 0;
        for sender in senders {
            let stored = sender.await.expect("sender");
            let fresh: Vec<i64> = stored
                .iter()
                .filter(|a| !a.duplicate)
                .map(|a| a.message.id)
                .collect();
            assert_eq!(fresh.len(), 45);
            assert!(fresh.windows(2).all(|w| w[0] < w[1]), "ids in send order");
            for pair in stored.windows(2) {
                if pair[1].duplicate {
                    assert_eq!(
                        pair[1].message, pair[0].message,
                        "a resend gets the original"
                    );
                }
            }
            published += fresh.len();
        }
        // Every new message is published once, in id order; the resends of messages
        // this writer published are not published again.
        let mut heard_ids = Vec::new();
        while let Ok(event) = heard.try_recv() {
            match event {
                Event::Direct { message, .. } => heard_ids.push(message.id),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            heard_ids.len(),
            published,
            "each new message once, no resend"
        );
        assert!(
            heard_ids.windows(2).all(|w| w[0] < w[1]),
            "published in id order"
        );
    }

    /// A message stored but never published (its node died between the two), resent with
    /// its client id, is acknowledged as a duplicate and published again, once.
    #[tokio::test]
    async fn a_resend_of_an_earlier_message_is_published_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sqlite(dir.path()).await;
        let original = store
            .append(message(1, 0, Some("lost".into())))
            .await
            .expect("stored before the crash");
        let bus: Arc<dyn Bus> = Arc::new(LocalBus::default());
        let mut heard = bus.subscribe();
        let writer = Writer::start(store, bus, BatchLimits::default());
        let mut commits = Vec::new();
        for n in [1, 2] {
            commits.push(
                writer
                    .submit(message(1, n, Some("lost".into())), None)
                    .await
                    .expect("queued"),
            );
        }
        for commit in commits {
            let stored = commit.stored().await.expect("acked");
            assert!(stored.duplicate);
            assert_eq!(stored.message.id, original.message.id);
        }
        match heard.recv().await.expect("published") {
            Event::Direct { message, .. } => {
                assert_eq!(message.id, original.message.id);
                assert_eq!(message.content, "message 0", "the original, not the resend");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            heard.try_recv().is_err(),
            "two resends in one batch publish it once"
        );
    }
}
