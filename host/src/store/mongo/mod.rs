//! The MongoDB backend of message history: one `messages` collection and a shared id counter.
//!
//! Several nodes may write to the same database, so server ids come from one atomic
//! counter document (`counters`, `_id: "messages"`) rather than from anything local. A
//! message is a document keyed by that id; its conversation is stored as
//! [`Conversation::key`] and parsed back when read. De-duplication by the sender's client
//! id rests on a unique partial index, so two nodes racing with the same message still
//! store it once. Old messages expire through a TTL index on `expire_at`, and
//! [`MessageStore::purge_before`] remains for callers that purge by time themselves.
//! Read state is one document per (conversation, reader) in `read_cursors`, holding the
//! largest id the reader has read there, as in SQL (see `sql/messages/read_cursors.rs`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::error::{ErrorKind, WriteError, WriteFailure};
use mongodb::options::{ClientOptions, FindOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

mod changes;
mod conversations;
mod search;

use crate::error::{Error, Result};
use crate::messages::{Appended, Conversation, Message, NewMessage};
use crate::store::MessageStore;
use crate::users::UserId;

/// The server's code for a unique-index violation.
const DUPLICATE_KEY: i32 = 11000;

/// The server's codes for dropping an index, or from a collection, that does not exist.
const INDEX_NOT_FOUND: i32 = 27;
const NAMESPACE_NOT_FOUND: i32 = 26;

/// The index of the read flags that messages carried before read cursors.
const FLAG_INDEX: &str = "conv_unread";

/// How many times allocating an id is tried when the counter's upsert comes back without
/// a value (two first-ever upserts colliding).
const COUNTER_ATTEMPTS: usize = 3;

const MS_PER_DAY: i64 = 86_400_000;

/// Messages deleted at a time by a purge.
const PURGE_CHUNK: i64 = 10_000;

/// Message history in a MongoDB database.
#[derive(Debug, Clone)]
pub struct MongoMessages {
    database: Database,
    messages: Collection<StoredMessage>,
    counters: Collection<Document>,
    read_cursors: Collection<ReadCursor>,
    retention_days: u32,
}

/// How far one reader has read one conversation: every message to them there with an id
/// up to `read_up_to` is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ReadCursor {
    /// [`ReadCursor::id_of`] the two fields below.
    #[serde(rename = "_id")]
    id: String,
    conv: String,
    reader: i64,
    read_up_to: i64,
}

impl ReadCursor {
    /// The document id of `reader`'s cursor in the conversation with key `conv`: one key
    /// per pair, so finding or moving a cursor goes through the `_id` index alone.
    fn id_of(conv: &str, reader: UserId) -> String {
        format!("{conv}/{reader}")
    }
}

/// A message as stored: the field names are the collection's schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredMessage {
    #[serde(rename = "_id")]
    id: i64,
    conv: String,
    sender: i64,
    recipient: Option<i64>,
    content: String,
    // Absent rather than null when the client gave none: the unique index is partial on
    // `$exists`, and null would make every id-less message of a sender collide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    sent_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply_to: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    edited_at: Option<i64>,
    // Documents stored before read cursors also carry a `read` flag, which is ignored.
    // Absent when retention is off, so the TTL index leaves the message alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expire_at: Option<DateTime>,
}

impl StoredMessage {
    fn new(id: i64, message: NewMessage, retention_days: u32) -> Self {
        let expire_at = (retention_days > 0).then(|| {
            let keep = i64::from(retention_days).saturating_mul(MS_PER_DAY);
            DateTime::from_millis(message.sent_at.saturating_add(keep))
        });
        Self {
            id,
            conv: message.conversation.key(),
            sender: message.sender,
            recipient: message.recipient,
            content: message.content,
            client_id: message.client_id,
            sent_at: message.sent_at,
            reply_to: message.reply_to,
            edited_at: None,
            expire_at,
        }
    }

