//! The message log: on SQLite, a message is acknowledged once it is appended to a log
//! file and synced, and SQLite is brought up to date behind it in larger transactions.
//!
//! Why: a SQLite commit costs the pages it touches, and a batch of messages from many
//! conversations touches a leaf of every conversation-keyed index for each of them, so
//! each commit writes about a megabyte to SQLite's WAL however small the batch. A log
//! append writes only the new records. The acknowledgement keeps its meaning (the message
//! survives a crash or a power cut: the log is synced before it) and SQLite takes the
//! messages in as few, large transactions as keep up with the load.
//!
//! Invariants:
//! - Ids are given here, in log order; the log, SQLite and live delivery agree on them.
//! - A message leaves the pending queue only after the SQLite transaction holding it has
//!   committed, so every acknowledged message is always in the queue or in SQLite (which
//!   is what makes the duplicate check, queue first and SQLite second, exact).
//! - Every read waits until SQLite holds what was acknowledged when the read began, so
//!   history never misses an acknowledged message.
//! - On open, whatever the log holds beyond SQLite's newest id is written to SQLite
//!   before anything else happens; the log is then emptied.
//! - One process at a time: the folder is locked while a store has it open.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use tokio::sync::{watch, Notify};

use crate::error::{Error, Result};
use crate::messages::{Appended, Conversation, Message, NewMessage};
use crate::store::{MessageStore, SqlStore};
use crate::users::UserId;

mod client_ids;
mod segment;

use client_ids::ClientIds;

/// How large the log and its queue may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// A segment past this size is closed and a new one started; closed segments are
    /// deleted once SQLite holds all they hold.
    pub segment_bytes: u64,
    /// Messages acknowledged but not yet in SQLite; past it (or past `pending_bytes`)
    /// appends wait for SQLite to catch up.
    pub pending_messages: usize,
    /// Text bytes of those messages.
    pub pending_bytes: usize,
    /// Most messages written to SQLite in one transaction.
    pub apply_batch: usize,
    /// How long acknowledged messages gather before they are written to SQLite, unless a
    /// read waits for them or a whole batch is waiting: fewer, larger transactions cost
    /// SQLite far less (a commit's cost is the pages it touches, not its rows).
    pub apply_delay: Duration,
    /// Client ids the filter that spares most look-ups is made for at least; a larger one
    /// replaces it when it fills.
    pub client_id_filter: usize,
}

impl Default for LogLimits {
    fn default() -> Self {
        Self {
            segment_bytes: 64 * 1024 * 1024,
            pending_messages: 32_768,
            pending_bytes: 32 * 1024 * 1024,
            apply_batch: 4096,
            apply_delay: Duration::from_millis(100),
            client_id_filter: client_ids::MIN_CAPACITY,
        }
    }
}

/// Message history on SQLite behind an append-only log.
pub struct LoggedMessages {
    shared: Arc<Shared>,
    /// Wakes the task that writes the queue to SQLite.
    wake: Arc<Notify>,
    /// Tells that task not to wait for more: someone waits for what is queued.
    urgent: Arc<Notify>,
}

impl std::fmt::Debug for LoggedMessages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggedMessages")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

struct Shared {
    sql: Arc<SqlStore>,
    dir: PathBuf,
    limits: LogLimits,
    /// The segment being appended to; held for the whole of an append, so appends (and
    /// the ids they give) go one at a time.
    tail: tokio::sync::Mutex<Tail>,
    pending: Mutex<Pending>,
    /// Segments no longer appended to: (first id, last id, path).
    closed: Mutex<VecDeque<(i64, i64, PathBuf)>>,
    /// The newest id acknowledged (in the log).
    logged: AtomicI64,
    /// The newest id SQLite holds.
    applied: watch::Sender<i64>,
    /// Wakes appends waiting for room in the queue.
    room: Notify,
    /// Client ids looked up in SQLite (those the filter could not call new).
    looked_up: AtomicU64,
    /// Held open for the lock on the folder.
    _lock: File,
}

struct Tail {
    file: Arc<File>,
    first: i64,
    /// Where the records end.
    len: u64,
    /// How far the file is zero-filled ahead of them.
    allocated: u64,
    next_id: i64,
}

impl Tail {
    fn new(file: File, first: i64) -> Self {
        let start = segment::MAGIC.len() as u64;
        Self {
            file: Arc::new(file),
            first,
            len: start,
            allocated: start,
            next_id: first,
        }
    }
}