    /// The message, its `read` flag not yet set from the cursors.
    fn into_message(self) -> Result<Message> {
        let conversation = Conversation::from_key(&self.conv).with_context(|| {
            format!(
                "message {} has a malformed conversation key {:?}",
                self.id, self.conv
            )
        })?;
        Ok(Message {
            id: self.id,
            conversation,
            sender: self.sender,
            recipient: self.recipient,
            content: self.content,
            client_id: self.client_id,
            sent_at: self.sent_at,
            read: false,
            reply_to: self.reply_to,
            edited_at: self.edited_at,
        })
    }
}

/// Whether the server answered with this error code.
fn has_code(err: &mongodb::error::Error, wanted: i32) -> bool {
    matches!(err.kind.as_ref(), ErrorKind::Command(command) if command.code == wanted)
}

/// Whether the server refused a write because a unique index already holds the key.
fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(WriteError { code, .. })) => {
            *code == DUPLICATE_KEY
        }
        ErrorKind::Command(command) => command.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(failure) => failure
            .write_errors
            .iter()
            .flatten()
            .any(|e| e.code == DUPLICATE_KEY),
        _ => false,
    }
}

/// A counter value as an `i64`, whichever integer width the server chose to store.
fn as_i64(value: Option<&Bson>) -> Option<i64> {
    match value? {
        Bson::Int64(v) => Some(*v),
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Double(v) if v.fract() == 0.0 => Some(*v as i64),
        _ => None,
    }
}

impl MongoMessages {
    /// Connects to `url`, uses `database`, and creates the indexes (idempotent). With
    /// `retention_days` above zero, each message carries an `expire_at` that many days after
    /// it was sent and the server deletes it then; zero keeps messages until purged.
    pub async fn connect(url: &str, database: &str, retention_days: u32) -> anyhow::Result<Self> {
        let mut options = ClientOptions::parse(url)
            .await
            .context("parsing the MongoDB URL")?;
        options.app_name.get_or_insert_with(|| "confab".to_owned());
        // Fail start-up in seconds rather than the driver's 30 when the server is down.
        options
            .server_selection_timeout
            .get_or_insert(Duration::from_secs(10));
        let hosts = options
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let client = Client::with_options(options).context("configuring the MongoDB client")?;
        let database = client.database(database);
        let store = Self {
            messages: database.collection("messages"),
            counters: database.collection("counters"),
            read_cursors: database.collection("read_cursors"),
            database,
            retention_days,
        };
        let prepare = async {
            store.create_indexes().await?;
            store.create_mention_index().await?;
            store.flags_to_cursors().await?;
            store.seed_counter().await
        };
        prepare
            .await
            .with_context(|| format!("preparing message history on MongoDB at {hosts}"))?;
        Ok(store)
    }

    /// The database in use, for operator tools and tests that inspect the indexes.
    pub fn database(&self) -> &Database {
        &self.database
    }

    async fn create_indexes(&self) -> anyhow::Result<()> {
        let index = |name: &str, keys: Document, mut options: IndexOptions| {
            options.name = Some(name.to_owned());
            IndexModel::builder().keys(keys).options(options).build()
        };
        let indexes = vec![
            // History pages: `after` and `before` walk one conversation in id order.
            index(
                "conv_id",
                doc! { "conv": 1, "_id": 1 },
                IndexOptions::default(),
            ),
            // De-duplication: one message per (sender, client id), enforced by the server
            // so that nodes racing with the same retry still store it once.
            index(
                "sender_client_id",
                doc! { "sender": 1, "client_id": 1 },
                IndexOptions::builder()
                    .unique(true)
                    .partial_filter_expression(doc! { "client_id": { "$exists": true } })
                    .build(),
            ),
            // Retention: the server deletes a message once `expire_at` has passed.
            index(
                "expire_at",
                doc! { "expire_at": 1 },
                IndexOptions::builder()
                    .expire_after(Duration::from_secs(0))
                    .build(),
            ),
        ];
        self.messages
            .create_indexes(indexes)
            .await
            .context("creating the indexes of `messages`")?;
        Ok(())
    }