struct Pending {
    messages: VecDeque<Message>,
    by_client: HashMap<(UserId, String), Message>,
    bytes: usize,
    /// Every (sender, client id) stored, as a filter: those it calls new need no look-up.
    client_ids: ClientIds,
}

impl Pending {
    fn has_room(&self, limits: &LogLimits) -> bool {
        self.messages.len() < limits.pending_messages && self.bytes < limits.pending_bytes
    }
}

/// Where each message of a batch ends up.
enum Slot {
    /// Stored before: that message.
    Stored(Message),
    /// The same client id came earlier in this batch, at this index.
    SameAs(usize),
    /// New.
    Fresh,
}

impl LoggedMessages {
    /// Opens the log in `dir` (created if missing) in front of `sql`, first writing to
    /// SQLite whatever an earlier run acknowledged and SQLite does not hold yet.
    pub async fn open(sql: Arc<SqlStore>, dir: &Path, limits: LogLimits) -> anyhow::Result<Self> {
        let lock = lock(dir)?;
        let recovered = replay(&sql, dir).await?;
        if recovered > 0 {
            tracing::info!(messages = recovered, dir = %dir.display(), "replayed the message log into SQLite");
        }
        let newest = sql.newest_message_id().await?;
        let first = newest + 1;
        let file = spawn_io({
            let dir = dir.to_owned();
            move || segment::create(&dir, first)
        })
        .await?;
        let (applied, _) = watch::channel(newest);
        let shared = Arc::new(Shared {
            sql,
            dir: dir.to_owned(),
            limits,
            tail: tokio::sync::Mutex::new(Tail::new(file, first)),
            pending: Mutex::new(Pending {
                messages: VecDeque::new(),
                by_client: HashMap::new(),
                bytes: 0,
                client_ids: ClientIds::off(0),
            }),
            closed: Mutex::new(VecDeque::new()),
            logged: AtomicI64::new(newest),
            applied,
            room: Notify::new(),
            looked_up: AtomicU64::new(0),
            _lock: lock,
        });
        // The ids SQLite has given bound how many client ids it holds.
        renew_client_ids(&shared, &mut shared.pending(), newest.max(0) as usize);
        let (wake, urgent) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        tokio::spawn(apply(Arc::downgrade(&shared), wake.clone(), urgent.clone()));
        Ok(Self {
            shared,
            wake,
            urgent,
        })
    }

    /// Waits until SQLite holds every message acknowledged before this call.
    async fn caught_up(&self) -> Result<()> {
        let target = self.shared.logged.load(Ordering::Acquire);
        let mut applied = self.shared.applied.subscribe();
        if *applied.borrow() < target {
            self.urgent.notify_one();
        }
        applied
            .wait_for(|applied| *applied >= target)
            .await
            .map_err(|_| anyhow::anyhow!("the message log closed"))?;
        Ok(())
    }

    /// Waits while the queue of messages not yet in SQLite is full.
    async fn room(&self) {
        loop {
            let notified = self.shared.room.notified();
            if self.shared.pending().has_room(&self.shared.limits) {
                return;
            }
            self.urgent.notify_one();
            notified.await;
        }
    }
}

impl Drop for LoggedMessages {
    fn drop(&mut self) {
        // The apply task holds only a weak reference: woken, it finds the store gone and
        // ends. What it had not written stays in the log for the next open.
        self.wake.notify_one();
        self.urgent.notify_one();
    }
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn closed(&self) -> std::sync::MutexGuard<'_, VecDeque<(i64, i64, PathBuf)>> {
        self.closed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Where each message of `batch` goes: stored before (in the queue or in SQLite),
    /// the same as an earlier one of the batch, or new.
    async fn sort(&self, batch: &[NewMessage]) -> Result<Vec<Slot>> {
        let mut slots = Vec::with_capacity(batch.len());
        let mut ask_sql: Vec<(UserId, &str)> = Vec::new();
        {
            // The queue first, SQLite second: a message leaves the queue only once SQLite
            // has it, so one of the two looks finds every stored message.
            let pending = self.pending();
            for message in batch {
                let old = message
                    .client_id
                    .as_ref()
                    .and_then(|c| pending.by_client.get(&(message.sender, c.clone())));
                match (old, message.client_id.as_deref()) {
                    (Some(old), _) => slots.push(Slot::Stored(old.clone())),
                    (None, Some(client_id)) => {
                        if pending.client_ids.may_hold(message.sender, client_id) {
                            ask_sql.push((message.sender, client_id));
                        }
                        slots.push(Slot::Fresh);
                    }
                    (None, None) => slots.push(Slot::Fresh),
                }
            }
        }
        let stored = if ask_sql.is_empty() {
            HashMap::new()
        } else {
            self.looked_up
                .fetch_add(ask_sql.len() as u64, Ordering::Relaxed);
            self.sql.find_by_client_ids(&ask_sql).await?
        };
        let mut first_in_batch: HashMap<(UserId, &str), usize> = HashMap::new();
        for (index, (message, slot)) in batch.iter().zip(slots.iter_mut()).enumerate() {
            let (Slot::Fresh, Some(client_id)) = (&slot, message.client_id.as_deref()) else {
                continue;
            };
            if let Some(old) = stored.get(&(message.sender, client_id.to_owned())) {
                *slot = Slot::Stored(old.clone());
            } else if let Some(&earlier) = first_in_batch.get(&(message.sender, client_id)) {
                *slot = Slot::SameAs(earlier);
            } else {
                first_in_batch.insert((message.sender, client_id), index);
            }
        }
        Ok(slots)
    }

    /// Closes the tail segment (cut to its records) and starts a new one whose first id is
    /// `first`. The old one is cut first: until the new one exists it is still the newest,
    /// the only one allowed to end in anything but records.
    async fn rotate(&self, tail: &mut Tail, first: i64) -> anyhow::Result<()> {
        let (old_file, len) = (tail.file.clone(), tail.len);
        let file = spawn_io({
            let dir = self.dir.clone();
            move || {
                segment::close(&old_file, len).context("closing a message log segment")?;
                segment::create(&dir, first)
            }
        })
        .await?;
        let old = std::mem::replace(tail, Tail::new(file, first));
        self.closed().push_back((
            old.first,
            old.next_id - 1,
            segment::path(&self.dir, old.first),
        ));
        Ok(())
    }

    /// Deletes the closed segments SQLite now holds all of.
    fn drop_applied_segments(&self, applied: i64) {
        let mut closed = self.closed();
        while let Some((_, last, path)) = closed.front() {
            if *last > applied {
                break;
            }
            if let Err(err) = std::fs::remove_file(path) {
                tracing::warn!(error = %err, path = %path.display(), "deleting an applied log segment failed");
            }
            closed.pop_front();
        }
    }
}

#[async_trait]
impl MessageStore for LoggedMessages {
    async fn append(&self, message: NewMessage) -> Result<Appended> {
        self.append_batch(vec![message])
            .await?
            .pop()
            .ok_or_else(|| anyhow::anyhow!("a batch of one stored nothing").into())
    }

    async fn append_batch(&self, batch: Vec<NewMessage>) -> Result<Vec<Appended>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.room().await;
        // The append runs as a task of its own: a caller that gives up (the writer's
        // deadline) must not stop it between writing the records and taking note of them,
        // which would leave ids given twice, or a segment half rotated.
        let (shared, wake, urgent) = (self.shared.clone(), self.wake.clone(), self.urgent.clone());
        tokio::spawn(async move { append_now(&shared, batch, &wake, &urgent).await })
            .await
            .map_err(|err| {
                Error::Internal(anyhow::anyhow!("appending to the message log: {err}"))
            })?
    }

    async fn after(
        &self,
        conversation: &Conversation,
        after_ms: i64,
        above_id: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        self.caught_up().await?;
        self.shared
            .sql
            .after(conversation, after_ms, above_id, limit)
            .await
    }

    async fn before(
        &self,
        conversation: &Conversation,
        before_id: i64,
        above_id: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        self.caught_up().await?;
        self.shared
            .sql
            .before(conversation, before_id, above_id, limit)
            .await
    }

    async fn unread(
        &self,
        conversation: &Conversation,
        reader: UserId,
        limit: u32,
    ) -> Result<Vec<Message>> {
        self.caught_up().await?;
        self.shared.sql.unread(conversation, reader, limit).await
    }

    async fn mark_read(
        &self,
        conversation: &Conversation,
        reader: UserId,
        up_to: i64,
    ) -> Result<bool> {
        self.caught_up().await?;
        self.shared.sql.mark_read(conversation, reader, up_to).await
    }

    async fn purge_before(&self, cutoff_ms: i64) -> Result<u64> {
        self.caught_up().await?;
        self.shared.sql.purge_before(cutoff_ms).await
    }

    async fn settle(&self) -> Result<()> {
        self.caught_up().await
    }
}