    /// Turns the read flags of a database from before read cursors into cursors, once:
    /// each reader's cursor is the newest message to them flagged read (what they read
    /// was always a prefix), then the flags' index is dropped. That index marks a database
    /// still to convert, so a conversion cut short runs again at the next start, and
    /// running it twice changes nothing.
    async fn flags_to_cursors(&self) -> anyhow::Result<()> {
        let names = self
            .messages
            .list_index_names()
            .await
            .context("listing the indexes of `messages`")?;
        if !names.iter().any(|name| name == FLAG_INDEX) {
            return Ok(());
        }
        let pipeline = vec![
            doc! { "$match": { "read": true, "recipient": { "$ne": null } } },
            doc! { "$group": {
                "_id": { "conv": "$conv", "reader": "$recipient" },
                "read_up_to": { "$max": "$_id" },
            } },
        ];
        let newest: Vec<Document> = self
            .messages
            .aggregate(pipeline)
            .await
            .context("finding the newest read message of each reader")?
            .try_collect()
            .await
            .context("finding the newest read message of each reader")?;
        for found in newest {
            let pair = found
                .get_document("_id")
                .context("a group of read messages has no key")?;
            let conv = pair
                .get_str("conv")
                .context("a read message has no conversation")?;
            let (Some(reader), Some(up_to)) =
                (as_i64(pair.get("reader")), as_i64(found.get("read_up_to")))
            else {
                anyhow::bail!("a read message in {conv} has no integer recipient or id");
            };
            self.advance_cursor(conv, reader, up_to)
                .await
                .context("storing a read cursor")?;
        }
        match self.messages.drop_index(FLAG_INDEX).await {
            // Another node converting at the same time dropped it first.
            Err(err)
                if !has_code(&err, INDEX_NOT_FOUND) && !has_code(&err, NAMESPACE_NOT_FOUND) =>
            {
                Err(anyhow::Error::new(err).context("dropping the index of the read flags"))
            }
            _ => Ok(()),
        }
    }

    /// Moves `reader`'s cursor in `conv` forward to `up_to`, never back; returns whether
    /// it moved.
    async fn advance_cursor(&self, conv: &str, reader: UserId, up_to: i64) -> Result<bool> {
        // Ids start at 1, and no cursor reads as 0: nothing to move.
        if up_to <= 0 {
            return Ok(false);
        }
        let id = ReadCursor::id_of(conv, reader);
        // `$max` leaves a newer cursor as it is; on a new document it sets the field.
        let update = doc! {
            "$max": { "read_up_to": up_to },
            "$setOnInsert": { "conv": conv, "reader": reader },
        };
        let moved = self
            .read_cursors
            .update_one(doc! { "_id": &id }, update.clone())
            .upsert(true)
            .await;
        let result = match moved {
            Ok(result) => result,
            // Two first cursors of the same pair at once: one insert wins, and this one
            // only has to move the winner's document.
            Err(err) if is_duplicate_key(&err) => self
                .read_cursors
                .update_one(doc! { "_id": &id }, update)
                .await
                .context("moving a read cursor")?,
            Err(err) => {
                return Err(Error::Internal(
                    anyhow::Error::new(err).context("moving a read cursor"),
                ))
            }
        };
        Ok(result.modified_count == 1 || result.upserted_id.is_some())
    }