/// Appends a batch: gives the new messages their ids, writes and syncs their records, and
/// queues them for SQLite. One at a time (the tail's lock).
async fn append_now(
    shared: &Arc<Shared>,
    batch: Vec<NewMessage>,
    wake: &Notify,
    urgent: &Notify,
) -> Result<Vec<Appended>> {
    let mut tail = shared.tail.lock().await;
    let slots = shared.sort(&batch).await?;
    let fresh = slots.iter().filter(|s| matches!(s, Slot::Fresh)).count();
    if fresh > 0 && tail.len >= shared.limits.segment_bytes {
        let first = tail.next_id;
        shared
            .rotate(&mut tail, first)
            .await
            .map_err(|err| Error::Internal(err.context("starting a message log segment")))?;
    }

    let mut next_id = tail.next_id;
    let mut records = Vec::with_capacity(fresh * 160);
    let mut appended: Vec<Appended> = Vec::with_capacity(batch.len());
    let mut new_messages = Vec::with_capacity(fresh);
    for (message, slot) in batch.into_iter().zip(slots) {
        let done = match slot {
            Slot::Stored(old) => Appended {
                message: old,
                duplicate: true,
            },
            Slot::SameAs(earlier) => Appended {
                message: appended[earlier].message.clone(),
                duplicate: true,
            },
            Slot::Fresh => {
                let message = message.stored_as(next_id);
                next_id += 1;
                segment::encode(&message, &mut records).map_err(Error::Internal)?;
                new_messages.push(message.clone());
                Appended {
                    message,
                    duplicate: false,
                }
            }
        };
        appended.push(done);
    }
    if new_messages.is_empty() {
        return Ok(appended);
    }

    let (file, len, allocated) = (tail.file.clone(), tail.len, tail.allocated);
    let written = records.len() as u64;
    tail.allocated = spawn_io(move || {
        segment::append(&file, len, allocated, &records).context("appending to the message log")
    })
    .await
    .map_err(Error::Internal)?;
    tail.len += written;
    tail.next_id = next_id;
    let newest = next_id - 1;
    let full = {
        let mut pending = shared.pending();
        for message in new_messages {
            pending.bytes += message.content.len();
            if let Some(client_id) = message.client_id.clone() {
                pending.client_ids.insert(message.sender, &client_id);
                pending
                    .by_client
                    .insert((message.sender, client_id), message.clone());
            }
            pending.messages.push_back(message);
        }
        if pending.client_ids.outgrown() {
            let stored = pending.client_ids.len();
            renew_client_ids(shared, &mut pending, stored);
        }
        pending.messages.len() >= shared.limits.apply_batch
    };
    shared.logged.store(newest, Ordering::Release);
    wake.notify_one();
    if full {
        urgent.notify_one();
    }
    Ok(appended)
}

/// Writes the queue to SQLite, oldest first, as long as the store is open.
async fn apply(shared: Weak<Shared>, wake: Arc<Notify>, urgent: Arc<Notify>) {
    loop {
        let notified = wake.notified();
        let waiting = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let waiting = shared.pending().messages.len();
            (waiting > 0).then(|| {
                (
                    waiting >= shared.limits.apply_batch,
                    shared.limits.apply_delay,
                )
            })
        };
        let Some((full, delay)) = waiting else {
            notified.await;
            continue;
        };
        if !full {
            // Let more gather, unless someone is waiting for what is queued.
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = urgent.notified() => {}
            }
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let batch: Vec<Message> = shared
            .pending()
            .messages
            .iter()
            .take(shared.limits.apply_batch)
            .cloned()
            .collect();
        let Some(last) = batch.last().map(|m| m.id) else {
            continue;
        };
        if let Err(err) = shared.sql.insert_stored(&batch).await {
            // Acknowledged messages are safe in the log; reads wait (and time out) until
            // this succeeds, appends until the queue is full.
            tracing::error!(error = %err, messages = batch.len(), "writing the message log to SQLite failed; retrying");
            drop(shared);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        {
            let mut pending = shared.pending();
            for _ in 0..batch.len() {
                let Some(message) = pending.messages.pop_front() else {
                    break;
                };
                pending.bytes = pending.bytes.saturating_sub(message.content.len());
                if let Some(client_id) = message.client_id {
                    pending.by_client.remove(&(message.sender, client_id));
                }
            }
        }
        shared.applied.send_replace(last);
        shared.room.notify_waiters();
        shared.drop_applied_segments(last);
    }
}

/// Client ids read from SQLite per query while a filter is built.
const CLIENT_ID_SCAN: u32 = 10_000;

/// Replaces the client-id filter with a new one for about `stored` pairs (or with none,
/// past its largest size) and starts reading SQLite's pairs into it. The new filter takes
/// the queue's pairs at once, and every append's from now on.
fn renew_client_ids(shared: &Arc<Shared>, pending: &mut Pending, stored: usize) {
    let generation = pending.client_ids.generation() + 1;
    let Some(capacity) = ClientIds::capacity_for(stored, shared.limits.client_id_filter) else {
        tracing::info!(
            stored,
            "too many client ids for a filter: each is looked up in SQLite"
        );
        pending.client_ids = ClientIds::off(generation);
        return;
    };
    let mut ids = ClientIds::building(capacity, generation);
    for message in &pending.messages {
        if let Some(client_id) = &message.client_id {
            ids.insert(message.sender, client_id);
        }
    }
    pending.client_ids = ids;
    tokio::spawn(read_client_ids(Arc::downgrade(shared), generation));
}

/// Reads every (sender, client id) SQLite holds into the filter of `generation`, oldest
/// first, and marks it built; gives up when the store closes or a newer filter replaced it.
async fn read_client_ids(shared: Weak<Shared>, generation: u64) {
    let mut after = 0;
    loop {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let rows = match shared.sql.client_ids_after(after, CLIENT_ID_SCAN).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err, "reading client ids for the filter failed; retrying");
                drop(shared);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let more = {
            let mut pending = shared.pending();
            if pending.client_ids.generation() != generation {
                return;
            }
            for (_, sender, client_id) in &rows {
                pending.client_ids.insert(*sender, client_id);
            }
            match rows.last() {
                Some((last, _, _)) if rows.len() == CLIENT_ID_SCAN as usize => Some(*last),
                _ => {
                    pending.client_ids.built();
                    None
                }
            }
        };
        let Some(last) = more else {
            return;
        };
        after = last;
        drop(shared);
        tokio::task::yield_now().await;
    }
}

/// Takes the lock on the log folder `dir`, creating it if needed.
fn lock(dir: &Path) -> anyhow::Result<File> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "the message log in {} is in use by another process (is the server already running on this data folder?)",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// Writes what the log in `dir` holds beyond SQLite's newest id to SQLite, then deletes
/// the segments. Returns how many messages it wrote. The caller holds the folder's lock.
async fn replay(sql: &SqlStore, dir: &Path) -> anyhow::Result<usize> {
    let segments = segment::list(dir)?;
    if segments.is_empty() {
        return Ok(0);
    }
    let newest = sql.newest_message_id().await?;
    let count = segments.len();
    let mut written = 0;
    for (index, (_, path)) in segments.iter().enumerate() {
        let contents = spawn_io({
            let path = path.clone();
            move || segment::read(&path)
        })
        .await?;
        if contents.torn() {
            // Only the newest segment can end in a record a crash cut short; anywhere
            // else it is damage that would lose acknowledged messages silently.
            anyhow::ensure!(
                index + 1 == count,
                "the message log segment {} is damaged at byte {} and is not the newest: \
                 move it aside to start (its messages after that point would be lost)",
                path.display(),
                contents.valid_len
            );
            tracing::warn!(
                path = %path.display(),
                bytes = contents.file_len - contents.valid_len,
                "the message log ends in a record cut short (never acknowledged); dropped"
            );
        }
        let todo: Vec<Message> = contents
            .messages
            .into_iter()
            .filter(|m| m.id > newest)
            .collect();
        for chunk in todo.chunks(LogLimits::default().apply_batch) {
            sql.insert_stored(chunk).await?;
            written += chunk.len();
        }
    }
    for (_, path) in &segments {
        std::fs::remove_file(path).with_context(|| format!("deleting {}", path.display()))?;
    }
    spawn_io({
        let dir = dir.to_owned();
        move || segment::sync_dir(&dir)
    })
    .await?;
    Ok(written)
}

/// Replays and empties the log in `dir`, if there is one, without keeping it open: for a
/// server started with the log turned off after a run with it on.
pub async fn replay_if_present(sql: &SqlStore, dir: &Path) -> anyhow::Result<usize> {
    if !dir.is_dir() {
        return Ok(0);
    }
    let _lock = lock(dir)?;
    replay(sql, dir).await
}

/// Runs blocking file work off the async threads.
async fn spawn_io<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .context("file work on the blocking pool")?
}

#[cfg(test)]
mod tests;