    /// The read cursors of a private conversation, by reader.
    async fn cursors_of(&self, conversation: &Conversation) -> Result<HashMap<UserId, i64>> {
        let Conversation::Direct(a, b) = *conversation else {
            return Ok(HashMap::new());
        };
        let key = conversation.key();
        let ids = [ReadCursor::id_of(&key, a), ReadCursor::id_of(&key, b)];
        let cursors: Vec<ReadCursor> = self
            .read_cursors
            .find(doc! { "_id": { "$in": ids.to_vec() } })
            .await
            .context("reading read cursors")?
            .try_collect()
            .await
            .context("reading read cursors")?;
        Ok(cursors
            .into_iter()
            .map(|cursor| (cursor.reader, cursor.read_up_to))
            .collect())
    }

    /// Sets the `read` flag of each message from the cursors of its conversation: one
    /// query per private conversation among them (a listing has one).
    async fn set_read_flags(&self, messages: &mut [Message]) -> Result<()> {
        let private: HashSet<Conversation> = messages
            .iter()
            .filter(|message| message.recipient.is_some())
            .map(|message| message.conversation)
            .collect();
        let mut cursors = HashMap::with_capacity(private.len());
        for conversation in private {
            cursors.insert(conversation, self.cursors_of(&conversation).await?);
        }
        for message in messages {
            message.read = message
                .recipient
                .zip(cursors.get(&message.conversation))
                .and_then(|(recipient, of_conversation)| of_conversation.get(&recipient))
                .is_some_and(|&cursor| message.id <= cursor);
        }
        Ok(())
    }

    /// Creates the id counter at zero unless it exists. Creating it here, once, rather than
    /// by the first append's upsert keeps concurrent first appends off the path where the
    /// counter (and its collection) is created: SecantusDB answers some of those racing
    /// upserts with no document even though it applied their increment.
    async fn seed_counter(&self) -> anyhow::Result<()> {
        let seeded = self
            .counters
            .update_one(
                doc! { "_id": "messages" },
                doc! { "$setOnInsert": { "seq": 0_i64 } },
            )
            .upsert(true)
            .await;
        match seeded {
            // Another node seeded it at the same moment: the counter exists, which is all
            // that was needed.
            Err(err) if !is_duplicate_key(&err) => {
                Err(anyhow::Error::new(err).context("creating the message id counter"))
            }
            _ => Ok(()),
        }
    }

    /// The next server id. The counter is one document updated atomically, so ids are
    /// unique and increasing across every node sharing the database.
    async fn next_id(&self) -> Result<i64> {
        self.reserve_ids(1).await
    }

    /// Reserves `count` consecutive ids with one update and returns the last of them.
    async fn reserve_ids(&self, count: i64) -> Result<i64> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let counter = self
                .counters
                .find_one_and_update(
                    doc! { "_id": "messages" },
                    doc! { "$inc": { "seq": count } },
                )
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await;
            match counter {
                Ok(Some(counter)) => {
                    return as_i64(counter.get("seq"))
                        .context("the message counter holds no integer `seq`")
                        .map_err(Error::Internal);
                }
                // MongoDB always returns the document of an upsert asked for `After`; a
                // server that does not (see `seed_counter`) may still have counted, so
                // retrying can skip an id but never repeats one.
                Ok(None) if attempt < COUNTER_ATTEMPTS => continue,
                Ok(None) => {
                    return Err(Error::Internal(anyhow::anyhow!(
                        "the message counter upsert returned no document"
                    )))
                }
                // Two nodes creating the counter at once: one insert wins, the other
                // sees a duplicate `_id` and only has to increment the winner's document.
                Err(err) if is_duplicate_key(&err) && attempt < COUNTER_ATTEMPTS => continue,
                Err(err) => {
                    return Err(Error::Internal(
                        anyhow::Error::new(err).context("allocating a message id"),
                    ))
                }
            }
        }
    }

    async fn by_client_id(&self, sender: UserId, client_id: &str) -> Result<Option<Message>> {
        let found = self
            .messages
            .find_one(doc! { "sender": sender, "client_id": client_id })
            .await
            .context("looking up a message by client id")?;
        let Some(found) = found else { return Ok(None) };
        let mut message = found.into_message()?;
        self.set_read_flags(std::slice::from_mut(&mut message))
            .await?;
        Ok(Some(message))
    }

    async fn list(&self, filter: Document, options: FindOptions) -> Result<Vec<Message>> {
        let stored: Vec<StoredMessage> = self
            .messages
            .find(filter)
            .with_options(options)
            .await
            .context("reading messages")?
            .try_collect()
            .await
            .context("reading messages")?;
        let mut messages = stored
            .into_iter()
            .map(StoredMessage::into_message)
            .collect::<Result<Vec<_>>>()?;
        self.set_read_flags(&mut messages).await?;
        Ok(messages)
    }
}

#[async_trait]
impl MessageStore for MongoMessages {
    async fn append(&self, message: NewMessage) -> Result<Appended> {
        let sender = message.sender;
        let client_id = message.client_id.clone();
        // A retry is the common duplicate; finding it first saves allocating an id for it.
        if let Some(client_id) = &client_id {
            if let Some(existing) = self.by_client_id(sender, client_id).await? {
                return Ok(Appended {
                    message: existing,
                    duplicate: true,
                });
            }
        }
        let id = self.next_id().await?;
        let stored = StoredMessage::new(id, message, self.retention_days);
        match self.messages.insert_one(&stored).await {
            Ok(_) => Ok(Appended {
                message: stored.into_message()?,
                duplicate: false,
            }),
            Err(err) if is_duplicate_key(&err) => {
                // Another node stored the same (sender, client id) between our check and
                // our insert; the id allocated here is simply left unused.
                let existing = match &client_id {
                    Some(client_id) => self.by_client_id(sender, client_id).await?,
                    None => None,
                };
                match existing {
                    Some(existing) => Ok(Appended {
                        message: existing,
                        duplicate: true,
                    }),
                    None => Err(Error::Internal(
                        anyhow::Error::new(err).context(format!("storing message {id}")),
                    )),
                }
            }
            Err(err) => Err(Error::Internal(
                anyhow::Error::new(err).context(format!("storing message {id}")),
            )),
        }
    }

    async fn append_batch(&self, batch: Vec<NewMessage>) -> Result<Vec<Appended>> {
        if batch.len() <= 1 {
            let mut appended = Vec::with_capacity(1);
            for message in batch {
                appended.push(self.append(message).await?);
            }
            return Ok(appended);
        }
        // One look-up of every client id in the batch.
        let keyed: Vec<Document> = batch
            .iter()
            .filter_map(|m| {
                m.client_id
                    .as_ref()
                    .map(|c| doc! { "sender": m.sender, "client_id": c })
            })
            .collect();
        let mut stored: std::collections::HashMap<(UserId, String), Message> =
            std::collections::HashMap::new();
        if !keyed.is_empty() {
            let found: Vec<StoredMessage> = self
                .messages
                .find(doc! { "$or": keyed })
                .await
                .context("looking up client ids")?
                .try_collect()
                .await
                .context("looking up client ids")?;
            let mut found = found
                .into_iter()
                .map(StoredMessage::into_message)
                .collect::<Result<Vec<_>>>()?;
            // A resend answers with the stored message as it is now, read or not.
            self.set_read_flags(&mut found).await?;
            for message in found {
                if let Some(client_id) = message.client_id.clone() {
                    stored.insert((message.sender, client_id), message);
                }
            }
        }
        // Where each message goes: already stored, a repeat within the batch, or new.
        let mut first_in_batch: std::collections::HashMap<(UserId, String), usize> =
            std::collections::HashMap::new();
        let mut fresh = 0_i64;
        let mut plan: Vec<std::result::Result<usize, Option<usize>>> = Vec::new();
        for (index, message) in batch.iter().enumerate() {
            let key = message.client_id.clone().map(|c| (message.sender, c));
            match key {
                Some(key) if stored.contains_key(&key) => plan.push(Err(None)),
                Some(key) if first_in_batch.contains_key(&key) => {
                    plan.push(Err(first_in_batch.get(&key).copied()))
                }
                Some(key) => {
                    first_in_batch.insert(key, index);
                    plan.push(Ok(index));
                    fresh += 1;
                }
                None => {
                    plan.push(Ok(index));
                    fresh += 1;
                }
            }
        }
        let last = if fresh > 0 {
            self.reserve_ids(fresh).await?
        } else {
            0
        };
        let mut next = last - fresh + 1;
        let retry = batch.clone();
        let mut documents = Vec::with_capacity(batch.len());
        let mut results: Vec<Option<Appended>> = vec![None; batch.len()];
        for (index, message) in batch.into_iter().enumerate() {
            match plan[index] {
                Ok(_) => {
                    let document = StoredMessage::new(next, message, self.retention_days);
                    next += 1;
                    results[index] = Some(Appended {
                        message: document.clone().into_message()?,
                        duplicate: false,
                    });
                    documents.push(document);
                }
                Err(None) => {
                    let key = (
                        message.sender,
                        message.client_id.clone().unwrap_or_default(),
                    );
                    let old = stored.get(&key).cloned().ok_or_else(|| {
                        anyhow::anyhow!("a stored duplicate vanished from the batch")
                    })?;
                    results[index] = Some(Appended {
                        message: old,
                        duplicate: true,
                    });
                }
                Err(Some(earlier)) => {
                    let first = results[earlier]
                        .as_ref()
                        .map(|a| a.message.clone())
                        .ok_or_else(|| anyhow::anyhow!("a batch repeat came before its first"))?;
                    results[index] = Some(Appended {
                        message: first,
                        duplicate: true,
                    });
                }
            }
        }
        if !documents.is_empty() {
            match self.messages.insert_many(&documents).ordered(true).await {
                Ok(_) => {}
                Err(err) if is_duplicate_key(&err) => {
                    // Another node stored one of these client ids meanwhile. The ordered
                    // insert stopped at it; what went in before it is found as duplicates.
                    let mut appended = Vec::with_capacity(retry.len());
                    for message in retry {
                        appended.push(self.append(message).await?);
                    }
                    return Ok(appended);
                }
                Err(err) => {
                    return Err(Error::Internal(
                        anyhow::Error::new(err).context("storing a batch of messages"),
                    ))
                }
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.ok_or_else(|| anyhow::anyhow!("a message of the batch has no result").into())
            })
            .collect()
    }

    async fn after(
        &self,
        conversation: &Conversation,
        after_ms: i64,
        above_id: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        // MongoDB reads a limit of 0 as "no limit"; SQL's LIMIT 0 returns nothing.
        if limit == 0 {
            return Ok(Vec::new());
        }
        let options = FindOptions::builder()
            .sort(doc! { "_id": 1 })
            .limit(i64::from(limit))
            .build();
        self.list(
            doc! {
                "conv": conversation.key(),
                "sent_at": { "$gt": after_ms },
                "_id": { "$gt": above_id },
            },
            options,
        )
        .await
    }

    async fn before(
        &self,
        conversation: &Conversation,
        before_id: i64,
        above_id: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // The newest `limit` below the id, read newest first and turned around.
        let options = FindOptions::builder()
            .sort(doc! { "_id": -1 })
            .limit(i64::from(limit))
            .build();
        let mut page = self
            .list(
                doc! {
                    "conv": conversation.key(),
                    "_id": { "$lt": before_id, "$gt": above_id },
                },
                options,
            )
            .await?;
        page.reverse();
        Ok(page)
    }

    async fn unread(
        &self,
        conversation: &Conversation,
        reader: UserId,
        limit: u32,
    ) -> Result<Vec<Message>> {
        // Group messages have no recipient, so nothing in a group is unread.
        if matches!(conversation, Conversation::Group(_)) {
            return Ok(Vec::new());
        }
        let key = conversation.key();
        let cursor = self
            .read_cursors
            .find_one(doc! { "_id": ReadCursor::id_of(&key, reader) })
            .await
            .context("reading a read cursor")?
            .map_or(0, |cursor| cursor.read_up_to);
        // Walks the `conv_id` index from the cursor on; what it passes over is only the
        // reader's own messages since then.
        let oldest = self
            .messages
            .find_one(doc! { "conv": &key, "_id": { "$gt": cursor }, "recipient": reader })
            .sort(doc! { "_id": 1 })
            .await
            .context("finding the oldest unread message")?;
        let Some(oldest) = oldest else {
            return Ok(Vec::new());
        };
        let options = FindOptions::builder()
            .sort(doc! { "_id": 1 })
            .limit(i64::from(limit))
            .build();
        self.list(doc! { "conv": key, "_id": { "$gte": oldest.id } }, options)
            .await
    }

    async fn mark_read(
        &self,
        conversation: &Conversation,
        reader: UserId,
        up_to: i64,
    ) -> Result<bool> {
        self.advance_cursor(&conversation.key(), reader, up_to)
            .await
    }

    async fn purge_before(&self, cutoff_ms: i64) -> Result<u64> {
        // In chunks, so what hangs on each deleted message (reactions, hidings) goes with
        // it by id.
        let mut purged = 0;
        loop {
            let ids: Vec<i64> = self
                .messages
                .clone_with_type::<Document>()
                .find(doc! { "sent_at": { "$lt": cutoff_ms } })
                .projection(doc! { "_id": 1 })
                .limit(PURGE_CHUNK)
                .await
                .context("finding old messages")?
                .try_collect::<Vec<Document>>()
                .await
                .context("finding old messages")?
                .iter()
                .filter_map(|d| as_i64(d.get("_id")))
                .collect();
            if ids.is_empty() {
                return Ok(purged);
            }
            let result = self
                .messages
                .delete_many(doc! { "_id": { "$in": ids.clone() } })
                .await
                .context("purging old messages")?;
            purged += result.deleted_count;
            self.purge_attachments(&ids).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(sent_at: i64, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            conversation: Conversation::direct(9, 4),
            sender: 9,
            recipient: Some(4),
            content: "hi".to_owned(),
            client_id: client_id.map(str::to_owned),
            sent_at,
            reply_to: None,
        }
    }

    #[test]
    fn conversation_keys_round_trip() {
        for conversation in [
            Conversation::direct(7, 3),
            Conversation::Direct(-1, 12),
            Conversation::Group(42),
        ] {
            assert_eq!(
                Conversation::from_key(&conversation.key()),
                Some(conversation)
            );
        }
        for bad in ["", "d:1", "d:1:x", "g:", "x:1", "g:1:2"] {
            assert_eq!(Conversation::from_key(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn expiry_follows_the_retention() {
        let kept = StoredMessage::new(1, draft(1_000, None), 0);
        assert_eq!(kept.expire_at, None);
        let expiring = StoredMessage::new(1, draft(1_000, None), 2);
        assert_eq!(
            expiring.expire_at,
            Some(DateTime::from_millis(1_000 + 2 * MS_PER_DAY))
        );
    }

    #[test]
    fn missing_client_ids_are_left_out_of_the_document() {
        let without = mongodb::bson::to_document(&StoredMessage::new(5, draft(1, None), 0))
            .expect("a message serializes");
        assert!(!without.contains_key("client_id"));
        assert!(!without.contains_key("expire_at"));
        assert_eq!(without.get("recipient"), Some(&Bson::Int64(4)));
        let with = mongodb::bson::to_document(&StoredMessage::new(5, draft(1, Some("c")), 1))
            .expect("a message serializes");
        assert_eq!(with.get_str("client_id"), Ok("c"));
        assert!(matches!(with.get("expire_at"), Some(Bson::DateTime(_))));
        let back: StoredMessage =
            mongodb::bson::from_document(with).expect("a stored message deserializes");
        assert_eq!(
            back.into_message().expect("its key parses").conversation,
            Conversation::direct(4, 9)
        );
    }
}

/// The conversion of a database from before read cursors, on a real server when
/// `CONFAB_TEST_MONGO_URL` names one.
#[cfg(test)]
mod conversion_tests {
    use super::*;

    /// A message document as stored before read cursors, with its `read` flag.
    fn flagged(id: i64, conv: &str, sender: i64, recipient: Option<i64>, read: bool) -> Document {
        doc! {
            "_id": id,
            "conv": conv,
            "sender": sender,
            "recipient": recipient.map_or(Bson::Null, Bson::Int64),
            "content": format!("m{id}"),
            "sent_at": 1_000 + id,
            "read": read,
        }
    }

    #[tokio::test]
    async fn read_flags_become_cursors_once() {
        let Ok(url) = std::env::var("CONFAB_TEST_MONGO_URL") else {
            eprintln!("SKIPPED: the MongoDB conversion test needs CONFAB_TEST_MONGO_URL");
            return;
        };
        let name = format!("confab_flags_{}", rand::random::<u32>());
        let client = Client::with_uri_str(&url).await.expect("a client");
        let database = client.database(&name);
        let old = database.collection::<Document>("messages");
        old.insert_many(vec![
            flagged(1, "d:1:2", 1, Some(2), true),
            flagged(2, "d:1:3", 3, Some(1), true),
            flagged(3, "d:1:2", 2, Some(1), true),
            flagged(4, "g:9", 1, None, false),
            flagged(5, "d:1:2", 1, Some(2), true),
            flagged(6, "d:1:2", 2, Some(1), false),
            flagged(7, "d:1:3", 1, Some(3), false),
            flagged(8, "d:1:2", 1, Some(2), false),
        ])
        .await
        .expect("messages with flags");
        old.create_index(
            IndexModel::builder()
                .keys(doc! { "conv": 1, "recipient": 1, "read": 1, "_id": 1 })
                .options(IndexOptions::builder().name(FLAG_INDEX.to_owned()).build())
                .build(),
        )
        .await
        .expect("the index of the flags");

        let store = MongoMessages::connect(&url, &name, 0)
            .await
            .expect("connect and convert");
        let names = store
            .messages
            .list_index_names()
            .await
            .expect("index names");
        assert!(!names.iter().any(|n| n == FLAG_INDEX), "{names:?}");
        let ids = |page: Vec<Message>| -> Vec<i64> { page.iter().map(|m| m.id).collect() };
        let one_two = Conversation::direct(1, 2);
        let one_three = Conversation::direct(1, 3);
        let unread = |conversation, reader| store.unread(conversation, reader, 100);
        assert_eq!(ids(unread(&one_two, 1).await.expect("unread")), [6, 8]);
        assert_eq!(ids(unread(&one_two, 2).await.expect("unread")), [8]);
        assert!(unread(&one_three, 1).await.expect("unread").is_empty());
        assert_eq!(ids(unread(&one_three, 3).await.expect("unread")), [7]);
        let flags: Vec<(i64, bool)> = store
            .after(&one_two, 0, 0, 100)
            .await
            .expect("history")
            .iter()
            .map(|m| (m.id, m.read))
            .collect();
        assert_eq!(
            flags,
            [(1, true), (3, true), (5, true), (6, false), (8, false)]
        );

        // A second start finds nothing to convert and changes nothing.
        store.mark_read(&one_two, 1, 6).await.expect("read on");
        MongoMessages::connect(&url, &name, 0)
            .await
            .expect("connect again");
        assert!(unread(&one_two, 1).await.expect("unread").is_empty());
        assert_eq!(ids(unread(&one_two, 2).await.expect("unread")), [8]);
        database.drop().await.expect("drop the test database");
    }
}
